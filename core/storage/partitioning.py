"""The record store's partitions (PostgreSQL): ``logbook_entry`` by school year, then by
school (migration 0009, docs/partitioning.md).

A school year's partition is created by the database itself when the school year is
inserted; :func:`create_year_partitions` makes them ahead of time (a deployment preparing
the next years, the test suite), and :func:`entry_partitions` says where the rows are.
"""
from __future__ import annotations

from sqlalchemy import Connection, text


def is_partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    return bool(connection.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'logbook_entry'::regclass)")))


def create_year_partitions(connection: Connection, first: int, last: int) -> None:
    """Partitions for the academic years ``first``-``first+1`` … ``last``-``last+1`` (idempotent)."""
    connection.execute(text("SELECT sohoa_entry_year_partition(y) FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) AS y"),
                       {"a": first, "b": last})


def entry_partitions(connection: Connection) -> list[tuple[str, str, int]]:
    """``(partition, bounds, rows)`` for every leaf partition of ``logbook_entry``."""
    return [tuple(r) for r in connection.execute(text("""
        SELECT c.relid::regclass::text, pg_get_expr(k.relpartbound, k.oid),
               (SELECT count(*) FROM logbook_entry e WHERE e.tableoid = c.relid)
        FROM pg_partition_tree('logbook_entry') c JOIN pg_class k ON k.oid = c.relid
        WHERE c.isleaf ORDER BY 1"""))]
