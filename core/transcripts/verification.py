"""Public verification of a transcript (tra cứu, xác thực học bạ): by its verification code or its
PDF, with no sign-in, answering what a stranger — a university, an employer, a court — needs to
trust the paper or file in hand:

- **what was issued** under the code: school, class, school year, the student's name partly
  masked, issue date, the SHA-256 fingerprint of the issued PDF (:mod:`.rules.public_view`);
- **its status now** — valid, cancelled (with the code of the transcript that replaced it, never
  the school's free-text reason), not issued — and, for an uploaded PDF, whether it **matches**
  what was issued: a file carrying a genuine code with other content is *not matching*;
- each signature's result in the ETSI EN 319 102-1 vocabulary, judged by the trust policy
  (:mod:`core.signatures.policy`): the homeroom teacher and the principal of record with
  their registered personal certificates, the school's own seal.

An issued document never changes (database triggers refuse it), so its verification — the
PDF's signatures validated by :func:`core.signatures.pades.verify_pdf` and judged by the policy —
is computed once, kept (``transcript_verification``, keyed by the transcript, checked against
the document's length and SHA-256 and the policy's key) and served from memory. What can change
is read at every check, never cached: the status and the replacement (so a cancellation shows
at once), the registry's revocation of each signer's certificate and the CA's CRL (a
certificate revoked with a date before its signature), and the cached result's horizon (the
earliest expiry among the signers' certificates).
"""
from __future__ import annotations

import base64
import collections
import datetime as dt
import functools
import hashlib
import re
import threading
from dataclasses import dataclass, field

from cryptography import x509
from sqlalchemy import DateTime, String, and_, bindparam, exists, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased

from core.kernel import clock
from core.kernel.errors import BadRequest
from core.kernel.vocabulary import TranscriptStatus
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, Verification, verify_detached
from core.signatures.delegations import check_for_the_principal
from core.signatures.ltv import revision_prefixes
from core.signatures.pades import verify_pdf
from core.signatures.policy import NOT_AUTHORISED, TrustPolicy, as_policy, check_person, refused
from core.signatures.reports import SignatureReport, VerificationReport
from core.signatures.rules.validity import revoked_by
from core.storage import statements
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    School,
    SchoolClass,
    SubjectConfirmation,
    Transcript,
    TranscriptVerification,
)
from core.transcripts.gradebook import confirmation_bytes
from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD
from core.transcripts.rules.public_view import masked_name, normal_code

#: The roles of a transcript's three signature fields, in signing order
ROLES = {HOMEROOM_FIELD: "homeroom", PRINCIPAL_FIELD: "principal", SEAL_FIELD: "seal"}
#: The largest PDF the public check reads (a transcript is ~70 kB; with long-term validation
#: data a few hundred): anything larger is refused before it is parsed
MAX_PDF_BYTES = 2 * 1024 * 1024
#: What a check concludes, as the plain Vietnamese word a checker reads
VERDICTS = {"valid": "Hợp lệ", "altered": "Không khớp", "unknown": "Không tìm thấy", "cancelled": "Đã hủy",
            "invalid": "Không hợp lệ", "not_issued": "Chưa cấp"}
_CODE_IN_PDF = re.compile(rb"/verify\?code=([A-HJ-NP-Z2-9]{10})(?![A-Za-z0-9])")


@dataclass(frozen=True)
class IssuedFacts:
    """What was issued under a code, to compare with the paper or file in hand."""

    code: str
    school: str
    class_name: str
    school_year: str
    student: str               # masked: "N***** V** A*"
    version: int
    issued_on: dt.date | None
    fingerprint: str           # SHA-256 (hex) of the issued PDF


@dataclass(frozen=True)
class TranscriptCheck:
    """What anyone holding a transcript or its code learns: the verdict (one of
    :data:`VERDICTS`), what was issued, its status, who signed in which role; no reason for a
    cancellation and nothing personal beyond the masked name."""

    found: bool
    current: bool
    status: str
    message: str
    report: VerificationReport | None = None
    replaced_by_code: str | None = None
    verdict: str = "unknown"
    facts: IssuedFacts | None = None
    cancelled_on: dt.date | None = None
    #: for an uploaded PDF: True when it is byte for byte the issued document, False when it
    #: carries a genuine code with other content, None when no issued transcript was found
    matches: bool | None = None

    @property
    def verdict_vi(self) -> str:
        return VERDICTS[self.verdict]


@dataclass
class _Issued:
    """An issued (or cancelled) transcript's unchanging part, as the cache holds it."""

    transcript_id: int
    facts: IssuedFacts
    document_length: int
    report: VerificationReport
    valid_until: dt.datetime | None
    #: (certificate DER, signing time) of each signer, for the revocation checks made at each request
    signers: list[tuple[bytes, dt.datetime | None]] = field(default_factory=list)
    fingerprints: list[tuple[str, dt.datetime]] = field(default_factory=list)


#: The signers whose registered certificates each check reads (a transcript has three)
_SIGNER_SLOTS = 4


@functools.cache
def _live_statement():
    """What may change about an issued transcript, read at every check (built once)."""
    newer = aliased(Transcript)
    revoked = or_(*(and_(Certificate.fingerprint == bindparam(f"f{n}", type_=String),
                         revoked_by(Certificate.revoked_at, bindparam(f"t{n}", type_=DateTime)))
                    for n in range(_SIGNER_SLOTS)))
    return select(
        Transcript.status, Transcript.cancelled_at, func.length(Transcript.document).label("length"),
        select(newer.verification_code).where(newer.replaces_id == Transcript.id)
        .order_by(newer.id.desc()).limit(1).scalar_subquery().label("replaced_by"),
        exists().where(revoked).label("revoked")).where(Transcript.id == bindparam("tid"))


def code_in_pdf(pdf: bytes) -> str | None:
    """The verification code a transcript PDF names in the link of its QR code, if any."""
    found = _CODE_IN_PDF.search(pdf)
    return found.group(1).decode() if found else None


# ---------------------------------------------------------------- judging the signatures
def _check_for_the_principal(session: Session, result: Verification, holder: int | None,
                             school_id: int) -> Verification:
    """The principal's approval: by the principal of record, or by a vice-principal under a
    written delegation for transcripts valid at the signature's time (ký thay, Nghị định
    30/2020/NĐ-CP Art. 13; :func:`core.signatures.delegations.check_for_the_principal`)."""
    return check_for_the_principal(session, result, holder, school_id, "transcript")


def judge_transcript(session: Session, policy: TrustPolicy, results: list[tuple[str, Verification]], *,
                     school_code: str, school_id: int | None, homeroom_id: int | None,
                     principal_id: int | None, target: str) -> VerificationReport:
    """A transcript's signatures under the trust policy: the homeroom teacher and the principal
    of record (``homeroom_id``, ``principal_id``) with their registered personal certificates
    at the school, and the seal of ``school_code``; each role exactly once, nothing else.

    For a school this system keeps no registry of (``school_id`` None: a transcript from
    another province in a transfer package) the people cannot be checked against a registry:
    their signatures count when their certificates are not registered here to someone else and
    the school's seal, bound to the school by its CA, covers them."""
    reports, seen = [], collections.Counter()
    seal_ok = True
    for field_name, result in results:
        role = ROLES.get(field_name, "unknown")
        seen[role] += 1
        if (role == "unknown" or seen[role] > 1) and result.valid:
            result = refused(result, (NOT_AUTHORISED, f"signature field {field_name!r} has no role on a transcript",
                                      f"Chữ ký ở ô {field_name!r} không thuộc vai trò nào của học bạ"))
        elif role == "unknown" or seen[role] > 1:
            pass
        elif role == "seal":
            result = policy.check_seal(session, result, unit_code=school_code)
            seal_ok = result.valid
        elif school_id is not None and role == "principal":
            result = _check_for_the_principal(session, result, principal_id, school_id)
        elif school_id is not None:
            result = check_person(session, result, role, holder_staff_id=homeroom_id, school_id=school_id)
        else:
            result = _vouched_by_seal(session, result, role, school_code)
        reports.append(SignatureReport(role, result))
    for role in ("homeroom", "principal", "seal"):
        if not seen[role]:
            reports.append(SignatureReport(role, Verification(
                FAILED, "SIGNED_DATA_NOT_FOUND", None, None, None, f"the {role}'s signature is missing",
                message_vi="Thiếu chữ ký bắt buộc của học bạ")))
    if school_id is None and not seal_ok:  # nothing vouches for the people
        reports = [r if r.role == "seal" or not r.verification.valid else SignatureReport(r.role, refused(
            r.verification, (NOT_AUTHORISED, "no valid seal of the school vouches for this signer",
                             "Không có con dấu hợp lệ của trường bảo đảm cho người ký này"))) for r in reports]
    return VerificationReport(target, reports)


def _vouched_by_seal(session: Session, result: Verification, role: str, school_code: str) -> Verification:
    if not result.valid:
        return result
    row = session.execute(select(Certificate.kind, School.code).join(School, School.id == Certificate.school_id)
                          .where(Certificate.fingerprint == result.signer_fingerprint)).first()
    if row is not None and (row.kind.value != "personal" or row.code != school_code):
        return refused(result, (NOT_AUTHORISED, f"the signer's certificate is registered to another unit ({row.code})",
                                f"Chứng thư số của người ký đã đăng ký cho đơn vị khác ({row.code})"))
    return Verification(result.indication, result.sub_indication, result.signer_fingerprint, result.signer_subject,
                        result.signing_time, f"valid; the {role} of {school_code} is vouched for by the school's seal",
                        result.certificate, f"hợp lệ; người ký được con dấu của trường {school_code} bảo đảm")


# ---------------------------------------------------------------- the cache
class VerificationCache:
    """Issued transcripts' verifications, computed once (:func:`verify_pdf` and the trust
    policy) and kept in the record store and in memory; a check then costs one indexed read
    of what may change (status, replacement, revocations). One per process, shared by its
    threads; ``size`` entries in memory, the least recently used go first."""

    def __init__(self, db: Database, trust, *, size: int = 200_000, cold_limit: int = 2):
        self.db, self.policy, self.size = db, as_policy(trust), size
        self._entries: collections.OrderedDict[str, _Issued] = collections.OrderedDict()
        self._lock = threading.Lock()
        #: verifications of a PDF (pyHanko) run at once: a flood of uploads queues, the rest of
        #: the server keeps answering
        self._cold = threading.BoundedSemaphore(cold_limit)
        self._quick = db.autocommit_reader()
        self.computed = 0

    # -- the unchanging part
    def issued(self, code: str, *, session: Session | None = None) -> _Issued | None:
        """The issued transcript of ``code`` (from memory, the record store, or computed), or
        None when no issued or cancelled transcript has this code."""
        with self._lock:
            entry = self._entries.get(code)
            if entry is not None:
                self._entries.move_to_end(code)
                return entry
        if session is None:
            with self.db.reading() as session:
                return self.issued(code, session=session)
        entry = self._load(session, code)
        if entry is not None:
            with self._lock:
                self._entries[code] = entry
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return entry

    def cached(self, code: str) -> bool:
        """The code's verification is in memory: a check costs one indexed read."""
        return code in self._entries

    def matches_cached(self, pdf: bytes, sha256: str) -> bool:
        """``pdf`` is, byte for byte, an issued document whose verification is in memory."""
        code = code_in_pdf(pdf)
        entry = self._entries.get(code) if code else None
        return entry is not None and entry.facts.fingerprint == sha256

    def forget(self, code: str) -> None:
        with self._lock:
            self._entries.pop(code, None)

    def _load(self, session: Session, code: str) -> _Issued | None:
        row = session.execute(select(Transcript.id, Transcript.status, Transcript.content, Transcript.issued_at,
                                     Transcript.school_id, Transcript.homeroom_signed_by,
                                     Transcript.principal_signed_by, School.code.label("school_code"),
                                     func.length(Transcript.document).label("length"))
                              .join(School, School.id == Transcript.school_id)
                              .where(Transcript.verification_code == code)).first()
        if row is None or row.status not in (TranscriptStatus.ISSUED, TranscriptStatus.CANCELLED) or not row.length:
            return None
        kept = session.get(TranscriptVerification, row.id)
        now = clock.now()
        if (kept is None or kept.policy_key != self.policy.key or kept.document_length != row.length
                or (kept.valid_until is not None and kept.valid_until < now)):
            kept = self._compute(session, row)
        return self._entry(row, kept, code)

    def _compute(self, session: Session, row) -> TranscriptVerification:
        document = session.scalar(select(Transcript.document).where(Transcript.id == row.id))
        with self._cold:
            results = verify_pdf(document, self.policy.trust)
        report = judge_transcript(session, self.policy, results, school_code=row.school_code,
                                  school_id=row.school_id, homeroom_id=row.homeroom_signed_by,
                                  principal_id=row.principal_signed_by, target=f"transcript {row.id}")
        expiries = [x509.load_der_x509_certificate(s.verification.certificate).not_valid_after_utc
                    for s in report.signatures if s.verification.certificate]
        kept = TranscriptVerification(
            transcript_id=row.id, policy_key=self.policy.key, document_sha256=hashlib.sha256(document).hexdigest(),
            document_length=len(document), signatures=[_dump(s) for s in report.signatures],
            computed_at=clock.now(), valid_until=clock.from_utc(min(expiries)) if expiries else None)
        self.computed += 1
        try:  # kept for every process and restart; a concurrent first check may have kept it already
            with self.db.transaction() as writer:
                writer.merge(kept)
        except IntegrityError:
            pass
        return kept

    def _an_issued_revision(self, entry: _Issued, sha256: str) -> bool:
        """Whether ``sha256`` is the document as it stood after one of its revisions since issuance:
        a copy downloaded before a renewal appended its archive timestamp (PAdES B-LTA) is the
        same transcript, every byte issued unchanged."""
        with self.db.reading() as session:
            document, issued = session.execute(select(Transcript.document, Transcript.issued_length)
                                               .where(Transcript.id == entry.transcript_id)).one()
        return any(hashlib.sha256(prefix).hexdigest() == sha256 for prefix in revision_prefixes(document or b"")
                   if len(prefix) >= (issued or 0))

    def _entry(self, row, kept: TranscriptVerification, code: str) -> _Issued:
        content = row.content
        report = VerificationReport(f"transcript {code}", [_load(s) for s in kept.signatures])
        signers = [(s.verification.certificate, s.verification.signing_time) for s in report.signatures
                   if s.verification.certificate]
        fingerprints = [(s.verification.signer_fingerprint, s.verification.signing_time)
                        for s in report.signatures if s.verification.signer_fingerprint and s.verification.signing_time]
        facts = IssuedFacts(
            code=code, school=content.get("school", ""), class_name=content.get("class", ""),
            school_year=content.get("year", ""), student=masked_name(content.get("student", {}).get("full_name", "")),
            version=int(content.get("version", 1)), issued_on=row.issued_at.date() if row.issued_at else None,
            fingerprint=kept.document_sha256)
        return _Issued(row.id, facts, kept.document_length, report, kept.valid_until, signers, fingerprints)

    # -- what may change, read at every check
    def check(self, code: str, *, upload_sha256: str | None = None, _again: bool = True) -> TranscriptCheck:
        """The public answer for ``code`` now (for an uploaded file, pass its SHA-256)."""
        entry = self.issued(code)
        if entry is None:
            with self.db.reading() as session:
                status = session.scalar(select(Transcript.status).where(Transcript.verification_code == code))
            if status is None:
                return TranscriptCheck(False, False, "unknown", "Không tìm thấy học bạ với mã này")
            return TranscriptCheck(True, False, status.value, "Học bạ với mã này chưa được cấp",
                                   verdict="not_issued")
        live = self._live(entry)
        if live.length != entry.document_length and _again:  # the document grew (archive timestamps): redo
            self.forget(code)
            return self.check(code, upload_sha256=upload_sha256, _again=False)
        facts = entry.facts
        report = self._revocation_now(entry, live.revoked)
        matches = None if upload_sha256 is None else (upload_sha256 == entry.facts.fingerprint
                                                      or self._an_issued_revision(entry, upload_sha256))
        cancelled_on = live.cancelled_at.date() if live.cancelled_at else None
        if matches is False:
            return TranscriptCheck(True, False, live.status.value,
                                   f"Không khớp: mã {code} có thật nhưng tệp này khác với học bạ đã cấp theo mã này "
                                   "(tệp đã bị sửa đổi hoặc là bản giả)", report, live.replaced_by, "altered", facts,
                                   cancelled_on, False)
        if live.status == TranscriptStatus.CANCELLED:
            replaced = f"; đã được thay thế bằng học bạ mã {live.replaced_by}" if live.replaced_by else ""
            return TranscriptCheck(True, False, "cancelled", f"Học bạ đã bị hủy ngày {cancelled_on:%d/%m/%Y}{replaced}",
                                   report, live.replaced_by, "cancelled", facts, cancelled_on, matches)
        if not report.valid:
            return TranscriptCheck(True, False, "issued", "Chữ ký của học bạ không hợp lệ", report, None, "invalid",
                                   facts, None, matches)
        return TranscriptCheck(True, True, "issued", "Học bạ hợp lệ, đang có hiệu lực", report, None, "valid",
                               facts, None, matches)

    def _live(self, entry: _Issued, *, again: bool = True):
        """Status, replacement, current length and whether a signer's registered certificate
        was revoked before their signature: one indexed read, a statement prepared once, one
        round trip (:meth:`Database.autocommit_reader`)."""
        params = {"tid": entry.transcript_id}
        for n in range(_SIGNER_SLOTS):
            fingerprint, at = entry.fingerprints[n] if n < len(entry.fingerprints) else (None, None)
            params[f"f{n}"], params[f"t{n}"] = fingerprint, at
        try:
            with (self._quick() if self._quick is not None else self.db.reading()) as session:
                return statements.rows(session, _live_statement(), params)[0]
        except DBAPIError as err:
            if again and err.connection_invalidated:  # the connection was lost since its last use
                return self._live(entry, again=False)
            raise

    def _revocation_now(self, entry: _Issued, registry_revoked: bool) -> VerificationReport:
        """The cached report with the revocations known now: the registry's (a certificate
        revoked there at or before its signature) and each CA's own (its CRL, when the trust
        store checks revocation)."""
        if not entry.report.valid:
            return entry.report
        trust = self.policy.trust
        out = []
        for s in entry.report.signatures:
            v = s.verification
            problem = None
            if v.certificate is not None and v.signing_time is not None:
                if registry_revoked:
                    with self.db.reading() as session:
                        revoked_at = session.scalar(select(Certificate.revoked_at).where(
                            Certificate.fingerprint == v.signer_fingerprint))
                    if revoked_by(revoked_at, v.signing_time):
                        problem = ("REVOKED", f"the certificate was revoked on {revoked_at:%d/%m/%Y}, before signing",
                                   f"Chứng thư số đã bị thu hồi ngày {revoked_at:%d/%m/%Y}, trước khi ký")
                checker = trust.revocation_for(trust.chain(v.certificate)) if problem is None else None
                if checker is not None:
                    try:
                        answer = checker(x509.load_der_x509_certificate(v.certificate), v.signing_time)
                    except Exception as err:  # noqa: BLE001 - no status is "try later", never "valid"
                        answer = ("TRY_LATER", f"revocation status unavailable ({type(err).__name__})")
                    if answer is not None:
                        problem = (answer[0], answer[1], "Chứng thư số đã bị thu hồi trước khi ký"
                                   if answer[0] == "REVOKED" else "Chưa kiểm tra được tình trạng thu hồi, thử lại sau")
            if problem is not None:
                v = Verification(FAILED if problem[0] == "REVOKED" else INDETERMINATE, problem[0],
                                 v.signer_fingerprint, v.signer_subject, v.signing_time, problem[1], v.certificate,
                                 problem[2])
            out.append(SignatureReport(s.role, v))
        return VerificationReport(entry.report.target, out)

    # -- an uploaded file
    def check_pdf(self, pdf: bytes) -> TranscriptCheck:
        """The public answer for an uploaded PDF: byte for byte the issued document of the code
        it names (or of its fingerprint), with that code's answer; a genuine code with other
        content is *not matching*; anything else is *not found*, with its own signatures
        reported (none counts: there is no issued record to hold them to)."""
        if len(pdf) > MAX_PDF_BYTES:
            raise BadRequest(f"the file is larger than {MAX_PDF_BYTES // (1024 * 1024)} MB; a transcript is smaller",
                             message_vi=f"Tệp lớn hơn {MAX_PDF_BYTES // (1024 * 1024)} MB, không phải một học bạ; "
                                        "hãy tải lên tệp PDF học bạ")
        if not pdf.startswith(b"%PDF-"):
            raise BadRequest("the file is not a PDF", message_vi="Tệp tải lên không phải là tệp PDF học bạ")
        digest = hashlib.sha256(pdf).hexdigest()
        code = code_in_pdf(pdf)
        if code is None:
            with self.db.reading() as session:
                code = session.scalar(select(Transcript.verification_code)
                                      .join(TranscriptVerification,
                                            TranscriptVerification.transcript_id == Transcript.id)
                                      .where(TranscriptVerification.document_sha256 == digest).limit(1))
        answer = self.check(code, upload_sha256=digest) if code else None
        if answer is not None and answer.matches:
            return answer
        with self._cold:  # not the issued document: its own signatures, judged against nothing
            results = verify_pdf(pdf, self.policy.trust)
        nothing = (NOT_AUTHORISED, "no issued transcript holds this document", "Không có học bạ đã cấp nào là tệp này")
        report = VerificationReport("uploaded document", [
            SignatureReport(ROLES.get(f, "unknown"), refused(r, nothing) if r.valid else r) for f, r in results])
        if answer is not None and answer.found and answer.facts is not None:
            return TranscriptCheck(True, False, answer.status, answer.message, report, answer.replaced_by_code,
                                   "altered", answer.facts, answer.cancelled_on, False)
        return TranscriptCheck(False, False, "unknown", "Không tìm thấy học bạ này trong hệ thống (tài liệu đã bị "
                               "thay đổi hoặc không do hệ thống cấp)", report)


def _dump(s: SignatureReport) -> dict:
    v = s.verification
    return {"role": s.role, "indication": v.indication, "sub_indication": v.sub_indication,
            "fingerprint": v.signer_fingerprint, "subject": v.signer_subject,
            "signing_time": v.signing_time.isoformat() if v.signing_time else None, "message": v.message,
            "message_vi": v.message_vi,
            "certificate": base64.b64encode(v.certificate).decode() if v.certificate else None}


def _load(d: dict) -> SignatureReport:
    return SignatureReport(d["role"], Verification(
        d["indication"], d["sub_indication"], d["fingerprint"], d["subject"],
        dt.datetime.fromisoformat(d["signing_time"]) if d["signing_time"] else None, d["message"],
        base64.b64decode(d["certificate"]) if d["certificate"] else None, d["message_vi"]))


def verify_confirmations(db: Database, trust, class_id: int, year_id: int) -> VerificationReport:
    """The subject teachers' signed confirmations of a class's results (xác nhận điểm, the first
    signatures of a transcript's workflow): each one's CMS over the results as they stand,
    judged at its confirmation time, held to the trust policy's rule for the subject teacher of
    the class — a personal certificate of the teacher assigned to that class and subject on
    that day, at the class's school. A confirmation whose results changed since fails."""
    policy = as_policy(trust)
    reports = []
    with db.reading() as session:
        school_id = session.scalar(select(SchoolClass.school_id).where(SchoolClass.id == class_id))
        for c in session.scalars(select(SubjectConfirmation).where(
                SubjectConfirmation.class_id == class_id, SubjectConfirmation.school_year_id == year_id)
                .order_by(SubjectConfirmation.subject_id)):
            data = confirmation_bytes(session, class_id, c.subject_id, year_id) or b""
            result = verify_detached(data, c.signature, policy.trust, at=c.confirmed_at)
            result = check_person(session, result, "subject_teacher", holder_staff_id=c.teacher_id,
                                  school_id=school_id, class_id=class_id, subject_id=c.subject_id)
            reports.append(SignatureReport("subject_teacher", result))
    return VerificationReport(f"confirmations of class {class_id}", reports)


def prime(db: Database, trust, *, limit: int | None = None, progress=None) -> int:
    """Compute and keep the verification of every issued or cancelled transcript that has none
    under the current policy (after a batch of issues, or when the trust anchors change), so
    that the first public check of each is as fast as the rest. Returns how many were computed."""
    cache = VerificationCache(db, trust, size=1)
    policy = cache.policy
    with db.reading() as session:
        codes = list(session.scalars(
            select(Transcript.verification_code)
            .outerjoin(TranscriptVerification, TranscriptVerification.transcript_id == Transcript.id)
            .where(Transcript.status.in_([TranscriptStatus.ISSUED, TranscriptStatus.CANCELLED]),
                   or_(TranscriptVerification.transcript_id.is_(None),
                       TranscriptVerification.policy_key != policy.key))
            .order_by(Transcript.id).limit(limit)))
    for n, code in enumerate(codes, 1):
        cache.issued(code)
        cache.forget(code)
        if progress:
            progress(n, len(codes))
    return cache.computed


def verify_transcript(db: Database, trust, *, code: str | None = None, pdf: bytes | None = None,
                      cache: VerificationCache | None = None) -> TranscriptCheck:
    """Check a transcript by its verification code or its PDF (no sign-in); ``cache`` is the
    process's :class:`VerificationCache` (a fresh one otherwise: the kept verifications still serve)."""
    cache = cache or VerificationCache(db, trust, size=64)
    if pdf is not None:
        return cache.check_pdf(pdf)
    normal = normal_code(code)
    if normal is None:
        return TranscriptCheck(False, False, "unknown", "Mã xác thực không hợp lệ: mã gồm 10 chữ cái và chữ số "
                                                        "in dưới mã QR của học bạ")
    return cache.check(normal)


__all__ = ["IssuedFacts", "MAX_PDF_BYTES", "PASSED", "TranscriptCheck", "VERDICTS", "VerificationCache",
           "code_in_pdf", "judge_transcript", "prime", "verify_confirmations", "verify_transcript"]
