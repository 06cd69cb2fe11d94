"""The transcript's content (nội dung học bạ): one student's school year read from the gradebook,
with every computed result by the level's rules — TT27/2020 for primary, TT22/2021 for
secondary — in the order of the Ministry's form.

Besides the gradebook rows, the year's result depends on facts kept elsewhere
(:class:`StudentFacts`): the sessions the logbook records the student absent (TT22/2021
Art. 12: more than 45 and the student repeats the grade), and the principal's decisions on how
the student is assessed or promoted (TT22 Art. 10–12, TT27 Art. 11). The summer results (TT22
Art. 13, 14) are on the gradebook rows and replace the year's results they re-assess."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.kernel.errors import InvalidAssessment
from core.kernel.vocabulary import SchoolLevel
from core.school.rules.curriculum import CURRICULUM, level_of_grade
from core.storage.models import (
    AssessmentDecision,
    EntryAbsence,
    LogbookEntry,
    School,
    SchoolClass,
    SchoolYear,
    Student,
    StudentEvaluation,
    Subject,
    SubjectResult,
)
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt22_exemptions as special
from core.transcripts.rules import tt22_summer as summer
from core.transcripts.rules import tt27_2020 as tt27
from core.transcripts.rules.decisions import Decision, DecisionKind

LEVEL_NAMES = {SchoolLevel.PRIMARY: "Tiểu học", SchoolLevel.LOWER_SECONDARY: "Trung học cơ sở",
               SchoolLevel.UPPER_SECONDARY: "Trung học phổ thông"}


#: Subjects appear on the transcript in the curriculum's (the Ministry's form's) order.
_MINISTRY_ORDER = {spec.code: i for i, spec in enumerate(CURRICULUM)}


@dataclass(frozen=True)
class StudentFacts:
    """What the year's result needs beyond the gradebook rows: the sessions absent counted
    from the logbook (:func:`tt22.sessions_absent`) and the principal's decisions, with the
    code of the subject each one concerns."""

    logbook_absences: int = 0
    decisions: tuple[Decision, ...] = field(default_factory=tuple)

    def of_kind(self, kind: DecisionKind) -> list[Decision]:
        return [d for d in self.decisions if d.kind == kind]

    def plan_subjects(self) -> set[str]:
        return {d.subject for d in self.of_kind(DecisionKind.INDIVIDUAL_PLAN) if d.subject}

    def last(self, kind: DecisionKind) -> Decision | None:
        found = self.of_kind(kind)
        return found[-1] if found else None


def logbook_absences(session: Session, student_ids: list[int], year: SchoolYear) -> dict[int, int]:
    """Sessions absent in the school year per student, from the logbook's absences (excused or
    not, TT22/2021 Art. 12): a day counts when the student is recorded absent from every period
    of their class that day (:class:`tt22.AbsenceReading` WHOLE_SESSION)."""
    if not student_ids:
        return {}
    in_year = and_(LogbookEntry.day >= year.start_date, LogbookEntry.day <= year.end_date)
    absent = session.execute(
        select(EntryAbsence.student_id, LogbookEntry.class_id, LogbookEntry.day, func.count())
        .join(LogbookEntry, LogbookEntry.id == EntryAbsence.entry_id)
        .where(EntryAbsence.student_id.in_(student_ids), in_year)
        .group_by(EntryAbsence.student_id, LogbookEntry.class_id, LogbookEntry.day)).all()
    if not absent:
        return {}
    classes = sorted({c for _, c, _, _ in absent})
    periods = {(c, d): n for c, d, n in session.execute(
        select(LogbookEntry.class_id, LogbookEntry.day, func.count()).where(
            LogbookEntry.class_id.in_(classes), in_year).group_by(LogbookEntry.class_id, LogbookEntry.day))}
    days: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for student_id, class_id, day, count in absent:
        days[student_id].append((periods[(class_id, day)], count))
    return {s: tt22.sessions_absent(d) for s, d in days.items()}


def student_facts(session: Session, student_ids: list[int], year: SchoolYear) -> dict[int, StudentFacts]:
    """The :class:`StudentFacts` of ``student_ids`` for ``year``, in two queries."""
    absences = logbook_absences(session, student_ids, year)
    decisions: dict[int, list[Decision]] = defaultdict(list)
    if student_ids:
        for row, code in session.execute(
                select(AssessmentDecision, Subject.code).outerjoin(Subject, Subject.id == AssessmentDecision.subject_id)
                .where(AssessmentDecision.student_id.in_(student_ids), AssessmentDecision.school_year_id == year.id)
                .order_by(AssessmentDecision.id)):
            decisions[row.student_id].append(decision_of(row, code))
    return {s: StudentFacts(absences.get(s, 0), tuple(decisions.get(s, ()))) for s in student_ids}


def decision_of(row: AssessmentDecision, subject_code: str | None) -> Decision:
    """A stored decision as the rules read it."""
    return Decision(DecisionKind(row.kind), row.document_no, row.decided_on, row.decided_by, subject_code,
                    tuple(int(t) for t in row.terms.split(",")), row.reason, row.outcome)


def transcript_content(session: Session, klass: SchoolClass, student: Student, year: SchoolYear, version: int) -> dict:
    """The transcript's content for one student, read from the gradebook."""
    rows = session.execute(select(Subject, SubjectResult).join(SubjectResult, SubjectResult.subject_id == Subject.id)
                           .where(SubjectResult.student_id == student.id,
                                  SubjectResult.school_year_id == year.id).order_by(Subject.code)).all()
    evaluation = session.scalar(select(StudentEvaluation).where(
        StudentEvaluation.student_id == student.id, StudentEvaluation.school_year_id == year.id))
    facts = student_facts(session, [student.id], year)[student.id]
    return content_of(session.get(School, klass.school_id), klass, student, year, version, rows, evaluation, facts)


@dataclass(frozen=True)
class SecondaryYear:
    """A secondary student's year as TT22 decides it, from the gradebook and the facts."""

    scored: dict[str, Decimal]
    comments: dict[str, bool]
    plan: set[str]
    conduct: tt22.Level | None
    learning: tt22.Level | None
    title: tt22.Title | None
    absences: int
    decision: tt22.Promotion | None
    after_summer: summer.SummerResult | None


def secondary_year(rows: list, evaluation: StudentEvaluation | None, facts: StudentFacts) -> SecondaryYear:
    """The year's conduct, learning level, title and promotion of a secondary student (TT22
    Art. 8, 9, 11, 12–15), the summer results (Art. 13, 14) applied when there are any."""
    plan = facts.plan_subjects()
    scored = {s.code: tt22.average(r.year_value, subject=s.name) for s, r in rows
              if not s.comment_only and s.code not in plan}
    comments = {s.code: tt22.comment_result(r.year_value, subject=s.name) for s, r in rows
                if s.comment_only and s.code not in plan}
    retests = {s.code: r.summer_value for s, r in rows if r.summer_value is not None}
    conduct = (tt22.conduct_year(evaluation.conduct_term1, evaluation.conduct_term2)
               if evaluation and evaluation.conduct_term1 and evaluation.conduct_term2 else None)
    entered = tt22.absent_sessions(evaluation.absent_sessions) if evaluation else 0
    absences = max(entered, facts.logbook_absences)
    if plan:
        learning = special.learning_level_with_plan(scored, comments, plan)
        return SecondaryYear(scored, comments, plan, conduct, learning, None, absences,
                             special.promotion_with_plan(facts.last(DecisionKind.PROMOTION)), None)
    learning = tt22.learning_level(scored, comments)
    title = tt22.title(conduct, learning, scored) if conduct else None
    if conduct is None:
        return SecondaryYear(scored, comments, plan, None, learning, None, absences, None, None)
    reassessed = evaluation.conduct_summer if evaluation else None
    if retests or reassessed:
        result = summer.year_after_summer(conduct, scored, comments, retests, absences, reassessed_conduct=reassessed)
        return SecondaryYear(scored, comments, plan, conduct, learning, title, absences, result.decision, result)
    return SecondaryYear(scored, comments, plan, conduct, learning, title, absences,
                         tt22.promotion(conduct, learning, absences, scored, comments), None)


def content_of(school: School, klass: SchoolClass, student: Student, year: SchoolYear, version: int,
               rows: list, evaluation: StudentEvaluation | None, facts: StudentFacts | None = None) -> dict:
    """The transcript's content from one student's (subject, result) rows, evaluation and
    :class:`StudentFacts`, with every computed result by the level's rules (TT27 for primary,
    TT22 for secondary). A value the rules refuse is refused naming the student."""
    try:
        return _content(school, klass, student, year, version, rows, evaluation, facts or StudentFacts())
    except InvalidAssessment as err:
        raise err.located(student=student.id) from None


def _content(school, klass, student, year, version, rows, evaluation, facts: StudentFacts) -> dict:
    level = level_of_grade(klass.grade)
    plan = facts.plan_subjects()
    subjects = []
    for subject, result in sorted(rows, key=lambda r: _MINISTRY_ORDER.get(r[0].code, len(_MINISTRY_ORDER))):
        term1 = term2 = ""
        if level != SchoolLevel.PRIMARY and not subject.comment_only and subject.code not in plan and result.term1:
            term1 = str(tt22.scored_term(result.term1, field=(("term 1", "học kì I"),)))
            term2 = str(tt22.scored_term(result.term2, field=(("term 2", "học kì II"),)))
        test = result.term2.get("test") if level == SchoolLevel.PRIMARY and isinstance(result.term2, dict) else None
        line = {"code": subject.code, "name": subject.name, "term1": term1, "term2": term2,
                "test": "" if test is None else str(test),
                "year": result.year_value, "comment": result.comment or "",
                "comment_only": subject.comment_only}
        if result.summer_value is not None:
            line["summer"] = result.summer_value
        if subject.code in plan:
            line["individual_plan"] = True
        subjects.append(line)
    names = {s.code: s.name for s, _ in rows}
    notes = [f"{_DECISION_WORDS[d.kind]}: {names.get(d.subject, d.subject)}, học kì {' và '.join(map(str, d.terms))} "
             f"(quyết định số {d.document_no}, ngày {d.decided_on:%d/%m/%Y})"
             for d in facts.decisions if d.kind in (DecisionKind.PRACTICAL_EXEMPTION, DecisionKind.INDIVIDUAL_PLAN)]
    summary: list[tuple[str, str]] = []
    if level == SchoolLevel.PRIMARY:
        ratings = {s["code"]: s["year"] for s in subjects}
        qualities = (evaluation.qualities or {}) if evaluation else {}
        tests = {s.code: r.term2.get("test") for s, r in rows if isinstance(r.term2, dict) and r.term2.get("test")
                 is not None}
        result = tt27.year_result(ratings, qualities, tests, grade=klass.grade)
        award = tt27.commendation(result, bool(evaluation and evaluation.nominated))
        outcome_of_grade = tt27.grade_outcome(klass.grade, result,
                                              supplementary=facts.last(DecisionKind.SUPPLEMENTARY),
                                              principal=facts.last(DecisionKind.PROMOTION))
        summary = [("Kết quả giáo dục cả năm", result.value), ("Khen thưởng", award or "—"),
                   ("Hoàn thành chương trình lớp học", "Có" if outcome_of_grade.completes_grade else "Chưa")]
        if klass.grade == 5:
            summary.append(("Hoàn thành chương trình tiểu học", "Có" if outcome_of_grade.completes_primary else "Chưa"))
        if not outcome_of_grade.completes_grade:
            summary.append(("Lên lớp", {True: "Có", False: "Không", None: "Chờ hiệu trưởng quyết định"}[
                outcome_of_grade.promoted] + f" ({outcome_of_grade.reason})"))
        outcome = result.value
    else:
        record = secondary_year(rows, evaluation, facts)
        conduct, learning, decision = record.conduct, record.learning, record.decision
        summary = [("Kết quả rèn luyện cả năm", conduct.value if conduct else "—"),
                   ("Kết quả học tập cả năm", learning.value if learning else "Không xếp mức (kế hoạch giáo dục cá nhân)"),
                   ("Danh hiệu", record.title.value if record.title else "—"),
                   ("Số buổi nghỉ", str(record.absences))]
        if record.after_summer is not None:
            after = record.after_summer
            if evaluation and evaluation.conduct_summer:
                summary.append(("Kết quả rèn luyện sau rèn luyện hè", after.conduct.value))
            if after.replaced:
                summary.append(("Kết quả học tập sau kiểm tra lại", after.learning.value))
        summary.append(("Lên lớp / rèn luyện hè / kiểm tra lại", decision.outcome.value if decision else "—"))
        outcome = learning.value if learning else "—"
    content = {"student": {"full_name": student.full_name, "personal_id": student.personal_id,
                           "birth_date": student.birth_date.strftime("%d/%m/%Y"),
                           "sex": "Nữ" if student.sex.value == "F" else "Nam"},
               "school": school.name, "school_code": school.code, "class": klass.name, "grade": klass.grade,
               "year": year.name, "level_name": LEVEL_NAMES.get(level, ""), "version": version, "subjects": subjects,
               "summary": summary, "outcome": outcome, "comment": evaluation.comment if evaluation else ""}
    if notes:
        content["notes"] = notes
    return content


_DECISION_WORDS = {DecisionKind.PRACTICAL_EXEMPTION: "Miễn học phần thực hành",
                   DecisionKind.INDIVIDUAL_PLAN: "Đánh giá theo kế hoạch giáo dục cá nhân"}
