"""Signing-compliance figures (số liệu tuân thủ ký số) for a week or a term, at teacher,
class, school, district and department level, scoped to the caller.

Aggregation runs in the database (GROUP BY); only the aggregated rows come back, as a
pandas DataFrame. Definitions:

- *scheduled*: entries generated from the timetable (holidays excluded);
- *on_time* / *late* / *missed*: :mod:`core.logbook.rules.signing_window`; an unsigned entry whose day
  is before ``as_of`` counts as missed even before the nightly job marks it;
- *on_time_rate* = on_time / (scheduled − pending);
- *hours_counted* = on_time periods (one period = one teaching hour, giờ giảng);
  *hours_lost* = late + missed;
- class-weeks *closed_on_time*, *closed_late*, *open* (not closed, past its last day),
  *reopened* (reopened at least once);
- *schools_without_monitor*: schools with no active monitor assignment.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Integer, and_, case, cast, func, or_, select

from core.access.authz import Actor, Permission, require
from core.kernel import clock, formats
from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus, WeekCloseStatus
from core.logbook.rules.signing_window import counts_as_teaching_hours, grace_cutoff, is_missed, is_pending
from core.storage.db import Database
from core.storage.models import (
    Department,
    District,
    LogbookEntry,
    MonitorAssignment,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    WeekClose,
)

LEVELS = ("teacher", "class", "school", "district", "department")
TREND = "week"  # a further grouping: the trend over teaching weeks

E, S, D, W = LogbookEntry, School, District, SchoolWeek


def _keys(level: str):
    """(columns to select and group by, extra joins) for a level."""
    if level == "teacher":
        return [E.teacher_id.label("teacher_id"), Staff.code.label("teacher_code"),
                Staff.full_name.label("teacher_name"), S.id.label("school_id"), S.name.label("school_name")], \
            [(Staff, Staff.id == E.teacher_id)]
    if level == "class":
        return [E.class_id.label("class_id"), SchoolClass.name.label("class_name"), SchoolClass.grade.label("grade"),
                S.id.label("school_id"), S.name.label("school_name")], [(SchoolClass, SchoolClass.id == E.class_id)]
    if level == "school":
        return [S.id.label("school_id"), S.code.label("school_code"), S.name.label("school_name"),
                D.id.label("district_id"), D.name.label("district_name")], []
    if level == "district":
        return [D.id.label("district_id"), D.name.label("district_name")], []
    if level == TREND:
        return [W.number.label("week_number"), W.monday.label("monday")], []
    if level == "department":
        return [Department.id.label("department_id"), Department.name.label("department_name")], \
            [(Department, Department.id == D.department_id)]
    raise RuleViolation(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}",
                        message_vi=f"Không có mức tổng hợp {level!r}; chọn một trong: {', '.join(LEVELS)}")


def _filters(actor: Actor, *, school_year_id, week_id, term, school_id, district_id):
    conds = [actor.school_filter(E.school_id)]
    if school_year_id is not None:
        conds.append(W.school_year_id == school_year_id)
    if week_id is not None:
        conds.append(E.week_id == week_id)
    if term is not None:
        conds.append(W.term == term)
    if school_id is not None:
        conds.append(E.school_id == school_id)
    if district_id is not None:
        conds.append(S.district_id == district_id)
    return conds


def with_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the derived figures to counts of periods (in place; returned for chaining): the
    on-time rate of the decided periods, teaching hours counted (on time) and lost (late or
    missed). One rule for the record store's and the analytics store's figures."""
    decided = frame["scheduled"] - frame["pending"]
    frame["on_time_rate"] = (frame["on_time"] / decided.where(decided > 0)).round(4)
    frame["hours_counted"] = frame["on_time"]
    frame["hours_lost"] = frame["late"] + frame["missed"]
    return frame


def compliance(db: Database, actor: Actor, level: str = "school", *, school_year_id: int | None = None,
               week_id: int | None = None, term: int | None = None, school_id: int | None = None,
               district_id: int | None = None, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Compliance figures grouped at ``level``; filters narrow the caller's scope, never widen it."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    keys, joins = _keys(level)
    today, cutoff = as_of.date(), grace_cutoff(as_of)

    def count_if(cond):
        return func.sum(case((cond, 1), else_=0))

    stmt = (select(*keys, func.count().label("scheduled"),
                   count_if(counts_as_teaching_hours(E.status)).label("on_time"),
                   count_if(E.status == EntryStatus.LATE).label("late"),
                   count_if(is_missed(E.status, E.day, today, E.period_end, cutoff)).label("missed"),
                   count_if(is_pending(E.status, E.day, today, E.period_end, cutoff)).label("pending"))
            .select_from(E).join(S, S.id == E.school_id).join(D, D.id == S.district_id)
            .join(W, W.id == E.week_id))
    for target, on in joins:
        stmt = stmt.join(target, on)
    filters = _filters(actor, school_year_id=school_year_id, week_id=week_id, term=term,
                       school_id=school_id, district_id=district_id)
    stmt = stmt.where(*filters).group_by(*keys)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
        key_names = [k.key for k in keys]
        if level not in ("teacher", TREND):
            weeks = _week_closing(session, actor, keys, joins, filters, today)
            frame = frame.merge(weeks, on=key_names, how="left") if not frame.empty else frame
        if level in ("school", "district", "department"):
            frame = frame.merge(_monitors(session, actor, level), on=key_names[0], how="left") \
                if not frame.empty else frame
    for col in ("scheduled", "on_time", "late", "missed", "pending"):
        frame[col] = frame[col].astype("int64")
    with_rates(frame)
    for col in ("weeks_total", "weeks_closed_on_time", "weeks_closed_late", "weeks_open", "weeks_reopened",
                "schools_without_monitor"):
        if col in frame:
            frame[col] = frame[col].fillna(0).astype("int64")
    return frame.sort_values(key_names[0]).reset_index(drop=True)


def _week_closing(session, actor, keys, joins, filters, today):
    """Class-weeks per group that are over (last entry day before today) and their closing state."""
    cw = (select(E.class_id.label("cid"), E.week_id.label("wid"), *keys)
          .select_from(E).join(S, S.id == E.school_id).join(D, D.id == S.district_id).join(W, W.id == E.week_id))
    for target, on in joins:
        cw = cw.join(target, on)
    cw = cw.where(*filters).group_by(E.class_id, E.week_id, *keys).having(func.max(E.day) < today).subquery()
    wc = WeekClose
    closed = wc.status == WeekCloseStatus.CLOSED
    group_cols = [cw.c[k.key] for k in keys]

    def count_if(cond):
        return func.sum(case((cond, 1), else_=0))

    stmt = (select(*group_cols, func.count().label("weeks_total"),
                   count_if(and_(closed, wc.closed_on_time.is_(True))).label("weeks_closed_on_time"),
                   count_if(and_(closed, or_(wc.closed_on_time.is_(False), wc.closed_on_time.is_(None))))
                   .label("weeks_closed_late"),
                   count_if(or_(wc.id.is_(None), wc.status != WeekCloseStatus.CLOSED)).label("weeks_open"),
                   count_if(func.coalesce(wc.reopen_count, 0) > 0).label("weeks_reopened"))
            .select_from(cw).outerjoin(wc, and_(wc.class_id == cw.c.cid, wc.week_id == cw.c.wid))
            .group_by(*group_cols))
    return pd.read_sql(stmt, session.connection())


def _monitors(session, actor, level):
    """Schools in scope without an active monitor, per group."""
    has_monitor = select(MonitorAssignment.school_id).where(MonitorAssignment.unassigned_at.is_(None))
    no_monitor = cast(~S.id.in_(has_monitor), Integer)
    if level == "school":
        cols = [S.id.label("school_id")]
        extra = [(no_monitor).label("schools_without_monitor")]
    elif level == "district":
        cols = [D.id.label("district_id")]
        extra = [func.sum(no_monitor).label("schools_without_monitor")]
    else:
        cols = [D.department_id.label("department_id")]
        extra = [func.sum(no_monitor).label("schools_without_monitor")]
    stmt = (select(*cols, *extra).select_from(S).join(D, D.id == S.district_id)
            .where(actor.school_filter(S.id)))
    if level != "school":
        stmt = stmt.group_by(*cols)
    return pd.read_sql(stmt, session.connection())


def weekly_report(db: Database, actor: Actor, week_id: int, as_of: dt.datetime | None = None) -> str:
    """A plain-text weekly compliance report (what ``sohoa report`` prints)."""
    frame = compliance(db, actor, "school", week_id=week_id, as_of=as_of)
    with db.reading() as session:
        week = session.get(SchoolWeek, week_id)
        number, monday, term = week.number, week.monday, week.term
    head = (f"Báo cáo ký sổ đầu bài — tuần {number} (từ {monday:%d/%m/%Y}), học kỳ {term}\n"
            f"Weekly logbook signing report — week {number}, term {term}\n")
    if frame.empty:
        return head + "(no data in your scope)\n"
    table = frame[["school_code", "school_name", "scheduled", "on_time", "late", "missed", "on_time_rate",
                   "hours_lost", "weeks_closed_on_time", "weeks_open", "schools_without_monitor"]].rename(columns={
        "school_code": "Mã", "school_name": "Trường", "scheduled": "Số tiết", "on_time": "Đúng hạn",
        "late": "Trễ", "missed": "Không ký", "on_time_rate": "Tỉ lệ đúng hạn", "hours_lost": "Giờ mất",
        "weeks_closed_on_time": "Chốt đúng hạn", "weeks_open": "Chưa chốt",
        "schools_without_monitor": "Chưa có GS"})
    table["Tỉ lệ đúng hạn"] = table["Tỉ lệ đúng hạn"].map(formats.percent)
    total = frame[["scheduled", "on_time", "late", "missed", "pending"]].sum()
    decided = total["scheduled"] - total["pending"]
    rate = total["on_time"] / decided if decided else float("nan")
    n = formats.number
    foot = (f"\nTổng / total: {n(total['scheduled'])} tiết, đúng hạn {n(total['on_time'])}, trễ {n(total['late'])}, "
            f"không ký {n(total['missed'])}, tỉ lệ đúng hạn {formats.percent(rate)}\n")
    return head + table.to_string(index=False) + foot
