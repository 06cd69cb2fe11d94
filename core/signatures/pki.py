"""A demo and test PKI shaped like the real one (chứng thư số): a root CA, an issuing
(intermediate) CA, personal certificates for staff and organisation ("seal") certificates
for schools, each private key in a PIN-protected PKCS#12 file.

For the demo and the tests only; production certificates come from licensed CAs (VNPT,
Viettel, …) under the NEAC root (Nghị định 23/2025/NĐ-CP).

This is the *CA side* (``sohoa pki init|issue|revoke|serve``). A PKI directory is laid out
so that what a server reads is apart from the CA's private keys:

- ``anchors/`` — the trust anchors (``root.pem``, ``issuing.pem``) and ``services.json``
  (the responder's URL, the TSA's URL): all the API, the console and the jobs read
  (:mod:`core.signatures.anchors`);
- ``ca/`` — the CA's private keys (root, issuing, TSA) and its revocation list
  (``revoked.json``): read by this module and the responder process only, never by a server;
- ``keys/`` — end-entity keys the demo keeps on the server (staff's server-held keys, the
  schools' seals, the service seal): never CA keys.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.kernel import clock

ROOT_NAME = "Sohoa Demo Root CA"
ISSUING_NAME = "Sohoa Demo Issuing CA 01"
DEFAULT_PIN = "1234"
#: The parts of a PKI directory: what servers read, and what only the CA reads.
ANCHORS, CA = "anchors", "ca"
#: the service seal's certificate, published with the trust anchors (:meth:`DemoPKI.issue_service_seal`)
SERVICE_SEAL_PEM = "service-seal.pem"
#: The certificate policy under which the demo CA issues organisation certificates (seals),
#: an OID of the UUID arc (ITU-T X.667): real CAs publish their own (core.signatures.cms.Anchor)
DEMO_SEAL_POLICY = "2.25.82541885672456192188538846665780062079"
#: The subject attribute (UID) in which the demo CA writes an organisation's identifier,
#: ``MDV:<unit code>`` (mã đơn vị in the education sector's database), as Vietnamese CAs write
#: ``MST:`` (tax code) or ``MNS:`` (budget-unit code) for other organisations
UID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")


@dataclass(frozen=True)
class Credential:
    """An issued certificate and where its PKCS#12 key file is. Datetimes are VN-local."""

    owner_key: str
    p12_path: Path | None   # None: issued with key_file=False, the key is only in ``key``
    pin: str
    cert_der: bytes
    fingerprint: str
    serial_hex: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    key: object = None      # the private key, kept only when no key file was written


def _new_key(key_type: str):
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r} (ec or rsa)")


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _utc(local: dt.datetime) -> dt.datetime:
    return clock.to_utc(local)


def _pem(path: Path, obj) -> None:
    if hasattr(obj, "public_bytes"):
        path.write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def p12_encryption(pin: str):
    """PKCS#12 protection with a modest KDF cost: issuing hundreds of demo keys stays fast."""
    return (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
            .build(pin.encode()))


class DemoPKI:
    """Root + issuing CA on disk in ``directory``; issues end-entity credentials into ``keys/``."""

    def __init__(self, directory: Path, root: x509.Certificate, issuing: x509.Certificate, issuing_key,
                 responder_url: str | None = None):
        self.directory = Path(directory)
        self.root = root
        self.issuing = issuing
        self._issuing_key = issuing_key
        self.responder_url = responder_url

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, directory: Path, *, now: dt.datetime | None = None, key_type: str = "ec",
               root_name: str = ROOT_NAME, issuing_name: str = ISSUING_NAME,
               responder_url: str | None = None) -> "DemoPKI":
        """``responder_url`` (e.g. ``http://127.0.0.1:8790``) is written into the certificates
        as their CRL distribution point and OCSP address (see :mod:`core.signatures.responder`)."""
        directory = Path(directory)
        for part in ("keys", ANCHORS, CA):
            (directory / part).mkdir(parents=True, exist_ok=True)
        start = _utc(now or dt.datetime(2024, 1, 1))
        root_key, issuing_key = _new_key(key_type), _new_key(key_type)
        root_subject = _name(root_name, "Sohoa Demo Trust")
        root = (x509.CertificateBuilder().subject_name(root_subject).issuer_name(root_subject)
                .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(start + dt.timedelta(days=25 * 365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
                .add_extension(_ca_usage(), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
                .sign(root_key, hashes.SHA256()))
        issuing = (x509.CertificateBuilder().subject_name(_name(issuing_name, "Sohoa Demo Trust"))
                   .issuer_name(root_subject).public_key(issuing_key.public_key())
                   .serial_number(x509.random_serial_number())
                   # as long as the root: a long-term validation in 2045 walks this path (pyHanko
                   # 0.38 gives up on a path whose CA certificate has expired, docs/long-term-signatures.md)
                   .not_valid_before(start).not_valid_after(start + dt.timedelta(days=25 * 365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(_ca_usage(), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                                  critical=False))
        if responder_url:  # the root's CRL (an ARL): long-term validation wants the CA's status too
            issuing = issuing.add_extension(_crl_address(f"{responder_url}/crl/root"), critical=False)
        issuing = issuing.sign(root_key, hashes.SHA256())
        _pem(directory / ANCHORS / "root.pem", root)
        _pem(directory / CA / "root.key.pem", root_key)
        _pem(directory / ANCHORS / "issuing.pem", issuing)
        _pem(directory / CA / "issuing.key.pem", issuing_key)
        (directory / ANCHORS / "services.json").write_text(json.dumps(
            {"responder_url": responder_url, "tsa_url": f"{responder_url}/tsa" if responder_url else None,
             "seal_policies": [DEMO_SEAL_POLICY]}))
        pki = cls(directory, root, issuing, issuing_key, responder_url)
        pki._issue_tsa()
        return pki

    @classmethod
    def load(cls, directory: Path) -> "DemoPKI":
        """The CA itself, with its issuing key (``ca/``): for ``sohoa pki`` and the tests. A
        server loads :func:`core.signatures.anchors.load_anchors` instead."""
        from core.signatures.anchors import load_anchors

        directory = Path(directory)
        try:
            pem = (directory / CA / "issuing.key.pem").read_bytes()
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{directory} holds no CA key ({CA}/issuing.key.pem): this is not the CA's "
                                    "directory (a server holds the trust anchors only)") from err
        anchors = load_anchors(directory)
        key = serialization.load_pem_private_key(pem, None)
        return cls(directory, anchors.root, anchors.issuing, key, anchors.responder_url)

    # ------------------------------------------------------------------ issuing
    def issue_personal(self, owner_key: str, common_name: str, *, not_before: dt.datetime | None = None,
                       not_after: dt.datetime | None = None, key_type: str = "ec",
                       pin: str = DEFAULT_PIN, organisation: str | None = None, key_file: bool = True) -> Credential:
        """A staff member's signing certificate (digitalSignature + nonRepudiation). With
        ``key_file=False`` no PIN-protected PKCS#12 file is written and the key stays in the
        returned credential (city-scale generation: 100,000 staff)."""
        return self._issue(owner_key, _name(common_name, organisation), not_before, not_after, key_type, pin,
                           key_file)

    def issue_seal(self, owner_key: str, organisation_name: str, *, not_before: dt.datetime | None = None,
                   not_after: dt.datetime | None = None, key_type: str = "ec",
                   pin: str = DEFAULT_PIN, identifier: str | None = None) -> Credential:
        """A school's organisation certificate, the digital form of its seal (con dấu), under the
        demo's seal policy; ``identifier`` (e.g. ``MDV:S0001``) is written in the subject's UID."""
        name = _name(organisation_name, organisation_name)
        if identifier:
            name = x509.Name([*name, x509.NameAttribute(UID, identifier)])
        return self._issue(owner_key, name, not_before, not_after, key_type, pin, policies=[DEMO_SEAL_POLICY])

    def issue_service_seal(self, owner_key: str = "service-seal", name: str = "Hệ thống sổ đầu bài số và học bạ số",
                           organisation: str = "Sở Giáo dục và Đào tạo", *, not_before: dt.datetime | None = None,
                           not_after: dt.datetime | None = None, pin: str = DEFAULT_PIN) -> Credential:
        """The department's system's own certificate (the service seal, con dấu của hệ thống):
        the key the server attests its decisions with (:mod:`core.signatures.service`). An
        end-entity certificate like a school's seal — never a CA key. Its certificate is
        published with the trust anchors (``anchors/service-seal.pem``): a trust store pins it."""
        credential = self._issue(owner_key, _name(name, organisation), not_before, not_after, "ec", pin)
        (self.directory / ANCHORS).mkdir(parents=True, exist_ok=True)
        (self.directory / ANCHORS / SERVICE_SEAL_PEM).write_bytes(
            x509.load_der_x509_certificate(credential.cert_der).public_bytes(serialization.Encoding.PEM))
        return credential

    def _issue(self, owner_key, subject, not_before, not_after, key_type, pin, key_file=True,
               policies=()) -> Credential:
        not_before = (not_before or dt.datetime(2025, 1, 1)).replace(microsecond=0)
        not_after = (not_after or not_before + dt.timedelta(days=3 * 365)).replace(microsecond=0)
        key = _new_key(key_type)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.issuing.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(_utc(not_before)).not_valid_after(_utc(not_after)))
        if self.responder_url:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{self.responder_url}/crl")], relative_name=None,
                reasons=None, crl_issuer=None)]), critical=False).add_extension(
                x509.AuthorityInformationAccess([x509.AccessDescription(
                    x509.oid.AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"{self.responder_url}/ocsp"))]), critical=False)
        cert = (builder
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self._issuing_key.public_key()), critical=False))
        if policies:
            cert = cert.add_extension(x509.CertificatePolicies([
                x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policies]), critical=False)
        cert = cert.sign(self._issuing_key, hashes.SHA256())
        path = self.directory / "keys" / f"{owner_key}.p12" if key_file else None
        if path is not None:
            path.write_bytes(pkcs12.serialize_key_and_certificates(
                owner_key.encode(), key, cert, [self.issuing], p12_encryption(pin)))
        der = cert.public_bytes(serialization.Encoding.DER)
        return Credential(owner_key=owner_key, p12_path=path, pin=pin, cert_der=der, key=None if key_file else key,
                          fingerprint=hashlib.sha256(der).hexdigest(), serial_hex=format(cert.serial_number, "x"),
                          subject=cert.subject.rfc4514_string(), not_before=not_before, not_after=not_after)

    def _issue_tsa(self) -> None:
        """The timestamp authority's certificate (RSA, critical timeStamping usage)."""
        key = _new_key("rsa")
        now = _utc(dt.datetime(2024, 1, 1))
        cert = (x509.CertificateBuilder().subject_name(_name("Sohoa Demo TSA", "Sohoa Demo Trust"))
                .issuer_name(self.issuing.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + dt.timedelta(days=10 * 365))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True))
        if self.responder_url:  # its status, for the archive timestamps' long-term validation
            cert = cert.add_extension(_crl_address(f"{self.responder_url}/crl"), critical=False).add_extension(
                _ocsp_address(f"{self.responder_url}/ocsp"), critical=False)
        cert = cert.sign(self._issuing_key, hashes.SHA256())
        _pem(self.directory / CA / "tsa.pem", cert)
        _pem(self.directory / CA / "tsa.key.pem", key)

    def tsa_credentials(self):
        """The timestamp authority's certificate and key (the responder's)."""
        cert = x509.load_pem_x509_certificate((self.directory / CA / "tsa.pem").read_bytes())
        key = serialization.load_pem_private_key((self.directory / CA / "tsa.key.pem").read_bytes(), None)
        return cert, key

    # ------------------------------------------------------------------ revocation
    def revoke(self, serial_hex: str, at: dt.datetime) -> None:
        """The CA revokes a certificate from ``at`` (VN-local); the responder publishes it."""
        revoked = self.revoked()
        revoked[serial_hex] = at.isoformat()
        (self.directory / CA / "revoked.json").write_text(json.dumps(revoked))

    def revoked(self) -> dict[str, str]:
        path = self.directory / CA / "revoked.json"
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def issuing_der(self) -> bytes:
        return self.issuing.public_bytes(serialization.Encoding.DER)

    def issuing_key(self):
        return self._issuing_key

    # ------------------------------------------------------------------ trust
    def trust_store(self, *, check_revocation: bool = False):
        """Trust anchors for verification (what a server gets from
        :func:`core.signatures.anchors.load_anchors`: this PKI as one :meth:`anchor`, with its seal
        policy, and the service seal pinned); with ``check_revocation`` the issuing CA's CRL from
        the responder is consulted (and cached) for every signature."""
        from core.signatures.anchors import TrustAnchors

        return TrustAnchors(self.root, self.issuing, self.responder_url, seals=_seals(self.directory / ANCHORS),
                            seal_policies=frozenset({DEMO_SEAL_POLICY})).trust_store(check_revocation=check_revocation)

    def anchor(self, name: str = "demo", *, check_revocation: bool = False):
        """This PKI as one :class:`~core.signatures.cms.Anchor` of a trust store with several
        (``TrustStore(anchors=[...])``): its root, its issuing CA with the CA's own CRL when
        ``check_revocation``, and the demo's seal policy."""
        from core.signatures.anchors import TrustAnchors

        return TrustAnchors(self.root, self.issuing, self.responder_url,
                            seal_policies=frozenset({DEMO_SEAL_POLICY})).anchor(name, check_revocation=check_revocation)

    def chain_pem(self) -> bytes:
        return self.issuing.public_bytes(serialization.Encoding.PEM) + self.root.public_bytes(serialization.Encoding.PEM)

    # ------------------------------------------------------------------ long-term validation
    # What PAdES B-LTA and its renewal need of the CA (core.signatures.ltv): the root's CRL,
    # a successor issuing CA and timestamp authority years later, revocations of any CA's
    # certificates, each with its moment. Kept in ``ltv.json`` beside the CA's keys.

    def _ca_file(self, name: str) -> Path:
        """A file of the CA's own (keys, state): in ``ca/`` when the directory has that part."""
        part = self.directory / "ca"
        return part / name if part.is_dir() else self.directory / name

    def root_key(self):
        """The root CA's private key (it signs the root's CRL and a successor issuing CA)."""
        return serialization.load_pem_private_key(self._ca_file("root.key.pem").read_bytes(), None)

    def _ltv_state(self) -> dict:
        path = self._ca_file("ltv.json")
        state = json.loads(path.read_text()) if path.exists() else {}
        state.setdefault("cas", {})
        state.setdefault("tsas", {})
        state.setdefault("revocations", [])
        return state

    def _save_ltv_state(self, state: dict) -> None:
        path = self._ca_file("ltv.json")
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=1))
        path.with_suffix(".tmp").replace(path)

    def _load(self, name: str):
        data = self._ca_file(name).read_bytes()
        return serialization.load_pem_private_key(data, None) if b"PRIVATE KEY" in data \
            else x509.load_pem_x509_certificate(data)

    def certificate_authorities(self) -> dict[str, tuple[x509.Certificate, object, str]]:
        """label -> (certificate, private key, the responder path of its CRL): ``root``
        (``/crl/root``), the issuing CA ``ca01`` (``/crl``) and every successor (``/crl/<label>``)."""
        out = {"root": (self.root, self.root_key(), "/crl/root"), "ca01": (self.issuing, self._issuing_key, "/crl")}
        for label, entry in self._ltv_state()["cas"].items():
            out[label] = (self._load(entry["cert"]), self._load(entry["key"]), f"/crl/{label}")
        return out

    def timestamp_authorities(self) -> dict[str, tuple[x509.Certificate, object, list[x509.Certificate]]]:
        """label -> (certificate, private key, [its issuing CA]): ``tsa1`` (the first TSA) and
        every TSA added since."""
        cas = self.certificate_authorities()
        out = {"tsa1": (self._load("tsa.pem"), self._load("tsa.key.pem"), [self.issuing])}
        for label, entry in self._ltv_state()["tsas"].items():
            out[label] = (self._load(entry["cert"]), self._load(entry["key"]), [cas[entry["issuer"]][0]])
        return out

    def intermediates(self) -> list[x509.Certificate]:
        """Every issuing CA's certificate (the first and its successors)."""
        return [cert for label, (cert, _, _) in self.certificate_authorities().items() if label != "root"]

    def add_successor_ca(self, label: str, common_name: str, *, not_before: dt.datetime) -> x509.Certificate:
        """A new issuing CA under the same root (e.g. "CA 02", years later), valid until the
        root ends, with the root's CRL as its distribution point."""
        if label in ("root", "ca01") or label in self._ltv_state()["cas"]:
            raise ValueError(f"a CA {label!r} exists already")
        key = _new_key("ec")
        root_key = self.root_key()
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, "Sohoa Demo Trust"))
                   .issuer_name(self.root.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(_utc(not_before))
                   .not_valid_after(self.root.not_valid_after_utc)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(_ca_usage(), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                                  critical=False))
        if self.responder_url:
            builder = builder.add_extension(_crl_address(f"{self.responder_url}/crl/root"), critical=False)
        cert = builder.sign(root_key, hashes.SHA256())
        _pem(self._ca_file(f"{label}.pem"), cert)
        _pem(self._ca_file(f"{label}.key.pem"), key)
        state = self._ltv_state()
        state["cas"][label] = {"cert": f"{label}.pem", "key": f"{label}.key.pem"}
        self._save_ltv_state(state)
        return cert

    def add_tsa(self, label: str, issuer: str, common_name: str, *, not_before: dt.datetime,
                not_after: dt.datetime) -> x509.Certificate:
        """A timestamp authority's certificate from CA ``issuer`` (P-256: a token costs a tenth of
        an RSA-2048 one, and only :mod:`core.signatures.ltv_responder` serves it; critical
        timeStamping usage, its CA's CRL and an OCSP address): the TSA the archive timestamps move
        to before the first one's certificate ends."""
        if label == "tsa1" or label in self._ltv_state()["tsas"]:
            raise ValueError(f"a TSA {label!r} exists already")
        ca_cert, ca_key, crl_path = self.certificate_authorities()[issuer]
        key = _new_key("ec")
        builder = (x509.CertificateBuilder().subject_name(_name(common_name, "Sohoa Demo Trust"))
                   .issuer_name(ca_cert.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(_utc(not_before))
                   .not_valid_after(_utc(not_after))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if self.responder_url:
            builder = builder.add_extension(_crl_address(f"{self.responder_url}{crl_path}"), critical=False)\
                .add_extension(_ocsp_address(f"{self.responder_url}/ocsp"), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _pem(self._ca_file(f"{label}.pem"), cert)
        _pem(self._ca_file(f"{label}.key.pem"), key)
        state = self._ltv_state()
        state["tsas"][label] = {"cert": f"{label}.pem", "key": f"{label}.key.pem", "issuer": issuer}
        self._save_ltv_state(state)
        return cert

    def revoke_issued_by(self, issuer: str, serial_hex: str, at: dt.datetime) -> None:
        """CA ``issuer`` revokes a certificate from ``at`` (VN-local); for the first issuing
        CA's certificates this is :meth:`revoke`."""
        if issuer == "ca01":
            self.revoke(serial_hex, at)
            return
        state = self._ltv_state()
        state["revocations"].append({"issuer": issuer, "serial": serial_hex, "at": at.isoformat()})
        self._save_ltv_state(state)

    def revocations(self) -> list[tuple[str, int, dt.datetime]]:
        """(CA label, serial, moment as aware UTC) of every revocation of every CA."""
        out = [("ca01", int(serial, 16), _utc(dt.datetime.fromisoformat(at))) for serial, at in self.revoked().items()]
        out += [(r["issuer"], int(r["serial"], 16), _utc(dt.datetime.fromisoformat(r["at"])))
                for r in self._ltv_state()["revocations"]]
        return out


def _crl_address(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None, crl_issuer=None)])


def _ocsp_address(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))])


def _seals(anchors: Path) -> tuple[x509.Certificate, ...]:
    """The service seal's certificate published in ``anchors/`` (none before it is issued)."""
    from core.signatures.anchors import read_seals

    return read_seals(anchors)


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def random_pin() -> str:
    return f"{secrets.randbelow(10**6):06d}"
