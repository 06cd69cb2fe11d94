"""The gradebook (sổ điểm): subject teachers enter and confirm their subject's results with a
signature; the homeroom teacher enters conduct, qualities, competences and comments (TT22/2021
Art. 5-9 for secondary, TT27/2020 Art. 6-9 for primary).

Results are computed by the level's rules (:mod:`core.transcripts.rules`) as they are entered,
so an impossible value is refused at the door, not at issuance."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import canonical_json, sha256_hex
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import SchoolLevel
from core.school.rules.curriculum import level_of_grade
from core.signatures.certificates import registered_certificate
from core.storage.db import Database
from core.storage.models import (
    CurriculumLoad,
    SchoolClass,
    Staff,
    Student,
    StudentEvaluation,
    StudentRemark,
    Subject,
    SubjectConfirmation,
    SubjectResult,
    TeachingAssignment,
)
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27

LEVELS_VI = {level.value: level for level in tt22.Level}


def class_in_scope(session: Session, actor: Actor, class_id: int) -> SchoolClass:
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
        klass = class_in_scope(session, actor, class_id)
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
        klass = class_in_scope(session, actor, class_id)
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
    teacher's draft comments (HCMC sổ đầu bài số rules 2025-2026: remarks flow into the transcript)."""
    with db.reading() as session:
        klass = class_in_scope(session, actor, class_id)
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
        klass = class_in_scope(session, actor, class_id)
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
