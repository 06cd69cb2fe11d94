"""Read models for the console and notebooks: paged lists aggregated or filtered in the
database and scoped to the caller (never whole tables to the browser)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import and_, case, func, or_, select

from core import audit, clock
from core.authz import Actor, Permission, require
from core.storage.db import Database
from core.storage.models import (
    AuditEvent, Certificate, CertificateKind, EntryStatus, LogbookEntry, Role, School, SchoolClass, SchoolWeek,
    Staff, Subject, UserAccount, WeekClose, WeekCloseStatus,
)

PAGE = 50


def missed_lessons(db: Database, actor: Actor, *, school_id: int | None = None, week_id: int | None = None,
                   include_late: bool = True, page: int = 0, page_size: int = PAGE,
                   as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Unsigned (missed) and late periods with the teaching hour each one cost, newest first."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    statuses = [EntryStatus.MISSED] + ([EntryStatus.LATE] if include_late else [])
    unsigned_past = and_(E.status == EntryStatus.PENDING, E.day < as_of.date())
    stmt = (select(E.id.label("entry_id"), School.name.label("school_name"), SchoolClass.name.label("class_name"),
                   E.day, E.period_no, Subject.name.label("subject"), Staff.full_name.label("teacher"),
                   E.status, E.signed_at, E.period_end)
            .join(School, School.id == E.school_id).join(SchoolClass, SchoolClass.id == E.class_id)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), or_(E.status.in_(statuses), unsigned_past)))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    if week_id is not None:
        stmt = stmt.where(E.week_id == week_id)
    stmt = stmt.order_by(E.day.desc(), E.period_no, E.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: "Ký trễ" if s in ("late", EntryStatus.LATE) else "Không ký")
    frame["minutes_late"] = ((pd.to_datetime(frame["signed_at"]) - pd.to_datetime(frame["period_end"]))
                             .dt.total_seconds() / 60).round(1)
    frame["hours_lost"] = 1
    return frame.drop(columns=["period_end"])


def week_closing(db: Database, actor: Actor, *, school_id: int | None = None, page: int = 0,
                 page_size: int = PAGE) -> pd.DataFrame:
    """Class-weeks and their closing state: open, closed on time, closed late, reopened."""
    require(actor, Permission.VIEW)
    E, W = LogbookEntry, SchoolWeek
    weeks = (select(E.class_id.label("cid"), E.week_id.label("wid")).where(actor.school_filter(E.school_id))
             .group_by(E.class_id, E.week_id).having(func.max(E.day) < clock.now().date()))
    if school_id is not None:
        weeks = weeks.where(E.school_id == school_id)
    weeks = weeks.subquery()
    stmt = (select(weeks.c.cid.label("class_id"), weeks.c.wid.label("week_id"), School.name.label("school_name"),
                   SchoolClass.name.label("class_name"), W.number.label("week"),
                   W.monday, WeekClose.status, WeekClose.closed_on_time, WeekClose.closed_at, WeekClose.reopen_count)
            .select_from(weeks).join(SchoolClass, SchoolClass.id == weeks.c.cid)
            .join(School, School.id == SchoolClass.school_id).join(W, W.id == weeks.c.wid)
            .outerjoin(WeekClose, and_(WeekClose.class_id == weeks.c.cid, WeekClose.week_id == weeks.c.wid))
            .order_by(W.number.desc(), School.name, SchoolClass.name).limit(page_size).offset(page * page_size))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())

    def state(row):
        if row["status"] in (WeekCloseStatus.CLOSED.value, WeekCloseStatus.CLOSED):
            label = "Đã chốt đúng hạn" if row["closed_on_time"] else "Đã chốt trễ"
            return label + (" (đã mở lại)" if row["reopen_count"] else "")
        if row["status"] in (WeekCloseStatus.REOPENED.value, WeekCloseStatus.REOPENED):
            return "Đang mở lại"
        return "Chưa chốt"
    frame["state"] = frame.apply(state, axis=1) if not frame.empty else []
    return frame


def certificate_list(db: Database, actor: Actor, *, expiring_within_days: int | None = None,
                     page: int = 0, page_size: int = PAGE) -> pd.DataFrame:
    """Registered certificates in scope, soonest expiry first."""
    require(actor, Permission.VIEW)
    now = clock.now()
    stmt = (select(Certificate.id, School.name.label("school_name"), Staff.full_name.label("holder"),
                   Certificate.kind, Certificate.serial_hex, Certificate.not_after, Certificate.revoked_at)
            .join(School, School.id == Certificate.school_id).outerjoin(Staff, Staff.id == Certificate.staff_id)
            .where(actor.school_filter(Certificate.school_id)))
    if expiring_within_days is not None:
        stmt = stmt.where(Certificate.not_after <= now + dt.timedelta(days=expiring_within_days),
                          Certificate.not_after >= now, Certificate.revoked_at.is_(None))
    stmt = stmt.order_by(Certificate.not_after, Certificate.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["kind"] = frame["kind"].map(lambda k: "Con dấu" if k in ("seal", CertificateKind.SEAL) else "Cá nhân")
    return frame


def audit_trail(db: Database, actor: Actor, *, action: str | None = None, page: int = 0,
                page_size: int = PAGE) -> tuple[pd.DataFrame, audit.ChainReport | None]:
    """Who did what, newest first, in the caller's scope; with the hash-chain check for the
    department level (administrators and department supervisors), who see every chain."""
    require(actor, Permission.VIEW_AUDIT)
    stmt = select(AuditEvent.at, AuditEvent.actor_name, AuditEvent.action, AuditEvent.entity,
                  AuditEvent.entity_id, AuditEvent.school_id, AuditEvent.reason)
    if actor.school_ids is not None:
        stmt = stmt.where(AuditEvent.school_id.in_(sorted(actor.school_ids)))
    if action:
        stmt = stmt.where(AuditEvent.action.like(f"{action}%"))
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
        whole = actor.role in (Role.ADMINISTRATOR, Role.DEPARTMENT_SUPERVISOR)
        chain = audit.verify_chain(session) if whole else None
    return frame, chain


def monitor_accounts(db: Database, actor: Actor) -> pd.DataFrame:
    """School-monitor accounts, for the assignment form (needs the right to assign)."""
    require(actor, Permission.ASSIGN_MONITOR)
    stmt = (select(UserAccount.id, UserAccount.username, UserAccount.display_name)
            .where(UserAccount.role == Role.SCHOOL_MONITOR, UserAccount.active.is_(True),
                   or_(UserAccount.school_id.is_(None), actor.school_filter(UserAccount.school_id)))
            .order_by(UserAccount.username))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def signing_heatmap(db: Database, actor: Actor, *, school_id: int | None = None,
                    as_of: dt.datetime | None = None) -> pd.DataFrame:
    """On-time signing rate by weekday × period (aggregated in the database)."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    weekday = func.extract("dow", E.day) if db.is_postgres else func.strftime("%w", E.day)
    decided = or_(E.status != EntryStatus.PENDING, E.day < as_of.date())
    stmt = (select(weekday.label("weekday"), E.period_no, func.count().label("periods"),
                   func.sum(case((E.status == EntryStatus.ON_TIME, 1), else_=0)).label("on_time"))
            .where(actor.school_filter(E.school_id), decided).group_by(weekday, E.period_no))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["weekday"] = frame["weekday"].astype(int).map(lambda d: 8 if d == 0 else d + 1)  # Thứ 2..Chủ nhật (8)
    frame["on_time_rate"] = (frame["on_time"] / frame["periods"]).round(4)
    return frame


def class_week_entries(db: Database, actor: Actor, class_id: int, week_id: int) -> pd.DataFrame:
    """The lesson entries of one class-week with their signature status (the drill-down's last step)."""
    require(actor, Permission.VIEW)
    E = LogbookEntry
    stmt = (select(E.id.label("entry_id"), E.day, E.period_no, Subject.name.label("subject"),
                   Staff.full_name.label("teacher"), E.lesson_title, E.status, E.signed_at)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), E.class_id == class_id, E.week_id == week_id)
            .order_by(E.day, E.period_no))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())
