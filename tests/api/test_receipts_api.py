"""The server's receipts through the signing API, end to end, on a committed SQLite and PostgreSQL
database: a phone signs with its own key and a wrong clock, the API settles it, the API's sealer
seals it, ``GET /api/v1/entries/{id}/receipt`` gives the proof, the proof verifies offline and the
entry verifies PASSED. And the API killed (SIGKILL) between settling and sealing: after the next
start nothing is left unsealed and the chain verifies."""
import asyncio
import base64
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.demo.apps import phone_submissions
from core.demo.synthetic import DEMO_PASSWORD, FIRST_MONDAY, Scale, generate
from core.kernel import clock
from core.kernel.vocabulary import EntryStatus
from core.logbook.receipts import receipt_discrepancies, verify_receipt
from core.logbook.verification import verify_entry_signature
from core.signatures import DemoPKI, KeyStore
from core.signatures.responder import Responder, free_port
from core.signatures.service import SEAL_OWNER, ServiceSeal
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import LogbookEntry, Submission, UserAccount
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.api.test_faults import send
from tests.conftest import committed_database

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.datetime(2025, 9, 22, 7, 0)  # Monday of week 3: its periods are still to be signed


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    """The app with its sealer (every 0.2 s, timestamps from the demo PKI's TSA on loopback) on a
    committed, generated database."""
    root = tmp_path_factory.mktemp("receipts-api")
    with committed_database(request, root, "sohoa_receipts_api") as db:
        generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=3, students_per_class=4,
                           seed=3), pki_dir=root / "pki", progress=False, as_of=AS_OF)
        pki = DemoPKI.load(root / "pki")
        port = free_port()
        responder = Responder(pki).start(port)
        seal = ServiceSeal(KeyStore(root / "pki").signer_for(SEAL_OWNER), f"http://127.0.0.1:{port}/tsa")
        app = create_app(db, pki.trust_store(), pki_dir=root / "pki", batch_window=0.001, token_cache_seconds=0,
                         seal=seal, seal_interval=0.2)
        try:
            with TestClient(app) as client:
                client.db, client.keys, client.trust = db, KeyStore(root / "pki"), pki.trust_store()
                yield client
        finally:
            responder.stop()


def login(api, username):
    r = api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_phones_signature_is_settled_sealed_proven_and_verifies_passed(api, monkeypatch):
    with api.db.reading() as s:
        entry = s.scalars(select(LogbookEntry).where(LogbookEntry.status == EntryStatus.PENDING)
                          .order_by(LogbookEntry.period_end, LogbookEntry.id).limit(1)).one()
        teacher = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == entry.teacher_id))
        colleague = s.scalar(select(UserAccount.username).where(
            UserAccount.staff_id.is_not(None), UserAccount.staff_id != entry.teacher_id,
            UserAccount.username.like("s0001-%")).limit(1))
    received = entry.period_end + dt.timedelta(minutes=3)
    monkeypatch.setattr(clock, "now", lambda: received)   # the server's clock at the bell
    headers = login(api, teacher)
    body = api.get(f"/api/v1/entries/{entry.id}", headers=headers).json()
    # the phone signs with the teacher's own key; its clock says 2031 (never trusted)
    signature = api.keys.signer_for(f"staff-{entry.teacher_id}").sign_detached(
        base64.b64decode(body["canonical_bytes"]), dt.datetime(2031, 1, 1))
    sent = api.post(f"/api/v1/entries/{entry.id}/signature", json={"signature": base64.b64encode(signature).decode()},
                    headers={**headers, "Idempotency-Key": f"receipt-{entry.id}"})
    assert sent.status_code == 200 and sent.json()["status"] == "on_time", sent.text

    deadline = time.time() + 30
    while (answer := api.get(f"/api/v1/entries/{entry.id}/receipt", headers=headers)).status_code == 409:
        assert "message_vi" in answer.json()["error"] and time.time() < deadline  # not sealed yet: ask again
        time.sleep(0.1)
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    assert proof["leaf"]["status"] == "on_time" and proof["leaf"]["entry_id"] == entry.id
    assert proof["leaf"]["received_at"] == received.isoformat() + "+07:00"
    assert proof["leaf"]["signature_hash"] == __import__("hashlib").sha256(signature).hexdigest()
    report = verify_receipt(proof, api.trust)  # offline: the JSON and the trust anchors
    assert report.valid, report
    assert f"on time at {received:%H:%M:%S %d/%m/%Y}" in report.message

    with api.db.reading() as s:
        from core.access.authz import actor_by_username
        supervisor = actor_by_username(s, "so.giamsat")
        assert receipt_discrepancies(s, api.trust) == []
    verified = verify_entry_signature(api.db, supervisor, entry.id, api.trust)
    assert verified.indication == "PASSED", verified.signatures
    assert verified.signatures[0].verification.signing_time == received  # the server's time, not 2031

    # who may ask: the teacher, a viewer of the school (a supervisor, the principal); not a colleague
    assert api.get(f"/api/v1/entries/{entry.id}/receipt", headers=login(api, "so.giamsat")).status_code == 200
    assert api.get(f"/api/v1/entries/{entry.id}/receipt", headers=login(api, "ht.s0001")).status_code == 200
    refused = api.get(f"/api/v1/entries/{entry.id}/receipt", headers=login(api, colleague))
    assert refused.status_code == 403 and refused.json()["error"]["message_vi"]
    assert api.get(f"/api/v1/entries/{10**12}/receipt", headers=headers).status_code == 404
    assert api.get(f"/api/v1/entries/{entry.id}/receipt").status_code == 401
    with api.db.reading() as s:
        unsigned = s.scalar(select(LogbookEntry.id).where(LogbookEntry.teacher_id == entry.teacher_id,
                                                          LogbookEntry.status == EntryStatus.PENDING).limit(1))
    if unsigned is not None:
        assert api.get(f"/api/v1/entries/{unsigned}/receipt", headers=headers).status_code == 404


@pytest.fixture(params=["sqlite", "postgresql"])
def bell(request, tmp_path, pg_server_url):
    """A Monday of pending periods, what the phones send for them, a TSA on loopback and a way to
    (re)start the API as its own process with its sealer every ``interval`` seconds."""
    url = create_scratch_database(pg_server_url, "receipts_crash") if request.param == "postgresql" \
        else f"sqlite:///{tmp_path / 'crash.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=4, weeks=1, students_per_class=3,
                       seed=23, key_files=False), pki_dir=tmp_path / "pki", progress=False,
             as_of=dt.datetime.combine(FIRST_MONDAY, dt.time(0, 1)))
    subs = phone_submissions(db, tmp_path / "pki", FIRST_MONDAY, limit=80,
                             token_time=dt.datetime.combine(FIRST_MONDAY, dt.time(12, 0)))
    moment = max(s.period_end for s in subs) + dt.timedelta(minutes=1)
    tsa_port, port = free_port(), free_port()
    responder = Responder(DemoPKI.load(tmp_path / "pki")).start(tsa_port)
    servers = []

    def start(interval: float):
        env = {**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(tmp_path / "pki"),
               "SOHOA_CLOCK_OFFSET_SECONDS": str((moment - clock.now()).total_seconds()),
               "SOHOA_SEAL_PIN": "1234", "SOHOA_TSA_URL": f"http://127.0.0.1:{tsa_port}/tsa",
               "SOHOA_SEAL_INTERVAL_MS": str(int(interval * 1000))}
        proc = subprocess.Popen([sys.executable, "-m", "core.cli", "api", "--port", str(port), "--workers", "1"],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        servers.append(proc)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2).read()
                return proc
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the API did not start")

    yield {"db": db, "subs": subs, "base": f"http://127.0.0.1:{port}", "start": start,
           "trust": DemoPKI.load(tmp_path / "pki").trust_store()}
    for proc in servers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    responder.stop()
    db.engine.dispose()
    if request.param == "postgresql":
        drop_scratch_database(pg_server_url, url)


def unsealed(db) -> tuple[int, int]:
    with db.reading() as s:
        return (s.scalar(select(func.count()).select_from(Submission).where(Submission.batch_id.is_(None))),
                s.scalar(select(func.count()).select_from(Submission)))


def test_a_crash_between_settle_and_seal_leaves_nothing_unsealed_after_the_next_run(bell):
    server = bell["start"](interval=3600)  # settles, but its sealer's first run is an hour away
    acked, _ = asyncio.run(send(bell["base"], bell["subs"], rate=200))
    assert len(acked) == len(bell["subs"])
    os.killpg(server.pid, signal.SIGKILL)   # the crash: no orderly stop, no last seal
    server.wait()
    assert unsealed(bell["db"]) == (len(acked), len(acked))  # acknowledged, kept, not sealed yet
    bell["start"](interval=0.2)             # the next run's sealer takes them
    deadline = time.time() + 60
    while unsealed(bell["db"])[0] and time.time() < deadline:
        time.sleep(0.2)
    assert unsealed(bell["db"]) == (0, len(acked))
    with bell["db"].reading() as s:
        assert receipt_discrepancies(s, bell["trust"]) == []
        sealed = set(s.scalars(select(Submission.entry_id).where(Submission.batch_id.is_not(None))))
    assert sealed == acked
