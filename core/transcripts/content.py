"""The transcript's content (nội dung học bạ): one student's school year read from the gradebook,
with every computed result by the level's rules — TT27/2020 for primary, TT22/2021 for
secondary — in the order of the Ministry's form."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.kernel.vocabulary import SchoolLevel
from core.school.rules.curriculum import CURRICULUM, level_of_grade
from core.storage.models import (
    School,
    SchoolClass,
    SchoolYear,
    Student,
    StudentEvaluation,
    Subject,
    SubjectResult,
)
from core.transcripts.gradebook import LEVELS_VI
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27

LEVEL_NAMES = {SchoolLevel.PRIMARY: "Tiểu học", SchoolLevel.LOWER_SECONDARY: "Trung học cơ sở",
               SchoolLevel.UPPER_SECONDARY: "Trung học phổ thông"}


#: Subjects appear on the transcript in the curriculum's (the Ministry's form's) order.
_MINISTRY_ORDER = {spec.code: i for i, spec in enumerate(CURRICULUM)}


def transcript_content(session: Session, klass: SchoolClass, student: Student, year: SchoolYear, version: int) -> dict:
    """The transcript's content for one student, read from the gradebook."""
    rows = session.execute(select(Subject, SubjectResult).join(SubjectResult, SubjectResult.subject_id == Subject.id)
                           .where(SubjectResult.student_id == student.id,
                                  SubjectResult.school_year_id == year.id).order_by(Subject.code)).all()
    evaluation = session.scalar(select(StudentEvaluation).where(
        StudentEvaluation.student_id == student.id, StudentEvaluation.school_year_id == year.id))
    return content_of(session.get(School, klass.school_id), klass, student, year, version, rows, evaluation)


def content_of(school: School, klass: SchoolClass, student: Student, year: SchoolYear, version: int,
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
