"""An upgrade from the previous release's schema, with its data: a department's database at the
previous migration (built at head, then taken back one revision, as the previous release left
it), upgraded by ``sohoa init`` as an operator runs it; every row is still there, the schema is
the models' (no drift), and the product reads it."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from core.demo.synthetic import Scale, generate
from core.storage.db import Database, make_engine
from core.storage.migrate import MIGRATIONS, alembic_config, check
from core.storage.models import Base, LogbookEntry
from core.storage.scratch import create_scratch_database, drop_scratch_database

ROOT = Path(__file__).resolve().parents[2]


def counts(db: Database) -> dict[str, int]:
    with db.reading() as session:
        return {name: session.scalar(select(func.count()).select_from(table))
                for name, table in Base.metadata.tables.items()}


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_sohoa_init_upgrades_the_previous_releases_schema_with_its_data(kind, request, tmp_path):
    server = request.getfixturevalue("pg_server_url") if kind == "postgresql" else None
    url = create_scratch_database(server, "sohoa_upgrade") if server else f"sqlite:///{tmp_path / 'old.db'}"
    try:
        db = Database(make_engine(url))
        command.upgrade(alembic_config(db.engine), "head")
        generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=2, students_per_class=4,
                           transcript_classes=1, seed=11), pki_dir=tmp_path / "pki", progress=False,
                 as_of=dt.datetime(2025, 9, 22, 7, 0))
        before = counts(db)
        assert before["logbook_entry"] > 0 and before["audit_event"] > 0
        scripts = ScriptDirectory(str(MIGRATIONS))
        head = scripts.get_current_head()
        previous = scripts.get_revision(head).down_revision
        command.downgrade(alembic_config(db.engine), previous)  # the previous release's schema, with the data
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == previous
        db.engine.dispose()

        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        done = subprocess.run([sys.executable, "-m", "core.cli", "--database", url, "init"], cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(ROOT), "SOHOA_DATA_DIR": str(tmp_path / "data")},
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        db = Database(make_engine(url))
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        check(db.engine)  # the upgraded schema is exactly the models'
        assert counts(db) == before
        assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
        with db.reading() as session:  # and the product reads the old rows through the new columns
            assert session.scalar(select(func.count()).select_from(LogbookEntry)) == before["logbook_entry"]
        db.engine.dispose()
    finally:
        if server:
            drop_scratch_database(server, url)
