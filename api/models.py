"""The API's request and response shapes (OpenAPI-typed): what teachers' apps send and get."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: Ids are 64-bit in the record store: anything larger is a 422, never a database error.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
def _ascii_digits(value):
    """An id in the path is ASCII digits only: no sign, spaces, other scripts' digits or
    exponents (which int() would otherwise take)."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError("an id is written with the digits 0-9 only (mã số chỉ gồm các chữ số 0-9)")
    return value


AsciiId = BeforeValidator(_ascii_digits)
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a logbook entry's id"), AsciiId]
ClassId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a class's id"), AsciiId]
WeekId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a school week's id (week_id in the list of weeks)"), AsciiId]


class Problem(BaseModel):
    code: str = Field(description="machine-readable error code")
    message: str = Field(description="English")
    message_vi: str = Field(description="Tiếng Việt")
    reason: str | None = Field(default=None, description="why a device's signature was refused "
                               "(SignatureRejected: SIG_CRYPTO_FAILURE, HASH_FAILURE, WRONG_SIGNER, ...)")


class ErrorBody(BaseModel):
    error: Problem


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class Revoked(BaseModel):
    sessions_ended: int = Field(description="sessions ended: this user's app tokens and console sessions")


class Period(BaseModel):
    entry_id: int
    day: dt.date
    period_no: int
    class_name: str
    subject: str
    period_start: dt.datetime
    period_end: dt.datetime
    signing_deadline: dt.datetime
    status: str
    is_substitute: bool
    lesson_title: str | None


class EntryForSigning(BaseModel):
    entry_id: int
    day: dt.date
    period_no: int
    status: str
    lesson_title: str | None
    curriculum_seq: int | None
    class_remark: str | None
    class_rating: str | None
    period_end: dt.datetime
    signed_at: dt.datetime | None
    canonical_bytes: str = Field(description="base64 of the exact bytes the signature must cover")
    sha256: str


class Content(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson_title: str = Field(min_length=1, max_length=400)
    curriculum_seq: int | None = Field(default=None, ge=1, le=500)
    class_remark: str | None = Field(default=None, max_length=2000)
    class_rating: str | None = Field(default=None, max_length=2)
    absences: dict[Id, bool] | None = Field(default=None, description="student id → excused")
    student_remarks: dict[Id, Annotated[str, Field(max_length=2000)]] | None = None


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str = Field(min_length=1, max_length=90_000,
                           description="base64 of a detached CMS (PKCS#7) signature over canonical_bytes")


class ReceiptOut(BaseModel):
    entry_id: int
    status: str = Field(description="on_time | late (decided by the server's receipt time)")
    received_at: dt.datetime
    counts_as_teaching_hours: bool
    replayed: bool = Field(description="true when answered from an earlier request with the same Idempotency-Key")


class ReceiptLeaf(BaseModel):
    """The server's decision for one lesson, as sealed (a leaf of its batch's Merkle tree)."""
    format: str = Field(description="sohoa.receipt/1")
    entry_id: int
    status: str = Field(description="on_time | late, as the server's clock decided")
    received_at: str = Field(description="the server's receipt time, ISO 8601 with the +07:00 offset")
    content_hash: str = Field(description="SHA-256 (hex) of the entry's canonical bytes that were signed")
    signature_hash: str = Field(description="SHA-256 (hex) of the CMS signature received")
    signer_fingerprint: str = Field(description="SHA-256 (hex) of the signing certificate (DER)")


class ReceiptBatchOut(BaseModel):
    """The sealed batch's statement (the exact bytes in ``statement``) and its fields."""
    batch_id: int
    size: int
    root: str = Field(description="the Merkle tree's root (RFC 6962, SHA-256, hex)")
    previous: str = Field(description="SHA-256 (hex) of the previous batch's statement: the chain")
    sealed_at: str
    statement: str = Field(description="base64 of the canonical JSON the seal signs and the TSA timestamps")


class ReceiptProof(BaseModel):
    """Everything needed to prove, without the database, what the server decided for an entry:
    check it with ``core.logbook.receipts.verify_receipt`` and the trust anchors (docs/api.md)."""
    format: str = Field(description="sohoa.receipt-proof/1")
    leaf: ReceiptLeaf
    leaf_hash: str = Field(description="SHA-256(0x00 || canonical JSON of leaf), hex")
    leaf_index: int
    audit_path: list[str] = Field(description="the sibling hashes from the leaf up to the root (RFC 6962 §2.1.1)")
    batch: ReceiptBatchOut
    signature: str = Field(description="base64 of the service seal's detached CMS signature over the statement")
    timestamp: str | None = Field(description="base64 of the RFC 3161 timestamp token over the statement")
    seal_certificate: str | None = Field(description="base64 of the service seal's certificate (DER)")


class Hours(BaseModel):
    periods: int
    counted: int
    lost: int
    pending: int


class Health(BaseModel):
    status: str
    ready: bool = Field(description="the registered certificates' chains have been checked")
    certificates_checked: int


class SlotChangeIn(BaseModel):
    """One slot of next week's timetable: removed (``remove: true``), or given a subject and
    a teacher (``subject_id`` and ``teacher_id`` both required then)."""
    model_config = ConfigDict(extra="forbid")
    class_id: Id
    weekday: int = Field(ge=1, le=7, description="1 = Monday … 7 = Sunday")
    period_no: int = Field(ge=1, le=20)
    remove: bool = False
    subject_id: Id | None = None
    teacher_id: Id | None = None


class ChangeRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    school_id: Id
    changes: list[SlotChangeIn] = Field(min_length=1, max_length=50)
    reason: str = Field(default="", max_length=1000)


class ChangeRequestOut(BaseModel):
    request_id: int


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # no control characters: a NUL byte in a PKCS#12 password panics the key loader
    pin: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                     description="the PIN that opens my signing key held by the server (ký số từ xa)")


class EntryCounts(BaseModel):
    on_time: int
    late: int
    missed: int
    pending: int


class ClassWeek(BaseModel):
    class_id: int
    class_name: str
    grade: int
    homeroom_teacher: str | None
    week_id: int = Field(description="the id to close the week with")
    week_number: int
    monday: dt.date
    last_school_day: dt.date = Field(description="the class's last day with lessons that week")
    week_over: bool = Field(description="the last school day is past: the week can be signed")
    deadline: dt.datetime = Field(description="closed by then, the week counts as closed on time")
    status: str = Field(description="open | homeroom_signed | closed | reopened")
    summary_hash: str | None = Field(description="SHA-256 (hex) of the week summary the signatures cover")
    counts: EntryCounts = Field(description="the class's periods of the week by status")
    homeroom_signed_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_on_time: bool | None
    reopen_count: int
    your_step: str | None = Field(description="what I do next: homeroom_signature | close | null")


class PrepareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: str = Field(default="signed_attributes", pattern="^(signed_attributes|cms|remote_csc)$",
                      description="signed_attributes: my phone's key signs the signed attributes (recommended); "
                                  "cms: my app builds a whole detached CMS over the byte range; remote_csc: the "
                                  "department's remote signing service signs with my PIN and OTP at complete")
    certificate_fingerprint: str | None = Field(default=None, pattern="^[0-9a-f]{64}$",
                                                description="which of my registered certificates (default: the "
                                                            "latest valid one)")


class PreparedOut(BaseModel):
    signing_id: str = Field(description="send it back with complete")
    step: str = Field(description="homeroom | principal")
    mode: str
    expires_at: dt.datetime = Field(description="complete before then (server time, Vietnam)")
    certificate_fingerprint: str = Field(description="SHA-256 of the certificate the signature must be made with")
    signed_attributes_b64: str = Field(description="DER of the CMS signed attributes: sign these bytes with "
                                                   "SHA256withECDSA or SHA256withRSA (mode signed_attributes)")
    document_digest_b64: str = Field(description="SHA-256 of the PDF's byte range: the message-digest of a CMS "
                                                 "(mode cms)")
    hash_to_authorize: str = Field(description="base64 SHA-256 of the signed attributes: what a remote "
                                               "signing service's authorisation binds (mode remote_csc)")
    byte_range: list[int] = Field(description="the PDF's /ByteRange: offset, length, offset, length")
    document_url: str = Field(description="the prepared PDF, to show and to recompute the digest from")
    summary_b64: str = Field(description="the week summary: sign it as a detached CMS, as for a period")
    replayed: bool = Field(description="true when this Idempotency-Key had already prepared this signing")


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signing_id: str = Field(min_length=10, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    signature_b64: str | None = Field(default=None, max_length=2000,
                                      description="mode signed_attributes: the raw signature over the signed "
                                                  "attributes (ECDSA DER or RSA PKCS#1 v1.5)")
    cms_b64: str | None = Field(default=None, max_length=60_000, description="mode cms: the detached CMS")
    summary_signature_b64: str | None = Field(default=None, max_length=60_000,
                                              description="modes signed_attributes and cms: a detached CMS over "
                                                          "the week summary")
    pin: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                            description="mode remote_csc: my PIN at the remote signing service")
    otp: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[0-9A-Za-z]+$",
                            description="mode remote_csc: the one-time password")


class ClassWeekSigned(ClassWeek):
    replayed: bool = Field(description="true when this completion had already been done with the same answer")


ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 410, 413, 415, 422, 429, 503)}


SubjectId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a subject's id"), AsciiId]
YearId = Annotated[int, Field(ge=1, le=2**63 - 1, description="the school year's id")]


class SubjectResultsIn(BaseModel):
    """A subject teacher's results for their class (nhập điểm), replacing what was entered for
    these students; every value is checked before anything is stored (docs/rules.md)."""

    model_config = ConfigDict(extra="forbid")
    year_id: YearId
    results: dict[Id, dict] = Field(max_length=200, description=(
        "student id → the year's values: {'term1': {'regular': ['8', '7,5', …], 'mid': '7', 'final': '8.5'}, "
        "'term2': {…}} (scores on the 10-point scale, one decimal; a comment-only subject 'Đạt' / "
        "'Chưa đạt'; primary: TT27/2020 ratings)"))
    comments: dict[Id, str] = Field(default_factory=dict, max_length=200,
                                    description="student id → the subject teacher's comment")


class SubjectStudent(BaseModel):
    student_id: int
    full_name: str
    term1: dict | None
    term2: dict | None
    year_value: str | None = Field(description="the year's result computed by the rules (e.g. '7.8', 'Đạt')")
    comment: str | None


class SubjectSheet(BaseModel):
    class_id: int
    subject_id: int
    subject: str
    year_id: int
    confirmed_at: dt.datetime | None
    to_confirm: str | None = Field(description="base64 of the canonical bytes a confirmation signs (None: nothing "
                                               "entered yet)")
    students: list[SubjectStudent]
    missing: list[int] = Field(description="students with nothing entered yet")


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    year_id: YearId
    signature: str = Field(min_length=1, max_length=90_000,
                           description="base64 of a detached CMS (PKCS#7) signature over to_confirm")


class EvaluationsIn(BaseModel):
    """The homeroom teacher's evaluations (đánh giá của GVCN), checked whole before anything is
    stored: secondary ``{"conduct_term1": "Tốt", "conduct_term2": "Khá", "absent_sessions": 2,
    "comment": "..."}``; primary qualities, competences, comment, absences, nomination."""

    model_config = ConfigDict(extra="forbid")
    year_id: YearId
    evaluations: dict[Id, dict] = Field(max_length=200, description="student id → the evaluation")


class StudentStatus(BaseModel):
    student_id: int
    full_name: str
    evaluated: bool
    transcript_status: str | None = Field(description="draft | homeroom_signed | issued (None: not prepared)")
    verification_code: str | None


class ClassStatus(BaseModel):
    class_id: int
    class_name: str
    year_id: int
    unconfirmed_subjects: list[str] = Field(description="subjects whose teacher has not confirmed (blocking)")
    students: list[StudentStatus]


TranscriptId = Annotated[int, Path(ge=1, le=2**63 - 1, description="an issued transcript's id"), AsciiId]


class CredentialOut(BaseModel):
    credential: str = Field(description="the transcript's Verifiable Credential (W3C VC Data Model 2.0) secured as "
                                        "a JWS in compact serialization, sealed by the school (docs/transcript-data.md)")
    media_type: str = Field(description="application/vc+jwt")
    verification_code: str = Field(description="the transcript's verification code (madinhdanhhocba)")


class CredentialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credential: str = Field(min_length=1, max_length=60_000, description="a transcript credential (compact JWS)")


class SealCheck(BaseModel):
    indication: str = Field(description="PASSED | INDETERMINATE | FAILED (ETSI EN 319 102-1), under the trust policy")
    sub_indication: str | None
    signer_subject: str | None
    message: str


class CredentialCheckOut(BaseModel):
    valid: bool
    verdict: str = Field(description="valid | cancelled | altered | not_authorised | indeterminate | unknown | "
                                     "malformed")
    verdict_vi: str
    message: str
    code: str | None = Field(description="the transcript's verification code the credential names")
    school_code: str | None
    year: str | None
    status: str | None = Field(description="the transcript's status in the record (issued, cancelled)")
    seal: SealCheck
