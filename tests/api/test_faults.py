"""Faults under a burst of signatures, against the API running as its own process: the API
killed with SIGKILL mid-burst, on SQLite and on a private PostgreSQL cluster (every acknowledged
signature is there, nothing is half-written, the retries finish the rest once); PostgreSQL
restarted mid-burst (clients get a retryable 503, retries with the same key succeed once)."""
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from core.demo.apps import phone_submissions
from core.demo.synthetic import FIRST_MONDAY, Scale, generate
from core.kernel import clock
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.pg_cluster import PrivatePostgres, free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    pg = PrivatePostgres()
    yield pg
    pg.stop()


@pytest.fixture
def burst(request, tmp_path):
    """A fresh database with a Monday of pending periods — a SQLite file, or a database on the
    private PostgreSQL cluster, by the test's parameter — what the phones send for them, and a
    way to (re)start the API on it with its clock at that Monday's end."""
    cluster = request.getfixturevalue("cluster") if request.param == "postgresql" else None
    url = create_scratch_database(cluster.url, "faults") if cluster else f"sqlite:///{tmp_path / 'faults.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=4, classes_per_school=8, weeks=1, students_per_class=3,
                       seed=21, key_files=False), pki_dir=tmp_path / "pki", progress=False,
             as_of=dt.datetime.combine(FIRST_MONDAY, dt.time(0, 1)))
    subs = phone_submissions(db, tmp_path / "pki", FIRST_MONDAY,
                             token_time=dt.datetime.combine(FIRST_MONDAY, dt.time(12, 0)))
    db.engine.dispose()
    moment = max(s.period_end for s in subs) + dt.timedelta(minutes=1)
    port = free_port()
    env = {**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(tmp_path / "pki"),
           "SOHOA_CLOCK_OFFSET_SECONDS": str((moment - clock.now()).total_seconds())}
    servers = []

    def start():
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

    yield {"subs": subs, "url": url, "base": f"http://127.0.0.1:{port}", "start": start}
    for proc in servers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if cluster:
        drop_scratch_database(cluster.url, url)


async def send(base, subs, *, rate, retry_until=None, on_progress=None):
    """Submit each signature once (or retry with the same key until ``retry_until``); return the
    acknowledged entry ids and the statuses seen."""
    acked, seen = set(), []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def one(sub, delay):
            await asyncio.sleep(delay)
            while True:
                try:
                    async with http.post(f"{base}/api/v1/entries/{sub.entry_id}/signature",
                                         json={"signature": sub.signature_b64},
                                         headers={"Authorization": f"Bearer {sub.token}",
                                                  "Idempotency-Key": f"k-{sub.entry_id}"}) as r:
                        body = await r.json(content_type=None)
                        status = r.status
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    status, body = "dropped", None
                seen.append(status)
                if status == 200:
                    acked.add(sub.entry_id)
                    if on_progress:
                        on_progress(len(acked))
                    return
                if status == 503:
                    assert "message_vi" in body["error"]
                if retry_until is None or time.time() > retry_until or status not in (503, "dropped"):
                    return
                await asyncio.sleep(0.2)

        await asyncio.gather(*(one(s, n / rate) for n, s in enumerate(subs)))
    return acked, seen


def landed(url):
    """What the database holds, read from a connection of its own after the API's writes."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            signed = {r[0] for r in conn.execute(text(
                "SELECT id FROM logbook_entry WHERE status IN ('on_time', 'late') AND signature IS NOT NULL"))}
            half = conn.execute(text("SELECT count(*) FROM logbook_entry WHERE status IN ('on_time', 'late') AND "
                                     "(signature IS NULL OR signed_at IS NULL OR signed_by IS NULL)")).scalar_one()
            receipts = tuple(conn.execute(text("SELECT count(*), count(DISTINCT entry_id) FROM submission")).one())
            orphan = conn.execute(text("SELECT count(*) FROM submission s JOIN logbook_entry e "
                                       "ON e.id = s.entry_id WHERE e.status = 'pending'")).scalar_one()
    finally:
        engine.dispose()
    return signed, half, receipts, orphan


@pytest.mark.parametrize("burst", ["sqlite", "postgresql"], indirect=True)
def test_sigkill_mid_burst_loses_no_acknowledged_signature(burst):
    subs = burst["subs"]
    assert len(subs) >= 150
    server = burst["start"]()
    killed = []

    def kill_after_some(n):
        if n >= len(subs) // 4 and not killed:
            os.killpg(server.pid, signal.SIGKILL)
            killed.append(n)

    acked, seen = asyncio.run(send(burst["base"], subs, rate=150, on_progress=kill_after_some))
    assert killed and "dropped" in seen and len(acked) < len(subs)
    signed, half, (receipts, distinct), orphan = landed(burst["url"])
    assert acked <= signed                       # every acknowledged signature is in the database
    assert half == 0 and orphan == 0             # nothing half-written
    assert receipts == distinct == len(signed)   # one receipt per signed entry
    burst["start"]()                             # restarted: the phones retry everything, same keys
    again, _ = asyncio.run(send(burst["base"], subs, rate=300, retry_until=time.time() + 60))
    assert again == {s.entry_id for s in subs}
    signed, half, (receipts, distinct), orphan = landed(burst["url"])
    assert signed == again and half == 0 and receipts == distinct == len(subs)


@pytest.mark.parametrize("burst", ["postgresql"], indirect=True)
def test_postgres_restart_mid_burst_gives_retryable_errors(burst, cluster):
    """PostgreSQL only: it is about the database server going away under the API (its
    connections closed, the server back a moment later); the embedded database has no server."""
    subs = burst["subs"]
    burst["start"]()
    restarted = []

    def restart_after_some(n):
        if n >= len(subs) // 5 and not restarted:
            restarted.append(n)
            cluster.restart()  # blocks the client loop ~0.3 s; the server meets closed connections

    acked, seen = asyncio.run(send(burst["base"], subs, rate=120, retry_until=time.time() + 90,
                                   on_progress=restart_after_some))
    assert restarted
    assert acked == {s.entry_id for s in subs}, f"statuses seen: {sorted(set(map(str, seen)))}"
    assert set(seen) <= {200, 503, "dropped"}    # a refusal is retryable, never a wrong answer
    assert 503 in seen                           # the restart was felt, and answered as retryable
    signed, half, (receipts, distinct), orphan = landed(burst["url"])
    assert signed == acked and half == 0 and orphan == 0 and receipts == distinct == len(subs)
