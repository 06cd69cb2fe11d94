"""Issuance figures (tiến độ cấp học bạ): counts by workflow step per district, school or grade,
the deadlines, and what holds up each unissued transcript and who must act."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import and_, case, func, select, true

from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import NotFound
from core.kernel.vocabulary import StaffRole, TranscriptStatus
from core.storage.db import Database
from core.storage.models import (
    District,
    ReceivedTranscript,
    School,
    SchoolClass,
    Staff,
    StaffAssignment,
    SubjectConfirmation,
    SubjectResult,
    TeachingAssignment,
    Transcript,
)
from core.transcripts.gradebook import missing_confirmations
from core.transcripts.rules.deadlines import issuance_deadline


def issuance_figures(db: Database, actor: Actor, level: str = "school", school_year_id: int | None = None,
                     as_of: dt.date | None = None) -> pd.DataFrame:
    """Per district, school or grade: students, students whose class's results every subject
    teacher has confirmed, transcripts by workflow status (drafts, signed by the homeroom
    teacher, issued = signed by the principal and sealed), cancelled, students who arrived with
    a transferred transcript, percentage issued (of students with results), and whether the deadline has passed (HCMC primary học bạ số plan 2024-2025: grade 5
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
        raise NotFound(f"no school {school_id}", message_vi=f"Không có trường {school_id}")
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
