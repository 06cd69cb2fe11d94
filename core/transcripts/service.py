"""Học bạ số: the gradebook, the transcript record and document, its signing workflow in the
right order by the right people, issuance, cancel and re-issue, online verification and the
issuance figures (regulations.md sections 1-3).

Workflow (regulations.md 3.4, seed 002): every subject teacher confirms their subject's
results for the class (a signature over those results) → the homeroom teacher signs the
transcript (certifying the PDF) → the principal approves and signs → the school's seal
certificate signs, which issues it. The principal may sign a class, a grade or the whole
school in one action (seed 001).
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
from sqlalchemy import and_, case, func, select, true
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import canonical_json, sha256_hex
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import CertificateKind, Role, SchoolLevel, StaffRole, TranscriptStatus
from core.logbook.entries import registered_certificate
from core.logbook.verification import SignatureReport, VerificationReport, _authorised
from core.school.rules.curriculum import CURRICULUM, level_of_grade
from core.signatures.pades import sign_pdf, verify_pdf
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    CurriculumLoad,
    District,
    ReceivedTranscript,
    School,
    SchoolClass,
    SchoolYear,
    Staff,
    StaffAssignment,
    Student,
    StudentEvaluation,
    StudentRemark,
    Subject,
    SubjectConfirmation,
    SubjectResult,
    TeachingAssignment,
    Transcript,
    UserAccount,
)
from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD, SIGNATURE_FIELDS, render_transcript
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27

LEVEL_NAMES = {SchoolLevel.PRIMARY: "Tiểu học", SchoolLevel.LOWER_SECONDARY: "Trung học cơ sở",
               SchoolLevel.UPPER_SECONDARY: "Trung học phổ thông"}
LEVELS_VI = {level.value: level for level in tt22.Level}
#: Subjects appear on the transcript in the curriculum's (the Ministry's form's) order.
_MINISTRY_ORDER = {spec.code: i for i, spec in enumerate(CURRICULUM)}


def verify_url(code: str) -> str:
    """Where the QR code points: the public verification page (``SOHOA_PUBLIC_URL``)."""
    base = os.environ.get("SOHOA_PUBLIC_URL", "http://127.0.0.1:5006")
    return f"{base.rstrip('/')}/verify?code={code}"


# ---------------------------------------------------------------- gradebook
def _class(session: Session, actor: Actor, class_id: int) -> SchoolClass:
    klass = session.get(SchoolClass, class_id)
    if klass is None or not actor.sees_school(klass.school_id):
        raise NotFound(f"no class {class_id}")
    return klass


def _subject_value(grade: int, subject: Subject, periods: int, data: dict) -> str:
    """The year result of one subject for one student, by the rules of the level."""
    if level_of_grade(grade) == SchoolLevel.PRIMARY:
        rating = tt27.SubjectRating(data["rating"])
        if data.get("test") is not None:
            tt27.validate_test_score(data["test"])
        return rating.value
    if subject.comment_only:
        t2 = tt22.comment_subject_term(data["term2"], required=len(data["term2"]))
        return "Đạt" if tt22.comment_subject_year(t2) else "Chưa đạt"
    needed = tt22.regular_assessments_per_term(periods)
    averages = []
    for term in ("term1", "term2"):
        scores = data[term]
        if len(scores["regular"]) != needed:
            raise RuleViolation(f"{subject.name}: {needed} regular assessments are required per term "
                                f"({periods} periods a year), got {len(scores['regular'])}")
        averages.append(tt22.term_average(scores["regular"], scores["mid"], scores["final"]))
    return str(tt22.year_average(*averages))


def enter_subject_results(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int,
                          results: dict[int, dict], comments: dict[int, str] | None = None) -> int:
    """A subject teacher enters their subject's results for a class (until they confirm them).
    Secondary scored: ``{"term1": {"regular": [...], "mid": x, "final": y}, "term2": {...}}``;
    secondary comment-only: ``{"term1": [True, ...], "term2": [...]}``; primary:
    ``{"rating": "T"|"H"|"C", "test": 0..10 or None}``."""
    with db.transaction() as session:
        klass = _class(session, actor, class_id)
        require(actor, Permission.EDIT_ENTRY, klass.school_id)
        teaches = session.scalar(select(TeachingAssignment.id).where(
            TeachingAssignment.class_id == class_id, TeachingAssignment.subject_id == subject_id,
            TeachingAssignment.teacher_id == actor.staff_id, TeachingAssignment.valid_to.is_(None)))
        if not teaches:
            raise PermissionDenied("only the class's teacher of this subject enters its results",
                                   message_vi="Chỉ giáo viên dạy môn này ở lớp được nhập điểm")
        if session.scalar(select(SubjectConfirmation.id).where(
                SubjectConfirmation.class_id == class_id, SubjectConfirmation.subject_id == subject_id,
                SubjectConfirmation.school_year_id == year_id)):
            raise RuleViolation("the results were confirmed and signed; they can no longer change")
        subject = session.get(Subject, subject_id)
        periods = session.scalar(select(CurriculumLoad.periods_per_year).where(
            CurriculumLoad.subject_id == subject_id, CurriculumLoad.grade == klass.grade)) or 35
        for student_id, data in results.items():
            value = _subject_value(klass.grade, subject, periods, data)
            row = session.scalar(select(SubjectResult).where(
                SubjectResult.student_id == student_id, SubjectResult.subject_id == subject_id,
                SubjectResult.school_year_id == year_id))
            if row is None:
                row = SubjectResult(student_id=student_id, class_id=class_id, subject_id=subject_id,
                                    school_year_id=year_id)
                session.add(row)
            row.term1, row.term2 = _jsonable(data.get("term1")), _jsonable(data.get("term2") or data)
            row.year_value, row.entered_by = value, actor.staff_id
            row.comment = (comments or {}).get(student_id, row.comment)
        audit.record(session, actor, "gradebook.enter", "subject_result", f"{class_id}/{subject_id}",
                     school_id=klass.school_id, after={"students": len(results)})
        return len(results)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Decimal | float) else value


def enter_evaluation(db: Database, actor: Actor, class_id: int, year_id: int, evaluations: dict[int, dict]) -> None:
    """The homeroom teacher's part: conduct per term, qualities and competences, comment,
    absences (sessions), nomination."""
    with db.transaction() as session:
        klass = _class(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id:
            raise PermissionDenied("only the homeroom teacher enters conduct, qualities and comments",
                                   message_vi="Chỉ giáo viên chủ nhiệm được nhập đánh giá này")
        for student_id, data in evaluations.items():
            row = session.scalar(select(StudentEvaluation).where(
                StudentEvaluation.student_id == student_id, StudentEvaluation.school_year_id == year_id))
            if row is None:
                row = StudentEvaluation(student_id=student_id, class_id=class_id, school_year_id=year_id,
                                        absent_sessions=0, nominated=False)
                session.add(row)
            for key in ("conduct_term1", "conduct_term2"):
                if data.get(key) is not None and data[key] not in LEVELS_VI:
                    raise RuleViolation(f"conduct must be one of {', '.join(LEVELS_VI)}")
            for key, value in data.items():
                setattr(row, key, value)
            row.entered_by = actor.staff_id
        audit.record(session, actor, "gradebook.evaluate", "student_evaluation", class_id, school_id=klass.school_id,
                     after={"students": len(evaluations)})


def draft_comments(db: Database, actor: Actor, class_id: int, year_id: int, term: int) -> dict[int, str]:
    """The logbook's remarks on each student for the term, gathered for the homeroom
    teacher's draft comments (seed 000: remarks flow into the transcript)."""
    with db.reading() as session:
        klass = _class(session, actor, class_id)
        require(actor, Permission.EDIT_ENTRY, klass.school_id)
        rows = session.execute(select(StudentRemark.student_id, StudentRemark.text).where(
            StudentRemark.school_year_id == year_id, StudentRemark.term == term,
            StudentRemark.student_id.in_(select(Student.id))).order_by(StudentRemark.id)).all()
        drafts: dict[int, list[str]] = {}
        for student_id, text in rows:
            drafts.setdefault(student_id, []).append(text)
        return {s: "; ".join(dict.fromkeys(texts)) for s, texts in drafts.items()}


def confirm_subject(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int, signer,
                    at: dt.datetime | None = None) -> None:
    """The subject teacher signs their confirmation of the class's results (xác nhận điểm)."""
    at = at or clock.now()
    with db.transaction() as session:
        klass = _class(session, actor, class_id)
        teaches = session.scalar(select(TeachingAssignment.id).where(
            TeachingAssignment.class_id == class_id, TeachingAssignment.subject_id == subject_id,
            TeachingAssignment.teacher_id == actor.staff_id))
        if not teaches:
            raise PermissionDenied("only the class's teacher of this subject confirms its results")
        if session.scalar(select(SubjectConfirmation.id).where(
                SubjectConfirmation.class_id == class_id, SubjectConfirmation.subject_id == subject_id,
                SubjectConfirmation.school_year_id == year_id)):
            raise RuleViolation("these results are already confirmed", message_vi="Điểm môn này đã được xác nhận")
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        results = session.execute(select(SubjectResult.student_id, SubjectResult.year_value).where(
            SubjectResult.class_id == class_id, SubjectResult.subject_id == subject_id,
            SubjectResult.school_year_id == year_id).order_by(SubjectResult.student_id)).all()
        if not results:
            raise RuleViolation("there are no results to confirm")
        data = canonical_json({"class": class_id, "subject": subject_id, "year": year_id,
                               "results": [[s, v] for s, v in results]})
        session.add(SubjectConfirmation(class_id=class_id, subject_id=subject_id, school_year_id=year_id,
                                        teacher_id=actor.staff_id, confirmed_at=at, results_hash=sha256_hex(data),
                                        signature=signer.sign_detached(data, at)))
        audit.record(session, actor, "gradebook.confirm", "subject_confirmation", f"{class_id}/{subject_id}",
                     school_id=klass.school_id, after={"students": len(results)})


def missing_confirmations(session: Session, class_id: int, year_id: int) -> list[str]:
    """Subjects of the class whose teacher has not confirmed (the blocking step)."""
    taught = session.execute(select(Subject.id, Subject.name, Staff.full_name)
                             .join(TeachingAssignment, TeachingAssignment.subject_id == Subject.id)
                             .join(Staff, Staff.id == TeachingAssignment.teacher_id)
                             .where(TeachingAssignment.class_id == class_id)).all()
    done = set(session.scalars(select(SubjectConfirmation.subject_id).where(
        SubjectConfirmation.class_id == class_id, SubjectConfirmation.school_year_id == year_id)))
    return [f"{name} ({teacher})" for sid, name, teacher in taught if sid not in done]


# ---------------------------------------------------------------- the transcript
def _content(session: Session, klass: SchoolClass, student: Student, year: SchoolYear, version: int) -> dict:
    """The transcript's content for one student, read from the gradebook."""
    rows = session.execute(select(Subject, SubjectResult).join(SubjectResult, SubjectResult.subject_id == Subject.id)
                           .where(SubjectResult.student_id == student.id,
                                  SubjectResult.school_year_id == year.id).order_by(Subject.code)).all()
    evaluation = session.scalar(select(StudentEvaluation).where(
        StudentEvaluation.student_id == student.id, StudentEvaluation.school_year_id == year.id))
    return _content_of(session.get(School, klass.school_id), klass, student, year, version, rows, evaluation)


def _content_of(school: School, klass: SchoolClass, student: Student, year: SchoolYear, version: int,
                rows: list, evaluation: StudentEvaluation | None) -> dict:
    """The transcript's content from one student's (subject, result) rows and evaluation, with
    every computed result by the level's rules (TT27 for primary, TT22 for secondary)."""
    level = level_of_grade(klass.grade)
    subjects = []
    for subject, result in sorted(rows, key=lambda r: _MINISTRY_ORDER.get(r[0].code, len(_MINISTRY_ORDER))):
        term1 = term2 = ""
        if level != SchoolLevel.PRIMARY and not subject.comment_only and result.term1:
            term1 = str(tt22.term_average(result.term1["regular"], result.term1["mid"], result.term1["final"]))
            term2 = str(tt22.term_average(result.term2["regular"], result.term2["mid"], result.term2["final"]))
        test = result.term2.get("test") if level == SchoolLevel.PRIMARY and isinstance(result.term2, dict) else None
        subjects.append({"code": subject.code, "name": subject.name, "term1": term1, "term2": term2,
                         "test": "" if test is None else str(test),
                         "year": result.year_value, "comment": result.comment or "",
                         "comment_only": subject.comment_only})
    summary: list[tuple[str, str]] = []
    absences = evaluation.absent_sessions if evaluation else 0
    if level == SchoolLevel.PRIMARY:
        ratings = {s["code"]: tt27.SubjectRating(s["year"]) for s in subjects}
        qualities = {k: tt27.QualityRating(v) for k, v in ((evaluation.qualities or {}) if evaluation else {}).items()}
        tests = {s.code: r.term2.get("test") for s, r in rows if isinstance(r.term2, dict) and r.term2.get("test")
                 is not None}
        result = tt27.year_result(ratings, qualities, tests)
        award = tt27.commendation(result, bool(evaluation and evaluation.nominated))
        summary = [("Kết quả giáo dục cả năm", result.value), ("Khen thưởng", award or "—"),
                   ("Hoàn thành chương trình lớp học", "Có" if tt27.completes_grade(result) else "Chưa")]
        outcome = result.value
    else:
        scored = {s["code"]: Decimal(s["year"]) for s in subjects if not s["comment_only"]}
        comments = {s["code"]: s["year"] == "Đạt" for s in subjects if s["comment_only"]}
        learning = tt22.learning_level(scored, comments)
        conduct = (tt22.conduct_year(LEVELS_VI[evaluation.conduct_term1], LEVELS_VI[evaluation.conduct_term2])
                   if evaluation and evaluation.conduct_term1 and evaluation.conduct_term2 else None)
        title = tt22.title(conduct, learning, scored) if conduct else None
        decision = tt22.promotion(conduct, learning, absences, scored, comments) if conduct else None
        summary = [("Kết quả rèn luyện cả năm", conduct.value if conduct else "—"),
                   ("Kết quả học tập cả năm", learning.value), ("Danh hiệu", title.value if title else "—"),
                   ("Số buổi nghỉ", str(absences)),
                   ("Lên lớp / rèn luyện hè / kiểm tra lại", decision.outcome.value if decision else "—")]
        outcome = learning.value
    return {"student": {"full_name": student.full_name, "personal_id": student.personal_id,
                        "birth_date": student.birth_date.strftime("%d/%m/%Y"),
                        "sex": "Nữ" if student.sex.value == "F" else "Nam"},
            "school": school.name, "school_code": school.code, "class": klass.name, "grade": klass.grade,
            "year": year.name, "level_name": LEVEL_NAMES.get(level, ""), "version": version, "subjects": subjects,
            "summary": summary, "outcome": outcome, "comment": evaluation.comment if evaluation else ""}


def prepare_transcripts(db: Database, actor: Actor, class_id: int, year_id: int) -> list[int]:
    """Draft transcripts for every student of the class from the gradebook (homeroom teacher);
    students who already have a live transcript for the year are skipped."""
    with db.transaction() as session:
        klass = _class(session, actor, class_id)
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
        rows = []
        for student, code in zip(todo, codes):
            content = _content_of(school, klass, student, year, 1, results.get(student.id, []),
                                  evaluations.get(student.id))
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
    content = _content(session, klass, student, year, version)
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
        klass = _class(session, actor, class_id)
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
    tsa = os.environ.get("SOHOA_TSA_URL") or None

    def sign(row: Transcript) -> str | None:
        if row.status != TranscriptStatus.DRAFT:
            return f"đã ở trạng thái {row.status.value}, không còn là bản nháp"
        pdf = render_transcript(row.content, row.verification_code, verify_url(row.verification_code))
        row.document = sign_pdf(pdf, signer, HOMEROOM_FIELD, certify=True, reason="Giáo viên chủ nhiệm ký học bạ",
                                tsa_url=tsa, new_fields=SIGNATURE_FIELDS)
        row.status, row.homeroom_signed_by = TranscriptStatus.HOMEROOM_SIGNED, actor.staff_id
        return None

    return _in_chunks(db, actor, todo, sign, "transcript.homeroom_sign", progress)


@dataclass
class BatchResult:
    """What a batch signing signed and what it did not, with the reason."""

    signed: list[int] = field(default_factory=list)
    not_signed: list[tuple[int, str]] = field(default_factory=list)


#: Transcripts signed per transaction in a batch: a stopped batch loses at most the chunk in
#: flight (rolled back whole, signed again on the next run), never half of a transcript.
CHUNK = 25


def _in_chunks(db: Database, actor: Actor, todo: list[int], sign: Callable[[Transcript], str | None],
               action: str, progress: Callable[[int, int], None] | None) -> BatchResult:
    """Run ``sign`` on each transcript of ``todo`` (locked), CHUNK per transaction, with one
    audit event per school and chunk naming every transcript signed in it. ``sign`` returns
    None when it signed, else why not."""
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
            for school_id, done in signed.items():
                audit.record(session, actor, action, "transcript_batch", f"{done[0].id}-{done[-1].id}",
                             school_id=school_id, after={"status": done[0].status.value, "transcripts": len(done),
                                                         "ids": [r.id for r in done],
                                                         "codes": [r.verification_code for r in done]})
                result.signed += [r.id for r in done]
    return result


def principal_sign_batch(db: Database, actor: Actor, school_id: int, signer, seal_signer, *,
                         class_id: int | None = None, grade: int | None = None,
                         progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Steps 3 and 4 in one action for a class, a grade or the whole school (seed 001): the
    principal approves and signs, then the school's seal signs, which issues the transcript.
    Signed in chunks of :data:`CHUNK` transactions, so a stopped batch resumes where it stopped
    and issues nothing twice; the result lists what was signed and what was not and why."""
    require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
    if actor.role != Role.PRINCIPAL:
        raise PermissionDenied("only the principal signs transcripts in batch")
    at = clock.now()
    with db.reading() as session:
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        seal = session.scalar(select(Certificate).where(Certificate.fingerprint == seal_signer.fingerprint))
        if seal is None or seal.kind != CertificateKind.SEAL or seal.school_id != school_id:
            raise PermissionDenied("the seal certificate is not this school's")
        query = (select(Transcript.id).join(SchoolClass, SchoolClass.id == Transcript.class_id)
                 .where(Transcript.school_id == school_id,
                        Transcript.status.in_([TranscriptStatus.DRAFT, TranscriptStatus.HOMEROOM_SIGNED])))
        if class_id is not None:
            query = query.where(Transcript.class_id == class_id)
        if grade is not None:
            query = query.where(SchoolClass.grade == grade)
        todo = list(session.scalars(query.order_by(Transcript.id)))
    tsa = os.environ.get("SOHOA_TSA_URL") or None

    def sign(row: Transcript) -> str | None:
        if row.status != TranscriptStatus.HOMEROOM_SIGNED:
            return ("chưa có chữ ký của giáo viên chủ nhiệm" if row.status == TranscriptStatus.DRAFT
                    else f"đã ở trạng thái {row.status.value}")
        document = sign_pdf(row.document, signer, PRINCIPAL_FIELD, certify=False,
                            reason="Hiệu trưởng phê duyệt học bạ", tsa_url=tsa)
        row.document = sign_pdf(document, seal_signer, SEAL_FIELD, certify=False,
                                reason="Xác nhận của nhà trường", tsa_url=tsa)
        row.status, row.principal_signed_by, row.issued_at = TranscriptStatus.ISSUED, actor.staff_id, clock.now()
        return None

    return _in_chunks(db, actor, todo, sign, "transcript.issue", progress)


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
                     before={"status": "issued"}, after={"status": "cancelled", "replaced_by": new.id},
                     reason=reason.strip())
        return new.id


# ---------------------------------------------------------------- verification (public)
@dataclass(frozen=True)
class TranscriptCheck:
    """What anyone holding a transcript or its code learns: whether it is genuine and current,
    who signed in which role, and nothing else personal."""

    found: bool
    current: bool
    status: str
    message: str
    report: VerificationReport | None = None
    replaced_by_code: str | None = None


def verify_transcript(db: Database, trust, *, code: str | None = None, pdf: bytes | None = None) -> TranscriptCheck:
    """Check a transcript by its verification code or its PDF (no sign-in)."""
    with db.reading() as session:
        row = None
        if code:
            row = session.scalar(select(Transcript).where(Transcript.verification_code == code.strip().upper()))
        elif pdf:
            for candidate in session.scalars(select(Transcript).where(Transcript.document.is_not(None),
                                                                     func.length(Transcript.document) == len(pdf))):
                if candidate.document == pdf:
                    row = candidate
                    break
        if row is None:
            if pdf:
                report = VerificationReport("document", [SignatureReport(f, v) for f, v in verify_pdf(pdf, trust)])
                return TranscriptCheck(False, False, "unknown",
                                       "Không tìm thấy học bạ này trong hệ thống (tài liệu đã bị thay đổi hoặc "
                                       "không do hệ thống cấp)", report)
            return TranscriptCheck(False, False, "unknown", "Không tìm thấy học bạ với mã này")
        if row.status not in (TranscriptStatus.ISSUED, TranscriptStatus.CANCELLED) or row.document is None:
            return TranscriptCheck(True, False, row.status.value, "Học bạ chưa được cấp")
        holders = {HOMEROOM_FIELD: ("homeroom", row.homeroom_signed_by),
                   PRINCIPAL_FIELD: ("principal", row.principal_signed_by), SEAL_FIELD: ("seal", None)}
        reports = []
        for field_name, result in verify_pdf(row.document, trust):
            role, staff_id = holders.get(field_name, ("unknown", None))
            if role == "seal":
                if result.valid:
                    owner = session.scalar(select(Certificate).where(Certificate.fingerprint ==
                                                                     result.signer_fingerprint))
                    if owner is None or owner.kind != CertificateKind.SEAL or owner.school_id != row.school_id:
                        result = type(result)("FAILED", "NOT_AUTHORISED_FOR_ROLE", result.signer_fingerprint,
                                              result.signer_subject, result.signing_time,
                                              "the seal is not the issuing school's")
            else:
                result = _authorised(session, result, role, staff_id)
            reports.append(SignatureReport(role, result))
        report = VerificationReport(f"transcript {row.verification_code}", reports)
        if row.status == TranscriptStatus.CANCELLED:
            newer = session.scalar(select(Transcript.verification_code).where(Transcript.replaces_id == row.id))
            return TranscriptCheck(True, False, "cancelled", f"Học bạ đã bị hủy: {row.cancel_reason}", report, newer)
        return TranscriptCheck(True, report.valid, "issued",
                               "Học bạ hợp lệ, đang có hiệu lực" if report.valid else "Chữ ký không hợp lệ", report)


# ---------------------------------------------------------------- figures
def issuance_figures(db: Database, actor: Actor, level: str = "school", school_year_id: int | None = None,
                     as_of: dt.date | None = None) -> pd.DataFrame:
    """Per district, school or grade: students, students whose class's results every subject
    teacher has confirmed, transcripts by workflow status (drafts, signed by the homeroom
    teacher, issued = signed by the principal and sealed), cancelled, students who arrived with
    a transferred transcript, percentage issued (of students with results), and whether the deadline has passed (seed 004: grade 5
    by 30 May, grades 1-4 by 25 July; secondary by 31 July, our assumption)."""
    require(actor, Permission.VIEW)
    keys = {"district": [District.id.label("district_id"), District.name.label("district_name")],
            "school": [School.id.label("school_id"), School.code.label("school_code"), School.name.label("school_name")],
            "grade": [School.id.label("school_id"), School.code.label("school_code"),
                      SchoolClass.grade.label("grade")]}[level]
    students = (select(SubjectResult.student_id.label("sid"), SubjectResult.class_id.label("cid"))
                .where(true() if school_year_id is None else SubjectResult.school_year_id == school_year_id)
                .distinct().subquery())
    T = Transcript
    live = T.status != TranscriptStatus.CANCELLED

    def count_if(cond):
        return func.count(func.distinct(case((cond, students.c.sid))))

    taught = (select(TeachingAssignment.class_id.label("cid"),
                     func.count(func.distinct(TeachingAssignment.subject_id)).label("n"))
              .where(TeachingAssignment.valid_to.is_(None)).group_by(TeachingAssignment.class_id).subquery())
    confirmed = (select(SubjectConfirmation.class_id.label("cid"),
                        func.count(func.distinct(SubjectConfirmation.subject_id)).label("n"))
                 .where(true() if school_year_id is None else SubjectConfirmation.school_year_id == school_year_id)
                 .group_by(SubjectConfirmation.class_id).subquery())
    fully_confirmed = (select(confirmed.c.cid).join(taught, taught.c.cid == confirmed.c.cid)
                       .where(confirmed.c.n >= taught.c.n))
    received = (select(ReceivedTranscript.student_id).where(ReceivedTranscript.receiving_school_id == School.id))
    stmt = (select(*keys, func.count(func.distinct(students.c.sid)).label("students"),
                   count_if(students.c.cid.in_(fully_confirmed)).label("confirmed"),
                   count_if(and_(live, T.status == TranscriptStatus.DRAFT)).label("drafts"),
                   count_if(and_(live, T.status == TranscriptStatus.HOMEROOM_SIGNED)).label("homeroom_signed"),
                   count_if(T.status == TranscriptStatus.ISSUED).label("issued"),
                   func.count(func.distinct(case((T.status == TranscriptStatus.CANCELLED, T.id)))).label("cancelled"),
                   count_if(students.c.sid.in_(received)).label("transferred_in"))
            .select_from(students).join(SchoolClass, SchoolClass.id == students.c.cid)
            .join(School, School.id == SchoolClass.school_id).join(District, District.id == School.district_id)
            .outerjoin(T, and_(T.student_id == students.c.sid, T.class_id == students.c.cid))
            .where(actor.school_filter(School.id)).group_by(*keys))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    return issuance_rates(frame, level, as_of)


def issuance_rates(frame: pd.DataFrame, level: str, as_of: dt.date | None = None) -> pd.DataFrame:
    """The percentage issued, and per grade the deadline and whether it has passed with
    transcripts unissued: what :func:`issuance_figures` adds to the counts (and the analytics
    store's :func:`core.analytics.queries.issuance_figures` to the same counts)."""
    frame["issued_rate"] = (frame["issued"] / frame["students"].where(frame["students"] > 0)).round(4)
    if level == "grade":
        today = as_of or clock.now().date()
        deadlines = frame["grade"].map(lambda g: issuance_deadline(int(g), today.year))
        frame["deadline"] = deadlines
        frame["overdue"] = (deadlines < today) & (frame["issued"] < frame["students"])
    return frame


def blocking_steps(db: Database, actor: Actor, *, school_id: int | None = None, school_year_id: int | None = None,
                   page: int = 0, page_size: int = 50) -> tuple[pd.DataFrame, int]:
    """What holds up each unissued transcript, class by class, and who must act: the subject
    teachers who have not confirmed (by name), the homeroom teacher who has not prepared or
    signed, the principal who has not signed and sealed. Paged by class in the database
    (classes with unissued transcripts only); returns (rows, number of such classes)."""
    require(actor, Permission.VIEW)
    if school_id is not None and not actor.sees_school(school_id):
        raise NotFound(f"no school {school_id}")
    T = Transcript
    students = (select(SubjectResult.class_id.label("cid"), SubjectResult.student_id.label("sid"))
                .where(true() if school_year_id is None else SubjectResult.school_year_id == school_year_id)
                .distinct().subquery())
    per_class = (select(students.c.cid, func.count(func.distinct(students.c.sid)).label("students"),
                        func.count(func.distinct(case((T.status == TranscriptStatus.ISSUED, students.c.sid))))
                        .label("issued"),
                        func.count(func.distinct(case((T.status == TranscriptStatus.DRAFT, T.id)))).label("drafts"),
                        func.count(func.distinct(case((T.status == TranscriptStatus.HOMEROOM_SIGNED, T.id))))
                        .label("homeroom_signed"))
                 .select_from(students)
                 .outerjoin(T, and_(T.student_id == students.c.sid, T.class_id == students.c.cid,
                                    T.status != TranscriptStatus.CANCELLED))
                 .group_by(students.c.cid).subquery())
    base = (select(School.code, School.name, SchoolClass.id, SchoolClass.name, SchoolClass.grade, Staff.full_name,
                   per_class.c.students, per_class.c.issued, per_class.c.drafts, per_class.c.homeroom_signed)
            .join(SchoolClass, SchoolClass.id == per_class.c.cid).join(School, School.id == SchoolClass.school_id)
            .outerjoin(Staff, Staff.id == SchoolClass.homeroom_teacher_id)
            .where(actor.school_filter(School.id), per_class.c.issued < per_class.c.students))
    if school_id is not None:
        base = base.where(School.id == school_id)
    principal = (select(Staff.full_name).join(StaffAssignment, StaffAssignment.staff_id == Staff.id)
                 .where(StaffAssignment.school_id == SchoolClass.school_id, StaffAssignment.role == StaffRole.PRINCIPAL,
                        StaffAssignment.valid_to.is_(None)).limit(1).scalar_subquery())
    rows = []
    with db.reading() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery()))
        page_rows = session.execute(base.add_columns(principal.label("principal"))
                                    .order_by(School.code, SchoolClass.grade, SchoolClass.name)
                                    .offset(page * page_size).limit(page_size)).all()
        for code, school, class_id, class_name, grade, homeroom, n, issued, drafts, signed, head in page_rows:
            where = {"school_code": code, "school_name": school, "class": class_name, "grade": grade}
            year_ids = [school_year_id] if school_year_id else list(session.scalars(
                select(SubjectResult.school_year_id).where(SubjectResult.class_id == class_id).distinct()))
            missing = [m for y in year_ids for m in missing_confirmations(session, class_id, y)]
            if missing:
                rows.append({**where, "step": "Giáo viên bộ môn xác nhận điểm", "waiting_on": ", ".join(missing),
                             "transcripts": n - issued})
                continue
            unprepared = n - issued - drafts - signed
            for count, step, who in ((unprepared, "Giáo viên chủ nhiệm lập học bạ", homeroom),
                                     (drafts, "Giáo viên chủ nhiệm ký", homeroom),
                                     (signed, "Hiệu trưởng ký và đóng dấu", head)):
                if count > 0:
                    rows.append({**where, "step": step, "waiting_on": who or "—", "transcripts": count})
    columns = ["school_code", "school_name", "class", "grade", "step", "waiting_on", "transcripts"]
    return pd.DataFrame(rows, columns=columns), total


def issuance_deadline(grade: int, year: int) -> dt.date:
    """When a grade's transcripts must be signed and issued (seed 004, HCMC 2024-2025): grade 5 by
    30 May, grades 1-4 by 25 July; secondary grades by 31 July (our assumption, not in the seed)."""
    if grade == 5:
        return dt.date(year, 5, 30)
    if grade < 5:
        return dt.date(year, 7, 25)
    return dt.date(year, 7, 31)
