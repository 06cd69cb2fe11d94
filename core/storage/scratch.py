"""Throwaway PostgreSQL databases for the test suite and the benchmarks: created on a server
we may create databases on, dropped afterwards (also while sessions are still connected)."""
from __future__ import annotations

import uuid

import psycopg

from core.storage.db import normalise_url


def _libpq(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def create_scratch_database(server_url: str, prefix: str = "sohoa_scratch", template: str | None = None) -> str:
    """A new database beside the one ``server_url`` names — empty, or a copy of the database
    ``template`` (which nobody may be connected to); returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return normalise_url(server_url).rsplit("/", 1)[0] + "/" + name


def drop_scratch_database(server_url: str, url: str) -> None:
    """Drop the database ``url`` names, connected through ``server_url`` (the one it was made from)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
