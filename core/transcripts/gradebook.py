"""The gradebook (sổ điểm): subject teachers enter and confirm their subject's results with a
signature; the homeroom teacher enters conduct, qualities, competences and comments (TT22/2021
Art. 5-9 for secondary, TT27/2020 Art. 6-9 for primary).

Results are computed by the level's rules (:mod:`core.transcripts.rules`) as they are entered,
so an impossible value is refused at the door, not at issuance: every service checks the
whole request before it writes anything, and one bad value stores nothing."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import canonical_json, sha256_hex
from core.kernel.errors import (
    InvalidAssessment,
    NotFound,
    PermissionDenied,
    RuleViolation,
    SignatureRejected,
    SohoaError,
)
from core.kernel.vocabulary import Role, SchoolLevel
from core.school.rules.curriculum import CURRICULUM, level_of_grade
from core.signatures.certificates import registered_certificate
from core.signatures.cms import verify_detached
from core.storage.db import Database
from core.storage.models import (
    AssessmentDecision,
    CurriculumLoad,
    Enrolment,
    SchoolClass,
    SchoolYear,
    Staff,
    Student,
    StudentEvaluation,
    StudentRemark,
    Subject,
    SubjectConfirmation,
    SubjectResult,
    TeachingAssignment,
    Transcript,
)
from core.transcripts.content import logbook_absences, secondary_year, student_facts
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt22_exemptions as special
from core.transcripts.rules import tt22_summer as summer
from core.transcripts.rules import tt27_2020 as tt27
from core.transcripts.rules.decisions import Decision, DecisionKind, principal_promotion

Field = tuple[tuple[str, str], ...]
_TERMS = (("term1", ("term 1", "học kì I")), ("term2", ("term 2", "học kì II")))
MAX_COMMENT = 2000


def class_in_scope(session: Session, actor: Actor, class_id: int) -> SchoolClass:
    klass = session.get(SchoolClass, class_id)
    if klass is None or not actor.sees_school(klass.school_id):
        raise NotFound(f"no class {class_id}", message_vi=f"Không có lớp {class_id}")
    return klass


def _refuse(rule: tuple[str, str], value, article: str, field: Field = ()):
    raise InvalidAssessment(rule[0], rule[1], article=article, value=value, field=field)


def _keys(data, allowed: set[str], article: str) -> dict:
    """``data`` as a mapping with only the ``allowed`` keys (a typo such as "term 1" is refused,
    not ignored)."""
    if not isinstance(data, dict):
        _refuse(("a student's results are given as an object of named parts",
                 "kết quả của mỗi học sinh phải ghi theo từng phần có tên"), data, article)
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        _refuse((f"the parts are {', '.join(sorted(allowed))}", f"các phần hợp lệ: {', '.join(sorted(allowed))}"),
                unknown[0], article)
    return data


def _normal_comment(value, field: Field):
    gap = tt22.missed(value)
    if gap is None:
        return "Đạt" if tt22.comment_result(value, field) else "Chưa đạt"
    return {"missed": True, "makeup": None if gap.makeup is None else _normal_comment(gap.makeup, field)}


def _normal_periodic(value, field: Field):
    gap = tt22.missed(value)
    if gap is None:
        return str(tt22.score(value, field))
    return {"missed": True, "makeup": None if gap.makeup is None else str(tt22.score(gap.makeup, field))}


def subject_year_value(grade: int, subject: Subject, periods: int | None, data, *,
                       on_plan: bool = False) -> tuple[str, dict | None, dict | None]:
    """The year result of one subject for one student by the rules of the level, checked
    whole, and the terms as they are stored (every value written the one way the rules read it:
    "7,5" is kept as "7.5"). Shapes:

    - primary (TT27/2020 Art. 7): ``{"rating": "T"|"H"|"C", "test": 0..10}`` — a test exactly
      for the subjects of :func:`tt27.subjects_with_tests`;
    - secondary, scored (TT22/2021 Art. 5–7, 9.1): ``{"term1": {"regular": [...], "mid": x,
      "final": y}, "term2": {...}}`` with the number of regular assessments of Art. 6, a
      periodic one possibly ``{"missed": true, "makeup": x}``;
    - secondary, comment-only: ``{"term1": {"regular": [a, b], "mid": c, "final": d}, "term2":
      …}`` or the list ``[a, b, c, d]`` per term, each Đạt/Chưa đạt (or true/false);
    - assessed against an individual education plan (TT22 Art. 11): ``{"plan": "Đạt"|"Chưa đạt"}``.
    """
    if level_of_grade(grade) == SchoolLevel.PRIMARY:
        data = _keys(data, {"rating", "test"}, tt27.ART_7)
        rating = tt27.subject_rating(data.get("rating"))
        tested = subject.code in tt27.subjects_with_tests(grade)
        if tested:
            test = tt27.validate_test_score(data.get("test"))
        elif data.get("test") is not None:
            _refuse(("this subject has no periodic test in this grade", "môn này không có bài kiểm tra định kì ở "
                     "khối lớp này"), data.get("test"), tt27.ART_7, (("test", "bài kiểm tra"),))
        else:
            test = None
        return rating.value, None, {"rating": rating.value, "test": test}
    if on_plan:
        data = _keys(data, {"plan"}, special.ART_11)
        ok = special.plan_result(data.get("plan"), subject.name)
        return ("Đạt" if ok else "Chưa đạt"), None, {"plan": "Đạt" if ok else "Chưa đạt"}
    data = _keys(data, {"term1", "term2"}, tt22.ART_7)
    stored, results = {}, []
    for key, label in _TERMS:
        term, where = data.get(key), (label,)
        if subject.comment_only:
            results.append(tt22.comment_term(term, where))
            if isinstance(term, dict):
                stored[key] = {"regular": [_normal_comment(v, where) for v in term["regular"]],
                               "mid": _normal_comment(term["mid"], where), "final": _normal_comment(term["final"], where)}
            else:
                stored[key] = [_normal_comment(v, where) for v in term]
        else:
            needed = tt22.regular_assessments_per_term(periods)
            results.append(tt22.scored_term(term, needed, where))
            stored[key] = {"regular": [str(tt22.score(v, where)) for v in term["regular"]],
                           "mid": _normal_periodic(term["mid"], where),
                           "final": _normal_periodic(term["final"], where)}
    if subject.comment_only:
        value = "Đạt" if tt22.comment_subject_year(results[1]) else "Chưa đạt"
    else:
        value = str(tt22.year_average(*results))
    return value, stored["term1"], stored["term2"]


def _periods(session: Session, subject: Subject, grade: int) -> int | None:
    """The subject's periods a year in ``grade``: the school's curriculum load, else the 2018
    curriculum's (Thông tư 32/2018/TT-BGDĐT); a scored secondary subject without either is refused."""
    periods = session.scalar(select(CurriculumLoad.periods_per_year).where(
        CurriculumLoad.subject_id == subject.id, CurriculumLoad.grade == grade))
    if periods is None:
        periods = next((spec.periods_per_year.get(grade) for spec in CURRICULUM if spec.code == subject.code), None)
    if periods is None and level_of_grade(grade) != SchoolLevel.PRIMARY and not subject.comment_only:
        raise RuleViolation(f"{subject.name}: the periods a year in grade {grade} are not known, so the number of "
                            f"regular assessments (TT22/2021 Art. 6) cannot be checked; import the curriculum load",
                            message_vi=f"{subject.name}: chưa có số tiết/năm học ở khối {grade} nên không xác định "
                                       f"được số lần ĐĐGtx (TT22/2021 Điều 6); hãy nhập phân phối chương trình")
    return periods


def _student_ids(session: Session, class_id: int, year_id: int, keys) -> list[int]:
    """The students the request names, each a student of the class (enrolled in it at some time
    of the year); refused otherwise, before anything is written."""
    ids = []
    for key in keys:
        if isinstance(key, bool) or not isinstance(key, int):
            raise InvalidAssessment("students are named by their id", "học sinh được ghi bằng mã số",
                                    article="TT22/2021 Art. 5", value=key)
        ids.append(key)
    enrolled = set(session.scalars(select(Enrolment.student_id).where(
        Enrolment.class_id == class_id, Enrolment.student_id.in_(ids))))
    missing = [i for i in ids if i not in enrolled]
    if missing:
        raise NotFound(f"student {missing[0]} is not in this class; nothing was saved",
                       message_vi=f"Học sinh {missing[0]} không thuộc lớp này; chưa có gì được lưu")
    return ids


def _comment(value, student_id: int) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_COMMENT):
        raise InvalidAssessment(f"a comment is a text of up to {MAX_COMMENT} characters",
                                f"nhận xét là văn bản tối đa {MAX_COMMENT} ký tự", article="TT22/2021 Art. 5",
                                value=value, field=(("comment", "nhận xét"),), student=student_id)
    return value


def _decisions(session: Session, student_ids: list[int], year_id: int, kind: DecisionKind,
               subject_id: int | None = None) -> set[int]:
    query = select(AssessmentDecision.student_id).where(
        AssessmentDecision.student_id.in_(student_ids), AssessmentDecision.school_year_id == year_id,
        AssessmentDecision.kind == kind.value)
    if subject_id is not None:
        query = query.where(AssessmentDecision.subject_id == subject_id)
    return set(session.scalars(query))


def _teaches(session: Session, actor: Actor, klass: SchoolClass, subject_id: int, year_id: int) -> Subject:
    require(actor, Permission.EDIT_ENTRY, klass.school_id)
    teaches = session.scalar(select(TeachingAssignment.id).where(
        TeachingAssignment.class_id == klass.id, TeachingAssignment.subject_id == subject_id,
        TeachingAssignment.teacher_id == actor.staff_id, TeachingAssignment.valid_to.is_(None)))
    if not teaches:
        raise PermissionDenied("only the class's teacher of this subject enters its results",
                               message_vi="Chỉ giáo viên dạy môn này ở lớp được nhập điểm")
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"no subject {subject_id}", message_vi=f"Không có môn học {subject_id}")
    return subject


def enter_subject_results(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int,
                          results: dict[int, dict], comments: dict[int, str] | None = None) -> int:
    """A subject teacher enters their subject's results for a class (until they confirm them),
    in the shapes of :func:`subject_year_value`. Every value of the request is checked before
    anything is written: one impossible value (a score of 10.5, "Chưa đạt" where a score
    belongs, a missing term) refuses the whole request with
    :class:`~core.kernel.errors.InvalidAssessment` naming the student, the subject, the
    assessment and the article, and nothing is stored."""
    with db.transaction() as session:
        return enter_in(session, actor, class_id, subject_id, year_id, results, comments)


def _checked(session: Session, actor: Actor, class_id: int, subject_id: int, year_id: int,
             results: dict[int, dict], comments: dict[int, str] | None):
    """The request checked whole: (the class, the students, each student's year value and
    stored terms, each student's problem, the subject). What refuses the request as a whole — another
    teacher's subject, confirmed results, a student not in the class — is raised."""
    klass = class_in_scope(session, actor, class_id)
    subject = _teaches(session, actor, klass, subject_id, year_id)
    if session.scalar(select(SubjectConfirmation.id).where(
            SubjectConfirmation.class_id == class_id, SubjectConfirmation.subject_id == subject_id,
            SubjectConfirmation.school_year_id == year_id)):
        raise RuleViolation("the results were confirmed and signed; they can no longer change",
                            message_vi="Điểm môn này đã được xác nhận và ký; không thể sửa")
    if not isinstance(results, dict) or (comments is not None and not isinstance(comments, dict)):
        raise InvalidAssessment("results are given student by student", "kết quả ghi theo từng học sinh",
                                article="TT22/2021 Art. 5", value=type(results).__name__)
    students = _student_ids(session, class_id, year_id, [*results, *(comments or {})])
    periods = _periods(session, subject, klass.grade)
    on_plan = _decisions(session, students, year_id, DecisionKind.INDIVIDUAL_PLAN, subject_id)
    checked, problems = {}, {}
    for student_id, data in results.items():  # every value checked before anything is written
        try:
            checked[student_id] = subject_year_value(klass.grade, subject, periods, data,
                                                     on_plan=student_id in on_plan)
        except InvalidAssessment as err:
            problems[student_id] = err.located(student=student_id, subject=subject.name)
    return klass, students, checked, problems, subject


def enter_in(session: Session, actor: Actor, class_id: int, subject_id: int, year_id: int,
             results: dict[int, dict], comments: dict[int, str] | None = None, *,
             before_audit: Callable[[SchoolClass, Subject], None] | None = None) -> int:
    """:func:`enter_subject_results` inside the caller's transaction (an import of several
    classes and subjects, all or nothing). ``before_audit(klass, subject)`` reads what the caller
    needs once the results are written and before the audit event: the school's audit chain stays
    locked from the event to the commit, so nothing else should run in between."""
    klass, students, checked, problems, subject = _checked(session, actor, class_id, subject_id, year_id, results, comments)
    if problems:
        raise next(iter(problems.values()))
    notes = {s: _comment(c, s) for s, c in (comments or {}).items()}
    existing = {r.student_id: r for r in session.scalars(select(SubjectResult).where(
        SubjectResult.student_id.in_(students), SubjectResult.subject_id == subject_id,
        SubjectResult.school_year_id == year_id))}
    for student_id, (value, term1, term2) in checked.items():
        row = existing.get(student_id)
        if row is None:
            row = SubjectResult(student_id=student_id, class_id=class_id, subject_id=subject_id,
                                school_year_id=year_id)
            session.add(row)
        row.term1, row.term2, row.year_value, row.entered_by = term1, term2, value, actor.staff_id
        row.comment = notes.get(student_id, row.comment)
    if before_audit is not None:
        before_audit(klass, subject)
    audit.record(session, actor, "gradebook.enter", "subject_result", f"{class_id}/{subject_id}",
                 school_id=klass.school_id, after={"students": len(results)})
    return len(results)


def problems_in(session: Session, actor: Actor, class_id: int, subject_id: int, year_id: int,
                results: dict[int, dict]) -> dict[int | None, SohoaError]:
    """Every problem :func:`enter_in` would refuse ``results`` for, by student (``None``: the
    request as a whole — not this teacher's subject, already confirmed, …), without writing:
    what an import lists row by row."""
    try:
        return _checked(session, actor, class_id, subject_id, year_id, results, None)[3]
    except SohoaError as err:
        return {None: err}


#: What the homeroom teacher enters, by level.
EVALUATION_KEYS = {SchoolLevel.PRIMARY: {"qualities", "comment", "absent_sessions", "nominated"},
                   "secondary": {"conduct_term1", "conduct_term2", "comment", "absent_sessions"}}


def _evaluation(grade: int, data, logbook: int) -> dict:
    """One student's evaluation, checked whole: conduct levels (TT22 Art. 8) or every quality
    and competence (TT27 Art. 7.2), a comment, the sessions absent — never fewer than the
    logbook records (TT22 Art. 12) — and the class's nomination (TT27 Art. 13)."""
    primary = level_of_grade(grade) == SchoolLevel.PRIMARY
    data = _keys(data, EVALUATION_KEYS[SchoolLevel.PRIMARY if primary else "secondary"],
                 tt27.ART_9 if primary else tt22.ART_8)
    out = {}
    for key in ("conduct_term1", "conduct_term2"):
        if data.get(key) is not None:
            label = ("conduct, term 1", "rèn luyện học kì I") if key.endswith("1") else ("conduct, term 2",
                                                                                         "rèn luyện học kì II")
            out[key] = tt22.level(data[key], (label,)).value
        elif key in data:
            out[key] = None
    if "qualities" in data:
        given = data["qualities"]
        if not isinstance(given, dict):
            _refuse(("qualities and competences are given one by one", "phẩm chất, năng lực ghi theo từng mục"),
                    given, tt27.ART_7)
        names = (*tt27.QUALITIES, *tt27.COMPETENCES)
        missing = [n for n in names if n not in given] or [n for n in given if n not in names]
        if missing:
            _refuse(("every quality and competence of the curriculum is rated, and only those",
                     "đánh giá đủ và đúng các phẩm chất, năng lực"), missing[0], tt27.ART_7)
        out["qualities"] = {n: tt27.quality_rating(given[n], n).value for n in names}
    if "comment" in data:
        out["comment"] = _comment(data["comment"], None)
    if "absent_sessions" in data:
        absent = tt22.absent_sessions(data["absent_sessions"])
        if absent < logbook:
            _refuse((f"the logbook records {logbook} sessions absent; the count cannot be lower",
                     f"sổ đầu bài ghi {logbook} buổi nghỉ; số buổi nghỉ không thể ít hơn"), absent, tt22.ART_12,
                    (("absences", "số buổi nghỉ"),))
        out["absent_sessions"] = absent
    if "nominated" in data:
        if not isinstance(data["nominated"], bool):
            _refuse(("a nomination by the class is yes or no", "đề nghị của tập thể lớp là có hoặc không"),
                    data["nominated"], "TT27/2020 Art. 13")
        out["nominated"] = data["nominated"]
    return out


def enter_evaluation(db: Database, actor: Actor, class_id: int, year_id: int, evaluations: dict[int, dict]) -> None:
    """The homeroom teacher's part: conduct per term (secondary), qualities and competences
    (primary), comment, absences (sessions; never fewer than the logbook records),
    nomination. Checked whole before anything is written (:func:`_evaluation`)."""
    with db.transaction() as session:
        klass = class_in_scope(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id:
            raise PermissionDenied("only the homeroom teacher enters conduct, qualities and comments",
                                   message_vi="Chỉ giáo viên chủ nhiệm được nhập đánh giá này")
        if not isinstance(evaluations, dict):
            raise InvalidAssessment("evaluations are given student by student", "đánh giá ghi theo từng học sinh",
                                    article="TT22/2021 Art. 8", value=type(evaluations).__name__)
        students = _student_ids(session, class_id, year_id, evaluations)
        logbook = logbook_absences(session, students, session.get(SchoolYear, year_id))
        checked = {}
        for student_id, data in evaluations.items():
            try:
                checked[student_id] = _evaluation(klass.grade, data, logbook.get(student_id, 0))
            except InvalidAssessment as err:
                raise err.located(student=student_id) from None
        existing = {r.student_id: r for r in session.scalars(select(StudentEvaluation).where(
            StudentEvaluation.student_id.in_(students), StudentEvaluation.school_year_id == year_id))}
        for student_id, values in checked.items():
            row = existing.get(student_id)
            if row is None:
                row = StudentEvaluation(student_id=student_id, class_id=class_id, school_year_id=year_id,
                                        absent_sessions=logbook.get(student_id, 0), nominated=False)
                session.add(row)
            for key, value in values.items():
                setattr(row, key, value)
            row.entered_by = actor.staff_id
        audit.record(session, actor, "gradebook.evaluate", "student_evaluation", class_id, school_id=klass.school_id,
                     after={"students": len(evaluations)})


# ---------------------------------------------------------------- the summer (TT22/2021 Art. 13, 14)
@dataclass
class SummerEffect:
    """What entering summer results did: how many were stored, the transcripts withdrawn
    (drafts never issued, to be prepared again) and the issued ones that must be cancelled
    and re-issued (:func:`core.transcripts.workflow.cancel_and_reissue`), by transcript id."""

    stored: int
    withdrawn: list[int] = field(default_factory=list)
    to_reissue: list[int] = field(default_factory=list)


def _year_rows(session: Session, student_ids: list[int], year_id: int):
    rows: dict[int, list] = {s: [] for s in student_ids}
    for subject, result in session.execute(
            select(Subject, SubjectResult).join(SubjectResult, SubjectResult.subject_id == Subject.id)
            .where(SubjectResult.student_id.in_(student_ids), SubjectResult.school_year_id == year_id)
            .order_by(SubjectResult.student_id, Subject.code)):
        rows[result.student_id].append((subject, result))
    evaluations = {e.student_id: e for e in session.scalars(select(StudentEvaluation).where(
        StudentEvaluation.student_id.in_(student_ids), StudentEvaluation.school_year_id == year_id))}
    return rows, evaluations


def _after_summer(session: Session, actor: Actor, klass: SchoolClass, year_id: int,
                  student_ids: list[int]) -> tuple[list[int], list[int]]:
    """The transcripts the summer results make wrong (:func:`summer.transcript_after_summer`):
    drafts are withdrawn (deleted: never issued, nothing to keep; prepared again with the
    results), issued ones listed for cancel and re-issue."""
    withdrawn, to_reissue = [], []
    for row in session.scalars(select(Transcript).where(
            Transcript.student_id.in_(student_ids), Transcript.school_year_id == year_id)
            .order_by(Transcript.id).with_for_update()):
        action = summer.transcript_after_summer(row.status)
        if action == summer.TranscriptAction.REDRAFT:
            withdrawn.append(row.id)
            session.delete(row)
        elif action == summer.TranscriptAction.CANCEL_AND_REISSUE:
            to_reissue.append(row.id)
    if withdrawn:
        audit.record(session, actor, "transcript.withdraw", "school_class", klass.id, school_id=klass.school_id,
                     after={"withdrawn": withdrawn, "why": "kết quả sau kì nghỉ hè"})
    return withdrawn, to_reissue


def _check_summer(session: Session, klass: SchoolClass, year_id: int, student_ids: list[int],
                  retests: dict[int, dict[str, object]], conducts: dict[int, object]) -> None:
    """Each student's year decided again with the new summer results (and those already in):
    refused, naming the student, when the rule refuses (not eligible, an impossible value)."""
    if level_of_grade(klass.grade) == SchoolLevel.PRIMARY:
        raise RuleViolation("primary pupils have no summer re-assessment (Thông tư 27/2020/TT-BGDĐT): a pupil who "
                            "has not completed the grade gets a supplementary assessment",
                            message_vi="Tiểu học không kiểm tra lại trong hè (Thông tư 27/2020/TT-BGDĐT): học sinh "
                                       "chưa hoàn thành được đánh giá bổ sung")
    rows, evaluations = _year_rows(session, student_ids, year_id)
    facts = student_facts(session, student_ids, session.get(SchoolYear, year_id))
    for student_id in student_ids:
        try:
            evaluation = evaluations.get(student_id)
            if evaluation is None or not (evaluation.conduct_term1 and evaluation.conduct_term2):
                raise InvalidAssessment("the year's conduct is entered before any summer result",
                                        "phải có kết quả rèn luyện cả năm trước kết quả sau kì nghỉ hè",
                                        article=summer.ART_13, value=None, field=(("year conduct", "rèn luyện cả năm"),))
            record = secondary_year(rows[student_id], evaluation, facts[student_id])
            done = {s.code: r.summer_value for s, r in rows[student_id] if r.summer_value is not None}
            summer.year_after_summer(record.conduct, record.scored, record.comments,
                                     {**done, **retests.get(student_id, {})}, record.absences,
                                     reassessed_conduct=conducts.get(student_id, evaluation.conduct_summer))
        except InvalidAssessment as err:
            raise err.located(student=student_id) from None


def enter_summer_results(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int,
                         results: dict[int, object]) -> SummerEffect:
    """The subject teacher enters the summer re-assessment of their subject (kiểm tra, đánh giá
    lại, TT22/2021 Art. 14): for each student, a score (scored subject) or Đạt/Chưa đạt. Only
    a student whose conduct (re-assessed, if trained) is Đạt or better and whose year learning
    is Chưa đạt, in a subject below 5.0 or at Chưa đạt; anything else refuses the whole request
    and stores nothing. The result replaces the subject's year result for the learning level and
    promotion; the transcripts of the year are withdrawn or listed for re-issue (:class:`SummerEffect`)."""
    with db.transaction() as session:
        klass = class_in_scope(session, actor, class_id)
        subject = _teaches(session, actor, klass, subject_id, year_id)
        if not isinstance(results, dict):
            raise InvalidAssessment("results are given student by student", "kết quả ghi theo từng học sinh",
                                    article=summer.ART_14, value=type(results).__name__)
        students = _student_ids(session, class_id, year_id, results)
        normal = {}
        for student_id, value in results.items():
            try:
                checked = summer.retest_value(subject.name, value, comment_only=subject.comment_only)
            except InvalidAssessment as err:
                raise err.located(student=student_id) from None
            normal[student_id] = ("Đạt" if checked else "Chưa đạt") if subject.comment_only else str(checked)
        _check_summer(session, klass, year_id, students, {s: {subject.code: v} for s, v in normal.items()}, {})
        rows = {r.student_id: r for r in session.scalars(select(SubjectResult).where(
            SubjectResult.student_id.in_(students), SubjectResult.subject_id == subject_id,
            SubjectResult.school_year_id == year_id))}
        for student_id, value in normal.items():
            rows[student_id].summer_value = value
        withdrawn, to_reissue = _after_summer(session, actor, klass, year_id, students)
        audit.record(session, actor, "gradebook.summer_retest", "subject_result", f"{class_id}/{subject_id}",
                     school_id=klass.school_id, after={"students": len(normal), "to_reissue": to_reissue})
        return SummerEffect(len(normal), withdrawn, to_reissue)


def enter_summer_conduct(db: Database, actor: Actor, class_id: int, year_id: int,
                         conducts: dict[int, object]) -> SummerEffect:
    """The homeroom teacher enters the year's conduct re-assessed after summer training
    (TT22/2021 Art. 13.2): only for a student whose year conduct was Chưa đạt. It replaces the
    year's conduct for promotion; the transcripts are withdrawn or listed for re-issue."""
    with db.transaction() as session:
        klass = class_in_scope(session, actor, class_id)
        if klass.homeroom_teacher_id != actor.staff_id:
            raise PermissionDenied("only the homeroom teacher enters the conduct after summer training",
                                   message_vi="Chỉ giáo viên chủ nhiệm nhập kết quả rèn luyện sau rèn luyện hè")
        if not isinstance(conducts, dict):
            raise InvalidAssessment("results are given student by student", "kết quả ghi theo từng học sinh",
                                    article=summer.ART_13, value=type(conducts).__name__)
        students = _student_ids(session, class_id, year_id, conducts)
        normal = {}
        for student_id, value in conducts.items():
            try:
                normal[student_id] = tt22.level(value, (("re-assessed conduct", "rèn luyện đánh giá lại"),),
                                                article=summer.ART_13).value
            except InvalidAssessment as err:
                raise err.located(student=student_id) from None
        _check_summer(session, klass, year_id, students, {}, normal)
        for row in session.scalars(select(StudentEvaluation).where(
                StudentEvaluation.student_id.in_(students), StudentEvaluation.school_year_id == year_id)):
            row.conduct_summer = normal[row.student_id]
        withdrawn, to_reissue = _after_summer(session, actor, klass, year_id, students)
        audit.record(session, actor, "gradebook.summer_conduct", "student_evaluation", class_id,
                     school_id=klass.school_id, after={"students": len(normal), "to_reissue": to_reissue})
        return SummerEffect(len(normal), withdrawn, to_reissue)


# ---------------------------------------------------------------- the principal's decisions
def _decision(kind: DecisionKind, subject: Subject | None, staff_id: int, document_no, decided_on, terms, reason,
              outcome) -> Decision:
    """A decision checked by the rule of its kind."""
    code, name = (subject.code, subject.name) if subject else ("", "")
    if kind == DecisionKind.PRACTICAL_EXEMPTION:
        return special.practical_exemption(code, name, reason=reason, document_no=document_no, decided_on=decided_on,
                                           decided_by=staff_id, terms=terms)
    if kind == DecisionKind.INDIVIDUAL_PLAN:
        return special.individual_plan(code, name, document_no=document_no, decided_on=decided_on,
                                       decided_by=staff_id, terms=terms)
    if kind == DecisionKind.PROMOTION:
        return principal_promotion(outcome, document_no=document_no, decided_on=decided_on, decided_by=staff_id)
    return tt27.supplementary_assessment(outcome, decided_on=decided_on, decided_by=staff_id)


def record_decision(db: Database, actor: Actor, student_id: int, year_id: int, kind, *, document_no: str,
                    decided_on: dt.date, subject_id: int | None = None, terms=(1, 2), reason: str | None = None,
                    outcome: str | None = None) -> int:
    """Record a decision on how a student is assessed or promoted, checked by its rule: an
    exemption from the practical part of GDTC or GDQP-AN (TT22/2021 Art. 10), a subject assessed
    against an individual education plan (Art. 11), the principal's promotion decision (TT22
    Art. 12; TT27/2020 Art. 11) — by the school's principal — or a primary pupil's
    supplementary assessment (TT27 Art. 11) — by the class's homeroom teacher."""
    try:
        kind = DecisionKind(kind)
    except ValueError:
        raise InvalidAssessment("a decision is an exemption, an individual plan, a promotion or a supplementary "
                                "assessment", "quyết định là miễn thực hành, kế hoạch giáo dục cá nhân, lên lớp hoặc "
                                "đánh giá bổ sung", article=special.ART_10, value=kind, student=student_id) from None
    with db.transaction() as session:
        enrolment = session.scalar(select(Enrolment.class_id).join(SchoolClass, SchoolClass.id == Enrolment.class_id)
                                   .where(Enrolment.student_id == student_id, SchoolClass.school_year_id == year_id)
                                   .order_by(Enrolment.valid_from.desc()))
        if enrolment is None:
            raise NotFound(f"student {student_id} is in no class this year",
                           message_vi=f"Học sinh {student_id} không thuộc lớp nào trong năm học này")
        klass = class_in_scope(session, actor, enrolment)
        if kind == DecisionKind.SUPPLEMENTARY:
            if klass.homeroom_teacher_id != actor.staff_id:
                raise PermissionDenied("the homeroom teacher records the supplementary assessment",
                                       message_vi="Giáo viên chủ nhiệm ghi kết quả đánh giá bổ sung")
        else:
            require(actor, Permission.ISSUE_TRANSCRIPT, klass.school_id)
            if actor.role != Role.PRINCIPAL or actor.staff_id is None:
                raise PermissionDenied("the principal takes this decision",
                                       message_vi="Quyết định này do hiệu trưởng ký")
        per_subject = kind in (DecisionKind.PRACTICAL_EXEMPTION, DecisionKind.INDIVIDUAL_PLAN)
        if (subject_id is not None) != per_subject:
            raise InvalidAssessment("an exemption or an individual plan names its subject; a promotion or a "
                                    "supplementary assessment concerns the whole year",
                                    "quyết định miễn thực hành, kế hoạch giáo dục cá nhân ghi rõ môn; quyết định "
                                    "lên lớp, đánh giá bổ sung áp dụng cho cả năm học", article=special.ART_10,
                                    value=subject_id, field=(("subject", "môn học"),), student=student_id)
        subject = session.get(Subject, subject_id) if subject_id is not None else None
        if subject_id is not None and subject is None:
            raise NotFound(f"no subject {subject_id}", message_vi=f"Không có môn học {subject_id}")
        try:
            decision = _decision(kind, subject, actor.staff_id, document_no, decided_on, terms, reason, outcome)
        except InvalidAssessment as err:
            raise err.located(student=student_id) from None
        row = AssessmentDecision(student_id=student_id, school_id=klass.school_id, school_year_id=year_id,
                                 kind=decision.kind.value, subject_id=subject_id,
                                 terms=",".join(map(str, decision.terms)), reason=decision.reason,
                                 outcome=decision.outcome, document_no=decision.document_no,
                                 decided_on=decision.decided_on, decided_by=decision.decided_by,
                                 recorded_at=clock.now())
        session.add(row)
        session.flush()
        audit.record(session, actor, "gradebook.decision", "assessment_decision", row.id, school_id=klass.school_id,
                     after={"kind": decision.kind.value, "student": student_id, "document_no": decision.document_no})
        return row.id


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


def confirm_subject(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int, signer=None,
                    at: dt.datetime | None = None, *, signature: bytes | None = None, trust=None) -> None:
    """The subject teacher signs their confirmation of the class's results (xác nhận điểm):
    with a ``signer`` the service holds, or — a teacher's app — with ``signature``, a detached
    CMS over :func:`confirmation_bytes` made on the device, verified against ``trust`` at the
    server's time ``at`` (never the time the device claims). Either way the certificate must be
    registered to the teacher then, and the results are frozen from then on. The same signature
    sent again (an app's retry) changes nothing and is not an error; another one is refused."""
    at = at or clock.now()
    if (signer is None) == (signature is None) or (signature is not None and trust is None):
        raise ValueError("confirm with a signer, or with a signature and the trust store")
    with db.transaction() as session:
        klass = class_in_scope(session, actor, class_id)
        teaches = session.scalar(select(TeachingAssignment.id).where(
            TeachingAssignment.class_id == class_id, TeachingAssignment.subject_id == subject_id,
            TeachingAssignment.teacher_id == actor.staff_id))
        if not teaches:
            raise PermissionDenied("only the class's teacher of this subject confirms its results",
                                   message_vi="Chỉ giáo viên dạy môn này ở lớp được xác nhận điểm")
        done = session.scalar(select(SubjectConfirmation).where(
            SubjectConfirmation.class_id == class_id, SubjectConfirmation.subject_id == subject_id,
            SubjectConfirmation.school_year_id == year_id))
        if done is not None and signature is not None and done.signature == signature \
                and done.teacher_id == actor.staff_id:
            return  # the app's retry of the confirmation it made (its answer was lost): nothing to do again
        if done is not None:
            raise RuleViolation("these results are already confirmed", message_vi="Điểm môn này đã được xác nhận")
        data = confirmation_bytes(session, class_id, subject_id, year_id)
        if data is None:
            raise RuleViolation("there are no results to confirm", message_vi="Chưa có điểm nào để xác nhận")
        if signature is None:
            fingerprint, signature = signer.fingerprint, signer.sign_detached(data, at)
        else:
            result = verify_detached(data, signature, trust, at=at)
            if not result.valid:
                raise SignatureRejected(result.sub_indication or result.indication,
                                        f"the confirmation's signature does not verify: {result.message}",
                                        message_vi="Chữ ký xác nhận điểm không hợp lệ (sai nội dung, sai khóa "
                                                   "hoặc chứng thư số không được tin cậy)")
            fingerprint = result.signer_fingerprint
        registered_certificate(session, actor.staff_id, fingerprint, at)
        session.add(SubjectConfirmation(class_id=class_id, subject_id=subject_id, school_year_id=year_id,
                                        teacher_id=actor.staff_id, confirmed_at=at, results_hash=sha256_hex(data),
                                        signature=signature))
        audit.record(session, actor, "gradebook.confirm", "subject_confirmation", f"{class_id}/{subject_id}",
                     school_id=klass.school_id, after={"students": len(json.loads(data)["results"])})


def subject_sheet(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int) -> dict:
    """The subject teacher's sheet (sổ điểm môn) for an app: every student of the class with
    what is entered (terms, year result, comment), who has nothing yet, whether it is confirmed,
    and the bytes a confirmation signs (base64 in the API)."""
    with db.reading() as session:
        return _sheet_in(session, actor, class_id, subject_id, year_id)


def enter_and_show(db: Database, actor: Actor, class_id: int, subject_id: int, year_id: int,
                   results: dict[int, dict], comments: dict[int, str] | None = None) -> dict:
    """:func:`enter_subject_results`, then the sheet as it now stands, in one transaction (the
    API's answer to a teacher's app)."""
    sheet: dict = {}

    def show(klass: SchoolClass, subject: Subject) -> None:  # the class and the teacher already checked
        session.flush()
        sheet.update(_sheet_of(session, klass, subject, year_id))

    with db.transaction() as session:
        enter_in(session, actor, class_id, subject_id, year_id, results, comments, before_audit=show)
    return sheet


def _sheet_in(session: Session, actor: Actor, class_id: int, subject_id: int, year_id: int) -> dict:
    klass = class_in_scope(session, actor, class_id)
    return _sheet_of(session, klass, _teaches(session, actor, klass, subject_id, year_id), year_id)


def _sheet_of(session: Session, klass: SchoolClass, subject: Subject, year_id: int) -> dict:
    """The sheet of a class's subject whose reader was checked (:func:`_sheet_in`)."""
    class_id, subject_id = klass.id, subject.id
    students = session.execute(select(Student.id, Student.full_name).join(
        Enrolment, Enrolment.student_id == Student.id).where(Enrolment.class_id == class_id)
        .order_by(Student.full_name, Student.id)).all()
    rows = {r.student_id: r for r in session.scalars(select(SubjectResult).where(
        SubjectResult.class_id == class_id, SubjectResult.subject_id == subject_id,
        SubjectResult.school_year_id == year_id))}
    confirmed = session.scalar(select(SubjectConfirmation.confirmed_at).where(
        SubjectConfirmation.class_id == class_id, SubjectConfirmation.subject_id == subject_id,
        SubjectConfirmation.school_year_id == year_id))
    data = _confirmation_data(class_id, subject_id, year_id,
                              sorted((r.student_id, r.year_value) for r in rows.values()))
    return {"class_id": class_id, "subject_id": subject_id, "subject": subject.name, "year_id": year_id,
            "confirmed_at": confirmed, "to_confirm": data,
            "students": [{"student_id": sid, "full_name": name,
                          "term1": rows[sid].term1 if sid in rows else None,
                          "term2": rows[sid].term2 if sid in rows else None,
                          "year_value": rows[sid].year_value if sid in rows else None,
                          "comment": rows[sid].comment if sid in rows else None} for sid, name in students],
            "missing": [sid for sid, _ in students if sid not in rows]}


def confirmation_bytes(session: Session, class_id: int, subject_id: int, year_id: int) -> bytes | None:
    """What a subject teacher signs to confirm a class's results: the canonical JSON of every
    student's year result in the subject (None when there is none)."""
    results = session.execute(select(SubjectResult.student_id, SubjectResult.year_value).where(
        SubjectResult.class_id == class_id, SubjectResult.subject_id == subject_id,
        SubjectResult.school_year_id == year_id).order_by(SubjectResult.student_id)).all()
    return _confirmation_data(class_id, subject_id, year_id, results)


def _confirmation_data(class_id: int, subject_id: int, year_id: int, results) -> bytes | None:
    """:func:`confirmation_bytes` of ``results``, the (student, year value) pairs by student."""
    if not results:
        return None
    return canonical_json({"class": class_id, "subject": subject_id, "year": year_id,
                           "results": [[s, v] for s, v in results]})


def missing_confirmations(session: Session, class_id: int, year_id: int) -> list[str]:
    """Subjects of the class whose teacher has not confirmed (the blocking step)."""
    taught = session.execute(select(Subject.id, Subject.name, Staff.full_name)
                             .join(TeachingAssignment, TeachingAssignment.subject_id == Subject.id)
                             .join(Staff, Staff.id == TeachingAssignment.teacher_id)
                             .where(TeachingAssignment.class_id == class_id)).all()
    done = set(session.scalars(select(SubjectConfirmation.subject_id).where(
        SubjectConfirmation.class_id == class_id, SubjectConfirmation.school_year_id == year_id)))
    return [f"{name} ({teacher})" for sid, name, teacher in taught if sid not in done]
