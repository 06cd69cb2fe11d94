"""The transcript as a W3C Verifiable Credential (chứng chỉ số xác minh được, VC Data Model 2.0),
sealed by the school, so that a university or the student's wallet verifies it without the PDF.

- **What it states**: the transcript's data (:mod:`core.transcripts.data`, schema 1.0) as the
  ``credentialSubject``; the school as the ``issuer`` (``urn:sohoa:school:<code>``); the
  issuance as ``validFrom``; the schema as ``credentialSchema``.
- **How it is secured**: "Securing Verifiable Credentials using JOSE and COSE" (W3C
  Recommendation, 2025): the credential is the payload of a JWS in compact serialization,
  media type ``application/vc+jwt`` (``typ`` ``vc+jwt``, ``cty`` ``vc``), signed with the
  school's seal key (con dấu số) and its certificate chain in ``x5c`` (:mod:`core.signatures.jose`).
- **How it is verified** (:func:`verify_credential`, no sign-in): the signature and the chain
  to a trusted anchor now, then the same trust policy as the PDFs' seal
  (:meth:`core.signatures.policy.TrustPolicy.check_seal`: the certificate is the issuing
  school's registered seal, or its CA's organisation certificate with the seal policy and the
  school's identifier), then the record: the transcript is still the current one (a cancelled
  one is reported as such) and the credential states what was issued.

Only the school's principal (the permission to issue transcripts) seals a credential, with
the school's registered seal; each one is audited (``transcript.credential``).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import CertificateNotRegistered, NotFound, RuleViolation
from core.kernel.vocabulary import CertificateKind, TranscriptStatus
from core.signatures.cms import FAILED, PASSED, Verification
from core.signatures.jose import sign_compact, verify_compact
from core.signatures.policy import as_policy
from core.storage.db import Database
from core.storage.models import Certificate, School, Transcript
from core.transcripts.data import SCHEMA_ID, transcript_data

MEDIA_TYPE = "application/vc+jwt"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
CREDENTIAL_TYPE = "HocBaCredential"
#: Largest credential read by :func:`verify_credential` (a transcript's is about 6 kB; the API takes bodies up to 64 kB)
MAX_CREDENTIAL_CHARS = 60_000

#: What a check answers, in Vietnamese
VERDICTS = {
    "valid": "Hợp lệ: chứng chỉ do nhà trường cấp và đúng với học bạ đã cấp",
    "cancelled": "Học bạ này đã bị hủy: chứng chỉ không còn giá trị",
    "altered": "Không hợp lệ: chứng chỉ đã bị sửa hoặc chữ ký không đúng",
    "not_authorised": "Không hợp lệ: người ký không phải con dấu số của trường cấp học bạ",
    "indeterminate": "Chưa xác định được: không kiểm tra được chứng thư số của con dấu",
    "unknown": "Không tìm thấy học bạ này trong hệ thống",
    "malformed": "Không đọc được: đây không phải chứng chỉ học bạ",
}


def school_id_uri(code: str) -> str:
    return f"urn:sohoa:school:{code}"


def credential_document(row: Transcript, school: School) -> dict:
    """The credential (unsigned) of the issued transcript ``row`` of ``school``."""
    data = transcript_data(row.content, row.verification_code, row.content_hash)
    issued = (row.issued_at or clock.now()).replace(tzinfo=clock.VN_TZ)
    return {
        "@context": [VC_CONTEXT],
        "id": f"urn:sohoa:transcript:{row.verification_code}",
        "type": ["VerifiableCredential", CREDENTIAL_TYPE],
        "name": f"Học bạ năm học {data['namhoc']}",
        "issuer": {"id": school_id_uri(school.code), "name": school.name},
        "validFrom": issued.isoformat(timespec="seconds"),
        "credentialSchema": {"id": SCHEMA_ID, "type": "JsonSchema"},
        "credentialSubject": {"type": "HocBa", **data},
    }


def _issued(session, actor: Actor, transcript_id: int | None, code: str | None) -> Transcript:
    query = select(Transcript)
    query = query.where(Transcript.id == transcript_id) if transcript_id is not None else \
        query.where(Transcript.verification_code == (code or "").strip().upper())
    row = session.scalar(query)
    if row is None or not actor.sees_school(row.school_id):
        raise NotFound(f"no transcript {transcript_id or code}", message_vi="Không tìm thấy học bạ")
    require(actor, Permission.ISSUE_TRANSCRIPT, row.school_id)
    if row.status != TranscriptStatus.ISSUED:
        raise RuleViolation(f"only an issued transcript has a credential (this one is {row.status.value})",
                            message_vi=f"Chỉ học bạ đã cấp mới có chứng chỉ (học bạ này: {row.status.value})")
    return row


def issue_credential(db: Database, actor: Actor, seal_signer, *, transcript_id: int | None = None,
                     code: str | None = None) -> str:
    """The sealed credential (a compact JWS, ``application/vc+jwt``) of an issued transcript
    (by id or verification code), sealed with ``seal_signer``, the school's registered seal;
    by the school's principal; audited."""
    with db.transaction() as session:
        row = _issued(session, actor, transcript_id, code)
        seal = session.scalar(select(Certificate).where(Certificate.fingerprint == seal_signer.fingerprint))
        if seal is None or seal.kind != CertificateKind.SEAL or seal.school_id != row.school_id:
            raise CertificateNotRegistered("the seal certificate is not this school's",
                                           message_vi="Chứng thư số con dấu không phải của trường này")
        school = session.get(School, row.school_id)
        document = credential_document(row, school)
        token = sign_compact(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(),
                             seal_signer, {"typ": "vc+jwt", "cty": "vc"})
        audit.record(session, actor, "transcript.credential", "transcript", row.id, school_id=row.school_id,
                     after={"code": row.verification_code, "seal": seal_signer.fingerprint})
        return token


def school_of_transcript(db: Database, actor: Actor, transcript_id: int) -> int:
    """The school of an issued transcript the actor may seal a credential of (for opening its seal)."""
    with db.reading() as session:
        return _issued(session, actor, transcript_id, None).school_id


def unlock_school_seal(db: Database, actor: Actor, keys, school_id: int, pin: str,
                       at: dt.datetime | None = None):
    """The school's server-held seal key (``school-<id>`` in :class:`~core.signatures.held_keys.HeldKeys`),
    opened with its PIN by the school's principal; wrong PINs count towards the principal's
    lock like their own key's."""
    from core.kernel.errors import KeyNotOpened
    from core.signatures.held_keys import open_held_key

    require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
    return open_held_key(db, actor, keys, f"school-{school_id}", pin, at,
                         missing=KeyNotOpened("no seal key of this school is held on this server",
                                              message_vi="Máy chủ không lưu khóa con dấu số của trường này"),
                         wrong=KeyNotOpened("the seal key could not be opened: wrong PIN",
                                            message_vi="Không mở được khóa con dấu số: sai mã PIN"))


@dataclass(frozen=True)
class CredentialCheck:
    """What anyone presenting a credential learns: the verdict (one of :data:`VERDICTS`), the
    seal's verification under the trust policy, and which transcript it is (code, school,
    year, status); nothing personal."""

    valid: bool
    verdict: str
    message: str
    signature: Verification
    code: str | None = None
    school_code: str | None = None
    year: str | None = None
    status: str | None = None

    @property
    def verdict_vi(self) -> str:
        return VERDICTS[self.verdict]


def _malformed(signature: Verification, why: str) -> CredentialCheck:
    signature = Verification(FAILED, "FORMAT_FAILURE", signature.signer_fingerprint, signature.signer_subject,
                             signature.signing_time, why)
    return CredentialCheck(False, "malformed", why, signature)


def verify_credential(db: Database, trust, credential: str, *, at: dt.datetime | None = None) -> CredentialCheck:
    """Check a transcript credential (compact JWS) at ``at`` (default now): the seal's
    signature and chain, the trust policy for the issuing school's seal, then the record."""
    policy = as_policy(trust)
    at = at or clock.now()
    if not isinstance(credential, str) or len(credential) > MAX_CREDENTIAL_CHARS:
        return _malformed(Verification(FAILED, "FORMAT_FAILURE", None, None, at, ""), "not a transcript credential")
    signature, header, payload = verify_compact(credential, policy.trust, at=at)
    if header is None:
        return CredentialCheck(False, "malformed", signature.message, signature)
    try:
        document = json.loads(payload)
        if header.get("typ") != "vc+jwt" or document["@context"][0] != VC_CONTEXT or \
                CREDENTIAL_TYPE not in document["type"]:
            raise ValueError("not a transcript credential")
        issuer = document["issuer"]["id"]
        subject = document["credentialSubject"]
        code, year = subject["madinhdanhhocba"], subject["namhoc"]
        if not issuer.startswith("urn:sohoa:school:"):
            raise ValueError("the issuer is not a school")
        school_code = issuer.removeprefix("urn:sohoa:school:")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        return _malformed(signature, f"not a transcript credential ({err})")
    facts = {"code": code, "school_code": school_code, "year": year}
    if signature.indication == FAILED:
        return CredentialCheck(False, "altered", signature.message, signature, **facts)
    if signature.indication != PASSED:
        return CredentialCheck(False, "indeterminate", signature.message, signature, **facts)
    with db.reading() as session:
        signature = policy.check_seal(session, signature, unit_code=school_code, at=at)
        if not signature.valid:
            return CredentialCheck(False, "not_authorised", signature.message, signature, **facts)
        row = session.scalar(select(Transcript).where(Transcript.verification_code == code))
        if row is None or session.get(School, row.school_id).code != school_code:
            return CredentialCheck(False, "unknown", "no such transcript was issued by this school", signature,
                                   **facts)
        status = row.status.value
        if row.status == TranscriptStatus.CANCELLED:
            return CredentialCheck(False, "cancelled", "the transcript was cancelled", signature, **facts,
                                   status=status)
        if row.status != TranscriptStatus.ISSUED or subject != {
                "type": "HocBa", **transcript_data(row.content, row.verification_code, row.content_hash)}:
            return CredentialCheck(False, "altered", "the credential does not state what was issued", signature,
                                   **facts, status=status)
    return CredentialCheck(True, "valid", "the credential is valid", signature, **facts, status=status)
