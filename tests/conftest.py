"""Test fixtures: every database test runs against PostgreSQL *and* the embedded default.

PostgreSQL is found in this order: ``SOHOA_TEST_DATABASE_URL``; the server on
127.0.0.1:5432 when one answers; a throwaway cluster started with ``initdb``/``pg_ctl``
when the binaries are on the machine. If none is possible the run stops with a message
that says how to get PostgreSQL; it never skips.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.orm import sessionmaker

from core.storage.db import Database, make_engine, normalise_url
from core.storage.migrate import upgrade
from core.storage.partitioning import create_year_partitions
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.pg_cluster import PrivatePostgres

HOW_TO_GET_POSTGRES = (
    "PostgreSQL is required for the test suite and none could be reached or started.\n"
    "Either set SOHOA_TEST_DATABASE_URL=postgresql://user@host:port/db, run a server on "
    "127.0.0.1:5432 (trust auth), or install the server binaries so that initdb and pg_ctl "
    "are on PATH (Debian: apt-get install postgresql)."
)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_server_url():
    """A URL of a PostgreSQL server we may create databases on (the admin database)."""
    explicit = os.environ.get("SOHOA_TEST_DATABASE_URL")
    if explicit:
        if not _answers(explicit):
            pytest.exit(f"SOHOA_TEST_DATABASE_URL={explicit} does not answer.\n{HOW_TO_GET_POSTGRES}", returncode=3)
        yield normalise_url(explicit)
        return
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if _answers(local):
        yield normalise_url(local)
        return
    try:
        cluster = PrivatePostgres()
    except RuntimeError:
        pytest.exit(HOW_TO_GET_POSTGRES, returncode=3)
    try:
        yield normalise_url(cluster.url)
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server_url):
    """A fresh, migrated database for this test run, dropped at the end."""
    url = create_scratch_database(pg_server_url, "sohoa_test")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:  # as a department would before its years start (tests/test_partitioning.py
        create_year_partitions(conn, 2023, 2027)  # covers the trigger that makes one on demand)
    engine.dispose()
    yield url
    drop_scratch_database(pg_server_url, url)


@contextmanager
def committed_database(request, root, prefix: str):
    """A migrated record store whose commits are real (for code that reads it from its own
    connection: the analytics store, the API's threads): a throwaway PostgreSQL database, or
    a SQLite file under ``root``, by ``request.param``; dropped afterwards."""
    server = request.getfixturevalue("pg_server_url") if request.param == "postgresql" else None
    url = create_scratch_database(server, prefix) if server else f"sqlite:///{root / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    try:
        yield db
    finally:
        db.engine.dispose()
        if server:
            drop_scratch_database(server, url)


#: The test suite's owner and runtime roles (cluster-wide; created once, by whichever test or
#: worker comes first: core.storage.privileges creates roles idempotently and race-safely).
OWNER_ROLE, RUNTIME_ROLE = "sohoa_test_owner", "sohoa_test_app"


@contextmanager
def runtime_database(db: Database):
    """``db`` as the product runs it in production: on PostgreSQL set up with least privilege
    (``sohoa init --roles``) and connected as the runtime role, which owns nothing; the embedded
    default has no roles and is ``db`` itself."""
    if not db.is_postgres:
        yield db
        return
    from core.storage.privileges import role_url, setup_roles

    url = db.engine.url.render_as_string(hide_password=False)
    setup_roles(url, OWNER_ROLE, RUNTIME_ROLE)
    runtime = Database(make_engine(role_url(url, RUNTIME_ROLE)))
    try:
        yield runtime
    finally:
        runtime.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'sohoa.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engines(request):
    made = {}

    def get(kind: str):
        if kind not in made:
            url = request.getfixturevalue("pg_url" if kind == "postgresql" else "sqlite_url")
            made[kind] = make_engine(url)
        return made[kind]

    yield get
    for engine in made.values():
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, engines):
    """An empty, migrated record store, isolated per test: everything the test commits is
    rolled back at the end (the services' commits become savepoints)."""
    engine = engines(request.param)
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    database = Database(engine, session_factory=factory)
    try:
        yield database
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def pg_db(engines):
    """Like ``db`` but PostgreSQL only (for database-specific behaviour)."""
    engine = engines("postgresql")
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield Database(engine, session_factory=factory)
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A demo PKI (root, issuing CA) for the whole run."""
    from core.signatures import DemoPKI

    return DemoPKI.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def keys(pki):
    from core.signatures import KeyStore

    return KeyStore(pki.directory)


@pytest.fixture
def trust(pki):
    return pki.trust_store()


@pytest.fixture
def world(db, pki, keys):
    from tests.world import build_world

    return build_world(db, pki, keys)
