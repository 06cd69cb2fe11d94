"""Bulk loading: PostgreSQL binary COPY (a few hundred rows or fewer: one prepared
``INSERT … SELECT unnest(…)``), SQLite executemany. Never row-by-row ORM inserts.
Bulk updates: one ``UPDATE … FROM unnest(…)`` statement on PostgreSQL, executemany on SQLite.

Rows are dicts keyed by column name; ids are allocated by the caller with :func:`allocate_ids`
so that related rows can be built before anything is written.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence

from sqlalchemy import ARRAY, Table, and_, any_, bindparam, cast, func, insert, select, text, update
from sqlalchemy.orm import Session

from core.storage import statements
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


def among(column, name: str, *, postgres: bool):
    """``column`` is one of the values bound as ``name`` (a list): ``column = ANY(CAST(:name AS
    type[]))`` on PostgreSQL, ``column IN (:name…)`` elsewhere.

    On PostgreSQL the statement's text is then the same for any number of values, so psycopg
    prepares it once per connection and the server keeps its plan: a statement run for every
    batch of the signing API is neither parsed nor planned again (planning a read of the
    partitioned logbook cost more than running it). Such statements must not join big tables
    in ways a plan made without the values could get wrong: read related rows by key
    (scalar subqueries), as core.logbook.submissions does."""
    if postgres:
        return column == any_(cast(bindparam(name), ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


#: up to this many rows, a PostgreSQL bulk insert is one prepared ``INSERT … SELECT unnest(…)``
#: (a batch of the signing API: cheaper than starting a COPY); more rows go by COPY
SMALL_INSERT = 500


def bulk_insert(session: Session, model, rows: Sequence[dict] | Iterable[dict],
                columns: Sequence[str] | None = None) -> int:
    """Insert many rows in the session's transaction; returns how many were written."""
    table = table_of(model)
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return 0
    columns = list(columns or rows[0].keys())
    if session.bind.dialect.name == "postgresql":
        if len(rows) <= SMALL_INSERT:
            return statements.execute(session, _insert_statement(table, tuple(columns), session.bind.dialect),
                                      {c: [_pg_value(r.get(c)) for r in rows] for c in columns})
        raw = session.connection().connection.driver_connection
        col_list = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur:
            with cur.copy(f'COPY "{table.name}" ({col_list}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([_pg_value(row.get(c)) for c in columns])
        return len(rows)
    session.execute(insert(table), [{c: r.get(c) for c in columns} for r in rows])
    return len(rows)


def _array(table: Table, column: str, dialect) -> str:
    return f"CAST(:{column} AS {table.c[column].type.compile(dialect)}[])"


@functools.cache
def _insert_statement(table: Table, columns: tuple[str, ...], dialect):
    names = ", ".join(f'"{c}"' for c in columns)
    arrays = ", ".join(_array(table, c, dialect) for c in columns)
    return text(f'INSERT INTO "{table.name}" ({names}) SELECT * FROM unnest({arrays})')


@functools.cache
def _update_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...], where: tuple[str, ...],
                      dialect):
    names = keys + columns
    sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
    # the keys also as "= ANY(array)": the planner then prunes partitions and probes indexes
    # instead of hashing a scan of the whole table against the batch
    match = " AND ".join([f't."{k}" = v."{k}"' for k in keys] + [f't."{k}" = ANY({_array(table, k, dialect)})'
                                                                 for k in keys]
                         + [f't."{c}" = :where_{c}' for c in where])
    arrays = ", ".join(_array(table, n, dialect) for n in names)
    return text(f'UPDATE "{table.name}" AS t SET {sets} FROM unnest({arrays}) AS v({", ".join(names)}) WHERE {match}')


def bulk_update(session: Session, model, rows: Sequence[dict], keys: Sequence[str],
                where: dict | None = None) -> int:
    """Update many rows, each found by its ``keys`` columns (and, if given, only while the
    columns in ``where`` hold those values); every other key of a row is a column to set.
    Returns how many rows changed.

    On PostgreSQL this is one prepared statement for all rows (``UPDATE … FROM
    unnest(arrays)``), so a batch costs one round trip and no planning; giving a partitioned
    table's partition keys in ``keys`` lets every row prune to its partition."""
    if not rows:
        return 0
    table = table_of(model)
    columns = [c for c in rows[0] if c not in keys]
    where = where or {}
    if session.bind.dialect.name == "postgresql":
        statement = _update_statement(table, tuple(keys), tuple(columns), tuple(where), session.bind.dialect)
        params = {n: [_pg_value(r[n]) for r in rows] for n in (*keys, *columns)}
        params.update({f"where_{c}": _pg_value(v) for c, v in where.items()})
        return statements.execute(session, statement, params)
    stmt = (update(table).where(and_(*[table.c[k] == bindparam(f"k_{k}") for k in keys],
                                     *[table.c[c] == v for c, v in where.items()]))
            .values({c: bindparam(f"v_{c}") for c in columns}))
    result = session.connection().execute(stmt, [{**{f"k_{k}": r[k] for k in keys},
                                                  **{f"v_{c}": r[c] for c in columns}} for r in rows])
    return result.rowcount


def _pg_value(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if hasattr(value, "value") and not isinstance(value, (bytes, str)):  # enums
        return value.value
    return value


def refresh_statistics(session: Session) -> None:
    """After a bulk load on PostgreSQL, sample the tables for the planner (``ANALYZE``) instead
    of waiting for autovacuum: until then fresh partitions look empty and key lookups get
    whole-table plans."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("ANALYZE"))


def reset_sequences(session: Session) -> None:
    """After explicit ids on PostgreSQL, move every id sequence past the largest id."""
    if session.bind.dialect.name != "postgresql":
        return
    for table in Base.metadata.sorted_tables:
        if "id" in table.c and table.name != "audit_head":
            session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM \"{table.name}\"), 0) + 1, false)"))
