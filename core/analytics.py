"""The analytics store (kho phân tích): signing-compliance facts in Parquet, queried with DuckDB.

PostgreSQL (or the demo's SQLite) stays the system of record. The facts — one row per
scheduled period (tiết), with where it was taught, by whom, and how it was signed — are
copied into Parquet files partitioned by school year and week::

    <root>/facts/school_year=2025/week=7/part.parquet
    <root>/dims/{district,school,class,teacher}.parquet
    <root>/state.json            (a fingerprint per exported week: what a refresh compares)

and the aggregates of the console and of the notebooks run there. Copying is incremental:
:func:`refresh` fingerprints every week in the record store with one aggregate query and
rewrites only the partitions that changed (a new week, late signatures, the nightly missed
marks). From PostgreSQL it reads with ADBC, whose driver streams ``COPY … TO STDOUT (FORMAT
binary)`` straight into Arrow — no row-by-row fetching.

:func:`synthesize_year` writes a full school year of *synthetic* facts (marked so) directly
into the store, for city-scale analysis beyond what the record store holds.

DuckDB runs offline: extensions are never installed or loaded automatically and the
extension repository points at an empty local directory, so a query needing a missing
extension fails at once instead of trying the network (Parquet support is built in).

Every query takes the caller's :class:`~core.authz.Actor` and keeps to their schools, the
same scope rule as the record store's services. The SQL is written once, in DuckDB's
dialect, and :func:`portable_sql` compiles it for a distributed engine (Trino, Spark) with
sqlglot — the path to national scale in docs/analytics.md.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core import clock
from core.authz import Actor, Permission, require
from core.errors import NotFound, RuleViolation
from core.storage.db import Database

LEVELS = ("department", "district", "school", "class", "teacher")
#: Synthetic facts use ids from here on, so they never meet the record store's.
SYNTHETIC_ID_BASE = 1_000_000_000
STATUSES = ("on_time", "late", "missed", "pending")


# ---------------------------------------------------------------- the store
class AnalyticsStore:
    """A directory of Parquet facts and dimensions, with a DuckDB connection over it."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.facts = self.root / "facts"
        self.dims = self.root / "dims"
        self.state_file = self.root / "state.json"
        self._empty_repo = Path(tempfile.gettempdir()) / "sohoa-no-duckdb-extensions"

    # -- state
    def state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {"weeks": {}}

    def save_state(self, state: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(self.state_file)

    # -- DuckDB
    def connect(self, *, threads: int | None = None):
        """An offline DuckDB connection with the views ``facts`` and ``district``, ``school``,
        ``class``, ``teacher`` over the store's files."""
        import duckdb

        self._empty_repo.mkdir(parents=True, exist_ok=True)
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if threads:
            config["threads"] = threads
        con = duckdb.connect(config=config)
        con.execute(f"SET custom_extension_repository = '{self._empty_repo.as_posix()}'")
        con.execute(f"SET extension_directory = '{self._empty_repo.as_posix()}'")
        files = sorted(self.facts.glob("school_year=*/week=*/*.parquet"))  # part (record store), synthetic
        if files:
            pattern = (self.facts / "school_year=*" / "week=*" / "*.parquet").as_posix()
            con.execute(f"CREATE VIEW facts AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)")
        else:
            con.execute(f"CREATE VIEW facts AS SELECT * FROM ({_EMPTY_FACTS})")
        for name, columns in _DIMS.items():
            paths = [p.as_posix() for p in (self.dims / f"{name}.parquet", self.dims / f"{name}_synthetic.parquet")
                     if p.exists()]
            source = f"read_parquet({paths!r}, union_by_name = true)" if paths else f"({_empty(columns)})"
            con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM {source}')
        return con

    def week_partition(self, school_year: int, week: int) -> Path:
        return self.facts / f"school_year={school_year}" / f"week={week}"


_FACT_COLUMNS = {"day": "DATE", "period_no": "SMALLINT", "district_id": "BIGINT", "school_id": "BIGINT",
                 "class_id": "BIGINT", "grade": "SMALLINT", "teacher_id": "BIGINT", "subject_id": "BIGINT",
                 "status": "VARCHAR", "minutes_late": "INTEGER", "synthetic": "BOOLEAN",
                 "school_year": "BIGINT", "week": "BIGINT"}
_DIMS = {"district": {"district_id": "BIGINT", "district_code": "VARCHAR", "district_name": "VARCHAR"},
         "school": {"school_id": "BIGINT", "school_code": "VARCHAR", "school_name": "VARCHAR",
                    "district_id": "BIGINT"},
         "class": {"class_id": "BIGINT", "class_name": "VARCHAR", "grade": "SMALLINT", "school_id": "BIGINT"},
         "teacher": {"teacher_id": "BIGINT", "teacher_code": "VARCHAR", "teacher_name": "VARCHAR",
                     "school_id": "BIGINT"}}


def _empty(columns: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items()) + " WHERE false"


_EMPTY_FACTS = _empty(_FACT_COLUMNS)


# ---------------------------------------------------------------- copying from the record store
#: One row per scheduled period. ``minutes_late``: whole minutes after the period's end at which
#: a late entry was signed (regulations: signing closes 5 minutes after the end).
_FACTS_SQL = """
SELECT e.day, e.period_no, s.district_id, e.school_id, e.class_id, c.grade, e.teacher_id, e.subject_id,
       e.status,
       CASE WHEN e.status = 'late' THEN CAST(({late_seconds}) / 60 AS INTEGER) END AS minutes_late
FROM logbook_entry e JOIN school s ON s.id = e.school_id JOIN school_class c ON c.id = e.class_id
WHERE e.week_id = {week_id}
"""
_FINGERPRINT_SQL = """
SELECT w.id, w.number, CAST(strftime_year AS INTEGER), count(*), sum(CASE e.status WHEN 'on_time' THEN 1
       WHEN 'late' THEN 100000 WHEN 'missed' THEN 10000000000 ELSE 0 END), max(e.signed_at)
FROM logbook_entry e JOIN school_week w ON w.id = e.week_id JOIN school_year y ON y.id = w.school_year_id
GROUP BY w.id, w.number, strftime_year
"""


def _late_seconds(dialect: str) -> str:
    if dialect == "postgresql":
        return "EXTRACT(EPOCH FROM e.signed_at - e.period_end)"
    return "(julianday(e.signed_at) - julianday(e.period_end)) * 86400"


def _year_expr(dialect: str) -> str:
    return "EXTRACT(YEAR FROM y.start_date)" if dialect == "postgresql" else "strftime('%Y', y.start_date)"


def _arrow(db: Database, sql: str):
    """Run ``sql`` on the record store and return an Arrow table: ADBC (binary COPY) on
    PostgreSQL, the SQLAlchemy connection elsewhere."""
    import pyarrow as pa

    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc

        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc.connect(uri) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()
    with db.reading() as session:
        frame = pd.read_sql_query(sql, session.connection())
    return pa.Table.from_pandas(frame, preserve_index=False)


@dataclass
class RefreshReport:
    weeks_checked: int = 0
    weeks_written: list[int] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"analytics refresh: {len(self.weeks_written)} of {self.weeks_checked} weeks rewritten, "
                f"{self.rows:,} facts, {self.seconds:.1f} s")


def refresh(db: Database, store: AnalyticsStore, *, progress: bool = False) -> RefreshReport:
    """Bring the store up to date with the record store: rewrite the weeks whose fingerprint
    (periods, statuses, last signature) changed since the last refresh, and the dimensions."""
    started = time.perf_counter()
    dialect = db.engine.dialect.name
    report = RefreshReport()
    fingerprints = _arrow(db, _FINGERPRINT_SQL.replace("strftime_year", _year_expr(dialect))).to_pylist()
    state = store.state()
    changed = []
    for row in fingerprints:
        week_id, number, year, count, statuses, last = row.values()
        digest = hashlib.sha256(f"{count}|{statuses}|{last}".encode()).hexdigest()[:16]
        if state["weeks"].get(str(week_id), {}).get("digest") != digest:
            changed.append((week_id, int(number), int(year), digest))
    report.weeks_checked = len(fingerprints)
    _write_dims(db, store)
    bar = None
    if progress and changed:
        from tqdm import tqdm
        bar = tqdm(total=len(changed), desc="Cập nhật kho phân tích", unit="tuần")
    import pyarrow as pa
    import pyarrow.parquet as pq

    for week_id, number, year, digest in changed:
        table = _arrow(db, _FACTS_SQL.format(week_id=int(week_id), late_seconds=_late_seconds(dialect)))
        table = table.append_column("synthetic", pa.array([False] * table.num_rows, pa.bool_()))
        target = store.week_partition(year, number)
        target.mkdir(parents=True, exist_ok=True)
        # sorted by district and school: Parquet's row-group statistics let a drill-down skip the rest
        table = _typed(table).sort_by([("district_id", "ascending"), ("school_id", "ascending")])
        pq.write_table(table, target / "part.parquet.tmp", compression="zstd")
        (target / "part.parquet.tmp").replace(target / "part.parquet")  # readers see old or new, never half
        state["weeks"][str(week_id)] = {"digest": digest, "school_year": year, "week": number,
                                        "rows": table.num_rows}
        store.save_state(state)  # after each week: a stopped refresh keeps what it finished
        report.weeks_written.append(number)
        report.rows += table.num_rows
        if bar:
            bar.update(1)
    if bar:
        bar.close()
    state["refreshed_at"] = time.time()
    store.save_state(state)
    report.seconds = time.perf_counter() - started
    return report


_REFRESHING = threading.Lock()


def ensure_fresh(db: Database, store: AnalyticsStore, max_age_seconds: float = 300.0) -> RefreshReport | None:
    """Refresh the store when its last refresh is older than ``max_age_seconds`` (the console
    calls this before an aggregate; one refresh at a time in a process)."""
    if time.time() - store.state().get("refreshed_at", 0) < max_age_seconds:
        return None
    with _REFRESHING:
        if time.time() - store.state().get("refreshed_at", 0) < max_age_seconds:
            return None
        return refresh(db, store)


def _typed(table):
    import pyarrow as pa

    types = {"day": pa.date32(), "period_no": pa.int16(), "district_id": pa.int64(), "school_id": pa.int64(),
             "class_id": pa.int64(), "grade": pa.int16(), "teacher_id": pa.int64(), "subject_id": pa.int64(),
             "status": pa.string(), "minutes_late": pa.int32(), "synthetic": pa.bool_()}
    columns = []
    for name, kind in types.items():
        column = table.column(name)
        if name == "day" and not pa.types.is_date(column.type):
            column = pa.array(pd.to_datetime(column.to_pandas()).dt.date, pa.date32())
        columns.append(column.cast(kind))
    return pa.table(columns, names=list(types))


def _write_dims(db: Database, store: AnalyticsStore) -> None:
    import pyarrow.parquet as pq

    store.dims.mkdir(parents=True, exist_ok=True)
    queries = {
        "district": "SELECT id AS district_id, code AS district_code, name AS district_name FROM district",
        "school": "SELECT id AS school_id, code AS school_code, name AS school_name, district_id FROM school",
        "class": "SELECT id AS class_id, name AS class_name, grade, school_id FROM school_class",
        "teacher": "SELECT id AS teacher_id, code AS teacher_code, full_name AS teacher_name, school_id FROM staff",
    }
    for name, sql in queries.items():
        pq.write_table(_arrow(db, sql), store.dims / f"{name}.parquet")


# ---------------------------------------------------------------- synthetic year
def synthesize_year(store: AnalyticsStore, *, schools: int, classes_per_school: int, school_year: int = 2025,
                    weeks: int = 35, periods_per_week: int = 30, districts: int = 22, seed: int = 2025,
                    threads: int | None = None, progress: bool = False) -> int:
    """A full school year of synthetic facts, generated inside DuckDB and written straight
    to the store's partitions (``synthetic = true``), with matching dimensions. The behaviour
    follows the record store's generator in spirit: each teacher has a habit (punctual, late,
    forgetful), each school a quality. Returns the number of facts written."""
    con = store.connect(threads=threads)
    store.dims.mkdir(parents=True, exist_ok=True)
    base = SYNTHETIC_ID_BASE
    classes = schools * classes_per_school
    teachers = max(1, classes * 17 // 10)
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute(f"""
        CREATE TEMP TABLE cls AS
        SELECT {base} + i AS class_id, {base} + i // {classes_per_school} AS school_id,
               {base} + ((i // {classes_per_school}) % {districts}) AS district_id,
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
                    f"'Quận/Huyện (tổng hợp) ' || (i + 1) AS district_name FROM range({districts}) t(i)",
        "school": f"SELECT school_id, 'TH' || lpad(CAST(school_id - {base} + 1 AS VARCHAR), 4, '0') AS school_code, "
                  f"'Trường (tổng hợp) ' || (school_id - {base} + 1) AS school_name, "
                  f"{base} + (school_id - {base}) % {districts} AS district_id FROM sch",
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
                     true AS synthetic
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


# ---------------------------------------------------------------- queries
#: Per level: the fact columns grouped on, and the dimension that names them (joined after
#: the aggregation, so the hash table holds integers only: ~4x faster over a city's year).
_KEYS = {
    "department": ([], None),
    "district": (["district_id"], ("district", "district_id", ["district_name"])),
    "school": (["school_id", "district_id"], ("school", "school_id", ["school_code", "school_name"])),
    "class": (["class_id", "grade", "school_id"], ("class", "class_id", ["class_name"])),
    "teacher": (["teacher_id", "school_id"], ("teacher", "teacher_id", ["teacher_code", "teacher_name"])),
}
_FIGURES = ("scheduled", "on_time", "late", "missed", "pending")


def compliance_sql(level: str = "school", *, by_week: bool = False, filters: tuple[str, ...] = ()) -> str:
    """The compliance aggregate in DuckDB's SQL (the same definitions as
    :mod:`core.services.compliance`: an unsigned period of a past day counts as missed)."""
    if level not in _KEYS:
        raise RuleViolation(f"unknown level {level!r}; one of {', '.join(LEVELS)}")
    ids, dim = _KEYS[level]
    keys = (["school_year", "week"] if by_week else []) + ids
    where = " AND ".join(("1 = 1",) + filters)
    inner = ("SELECT " + "".join(f"f.{k}, " for k in keys) + "count(*) AS scheduled, "
             "sum(CASE WHEN f.status = 'on_time' THEN 1 ELSE 0 END) AS on_time, "
             "sum(CASE WHEN f.status = 'late' THEN 1 ELSE 0 END) AS late, "
             "sum(CASE WHEN f.status = 'missed' OR (f.status = 'pending' AND f.day < $as_of) THEN 1 ELSE 0 END) "
             "AS missed, "
             "sum(CASE WHEN f.status = 'pending' AND f.day >= $as_of THEN 1 ELSE 0 END) AS pending "
             f"FROM facts f WHERE {where}" + (f" GROUP BY {', '.join('f.' + k for k in keys)}" if keys else ""))
    if not keys:
        return inner
    names = [f"d.{n}" for n in dim[2]] if dim else []
    join = f" JOIN {dim[0]} d ON d.{dim[1]} = a.{dim[1]}" if dim else ""
    columns = [f"a.{k}" for k in keys] + names + [f"a.{f}" for f in _FIGURES]
    return (f"SELECT {', '.join(columns)} FROM ({inner}) a{join} "
            f"ORDER BY {', '.join('a.' + k for k in keys)}")


def _scope(actor: Actor, school_id: int | None, district_id: int | None, school_year: int | None,
           week: int | None) -> tuple[tuple[str, ...], dict]:
    filters, params = [], {}
    if actor.school_ids is not None:
        if not actor.school_ids:
            filters.append("false")
        else:
            filters.append(f"f.school_id IN ({', '.join(str(int(s)) for s in sorted(actor.school_ids))})")
    if school_id is not None:
        if not actor.sees_school(school_id):
            raise NotFound(f"no school {school_id}")
        filters.append("f.school_id = $school_id")
        params["school_id"] = school_id
    if district_id is not None:
        filters.append("f.district_id = $district_id")
        params["district_id"] = district_id
    if school_year is not None:
        filters.append("f.school_year = $school_year")
        params["school_year"] = school_year
    if week is not None:
        filters.append("f.week = $week")
        params["week"] = week
    return tuple(filters), params


def compliance_facts(store: AnalyticsStore, actor: Actor, level: str = "school", *, by_week: bool = False,
                     school_id: int | None = None, district_id: int | None = None, school_year: int | None = None,
                     week: int | None = None, as_of: dt.date | None = None, con=None) -> pd.DataFrame:
    """Compliance figures at ``level`` (optionally per week: the trend) for the caller's scope,
    from the analytics store. Columns as :func:`core.services.compliance.compliance`:
    scheduled, on_time, late, missed, pending, on_time_rate, hours_counted, hours_lost."""
    require(actor, Permission.VIEW)
    filters, params = _scope(actor, school_id, district_id, school_year, week)
    params["as_of"] = as_of or clock.now().date()
    own = con is None
    con = con or store.connect()
    try:
        frame = con.execute(compliance_sql(level, by_week=by_week, filters=filters), params).df()
    finally:
        if own:
            con.close()
    for col in ("scheduled", "on_time", "late", "missed", "pending"):
        frame[col] = frame[col].fillna(0).astype("int64")
    decided = frame["scheduled"] - frame["pending"]
    frame["on_time_rate"] = (frame["on_time"] / decided.where(decided > 0)).round(4)
    frame["hours_counted"] = frame["on_time"]
    frame["hours_lost"] = frame["late"] + frame["missed"]
    return frame


def late_minutes(store: AnalyticsStore, actor: Actor, *, school_id: int | None = None,
                 school_year: int | None = None, week: int | None = None, bucket: int = 5, con=None) -> pd.DataFrame:
    """How late the late periods were signed: counts per ``bucket``-minute band after the
    period's end (the late-signing distribution)."""
    require(actor, Permission.VIEW)
    filters, params = _scope(actor, school_id, None, school_year, week)
    where = " AND ".join(("f.status = 'late'",) + filters)
    sql = (f"SELECT CAST(floor(f.minutes_late / {int(bucket)}) * {int(bucket)} AS INTEGER) AS minutes_from, "
           f"count(*) AS periods FROM facts f WHERE {where} GROUP BY 1 ORDER BY 1")
    own = con is None
    con = con or store.connect()
    try:
        return con.execute(sql, params).df()
    finally:
        if own:
            con.close()


def portable_sql(level: str = "school", *, by_week: bool = False, dialect: str = "trino") -> str:
    """The compliance aggregate compiled for another engine (``trino``, ``spark``, ``postgres``,
    …) by sqlglot, with the store's views as tables and ``$as_of`` as a parameter ``?``: what a
    department runs on Trino or Spark over the same Parquet (docs/analytics.md)."""
    import sqlglot

    sql = compliance_sql(level, by_week=by_week).replace("$as_of", "CAST(? AS DATE)")
    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]
