"""The long jobs of tests/test_killed_jobs.py, run as their own process so that the test can
kill them with SIGKILL at a known point: the job writes ``marker`` and waits there.

    python -m tests.killable_jobs issue URL PKI_DIR SCHOOL_ID PRINCIPAL_KEY SEAL_KEY MARKER
    python -m tests.killable_jobs import URL KIND FILE MARKER
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from core.storage.db import Database, make_engine


def wait_to_be_killed(marker: str) -> None:
    Path(marker).write_text("here")
    time.sleep(600)
    raise SystemExit("not killed")


def issue(url, pki_dir, school_id, principal_key, seal_key, marker) -> None:
    """The principal's batch signing (ký duyệt học bạ hàng loạt), one transcript a chunk,
    stopped while signing the second."""
    from core.access.authz import actor_by_username
    from core.signatures import KeyStore
    from core.transcripts import workflow
    from tests.services.test_transcripts import CrashingSigner

    workflow.CHUNK = 1
    db = Database(make_engine(url))
    keys = KeyStore(Path(pki_dir))
    with db.reading() as session:
        principal = actor_by_username(session, "binh")
    stops = CrashingSigner(keys.signer_for(principal_key), 2, stop=lambda: wait_to_be_killed(marker))
    workflow.principal_sign_batch(db, principal, int(school_id), stops, keys.signer_for(seal_key))


def import_(url, kind, file, marker) -> None:
    """An import stopped after its first table is written, before the second."""
    import core.school.importer as importer
    from core.access.authz import SYSTEM

    real, calls = importer.bulk_insert, []

    def stops_before_the_second_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            wait_to_be_killed(marker)
        return real(*args, **kwargs)

    importer.bulk_insert = stops_before_the_second_write
    importer.import_file(Database(make_engine(url)), SYSTEM, kind, file)


if __name__ == "__main__":
    job, *args = sys.argv[1:]
    {"issue": issue, "import": import_}[job](*args)
