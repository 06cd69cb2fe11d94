"""The analytics store's facts as an Apache Iceberg table (bảng Iceberg): what a province or the
nation registers so that several writers, several engines and last week's figures meet one
table.

- **Catalog.** pyiceberg's SQL catalog, kept in the project's PostgreSQL (two small tables,
  ``iceberg_tables`` and ``iceberg_namespace_properties``, in the database given); the data
  and metadata files under a warehouse folder (a local path here, object storage in a
  deployment).
- **Table.** ``analytics.facts``: the store's fact columns (``SMALLINT`` widened to Iceberg's
  ``int``) and ``school_year``, ``week``, partitioned by identity on ``school_year`` and
  ``week``.
- **Weekly refresh.** :func:`publish_week` overwrites one partition (school year · week) with
  the store's files of that week: one atomic commit; readers see the old week or the new one.
  :func:`core.analytics.store.refresh` calls it for each week it rewrites when given
  ``iceberg=``.
- **Time travel.** Every commit is a snapshot: :func:`snapshot_as_of` finds the one current at
  a moment (last week's figures), and :func:`read_facts` reads any snapshot.

Who reads it here, with nothing downloaded (tests/analytics/test_iceberg.py): pyiceberg plans
the scan and reads Arrow, which DuckDB queries as the ``facts`` view (:func:`duckdb_connection`:
the console's aggregates unchanged); Spark reads the snapshot's data files, which
:func:`data_files` lists (Spark's own Iceberg connector is a jar, not in pyspark). A cluster uses
the Iceberg connector of Trino or Spark over the same catalog (docs/analytics.md).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.analytics.store import _FACT_COLUMNS, AnalyticsStore

NAMESPACE = "analytics"
TABLE = f"{NAMESPACE}.facts"


def catalog(database_url: str, warehouse: Path | str, *, name: str = "sohoa"):
    """The SQL catalog in the PostgreSQL database at ``database_url`` (SQLAlchemy URL), with its
    files under ``warehouse``."""
    from pyiceberg.catalog.sql import SqlCatalog

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1) \
        if database_url.startswith("postgresql://") else database_url
    Path(warehouse).mkdir(parents=True, exist_ok=True)
    return SqlCatalog(name, uri=url, warehouse=Path(warehouse).resolve().as_uri())


def _arrow_schema():
    import pyarrow as pa

    types = {"DATE": pa.date32(), "SMALLINT": pa.int32(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
             "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}
    return pa.schema([(c, types[t]) for c, t in _FACT_COLUMNS.items()])


def facts_table(cat):
    """The facts table, created (with its namespace) the first time."""
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return cat.load_table(TABLE)
    except NoSuchTableError:
        pass
    cat.create_namespace_if_not_exists(NAMESPACE)
    table = cat.create_table_if_not_exists(TABLE, schema=_arrow_schema())
    if table.spec().is_unpartitioned():
        with table.update_spec() as spec:
            spec.add_identity("school_year")
            spec.add_identity("week")
    return cat.load_table(TABLE)


def _week_rows(store: AnalyticsStore, school_year: int, week: int):
    """The store's facts of one week (every file of its partition), in the table's columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema()
    parts = sorted(store.week_partition(school_year, week).glob("*.parquet"))
    tables = []
    for part in parts:
        t = pq.read_table(part)
        n = t.num_rows
        t = t.append_column("school_year", pa.array([school_year] * n, pa.int64()))
        t = t.append_column("week", pa.array([week] * n, pa.int64()))
        tables.append(t.select(schema.names).cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def publish_week(table, store: AnalyticsStore, school_year: int, week: int) -> int:
    """Overwrite the partition (``school_year``, ``week``) with the store's facts of that week,
    in one commit (a new snapshot); returns the snapshot's id."""
    import warnings

    from pyiceberg.expressions import And, EqualTo

    rows = _week_rows(store, school_year, week)
    with warnings.catch_warnings():  # a new week: its partition is empty, nothing to delete
        warnings.filterwarnings("ignore", "Delete operation did not match any records", UserWarning)
        table.overwrite(rows, overwrite_filter=And(EqualTo("school_year", school_year), EqualTo("week", week)))
    return table.current_snapshot().snapshot_id


def publish(table, store: AnalyticsStore) -> list[tuple[int, int]]:
    """Every week of the store into the table (one overwrite per week): the first
    registration of a store."""
    weeks = sorted({(int(p.parent.name.split("=")[1]), int(p.name.split("=")[1]))
                    for p in store.facts.glob("school_year=*/week=*")})
    for school_year, week in weeks:
        publish_week(table, store, school_year, week)
    return weeks


def snapshot_as_of(table, moment: dt.datetime) -> int | None:
    """The id of the snapshot that was current at ``moment`` (its figures then), or None
    before the first."""
    found = table.snapshot_as_of_timestamp(int(moment.timestamp() * 1000))
    return found.snapshot_id if found is not None else None


def read_facts(table, *, snapshot_id: int | None = None, school_year: int | None = None,
               week: int | None = None):
    """The facts (Arrow) of a snapshot (the current one by default), pruned to a school year
    and week by the partitions."""
    from pyiceberg.expressions import AlwaysTrue, And, EqualTo

    where = AlwaysTrue()
    if school_year is not None:
        where = And(where, EqualTo("school_year", int(school_year)))
    if week is not None:
        where = And(where, EqualTo("week", int(week)))
    return table.scan(row_filter=where, snapshot_id=snapshot_id).to_arrow()


def data_files(table, *, snapshot_id: int | None = None) -> list[str]:
    """The Parquet data files of a snapshot (local paths): what an engine without the Iceberg
    connector reads (valid here because the table has no delete files: an overwrite of a
    whole partition drops its files, it never writes row deletes)."""
    files = []
    for task in table.scan(snapshot_id=snapshot_id).plan_files():
        if task.delete_files:
            raise ValueError("the snapshot has delete files: read it through an Iceberg reader")
        path = task.file.file_path
        files.append(path[len("file://"):] if path.startswith("file://") else path)
    return sorted(files)


def duckdb_connection(store: AnalyticsStore, table, *, snapshot_id: int | None = None):
    """A DuckDB connection of ``store`` (its dimensions and other facts) whose ``facts`` view is
    the Iceberg table's snapshot, read by pyiceberg into Arrow: the console's aggregates run
    on it unchanged (``con=``)."""
    con = store.open()
    arrow = read_facts(table, snapshot_id=snapshot_id)
    con.register("iceberg_facts", arrow)
    con.execute("CREATE OR REPLACE VIEW facts AS SELECT * FROM iceberg_facts")
    return con


__all__ = ["catalog", "facts_table", "publish_week", "publish", "snapshot_as_of", "read_facts", "data_files",
           "duckdb_connection", "TABLE"]
