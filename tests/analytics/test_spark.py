"""Every aggregate the console and the notebooks run on the analytics store gives the same
result on Apache Spark (local mode, over the same Parquet files) as on DuckDB: compliance at
every level, by week or not, the heatmap, the late-signing distribution, transcript issuance
at every level — for three roles' scopes (the department's supervisor, a district's, a
school's monitor), on a seeded world (record store copied by ``refresh``) beside a synthetic
year. Weekdays are checked on known dates: sqlglot's own translation of DuckDB's ``isodow``
shifts them on Spark, the portable function does not."""
import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from core.access.authz import SYSTEM, Actor
from core.analytics import queries as aq
from core.analytics.engines import PORTABLE_FUNCTIONS, compile_sql
from core.analytics.store import _FACT_TYPES, AnalyticsStore, refresh, synthesize_year
from core.demo.gradebook import generate_transcripts
from core.demo.synthetic import FIRST_MONDAY, Scale, generate
from core.kernel.vocabulary import Role
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade

WORLD = Scale(districts=2, schools_per_district=2, classes_per_school=2, weeks=3, students_per_class=4, seed=7)
GENERATED_AT = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(days=16), dt.time(10, 0))
AS_OF = [GENERATED_AT, GENERATED_AT + dt.timedelta(days=1)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A seeded record store (SQLite: the store's facts are the same from either record
    store, tests/test_analytics_console.py) copied into a store, and a synthetic year beside it."""
    root = tmp_path_factory.mktemp("spark-analytics")
    db = Database(make_engine(f"sqlite:///{root / 'record.db'}"))
    upgrade(db.engine)
    try:
        generate(db, WORLD, pki_dir=root / "pki", as_of=GENERATED_AT, progress=False)
        generate_transcripts(db, pki_dir=root / "pki", classes_per_school=1, seed=7, renew_certificates=True)
        store = AnalyticsStore(root / "store")
        refresh(db, store)
    finally:
        db.engine.dispose()
    synthesize_year(store, schools=4, classes_per_school=3, weeks=35, periods_per_week=30, districts=2)
    return store


def scopes(store) -> dict[str, Actor]:
    """Three roles' scopes: the department's supervisor (every school, the synthetic year's
    included), a district's supervisor and a school's monitor in the seeded world."""
    con = store.connect()
    every = con.execute("SELECT school_id FROM school").fetchall()
    schools = con.execute("SELECT school_id, district_id FROM school WHERE school_id < 1000000000 "
                          "ORDER BY school_id").fetchall()
    con.close()
    district = schools[0][1]
    return {
        "department": Actor(user_id=None, username="so", role=Role.DEPARTMENT_SUPERVISOR,
                            school_ids=frozenset(s for s, in every)),
        "district": Actor(user_id=None, username="phong", role=Role.DISTRICT_SUPERVISOR,
                          school_ids=frozenset(s for s, d in schools if d == district)),
        "monitor": Actor(user_id=None, username="gs", role=Role.SCHOOL_MONITOR, school_ids=frozenset({schools[0][0]})),
    }


def same(duck: pd.DataFrame, spark: pd.DataFrame) -> None:
    """The same columns in the same order and the same rows (sorted the same way)."""
    assert list(duck.columns) == list(spark.columns)
    assert len(duck) == len(spark)
    keys = [c for c in duck.columns if duck[c].dtype != float and "rate" not in c]
    duck = duck.sort_values(keys).reset_index(drop=True) if keys else duck
    spark = spark.sort_values(keys).reset_index(drop=True) if keys else spark
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False)


SCOPES = ["department", "district", "monitor"]


@pytest.mark.parametrize("scope", SCOPES)
def test_every_aggregate_every_level(store, spark_engine, scope):
    """Compliance at every level, by week and not; the heatmap; the late-signing
    distribution; issuance at every level: the same on Spark as on DuckDB, in this scope."""
    actor = scopes(store)[scope]
    as_of = AS_OF[1]
    for level in aq.LEVELS:
        for by_week in (False, True):
            duck = aq.compliance_figures(store, actor, level, by_week=by_week, as_of=as_of)
            assert duck["scheduled"].sum() > 0 and duck["missed"].sum() > 0
            same(duck, aq.compliance_figures(store, actor, level, by_week=by_week, as_of=as_of, engine=spark_engine))
    # a filter narrows the scope on Spark as on DuckDB
    duck = aq.compliance_figures(store, actor, "class", school_id=min(actor.school_ids), as_of=as_of)
    assert len(duck) > 0
    same(duck, aq.compliance_figures(store, actor, "class", school_id=min(actor.school_ids), as_of=as_of,
                                     engine=spark_engine))
    duck = aq.signing_heatmap(store, actor, as_of=as_of)
    assert len(duck) > 0 and set(duck["weekday"]) <= set(range(2, 9))
    same(duck, aq.signing_heatmap(store, actor, as_of=as_of, engine=spark_engine))
    duck = aq.late_signing_distribution(store, actor, bucket_minutes=5)
    assert duck["entries"].sum() > 0
    same(duck, aq.late_signing_distribution(store, actor, bucket_minutes=5, engine=spark_engine))
    for level in ("district", "school", "grade"):
        duck = aq.issuance_figures(store, actor, level, as_of=as_of.date())
        assert duck["students"].sum() > 0
        same(duck, aq.issuance_figures(store, actor, level, as_of=as_of.date(), engine=spark_engine))


def test_the_same_figures_on_another_day_and_year(store, spark_engine):
    """``as_of`` (a pending period of an earlier day counts as missed; a class-week is over
    once its last day is past) and the school-year filter of issuance bind the same on Spark."""
    con = store.connect()
    year_id = con.execute("SELECT min(school_year_id) FROM issuance").fetchone()[0]
    con.close()
    before, after = (aq.compliance_figures(store, SYSTEM, "district", as_of=a, engine=spark_engine) for a in AS_OF)
    assert before["pending"].sum() > after["pending"].sum() and before["missed"].sum() < after["missed"].sum()
    same(aq.compliance_figures(store, SYSTEM, "district", as_of=AS_OF[0]), before)
    duck = aq.issuance_figures(store, SYSTEM, "grade", school_year_id=year_id, as_of=AS_OF[1].date())
    same(duck, aq.issuance_figures(store, SYSTEM, "grade", school_year_id=year_id, as_of=AS_OF[1].date(),
                                   engine=spark_engine))


def test_the_scopes_differ(store, spark_engine):
    """The three scopes are really three: each narrower one sees fewer periods, on Spark too."""
    seen = [aq.compliance_figures(store, a, "department", engine=spark_engine)["scheduled"].sum()
            for a in scopes(store).values()]
    assert seen[0] > seen[1] > seen[2] > 0
    assert seen[0] == aq.compliance_figures(store, SYSTEM, "department")["scheduled"].sum()


# ---------------------------------------------------------------- weekdays on known dates
#: Monday 7 December 2026 … Sunday 13 December 2026, and the Vietnamese weekday number of each
#: (Thứ 2 = 2 … Thứ 7 = 7, Chủ nhật = 8)
KNOWN = {dt.date(2026, 12, 7) + dt.timedelta(days=i): i + 2 for i in range(7)}


@pytest.fixture(scope="module")
def week_store(tmp_path_factory):
    """A store holding one period a day of a known week, signed on time on Monday only."""
    store = AnalyticsStore(tmp_path_factory.mktemp("known-week") / "store")
    rows = [{"day": day, "period_no": 1, "district_id": 1, "school_id": 1, "class_id": 1, "grade": 6,
             "teacher_id": 1, "subject_id": 1, "status": "on_time" if day.weekday() == 0 else "late",
             "minutes_late": None if day.weekday() == 0 else 7, "synthetic": True, "week_id": 1} for day in KNOWN]
    schema = pa.schema([(c, {"DATE": pa.date32(), "SMALLINT": pa.int16(), "BIGINT": pa.int64(),
                             "VARCHAR": pa.string(), "INTEGER": pa.int32(), "BOOLEAN": pa.bool_()}[t])
                        for c, t in _FACT_TYPES.items()])
    target = store.week_partition(2026, 14)
    target.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), target / "synthetic.parquet")
    store.dims.mkdir(parents=True)
    con = store.open()
    for name, sql in (("district", "SELECT 1 AS district_id, 'D1' AS district_code, 'Quận 1' AS district_name, "
                                   "1 AS department_id, 'Sở' AS department_name"),
                      ("school", "SELECT 1 AS school_id, 'S1' AS school_code, 'Trường 1' AS school_name, "
                                 "1 AS district_id, 1 AS has_monitor")):
        con.execute(f"COPY ({sql}) TO '{(store.dims / f'{name}.parquet').as_posix()}' (FORMAT parquet)")
    con.close()
    return store


def test_weekdays_on_known_dates(week_store, spark_engine):
    as_of = dt.date(2026, 12, 31)
    for engine in (None, spark_engine):
        heat = aq.signing_heatmap(week_store, SYSTEM, as_of=as_of, engine=engine)
        assert dict(zip(heat["weekday"], heat["periods"])) == {w: 1 for w in KNOWN.values()}
        # the one on-time period is Monday's: Thứ 2
        assert heat.loc[heat["on_time"] == 1, "weekday"].tolist() == [2]
    # and the dates themselves: "missed" and "pending" turn on day < as_of on both engines
    for engine in (None, spark_engine):
        week = aq.compliance_figures(week_store, SYSTEM, "school", as_of=dt.date(2026, 12, 10), engine=engine)
        assert week[["scheduled", "on_time", "late"]].values.tolist() == [[7, 1, 6]]


def test_sqlglot_alone_shifts_the_weekday_on_spark(spark, tmp_path):
    """Why the portable functions exist: sqlglot's translation of DuckDB's isodow gives 3 for
    a Monday on Spark; the portable ``iso_weekday`` gives 1 on every engine here."""
    monday = "DATE '2026-12-07'"
    naive = sqlglot.transpile(f"SELECT isodow({monday})", read="duckdb", write="spark")[0]
    assert spark.sql(naive).collect()[0][0] == 3
    for day, weekday in KNOWN.items():
        sql = f"SELECT iso_weekday(DATE '{day.isoformat()}') AS w"
        assert spark.sql(compile_sql(sql, "spark")).collect()[0][0] == weekday - 1
        con = AnalyticsStore(tmp_path / "empty").open()
        assert con.execute(sql).fetchone()[0] == weekday - 1
        con.close()
    assert set(PORTABLE_FUNCTIONS["iso_weekday"]) == {"duckdb", "spark", "trino"}
    trino = compile_sql("SELECT iso_weekday(day) FROM facts", "trino")
    assert "DAY_OF_WEEK(day)" in trino and sqlglot.parse_one(trino, read="trino") is not None
