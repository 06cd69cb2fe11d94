"""The integrity check on the embedded default (SQLite), where whoever holds the file is the
insider: the same product work as tests/evidence/_insider.py, a checkpoint, a clean check; then
the file edited with sqlite3 — a trigger dropped, a PDF swapped, a period's status and a week's
summary changed — and every edit listed (the embedded default's own code paths: hashes computed in
Python, the signing window judged in Python)."""
import datetime as dt
import sqlite3

import pytest

from core.evidence.checkpoints import write_checkpoint
from core.evidence.integrity import verify_integrity
from core.evidence.store import DirectoryStore
from core.logbook.receipts import seal_all
from core.signatures import KeyStore
from core.signatures.service import ServiceSeal
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from tests.evidence._insider import _the_product_at_work, online  # noqa: F401 - fixture


@pytest.fixture
def embedded(online, tmp_path):
    pki, credential = online
    path = tmp_path / "record.db"
    db = Database(make_engine(f"sqlite:///{path}"))
    upgrade(db.engine)
    ids = _the_product_at_work(db, pki)
    store = DirectoryStore(tmp_path / "checkpoints")
    seal = ServiceSeal(KeyStore(pki.directory).signer_for(credential.owner_key), f"{pki.responder_url}/tsa")
    assert seal_all(db, seal)  # the API's sealer: every receipt in a signed batch before the checkpoint
    assert write_checkpoint(db, seal, store) is not None

    def check():
        return verify_integrity(db, pki.trust_store(), store, seals=[credential.fingerprint])

    yield path, ids, check
    db.engine.dispose()


def test_the_embedded_record_store_checks_clean_then_every_edit_is_listed(embedded):
    path, ids, check = embedded
    assert check() == []
    with sqlite3.connect(path) as file:
        file.execute("DROP TRIGGER transcript_no_change")
        file.execute("UPDATE transcript SET document = (SELECT document FROM transcript WHERE id = ?) WHERE id = ?",
                     (ids["cancelled"], ids["issued"]))
        file.execute("UPDATE logbook_entry SET status = 'on_time' WHERE id = ?", (ids["late"],))
        file.execute("UPDATE logbook_entry SET signed_at = ? WHERE id = ?",
                     (str(dt.datetime(2025, 10, 13, 7, 31)), ids["on_time"]))
    found = {(d.kind, d.subject) for d in check()}
    assert any(k == "transcript" and s.startswith(f"transcript {ids['issued']} ") for k, s in found), found
    assert ("entry", f"entry {ids['late']}") in found and ("entry", f"entry {ids['on_time']}") in found, found
    assert any(k == "week" for k, _ in found), found
