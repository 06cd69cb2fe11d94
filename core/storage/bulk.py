"""Bulk loading: PostgreSQL binary COPY, SQLite executemany. Never row-by-row ORM inserts.

Rows are dicts keyed by column name; ids are allocated by the caller with :func:`allocate_ids`
so that related rows can be built before anything is written.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from core.storage.models import Base


def table_of(model) -> Table:
    return model.__table__ if hasattr(model, "__table__") else model


def allocate_ids(session: Session, model, count: int) -> range:
    """Reserve ``count`` consecutive ids for ``model`` (PostgreSQL: from its sequence)."""
    table = table_of(model)
    if session.bind.dialect.name == "postgresql" and count:
        seq = session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name})
        # setval returns the new value; the block [first, last] is ours. Sequence changes are
        # seen at once by every session (not transactional), so a short advisory lock around
        # the read-and-set keeps parallel writers' blocks disjoint.
        key = {"k": f"sohoa.ids.{table.name}"}
        session.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), key)
        try:
            last = session.scalar(text(
                "SELECT setval(:s, GREATEST((SELECT COALESCE(MAX(id), 0) FROM %s), "
                "(SELECT last_value FROM %s)) + :n)" % (table.name, seq)), {"s": seq, "n": count})
        finally:
            session.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
        return range(last - count + 1, last + 1)
    start = (session.scalar(select(func.max(table.c.id))) or 0) + 1
    return range(start, start + count)


def bulk_insert(session: Session, model, rows: Sequence[dict] | Iterable[dict],
                columns: Sequence[str] | None = None) -> int:
    """Insert many rows in the session's transaction; returns how many were written."""
    table = table_of(model)
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0
    columns = list(columns or rows[0].keys())
    if session.bind.dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        col_list = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({col_list}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([_pg_value(row.get(c)) for c in columns])
        return len(rows)
    session.execute(insert(table), [{c: r.get(c) for c in columns} for r in rows])
    return len(rows)


def _pg_value(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if hasattr(value, "value") and not isinstance(value, (bytes, str)):  # enums
        return value.value
    return value


def reset_sequences(session: Session) -> None:
    """After explicit ids on PostgreSQL, move every id sequence past the largest id."""
    if session.bind.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.name != "audit_head":
            session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))
