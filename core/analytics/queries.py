"""The console's aggregates on the analytics store (:mod:`core.analytics.store`), run by DuckDB
(or, given ``engine=``, by Spark over the same files: :mod:`core.analytics.engines`).

Each function here answers what a record-store service answers, with the same columns, the
same definitions and the same scope, from the store's facts instead of PostgreSQL:

============================  ==========================================================
here                          the record store's
============================  ==========================================================
:func:`compliance_figures`    :func:`core.logbook.compliance.compliance` (teacher, class,
                              school, district, department; the class-week closing and
                              schools-without-monitor columns)
:func:`signing_heatmap`       :func:`core.logbook.queries.signing_heatmap`
:func:`late_signing_distribution`  :func:`core.logbook.queries.late_signing_distribution`
:func:`issuance_figures`      :func:`core.transcripts.figures.issuance_figures`
============================  ==========================================================

(the trend over the weeks is :func:`compliance_figures` with ``by_week=True``).
The figures are those of the store's last refresh; an unsigned period of a day before
``as_of`` counts as missed at query time, exactly as the record store counts it.

Scope: every function requires ``Permission.VIEW`` and filters the facts to the caller's
schools; a ``school_id`` outside them gives nothing (an empty frame), as the record store's
services do. Numbers are aggregated in DuckDB over integer keys, and the names are joined
from the dimensions afterwards.
"""
from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pandas as pd

from core.access.authz import SYSTEM, Actor, Permission, require
from core.access.cache import narrowed
from core.analytics.cache import ScopedCache
from core.analytics.engines import compile_sql, engine_for
from core.analytics.store import AnalyticsStore
from core.kernel import clock
from core.kernel.errors import RuleViolation
from core.logbook.compliance import with_rates
from core.logbook.rules.signing_window import decided_sql, hours_counted_sql, missed_sql, pending_sql

#: Per level: the fact columns aggregated on, the columns shown (from the dimensions joined
#: to the aggregate ``a``), and those joins — the same columns as the record store's levels.
_LEVELS = {
    "teacher": (["teacher_id", "school_id"],
                ["a.teacher_id", "t.teacher_code", "t.teacher_name", "a.school_id", "s.school_name"],
                "JOIN teacher t ON t.teacher_id = a.teacher_id JOIN school s ON s.school_id = a.school_id"),
    "class": (["class_id", "school_id"],
              ["a.class_id", "c.class_name", "c.grade", "a.school_id", "s.school_name"],
              "JOIN class c ON c.class_id = a.class_id JOIN school s ON s.school_id = a.school_id"),
    "school": (["school_id"],
               ["a.school_id", "s.school_code", "s.school_name", "s.district_id", "d.district_name"],
               "JOIN school s ON s.school_id = a.school_id JOIN district d ON d.district_id = s.district_id"),
    "district": (["district_id"], ["a.district_id", "d.district_name"],
                 "JOIN district d ON d.district_id = a.district_id"),
    "department": (["district_id"], ["d.department_id", "d.department_name"],
                   "JOIN district d ON d.district_id = a.district_id AND d.department_id IS NOT NULL"),
}
LEVELS = tuple(_LEVELS)
_FIGURES = ("scheduled", "on_time", "late", "missed", "pending")
_WEEKS = ("weeks_total", "weeks_closed_on_time", "weeks_closed_late", "weeks_open", "weeks_reopened")


def _today(as_of: dt.date | dt.datetime | None) -> dt.date:
    if as_of is None:
        return clock.now().date()
    return as_of.date() if isinstance(as_of, dt.datetime) else as_of


def _where(actor: Actor, *, school_id: int | None = None, district_id: int | None = None,
           school_year: int | None = None, week: int | None = None, week_id: int | None = None,
           column: str = "f.school_id") -> tuple[list[str], dict]:
    """The caller's scope and the filters, as SQL conditions with named parameters. A filter
    narrows the scope, never widens it: a school outside it selects nothing."""
    filters, params = [], {}
    if actor.school_ids is not None:
        ids = sorted(int(s) for s in actor.school_ids)
        # the range beside the list: every engine prunes the row groups outside it from the
        # files' min/max statistics (a province's or a district's schools have near ids)
        filters.append(f"({column} BETWEEN {ids[0]} AND {ids[-1]} AND {column} IN ({', '.join(map(str, ids))}))"
                       if ids else "false")
    for name, value, col in (("school_id", school_id, column), ("district_id", district_id, "f.district_id"),
                             ("school_year", school_year, "f.school_year"), ("week", week, "f.week"),
                             ("week_id", week_id, "f.week_id")):
        if value is not None:
            filters.append(f"{col} = ${name}")
            params[name] = int(value)
    return filters, params


def _run(store: AnalyticsStore, con, sql: str, params: dict, engine=None) -> pd.DataFrame:
    """``sql`` on ``engine`` (:mod:`core.analytics.engines`: Spark…), else on DuckDB (over
    ``con`` when given): the one definition of each aggregate, whatever runs it."""
    return engine_for(con, engine).run(store, sql, params)


def _int(frame: pd.DataFrame, columns) -> pd.DataFrame:
    for col in columns:
        if col in frame:
            frame[col] = frame[col].fillna(0).astype("int64")
    return frame


# ---------------------------------------------------------------- compliance
def compliance_sql(level: str, filters: list[str] = (), scope: list[str] = (), *, by_week: bool = False) -> str:
    """The compliance figures at ``level`` as one DuckDB query (parameter ``$as_of``): the
    periods aggregated per fact key, then named (for the department, summed over its
    districts); beside them the class-weeks that are over (last day before ``$as_of``) and how
    they were closed, and the schools in ``scope`` without an active monitor — all their
    schools, whether or not they have lesson entries, as the record store counts them.

    ``by_week``: the same figures per school year and week of the facts (the trend over the
    teaching weeks), without the closing and monitor columns."""
    ids, shown, joins = _LEVELS[level]
    if by_week:
        ids, shown = ["school_year", "week", *ids], ["a.school_year", "a.week", *shown]
    names = [c.split(".")[1] for c in shown]
    key = names[0]
    where = " AND ".join(["1 = 1", *filters])
    ctes = [
        f"a AS (SELECT {', '.join('f.' + k for k in ids)}, count(*) AS scheduled, "
        f"sum(CASE WHEN {hours_counted_sql('f.status')} THEN 1 ELSE 0 END) AS on_time, "
        "sum(CASE WHEN f.status = 'late' THEN 1 ELSE 0 END) AS late, "
        f"sum(CASE WHEN {missed_sql('f.status', 'f.day')} THEN 1 ELSE 0 END) AS missed, "
        f"sum(CASE WHEN {pending_sql('f.status', 'f.day')} THEN 1 ELSE 0 END) AS pending "
        f"FROM facts f WHERE {where} GROUP BY {', '.join('f.' + k for k in ids)})",
        f"n AS (SELECT {', '.join(f'{c} AS {n}' for c, n in zip(shown, names))}, "
        + ", ".join(f"sum(a.{f}) AS {f}" for f in _FIGURES) + f" FROM a {joins} GROUP BY {', '.join(shown)})"]
    columns = [f"n.{n}" if n not in ("grade", "school_year", "week") else f"CAST(n.{n} AS BIGINT) AS {n}"
               for n in names]
    columns += [f"CAST(n.{f} AS BIGINT) AS {f}" for f in _FIGURES]
    tail = ""
    if level != "teacher" and not by_week:
        grouped = "district_id" if level == "department" else key
        ctes.append(
            f"c AS (SELECT f.{grouped}, count(*) AS weeks_total, "
            "sum(CASE WHEN f.closed AND f.closed_on_time THEN 1 ELSE 0 END) AS weeks_closed_on_time, "
            "sum(CASE WHEN f.closed AND NOT f.closed_on_time THEN 1 ELSE 0 END) AS weeks_closed_late, "
            "sum(CASE WHEN f.closed THEN 0 ELSE 1 END) AS weeks_open, "
            "sum(CASE WHEN f.reopened THEN 1 ELSE 0 END) AS weeks_reopened "
            f"FROM closes f WHERE {' AND '.join(['f.last_day < $as_of', *filters])} GROUP BY f.{grouped})")
        if level == "department":
            ctes.append("w AS (SELECT d.department_id, " + ", ".join(f"sum(c.{w}) AS {w}" for w in _WEEKS)
                        + " FROM c JOIN district d ON d.district_id = c.district_id GROUP BY d.department_id)")
        else:
            ctes.append("w AS (SELECT * FROM c)")
        columns += [f"CAST(coalesce(w.{w}, 0) AS BIGINT) AS {w}" for w in _WEEKS]
        tail += f" LEFT JOIN w ON w.{key} = n.{key}"
    if level in ("school", "district", "department") and not by_week:
        ctes.append(f"m AS (SELECT {'s' if level == 'school' else 'd'}.{key}, "
                    "sum(1 - coalesce(s.has_monitor, 1)) AS schools_without_monitor "
                    "FROM school s JOIN district d ON d.district_id = s.district_id "
                    f"WHERE {' AND '.join(['1 = 1', *scope])} GROUP BY 1)")
        columns.append("CAST(coalesce(m.schools_without_monitor, 0) AS BIGINT) AS schools_without_monitor")
        tail += f" LEFT JOIN m ON m.{key} = n.{key}"
    return (f"WITH {', '.join(ctes)} SELECT {', '.join(columns)} FROM n{tail} "
            f"ORDER BY {', '.join('n.' + n for n in names)}")


def compliance_figures(store: AnalyticsStore, actor: Actor, level: str = "school", *,
                       school_id: int | None = None, district_id: int | None = None, school_year: int | None = None,
                       week: int | None = None, week_id: int | None = None, by_week: bool = False,
                       as_of: dt.date | dt.datetime | None = None, con=None, engine=None) -> pd.DataFrame:
    """Compliance figures grouped at ``level`` from the analytics store: the columns of
    :func:`core.logbook.compliance.compliance` for that level — names, scheduled, on_time,
    late, missed, pending, on_time_rate, hours_counted, hours_lost; the class-week closing
    columns (weeks_total, weeks_closed_on_time, weeks_closed_late, weeks_open, weeks_reopened)
    except per teacher; schools_without_monitor for school, district and department. With
    ``by_week``, the figures per ``school_year`` and ``week`` (the trend), without those columns.
    The term's figures per school (no other filter than ``school_id``) are the per-school rollup
    of every school narrowed to the caller's (:func:`school_rollup`)."""
    require(actor, Permission.VIEW)
    if level not in _LEVELS:
        raise RuleViolation(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}",
                            message_vi=f"Không có mức tổng hợp {level!r}; chọn một trong: {', '.join(LEVELS)}")
    unfiltered = (district_id, school_year, week, week_id) == (None,) * 4
    if level == "school" and not by_week and engine is None and unfiltered:
        # the term's figures per school: each row is its school's alone, so the rollup of every
        # school narrowed to the caller's is the same frame as the query filtered to them
        frame = narrowed(school_rollup(store, "school", as_of=as_of, con=con), actor, school_id).reset_index(drop=True)
    elif level == "department" and by_week and engine is None and (district_id, week, week_id) == (None,) * 3:
        # the trend: every school's figures per week, narrowed to the caller's, summed per department
        rows = narrowed(school_rollup(store, "trend", as_of=as_of, con=con), actor, school_id, school_year=school_year)
        keys = ["school_year", "week", "department_id", "department_name"]
        frame = (rows.groupby(keys, as_index=False)[list(_FIGURES)].sum().sort_values(keys).reset_index(drop=True)
                 .astype({c: "int64" for c in ("school_year", "week", "department_id", *_FIGURES)}))
    else:
        filters, params = _where(actor, school_id=school_id, district_id=district_id, school_year=school_year,
                                 week=week, week_id=week_id)
        scope, _ = _where(actor, column="s.school_id")
        params["as_of"] = _today(as_of)
        frame = _run(store, con, compliance_sql(level, filters, scope, by_week=by_week), params, engine)
    if frame.empty:  # as the record store: no groups, no closing or monitor columns
        frame = frame.drop(columns=[c for c in (*_WEEKS, "schools_without_monitor") if c in frame])
    with_rates(frame)
    return frame


# ---------------------------------------------------------------- heatmap, late signing
#: Per school, weekday and period: the periods decided by ``$as_of`` (signed, marked missed, or
#: unsigned on an earlier day) and those signed on time. By day first (a few hundred days), the
#: weekday of those: not a date function per period.
_HEAT_SQL = ("SELECT CAST(d.school_id AS BIGINT) AS school_id, CAST(iso_weekday(d.day) + 1 AS BIGINT) AS weekday, "
             "CAST(d.period_no AS BIGINT) AS period_no, CAST(sum(d.periods) AS BIGINT) AS periods, "
             "CAST(sum(d.on_time) AS BIGINT) AS on_time FROM ("
             "SELECT f.school_id, f.day, f.period_no, count(*) AS periods, "
             f"sum(CASE WHEN {hours_counted_sql('f.status')} THEN 1 ELSE 0 END) AS on_time "
             "FROM facts f WHERE {where} GROUP BY 1, 2, 3) d GROUP BY 1, 2, 3")
#: Per school, week and whole minute after the period's end: the periods signed late then.
_LATE_SQL = ("SELECT CAST(f.school_id AS BIGINT) AS school_id, CAST(f.week_id AS BIGINT) AS week_id, "
             "CAST(f.minutes_late AS BIGINT) AS minutes_late, count(*) AS entries FROM facts f "
             "WHERE f.status = 'late' AND f.minutes_late IS NOT NULL AND {where} GROUP BY 1, 2, 3")
#: The per-school rollups (tổng hợp theo trường) kept for every school of the store: each is one
#: pass over the year's facts (a second in a city), shared by every caller and narrowed to each
#: caller's schools afterwards (:func:`core.access.cache.narrowed`); warmed after each refresh (:func:`warm`).
_ROLLUPS = ScopedCache(max_entries=16)
#: The trend's rollup: every school's figures per week (:func:`compliance_sql` by week) with
#: its department, as the department level joins it.
_TREND_SQL = ("SELECT t.*, d.department_id, d.department_name FROM ({by_week}) t "
              "JOIN district d ON d.district_id = t.district_id AND d.department_id IS NOT NULL")
#: Each rollup: whether it depends on the date (``$as_of``), and its query over every school.
_ROLLUP_SQL = {
    "heat": (True, lambda: _HEAT_SQL.replace("{where}", decided_sql("f.status", "f.day"))),
    "late": (False, lambda: _LATE_SQL.replace("{where}", "1 = 1")),
    "school": (True, lambda: compliance_sql("school")),
    "trend": (True, lambda: _TREND_SQL.replace("{by_week}", compliance_sql("school", by_week=True))),
    "issuance_school": (False, lambda: _issuance_sql("school", [])),
    "issuance_grade": (False, lambda: _issuance_sql("grade", [])),
}
_ROLLING = {name: threading.Lock() for name in _ROLLUP_SQL}


def school_rollup(store: AnalyticsStore, name: str, *, as_of: dt.date | dt.datetime | None = None,
                  con=None) -> pd.DataFrame:
    """The per-school rows of ``name`` (:data:`_ROLLUP_SQL`: ``"heat"``, :data:`_HEAT_SQL` decided
    by ``as_of``; ``"late"``, :data:`_LATE_SQL`; ``"school"``, the term's compliance figures per
    school, :func:`compliance_sql`, by ``as_of``; ``"trend"``, those per week, :data:`_TREND_SQL`;
    ``"issuance_school"``, ``"issuance_grade"``, :func:`issuance_figures`' counts per school
    and per school · grade) for **every** school of the store, computed once per store
    fingerprint (and day): internal, never shown as such — the answers below narrow it to the
    caller's scope first. One computation at a time per rollup: a page that asks while the
    warming thread computes it waits for that result instead of computing it again."""
    day = _today(as_of)
    dated, build = _ROLLUP_SQL[name]
    sql = build()
    with _ROLLING[name]:
        return _ROLLUPS.get(store, SYSTEM, name, lambda: _run(store, con, sql, {"as_of": day} if dated else {}),
                            per="day", shared=True, as_of=day if dated else None)


def warm(store: AnalyticsStore) -> None:
    """Compute the per-school rollups of today for the store's current content (after each
    refresh, and when the console starts), so that no page's first visit pays for them."""
    for name in _ROLLING:
        school_rollup(store, name)


def signing_heatmap(store: AnalyticsStore, actor: Actor, *, school_id: int | None = None,
                    as_of: dt.date | dt.datetime | None = None, con=None, engine=None) -> pd.DataFrame:
    """On-time signing rate by weekday × period, as :func:`core.logbook.queries.signing_heatmap`:
    ``weekday`` 2 (Thứ 2, Monday) … 7, 8 for Sunday; the periods decided by ``as_of`` (signed,
    marked missed, or unsigned on an earlier day). From the per-school rollup of every school
    (:func:`school_rollup`) narrowed to the caller's, or, given an ``engine``, :data:`_HEAT_SQL`
    filtered to them on it."""
    require(actor, Permission.VIEW)
    if engine is None:
        rows = narrowed(school_rollup(store, "heat", as_of=as_of, con=con), actor, school_id)
    else:
        filters, params = _where(actor, school_id=school_id)
        params["as_of"] = _today(as_of)
        rows = _run(store, con, _HEAT_SQL.replace("{where}", " AND ".join([decided_sql("f.status", "f.day"),
                                                                             *filters])), params, engine)
    frame = (rows.groupby(["weekday", "period_no"], as_index=False)[["periods", "on_time"]].sum()
             .sort_values(["weekday", "period_no"]).reset_index(drop=True))
    frame = frame.astype({c: "int64" for c in ("weekday", "period_no", "periods", "on_time")})
    frame["on_time_rate"] = (frame["on_time"] / frame["periods"]).round(4)
    return frame


def late_signing_distribution(store: AnalyticsStore, actor: Actor, *, school_id: int | None = None,
                              week_id: int | None = None, bucket_minutes: int = 1, con=None,
                              engine=None) -> pd.DataFrame:
    """How long after the period's end the late periods were signed, as
    :func:`core.logbook.queries.late_signing_distribution`: ``entries`` per bucket of
    ``bucket_minutes`` whole minutes, ``minutes_after_end`` the bucket's lower edge. From the
    per-school rollup narrowed to the caller's schools, or :data:`_LATE_SQL` on ``engine``."""
    require(actor, Permission.VIEW)
    width = int(bucket_minutes)
    if width < 1:
        raise ValueError("bucket_minutes must be at least 1")
    if engine is None:
        rows = narrowed(school_rollup(store, "late", con=con), actor, school_id, week_id=week_id)
    else:
        filters, params = _where(actor, school_id=school_id, week_id=week_id)
        rows = _run(store, con, _LATE_SQL.replace("{where}", " AND ".join(["1 = 1", *filters])), params, engine)
    minutes = rows["minutes_late"].astype("int64")
    # m - m % w: the bucket's lower edge, truncating (fmod) as the record store's integer division does
    frame = (rows.assign(minutes_after_end=minutes - np.fmod(minutes, width))
             .groupby("minutes_after_end", as_index=False)["entries"].sum().sort_values("minutes_after_end"))
    return frame.reset_index(drop=True).astype({"minutes_after_end": "int64", "entries": "int64"})


# ---------------------------------------------------------------- transcripts
_ISSUANCE_LEVELS = {
    "district": (["district_id"], ["a.district_id", "d.district_name"],
                 "JOIN district d ON d.district_id = a.district_id"),
    "school": (["school_id"], ["a.school_id", "s.school_code", "s.school_name"],
               "JOIN school s ON s.school_id = a.school_id"),
    "grade": (["school_id", "grade"], ["a.school_id", "s.school_code", "a.grade"],
              "JOIN school s ON s.school_id = a.school_id"),
}
_ISSUANCE_COUNTS = ("students", "confirmed", "drafts", "homeroom_signed", "issued", "cancelled", "transferred_in")


def _issuance_sql(level: str, filters: list[str], *, by_year: bool = False) -> str:
    """Issuance at ``level`` as one DuckDB query over the ``filters``; ``by_year``: one school
    year chosen (parameter ``$school_year_id`` in the filters), whose confirmations count."""
    ids, shown, joins = _ISSUANCE_LEVELS[level]
    # Confirmed: the class's subjects confirmed in the chosen school year, or in any without one.
    confirmed = "confirmed_in_year" if by_year else "confirmed_any_year"
    where = " AND ".join(["1 = 1", *filters])
    names = [c.split(".")[1] for c in shown]

    def students(flag: str) -> str:
        return f"count(DISTINCT CASE WHEN p.{flag} THEN p.student_id END)"

    # p: one row per student · class (the record store counts distinct students and distinct
    # transcripts, whatever the school years the results were entered in)
    return (
        "WITH p AS (SELECT f.student_id, f.class_id, f.school_id, f.district_id, f.grade, "
        f"bool_or(f.{confirmed}) AS confirmed, bool_or(f.draft) AS draft, "
        "bool_or(f.homeroom_signed) AS homeroom_signed, bool_or(f.issued) AS issued, max(f.cancelled) AS cancelled, "
        "bool_or(f.transferred_in) AS transferred_in "
        f"FROM issuance f WHERE {where} GROUP BY f.student_id, f.class_id, f.school_id, f.district_id, f.grade), "
        f"a AS (SELECT {', '.join('p.' + k for k in ids)}, count(DISTINCT p.student_id) AS students, "
        f"{students('confirmed')} AS confirmed, {students('draft')} AS drafts, "
        f"{students('homeroom_signed')} AS homeroom_signed, {students('issued')} AS issued, "
        f"CAST(sum(p.cancelled) AS BIGINT) AS cancelled, {students('transferred_in')} AS transferred_in "
        f"FROM p GROUP BY {', '.join('p.' + k for k in ids)}) "
        f"SELECT {', '.join(f'{c} AS {n}' for c, n in zip(shown, names))}, "
        + ", ".join(f"a.{c}" for c in _ISSUANCE_COUNTS)
        + f" FROM a {joins} ORDER BY {', '.join(shown)}")


def issuance_figures(store: AnalyticsStore, actor: Actor, level: str = "school", school_year_id: int | None = None,
                     as_of: dt.date | None = None, con=None, engine=None) -> pd.DataFrame:
    """Transcript issuance per district, school or school · grade, as
    :func:`core.transcripts.figures.issuance_figures`: students with results, students whose
    class's results every subject teacher confirmed, students with a transcript drafted, signed
    by the homeroom teacher, issued; cancelled transcripts; students arrived with a transferred
    transcript; the percentage issued; per grade the deadline and whether it passed."""
    from core.transcripts.figures import issuance_rates

    require(actor, Permission.VIEW)
    if level not in _ISSUANCE_LEVELS:
        raise RuleViolation(f"unknown level {level!r}; choose one of {', '.join(_ISSUANCE_LEVELS)}",
                            message_vi=f"Không có mức tổng hợp {level!r}; chọn một trong: "
                                       f"{', '.join(_ISSUANCE_LEVELS)}")
    if level in ("school", "grade") and school_year_id is None and engine is None:
        # a school's (or school · grade's) counts are its own students': the rollup of every
        # school narrowed to the caller's is the query filtered to them
        frame = narrowed(school_rollup(store, f"issuance_{level}", con=con), actor).reset_index(drop=True)
    else:
        filters, params = _where(actor)
        if school_year_id is not None:
            filters.append("f.school_year_id = $school_year_id")
            params["school_year_id"] = int(school_year_id)
        frame = _run(store, con, _issuance_sql(level, filters, by_year=school_year_id is not None), params, engine)
    frame = _int(frame, (*_ISSUANCE_COUNTS, "grade"))
    return issuance_rates(frame, level, as_of)


def portable_sql(level: str = "school", *, by_week: bool = False, dialect: str = "trino") -> str:
    """The compliance aggregate compiled for another engine (``trino``, ``spark``, ``postgres``,
    …) by sqlglot, with the store's views as tables and ``$as_of`` as a parameter ``?``: what a
    department runs on Trino or Spark over the same Parquet (docs/analytics.md)."""
    sql = compliance_sql(level, by_week=by_week).replace("$as_of", "CAST(? AS DATE)")
    return compile_sql(sql, dialect, pretty=True)


__all__ = ["compliance_figures", "compliance_sql", "signing_heatmap", "late_signing_distribution", "issuance_figures",
           "portable_sql", "LEVELS", "school_rollup", "warm"]


def compliance_source(db, store: AnalyticsStore, actor: Actor, *, as_of: dt.date | dt.datetime | None = None):
    """:func:`compliance_figures` as a ``source(level, **filters)`` for
    :mod:`core.logbook.this_week` (the overview's week on the analytics store): the same
    columns as the record store's for the levels it asks — the trend of one school year
    (``TREND`` with ``school_year_id``) and the teachers / schools of one week (``week_id``)."""
    from core.logbook.compliance import TREND
    from core.storage.models import SchoolYear

    def source(level: str, *, week_id: int | None = None, school_year_id: int | None = None,
               school_id: int | None = None, district_id: int | None = None) -> pd.DataFrame:
        if level != TREND:
            return compliance_figures(store, actor, level, week_id=week_id, school_id=school_id,
                                      district_id=district_id, as_of=as_of)
        year = None
        if school_year_id is not None:
            with db.reading() as session:
                start = session.get(SchoolYear, school_year_id)
                year = start.start_date.year if start is not None else None
        frame = compliance_figures(store, actor, "department", by_week=True, school_year=year, as_of=as_of)
        counts = ["scheduled", "on_time", "late", "missed", "pending"]
        if frame.empty:
            return pd.DataFrame(columns=["week_number", *counts, "on_time_rate", "hours_counted", "hours_lost"])
        frame = frame.groupby("week", as_index=False)[counts].sum().rename(columns={"week": "week_number"})
        return with_rates(frame)
    return source
