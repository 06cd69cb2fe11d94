"""The analytics store (kho phân tích): signing-compliance, week-closing and transcript-issuance
facts in Parquet, queried with DuckDB.

PostgreSQL (or the demo's SQLite) stays the system of record. Three kinds of facts are copied
into Parquet files partitioned by school year (and week)::

    <root>/facts/school_year=2025/week=7/part-<week id>.parquet     one row per scheduled period
    <root>/closes/school_year=2025/week=7/part-<week id>.parquet    one row per class-week (closing)
    <root>/issuance/school_year=2025/part-<year id>.parquet         one row per student · class · school year
    <root>/dims/{district,school,class,teacher}[_*].parquet          names, departments, monitors
    <root>/state.json          (a fingerprint per exported week and school year: what a refresh compares)

and the aggregates of the console (:mod:`core.analytics.queries`) and of the notebooks run
there. Copying is incremental: :func:`refresh` fingerprints every week (its periods, and
separately its class-week closes) and every school year (results, confirmations, transcripts,
teaching assignments, received transcripts) in the record store with a few aggregate queries
and rewrites only the partitions that changed (a new week, late signatures, the nightly missed
marks, a week closed or reopened, a transcript signed or cancelled). From PostgreSQL it reads
with ADBC, whose driver streams ``COPY … TO STDOUT (FORMAT binary)`` straight into Arrow — no
row-by-row fetching.

:func:`synthesize_year` writes a full school year of *synthetic* facts (marked so) directly
into the store, for city-scale analysis beyond what the record store holds.

DuckDB runs offline: extensions are never installed or loaded automatically and the
extension repository points at an empty local directory, so a query needing a missing
extension fails at once instead of trying the network (Parquet support is built in).

Every query takes the caller's :class:`~core.access.authz.Actor` and keeps to their schools, the
same scope rule as the record store's services. The SQL is written once, in DuckDB's
dialect, and :func:`portable_sql` compiles it for a distributed engine (Trino, Spark) with
sqlglot — the path to national scale in docs/analytics.md.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from core.analytics.engines import duckdb_macros
from core.kernel import clock
from core.kernel.errors import RuleViolation
from core.storage.db import Database

#: Synthetic facts use ids from here on, so they never meet the record store's.
SYNTHETIC_ID_BASE = 1_000_000_000
STATUSES = ("on_time", "late", "missed", "pending")
#: The layout of what :func:`refresh` copies; a store written with another one is rebuilt
#: from the record store at its next refresh (its synthetic facts are kept).
SCHEMA = 2


# ---------------------------------------------------------------- the store
class AnalyticsStore:
    """A directory of Parquet facts and dimensions, with DuckDB connections over it."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.facts = self.root / "facts"
        self.closes = self.root / "closes"
        self.issuance = self.root / "issuance"
        self.dims = self.root / "dims"
        self.state_file = self.root / "state.json"
        self._empty_repo = Path(tempfile.gettempdir()) / "sohoa-no-duckdb-extensions"
        self._shared = None          # (layout, connection): the views, defined once
        self._lock = threading.Lock()

    # -- state
    def state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {"weeks": {}, "years": {}}

    def save_state(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.state_file)

    # -- DuckDB
    def connect(self, *, threads: int | None = None):
        """A DuckDB connection with the views ``facts``, ``closes``, ``issuance`` and
        ``district``, ``school``, ``class``, ``teacher`` over the store's files.

        Without ``threads`` it is a cursor of one connection the store keeps (opening DuckDB
        and binding the views costs tens of milliseconds; a cursor costs nothing, and the views
        read the partitions present when a query runs); with ``threads``, a connection of its own."""
        if threads:
            return self.open(threads=threads)
        layout = self._layout()
        with self._lock:
            if self._shared is None or self._shared[0] != layout:
                self._shared = (layout, self.open())
            return self._shared[1].cursor()

    def open(self, *, threads: int | None = None):
        """A new offline DuckDB connection with the store's views (see :meth:`connect`)."""
        import duckdb

        self._empty_repo.mkdir(parents=True, exist_ok=True)
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if threads:
            config["threads"] = threads
        con = duckdb.connect(config=config)
        con.execute(f"SET GLOBAL custom_extension_repository = '{self._empty_repo.as_posix()}'")
        con.execute(f"SET GLOBAL extension_directory = '{self._empty_repo.as_posix()}'")
        duckdb_macros(con)  # the portable functions of the queries (core.analytics.engines)
        for name, (folder, pattern, columns) in self._tables().items():
            if next(folder.glob(pattern), None) is not None:
                files = (folder / pattern).as_posix()
                # every file of a kind has the same columns: no union_by_name (it reads every
                # file's footer at each query)
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{files}', hive_partitioning = true)")
            else:
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM ({_empty(columns)})")
        for name, columns in _DIMS.items():
            paths = self._dim_files(name)
            source = f"read_parquet({paths!r}, union_by_name = true)" if paths else f"({_empty(columns)})"
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
        return con

    def _tables(self) -> dict:
        return {"facts": (self.facts, "school_year=*/week=*/*.parquet", _FACT_COLUMNS),
                "closes": (self.closes, "school_year=*/week=*/*.parquet", _CLOSE_COLUMNS),
                "issuance": (self.issuance, "school_year=*/*.parquet", _ISSUANCE_COLUMNS)}

    def _dim_files(self, name: str) -> list[str]:
        """The files of a dimension: the record store's, the synthetic one, and nationally one
        per province (``school_p79.parquet``, core.analytics.federation)."""
        own = self.dims / f"{name}.parquet"
        return [p.as_posix() for p in ([own] if own.exists() else []) + sorted(self.dims.glob(f"{name}_*.parquet"))]

    def _layout(self) -> tuple:
        """What the views were defined over: which kinds of facts exist, which dimension files."""
        return (tuple(next(folder.glob(pattern), None) is not None for folder, pattern, _ in self._tables().values())
                + tuple(tuple(self._dim_files(name)) for name in _DIMS))

    def week_partition(self, school_year: int, week: int) -> Path:
        return self.facts / f"school_year={school_year}" / f"week={week}"

    def close_partition(self, school_year: int, week: int) -> Path:
        return self.closes / f"school_year={school_year}" / f"week={week}"

    def issuance_partition(self, school_year: int) -> Path:
        return self.issuance / f"school_year={school_year}"


#: The columns of a fact file, in this order in every file (record store and synthetic);
#: ``school_year`` and ``week`` come from the partition's path.
_FACT_TYPES = {"day": "DATE", "period_no": "SMALLINT", "district_id": "BIGINT", "school_id": "BIGINT",
               "class_id": "BIGINT", "grade": "SMALLINT", "teacher_id": "BIGINT", "subject_id": "BIGINT",
               "status": "VARCHAR", "minutes_late": "INTEGER", "synthetic": "BOOLEAN", "week_id": "BIGINT"}
_FACT_COLUMNS = {**_FACT_TYPES, "school_year": "BIGINT", "week": "BIGINT"}
#: One row per class-week with lesson entries: its last day and how it was closed.
_CLOSE_TYPES = {"class_id": "BIGINT", "school_id": "BIGINT", "district_id": "BIGINT", "week_id": "BIGINT",
                "last_day": "DATE", "closed": "BOOLEAN", "closed_on_time": "BOOLEAN", "reopened": "BOOLEAN"}
_CLOSE_COLUMNS = {**_CLOSE_TYPES, "school_year": "BIGINT", "week": "BIGINT"}
#: One row per student · class · school year with subject results, and where the student's
#: transcript of that class stands.
_ISSUANCE_TYPES = {"student_id": "BIGINT", "class_id": "BIGINT", "school_id": "BIGINT", "district_id": "BIGINT",
                   "grade": "SMALLINT", "school_year_id": "BIGINT", "confirmed_in_year": "BOOLEAN",
                   "confirmed_any_year": "BOOLEAN", "draft": "BOOLEAN", "homeroom_signed": "BOOLEAN",
                   "issued": "BOOLEAN", "cancelled": "INTEGER", "transferred_in": "BOOLEAN"}
_ISSUANCE_COLUMNS = {**_ISSUANCE_TYPES, "school_year": "BIGINT"}
_DIMS = {"district": {"district_id": "BIGINT", "district_code": "VARCHAR", "district_name": "VARCHAR",
                      "department_id": "BIGINT", "department_name": "VARCHAR"},
         "school": {"school_id": "BIGINT", "school_code": "VARCHAR", "school_name": "VARCHAR",
                    "district_id": "BIGINT", "has_monitor": "INTEGER"},
         "class": {"class_id": "BIGINT", "class_name": "VARCHAR", "grade": "SMALLINT", "school_id": "BIGINT"},
         "teacher": {"teacher_id": "BIGINT", "teacher_code": "VARCHAR", "teacher_name": "VARCHAR",
                     "school_id": "BIGINT"}}


def _empty(columns: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items()) + " WHERE false"


# ---------------------------------------------------------------- copying from the record store
#: One row per scheduled period. ``minutes_late``: whole minutes after the period's end at which
#: a late entry was signed (regulations: signing closes 5 minutes after the end), from the
#: whole seconds as :func:`core.logbook.queries.late_signing_distribution` counts them.
_FACTS_SQL = """
SELECT e.day, e.period_no, s.district_id, e.school_id, e.class_id, c.grade, e.teacher_id, e.subject_id,
       e.status,
       CASE WHEN e.status = 'late' AND e.signed_at IS NOT NULL THEN ({late_seconds}) / 60 END AS minutes_late,
       e.week_id
FROM logbook_entry e JOIN school s ON s.id = e.school_id JOIN school_class c ON c.id = e.class_id
WHERE e.week_id = {week_id}
"""
#: One row per class-week with entries (what core.logbook.compliance counts as class-weeks).
_CLOSES_SQL = """
SELECT cw.class_id, cw.school_id, s.district_id, {week_id} AS week_id, cw.last_day,
       CASE WHEN wc.status = 'closed' THEN 1 ELSE 0 END AS closed,
       CASE WHEN wc.status = 'closed' AND wc.closed_on_time = {true} THEN 1 ELSE 0 END AS closed_on_time,
       CASE WHEN COALESCE(wc.reopen_count, 0) > 0 THEN 1 ELSE 0 END AS reopened
FROM (SELECT class_id, school_id, max(day) AS last_day FROM logbook_entry WHERE week_id = {week_id}
      GROUP BY class_id, school_id) cw
JOIN school s ON s.id = cw.school_id
LEFT JOIN week_close wc ON wc.class_id = cw.class_id AND wc.week_id = {week_id}
"""
#: One row per student · class · school year with subject results (what
#: core.transcripts.figures.issuance_figures counts), with the transcript's steps.
_ISSUANCE_SQL = """
SELECT st.student_id, st.class_id, c.school_id, s.district_id, c.grade, st.school_year_id,
       CASE WHEN cy.n >= tg.n THEN 1 ELSE 0 END AS confirmed_in_year,
       CASE WHEN ca.n >= tg.n THEN 1 ELSE 0 END AS confirmed_any_year,
       CASE WHEN tr.drafts > 0 THEN 1 ELSE 0 END AS draft,
       CASE WHEN tr.homeroom_signed > 0 THEN 1 ELSE 0 END AS homeroom_signed,
       CASE WHEN tr.issued > 0 THEN 1 ELSE 0 END AS issued,
       COALESCE(tr.cancelled, 0) AS cancelled,
       CASE WHEN EXISTS (SELECT 1 FROM received_transcript r WHERE r.student_id = st.student_id
                         AND r.receiving_school_id = c.school_id) THEN 1 ELSE 0 END AS transferred_in
FROM (SELECT DISTINCT student_id, class_id, school_year_id FROM subject_result WHERE school_year_id = {year_id}) st
JOIN school_class c ON c.id = st.class_id JOIN school s ON s.id = c.school_id
LEFT JOIN (SELECT class_id, count(DISTINCT subject_id) AS n FROM teaching_assignment
           WHERE valid_to IS NULL AND class_id IN ({classes}) GROUP BY class_id) tg ON tg.class_id = st.class_id
LEFT JOIN (SELECT class_id, count(DISTINCT subject_id) AS n FROM subject_confirmation
           WHERE school_year_id = {year_id} GROUP BY class_id) cy ON cy.class_id = st.class_id
LEFT JOIN (SELECT class_id, count(DISTINCT subject_id) AS n FROM subject_confirmation
           WHERE class_id IN ({classes}) GROUP BY class_id) ca ON ca.class_id = st.class_id
LEFT JOIN (SELECT student_id, class_id, sum(CASE WHEN status = 'draft' THEN 1 ELSE 0 END) AS drafts,
                  sum(CASE WHEN status = 'homeroom_signed' THEN 1 ELSE 0 END) AS homeroom_signed,
                  sum(CASE WHEN status = 'issued' THEN 1 ELSE 0 END) AS issued,
                  sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled
           FROM transcript WHERE class_id IN ({classes}) GROUP BY student_id, class_id) tr
       ON tr.student_id = st.student_id AND tr.class_id = st.class_id
"""
_ISSUANCE_CLASSES = "SELECT class_id FROM subject_result WHERE school_year_id = {year_id}"

#: Per week: its periods (count, statuses, teachers, last signature) — a change of any
#: rewrites the week's facts.
_FINGERPRINT_SQL = """
SELECT w.id AS week_id, w.number AS week, CAST({year} AS INTEGER) AS school_year, count(*) AS periods,
       sum(CASE e.status WHEN 'on_time' THEN 1 WHEN 'late' THEN 100000 WHEN 'missed' THEN 10000000000 ELSE 0 END)
           AS statuses,
       sum(e.teacher_id) AS teachers, max(e.signed_at) AS last_signed
FROM logbook_entry e JOIN school_week w ON w.id = e.week_id JOIN school_year y ON y.id = w.school_year_id
GROUP BY w.id, w.number, {year}
"""
#: Per week: its class-week closes. Each step of a close only moves forward (open → homeroom
#: signed → closed; a reopening counts in reopen_count), so the weighted sum changes with any.
_CLOSE_FINGERPRINT_SQL = """
SELECT week_id, count(*) AS closes,
       sum(CASE status WHEN 'open' THEN 1 WHEN 'homeroom_signed' THEN 1000 WHEN 'closed' THEN 1000000
           ELSE 1000000000 END) AS statuses,
       sum(reopen_count) AS reopens, sum(CASE WHEN closed_on_time = {true} THEN 1 ELSE 0 END) AS on_time,
       max(closed_at) AS last_closed, max(homeroom_signed_at) AS last_homeroom
FROM week_close GROUP BY week_id
"""
#: Per school year, what its issuance facts are made of; transcripts, confirmations and
#: teaching assignments count under their class's school year (the services write them so).
#: A transcript only moves forward (draft → homeroom signed → issued → cancelled).
_YEAR_FINGERPRINT_SQL = """
SELECT y.id AS year_id, CAST({year} AS INTEGER) AS school_year, k.part, k.n, k.top, k.total
FROM school_year y JOIN (
  SELECT 'results' AS part, school_year_id AS year_id, count(*) AS n, max(id) AS top, sum(class_id) AS total
  FROM subject_result GROUP BY school_year_id
  UNION ALL
  SELECT 'classes', school_year_id, count(*), max(id), sum(grade + 1000 * school_id) FROM school_class
  GROUP BY school_year_id
  UNION ALL
  SELECT 'transcripts', c.school_year_id, count(*), max(t.id),
         sum(CASE t.status WHEN 'draft' THEN 1 WHEN 'homeroom_signed' THEN 1000 WHEN 'issued' THEN 1000000
             ELSE 1000000000 END)
  FROM transcript t JOIN school_class c ON c.id = t.class_id GROUP BY c.school_year_id
  UNION ALL
  SELECT 'confirmations', c.school_year_id, count(*), max(k.id), sum(k.school_year_id)
  FROM subject_confirmation k JOIN school_class c ON c.id = k.class_id GROUP BY c.school_year_id
  UNION ALL
  SELECT 'confirmations of the year', school_year_id, count(*), max(id), sum(class_id) FROM subject_confirmation
  GROUP BY school_year_id
  UNION ALL
  SELECT 'teaching', c.school_year_id, count(*), max(a.id), sum(CASE WHEN a.valid_to IS NULL THEN 1 ELSE 0 END)
  FROM teaching_assignment a JOIN school_class c ON c.id = a.class_id GROUP BY c.school_year_id
) k ON k.year_id = y.id
UNION ALL
SELECT NULL, NULL, 'received', count(*), max(id), 0 FROM received_transcript
"""


def _late_seconds(dialect: str) -> str:
    """Whole seconds from the period's end to the signature, as the record store's
    late-signing distribution computes them."""
    if dialect == "postgresql":
        return "CAST(floor(EXTRACT(EPOCH FROM e.signed_at - e.period_end)) AS INTEGER)"
    return "CAST(strftime('%s', e.signed_at) AS INTEGER) - CAST(strftime('%s', e.period_end) AS INTEGER)"


def _year_expr(dialect: str) -> str:
    return "EXTRACT(YEAR FROM y.start_date)" if dialect == "postgresql" else "strftime('%Y', y.start_date)"


def _true(dialect: str) -> str:
    return "true" if dialect == "postgresql" else "1"


@contextmanager
def _reading(db: Database):
    """A function running SQL on the record store and returning Arrow tables, over one
    connection for all its queries (a refresh's): ADBC (binary COPY) on PostgreSQL, the
    SQLAlchemy connection elsewhere."""
    import pyarrow as pa

    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc

        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc.connect(uri) as conn:
            def read(sql: str):
                with conn.cursor() as cur:
                    cur.execute(sql)
                    return cur.fetch_arrow_table()
            yield read
        return
    with db.reading() as session:
        def read(sql: str):
            frame = pd.read_sql_query(sql, session.connection())
            return pa.Table.from_pandas(frame, preserve_index=False)
        yield read


def _digest(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


@dataclass
class RefreshReport:
    weeks_checked: int = 0
    weeks_written: list[int] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    #: week numbers whose class-week closes were rewritten; school years (start year) whose
    #: issuance facts were rewritten
    closes_written: list[int] = field(default_factory=list)
    years_written: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"analytics refresh: {len(self.weeks_written)} of {self.weeks_checked} weeks rewritten, "
                f"{self.rows:,} facts, closes of {len(self.closes_written)} weeks, "
                f"issuance of {len(self.years_written)} school years, {self.seconds:.1f} s")


def refresh(db: Database, store: AnalyticsStore, *, progress: bool = False, iceberg=None) -> RefreshReport:
    """Bring the store up to date with the record store: rewrite the weeks whose fingerprint
    (periods, statuses, teachers, last signature) changed since the last refresh, the weeks
    whose class-week closes changed, the school years whose results, confirmations or
    transcripts changed, and the dimensions. All its reads go through one connection (one
    ADBC connection on PostgreSQL). With ``iceberg`` (a table of
    :func:`core.analytics.iceberg.facts_table`), each week's facts rewritten here overwrite
    that week's partition of the Iceberg table too (one snapshot per week)."""
    started = time.perf_counter()
    report = RefreshReport()
    with _reading(db) as read:
        _refresh(read, db.engine.dialect.name, store, report, progress, iceberg)
    report.seconds = time.perf_counter() - started
    return report


def _refresh(read, dialect: str, store: AnalyticsStore, report: RefreshReport, progress: bool,
             iceberg=None) -> None:
    state = store.state()
    if state.get("schema") != SCHEMA:
        state = _reset(store, state)
    year = _year_expr(dialect)
    weeks = sorted(read(_FINGERPRINT_SQL.format(year=year)).to_pylist(),
                   key=lambda r: (r["school_year"], r["week"], r["week_id"]))
    closes = {row.pop("week_id"): row for row in
              read(_CLOSE_FINGERPRINT_SQL.format(true=_true(dialect))).to_pylist()}
    changed = []
    for row in weeks:
        known = state["weeks"].get(str(row["week_id"]), {})
        digest = _digest(row["periods"], row["statuses"], row["teachers"], row["last_signed"])
        close_digest = _digest(digest, *closes.get(row["week_id"], {}).values())
        facts, closing = known.get("digest") != digest, known.get("close_digest") != close_digest
        if facts or closing:
            changed.append((int(row["week_id"]), int(row["week"]), int(row["school_year"]), digest, close_digest,
                            facts, closing))
    report.weeks_checked = len(weeks)
    _write_dims(read, store)
    _drop_gone(store, state, "weeks", {str(r["week_id"]) for r in weeks})
    bar = None
    if progress and changed:
        from tqdm import tqdm
        bar = tqdm(total=len(changed), desc="Cập nhật kho phân tích", unit="tuần")
    for week_id, number, school_year, digest, close_digest, facts, closing in changed:
        entry = state["weeks"].setdefault(str(week_id), {})
        entry.update({"school_year": school_year, "week": number})
        if facts:
            table = read(_FACTS_SQL.format(week_id=week_id, late_seconds=_late_seconds(dialect)))
            table = _typed(table.append_column("synthetic", _falses(table.num_rows)), _FACT_TYPES)
            # sorted by district and school: Parquet's row-group statistics let a drill-down skip the rest
            table = table.sort_by([("district_id", "ascending"), ("school_id", "ascending")])
            _write(table, store.week_partition(school_year, number) / f"part-{week_id}.parquet")
            entry.update({"digest": digest, "rows": table.num_rows})
            if iceberg is not None:
                from core.analytics.iceberg import publish_week

                publish_week(iceberg, store, school_year, number)
            report.weeks_written.append(number)
            report.rows += table.num_rows
        if closing:
            table = _typed(read(_CLOSES_SQL.format(week_id=week_id, true=_true(dialect))), _CLOSE_TYPES)
            _write(table.sort_by([("district_id", "ascending"), ("school_id", "ascending")]),
                   store.close_partition(school_year, number) / f"part-{week_id}.parquet")
            entry.update({"close_digest": close_digest, "closes": table.num_rows})
            report.closes_written.append(number)
        store.save_state(state)  # after each week: a stopped refresh keeps what it finished
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    _refresh_issuance(read, dialect, store, state, report)
    state["refreshed_at"] = time.time()
    store.save_state(state)


def _refresh_issuance(read, dialect: str, store: AnalyticsStore, state: dict, report: RefreshReport) -> None:
    """Rewrite the issuance facts of the school years whose fingerprint changed."""
    rows = read(_YEAR_FINGERPRINT_SQL.format(year=_year_expr(dialect))).to_pylist()
    received = [r for r in rows if r["part"] == "received"]
    parts: dict[int, list] = {}
    start_year: dict[int, int] = {}
    for r in rows:
        if r["year_id"] is not None:
            parts.setdefault(int(r["year_id"]), []).append((r["part"], r["n"], r["top"], r["total"]))
            start_year[int(r["year_id"])] = int(r["school_year"])
    years = {}
    for year_id, found in parts.items():
        if not any(part == "results" for part, *_ in found):
            continue  # no subject results: nothing to count (issuance_figures starts from them)
        years[str(year_id)] = _digest(*sorted(found), *(tuple(r.values()) for r in received))
    _drop_gone(store, state, "years", set(years))
    for year_id, digest in years.items():
        known = state["years"].get(year_id, {})
        if known.get("digest") == digest:
            continue
        sql = _ISSUANCE_SQL.format(year_id=int(year_id), classes=_ISSUANCE_CLASSES.format(year_id=int(year_id)))
        table = _typed(read(sql), _ISSUANCE_TYPES)
        table = table.sort_by([("district_id", "ascending"), ("school_id", "ascending")])
        school_year = start_year[int(year_id)]
        _write(table, store.issuance_partition(school_year) / f"part-{year_id}.parquet")
        state["years"][year_id] = {"digest": digest, "school_year": school_year, "rows": table.num_rows}
        store.save_state(state)
        report.years_written.append(school_year)


def _write(table, target: Path) -> None:
    """Write beside the old file and rename over it: readers see the old file or the new, never half."""
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(target)


def _drop_gone(store: AnalyticsStore, state: dict, kind: str, present: set[str]) -> None:
    """Remove the partitions of weeks (or school years) no longer in the record store."""
    for key in [k for k in state[kind] if k not in present]:
        known = state[kind].pop(key)
        if kind == "weeks":
            paths = [store.week_partition(known["school_year"], known["week"]) / f"part-{key}.parquet",
                     store.close_partition(known["school_year"], known["week"]) / f"part-{key}.parquet"]
        else:
            paths = [store.issuance_partition(known["school_year"]) / f"part-{key}.parquet"]
        for path in paths:
            path.unlink(missing_ok=True)


def _reset(store: AnalyticsStore, state: dict) -> dict:
    """A store written with another layout: remove what was copied (its synthetic facts stay,
    given the columns this layout reads) and start the copy again."""
    import shutil

    for part in store.facts.glob("school_year=*/week=*/part*.parquet"):
        part.unlink()
    for folder in (store.closes, store.issuance):
        shutil.rmtree(folder, ignore_errors=True)
    for part in store.facts.glob("school_year=*/week=*/synthetic.parquet"):
        _conform_synthetic(store, part)
    return {**{k: v for k, v in state.items() if k not in ("weeks", "years", "refreshed_at")},
            "schema": SCHEMA, "weeks": {}, "years": {}}


def _conform_synthetic(store: AnalyticsStore, part: Path) -> None:
    """Give a synthetic fact file of an older layout this layout's columns, in order."""
    import pyarrow.parquet as pq

    if pq.read_schema(part).names == list(_FACT_TYPES):
        return
    con = store.open()
    try:
        have = set(pq.read_schema(part).names)
        columns = ", ".join(c if c in have else f"CAST(NULL AS {t}) AS {c}" for c, t in _FACT_TYPES.items())
        tmp = part.with_name(part.name + ".tmp")
        con.execute(f"COPY (SELECT {columns} FROM read_parquet('{part.as_posix()}')) TO '{tmp.as_posix()}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        tmp.replace(part)
    finally:
        con.close()


_REFRESHING = threading.Lock()


def ensure_fresh(db: Database, store: AnalyticsStore, max_age_seconds: float = 300.0) -> RefreshReport | None:
    """Refresh the store when its last refresh is older than ``max_age_seconds`` (the console
    calls this before its aggregates; one refresh at a time in a process). Within that age it
    reads one small file and touches nothing else."""
    if time.time() - store.state().get("refreshed_at", 0) < max_age_seconds:
        return None
    with _REFRESHING:
        if time.time() - store.state().get("refreshed_at", 0) < max_age_seconds:
            return None
        return refresh(db, store)


def ensure_fresh_in_background(db: Database, store: AnalyticsStore, max_age_seconds: float = 300.0, *,
                               then: Callable[[AnalyticsStore], None] | None = None) -> threading.Thread | None:
    """Like :func:`ensure_fresh`, without making the caller wait for a stale store: the refresh
    runs in a thread (one at a time in a process) while the caller reads the figures of the
    last refresh — their age is shown on the page, and anything kept from them is keyed on the
    store's fingerprint (:mod:`core.analytics.cache`), so nothing computed before the refresh is
    served after it. A store never refreshed is refreshed at once (there is nothing to read).
    ``then(store)`` runs after a refresh, in its thread (the console warms the per-school
    rollups of the new content: :func:`core.analytics.queries.warm`).
    Returns the refresh's thread, or None when there was nothing to start."""
    at = store.state().get("refreshed_at", 0)
    if not at:
        ensure_fresh(db, store, max_age_seconds)
        return None
    if time.time() - at < max_age_seconds or _REFRESHING.locked():
        return None

    def run() -> None:
        try:
            ensure_fresh(db, store, max_age_seconds)
            if then is not None:
                then(store)
        except Exception:  # noqa: BLE001 - the next page tries again; the figures stay as they were
            logging.getLogger("sohoa.analytics").exception("background refresh of the analytics store failed")

    thread = threading.Thread(target=run, name="analytics-refresh", daemon=True)
    thread.start()
    return thread


def refreshed_at(store: AnalyticsStore) -> dt.datetime | None:
    """When the store last finished a refresh (local time), for the console's "figures as of"."""
    at = store.state().get("refreshed_at")
    return clock.from_utc(dt.datetime.fromtimestamp(at, dt.timezone.utc)) if at else None


def _falses(n: int):
    import pyarrow as pa

    return pa.array([False] * n, pa.bool_())


_ARROW_TYPES = {"DATE": "date32", "SMALLINT": "int16", "INTEGER": "int32", "BIGINT": "int64", "VARCHAR": "string",
                "BOOLEAN": "bool_"}


def _typed(table, types: dict[str, str]):
    """The columns of ``types`` in that order and with those types (SQLite gives dates as text,
    flags as integers)."""
    import pyarrow as pa

    columns = []
    for name, kind in types.items():
        column = table.column(name)
        if kind == "DATE" and not pa.types.is_date(column.type):
            column = pa.array(pd.to_datetime(column.to_pandas()).dt.date, pa.date32())
        elif kind == "BOOLEAN" and not pa.types.is_boolean(column.type) and not pa.types.is_null(column.type):
            column = pa.array(column.to_pandas().astype("Int64").map(lambda v: None if pd.isna(v) else bool(v)),
                              pa.bool_())
        columns.append(column.cast(getattr(pa, _ARROW_TYPES[kind])()))
    return pa.table(columns, names=list(types))


def _write_dims(read, store: AnalyticsStore) -> None:
    store.dims.mkdir(parents=True, exist_ok=True)
    queries = {
        "district": "SELECT d.id AS district_id, d.code AS district_code, d.name AS district_name, d.department_id, "
                    "p.name AS department_name FROM district d LEFT JOIN department p ON p.id = d.department_id",
        "school": "SELECT s.id AS school_id, s.code AS school_code, s.name AS school_name, s.district_id, "
                  "CASE WHEN EXISTS (SELECT 1 FROM monitor_assignment m WHERE m.school_id = s.id "
                  "AND m.unassigned_at IS NULL) THEN 1 ELSE 0 END AS has_monitor FROM school s",
        "class": "SELECT id AS class_id, name AS class_name, grade, school_id FROM school_class",
        "teacher": "SELECT id AS teacher_id, code AS teacher_code, full_name AS teacher_name, school_id FROM staff",
    }
    for name, sql in queries.items():
        _write(_typed(read(sql), _DIMS[name]), store.dims / f"{name}.parquet")


# ---------------------------------------------------------------- synthetic year
def synthesize_year(store: AnalyticsStore, *, schools: int, classes_per_school: int, school_year: int = 2025,
                    weeks: int = 35, periods_per_week: int = 30, districts: int = 22, seed: int = 2025,
                    threads: int | None = None, progress: bool = False, provinces: int = 1) -> int:
    """A full school year of synthetic facts, generated inside DuckDB and written straight
    to the store's partitions (``synthetic = true``), with matching dimensions. The behaviour
    follows the record store's generator in spirit: each teacher has a habit (punctual, late,
    forgetful), each school a quality. Returns the number of facts written.

    ``provinces`` > 1 (a national year, benchmarks/national.py): the districts are shared out
    among that many provinces, each a "department" of its own (the console's per-province
    level), and schools are numbered district by district, so that a province's schools and
    districts have contiguous ids and its periods sit together in the sorted files (a
    province's drill-down reads only its row groups). With one province, as before: the
    schools dealt round the districts, one department."""
    con = store.open(threads=threads)
    store.dims.mkdir(parents=True, exist_ok=True)
    base = SYNTHETIC_ID_BASE
    if provinces > 1:  # districts in blocks of schools, provinces in blocks of districts
        school_district = f"{{school}} * {districts} // {schools}"
        department = f"i * {provinces} // {districts}"
        department_name = f"'Tỉnh/Thành phố (tổng hợp) ' || (i * {provinces} // {districts} + 1)"
    else:
        school_district, department, department_name = f"{{school}} % {districts}", "0", "'Sở (tổng hợp)'"
    classes = schools * classes_per_school
    teachers = max(1, classes * 17 // 10)
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute(f"""
        CREATE TEMP TABLE cls AS
        SELECT {base} + i AS class_id, {base} + i // {classes_per_school} AS school_id,
               {base} + {school_district.format(school='(i // ' + str(classes_per_school) + ')')} AS district_id,
               CAST(1 + (i % {classes_per_school}) * 12 // {classes_per_school} AS SMALLINT) AS grade
        FROM range({classes}) t(i)""")
    con.execute(f"""
        CREATE TEMP TABLE sch AS
        SELECT {base} + i AS school_id, 0.6 + 0.4 * random() AS quality FROM range({schools}) t(i)""")
    con.execute(f"""
        CREATE TEMP TABLE tch AS
        SELECT {base} + i AS teacher_id, {base} + i * {schools} // {teachers} AS school_id,
               CASE WHEN r < 0.72 THEN 0.01 WHEN r < 0.86 THEN 0.03 WHEN r < 0.96 THEN 0.20 ELSE 0.35 END AS p_missed,
               CASE WHEN r < 0.72 THEN 0.02 WHEN r < 0.86 THEN 0.30 WHEN r < 0.96 THEN 0.05 ELSE 0.30 END AS p_late
        FROM (SELECT i, random() AS r FROM range({teachers}) t(i))""")
    dims = {
        "district": f"SELECT {base} + i AS district_id, 'TH' || lpad(CAST(i + 1 AS VARCHAR), 2, '0') AS district_code, "
                    f"'Quận/Huyện (tổng hợp) ' || (i + 1) AS district_name, "
                    f"CAST({base} + {department} AS BIGINT) AS department_id, {department_name} AS department_name "
                    f"FROM range({districts}) t(i)",
        "school": f"SELECT school_id, 'TH' || lpad(CAST(school_id - {base} + 1 AS VARCHAR), 4, '0') AS school_code, "
                  f"'Trường (tổng hợp) ' || (school_id - {base} + 1) AS school_name, "
                  f"{base} + {school_district.format(school=f'(school_id - {base})')} AS district_id, "
                  "1 AS has_monitor FROM sch",
        "class": "SELECT class_id, CAST(grade AS VARCHAR) || 'A' || (class_id % 9 + 1) AS class_name, grade, "
                 "school_id FROM cls",
        "teacher": f"SELECT teacher_id, 'GVTH' || (teacher_id - {base}) AS teacher_code, "
                   f"'Giáo viên (tổng hợp) ' || (teacher_id - {base}) AS teacher_name, school_id FROM tch",
    }
    for name, sql in dims.items():
        con.execute(f"COPY ({sql}) TO '{(store.dims / f'{name}_synthetic.parquet').as_posix()}' (FORMAT parquet)")
    first_monday = dt.date(school_year, 9, 8)
    per_school_teachers = max(1, teachers // schools)
    total = 0
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=weeks, desc="Dữ liệu tổng hợp cả năm", unit="tuần")
    for week in range(1, weeks + 1):
        monday = first_monday + dt.timedelta(weeks=week - 1)
        target = store.week_partition(school_year, week)
        target.mkdir(parents=True, exist_ok=True)
        con.execute(f"""
            COPY (
              SELECT CAST(DATE '{monday.isoformat()}' + CAST(p // 6 AS INTEGER) AS DATE) AS day,
                     CAST(1 + p % 6 AS SMALLINT) AS period_no, c.district_id, c.school_id, c.class_id, c.grade,
                     t.teacher_id, CAST(1 + (p * 7 + c.class_id) % 12 AS BIGINT) AS subject_id,
                     CASE WHEN u < t.p_missed / s.quality THEN 'missed'
                          WHEN u < (t.p_missed + t.p_late) / s.quality THEN 'late' ELSE 'on_time' END AS status,
                     CASE WHEN u >= t.p_missed / s.quality AND u < (t.p_missed + t.p_late) / s.quality
                          THEN CAST(5 + floor(-ln(1 - random()) * 40) AS INTEGER) END AS minutes_late,
                     true AS synthetic, CAST(NULL AS BIGINT) AS week_id
              FROM (SELECT c.*, p, random() AS u FROM cls c, range({periods_per_week}) r(p)) c
              JOIN sch s ON s.school_id = c.school_id
              JOIN tch t ON t.teacher_id = {base} + (c.school_id - {base}) * {teachers} // {schools}
                                           + (c.class_id + c.p) % {per_school_teachers}
              ORDER BY c.district_id, c.school_id
            ) TO '{(target / 'synthetic.parquet').as_posix()}' (FORMAT parquet, COMPRESSION zstd)""")
        total += classes * periods_per_week
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    state = store.state()
    state["synthetic"] = {"school_year": school_year, "weeks": weeks, "schools": schools, "classes": classes,
                          "facts": total}
    store.save_state(state)
    con.close()
    return total


def synthesize_issuance(store: AnalyticsStore, *, students_per_class: int = 35, school_year: int = 2025,
                        seed: int = 2025) -> int:
    """Transcript issuance facts for the synthetic year's classes (:func:`synthesize_year` made
    them; once adopted, :func:`adopt_synthetic_year`, the record store's classes):
    ``students_per_class`` students each, at the steps of the signing workflow a school of its
    quality would have reached — every subject confirmed, a draft, the homeroom teacher's
    signature, issued; now and then a cancellation or a transferred transcript. Written beside
    the record store's copies (``issuance/school_year=…/synthetic.parquet``, which a refresh
    leaves alone), counted by :func:`core.analytics.queries.issuance_figures` like them. Returns
    the number of rows (one per student · class)."""
    classes, schools = store.dims / "class_synthetic.parquet", store.dims / "school_synthetic.parquet"
    if not classes.exists() and store.state().get("synthetic", {}).get("adopted"):  # the record store's classes
        classes, schools = store.dims / "class.parquet", store.dims / "school.parquet"
    if not classes.exists():
        raise RuleViolation("no synthetic year in this store: run synthesize_year first",
                            message_vi="Kho chưa có năm học tổng hợp: hãy chạy synthesize_year trước")
    target = store.issuance_partition(school_year)
    target.mkdir(parents=True, exist_ok=True)
    con = store.open()
    try:
        con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
        con.execute(f"""
            COPY (
              SELECT CAST({SYNTHETIC_ID_BASE} + c.class_id * {students_per_class} + k AS BIGINT) AS student_id,
                     c.class_id, c.school_id,
                     s.district_id, CAST(c.grade AS SMALLINT) AS grade,
                     CAST({SYNTHETIC_ID_BASE} AS BIGINT) AS school_year_id,
                     u1 < q AS confirmed_in_year, u1 < q AS confirmed_any_year,
                     u1 < q AND u2 < q AS draft, u1 < q AND u2 < q * q AS homeroom_signed,
                     u1 < q AND u2 < q * q * q AS issued,
                     CAST(CASE WHEN u1 < q AND u2 < q * q * q AND u3 < 0.01 THEN 1 ELSE 0 END AS INTEGER)
                         AS cancelled,
                     u3 > 0.98 AS transferred_in
              FROM (SELECT c.*, k, random() AS u1, random() AS u2, random() AS u3,
                           0.75 + 0.25 * ((hash(c.school_id) % 1000) / 1000.0) AS q
                    FROM read_parquet('{classes.as_posix()}') c, range({students_per_class}) r(k)) c
              JOIN read_parquet('{schools.as_posix()}') s ON s.school_id = c.school_id
              ORDER BY s.district_id, c.school_id
            ) TO '{(target / 'synthetic.parquet').as_posix()}' (FORMAT parquet, COMPRESSION zstd)""")
        written = (target / "synthetic.parquet").as_posix()
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{written}')").fetchone()[0]
    finally:
        con.close()
    state = store.state()
    state.setdefault("synthetic", {})["issuance"] = {"school_year": school_year, "rows": int(rows)}
    store.save_state(state)
    return int(rows)


def adopt_synthetic_year(store: AnalyticsStore, *, progress: bool = False) -> int:
    """Give the synthetic year's facts the record store's own schools, classes and teachers (as
    the store's dimensions have them after a refresh): the k-th synthetic school becomes the k-th
    school, each of its classes one of that school's classes, each teacher one of its teachers,
    its district the school's. The console's callers see schools of the record store only (their
    scope): adopted, the year is what their pages aggregate — a supervisor's term and trend over
    ~60 million periods — instead of facts outside every scope. A week the record store has is
    left to it (its synthetic file removed: no period counted twice). The synthetic dimensions
    are removed. Returns the number of facts kept."""
    real = {name: store.dims / f"{name}.parquet" for name in ("school", "class", "teacher")}
    fake = {name: store.dims / f"{name}_synthetic.parquet" for name in ("school", "class", "teacher")}
    if not all(p.exists() for p in (*real.values(), *fake.values())):
        raise RuleViolation("adopting the synthetic year needs it and a refreshed store",
                            message_vi="Cần năm học tổng hợp và kho đã được cập nhật từ cơ sở dữ liệu chính")
    con = store.open()
    kept = 0
    try:
        def ranked(path: Path, key: str, by: str | None = None) -> str:
            within = f"PARTITION BY {by}" if by else ""
            return (f"SELECT *, row_number() OVER ({within} ORDER BY {key}) - 1 AS k, "
                    f"count(*) OVER ({within}) AS n FROM read_parquet('{path.as_posix()}')")
        con.execute(f"""CREATE TEMP TABLE smap AS SELECT s.school_id AS sid, r.school_id AS rid, r.district_id AS rdist
                        FROM ({ranked(fake['school'], 'school_id')}) s JOIN ({ranked(real['school'], 'school_id')}) r
                        ON r.k = s.k""")
        for name, key in (("class", "class_id"), ("teacher", "teacher_id")):
            grade = ", r.grade AS rgrade" if name == "class" else ""
            con.execute(f"""CREATE TEMP TABLE {name[0]}map AS SELECT f.{key} AS sid, r.{key} AS rid{grade}
                            FROM ({ranked(fake[name], key, 'school_id')}) f JOIN smap m ON m.sid = f.school_id
                            JOIN ({ranked(real[name], key, 'school_id')}) r
                            ON r.school_id = m.rid AND r.k = f.k % r.n""")
        files = sorted(store.facts.glob("school_year=*/week=*/synthetic.parquet"))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(files), desc="Gắn năm tổng hợp vào các trường", unit="tuần")
        for part in files:
            if any(part.parent.glob("part-*.parquet")):  # the record store's own week
                part.unlink()
            else:
                tmp = part.with_name(part.name + ".tmp")
                con.execute(f"""
                    COPY (SELECT f.day, f.period_no, m.rdist AS district_id, m.rid AS school_id, c.rid AS class_id,
                                 CAST(c.rgrade AS SMALLINT) AS grade, t.rid AS teacher_id, f.subject_id, f.status,
                                 f.minutes_late, f.synthetic, f.week_id
                          FROM read_parquet('{part.as_posix()}') f JOIN smap m ON m.sid = f.school_id
                          JOIN cmap c ON c.sid = f.class_id JOIN tmap t ON t.sid = f.teacher_id
                          ORDER BY m.rdist, m.rid)
                    TO '{tmp.as_posix()}' (FORMAT parquet, COMPRESSION zstd)""")
                tmp.replace(part)
                kept += con.execute(f"SELECT count(*) FROM read_parquet('{part.as_posix()}')").fetchone()[0]
            if bar:
                bar.update(1)
        if bar:
            bar.close()
    finally:
        con.close()
    for path in store.dims.glob("*_synthetic.parquet"):
        path.unlink()
    state = store.state()
    state.setdefault("synthetic", {})["adopted"] = True
    state["synthetic"]["facts"] = int(kept)
    store.save_state(state)
    return int(kept)

