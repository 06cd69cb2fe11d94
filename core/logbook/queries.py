"""Read models of the logbook for the console and notebooks: missed and late lessons, week
closing, the signing heatmap and late-signing distribution, a class-week's entries, the weeks in
scope; aggregated or filtered in the database, scoped to the caller, paged."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Integer, case, cast, func, literal_column, select

from core.access.authz import SYSTEM, Actor, Permission, require
from core.access.cache import ScopedCache, narrowed
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
    """Unsigned (missed) and late periods with the teaching hour each one cost, newest first (the
    newest day's last period on top), read in that order from the index ``ix_entry_not_on_time``."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    shown = is_missed(E.status, E.day, as_of.date(), E.period_end, grace_cutoff(as_of))
    if include_late:
        shown = shown | (E.status == EntryStatus.LATE)
    # the page of periods first, on the entries alone; the names joined to those rows only (joined
    # before the limit, a city's newest day — 13,000 periods — was joined whole, then sorted)
    page_rows = (select(E.id, E.day, E.school_id, E.class_id, E.subject_id, E.teacher_id, E.period_no, E.status,
                        E.signed_at, E.period_end)
                 .where(actor.school_filter(E.school_id), shown))
    if school_id is not None:
        page_rows = page_rows.where(E.school_id == school_id)
    if week_id is not None:
        page_rows = page_rows.where(E.week_id == week_id)
    P = page_rows.order_by(E.day.desc(), E.period_no.desc(), E.id.desc()).limit(page_size).offset(page * page_size).subquery()
    stmt = (select(P.c.id.label("entry_id"), School.name.label("school_name"), SchoolClass.name.label("class_name"),
                   P.c.day, P.c.period_no, Subject.name.label("subject"), Staff.full_name.label("teacher"),
                   P.c.status, P.c.signed_at, P.c.period_end)
            .join(School, School.id == P.c.school_id).join(SchoolClass, SchoolClass.id == P.c.class_id)
            .join(Subject, Subject.id == P.c.subject_id).join(Staff, Staff.id == P.c.teacher_id)
            .order_by(P.c.day.desc(), P.c.period_no.desc(), P.c.id.desc()))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: "Ký trễ" if s in ("late", EntryStatus.LATE) else "Không ký")
    frame["minutes_late"] = ((pd.to_datetime(frame["signed_at"]) - pd.to_datetime(frame["period_end"]))
                             .dt.total_seconds() / 60).round(1)
    frame["hours_lost"] = 1
    return frame.drop(columns=["period_end"])


def _class_weeks_over():
    """Every class-week that is over (its last day before today), with its school, as a
    subquery: read from the index ``ix_entry_class_week`` alone (migration 0022)."""
    E = LogbookEntry
    weeks = (select(E.class_id.label("cid"), E.week_id.label("wid"), E.school_id.label("sid"))
             .group_by(E.class_id, E.week_id, E.school_id).having(func.max(E.day) < clock.now().date()))
    return weeks.subquery()


def closing_state(status, closed_on_time, reopen_count) -> str:
    """A class-week's closing state in words (tình trạng chốt sổ tuần)."""
    if status in (WeekCloseStatus.CLOSED.value, WeekCloseStatus.CLOSED):
        label = "Đã chốt đúng hạn" if closed_on_time else "Đã chốt trễ"
        return label + (" (đã mở lại)" if reopen_count else "")
    if status in (WeekCloseStatus.REOPENED.value, WeekCloseStatus.REOPENED):
        return "Đang mở lại"
    return "Chưa chốt"


#: Read models kept by version of the record store (:mod:`core.access.cache`): the finished
#: class-weeks of every school with their names, and their closing rows, each found once and
#: shared by every scope (narrowed to the caller's schools before anything reads them:
#: :func:`core.access.cache.narrowed`); the weeks that have entries, by scope.
_FINISHED = ScopedCache(max_entries=256)
_NAMED = ["class_id", "week_id", "school_name", "class_name", "week", "monday"]
_CLOSING = [*_NAMED, "status", "closed_on_time", "closed_at", "reopen_count"]


def _logbook_version(session) -> str:
    """What the finished class-weeks depend on: the logbook's entries (their lowest and highest
    id: core adds entries and never deletes one) and the day."""
    E = LogbookEntry
    low, high = session.execute(select(func.min(E.id), func.max(E.id))).one()
    return f"entries {low}-{high} on {clock.now().date()}"


def _names_version(session) -> str:
    """What the named class-weeks depend on besides the logbook: the classes, the schools and
    the school weeks (core adds them and does not rename a class)."""
    counts = [tuple(session.execute(select(func.count(), func.max(M.id))).one())
              for M in (SchoolClass, School, SchoolWeek)]
    return f"{_logbook_version(session)}; classes, schools, weeks {counts}"


def _closes_version(session) -> str:
    """What the closing rows depend on besides the named class-weeks: the week closes (each step
    of one — a close, a reopening, a close again — changes the count of closed ones, the
    reopenings or the newest signing time)."""
    C = WeekClose
    closes = session.execute(select(func.count(), func.max(C.id), func.sum(C.reopen_count),
                                    func.count(case((C.status == WeekCloseStatus.CLOSED, 1))),
                                    func.max(C.closed_at), func.max(C.homeroom_signed_at))).one()
    return f"closes {tuple(closes)}"


def _every_named_class_week(db: Database, version: str) -> pd.DataFrame:
    """Every school's class-weeks that are over, with ``school_id`` and their names, newest week
    first, then by school and class: found once per ``version`` (:func:`_names_version`) and
    shared — internal, returned narrowed (:func:`finished_class_weeks`)."""
    def compute() -> pd.DataFrame:
        weeks = _class_weeks_over()
        W = SchoolWeek
        with db.reading() as session:
            connection = session.connection()
            pairs = pd.read_sql(select(weeks.c.cid.label("class_id"), weeks.c.wid.label("week_id"),
                                       weeks.c.sid.label("school_id")), connection)
            classes = pd.read_sql(select(SchoolClass.id.label("class_id"), School.name.label("school_name"),
                                         SchoolClass.name.label("class_name"))
                                  .join(School, School.id == SchoolClass.school_id), connection)
            names = pd.read_sql(select(W.id.label("week_id"), W.number.label("week"), W.monday), connection)
        frame = pairs.merge(classes, on="class_id").merge(names, on="week_id")
        frame = frame.sort_values(["week", "school_name", "class_name"], ascending=[False, True, True], kind="stable")
        return frame[[*_NAMED, "school_id"]].reset_index(drop=True)
    return _FINISHED.get_versioned(SYSTEM, version, "named_class_weeks", compute, shared=True)


def finished_class_weeks(db: Database, actor: Actor, *, school_id: int | None = None,
                         limit: int | None = None) -> pd.DataFrame:
    """The class-weeks in scope that are over (lớp - tuần đã qua), with their names:
    ``class_id``, ``week_id``, ``school_name``, ``class_name``, ``week``, ``monday``; newest week
    first, then by school and class (the first ``limit``). Every school's are found once per
    version of the logbook and the classes (a city's signed week: a ``GROUP BY`` over 1.65
    million entries, read from the index ``ix_entry_class_week``) and narrowed to the caller's."""
    require(actor, Permission.VIEW)
    with db.reading() as session:
        version = f"{db.identity} {_names_version(session)}"
    frame = narrowed(_every_named_class_week(db, version), actor, school_id)[_NAMED].reset_index(drop=True)
    return frame if limit is None else frame.head(limit)


def _closing_rows(db: Database, actor: Actor, school_id: int | None) -> pd.DataFrame:
    """Every finished class-week in scope with its names, week and closing (if any), newest
    week first, then by school and class: every school's read once per version of the logbook,
    the classes and the week closes, shared, narrowed to the caller's (a city's 58,000
    class-weeks are read and sorted once, not on every page: the counts and each page are
    slices of them)."""
    with db.reading() as session:
        names = f"{db.identity} {_names_version(session)}"
        closes = _closes_version(session)

    def compute() -> pd.DataFrame:
        C = WeekClose
        with db.reading() as session:
            kept = pd.read_sql(select(C.class_id, C.week_id, C.status, C.closed_on_time, C.closed_at,
                                      C.reopen_count), session.connection())
        # a left merge keeps the named class-weeks' order: newest week, then school and class
        return _every_named_class_week(db, names).merge(kept, on=["class_id", "week_id"], how="left")
    every = _FINISHED.get_versioned(SYSTEM, f"{names}; {closes}", "closing_rows", compute, shared=True)
    return narrowed(every, actor, school_id)[_CLOSING].reset_index(drop=True)


def warm(db: Database) -> None:
    """Find every school's finished class-weeks, their names and closing rows for the record
    store as it is (the console starts this in the background, so that the first closing or
    compliance page does not wait for them)."""
    _closing_rows(db, SYSTEM, None)


def week_closing(db: Database, actor: Actor, *, school_id: int | None = None, page: int = 0,
                 page_size: int = PAGE, closed_only: bool = False) -> pd.DataFrame:
    """Class-weeks and their closing state: open, closed on time, closed late, reopened (one
    page, newest week first, then by school and class; :func:`week_closing_counts` counts them
    all). ``closed_only``: the closed ones alone (what may be reopened), found without reading
    the logbook."""
    require(actor, Permission.VIEW)
    if closed_only:  # read from the week closes alone (one a class-week; a closed week is over)
        C, W = WeekClose, SchoolWeek
        stmt = (select(C.class_id, C.week_id, School.name.label("school_name"), SchoolClass.name.label("class_name"),
                       W.number.label("week"), W.monday, C.status, C.closed_on_time, C.closed_at, C.reopen_count)
                .join(SchoolClass, SchoolClass.id == C.class_id).join(School, School.id == SchoolClass.school_id)
                .join(W, W.id == C.week_id)
                .where(actor.school_filter(C.school_id), C.status == WeekCloseStatus.CLOSED)
                .order_by(W.number.desc(), School.name, SchoolClass.name).limit(page_size)
                .offset(page * page_size))
        if school_id is not None:
            stmt = stmt.where(C.school_id == school_id)
        with db.reading() as session:
            frame = pd.read_sql(stmt, session.connection())
    else:
        frame = _closing_rows(db, actor, school_id).iloc[page * page_size:(page + 1) * page_size] \
            .reset_index(drop=True)
    frame["state"] = [closing_state(*r) for r in zip(frame["status"], frame["closed_on_time"],
                                                     frame["reopen_count"], strict=True)]
    return frame


def week_closing_counts(db: Database, actor: Actor, *, school_id: int | None = None) -> pd.DataFrame:
    """How many class-weeks in scope (all of them) are in each closing state: columns ``state``
    and ``class_weeks``, largest first."""
    require(actor, Permission.VIEW)
    rows = _closing_rows(db, actor, school_id)
    groups = (rows.assign(status=rows["status"].astype(object), closed_on_time=rows["closed_on_time"].astype(object),
                          reopened=rows["reopen_count"].fillna(0) > 0)
              .groupby(["status", "closed_on_time", "reopened"], dropna=False).size())
    counts: dict[str, int] = {}
    for (status, on_time, again), n in groups.items():
        state = closing_state(None if pd.isna(status) else status, on_time, again)
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
    """The school weeks that have logbook entries in the caller's scope (week filters), by
    Monday; kept by scope while the logbook holds the same entries (every page and step asks)."""
    require(actor, Permission.VIEW)
    with db.reading() as session:
        version = f"{db.identity} {_logbook_version(session)}"

    def compute() -> pd.DataFrame:
        with db.reading() as session:
            return pd.DataFrame(used_weeks(session, actor), columns=["week_id", "number", "monday"])
    return _FINISHED.get_versioned(actor, version, "weeks_in_scope", compute)
