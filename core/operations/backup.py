"""Backup and restore (sao lưu, khôi phục) of the record store.

PostgreSQL: ``pg_dump --format=custom`` (Debian's ``postgresql-client``, the server's major
version or newer) and ``pg_restore`` into an **empty** database, in one transaction, keeping
owners and grants (the owner and runtime roles exist cluster-wide, so a restore as a
superuser, or as the owner, gives back the same least privilege). The embedded database:
SQLite's online backup API into a new file. The checkpoints stay where they are (outside the
database, append-only): after a restore, ``sohoa verify-integrity`` compares the restored
database with them — the drill of ``docs/operations.md``.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import psycopg

from core.kernel.errors import Conflict, Unavailable
from core.storage.db import normalise_url


def _libpq(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def _sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} is missing: install Debian's postgresql-client",
                          message_vi=f"Thiếu {name}: hãy cài gói postgresql-client")
    return found


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed: {done.stderr.strip()[-2000:]}",
                          message_vi=f"{what} không thành công: {done.stderr.strip()[-500:]}")


def backup(url: str, out: Path) -> Path:
    """Write a backup of the database ``url`` to ``out`` (a new file)."""
    url, out = normalise_url(url), Path(out)
    if out.exists():
        raise Conflict(f"{out} exists: a backup is written to a new file",
                       message_vi=f"{out} đã có: bản sao lưu được ghi vào một tệp mới")
    out.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        with sqlite3.connect(_sqlite_path(url)) as source, sqlite3.connect(out) as target:
            source.backup(target)
        return out
    _run([_tool("pg_dump"), "--format=custom", "--file", str(out), "--dbname", _libpq(url)], "pg_dump")
    return out


def _empty(url: str) -> bool:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        return not path.exists() or path.stat().st_size == 0
    with psycopg.connect(_libpq(url)) as conn:
        return not conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')").fetchone()[0]


def restore(dump: Path, url: str) -> None:
    """Restore ``dump`` into the database ``url``, which must exist and be empty (never over a
    live database: restore into a new one, check it, then point ``database_url`` at it)."""
    url, dump = normalise_url(url), Path(dump)
    if not dump.is_file():
        raise Conflict(f"no backup file {dump}", message_vi=f"Không có tệp sao lưu {dump}")
    if not _empty(url):
        raise Conflict("the target database is not empty: restore into a new, empty database",
                       message_vi="Cơ sở dữ liệu đích không trống: hãy khôi phục vào một cơ sở dữ liệu mới, trống")
    if url.startswith("sqlite"):
        target_path = _sqlite_path(url)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(dump) as source, sqlite3.connect(target_path) as target:
            source.backup(target)
        return
    _run([_tool("pg_restore"), "--exit-on-error", "--single-transaction", "--dbname", _libpq(url), str(dump)],
         "pg_restore")
