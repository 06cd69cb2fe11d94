"""The product's own seal (con dấu của hệ thống): the key with which the server attests what it
decided — a batch of signing receipts, a checkpoint of its history — so that the attestation can
be checked later by anyone holding the trust anchors, without the database and without trusting
whoever runs it.

The seal is a service certificate issued to the department's system by a CA, like a school's
seal certificate — never a CA key. An :class:`Attestation` of a statement (bytes, usually
canonical JSON) is

- a detached CMS signature by the seal over the statement (who attests, and what), and
- an RFC 3161 timestamp from the timestamp authority over the statement's SHA-256 (since when:
  the TSA's clock, not the server's).

:func:`verify_attestation` checks both against trust anchors and reports in the ETSI EN 319 102-1
vocabulary, like every verification of the product.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509

from core.kernel import clock
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, TrustStore, Verification, verify_detached
from core.signatures.signer import Signer, SoftwareSigner, run_coroutine

#: The seal's key file in a PKI directory (``keys/<owner>.p12``) and its owner name.
SEAL_OWNER = "service-seal"
SEAL_NAME = "Hệ thống sổ đầu bài số và học bạ số"


@dataclass(frozen=True)
class Attestation:
    """A statement attested by the service seal: its CMS signature and its RFC 3161 timestamp
    token (``None`` when no timestamp authority is configured — then only the signing time
    the server claims stands, which is weaker evidence)."""

    signature: bytes
    timestamp: bytes | None


@dataclass(frozen=True)
class AttestationCheck:
    """What checking an attestation found: the seal's signature, the timestamp and its time."""

    signature: Verification
    timestamp: Verification
    timestamped_at: dt.datetime | None   # Vietnam local time, from the TSA's token

    @property
    def valid(self) -> bool:
        return self.signature.valid and self.timestamp.valid


class ServiceSeal:
    """Signs and timestamps statements with the service seal."""

    def __init__(self, signer: Signer, tsa_url: str | None = None):
        self.signer = signer
        self.tsa_url = tsa_url

    @classmethod
    def open(cls, key_file: Path, pin: str, tsa_url: str | None = None) -> ServiceSeal:
        """The seal from its PKCS#12 file (or an HSM-backed :class:`Signer` passed to the
        constructor instead)."""
        return cls(SoftwareSigner.from_pkcs12(Path(key_file), pin), tsa_url)

    @property
    def fingerprint(self) -> str:
        return self.signer.fingerprint

    def attest(self, statement: bytes, at: dt.datetime | None = None) -> Attestation:
        """Sign ``statement`` (at ``at``, the server's time) and have it timestamped."""
        signature = self.signer.sign_detached(statement, at or clock.now())
        return Attestation(signature, self.timestamp(statement) if self.tsa_url else None)

    def timestamp(self, statement: bytes) -> bytes:
        """An RFC 3161 timestamp token over SHA-256(statement) from the configured TSA."""
        # the requests-based client: pyHanko's aiohttp one builds a new TLS context (the system's
        # CA bundle read and parsed, ~80 ms of CPU) for every request, and a sealer asks once a second
        from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

        digest = hashlib.sha256(statement).digest()
        token = run_coroutine(RequestsHTTPTimeStamper(self.tsa_url).async_timestamp(digest, "sha256"))
        return token.dump()


def timestamp_time(token: bytes) -> dt.datetime:
    """The time an RFC 3161 token states (Vietnam local time)."""
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    return clock.from_utc(info["gen_time"].native)


def verify_attestation(statement: bytes, attestation: Attestation, trust: TrustStore,
                       *, seal_fingerprint: str | None = None) -> AttestationCheck:
    """Check an attestation without the database: the CMS signature covers ``statement`` and
    chains to ``trust`` (judged at the timestamp's time when there is one, else at the signing
    time the server wrote); the timestamp token covers the statement's SHA-256 and is signed by
    a TSA certificate that chains to ``trust``. With ``seal_fingerprint``, the signer must be
    that seal."""
    stamp, when = _verify_timestamp(statement, attestation.timestamp, trust)
    signature = verify_detached(statement, attestation.signature, trust, at=when) if when \
        else verify_detached(statement, attestation.signature, trust)
    if signature.valid and seal_fingerprint and signature.signer_fingerprint != seal_fingerprint:
        signature = Verification(FAILED, "NOT_AUTHORISED_FOR_ROLE", signature.signer_fingerprint,
                                 signature.signer_subject, signature.signing_time,
                                 "signed by another certificate than the service seal")
    return AttestationCheck(signature, stamp, when)


def _verify_timestamp(statement: bytes, token: bytes | None,
                      trust: TrustStore) -> tuple[Verification, dt.datetime | None]:
    if token is None:
        return Verification(INDETERMINATE, "NO_POE", None, None, None, "no timestamp"), None
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    try:
        signed = cms.ContentInfo.load(token)["content"]
        info = signed["encap_content_info"]["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            raise ValueError("not a timestamp token")
        when = clock.from_utc(info["gen_time"].native)
    except (ValueError, KeyError, TypeError) as err:
        return Verification(FAILED, "FORMAT_FAILURE", None, None, None, f"unreadable timestamp: {err}"), None
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(r) for r in trust.roots_der],
                                other_certs=[asn1_x509.Certificate.load(i) for i in trust.intermediates_der],
                                allow_fetching=False, revocation_mode="soft-fail",
                                moment=clock.to_utc(when))

    def imprint(algorithm: str) -> bytes:
        return hashlib.new(algorithm, statement).digest()

    try:
        status = run_coroutine(validate_tst_signed_data(signed, context, imprint))
    except Exception as err:  # noqa: BLE001 - a token we cannot validate is never a valid one
        return Verification(FAILED, "SIG_CRYPTO_FAILURE", None, None, when, f"timestamp not valid: {err}"), when
    if not status.get("intact") or not status.get("valid"):
        return Verification(FAILED, "HASH_FAILURE", None, None, when,
                            "the timestamp does not cover this statement"), when
    if status.get("trust_problem_indic") is not None or status.get("validation_path") is None:
        return Verification(INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", None, None, when,
                            f"the timestamp authority is not trusted ({status.get('trust_problem_indic')})"), when
    return Verification(PASSED, None, None, None, when, "timestamped"), when
