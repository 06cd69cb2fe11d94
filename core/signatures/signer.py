"""One signer interface for every kind of key (ký số): software keys (PKCS#12) now;
USB tokens (PKCS#11) and remote signing (CSC) plug in behind the same :class:`Signer`.

A signer produces a standard CMS (RFC 5652) SignedData, detached, with the signed
attributes content-type, signing-time, message-digest and ESS signing-certificate-v2
(CAdES-BES). Building it is the product's hottest path (a city signs ~1.7 million periods
a week), so the constant parts are DER-encoded once per signer with asn1crypto and each
signature only hashes, signs and concatenates. The output is checked by asn1crypto,
pyHanko's validator and ``openssl cms -verify`` in the tests.
"""
from __future__ import annotations

import abc
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

from asn1crypto import (
    algos,
    cms,
    core,
    tsp,  # noqa: F401 - registers signing-certificate-v2 with cms (pyHanko needs it)
)
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from core.kernel import clock
from core.kernel.errors import KeyAccessError


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


def _der_integer(n: int) -> bytes:
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


_DIGEST_ALG = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
_SIG_ALG = {"ec": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump(),
            "rsa": algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa"}).dump()}
_CONTENT_TYPE_ATTR = cms.CMSAttribute({"type": "content_type", "values": ["data"]}).dump()
_SIGNING_CERTIFICATE_V2_OID = core.ObjectIdentifier("1.2.840.113549.1.9.16.2.47").dump()
_SIGNING_TIME_OID = core.ObjectIdentifier("1.2.840.113549.1.9.5").dump()
_MESSAGE_DIGEST_OID = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()


def run_coroutine(coroutine):
    """Run a coroutine to completion from synchronous code — also when the caller is already
    inside an event loop (a Jupyter kernel, an async web handler), where ``asyncio.run`` is
    refused: then it runs on its own loop in a helper thread."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Signer(abc.ABC):
    """Anything that can sign: it knows its certificate and returns CMS signatures."""

    @property
    @abc.abstractmethod
    def certificate_der(self) -> bytes: ...

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the signer's certificate, the key to its registration in core."""
        return hashlib.sha256(self.certificate_der).hexdigest()

    @abc.abstractmethod
    def sign_detached(self, data: bytes, signing_time: dt.datetime) -> bytes:
        """A detached CMS signature over ``data`` with ``signing_time`` (naive VN-local)."""

    def sign_many(self, items: Iterable[tuple[bytes, dt.datetime]]) -> list[bytes]:
        return [self.sign_detached(data, when) for data, when in items]

    @abc.abstractmethod
    def pyhanko_signer(self):
        """The same key as a pyHanko ``Signer``, for PDF (PAdES) signatures."""

    def run(self, coroutine):
        """Run a pyHanko coroutine for this key (remote keys keep their own event loop)."""
        return run_coroutine(coroutine)


class CmsSigner(Signer):
    """The CMS assembly shared by every key kind; subclasses only provide ``sign_raw``."""

    def __init__(self, cert_der: bytes, chain_der: list[bytes], key_algorithm: str):
        self._cert_der = cert_der
        self._key_algorithm = key_algorithm  # "ec" or "rsa"
        # Built straight from the certificate's own DER (issuer Name, serial): a city's
        # generator opens ~100,000 signers, and building these with asn1crypto cost ~15 ms each.
        cert = x509.load_der_x509_certificate(cert_der)
        issuer, serial = cert.issuer.public_bytes(), _der_integer(cert.serial_number)
        digest_alg = _DIGEST_ALG
        sig_alg = _SIG_ALG[key_algorithm]
        content_type_attr = _CONTENT_TYPE_ATTR
        # ESSCertIDv2 (RFC 5035); its hashAlgorithm is SHA-256, the DEFAULT, so DER leaves it out
        ess = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x04, hashlib.sha256(cert_der).digest())
                                      + tlv(0x30, tlv(0x30, tlv(0xA4, issuer)) + serial))))
        ess_attr = tlv(0x30, _SIGNING_CERTIFICATE_V2_OID + tlv(0x31, ess))
        sid = tlv(0x30, issuer + serial)
        # Attribute encodings are sorted for DER's SET OF; the variable parts keep fixed lengths,
        # so the order found with sample values holds for every signature.
        self._fixed_attrs = [content_type_attr, ess_attr]
        self._order = {}
        for time_tag, width in ((0x17, 13), (0x18, 15)):  # UTCTime, GeneralizedTime
            sample = self._attrs(time_tag, b"0" * width, b"\0" * 32)
            self._order[time_tag] = sorted(range(4), key=lambda i: sample[i])
        self._si_head = tlv(0x02, b"\x01") + sid + digest_alg
        self._sig_alg = sig_alg
        self._sd_head = (tlv(0x02, b"\x01") + tlv(0x31, digest_alg)
                         + tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.7.1").dump())
                         + tlv(0xA0, cert_der + b"".join(chain_der)))
        self._ci_oid = core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()

    @property
    def certificate_der(self) -> bytes:
        return self._cert_der

    def _attrs(self, time_tag: int, utc_time: bytes, digest: bytes) -> list[bytes]:
        time_attr = tlv(0x30, _SIGNING_TIME_OID + tlv(0x31, tlv(time_tag, utc_time)))
        digest_attr = tlv(0x30, _MESSAGE_DIGEST_OID + tlv(0x31, tlv(0x04, digest)))
        return [self._fixed_attrs[0], time_attr, digest_attr, self._fixed_attrs[1]]

    @abc.abstractmethod
    def sign_raw(self, to_sign: bytes) -> bytes:
        """Sign ``to_sign`` with SHA-256 (ECDSA: DER signature; RSA: PKCS#1 v1.5)."""

    def sign_detached(self, data: bytes, signing_time: dt.datetime) -> bytes:
        moment = clock.to_utc(signing_time)
        if 1950 <= moment.year < 2050:  # RFC 5652 11.3: UTCTime in these years, else GeneralizedTime
            time_tag, utc = 0x17, b"%02d%02d%02d%02d%02d%02dZ" % (
                moment.year % 100, moment.month, moment.day, moment.hour, moment.minute, moment.second)
        else:
            time_tag, utc = 0x18, b"%04d%02d%02d%02d%02d%02dZ" % (
                moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
        attrs = self._attrs(time_tag, utc, hashlib.sha256(data).digest())
        return self._assemble(b"".join(attrs[i] for i in self._order[time_tag]))

    def sign_pades_digest(self, digest: bytes) -> bytes:
        """The CMS of a PAdES baseline signature over a PDF's byte range whose SHA-256 is
        ``digest``: content-type, message-digest and signing-certificate-v2 signed, and no
        signing-time attribute (ETSI EN 319 142-1 5.3: the PDF's /M entry carries the claimed
        time instead)."""
        digest_attr = tlv(0x30, _MESSAGE_DIGEST_OID + tlv(0x31, tlv(0x04, digest)))
        return self._assemble(b"".join(sorted([*self._fixed_attrs, digest_attr])))

    @property
    def pades_size(self) -> int:
        """Bytes to reserve in a PDF for :meth:`sign_pades_digest`'s output (certificates, attributes,
        the largest signature value of the key kind), so pyHanko need not sign twice to find out."""
        return (len(self._sd_head) + len(self._si_head) + len(self._sig_alg) + sum(map(len, self._fixed_attrs))
                + self._max_signature_size + 160)  # + the digest attribute and the DER headers

    @functools.cached_property
    def _max_signature_size(self) -> int:
        key = x509.load_der_x509_certificate(self._cert_der).public_key()
        if self._key_algorithm == "ec":  # DER SEQUENCE of two INTEGERs, each up to the field size + 1
            return 2 * (key.key_size + 7) // 8 + 9
        return (key.key_size + 7) // 8

    def _assemble(self, attrs_content: bytes) -> bytes:
        signature = self.sign_raw(tlv(0x31, attrs_content))
        signer_info = tlv(0x30, self._si_head + tlv(0xA0, attrs_content) + self._sig_alg + tlv(0x04, signature))
        signed_data = tlv(0x30, self._sd_head + tlv(0x31, signer_info))
        return tlv(0x30, self._ci_oid + tlv(0xA0, signed_data))


class SoftwareSigner(CmsSigner):
    """A key held in software, from a PIN-protected PKCS#12 file (demo and tests)."""

    def __init__(self, private_key, cert_der: bytes, chain_der: list[bytes]):
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            kind = "ec"
        elif isinstance(private_key, rsa.RSAPrivateKey):
            kind = "rsa"
        else:
            raise KeyAccessError(f"unsupported key type {type(private_key).__name__}")
        pub = serialization.PublicFormat.SubjectPublicKeyInfo
        if (x509.load_der_x509_certificate(cert_der).public_key().public_bytes(serialization.Encoding.DER, pub)
                != private_key.public_key().public_bytes(serialization.Encoding.DER, pub)):
            raise KeyAccessError("the private key does not belong to the certificate")
        super().__init__(cert_der, chain_der, kind)
        self._key = private_key
        self._chain_der = chain_der

    @classmethod
    def from_pkcs12(cls, path: Path, pin: str) -> "SoftwareSigner":
        if "\x00" in pin:  # OpenSSL's PKCS#12 reader aborts (a Rust panic, not an exception) on a NUL
            raise KeyAccessError(f"cannot open {Path(path).name}: wrong PIN or damaged file")
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(Path(path).read_bytes(), pin.encode())
        except FileNotFoundError as err:
            raise KeyAccessError(f"no key file {path}") from err
        except ValueError as err:
            raise KeyAccessError(f"cannot open {Path(path).name}: wrong PIN or damaged file") from err
        if key is None or cert is None:
            raise KeyAccessError(f"{Path(path).name} holds no key and certificate")
        der = serialization.Encoding.DER
        return cls(key, cert.public_bytes(der), [c.public_bytes(der) for c in extra or []])

    def sign_raw(self, to_sign: bytes) -> bytes:
        if self._key_algorithm == "ec":
            return self._key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        return self._key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())

    @functools.cached_property
    def _pyhanko(self):
        from asn1crypto import keys as asn1_keys
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        key = asn1_keys.PrivateKeyInfo.load(self._key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return signers.SimpleSigner(signing_cert=asn1_x509.Certificate.load(self._cert_der), signing_key=key,
                                    cert_registry=SimpleCertificateStore.from_certs(
                                        [asn1_x509.Certificate.load(c) for c in self._chain_der]))

    def pyhanko_signer(self):
        return self._pyhanko


class PyHankoKeySigner(CmsSigner):
    """A key reached through a pyHanko ``Signer`` (a PKCS#11 token, a CSC remote service):
    pyHanko makes the raw signature, our CMS assembly does the rest, so every key kind
    produces the same standard CMS."""

    def __init__(self, pyhanko_signer, cert_der: bytes, chain_der: list[bytes], key_algorithm: str):
        super().__init__(cert_der, chain_der, key_algorithm)
        self._chain_der = chain_der
        self._pyhanko = pyhanko_signer

    def sign_raw(self, to_sign: bytes) -> bytes:
        return self.run(self._pyhanko.async_sign_raw(to_sign, "sha256"))

    def pyhanko_signer(self):
        return self._pyhanko


class KeyStore:
    """The demo's key files (``keys/<owner>.p12`` under a PKI directory), opened once each."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._open: dict[tuple[str, str], SoftwareSigner] = {}

    def signer_for(self, owner_key: str, pin: str = "1234") -> SoftwareSigner:
        # cached per key *and* PIN: a wrong PIN never gets a key another caller unlocked
        cache_key = (owner_key, hashlib.sha256(pin.encode()).hexdigest())
        signer = self._open.get(cache_key)
        if signer is None:
            signer = SoftwareSigner.from_pkcs12(self.directory / "keys" / f"{owner_key}.p12", pin)
            self._open[cache_key] = signer
        return signer
