"""Verification of detached CMS signatures (chữ ký số), reported in the ETSI EN 319 102-1
vocabulary: PASSED, INDETERMINATE or FAILED with a sub-indication. INDETERMINATE is never
valid, and no input makes :func:`verify_detached` raise.

Chains are validated once per signer certificate and cached (a city's 1.7 million weekly
periods come from ~100,000 teachers); the signature itself is checked every time.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from core.kernel import clock
from core.signatures.rules.validity import validity_problem

PASSED, INDETERMINATE, FAILED = "PASSED", "INDETERMINATE", "FAILED"


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one signature (signing_time is naive VN-local)."""

    indication: str
    sub_indication: str | None
    signer_fingerprint: str | None
    signer_subject: str | None
    signing_time: dt.datetime | None
    message: str
    #: the signer's certificate (DER), when the signature verified: what a trust policy reads
    certificate: bytes | None = None
    #: the message in Vietnamese, when a policy refused the signature
    message_vi: str | None = None

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
    #: SHA-256 (hex) of the certificate's direct issuer and of the root the path ends at
    issuer: str | None = None
    root: str | None = None


#: A revocation check: (certificate, signing time) -> None if good at that time, else
#: (sub_indication, message), e.g. ("REVOKED", "revoked on ...") or ("TRY_LATER", ...).
RevocationChecker = Callable[[x509.Certificate, dt.datetime], tuple[str, str] | None]

# A certificate can parse partly and fail later (version, duplicate extensions, key type).
_CERT_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension, x509.InvalidVersion)


@dataclass(frozen=True)
class Anchor:
    """One trusted CA hierarchy (neo tin cậy): a root, the issuing CAs under it and where each
    issuer publishes revocation (its CRL or OCSP). A deployment trusts several: the licensed
    public CAs under the national root (NEAC: VNPT, Viettel, …) and the government CA (VGCA,
    which issues the seals of public bodies).

    ``revocation`` maps an issuing CA's certificate (DER) to its checker; ``None`` means this
    anchor's revocation is not checked (the offline demo). When revocation is checked, an
    issuer of the anchor without a checker answers TRY_LATER: never "valid" for lack of a source.
    ``seal_policies``: the certificate-policy OIDs under which this CA issues organisation
    certificates (the seal, con dấu số, of a school or a department).
    """

    name: str
    root: bytes
    intermediates: tuple[bytes, ...] = ()
    revocation: dict[bytes, RevocationChecker] | None = None
    seal_policies: frozenset[str] = frozenset()


def _fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class TrustStore:
    """Trust anchors (roots) plus known intermediates (chứng thư số of the CAs), with a
    per-certificate chain cache. Built from :class:`Anchor` s (``anchors=``), each issuer with
    its own revocation source; the older form — ``roots``, ``intermediates`` and one
    ``revocation_checker`` for every issuer — is one anonymous anchor."""

    #: Chain results kept in memory (by certificate fingerprint); the oldest go first.
    cache_size = 200_000

    def __init__(self, roots: list[bytes] = (), intermediates: list[bytes] = (),
                 revocation_checker: RevocationChecker | None = None, seals: list[bytes] = (), *,
                 anchors: list[Anchor] = ()):
        self.anchors = list(anchors)
        self.roots = [x509.load_der_x509_certificate(d) for d in roots]
        self.intermediates = [x509.load_der_x509_certificate(d) for d in intermediates]
        #: issuer fingerprint -> its checker; a root fingerprint -> its anchor
        self._issuer_checkers: dict[str, RevocationChecker | None] = {}
        self._anchor_of_root: dict[str, Anchor] = {}
        for anchor in self.anchors:
            root = x509.load_der_x509_certificate(anchor.root)
            cas = [root, *(x509.load_der_x509_certificate(d) for d in anchor.intermediates)]
            self.roots.append(root)
            self.intermediates.extend(cas[1:])
            self._anchor_of_root[_fingerprint(root)] = anchor
            if anchor.revocation is not None:
                by_der = {hashlib.sha256(der).hexdigest(): check for der, check in anchor.revocation.items()}
                for ca in cas:
                    self._issuer_checkers[_fingerprint(ca)] = by_der.get(_fingerprint(ca))
        #: the checker of every issuer that has none of its own (the older form); with anchors
        #: that check revocation, a dispatcher to each issuer's own
        self.revocation_checker = revocation_checker
        #: the department system's service seal certificates (DER) whose attestations are its
        #: own (core.signatures.service): any other certificate, even from a trusted CA, is not
        self.seals = [bytes(d) for d in seals]
        self.seal_fingerprints = frozenset(hashlib.sha256(d).hexdigest() for d in self.seals)
        if revocation_checker is None and self._issuer_checkers:
            self.revocation_checker = self._dispatch
        self._chains: dict[bytes, _ChainResult] = {}
        self._evicting = threading.Lock()
        # CAs by the DER of their subject name: finding an issuer is a dictionary lookup
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        for ca in (*self.intermediates, *self.roots):
            self._by_subject.setdefault(ca.subject.public_bytes(), []).append(ca)

    def revocation_for(self, chain: "_ChainResult") -> RevocationChecker | None:
        """The revocation check for a certificate whose path is ``chain``: its issuer's own
        (an issuer of a checked anchor without one answers TRY_LATER), else the store's
        default, else None (not checked)."""
        if chain.issuer in self._issuer_checkers:
            return self._issuer_checkers[chain.issuer] or _no_source
        default = self.revocation_checker
        return None if default == self._dispatch else default

    def _dispatch(self, cert: x509.Certificate, when: dt.datetime):
        """A certificate's issuer's checker (for callers that hold only the certificate)."""
        checker = self.revocation_for(self.chain(cert.public_bytes(serialization.Encoding.DER)))
        return None if checker is None else checker(cert, when)

    def anchor_of(self, chain: "_ChainResult") -> Anchor | None:
        """The anchor a validated path ends at (None for the older, anonymous form)."""
        return self._anchor_of_root.get(chain.root) if chain.ok else None

    @property
    def roots_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.roots]

    @property
    def intermediates_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.intermediates]

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        for candidate in self._by_subject.get(cert.issuer.public_bytes(), ()):
            try:
                cert.verify_directly_issued_by(candidate)
            except (*_CERT_ERRORS, InvalidSignature):
                continue
            return candidate
        return None

    def chain(self, cert_der: bytes) -> _ChainResult:
        """Validate the path from ``cert_der`` to a root (cached per certificate)."""
        key = hashlib.sha256(cert_der).digest()
        cached = self._chains.get(key)
        if cached is None:
            try:
                cached = self._build_chain(cert_der)
            except _CERT_ERRORS as err:  # a certificate that parses only halfway
                cached = _ChainResult(False, "FORMAT_FAILURE", f"unreadable certificate: {type(err).__name__}")
            with self._evicting:  # a warm-up thread may be filling the cache beside requests
                if len(self._chains) >= self.cache_size:
                    del self._chains[next(iter(self._chains))]
                self._chains[key] = cached
        return cached

    def warm(self, certificates) -> int:
        """Validate the chains of ``certificates`` (DER) ahead of their first signature, so
        that a signature later costs only its own verification; returns how many."""
        n = 0
        for der in certificates:
            self.chain(der)
            n += 1
        return n

    def _build_chain(self, cert_der: bytes) -> _ChainResult:
        leaf = x509.load_der_x509_certificate(cert_der)
        subject = leaf.subject.rfc4514_string()
        public_key = leaf.public_key()
        usage = _extension(leaf, x509.KeyUsage)
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            return _ChainResult(False, "CHAIN_CONSTRAINTS_FAILURE", "the certificate is not for signing",
                                subject=subject)
        path, current = [leaf], leaf
        while current not in self.roots:
            issuer = self._issuer_of(current)
            if issuer is None or len(path) > 5:
                return _ChainResult(False, "NO_CERTIFICATE_CHAIN_FOUND",
                                    f"no trusted issuer for {current.subject.rfc4514_string()}", subject=subject)
            constraints = _extension(issuer, x509.BasicConstraints)
            ca_usage = _extension(issuer, x509.KeyUsage)
            if constraints is None or not constraints.ca or (ca_usage is not None and not ca_usage.key_cert_sign):
                return _ChainResult(False, "CHAIN_CONSTRAINTS_FAILURE",
                                    f"{issuer.subject.rfc4514_string()} is not a CA", subject=subject)
            path.append(issuer)
            current = issuer
        not_before = max(clock.from_utc(c.not_valid_before_utc) for c in path)
        not_after = min(clock.from_utc(c.not_valid_after_utc) for c in path)
        issuer = _fingerprint(path[1]) if len(path) > 1 else _fingerprint(leaf)
        return _ChainResult(True, None, "chain to a trusted root", public_key, subject, not_before, not_after,
                            issuer, _fingerprint(path[-1]))


def _no_source(cert: x509.Certificate, when: dt.datetime):
    return "TRY_LATER", f"no revocation source is configured for the issuer of {cert.subject.rfc4514_string()}"


def _extension(cert: x509.Certificate, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


# ---------------------------------------------------------------- algorithms
_DIGESTS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
            "2.16.840.1.101.3.4.2.3": "sha512"}
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
#: signatureAlgorithm -> (key kind, the digest it names or None when the digest algorithm decides)
_SIGNATURES = {"1.2.840.10045.4.3.2": ("ec", "sha256"), "1.2.840.10045.4.3.3": ("ec", "sha384"),
               "1.2.840.10045.4.3.4": ("ec", "sha512"), "1.2.840.10045.2.1": ("ec", None),
               "1.2.840.113549.1.1.1": ("rsa", None), "1.2.840.113549.1.1.11": ("rsa", "sha256"),
               "1.2.840.113549.1.1.12": ("rsa", "sha384"), "1.2.840.113549.1.1.13": ("rsa", "sha512")}


def _oid_der(dotted: str) -> bytes:
    return asn1_core.ObjectIdentifier(dotted).contents


_FAST_DIGESTS = {_oid_der(k): k for k in _DIGESTS}
_FAST_SIGNATURES = {_oid_der(k): k for k in _SIGNATURES}
_OID_DATA = _oid_der("1.2.840.113549.1.7.1")
_OID_SIGNED_DATA = _oid_der("1.2.840.113549.1.7.2")
_OID_CONTENT_TYPE = _oid_der("1.2.840.113549.1.9.3")
_OID_MESSAGE_DIGEST = _oid_der("1.2.840.113549.1.9.4")
_OID_SIGNING_TIME = _oid_der("1.2.840.113549.1.9.5")
_OID_SIGNING_CERT_V2 = _oid_der("1.2.840.113549.1.9.16.2.47")
_ENCAP_DATA = b"\x30\x0b\x06\x09" + _OID_DATA  # eContentType id-data, no eContent (detached)


@dataclass(frozen=True)
class ReadSignature:
    """A detached SignedData's parts as read, not yet verified (:func:`read_signature`)."""

    cert_der: bytes | None
    digest_oid: str
    claimed_digest: bytes
    signing_time: dt.datetime | None
    signed_attrs: bytes  # as signed: the SET OF, tagged 0x31
    signature_value: bytes
    signature_oid: str
    # signing-certificate-v2: (digest name, certificate hash), or None when absent
    ess_cert_hash: tuple[str, bytes] | None

    @functools.cached_property
    def fingerprint(self) -> str | None:
        """SHA-256 (hex) of the embedded signer's certificate."""
        return None if self.cert_der is None else hashlib.sha256(self.cert_der).hexdigest()


def _fail(indication: str, sub: str | None, message: str, fingerprint=None, subject=None, when=None):
    return Verification(indication, sub, fingerprint, subject, when, message)


def _verify_raw(public_key, kind: str, digest: str, signature: bytes, data: bytes) -> bool:
    algorithm = _HASHES[digest]()
    try:
        if kind == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        elif kind == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_detached(data: bytes, signature: bytes, trust: TrustStore, *,
                    at: dt.datetime | None = None) -> Verification:
    """Verify a detached CMS signature over ``data``: integrity, signature value, chain to a
    trusted root, certificate validity at the signing time and (when the trust store has a
    checker) revocation status at the signing time. With ``at`` the certificate is checked at
    that moment instead of the signing time the signature claims (the signing API: the
    server's receipt time decides, whatever the phone's clock said). Never raises for bad input."""
    return verify_read(data, read_signature(signature), trust, at=at)


def read_signature(signature: bytes) -> "ReadSignature | Verification":
    """The first half of :func:`verify_detached`: the signature's structure read (no
    cryptography yet), or the report of why it cannot be read. The signing API reads each
    submission before its batch's transaction, so that the signer's certificate is known
    (:func:`signer_fingerprint`) when the batch's rows are read."""
    try:
        return _parse_fast(signature) or _parse_general(signature)
    except Exception as err:  # noqa: BLE001 - whatever the bytes are, the answer is a report
        return _fail(FAILED, "FORMAT_FAILURE", f"unreadable CMS signature: {type(err).__name__}")


def signer_fingerprint(read: "ReadSignature | Verification") -> str | None:
    """SHA-256 (hex) of the certificate a read signature names as its signer's, if any."""
    return None if isinstance(read, Verification) or read.cert_der is None else read.fingerprint


def verify_read(data: bytes, parsed: "ReadSignature | Verification", trust: TrustStore, *,
                at: dt.datetime | None = None) -> Verification:
    """The second half of :func:`verify_detached`, on what :func:`read_signature` gave."""
    if isinstance(parsed, Verification):
        return parsed
    when = at or parsed.signing_time
    if parsed.cert_der is None:
        return _fail(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not included",
                     when=when)
    fingerprint = parsed.fingerprint
    chain = trust.chain(parsed.cert_der)
    subject = chain.subject
    digest = _DIGESTS.get(parsed.digest_oid)
    kind, named_digest = _SIGNATURES.get(parsed.signature_oid, (None, None))
    if digest is None or kind is None:
        return _fail(INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE",
                     f"algorithm {parsed.digest_oid if digest is None else parsed.signature_oid} is not accepted",
                     fingerprint, subject, when)
    if named_digest not in (None, digest):
        return _fail(FAILED, "FORMAT_FAILURE", "the digest and signature algorithms disagree",
                     fingerprint, subject, when)
    if parsed.ess_cert_hash is not None:
        ess_digest, ess_hash = parsed.ess_cert_hash
        if ess_digest not in _HASHES or hashlib.new(ess_digest, parsed.cert_der).digest() != ess_hash:
            return _fail(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND",
                         "the signing-certificate attribute names another certificate", fingerprint, subject, when)
    if hashlib.new(digest, data).digest() != parsed.claimed_digest:
        return _fail(FAILED, "HASH_FAILURE", "the signed content has changed since it was signed",
                     fingerprint, subject, when)
    if not chain.ok:
        if chain.sub_indication != "FORMAT_FAILURE":
            # Check the signature value with the embedded certificate's key anyway, so that
            # a broken signature reports as such even from an unknown CA.
            try:
                key = x509.load_der_x509_certificate(parsed.cert_der).public_key()
            except _CERT_ERRORS:
                key = None
            if key is not None and not _verify_raw(key, kind, digest, parsed.signature_value, parsed.signed_attrs):
                return _fail(FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify",
                             fingerprint, subject, when)
        return _fail(INDETERMINATE, chain.sub_indication, chain.message, fingerprint, subject, when)
    if not _verify_raw(chain.public_key, kind, digest, parsed.signature_value, parsed.signed_attrs):
        return _fail(FAILED, "SIG_CRYPTO_FAILURE", "the signature value does not verify",
                     fingerprint, subject, when)
    if when is None:
        return _fail(INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", "no signing time", fingerprint, subject)
    problem = validity_problem(chain.not_before, chain.not_after, None, when)
    if problem:  # outside the chain's validity at the signing time: INDETERMINATE (ETSI EN 319 102-1)
        return _fail(INDETERMINATE, problem[0], problem[1], fingerprint, subject, when)
    checker = trust.revocation_for(chain)
    if checker is not None:
        try:
            problem = checker(x509.load_der_x509_certificate(parsed.cert_der), when)
        except Exception as err:  # noqa: BLE001 - no status is "try later", never "valid"
            problem = ("TRY_LATER", f"revocation status unavailable ({type(err).__name__})")
        if problem is not None:
            sub, message = problem
            return _fail(FAILED if sub == "REVOKED" else INDETERMINATE, sub, message, fingerprint, subject, when)
    return Verification(PASSED, None, fingerprint, subject, when, "the signature is valid", parsed.cert_der)


# ---------------------------------------------------------------- the general reader
def _parse_general(signature: bytes) -> ReadSignature | Verification:
    """Any standard CMS SignedData with one signer, through asn1crypto (the fast reader's
    fallback, and the one that says what is wrong with a malformed signature)."""
    def bad(message: str) -> Verification:
        return _fail(FAILED, "FORMAT_FAILURE", message)

    try:
        info = cms.ContentInfo.load(signature, strict=True)
        if info["content_type"].dotted != "1.2.840.113549.1.7.2":
            return bad("not a CMS SignedData")
        signed_data = info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content"].native is not None:
            return bad("not a detached signature (the content is embedded)")
        if len(signed_data["signer_infos"]) != 1:
            return bad(f"{len(signed_data['signer_infos'])} signers; one is expected")
        signer_info = signed_data["signer_infos"][0]
        digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
        if digest_oid not in {a["algorithm"].dotted for a in signed_data["digest_algorithms"]}:
            return bad("the signer's digest algorithm is not listed in the SignedData")
        for alg in (*signed_data["digest_algorithms"], signer_info["digest_algorithm"],
                    signer_info["signature_algorithm"]):
            if alg["parameters"].dump() not in (b"", b"\x05\x00"):
                return bad(f"unexpected parameters for {alg['algorithm'].dotted}")
        sid = signer_info["sid"]
        if signer_info["version"].native != ("v1" if sid.name == "issuer_and_serial_number" else "v3"):
            return bad("unexpected SignerInfo version")
        # RFC 5652 5.1: version 1 for the plain case, 3 or more otherwise.
        plain = (sid.name == "issuer_and_serial_number" and encap["content_type"].dotted == "1.2.840.113549.1.7.1"
                 and all(c.name == "certificate" for c in signed_data["certificates"] or []))
        if (signed_data["version"].native == "v1") != plain or signed_data["version"].native == "v2":
            return bad("unexpected SignedData version")
        cert_der = None
        for choice in signed_data["certificates"] or []:
            if choice.name != "certificate":
                continue
            cert = choice.chosen
            if sid.name == "issuer_and_serial_number":
                tbs = cert["tbs_certificate"]
                # Exact bytes first (cheap); the semantic Name comparison only as a fallback.
                found = tbs["serial_number"].native == sid.chosen["serial_number"].native and (
                    tbs["issuer"].dump() == sid.chosen["issuer"].dump() or tbs["issuer"] == sid.chosen["issuer"])
            else:
                found = cert.key_identifier == sid.chosen.native
            if found:
                cert_der = cert.dump()
                break
        if not signer_info["signed_attrs"]:
            return bad("no signed attributes")
        values: dict[str, object] = {}
        for attr in signer_info["signed_attrs"]:
            oid = attr["type"].dotted
            if oid in values:
                return bad(f"attribute {attr['type'].native} appears twice")
            values[oid] = attr["values"]
        for oid in ("1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4", "1.2.840.113549.1.9.5"):
            if oid in values and len(values[oid]) != 1:
                return bad(f"attribute {oid} must have exactly one value")
        content_type = values.get("1.2.840.113549.1.9.3")
        if content_type is None or content_type[0].dotted != encap["content_type"].dotted:
            return bad("the content-type attribute is missing or differs from the content type")
        if "1.2.840.113549.1.9.4" not in values:
            return bad("no message-digest attribute")
        claimed_digest = values["1.2.840.113549.1.9.4"][0].native
        signing_time = None
        if "1.2.840.113549.1.9.5" in values:
            signing_time = clock.from_utc(values["1.2.840.113549.1.9.5"][0].native)
        ess_cert_hash = None
        if "1.2.840.113549.1.9.16.2.47" in values:
            first = values["1.2.840.113549.1.9.16.2.47"][0]["certs"][0]
            ess_cert_hash = (first["hash_algorithm"]["algorithm"].native, first["cert_hash"].native)
        signed_attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]
        return ReadSignature(cert_der, digest_oid, claimed_digest, signing_time, signed_attrs,
                       signer_info["signature"].native, signer_info["signature_algorithm"]["algorithm"].dotted,
                       ess_cert_hash)
    except Exception as err:  # noqa: BLE001 - any parse failure is a format failure
        return bad(f"unreadable CMS signature: {type(err).__name__}")


# ---------------------------------------------------------------- the fast reader
def _tlv(b: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``, inside ``end``."""
    if pos + 2 > end:
        raise ValueError("truncated")
    tag, n = b[pos], b[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tag")
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if not 0 < k <= 4 or pos + k > end or b[pos] == 0:
            raise ValueError("bad length")
        n = int.from_bytes(b[pos:pos + k], "big")
        if n < 0x80:
            raise ValueError("non-minimal length")
        pos += k
    if pos + n > end:
        raise ValueError("truncated")
    return tag, pos, pos + n


def _kids(b: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in [start, end)."""
    out = []
    while start < end:
        tag, cs, ce = _tlv(b, start, end)
        out.append((tag, start, cs, ce))
        start = ce
    return out


def _algorithm(b: bytes, element) -> bytes:
    """The OID of an AlgorithmIdentifier with absent or NULL parameters."""
    tag, _, cs, ce = element
    parts = _kids(b, cs, ce)
    if tag != 0x30 or parts[0][0] != 0x06 or len(parts) > 2 or (len(parts) == 2 and b[parts[1][1]:ce] != b"\x05\x00"):
        raise ValueError("unexpected algorithm identifier")
    return b[parts[0][2]:parts[0][3]]


def _asn1_time(tag: int, raw: bytes) -> dt.datetime:
    if tag == 0x17 and len(raw) == 13:  # UTCTime YYMMDDHHMMSSZ
        raw = (b"20" if raw[:2] < b"50" else b"19") + raw
    elif tag != 0x18 or len(raw) != 15:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("unexpected time")
    if raw[14] != 0x5A or not raw[:14].isdigit():
        raise ValueError("unexpected time")
    moment = dt.datetime(int(raw[:4]), int(raw[4:6]), int(raw[6:8]), int(raw[8:10]), int(raw[10:12]),
                         int(raw[12:14]), tzinfo=dt.timezone.utc)
    return clock.from_utc(moment)


def _parse_fast(signature: bytes) -> ReadSignature | None:
    """Read the common shape of a detached SignedData with a strict DER walker (no object
    model): one signer identified by issuer and serial, signed attributes with one value
    each. Returns None for anything else, and the general reader takes over."""
    try:
        b = signature
        tag, s, e = _tlv(b, 0, len(b))
        if tag != 0x30 or e != len(b):
            return None
        top = _kids(b, s, e)
        if len(top) != 2 or top[0][0] != 0x06 or b[top[0][2]:top[0][3]] != _OID_SIGNED_DATA or top[1][0] != 0xA0:
            return None
        wrapped = _kids(b, top[1][2], top[1][3])
        if len(wrapped) != 1 or wrapped[0][0] != 0x30:
            return None
        parts = _kids(b, wrapped[0][2], wrapped[0][3])
        if [p[0] for p in parts] != [0x02, 0x31, 0x30, 0xA0, 0x31]:
            return None
        version, digest_set, encap, certs, infos = parts
        if b[version[1]:version[3]] != b"\x02\x01\x01" or b[encap[1]:encap[3]] != _ENCAP_DATA:
            return None
        listed = {_algorithm(b, k) for k in _kids(b, digest_set[2], digest_set[3])}
        infos = _kids(b, infos[2], infos[3])
        if len(infos) != 1 or infos[0][0] != 0x30:
            return None
        si = _kids(b, infos[0][2], infos[0][3])
        if [p[0] for p in si] != [0x02, 0x30, 0x30, 0xA0, 0x30, 0x04] or b[si[0][1]:si[0][3]] != b"\x02\x01\x01":
            return None
        sid = _kids(b, si[1][2], si[1][3])
        if [p[0] for p in sid] != [0x30, 0x02]:
            return None
        issuer, serial = b[sid[0][1]:sid[0][3]], b[sid[1][2]:sid[1][3]]
        digest_oid = _algorithm(b, si[2])
        signature_oid = _algorithm(b, si[4])
        if digest_oid not in listed or digest_oid not in _FAST_DIGESTS or signature_oid not in _FAST_SIGNATURES:
            return None
        cert_der = None
        for ctag, cstart, cs, ce in _kids(b, certs[2], certs[3]):
            if ctag != 0x30:
                return None
            _, pos, te = _tlv(b, cs, ce)  # tbsCertificate: [0] version?, serial, signature, issuer
            tag, vs, pos = _tlv(b, pos, te)
            if tag == 0xA0:
                tag, vs, pos = _tlv(b, pos, te)
            if b[vs:pos] != serial:
                continue
            _, _, pos2 = _tlv(b, pos, te)
            _, _, issuer_end = _tlv(b, pos2, te)
            if b[pos2:issuer_end] == issuer:
                cert_der = b[cstart:ce]
                break
        seen = {}
        for atag, _, as_, ae in _kids(b, si[3][2], si[3][3]):
            pair = _kids(b, as_, ae)
            if atag != 0x30 or [p[0] for p in pair] != [0x06, 0x31]:
                return None
            oid = b[pair[0][2]:pair[0][3]]
            values = _kids(b, pair[1][2], pair[1][3])
            if oid in seen or len(values) != 1:
                return None
            seen[oid] = values[0]
        if _OID_CONTENT_TYPE not in seen or _OID_MESSAGE_DIGEST not in seen:
            return None
        ct_tag, _, ct_s, ct_e = seen[_OID_CONTENT_TYPE]
        md_tag, _, md_s, md_e = seen[_OID_MESSAGE_DIGEST]
        if ct_tag != 0x06 or b[ct_s:ct_e] != _OID_DATA or md_tag != 0x04:
            return None
        signing_time = None
        if _OID_SIGNING_TIME in seen:
            st_tag, _, st_s, st_e = seen[_OID_SIGNING_TIME]
            signing_time = _asn1_time(st_tag, b[st_s:st_e])
        ess_cert_hash = None
        if _OID_SIGNING_CERT_V2 in seen:
            v_tag, _, v_s, v_e = seen[_OID_SIGNING_CERT_V2]
            cert_ids = _kids(b, v_s, v_e)
            first = _kids(b, cert_ids[0][2], cert_ids[0][3])[0]
            fields = _kids(b, first[2], first[3])
            hash_name = "sha256"  # the default hashAlgorithm
            if fields[0][0] == 0x30:
                hash_name = _DIGESTS.get(_FAST_DIGESTS.get(_algorithm(b, fields[0]), ""), "?")
                fields = fields[1:]
            if v_tag != 0x30 or cert_ids[0][0] != 0x30 or first[0] != 0x30 or fields[0][0] != 0x04:
                return None
            ess_cert_hash = (hash_name, b[fields[0][2]:fields[0][3]])
        return ReadSignature(cert_der, _FAST_DIGESTS[digest_oid], b[md_s:md_e], signing_time,
                       b"\x31" + b[si[3][1] + 1:si[3][3]], b[si[5][2]:si[5][3]], _FAST_SIGNATURES[signature_oid],
                       ess_cert_hash)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
