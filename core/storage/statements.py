"""Statements run many times a second (the signing API's batches): defined once with
SQLAlchemy Core, run lean on PostgreSQL.

SQLAlchemy's execution path (execution context, parameter and result processing, Row objects)
costs about 0.15 ms of CPU a statement here, more than psycopg's own work for a batch's small
read; a batch runs eight of them. :func:`rows` and :func:`execute` therefore compile a
statement to its SQL text once, run it on the session's own driver connection (same
transaction) as a prepared statement, and apply only the result conversions the statement's
column types need (an Enum column's strings become the enum). Elsewhere (SQLite) they are
plain ``Connection.execute``.

Only for statements built once (module constants, ``functools.cache``) whose text does not
depend on the values: lists are bound with
:func:`core.storage.bulk.among` (an array on PostgreSQL), never as expanding ``IN`` lists.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.storage.db import is_postgres


@dataclass(frozen=True)
class _Compiled:
    statement: Any            # held: the cache is keyed by its id, which must stay its own
    sql: str
    defaults: dict[str, Any]   # the values of the statement's own literals
    row: type | None           # a named tuple of the selected columns
    convert: tuple             # per column: a result processor or None


_compiled: dict[tuple[int, str], _Compiled] = {}


def _compile(statement, dialect) -> _Compiled:
    key = (id(statement), dialect.name)
    found = _compiled.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        columns = list(getattr(statement, "selected_columns", ()))
        row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None
        convert = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        found = _compiled[key] = _Compiled(statement, compiled.string, dict(compiled.params), row, convert)
    return found


def _cursor(session: Session):
    return session.connection().connection.driver_connection.cursor()


def rows(session: Session, statement, params: dict[str, Any], *, prepare: bool = True) -> list:
    """The rows of a SELECT (attribute access by column name), in the session's transaction.

    ``prepare=False`` for a statement that reads a table growing fast while it runs (the
    receipts during a bell): a plan made once, while the table was small, would go on scanning
    it whole; unprepared, it is planned for each run with the table's size at that moment."""
    if not is_postgres(session.bind):
        return session.connection().execute(statement, params).all()
    compiled = _compile(statement, session.bind.dialect)
    with _cursor(session) as cursor:
        cursor.execute(compiled.sql, {**compiled.defaults, **params}, prepare=prepare)
        fetched = cursor.fetchall()
    row, convert = compiled.row, compiled.convert
    if not any(convert):
        return [row._make(r) for r in fetched]
    return [row._make([v if f is None or v is None else f(v) for f, v in zip(convert, r)]) for r in fetched]


def execute(session: Session, statement, params: dict[str, Any]) -> int:
    """Run an INSERT / UPDATE / DELETE in the session's transaction; returns the rows it changed."""
    if not is_postgres(session.bind):
        return session.connection().execute(statement, params).rowcount
    compiled = _compile(statement, session.bind.dialect)
    with _cursor(session) as cursor:
        cursor.execute(compiled.sql, {**compiled.defaults, **params}, prepare=True)
        return cursor.rowcount
