"""Verification of detached CMS signatures, reported in the ETSI EN 319 102-1 vocabulary:
PASSED, INDETERMINATE or FAILED with a sub-indication. INDETERMINATE is never valid.

Chains are validated once per signer certificate and cached (a city's 1.7 million weekly
periods come from ~100,000 teachers); the signature itself is checked every time.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from core import clock

PASSED, INDETERMINATE, FAILED = "PASSED", "INDETERMINATE", "FAILED"


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one signature."""

    indication: str
    sub_indication: str | None
    signer_fingerprint: str | None
    signer_subject: str | None
    signing_time: dt.datetime | None
    message: str

    @property
    def valid(self) -> bool:
        return self.indication == PASSED


@dataclass(frozen=True)
class _ChainResult:
    ok: bool
    sub_indication: str | None
    message: str
    public_key: object = None
    subject: str | None = None
    # The intersection of the validity periods of the whole chain (VN-local).
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None


#: A revocation check: (certificate, signing time) -> None if good at that time, else
#: (sub_indication, message), e.g. ("REVOKED", "revoked on ...") or ("TRY_LATER", ...).
RevocationChecker = Callable[[x509.Certificate, dt.datetime], tuple[str, str] | None]


class TrustStore:
    """Trust anchors (roots) plus known intermediates, with a per-certificate chain cache."""

    def __init__(self, roots: list[bytes], intermediates: list[bytes] = (),
                 revocation_checker: RevocationChecker | None = None):
        self.roots = [x509.load_der_x509_certificate(d) for d in roots]
        self.intermediates = [x509.load_der_x509_certificate(d) for d in intermediates]
        self.revocation_checker = revocation_checker
        self._chains: dict[bytes, _ChainResult] = {}

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        for candidate in (*self.intermediates, *self.roots):
            if candidate.subject == cert.issuer:
                try:
                    cert.verify_directly_issued_by(candidate)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return candidate
        return None

    def chain(self, cert_der: bytes) -> _ChainResult:
        """Validate the path from ``cert_der`` to a root (cached per certificate)."""
        cached = self._chains.get(cert_der)
        if cached is None:
            cached = self._chains[cert_der] = self._build_chain(cert_der)
        return cached

    def _build_chain(self, cert_der: bytes) -> _ChainResult:
        try:
            leaf = x509.load_der_x509_certificate(cert_der)
        except ValueError as err:
            return _ChainResult(False, "FORMAT_FAILURE", f"unreadable certificate: {err}")
        subject = leaf.subject.rfc4514_string()
        path, current = [leaf], leaf
        while current not in self.roots:
            issuer = self._issuer_of(current)
            if issuer is None or len(path) > 5:
                return _ChainResult(False, "NO_CERTIFICATE_CHAIN_FOUND",
                                    f"no trusted issuer for {current.subject.rfc4514_string()}", subject=subject)
            try:
                constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                constraints = None
            if constraints is None or not constraints.ca:
                return _ChainResult(False, "CHAIN_CONSTRAINTS_FAILURE",
                                    f"{issuer.subject.rfc4514_string()} is not a CA", subject=subject)
            path.append(issuer)
            current = issuer
        not_before = max(clock.from_utc(c.not_valid_before_utc) for c in path)
        not_after = min(clock.from_utc(c.not_valid_after_utc) for c in path)
        return _ChainResult(True, None, "chain to a trusted root", leaf.public_key(), subject, not_before, not_after)


def _fail(indication: str, sub: str | None, message: str, fingerprint=None, subject=None, when=None):
    return Verification(indication, sub, fingerprint, subject, when, message)


def _verify_raw(public_key, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def verify_detached(data: bytes, signature: bytes, trust: TrustStore) -> Verification:
    """Verify a detached CMS signature over ``data``: integrity, signature value, chain to a
    trusted root, certificate validity at the signing time and (when the trust store has a
    checker) revocation status at the signing time. Never raises for bad input."""
    parsed = _parse_fast(signature) or _parse_general(signature)
    if isinstance(parsed, Verification):
        return parsed
    cert_der, claimed_digest, signing_time, signed_attrs, signature_value, digest_name = parsed
    if cert_der is None:
        return _fail(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not included")
    fingerprint = hashlib.sha256(cert_der).hexdigest()
    chain = trust.chain(cert_der)
    subject = chain.subject
    if digest_name != _SHA256_OID:
        return _fail(INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", f"digest {digest_name} is not accepted",
                     fingerprint, subject, signing_time)
    if claimed_digest is None or hashlib.sha256(data).digest() != claimed_digest:
        return _fail(FAILED, "HASH_FAILURE", "the signed content has changed since it was signed",
                     fingerprint, subject, signing_time)
    if not chain.ok:
        if chain.public_key is None:
            # Still check the signature value with the embedded certificate's key so that
            # a broken signature reports as such even from an unknown CA.
            try:
                key = x509.load_der_x509_certificate(cert_der).public_key()
                if not _verify_raw(key, signature_value, signed_attrs):
                    return _fail(FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify",
                                 fingerprint, subject, signing_time)
            except ValueError:
                pass
        return _fail(INDETERMINATE, chain.sub_indication, chain.message, fingerprint, subject, signing_time)
    if not _verify_raw(chain.public_key, signature_value, signed_attrs):
        return _fail(FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify",
                     fingerprint, subject, signing_time)
    if signing_time is None:
        return _fail(INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "no signing time", fingerprint, subject)
    if signing_time < chain.not_before:
        return _fail(INDETERMINATE, "NOT_YET_VALID", f"the certificate was not yet valid at {signing_time}",
                     fingerprint, subject, signing_time)
    if signing_time > chain.not_after:
        return _fail(INDETERMINATE, "EXPIRED", f"the certificate had expired at {signing_time}",
                     fingerprint, subject, signing_time)
    if trust.revocation_checker is not None:
        problem = trust.revocation_checker(x509.load_der_x509_certificate(cert_der), signing_time)
        if problem is not None:
            sub, message = problem
            return _fail(FAILED if sub == "REVOKED" else INDETERMINATE, sub, message, fingerprint, subject,
                         signing_time)
    return Verification(PASSED, None, fingerprint, subject, signing_time, "the signature is valid")


def _parse_general(signature: bytes):
    """Any standard CMS SignedData, through asn1crypto (the fast reader's fallback)."""
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].dotted != "1.2.840.113549.1.7.2":
            return _fail(FAILED, "FORMAT_FAILURE", "not a CMS SignedData")
        signed_data = info["content"]
        signer_info = signed_data["signer_infos"][0]
        sid = signer_info["sid"].chosen
        serial = sid["serial_number"].native
        issuer_der = sid["issuer"].dump()
        cert_der = None
        for choice in signed_data["certificates"]:
            tbs = choice.chosen["tbs_certificate"]
            # Exact bytes first (cheap); the semantic Name comparison only as a fallback.
            if tbs["serial_number"].native == serial and (
                    tbs["issuer"].dump() == issuer_der or tbs["issuer"] == sid["issuer"]):
                cert_der = choice.chosen.dump()
                break
        claimed_digest = signing_time = None
        for attr in signer_info["signed_attrs"]:
            oid = attr["type"].dotted
            if oid == "1.2.840.113549.1.9.4":
                claimed_digest = attr["values"][0].native
            elif oid == "1.2.840.113549.1.9.5":
                signing_time = clock.from_utc(attr["values"][0].native)
        signed_attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]
        signature_value = signer_info["signature"].native
        digest_name = signer_info["digest_algorithm"]["algorithm"].dotted
    except Exception as err:  # noqa: BLE001 - any parse failure is a format failure
        return _fail(FAILED, "FORMAT_FAILURE", f"unreadable CMS signature: {type(err).__name__}")
    return cert_der, claimed_digest, signing_time, signed_attrs, signature_value, digest_name


# ---------------------------------------------------------------- the fast reader
_SHA256_OID = "2.16.840.1.101.3.4.2.1"
_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_MESSAGE_DIGEST = bytes.fromhex("2a864886f70d010904")
_OID_SIGNING_TIME = bytes.fromhex("2a864886f70d010905")
_OID_SHA256 = bytes.fromhex("608648016503040201")


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``."""
    tag, n = buf[pos], buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + n > len(buf):
        raise ValueError("truncated")
    return tag, pos, pos + n


def _children(buf: bytes, start: int, end: int):
    while start < end:
        tag, cs, ce = _tlv(buf, start)
        yield tag, start, cs, ce
        start = ce


def _asn1_time(tag: int, raw: bytes) -> dt.datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        moment = dt.datetime.strptime(("20" if year < 50 else "19") + text, "%Y%m%d%H%M%SZ")
    else:  # GeneralizedTime YYYYMMDDHHMMSSZ
        moment = dt.datetime.strptime(text, "%Y%m%d%H%M%SZ")
    return clock.from_utc(moment.replace(tzinfo=dt.timezone.utc))


def _parse_fast(signature: bytes):
    """Read the common shape of a detached SignedData with a DER walker (no object model):
    one signer identified by issuer and serial, signed attributes present. Returns None for
    anything else, and the general reader takes over."""
    try:
        b = signature
        tag, s0, e0 = _tlv(b, 0)
        kids = list(_children(b, s0, e0))
        if tag != 0x30 or len(kids) != 2 or b[kids[0][2]:kids[0][3]] != _OID_SIGNED_DATA or kids[1][0] != 0xA0:
            return None
        tag, sd_s, sd_e = _tlv(b, kids[1][2])
        parts = list(_children(b, sd_s, sd_e))
        certs = next((p for p in parts if p[0] == 0xA0), None)
        signer_infos = parts[-1]
        if certs is None or signer_infos[0] != 0x31:
            return None
        infos = list(_children(b, signer_infos[2], signer_infos[3]))
        if len(infos) != 1:
            return None
        si = list(_children(b, infos[0][2], infos[0][3]))
        if len(si) != 6 or si[1][0] != 0x30 or si[3][0] != 0xA0 or si[5][0] != 0x04:
            return None
        issuer_tag, serial_tag = list(_children(b, si[1][2], si[1][3]))
        issuer = b[issuer_tag[1]:issuer_tag[3]]
        serial = b[serial_tag[2]:serial_tag[3]]
        digest_oid = b[slice(*_tlv(b, si[2][2])[1:])]
        cert_der = None
        for _, cstart, cs, ce in _children(b, certs[2], certs[3]):
            tbs_tag, ts, te = _tlv(b, cs)
            fields = _children(b, ts, te)
            first = next(fields)
            serial_field = next(fields) if first[0] == 0xA0 else first
            next(fields)  # signature algorithm
            issuer_field = next(fields)
            if b[serial_field[2]:serial_field[3]] == serial and b[issuer_field[1]:issuer_field[3]] == issuer:
                cert_der = b[cstart:ce]
                break
        claimed_digest = signing_time = None
        for _, _, as_, ae in _children(b, si[3][2], si[3][3]):
            oid_tag, values = list(_children(b, as_, ae))
            oid = b[oid_tag[2]:oid_tag[3]]
            vtag, _, vs, ve = next(_children(b, values[2], values[3]))
            if oid == _OID_MESSAGE_DIGEST:
                claimed_digest = b[vs:ve]
            elif oid == _OID_SIGNING_TIME:
                signing_time = _asn1_time(vtag, b[vs:ve])
        signed_attrs = b"\x31" + b[si[3][1] + 1:si[3][3]]
        signature_value = b[si[5][2]:si[5][3]]
        digest_name = _SHA256_OID if digest_oid == _OID_SHA256 else digest_oid.hex()
        return cert_der, claimed_digest, signing_time, signed_attrs, signature_value, digest_name
    except (ValueError, IndexError, StopIteration):
        return None
