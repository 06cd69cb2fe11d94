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
    try:
        info = cms.ContentInfo.load(signature)
        if info["content_type"].native != "signed_data":
            return _fail(FAILED, "FORMAT_FAILURE", "not a CMS SignedData")
        signed_data = info["content"]
        signer_info = signed_data["signer_infos"][0]
        sid = signer_info["sid"].chosen
        cert_der = None
        for choice in signed_data["certificates"]:
            cert = choice.chosen
            if (cert.serial_number == sid["serial_number"].native
                    and cert.issuer == sid["issuer"]):
                cert_der = cert.dump()
                break
        attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
        claimed_digest = attrs["message_digest"].native
        signing_time = attrs.get("signing_time")
        signing_time = clock.from_utc(signing_time.native) if signing_time is not None else None
        signed_attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]
        signature_value = signer_info["signature"].native
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
    except Exception as err:  # noqa: BLE001 - any parse failure is a format failure
        return _fail(FAILED, "FORMAT_FAILURE", f"unreadable CMS signature: {type(err).__name__}")
    if cert_der is None:
        return _fail(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND", "the signer's certificate is not included")
    fingerprint = hashlib.sha256(cert_der).hexdigest()
    chain = trust.chain(cert_der)
    subject = chain.subject
    if digest_name != "sha256":
        return _fail(INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", f"digest {digest_name} is not accepted",
                     fingerprint, subject, signing_time)
    if hashlib.sha256(data).digest() != claimed_digest:
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
