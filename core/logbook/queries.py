"""Read models of the logbook for the console and notebooks: missed and late lessons, week
closing, the signing heatmap and late-signing distribution, a class-week's entries, the weeks in
scope; aggregated or filtered in the database, scoped to the caller, paged."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Integer, and_, case, cast, func, literal_column, select

from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.paging import PAGE
from core.kernel.vocabulary import (
    EntryStatus,
    WeekCloseStatus,
)
from core.logbook.rules.signing_window import counts_as_teaching_hours, grace_cutoff, is_decided, is_missed
from core.storage.db import Database
from core.storage.models import (
    LogbookEntry,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Subject,
    WeekClose,
)


def missed_lessons(db: Database, actor: Actor, *, school_id: int | None = None, week_id: int | None = None,
                   include_late: bool = True, page: int = 0, page_size: int = PAGE,
                   as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Unsigned (missed) and late periods with the teaching hour each one cost, newest first."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    shown = is_missed(E.status, E.day, as_of.date(), E.period_end, grace_cutoff(as_of))
    if include_late:
        shown = shown | (E.status == EntryStatus.LATE)
    stmt = (select(E.id.label("entry_id"), School.name.label("school_name"), SchoolClass.name.label("class_name"),
                   E.day, E.period_no, Subject.name.label("subject"), Staff.full_name.label("teacher"),
                   E.status, E.signed_at, E.period_end)
            .join(School, School.id == E.school_id).join(SchoolClass, SchoolClass.id == E.class_id)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), shown))
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


def _class_weeks_over(actor: Actor, school_id: int | None):
    """The class-weeks in scope that are over (their last day before today), as a subquery."""
    E = LogbookEntry
    weeks = (select(E.class_id.label("cid"), E.week_id.label("wid")).where(actor.school_filter(E.school_id))
             .group_by(E.class_id, E.week_id).having(func.max(E.day) < clock.now().date()))
    if school_id is not None:
        weeks = weeks.where(E.school_id == school_id)
    return weeks.subquery()


def closing_state(status, closed_on_time, reopen_count) -> str:
    """A class-week's closing state in words (tình trạng chốt sổ tuần)."""
    if status in (WeekCloseStatus.CLOSED.value, WeekCloseStatus.CLOSED):
        label = "Đã chốt đúng hạn" if closed_on_time else "Đã chốt trễ"
        return label + (" (đã mở lại)" if reopen_count else "")
    if status in (WeekCloseStatus.REOPENED.value, WeekCloseStatus.REOPENED):
        return "Đang mở lại"
    return "Chưa chốt"


def week_closing(db: Database, actor: Actor, *, school_id: int | None = None, page: int = 0,
                 page_size: int = PAGE) -> pd.DataFrame:
    """Class-weeks and their closing state: open, closed on time, closed late, reopened (one
    page; :func:`week_closing_counts` counts them all)."""
    require(actor, Permission.VIEW)
    W = SchoolWeek
    weeks = _class_weeks_over(actor, school_id)
    stmt = (select(weeks.c.cid.label("class_id"), weeks.c.wid.label("week_id"), School.name.label("school_name"),
                   SchoolClass.name.label("class_name"), W.number.label("week"),
                   W.monday, WeekClose.status, WeekClose.closed_on_time, WeekClose.closed_at, WeekClose.reopen_count)
            .select_from(weeks).join(SchoolClass, SchoolClass.id == weeks.c.cid)
            .join(School, School.id == SchoolClass.school_id).join(W, W.id == weeks.c.wid)
            .outerjoin(WeekClose, and_(WeekClose.class_id == weeks.c.cid, WeekClose.week_id == weeks.c.wid))
            .order_by(W.number.desc(), School.name, SchoolClass.name).limit(page_size).offset(page * page_size))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["state"] = [closing_state(*r) for r in zip(frame["status"], frame["closed_on_time"],
                                                     frame["reopen_count"], strict=True)]
    return frame


def week_closing_counts(db: Database, actor: Actor, *, school_id: int | None = None) -> pd.DataFrame:
    """How many class-weeks in scope (all of them, counted in the database) are in each closing
    state: columns ``state`` and ``class_weeks``, largest first."""
    require(actor, Permission.VIEW)
    weeks = _class_weeks_over(actor, school_id)
    reopened = func.coalesce(WeekClose.reopen_count, 0) > 0
    stmt = (select(WeekClose.status, WeekClose.closed_on_time, reopened.label("reopened"),
                   func.count().label("n"))
            .select_from(weeks)
            .outerjoin(WeekClose, and_(WeekClose.class_id == weeks.c.cid, WeekClose.week_id == weeks.c.wid))
            .group_by(WeekClose.status, WeekClose.closed_on_time, reopened))
    with db.reading() as session:
        rows = session.execute(stmt).all()
    counts: dict[str, int] = {}
    for status, on_time, again, n in rows:
        state = closing_state(status, on_time, again)
        counts[state] = counts.get(state, 0) + int(n)
    frame = pd.DataFrame({"state": list(counts), "class_weeks": list(counts.values())},
                         columns=["state", "class_weeks"])
    return frame.sort_values(["class_weeks", "state"], ascending=[False, True]).reset_index(drop=True)


def signing_heatmap(db: Database, actor: Actor, *, school_id: int | None = None,
                    as_of: dt.datetime | None = None) -> pd.DataFrame:
    """On-time signing rate by weekday × period (aggregated in the database)."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    weekday = func.extract("dow", E.day) if db.is_postgres else func.strftime("%w", E.day)
    decided = is_decided(E.status, E.day, as_of.date(), E.period_end, grace_cutoff(as_of))
    stmt = (select(weekday.label("weekday"), E.period_no, func.count().label("periods"),
                   func.sum(case((counts_as_teaching_hours(E.status), 1), else_=0)).label("on_time"))
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


def late_signing_distribution(db: Database, actor: Actor, *, school_id: int | None = None,
                              week_id: int | None = None, bucket_minutes: int = 1) -> pd.DataFrame:
    """How long after the period's end the late entries were signed: the number of LATE
    entries per bucket of whole minutes after ``period_end`` (``minutes_after_end`` is the
    bucket's lower edge), aggregated in the database and scoped to the caller. ``school_id``
    and ``week_id`` narrow it; a school outside the caller's scope gives nothing."""
    require(actor, Permission.VIEW)
    width = int(bucket_minutes)
    if width < 1:
        raise ValueError("bucket_minutes must be at least 1")
    E = LogbookEntry
    if db.is_postgres:
        seconds = cast(func.floor(func.extract("epoch", E.signed_at - E.period_end)), Integer)
    else:  # SQLite: whole seconds since the epoch of both naive local times
        seconds = cast(func.strftime("%s", E.signed_at), Integer) - cast(func.strftime("%s", E.period_end), Integer)
    # Integer literals (not bound parameters) so that the SELECT and GROUP BY expressions are
    # textually equal on PostgreSQL's server-side binding.
    bucket = (seconds // literal_column(str(60 * width), Integer)) * literal_column(str(width), Integer)
    stmt = (select(bucket.label("minutes_after_end"), func.count().label("entries"))
            .where(actor.school_filter(E.school_id), E.status == EntryStatus.LATE, E.signed_at.is_not(None))
            .group_by(bucket).order_by(bucket))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    if week_id is not None:
        stmt = stmt.where(E.week_id == week_id)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    return frame.astype({"minutes_after_end": "int64", "entries": "int64"})


def used_weeks(session, actor: Actor) -> list[tuple[int, int, dt.date]]:
    """(week_id, number, monday) of the school weeks with logbook entries in the caller's scope,
    by Monday: for each school week (a year has about 35) its first entry within its seven days,
    found on the entries' (day, status) index (school_id, week_id for a school's staff) — a few
    milliseconds whatever the year's size, where ``DISTINCT week_id`` read every entry. On
    PostgreSQL a LATERAL probe with LIMIT 1 (an EXISTS becomes a hash semi-join over every entry)."""
    E, W = LogbookEntry, SchoolWeek
    postgres = session.get_bind().dialect.name == "postgresql"
    week_end = W.monday + 7 if postgres else func.date(W.monday, "+7 days")
    probe = select(E.id).where(E.week_id == W.id, E.day >= W.monday, E.day < week_end,
                               actor.school_filter(E.school_id))
    if postgres:
        first = probe.limit(1).lateral("first_entry")
        stmt = select(W.id, W.number, W.monday).join(first, literal_column("true"))
    else:
        stmt = select(W.id, W.number, W.monday).where(probe.exists())
    return [tuple(row) for row in session.execute(stmt.order_by(W.monday, W.id))]


def weeks_in_scope(db: Database, actor: Actor) -> pd.DataFrame:
    """The school weeks that have logbook entries in the caller's scope (week filters)."""
    require(actor, Permission.VIEW)
    with db.reading() as session:
        return pd.DataFrame(used_weeks(session, actor), columns=["week_id", "number", "monday"])
