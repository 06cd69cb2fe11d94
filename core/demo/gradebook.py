"""Generated gradebooks (sổ điểm) and transcripts (học bạ) for the demo and the benchmarks,
made through the real services and the real keys: each subject teacher enters and confirms
their results, the homeroom teacher enters the evaluations, prepares and signs, the
principal signs the batch and the school's seal issues it.

Schools stop at different steps of the workflow (:data:`STAGES`), so the console's issuance
page and blocking steps have something to show: some schools issued everything, some wait
for the principal, for the homeroom teacher or for a subject teacher's confirmation.
"""
from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from core.access.authz import actor_for
from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import SchoolLevel, StaffRole
from core.school.rules.curriculum import level_of_grade
from core.signatures import KeyStore
from core.storage.db import Database
from core.storage.models import (
    CurriculumLoad,
    Enrolment,
    SchoolClass,
    SchoolYear,
    StaffAssignment,
    Subject,
    SubjectConfirmation,
    TeachingAssignment,
    Transcript,
    UserAccount,
)
from core.transcripts import gradebook, workflow
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27

#: How far each school gets, in turn: issued, waiting for the principal, for the homeroom
#: teacher's signature, for one subject teacher's confirmation.
STAGES = ("issued", "homeroom_signed", "confirmed", "entered")
#: The stage "gradebook" stops after the results are entered, before any confirmation.
COMMENTS = ("Tiến bộ tốt, cần phát huy", "Nắm vững kiến thức cơ bản", "Cần chú ý hơn khi làm bài",
            "Tích cực phát biểu xây dựng bài", "Hoàn thành tốt các nhiệm vụ học tập")
HOMEROOM_COMMENTS = ("Chăm ngoan, học tốt", "Lễ phép, hòa đồng với bạn bè", "Cần mạnh dạn hơn trong học tập",
                     "Có ý thức tự giác, trách nhiệm")


@dataclass
class GradebookReport:
    classes: int = 0
    students: int = 0
    confirmations: int = 0
    blocked: int = 0   # confirmations refused (expired or revoked certificate)
    renewed: int = 0   # certificates renewed first (renew_certificates=True)
    transcripts: int = 0
    statuses: Counter = field(default_factory=Counter)
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        return f"gradebooks: {self.classes} classes, {self.students} students; transcripts: {parts or 'none'}"


def _scores(rng: random.Random, skill: float, n: int) -> list[str]:
    return [f"{min(10.0, max(2.0, rng.gauss(skill, 1.1))):.1f}".replace(".0", "") for _ in range(n)]


def subject_results(rng: random.Random, grade: int, subject: Subject, periods: int,
                    students: list[int], skill: dict[int, float]) -> dict[int, dict]:
    """Plausible results of one subject for a class, in the shape the gradebook service takes."""
    if level_of_grade(grade) == SchoolLevel.PRIMARY:
        tested = subject.code in tt27.subjects_with_tests(grade)
        out = {}
        for s in students:
            test = min(10, max(3, round(rng.gauss(skill[s], 1.2)))) if tested else None
            rating = "T" if skill[s] >= 8 else "H" if skill[s] >= 5 else "C"
            out[s] = {"rating": rating, "test": test}
        return out
    needed = tt22.regular_assessments_per_term(periods)
    if subject.comment_only:
        assessments = tt22.COMMENT_REGULAR_PER_TERM + tt22.PERIODIC_PER_TERM  # TT22/2021 Art. 6, 7
        return {s: {"term1": [rng.random() > 0.03 for _ in range(assessments)],
                    "term2": [rng.random() > 0.02 for _ in range(assessments)]} for s in students}
    return {s: {term: {"regular": _scores(rng, skill[s], needed), "mid": _scores(rng, skill[s], 1)[0],
                       "final": _scores(rng, skill[s], 1)[0]} for term in ("term1", "term2")} for s in students}


def evaluations(rng: random.Random, grade: int, students: list[int], skill: dict[int, float]) -> dict[int, dict]:
    """The homeroom teacher's part: conduct (secondary) or qualities and competences (primary)."""
    out = {}
    for s in students:
        # the sessions absent come from the logbook (TT22/2021 Art. 12): the service counts them
        row = {"comment": rng.choice(HOMEROOM_COMMENTS)}
        if level_of_grade(grade) == SchoolLevel.PRIMARY:
            level = "T" if skill[s] >= 7.5 else "Đ" if skill[s] >= 4.5 else "C"
            row["qualities"] = {q: level for q in tt27.QUALITIES + tt27.COMPETENCES}
            row["nominated"] = skill[s] >= 8.5 and rng.random() < 0.5
        else:
            conduct = ["Tốt", "Tốt", "Khá", "Đạt"][min(3, int(rng.expovariate(1.2)))]
            row["conduct_term1"], row["conduct_term2"] = conduct, "Tốt" if conduct == "Khá" else conduct
        out[s] = row
    return out


def _renew_certificates(db: Database, pki_dir: Path, school_ids: set[int]) -> int:
    """A new certificate from the demo CA, registered, for every staff member of ``school_ids``
    without a valid one now (expired mid-year or revoked by the generator)."""
    from core.access.authz import SYSTEM
    from core.kernel import clock
    from core.signatures import DemoPKI
    from core.signatures.certificates import register_certificate, valid_at
    from core.storage.models import Certificate, Staff

    now = clock.now()
    with db.reading() as session:
        valid = set(session.scalars(select(Certificate.staff_id).where(Certificate.staff_id.is_not(None),
                                                                       valid_at(now))))
        staff = session.execute(select(Staff.id, Staff.full_name).where(Staff.school_id.in_(school_ids))).all()
    pki = DemoPKI.load(pki_dir)
    renewed = 0
    for staff_id, name in staff:
        if staff_id not in valid:
            cred = pki.issue_personal(f"staff-{staff_id}", name, not_before=now.replace(microsecond=0)
                                      - dt.timedelta(days=1))
            register_certificate(db, SYSTEM, cred.cert_der, staff_id=staff_id)
            renewed += 1
    return renewed


def generate_transcripts(db: Database, *, pki_dir: Path, school_ids: list[int] | None = None,
                         classes_per_school: int = 2, stages: tuple[str, ...] = STAGES, seed: int = 2025,
                         fill: bool = True, renew_certificates: bool = False,
                         progress: bool = False) -> GradebookReport:
    """Fill the gradebooks of the top-grade ``classes_per_school`` classes of each school and take
    their transcripts to the school's stage (``stages`` in turn; ``fill=False`` takes gradebooks
    filled by an earlier call with the stage "gradebook" on from there). With
    ``renew_certificates`` a teacher whose certificate expired or was revoked first gets a new
    one, registered as an administrator would; otherwise their classes wait for them (a
    blocking step the console shows). Every step runs through
    :mod:`core.transcripts.gradebook` and :mod:`core.transcripts.workflow` as the person whose step it is, signing with their key."""
    rng = random.Random(seed)
    report = GradebookReport()
    keys = KeyStore(Path(pki_dir))
    with db.reading() as session:
        year_id = session.scalar(select(SchoolYear.id).order_by(SchoolYear.start_date.desc()))
        all_classes = session.execute(select(SchoolClass.id, SchoolClass.school_id, SchoolClass.grade,
                                             SchoolClass.homeroom_teacher_id)
                                      .order_by(SchoolClass.school_id, SchoolClass.grade.desc(),
                                                SchoolClass.name)).all()
        users = dict(session.execute(select(UserAccount.staff_id, UserAccount.id)
                                     .where(UserAccount.staff_id.is_not(None))).all())
        principals = dict(session.execute(select(StaffAssignment.school_id, StaffAssignment.staff_id).where(
            StaffAssignment.role == StaffRole.PRINCIPAL, StaffAssignment.valid_to.is_(None))).all())
        actors = {staff: actor_for(session, user) for staff, user in users.items()}
    by_school: dict[int, list] = defaultdict(list)
    for row in all_classes:
        if (school_ids is None or row.school_id in school_ids) and len(by_school[row.school_id]) < classes_per_school:
            by_school[row.school_id].append(row)
    if renew_certificates:
        report.renewed = _renew_certificates(db, Path(pki_dir), set(by_school))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=sum(map(len, by_school.values())), desc="Sổ điểm và học bạ", unit="lớp")
    for n, (school_id, classes) in enumerate(sorted(by_school.items())):
        stage = stages[n % len(stages)]
        for class_id, _, grade, homeroom in classes:
            t0 = time.perf_counter()
            with db.reading() as session:
                students = list(session.scalars(select(Enrolment.student_id).where(
                    Enrolment.class_id == class_id, Enrolment.valid_to.is_(None)).order_by(Enrolment.student_id)))
                taught = session.execute(select(Subject, TeachingAssignment.teacher_id, CurriculumLoad.periods_per_year)
                                         .join(TeachingAssignment, TeachingAssignment.subject_id == Subject.id)
                                         .outerjoin(CurriculumLoad, (CurriculumLoad.subject_id == Subject.id)
                                                    & (CurriculumLoad.grade == grade))
                                         .where(TeachingAssignment.class_id == class_id,
                                                TeachingAssignment.valid_to.is_(None))
                                         .order_by(Subject.code)).all()
            skill = {s: min(9.8, max(3.0, rng.gauss(7.2, 1.3))) for s in students}
            for subject, teacher, periods in taught if fill else ():
                gradebook.enter_subject_results(db, actors[teacher], class_id, subject.id, year_id,
                                          subject_results(rng, grade, subject, periods or 35, students, skill),
                                          {s: rng.choice(COMMENTS) for s in students})
            if fill:
                gradebook.enter_evaluation(db, actors[homeroom], class_id, year_id, evaluations(rng, grade, students, skill))
            report.timings["gradebook"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            # at the "entered" stage the last subject's teacher has not confirmed yet
            class_stage = stage
            confirming = taught[:-1] if stage == "entered" else [] if stage == "gradebook" else taught
            with db.reading() as session:
                done = set(session.scalars(select(SubjectConfirmation.subject_id).where(
                    SubjectConfirmation.class_id == class_id, SubjectConfirmation.school_year_id == year_id)))
            for subject, teacher, _ in confirming:
                if subject.id in done:
                    continue
                try:
                    gradebook.confirm_subject(db, actors[teacher], class_id, subject.id, year_id,
                                        keys.signer_for(f"staff-{teacher}"))
                    report.confirmations += 1
                except RuleViolation:  # their certificate expired or was revoked: the class waits
                    class_stage = "entered"
                    report.blocked += 1
            report.timings["confirm"] += time.perf_counter() - t0
            report.classes += 1
            report.students += len(students)
            if class_stage in ("issued", "homeroom_signed", "confirmed"):
                t0 = time.perf_counter()
                made = workflow.prepare_transcripts(db, actors[homeroom], class_id, year_id)
                report.transcripts += len(made)
                report.timings["prepare"] += time.perf_counter() - t0
                if class_stage in ("issued", "homeroom_signed"):
                    t0 = time.perf_counter()
                    workflow.homeroom_sign_class(db, actors[homeroom], class_id, year_id,
                                            keys.signer_for(f"staff-{homeroom}"))
                    report.timings["homeroom_sign"] += time.perf_counter() - t0
            if bar:
                bar.update(1)
        if stage == "issued" and school_id in principals:
            t0 = time.perf_counter()
            head = principals[school_id]
            workflow.principal_sign_batch(db, actors[head], school_id, keys.signer_for(f"staff-{head}"),
                                     keys.signer_for(f"school-{school_id}"))
            report.timings["principal_sign"] += time.perf_counter() - t0
    if bar:
        bar.close()
    with db.reading() as session:
        report.statuses.update({status.value: count for status, count in session.execute(
            select(Transcript.status, func.count()).group_by(Transcript.status))})
    report.timings = dict(report.timings)
    return report
