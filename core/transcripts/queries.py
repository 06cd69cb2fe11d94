"""Read models of transcripts for the console: lists by status, code or name and the classes
with transcripts, paged in the database and scoped to the caller."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import case, func, or_, select

from core.access.authz import Actor, Permission, require
from core.kernel.paging import PAGE
from core.kernel.vocabulary import (
    TranscriptStatus,
)
from core.storage.db import Database
from core.storage.models import (
    School,
    SchoolClass,
    Student,
    Transcript,
)

TRANSCRIPT_STATUS_VI = {"draft": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                        "cancelled": "Đã hủy"}


def transcript_list(db: Database, actor: Actor, *, school_id: int | None = None,
                    status: TranscriptStatus | None = None, search: str | None = None, page: int = 0,
                    page_size: int = PAGE) -> pd.DataFrame:
    """Transcripts in scope (newest version first per class), filtered by status and by a
    verification code or a student's name, paged in the database."""
    require(actor, Permission.VIEW)
    T = Transcript
    stmt = (select(T.id.label("transcript_id"), T.verification_code.label("code"),
                   Student.full_name.label("student"), SchoolClass.name.label("class_name"),
                   School.name.label("school_name"), T.status, T.version, T.issued_at)
            .join(Student, Student.id == T.student_id).join(SchoolClass, SchoolClass.id == T.class_id)
            .join(School, School.id == T.school_id).where(actor.school_filter(T.school_id)))
    if school_id is not None:
        stmt = stmt.where(T.school_id == school_id)
    if status is not None:
        stmt = stmt.where(T.status == status)
    if search and search.strip():
        term = search.strip()
        stmt = stmt.where(or_(T.verification_code == term.upper(), Student.full_name.like(f"%{term}%")))
    stmt = stmt.order_by(School.code, SchoolClass.name, Student.full_name, T.version.desc()) \
        .limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: TRANSCRIPT_STATUS_VI.get(getattr(s, "value", s), s))
    return frame


def transcript_classes(db: Database, actor: Actor, school_id: int) -> pd.DataFrame:
    """Per class of a school: how many transcripts are drafts, signed by the homeroom teacher
    (waiting for the principal) and issued; for the principal's batch-signing form."""
    require(actor, Permission.VIEW, school_id)
    T = Transcript

    def n(status):
        return func.sum(case((T.status == status, 1), else_=0))
    stmt = (select(SchoolClass.id.label("class_id"), SchoolClass.name.label("class_name"), SchoolClass.grade,
                   n(TranscriptStatus.DRAFT).label("drafts"),
                   n(TranscriptStatus.HOMEROOM_SIGNED).label("homeroom_signed"),
                   n(TranscriptStatus.ISSUED).label("issued"))
            .join(T, T.class_id == SchoolClass.id).where(SchoolClass.school_id == school_id)
            .group_by(SchoolClass.id, SchoolClass.name, SchoolClass.grade)
            .order_by(SchoolClass.grade, SchoolClass.name))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    for col in ("drafts", "homeroom_signed", "issued"):
        frame[col] = frame[col].fillna(0).astype("int64")
    return frame
