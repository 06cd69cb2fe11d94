"""Database engines, sessions and the unit of work (thin persistence layer).

The setting ``database_url`` (``SOHOA_DATABASE_URL``, :mod:`core.kernel.settings`) selects the
record store. PostgreSQL (``postgresql+psycopg://…``) is production; without it the embedded
default is a single SQLite file, ``<data_dir>/sohoa.db`` (no server needed).
"""
from __future__ import annotations

import contextlib
import copy
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.kernel import settings


def database_url() -> str:
    """The configured database URL, or the embedded default file (``<data_dir>/sohoa.db``)."""
    configured = settings.current()
    if configured.database_url:
        return normalise_url(configured.database_url)
    configured.database_file.parent.mkdir(parents=True, exist_ok=True)
    return configured.effective_database_url


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and real SAVEPOINT support."""
    url = normalise_url(url or database_url())
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN (savepoints work)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # No JIT compilation: on the partitioned logbook a large estimate made PostgreSQL compile a
    # console read for 1–2 s that then ran in tens of milliseconds (docs/benchmarks.md, city pages).
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("options", "-c jit=off")
    return create_engine(url, connect_args=connect_args, **kwargs)


def is_postgres(bind) -> bool:
    return bind.dialect.name == "postgresql"


class Database:
    """A record store: an engine plus a session factory; the services' only way in."""

    def __init__(self, engine: Engine, *, session_factory: sessionmaker | None = None):
        self.engine = engine
        self._factory = session_factory or sessionmaker(engine, expire_on_commit=False)
        self._own_factory = session_factory is None
        self._autocommit: sessionmaker | None = None
        self._check: Callable[[Session], None] | None = None
        #: which record store this is, in the keys of the read models kept by version
        #: (core.logbook.queries): two record stores served by one process never share an entry
        self.identity = uuid.uuid4().hex

    @classmethod
    def from_url(cls, url: str | None = None) -> "Database":
        return cls(make_engine(url))

    @property
    def is_postgres(self) -> bool:
        return is_postgres(self.engine)

    def checked(self, check: Callable[[Session], None]) -> "Database":
        """The same record store (engine, sessions) with ``check(session)`` run first in every
        unit of work and every read, inside it: a check that raises stops the work before it
        starts. The console binds each browser page to its sign-in this way
        (:func:`core.access.accounts.session_check`), so a page left open loses its rights with
        the session."""
        other = copy.copy(self)
        other._check = check
        return other

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back otherwise."""
        with self._factory() as session:
            try:
                if self._check is not None:
                    self._check(session)
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads: never commits; on exit its objects are detached but keep
        what they loaded."""
        with self._factory() as session:
            if self._check is not None:
                self._check(session)
            yield session

    def autocommit_reader(self, pool_size: int = 4) -> sessionmaker | None:
        """Sessions for reads of one statement each, outside a transaction, on an engine of
        their own: PostgreSQL in autocommit without the pool's pre-ping, so that a read is one
        round trip (the public check reads one row per request; a connection lost meanwhile
        fails that read once and is replaced). None on SQLite, or when this record store is a
        given session factory (a test's single connection): use :meth:`reading` then."""
        if not self.is_postgres or not self._own_factory:
            return None
        if self._autocommit is None:  # one per record store, disposed with its engine
            engine = create_engine(self.engine.url, pool_size=pool_size, pool_pre_ping=False,
                                   isolation_level="AUTOCOMMIT")
            event.listen(self.engine, "engine_disposed", lambda _: engine.dispose())
            self._autocommit = sessionmaker(engine, expire_on_commit=False)
        return self._autocommit


def is_unavailable(err: BaseException) -> bool:
    """A lost or refused database connection (a server restart, a network cut): the request
    may be retried as it was — never a bug."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(err, OperationalError) or (isinstance(err, DBAPIError) and err.connection_invalidated)


def database_errors() -> tuple[type[BaseException], ...]:
    """The exception classes the database layer raises (for an entry point's error handler)."""
    from sqlalchemy.exc import DBAPIError

    return (DBAPIError,)
