"""The transcript's signing workflow (quy trình ký học bạ), in the right order by the right
people: every subject teacher has confirmed their results (:mod:`core.transcripts.gradebook`) →
the homeroom teacher prepares the drafts and signs (certifying the PDF) → the principal approves
and signs → the school's seal signs, which issues it. The principal may sign a class, a grade or
the whole school in one action. An issued transcript never changes: a wrong one is cancelled and
re-issued (:mod:`core.transcripts.rules.lifecycle`)."""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import canonical_json, sha256_hex
from core.kernel.errors import CertificateNotRegistered, NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import CertificateKind, Role, TranscriptStatus
from core.signatures.certificates import registered_certificate
from core.signatures.ltv import DocumentBatch, signer_certificates, tsa_url
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    Enrolment,
    School,
    SchoolClass,
    SchoolYear,
    Student,
    StudentEvaluation,
    Subject,
    SubjectResult,
    Transcript,
)
from core.transcripts.content import content_of, student_facts, transcript_content
from core.transcripts.delegations import signing_authority
from core.transcripts.facts import transcript_fact
from core.transcripts.gradebook import class_in_scope, missing_confirmations
from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD, SIGNATURE_FIELDS, render_transcript
from core.transcripts.rules.delegation import PRINCIPAL_LABEL, SigningAct, SigningAuthority
from core.transcripts.rules.lifecycle import is_final


def verify_url(code: str) -> str:
    """Where the QR code points: the public verification page (setting ``public_url``)."""
    from core.kernel import settings

    return f"{settings.current().effective_public_url}/verify?code={code}"


def class_status(db: Database, actor: Actor, class_id: int, year_id: int) -> dict:
    """Where the class's transcripts stand, for its homeroom teacher (or the school's
    principal): the subjects whose teacher has not confirmed yet (the blocking step), and for
    each student whether the homeroom evaluation is in and their live transcript's status and
    code."""
    with db.reading() as session:
        klass = class_in_scope(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id and not actor.may(Permission.ISSUE_TRANSCRIPT):
            raise PermissionDenied("the homeroom teacher or the principal sees the class's transcripts",
                                   message_vi="Chỉ giáo viên chủ nhiệm hoặc hiệu trưởng xem tình trạng học bạ của lớp")
        students = session.execute(select(Student.id, Student.full_name).join(
            Enrolment, Enrolment.student_id == Student.id).where(Enrolment.class_id == class_id)
            .order_by(Student.full_name, Student.id)).all()
        ids = [sid for sid, _ in students]
        evaluated = set(session.scalars(select(StudentEvaluation.student_id).where(
            StudentEvaluation.student_id.in_(ids), StudentEvaluation.school_year_id == year_id)))
        live = {t.student_id: t for t in session.scalars(select(Transcript).where(
            Transcript.student_id.in_(ids), Transcript.school_year_id == year_id,
            Transcript.status != TranscriptStatus.CANCELLED))}
        waiting = missing_confirmations(session, class_id, year_id)
    return {"class_id": class_id, "class_name": klass.name, "year_id": year_id, "unconfirmed_subjects": waiting,
            "students": [{"student_id": sid, "full_name": name, "evaluated": sid in evaluated,
                          "transcript_status": live[sid].status.value if sid in live else None,
                          "verification_code": live[sid].verification_code if sid in live else None}
                         for sid, name in students]}


def prepare_transcripts(db: Database, actor: Actor, class_id: int, year_id: int) -> list[int]:
    """Draft transcripts for every student of the class from the gradebook (homeroom teacher);
    students who already have a live transcript for the year are skipped."""
    with db.transaction() as session:
        klass = class_in_scope(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id and actor.role != Role.PRINCIPAL:
            raise PermissionDenied("the homeroom teacher prepares the class's transcripts")
        year = session.get(SchoolYear, year_id)
        school = session.get(School, klass.school_id)
        students = session.scalars(select(Student).join(SubjectResult, SubjectResult.student_id == Student.id)
                                   .where(SubjectResult.class_id == class_id, SubjectResult.school_year_id == year_id)
                                   .distinct().order_by(Student.id)).all()
        existing = set(session.scalars(select(Transcript.student_id).where(
            Transcript.student_id.in_([st.id for st in students]), Transcript.school_year_id == year_id,
            Transcript.status != TranscriptStatus.CANCELLED)))
        todo = [st for st in students if st.id not in existing]
        results: dict[int, list] = {}
        for subject, result in session.execute(
                select(Subject, SubjectResult).join(SubjectResult, SubjectResult.subject_id == Subject.id)
                .where(SubjectResult.student_id.in_([st.id for st in todo]), SubjectResult.school_year_id == year_id)
                .order_by(SubjectResult.student_id, Subject.code)):
            results.setdefault(result.student_id, []).append((subject, result))
        evaluations = {e.student_id: e for e in session.scalars(select(StudentEvaluation).where(
            StudentEvaluation.student_id.in_([st.id for st in todo]), StudentEvaluation.school_year_id == year_id))}
        codes = _new_codes(session, len(todo))
        facts = student_facts(session, [st.id for st in todo], year)
        rows = []
        for student, code in zip(todo, codes):
            content = content_of(school, klass, student, year, 1, results.get(student.id, []),
                                  evaluations.get(student.id), facts[student.id])
            rows.append(Transcript(student_id=student.id, school_id=klass.school_id, class_id=klass.id,
                                   school_year_id=year.id, version=1, status=TranscriptStatus.DRAFT,
                                   verification_code=code, content=content,
                                   content_hash=sha256_hex(canonical_json(content)), replaces_id=None))
        session.add_all(rows)
        session.flush()
        audit.record(session, actor, "transcript.prepare", "school_class", class_id, school_id=klass.school_id,
                     after={"drafts": len(rows)})
        return [r.id for r in rows]


def _new_transcript(session, klass, student, year, version, replaces_id) -> Transcript:
    content = transcript_content(session, klass, student, year, version)
    row = Transcript(student_id=student.id, school_id=klass.school_id, class_id=klass.id, school_year_id=year.id,
                     version=version, status=TranscriptStatus.DRAFT, verification_code=_new_codes(session, 1)[0],
                     content=content, content_hash=sha256_hex(canonical_json(content)), replaces_id=replaces_id)
    session.add(row)
    session.flush()
    return row


CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand


def _new_codes(session: Session, n: int) -> list[str]:
    """``n`` fresh verification codes: 10 characters of 32 (50 bits), unused so far."""
    codes: list[str] = []
    while len(codes) < n:
        batch = {"".join(secrets.choice(CODE_ALPHABET) for _ in range(10)) for _ in range(n - len(codes))}
        taken = set(session.scalars(select(Transcript.verification_code).where(
            Transcript.verification_code.in_(sorted(batch)))))
        codes += [c for c in sorted(batch) if c not in taken and c not in codes]
    return codes


def _transcript(session: Session, actor: Actor, transcript_id: int) -> Transcript:
    row = session.scalar(select(Transcript).where(Transcript.id == transcript_id).with_for_update())
    if row is None or not actor.sees_school(row.school_id):
        raise NotFound(f"no transcript {transcript_id}")
    return row


def homeroom_sign(db: Database, actor: Actor, transcript_id: int, signer, at: dt.datetime | None = None) -> None:
    """Step 2: the homeroom teacher signs (certifying the PDF), once every subject is confirmed."""
    with db.reading() as session:
        row = session.get(Transcript, transcript_id)
        if row is None or not actor.sees_school(row.school_id):
            raise NotFound(f"no transcript {transcript_id}")
        class_id, year_id = row.class_id, row.school_year_id
    result = homeroom_sign_class(db, actor, class_id, year_id, signer, only=[transcript_id], at=at)
    if result.not_signed:
        raise RuleViolation(f"transcript {transcript_id}: {result.not_signed[0][1]}")


def homeroom_sign_class(db: Database, actor: Actor, class_id: int, year_id: int, signer, *,
                        only: list[int] | None = None, at: dt.datetime | None = None,
                        progress: Callable[[int, int], None] | None = None) -> "BatchResult":
    """Step 2 for the homeroom teacher's whole class (or the transcripts in ``only``): each draft
    is rendered, given its three signature fields and signed (certifying, DocMDP level 2).
    Refused as a whole while a subject teacher has not confirmed (the previous step)."""
    at = at or clock.now()
    with db.reading() as session:
        klass = class_in_scope(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id:
            raise PermissionDenied("only the homeroom teacher signs at this step",
                                   message_vi="Chỉ giáo viên chủ nhiệm ký ở bước này")
        missing = missing_confirmations(session, class_id, year_id)
        if missing:
            raise RuleViolation("waiting for the subject teachers' confirmation: " + ", ".join(missing),
                                message_vi="Chưa đủ xác nhận của giáo viên bộ môn: " + ", ".join(missing))
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        query = select(Transcript.id).where(Transcript.class_id == class_id, Transcript.school_year_id == year_id,
                                            Transcript.status != TranscriptStatus.CANCELLED)
        if only is not None:
            query = query.where(Transcript.id.in_(only))
        todo = list(session.scalars(query.order_by(Transcript.id)))
    documents = DocumentBatch(tsa_url())  # B-T with a timestamp authority (docs/long-term-signatures.md)

    def sign(row: Transcript) -> str | None:
        if row.status != TranscriptStatus.DRAFT:
            return f"đã ở trạng thái {row.status.value}, không còn là bản nháp"
        pdf = render_transcript(row.content, row.verification_code, verify_url(row.verification_code))

        def signed(document: bytes, _valid_until) -> None:
            row.document = document
            row.status, row.homeroom_signed_by = TranscriptStatus.HOMEROOM_SIGNED, actor.staff_id

        documents.add(pdf, [(signer, HOMEROOM_FIELD, True, "Giáo viên chủ nhiệm ký học bạ", SIGNATURE_FIELDS, None)],
                      finish=False, then=signed)
        return None

    return _in_chunks(db, actor, todo, sign, "transcript.homeroom_sign", progress, documents)


@dataclass
class BatchResult:
    """What a batch signing signed and what it did not, with the reason."""

    signed: list[int] = field(default_factory=list)
    not_signed: list[tuple[int, str]] = field(default_factory=list)


#: Transcripts signed per transaction in a batch: a stopped batch loses at most the chunk in
#: flight (rolled back whole, signed again on the next run), never half of a transcript.
CHUNK = 25


def _in_chunks(db: Database, actor: Actor, todo: list[int], sign: Callable[[Transcript], str | None],
               action: str, progress: Callable[[int, int], None] | None,
               documents: DocumentBatch | None = None) -> BatchResult:
    """Run ``sign`` on each transcript of ``todo`` (locked), CHUNK per transaction, with one
    audit event per school and chunk naming every transcript signed in it — and, once they are
    issued, each one's fact (its signed PDF's SHA-256, school, signers: :mod:`core.transcripts.facts`).
    ``sign`` returns None when it signed, else why not; the PDFs it hands to ``documents`` are
    signed together at the end of the chunk (their timestamp requests in flight at once), in its
    transaction."""
    result = BatchResult()
    for start in range(0, len(todo), CHUNK):
        ids = todo[start:start + CHUNK]
        with db.transaction() as session:
            rows = session.scalars(select(Transcript).where(Transcript.id.in_(ids)).order_by(Transcript.id)
                                   .with_for_update()).all()
            signed: dict[int, list[Transcript]] = {}
            for n, row in enumerate(rows, start=start + 1):
                why = sign(row) if actor.sees_school(row.school_id) else "ngoài phạm vi của bạn"
                if why:
                    result.not_signed.append((row.id, why))
                else:
                    signed.setdefault(row.school_id, []).append(row)
                if progress:  # the work done so far; it is committed with the chunk
                    progress(n, len(todo))
            if documents is not None:
                documents.complete()
            for school_id, done in signed.items():
                after = {"status": done[0].status.value, "transcripts": len(done), "ids": [r.id for r in done],
                         "codes": [r.verification_code for r in done]}
                if is_final(done[0].status):
                    after["facts"] = [transcript_fact(r) for r in done]
                audit.record(session, actor, action, "transcript_batch", f"{done[0].id}-{done[-1].id}",
                             school_id=school_id, after=after)
                result.signed += [r.id for r in done]
    return result


def principal_sign_batch(db: Database, actor: Actor, school_id: int, signer, seal_signer, *,
                         class_id: int | None = None, grade: int | None = None,
                         progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Steps 3 and 4 in one action for a class, a grade or the whole school (Hà Nội pilot review, 2024: one action): the
    principal approves and signs, then the school's seal signs, which issues the transcript.
    Signed in chunks of :data:`CHUNK` transactions, so a stopped batch resumes where it stopped
    and issues nothing twice; the result lists what was signed and what was not and why.
    A vice-principal signs for the principal only under a written delegation valid now
    (:func:`for_the_principal`)."""
    at = clock.now()
    with db.reading() as session:
        authority = for_the_principal(session, actor, school_id, at)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        seal = session.scalar(select(Certificate).where(Certificate.fingerprint == seal_signer.fingerprint))
        if seal is None or seal.kind != CertificateKind.SEAL or seal.school_id != school_id:
            raise CertificateNotRegistered("the seal certificate is not this school's",
                                           message_vi="Chứng thư số con dấu không phải của trường này")
        query = (select(Transcript.id).join(SchoolClass, SchoolClass.id == Transcript.class_id)
                 .where(Transcript.school_id == school_id,
                        Transcript.status.in_([TranscriptStatus.DRAFT, TranscriptStatus.HOMEROOM_SIGNED])))
        if class_id is not None:
            query = query.where(Transcript.class_id == class_id)
        if grade is not None:
            query = query.where(SchoolClass.grade == grade)
        todo = list(session.scalars(query.order_by(Transcript.id)))
    documents = DocumentBatch(tsa_url())  # issued = B-LTA with a timestamp authority (docs/long-term-signatures.md)
    revoked_of: dict[int, set[str]] = {}
    approval = "Hiệu trưởng phê duyệt học bạ" if authority.capacity == "principal" else (
        f"KT. Hiệu trưởng, Phó hiệu trưởng phê duyệt học bạ (văn bản giao ký thay số "
        f"{authority.delegation.document_no} ngày {authority.delegation.signed_on:%d/%m/%Y})")

    def sign(row: Transcript) -> str | None:
        if row.status != TranscriptStatus.HOMEROOM_SIGNED:
            return ("chưa có chữ ký của giáo viên chủ nhiệm" if row.status == TranscriptStatus.DRAFT
                    else f"đã ở trạng thái {row.status.value}")
        why = _send_back_if_revoked(row, actor, revoked_of)
        if why:
            return why

        def issued(document: bytes, valid_until: dt.datetime | None) -> None:
            row.document, row.archive_valid_until, row.issued_length = document, valid_until, len(document)
            row.status, row.principal_signed_by, row.issued_at = TranscriptStatus.ISSUED, actor.staff_id, clock.now()

        documents.add(row.document, [(signer, PRINCIPAL_FIELD, False, approval, None, None),
                                     (seal_signer, SEAL_FIELD, False, "Xác nhận của nhà trường", None, None)],
                      finish=True, then=issued)
        return None

    return _in_chunks(db, actor, todo, sign, "transcript.issue", progress, documents)


def for_the_principal(session: Session, actor: Actor, school_id: int, at: dt.datetime) -> SigningAuthority:
    """Who may sign the principal's approval at ``school_id`` now: the principal in their own
    right (the permission to issue), or a vice-principal under a written delegation for
    transcripts valid at ``at`` (Nghị định 30/2020/NĐ-CP Art. 13,
    :mod:`core.transcripts.rules.delegation`); anyone else is refused, with the reason."""
    if actor.role != Role.VICE_PRINCIPAL:
        require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
        return SigningAuthority(True, "principal", PRINCIPAL_LABEL, None)
    require(actor, Permission.VIEW, school_id)
    found = signing_authority(session, school_id=school_id, signer_id=actor.staff_id, at=at,
                              act=SigningAct.TRANSCRIPT)
    if not found.allowed:
        raise PermissionDenied(found.reason, message_vi=found.reason_vi)
    return found


def _send_back_if_revoked(row: Transcript, actor: Actor, revoked_of: dict[int, set[str]]) -> str | None:
    """A homeroom signature whose certificate has been revoked since is not issued: the proof
    that it was made before the revocation would rest on its timestamp alone, which pyHanko
    0.38's long-term validation does not accept (REVOKED_NO_POE), so the transcript goes back
    to draft, to be signed again with a valid certificate (audited). ``revoked_of`` caches the
    revoked certificates' fingerprints of each homeroom teacher for the batch."""
    from sqlalchemy.orm import object_session

    session = object_session(row)
    staff_id = row.homeroom_signed_by
    if staff_id is None:
        return None
    if staff_id not in revoked_of:
        revoked_of[staff_id] = set(session.scalars(select(Certificate.fingerprint).where(
            Certificate.staff_id == staff_id, Certificate.revoked_at.is_not(None),
            Certificate.revoked_at <= clock.now())))
    if not revoked_of[staff_id] or row.document is None:
        return None
    used = {sha256_hex(der) for der in signer_certificates(row.document)}
    if not used & revoked_of[staff_id]:
        return None
    row.document, row.status, row.homeroom_signed_by = None, TranscriptStatus.DRAFT, None
    audit.record(session, actor, "transcript.send_back", "transcript", row.id, school_id=row.school_id,
                 before={"status": TranscriptStatus.HOMEROOM_SIGNED.value}, after={"status": "draft"},
                 reason="the homeroom teacher's certificate was revoked after signing")
    return ("chứng thư số của giáo viên chủ nhiệm đã bị thu hồi sau khi ký: học bạ được trả về bản nháp để "
            "giáo viên chủ nhiệm ký lại")


def cancel_and_reissue(db: Database, actor: Actor, transcript_id: int, reason: str) -> int:
    """Hủy và cấp lại: an issued transcript is cancelled with a reason (it stays, unchanged, for
    the record) and a new draft built from the corrected gradebook replaces it; the new one
    goes through the whole signing workflow again."""
    if not reason or not reason.strip():
        raise RuleViolation("a reason is required to cancel a transcript")
    with db.transaction() as session:
        row = _transcript(session, actor, transcript_id)
        require(actor, Permission.CANCEL_TRANSCRIPT, row.school_id)
        if row.status != TranscriptStatus.ISSUED:
            raise RuleViolation(f"only an issued transcript is cancelled (this one is {row.status.value})")
        row.status, row.cancelled_at, row.cancel_reason = TranscriptStatus.CANCELLED, clock.now(), reason.strip()
        session.flush()
        klass = session.get(SchoolClass, row.class_id)
        new = _new_transcript(session, klass, session.get(Student, row.student_id),
                              session.get(SchoolYear, row.school_year_id), row.version + 1, row.id)
        audit.record(session, actor, "transcript.cancel", "transcript", row.id, school_id=row.school_id,
                     before={"status": "issued"},
                     after={"status": "cancelled", "replaced_by": new.id, "fact": transcript_fact(row)},
                     reason=reason.strip())
        return new.id
