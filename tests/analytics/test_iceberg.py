"""The analytics store's facts as an Iceberg table, its SQL catalog in PostgreSQL (a scratch
database): partitioned by school year and week; the weekly refresh overwrites only the week
it rewrote; last week's figures stay readable by snapshot; and the readers here, with
nothing downloaded — pyiceberg to Arrow to DuckDB (the console's aggregates unchanged),
Spark on the snapshot's data files — give the store's own figures."""
import datetime as dt
import time

import pytest
from sqlalchemy import text

from core.access.authz import SYSTEM
from core.analytics import iceberg as ice
from core.analytics.queries import LEVELS, compliance_figures
from core.analytics.store import AnalyticsStore, refresh
from core.demo.synthetic import Scale, generate
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.scratch import create_scratch_database, drop_scratch_database

SMALL = Scale(districts=2, schools_per_district=2, classes_per_school=2, weeks=3, students_per_class=3, seed=11)
AS_OF = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg_server_url):
    """A record store (SQLite) with three weeks; an Iceberg catalog in a scratch PostgreSQL
    database; the first refresh, which registers the three weeks."""
    root = tmp_path_factory.mktemp("iceberg")
    db = Database(make_engine(f"sqlite:///{root / 'record.db'}"))
    upgrade(db.engine)
    url = create_scratch_database(pg_server_url, "sohoa_ice")
    try:
        generate(db, SMALL, pki_dir=root / "pki", progress=False)
        table = ice.facts_table(ice.catalog(url, root / "warehouse"))
        store = AnalyticsStore(root / "store")
        assert refresh(db, store, iceberg=table).weeks_written == [1, 2, 3]
        yield db, store, table, url, root
    finally:
        db.engine.dispose()
        drop_scratch_database(pg_server_url, url)


def counts_by_week(rows) -> dict:
    frame = rows.to_pandas()
    return frame.groupby("week").size().to_dict()


def test_the_table_is_partitioned_by_school_year_and_week_in_a_postgres_catalog(world):
    db, store, table, url, root = world
    assert [f.name for f in table.spec().fields] == ["school_year", "week"]
    with Database(make_engine(url)).engine.connect() as conn:  # the catalog is in PostgreSQL
        assert conn.execute(text("SELECT table_namespace, table_name FROM iceberg_tables")).all() == \
            [("analytics", "facts")]
    files = ice.data_files(table)
    assert len(files) == 3 and all("school_year=" in f and "/week=" in f for f in files)
    con = store.connect()
    assert counts_by_week(ice.read_facts(table)) == dict(con.execute(
        "SELECT week, count(*) FROM facts GROUP BY week").fetchall())
    # a catalog opened again (another process) finds the same table
    again = ice.facts_table(ice.catalog(url, root / "warehouse"))
    assert again.current_snapshot().snapshot_id == table.current_snapshot().snapshot_id


def test_the_weekly_refresh_overwrites_its_week_and_last_weeks_figures_stay(world):
    db, store, table, url, root = world
    table.refresh()
    before = table.current_snapshot().snapshot_id
    figures_before = compliance_figures(store, SYSTEM, "department", as_of=AS_OF)["missed"].iloc[0]
    files_before = set(ice.data_files(table))
    moment = dt.datetime.now()
    time.sleep(0.01)
    with db.engine.begin() as conn:  # the nightly job marks one more period of week 2 missed
        entry = conn.execute(text("SELECT e.id FROM logbook_entry e JOIN school_week w ON w.id = e.week_id "
                                  "WHERE w.number = 2 AND e.status = 'on_time' ORDER BY e.id LIMIT 1")).scalar()
        conn.execute(text("UPDATE logbook_entry SET status = 'missed', signed_at = NULL WHERE id = :i"), {"i": entry})
    assert refresh(db, store, iceberg=table).weeks_written == [2]
    table.refresh()
    files_after = set(ice.data_files(table))
    # weeks 1 and 3 keep their files; week 2's file was replaced
    assert len(files_before & files_after) == 2 and all("week=2" in f for f in files_before - files_after)
    assert all("week=2" in f for f in files_after - files_before)
    # now: one more missed; at the snapshot current before the refresh: the old figure
    assert ice.snapshot_as_of(table, moment) == before
    with ice.duckdb_connection(store, table) as con:
        assert compliance_figures(store, SYSTEM, "department", as_of=AS_OF, con=con)["missed"].iloc[0] == \
            figures_before + 1
    with ice.duckdb_connection(store, table, snapshot_id=before) as con:
        assert compliance_figures(store, SYSTEM, "department", as_of=AS_OF, con=con)["missed"].iloc[0] == \
            figures_before
    old = ice.read_facts(table, snapshot_id=before, week=2).to_pandas()
    new = ice.read_facts(table, week=2).to_pandas()
    assert (new["status"] == "missed").sum() == (old["status"] == "missed").sum() + 1 and len(new) == len(old)


@pytest.mark.parametrize("level", LEVELS)
def test_duckdb_reads_the_table_through_arrow(world, level):
    """pyiceberg → Arrow → DuckDB: the console's aggregates on the Iceberg snapshot equal
    those on the store's own files."""
    db, store, table, url, root = world
    refresh(db, store, iceberg=table)
    table.refresh()
    ours = compliance_figures(store, SYSTEM, level, as_of=AS_OF, by_week=True)
    with ice.duckdb_connection(store, table) as con:
        theirs = compliance_figures(store, SYSTEM, level, as_of=AS_OF, by_week=True, con=con)
    assert len(ours) > 0
    assert ours.to_dict("records") == theirs.to_dict("records")


def test_spark_reads_the_snapshot_data_files(world, spark):
    """Spark (no Iceberg jar) reads the files a snapshot lists: the same facts as DuckDB's."""
    db, store, table, url, root = world
    refresh(db, store, iceberg=table)
    table.refresh()
    frame = spark.read.parquet(*ice.data_files(table))
    spark_counts = {(r["week"], r["status"]): r["n"] for r in
                    frame.groupBy("week", "status").count().withColumnRenamed("count", "n").collect()}
    con = store.connect()
    duck_counts = {(w, s): n for w, s, n in con.execute(
        "SELECT week, status, count(*) FROM facts GROUP BY 1, 2").fetchall()}
    assert spark_counts == duck_counts and sum(spark_counts.values()) > 0
