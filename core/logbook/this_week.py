"""This week first (tuần này trước tiên): what a supervisor asks on Monday — who is behind this
week, and is it getting better? — answered by core for the caller's scope.

- :func:`current_week`: the week the picker opens on (the school week containing today, else
  the last one before it that has periods in scope);
- :func:`week_figures`: the week's figures beside last week's and the term's, with the changes;
- :func:`behind_this_week`: the teachers and the schools behind this week, ranked, by the
  department's thresholds (:func:`thresholds`, set with :func:`set_thresholds`);
- :func:`unsigned_today`: today's periods whose signing window has passed, still unsigned.

Definitions (the counts are :func:`core.logbook.compliance.compliance`'s):

- *this week*: the chosen school week; *last week*: the week numbered one less in the same school
  year (none for the first week);
- *term*: the weeks of the chosen week's term up to and including it; its rate is on time over
  decided periods of those weeks together, its counts are the average per week (so that a week
  compares with a typical week of the term);
- *vs last week* = this week − last week; *vs term* = this week − term (rates in points);
- a teacher is *behind* when their on-time rate for the week is below ``teacher_min_rate`` % or
  their missed + late periods exceed ``teacher_max_unsigned``; a school when its rate is below
  ``school_min_rate`` %. Ranked worst rate first, then most periods lost.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import MalformedInput, NotFound, PermissionDenied
from core.kernel.vocabulary import EntryStatus
from core.logbook.compliance import TREND, compliance
from core.logbook.queries import weeks_in_scope
from core.logbook.rules.signing_window import grace_cutoff
from core.storage.db import Database
from core.storage.models import (
    DepartmentThreshold,
    LogbookEntry,
    School,
    SchoolClass,
    SchoolWeek,
    SchoolYear,
    Staff,
    Subject,
)

COUNTS = ("scheduled", "on_time", "late", "missed", "pending", "hours_lost")
#: The figures compared, in the order the console shows them.
FIGURES = ("on_time_rate", "missed", "late", "hours_lost", "scheduled")


@dataclass(frozen=True)
class Thresholds:
    """The department's thresholds (ngưỡng), in whole percent and periods."""

    teacher_min_rate: int = 80
    teacher_max_unsigned: int = 2
    school_min_rate: int = 85


DEFAULT = Thresholds()


def _week(session, week_id: int) -> SchoolWeek:
    week = session.get(SchoolWeek, week_id)
    if week is None:
        raise NotFound(f"no school week {week_id}", message_vi=f"Không có tuần học {week_id}")
    return week


def current_week(db: Database, actor: Actor, today: dt.date | None = None) -> int | None:
    """The school week the console opens on: the latest week with periods in the caller's scope
    that has begun by ``today`` (default: today in Vietnam), else the earliest one; None when
    the scope has no periods at all."""
    require(actor, Permission.VIEW)
    today = today or clock.now().date()
    used = list(weeks_in_scope(db, actor).itertuples(index=False, name=None))
    started = [int(week_id) for week_id, _, monday in used if monday <= today]
    return started[-1] if started else int(used[0][0]) if used else None


def _rate(on_time: float, decided: float) -> float:
    return round(on_time / decided, 4) if decided else float("nan")


def _figures(counts: dict) -> dict:
    decided = counts["scheduled"] - counts["pending"]
    return {"on_time_rate": _rate(counts["on_time"], decided), **{k: counts[k] for k in COUNTS}}


def record_store(db: Database, actor: Actor, as_of: dt.datetime | None = None):
    """The compliance figures of the record store, as a ``source(level, **filters)`` (the
    default of :func:`week_figures` and :func:`behind_this_week`; the analytics store gives
    another with the same columns: :func:`core.analytics.queries.compliance_source`)."""
    return lambda level, **filters: compliance(db, actor, level, as_of=as_of, **filters)


def week_figures(db: Database, actor: Actor, week_id: int, *, as_of: dt.datetime | None = None,
                 source=None) -> pd.DataFrame:
    """The chosen week's figures in the caller's scope beside last week's and the term's, and
    the changes: one row per figure of :data:`FIGURES`, columns ``this_week``, ``last_week``,
    ``term``, ``vs_last_week``, ``vs_term`` (NaN where there is nothing to compare), and the
    week's ``number``, ``term_number`` and ``monday`` in ``attrs``."""
    require(actor, Permission.VIEW)
    with db.reading() as session:
        week = _week(session, week_id)
        number, term, monday, year = week.number, week.term, week.monday, week.school_year_id
        term_numbers = set(session.scalars(select(SchoolWeek.number).where(
            SchoolWeek.school_year_id == year, SchoolWeek.term == term, SchoolWeek.number <= number)))
    source = source or record_store(db, actor, as_of)
    by_week = source(TREND, school_year_id=year)
    by_week = by_week.assign(hours_lost=by_week["late"] + by_week["missed"]).set_index("week_number")
    empty = dict.fromkeys(COUNTS, 0)

    def counts_of(n):
        return {k: int(by_week.loc[n, k]) for k in COUNTS} if n in by_week.index else None

    this = _figures(counts_of(number) or empty)
    last = counts_of(number - 1)
    last = _figures(last) if last else None
    in_term = by_week[by_week.index.isin(term_numbers)]
    if in_term.empty:
        term_fig = None
    else:
        sums = {k: int(in_term[k].sum()) for k in COUNTS}
        term_fig = {"on_time_rate": _rate(sums["on_time"], sums["scheduled"] - sums["pending"]),
                    **{k: round(sums[k] / len(in_term), 1) for k in COUNTS}}
    nan = float("nan")
    rows = []
    for name in FIGURES:
        now = this[name]
        before = last[name] if last else nan
        typical = term_fig[name] if term_fig else nan
        rows.append({"figure": name, "this_week": now, "last_week": before, "term": typical,
                     "vs_last_week": round(now - before, 4), "vs_term": round(now - typical, 4)})
    frame = pd.DataFrame(rows).set_index("figure")
    frame.attrs.update(number=number, term_number=term, monday=monday, week_id=week_id)
    return frame


def _department_of(session, actor: Actor, week_id: int | None) -> int | None:
    if actor.department_id is not None:
        return actor.department_id
    if week_id is not None:
        return session.scalar(select(SchoolYear.department_id).join(SchoolWeek, SchoolWeek.school_year_id
                                                                     == SchoolYear.id).where(SchoolWeek.id == week_id))
    return None


def thresholds(db: Database, actor: Actor, *, week_id: int | None = None) -> Thresholds:
    """The thresholds of the caller's department (or of the department whose school year the
    week belongs to, for a school's staff); the defaults until the department sets its own."""
    require(actor, Permission.VIEW)
    with db.reading() as session:
        department = _department_of(session, actor, week_id)
        row = session.get(DepartmentThreshold, department) if department is not None else None
        if row is None:
            return DEFAULT
        return Thresholds(row.teacher_min_rate, row.teacher_max_unsigned, row.school_min_rate)


def set_thresholds(db: Database, actor: Actor, department_id: int, value: Thresholds) -> Thresholds:
    """The department sets its thresholds (audited as ``department.thresholds``): rates are
    whole percent 0–100, the unsigned periods a count 0–100."""
    require(actor, Permission.SET_THRESHOLDS)
    if actor.department_id is not None and actor.department_id != department_id:
        raise PermissionDenied(f"{actor.username} may not set another department's thresholds",
                               message_vi="Bạn chỉ đặt được ngưỡng của Sở mình")
    for name in ("teacher_min_rate", "teacher_max_unsigned", "school_min_rate"):
        got = getattr(value, name)
        if not isinstance(got, int) or isinstance(got, bool) or not 0 <= got <= 100:
            raise MalformedInput(f"{name} must be a whole number from 0 to 100, got {got!r}",
                                 message_vi=f"Ngưỡng phải là số nguyên từ 0 đến 100, nhận được {got!r}")
    with db.transaction() as session:
        row = session.get(DepartmentThreshold, department_id)
        before = None if row is None else {"teacher_min_rate": row.teacher_min_rate,
                                           "teacher_max_unsigned": row.teacher_max_unsigned,
                                           "school_min_rate": row.school_min_rate}
        if row is None:
            row = DepartmentThreshold(department_id=department_id)
            session.add(row)
        row.teacher_min_rate, row.teacher_max_unsigned = value.teacher_min_rate, value.teacher_max_unsigned
        row.school_min_rate, row.updated_at, row.updated_by = value.school_min_rate, clock.now(), actor.user_id
        session.flush()
        audit.record(session, actor, "department.thresholds", "department", department_id, before=before,
                     after={"teacher_min_rate": value.teacher_min_rate,
                            "teacher_max_unsigned": value.teacher_max_unsigned,
                            "school_min_rate": value.school_min_rate})
    return value


def behind_this_week(db: Database, actor: Actor, week_id: int, *, as_of: dt.datetime | None = None,
                     limit: int = 20, source=None) -> tuple[pd.DataFrame, pd.DataFrame, Thresholds]:
    """(teachers, schools, thresholds): who is behind in the chosen week in the caller's scope,
    worst first (at most ``limit`` of each). Teachers carry ``teacher_id``, ``teacher_name``,
    ``school_id``, ``school_name``, the week's counts, ``on_time_rate`` and ``unsigned`` (missed +
    late); schools ``school_id``, ``school_name``, ``district_id``, ``district_name`` and theirs."""
    require(actor, Permission.VIEW)
    limits = thresholds(db, actor, week_id=week_id)
    source = source or record_store(db, actor, as_of)
    teachers = source("teacher", week_id=week_id)
    teachers["unsigned"] = teachers["missed"] + teachers["late"]
    slow = (teachers["on_time_rate"] < limits.teacher_min_rate / 100) | \
        (teachers["unsigned"] > limits.teacher_max_unsigned)
    teachers = teachers[slow].sort_values(["on_time_rate", "unsigned", "teacher_name"],
                                          ascending=[True, False, True], na_position="last").head(limit)
    schools = source("school", week_id=week_id)
    schools = schools[schools["on_time_rate"] < limits.school_min_rate / 100] \
        .sort_values(["on_time_rate", "hours_lost", "school_name"], ascending=[True, False, True]).head(limit)
    return teachers.reset_index(drop=True), schools.reset_index(drop=True), limits


def unsigned_today(db: Database, actor: Actor, *, as_of: dt.datetime | None = None,
                   school_id: int | None = None) -> pd.DataFrame:
    """Today's periods (Vietnam's day) in the caller's scope whose signing window has passed
    (period end + grace) and that are still unsigned, latest first: ``entry_id``,
    ``school_name``, ``class_name``, ``period_no``, ``period_end``, ``subject``, ``teacher``,
    ``teacher_id``, ``school_id``, ``class_id``, ``week_id``. They can still be signed today,
    late."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    stmt = (select(E.id.label("entry_id"), School.name.label("school_name"), SchoolClass.name.label("class_name"),
                   E.period_no, E.period_end, Subject.name.label("subject"), Staff.full_name.label("teacher"),
                   E.teacher_id, E.school_id, E.class_id, E.week_id)
            .join(School, School.id == E.school_id).join(SchoolClass, SchoolClass.id == E.class_id)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), E.day == as_of.date(), E.status == EntryStatus.PENDING,
                   E.period_end < grace_cutoff(as_of))
            .order_by(E.period_end.desc(), School.name, SchoolClass.name))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def teacher_week_entries(db: Database, actor: Actor, teacher_id: int, week_id: int) -> pd.DataFrame:
    """One teacher's periods in one week (a drill-down step), scoped like every read: a teacher
    of a school outside the caller's scope gives nothing. Columns as
    :func:`core.logbook.queries.class_week_entries` plus ``class_name``."""
    if actor.staff_id != teacher_id:
        require(actor, Permission.VIEW)
    E = LogbookEntry
    stmt = (select(E.id.label("entry_id"), E.day, E.period_no, SchoolClass.name.label("class_name"),
                   Subject.name.label("subject"), E.lesson_title, E.status, E.signed_at)
            .join(Subject, Subject.id == E.subject_id).join(SchoolClass, SchoolClass.id == E.class_id)
            .where(E.teacher_id == teacher_id, E.week_id == week_id)
            .order_by(E.day, E.period_no))
    if actor.staff_id != teacher_id:
        stmt = stmt.where(actor.school_filter(E.school_id))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def drill_path(db: Database, actor: Actor, *, district_id: int | None = None, school_id: int | None = None,
               class_id: int | None = None, teacher_id: int | None = None,
               entry_id: int | None = None) -> dict[str, tuple[int, str]]:
    """Where a drill-down stands, for its breadcrumbs: ``{"district": (id, name), "school": …,
    "class": …, "teacher": …, "entry": (id, text), "week": (id, text)}`` for the deepest place
    given and the places above it. Anything outside the caller's scope (or that does not exist)
    is refused alike as not found: the path tells a monitor nothing about other schools."""
    from core.storage.models import District

    require(actor, Permission.VIEW)
    path: dict[str, tuple[int, str]] = {}

    def missing(what: str, what_vi: str, key) -> NotFound:
        return NotFound(f"no {what} {key} in your scope", message_vi=f"Không có {what_vi} {key} trong phạm vi của bạn")

    with db.reading() as session:
        if entry_id is not None:
            entry = session.get(LogbookEntry, entry_id)
            if entry is None or not actor.sees_school(entry.school_id):
                raise missing("logbook entry", "tiết học", entry_id)
            week = session.get(SchoolWeek, entry.week_id)
            path["entry"] = (entry.id, f"Tiết {entry.period_no} ngày {entry.day:%d/%m/%Y}")
            path["week"] = (week.id, f"Tuần {week.number}")
            class_id = entry.class_id
        if class_id is not None:
            klass = session.get(SchoolClass, class_id)
            if klass is None or not actor.sees_school(klass.school_id):
                raise missing("class", "lớp", class_id)
            path["class"] = (klass.id, f"Lớp {klass.name}")
            school_id = klass.school_id
        if teacher_id is not None:
            staff = session.get(Staff, teacher_id)
            if staff is None or not actor.sees_school(staff.school_id):
                raise missing("teacher", "giáo viên", teacher_id)
            path["teacher"] = (staff.id, staff.full_name)
            school_id = school_id or staff.school_id
        if school_id is not None:
            school = session.get(School, school_id)
            if school is None or not actor.sees_school(school.id):
                raise missing("school", "trường", school_id)
            path["school"] = (school.id, school.name)
            district_id = school.district_id
        if district_id is not None:
            district = session.get(District, district_id)
            seen = session.scalar(select(School.id).where(School.district_id == district_id,
                                                          actor.school_filter(School.id)).limit(1))
            if district is None or seen is None:
                raise missing("district", "quận/huyện", district_id)
            path["district"] = (district.id, district.name)
    return path


def my_week(db: Database, actor: Actor, *, as_of: dt.datetime | None = None) -> tuple[pd.DataFrame, dict]:
    """A teacher's own page (tuần của tôi): their periods this week (or the last week they taught,
    its Monday in ``attrs["monday"]``) with each one's state as of
    now (an unsigned period of an earlier day is missed; one of today whose window has passed is
    ``overdue``: it can still be signed today, late), and their teaching hours this
    week and this term so far (``periods``, ``counted``, ``lost``, ``pending``, each for
    ``week`` and ``term``). Refused to an account that is not a member of staff."""
    from core.kernel.errors import PermissionDenied
    from core.logbook.entries import teacher_week
    from core.logbook.rules.signing_window import status_as_of

    if actor.staff_id is None:
        raise PermissionDenied("only teachers have their own week", message_vi="Chỉ giáo viên có trang tuần của mình")
    as_of = as_of or clock.now()
    monday = as_of.date() - dt.timedelta(days=as_of.weekday())
    with db.reading() as session:  # this week, or the last week they taught (a holiday, the summer)
        taught = session.scalar(select(func.max(LogbookEntry.day)).where(
            LogbookEntry.teacher_id == actor.staff_id, LogbookEntry.day <= as_of.date()))
    if taught is not None and taught < monday:
        monday = taught - dt.timedelta(days=taught.weekday())
    rows = teacher_week(db, actor, monday)
    frame = pd.DataFrame(rows, columns=["entry_id", "day", "period_no", "class_name", "subject", "period_start",
                                        "period_end", "signing_deadline", "status", "is_substitute", "lesson_title"])
    if not frame.empty:
        cutoff = grace_cutoff(as_of)
        frame["status"] = ["overdue" if s == "pending" and e < cutoff and d == as_of.date() else
                           status_as_of(EntryStatus(s), d, as_of, e).value
                           for s, d, e in zip(frame["status"], frame["day"], frame["period_end"], strict=True)]
    with db.reading() as session:
        week = session.scalar(select(SchoolWeek).where(SchoolWeek.monday == monday).limit(1))
        start = monday
        if week is not None:
            start = session.scalar(select(func.min(SchoolWeek.monday)).where(
                SchoolWeek.school_year_id == week.school_year_id, SchoolWeek.term == week.term)) or monday
    week_end = min(as_of.date(), monday + dt.timedelta(days=6))

    def hours_between(first: dt.date, last: dt.date) -> dict[str, int]:
        # the periods' states as of now (an unsigned period of a day that is over is lost)
        with db.reading() as session:
            rows = session.execute(select(LogbookEntry.status, LogbookEntry.day, LogbookEntry.period_end).where(
                LogbookEntry.teacher_id == actor.staff_id, LogbookEntry.day >= first,
                LogbookEntry.day <= last)).all()
        states = [status_as_of(EntryStatus(s), d, as_of, e) for s, d, e in rows]
        return {"periods": len(states), "counted": sum(s == EntryStatus.ON_TIME for s in states),
                "lost": sum(s in (EntryStatus.LATE, EntryStatus.MISSED) for s in states),
                "pending": sum(s == EntryStatus.PENDING for s in states)}
    hours = {"week": hours_between(monday, week_end), "term": hours_between(start, as_of.date())}
    frame.attrs["monday"] = monday
    return frame, hours
