"""Long jobs killed with SIGKILL midway and run again, on PostgreSQL: the principal's batch
signing of transcripts (issue 7: nothing issued twice, nothing left half-done) and an import
(nothing of it stays; run again, it imports once). Each job runs as its own process
(tests/killable_jobs.py), is killed at a known point, and the record store is checked after."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core.access.authz import SYSTEM
from core.kernel.vocabulary import TranscriptStatus
from core.school.importer import import_file
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import AuditEvent, Staff, StaffAssignment, Transcript
from core.storage.scratch import create_scratch_database, drop_scratch_database
from core.transcripts.workflow import homeroom_sign_class, prepare_transcripts, principal_sign_batch
from tests.services.test_transcripts import confirm_all, enter_all, with_seal
from tests.test_importer import KINDS, TEMPLATES, count, counts, load, with_department
from tests.world import build_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def committed(pg_server_url):
    """A throwaway PostgreSQL record store whose commits are real (the job is another process)."""
    url = create_scratch_database(pg_server_url, "killed")
    db = Database(make_engine(url))
    upgrade(db.engine)
    yield url, db
    db.engine.dispose()
    drop_scratch_database(pg_server_url, url)


def kill_when_there(tmp_path, *job) -> None:
    """Run a job of tests/killable_jobs.py, SIGKILL it once it is at its stopping point."""
    marker = tmp_path / "there"
    with subprocess.Popen([sys.executable, "-m", "tests.killable_jobs", *job, str(marker)], cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:  # closes the pipe
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, f"the job ended before its stopping point: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the job did not reach its stopping point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL


def no_lock_left(db, table: str) -> bool:
    """The killed process's transaction is gone: PostgreSQL rolled it back and freed its locks."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.reading() as s:
            if not s.scalar(text("SELECT count(*) FROM pg_locks WHERE relation = CAST(:t AS regclass)"), {"t": table}):
                return True
        time.sleep(0.1)
    return False


def test_the_principals_batch_killed_midway_resumes_without_issuing_twice(committed, pki, keys, tmp_path):
    url, db = committed
    school = with_seal(build_world(db, pki, keys))
    ids = school.ids
    enter_all(school)
    confirm_all(school)
    drafts = prepare_transcripts(db, school.actor("lan"), ids["6A1"], ids["year"])
    assert len(drafts) == 2
    homeroom_sign_class(db, school.actor("lan"), ids["6A1"], ids["year"], school.signer("lan"))

    kill_when_there(tmp_path, "issue", url, str(pki.directory), str(ids["A"]), f"staff-{ids['binh']}",
                    f"school-{ids['A']}")
    assert no_lock_left(db, "transcript")
    with db.reading() as s:
        rows = [s.get(Transcript, t) for t in drafts]
        assert [r.status for r in rows] == [TranscriptStatus.ISSUED, TranscriptStatus.HOMEROOM_SIGNED]
        assert rows[1].principal_signed_by is None and rows[1].issued_at is None   # nothing half-done
        first_document, second_document = rows[0].document, rows[1].document

    again = principal_sign_batch(db, school.actor("binh"), ids["A"], school.signer("binh"), school.seal)
    assert again.signed == [drafts[1]] and again.not_signed == []
    with db.reading() as s:
        assert s.get(Transcript, drafts[0]).document == first_document          # not signed a second time
        assert s.get(Transcript, drafts[1]).document != second_document         # signed once, now
        assert s.get(Transcript, drafts[1]).status == TranscriptStatus.ISSUED
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "transcript.issue")).all()
    assert sorted(i for e in events for i in e.after["ids"]) == drafts          # each issued once, audited once


def test_an_import_killed_midway_leaves_nothing_and_runs_again_once(committed, tmp_path):
    url, db = committed
    with_department(db)
    load(db, *KINDS[:KINDS.index("staff")])
    before = counts(db)

    kill_when_there(tmp_path, "import", url, "staff", str(TEMPLATES / "staff.csv"))
    assert no_lock_left(db, "staff")
    assert counts(db) == before                                                  # the staff rows written: gone

    import_file(db, SYSTEM, "staff", TEMPLATES / "staff.csv")
    assert (count(db, Staff), count(db, StaffAssignment)) == (3, 5)
    assert count(db, AuditEvent, AuditEvent.action == "import.staff") == 1
