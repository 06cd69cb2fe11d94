"""The API's request ids, JSON log lines and Prometheus metrics (requests, latency, batch sizes,
queue depth, sign-ins, lockouts), and the one scheduler (APScheduler) with its registry."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import threading
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from api.app import create_app
from core.demo.synthetic import DEMO_PASSWORD, Scale, generate
from core.kernel import clock, settings
from core.kernel.vocabulary import EntryStatus
from core.operations import jobs
from core.operations.observability import JsonFormatter
from core.signatures import DemoPKI, KeyStore
from core.storage.models import LogbookEntry, UserAccount
from tests.conftest import committed_database

AS_OF = dt.datetime(2025, 9, 22, 7, 0)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("observed-api")
    with committed_database(type("R", (), {"param": "sqlite"})(), root, "sohoa_obs") as db:
        generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=3, students_per_class=4,
                           seed=3), pki_dir=root / "pki", progress=False, as_of=AS_OF)
        trust = DemoPKI.load(root / "pki").trust_store()
        app = create_app(db, trust, pki_dir=root / "pki", batch_window=0.001, token_cache_seconds=0, warm=False)
        with TestClient(app) as client:
            client.db, client.keys = db, KeyStore(root / "pki")
            yield client


def metric(client, name: str, **labels) -> float:
    text = client.get("/metrics").text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sohoa.api.access")
    logger.addHandler(handler)
    before = logger.level
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(before)


def test_every_answer_has_a_request_id_and_errors_are_logged_as_json_with_it(api, json_log):
    mine = api.get("/api/v1/me/timetable?monday=2025-09-22", headers={"X-Request-ID": "nginx-4f2a9c"})
    assert mine.status_code == 401 and mine.headers["x-request-id"] == "nginx-4f2a9c"  # the proxy's id kept
    forged = api.get("/api/v1/health", headers={"X-Request-ID": "x" * 65 + "\n"})
    assert forged.headers["x-request-id"] != "x" * 65 and len(forged.headers["x-request-id"]) == 32
    new = api.get("/api/v1/health")
    assert len(new.headers["x-request-id"]) == 32 and new.headers["x-request-id"] != forged.headers["x-request-id"]
    lines = json_log()
    refused = [line for line in lines if line.get("request_id") == "nginx-4f2a9c"]
    assert refused and refused[0]["status"] == 401 and refused[0]["level"] == "info"
    assert refused[0]["path"] == "/api/v1/me/timetable" and refused[0]["message"] == "request"
    assert dt.datetime.fromisoformat(refused[0]["time"]).tzinfo is not None
    assert not [line for line in lines if line.get("status") == 200]  # answered fast and well: not logged


def test_metrics_count_requests_latency_sign_ins_and_lockouts(api):
    before = metric(api, "sohoa_requests_total", route="/api/v1/health", status="200")
    for _ in range(3):
        api.get("/api/v1/health")
    assert metric(api, "sohoa_requests_total", route="/api/v1/health", status="200") == before + 3
    assert metric(api, "sohoa_request_seconds_count", route="/api/v1/health") >= 3
    api.get("/api/v1/entries/123/content")
    assert metric(api, "sohoa_requests_total", route="/api/v1/entries/{id}/content") >= 1  # bounded labels
    with api.db.reading() as s:
        username = s.scalar(select(UserAccount.username).where(UserAccount.staff_id.is_(None))
                            .order_by(UserAccount.id.desc()).limit(1))
    sign_ins, lockouts = metric(api, "sohoa_sign_ins_total"), metric(api, "sohoa_lockouts_total")
    assert api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).status_code == 200
    assert metric(api, "sohoa_sign_ins_total") == sign_ins + 1
    for _ in range(5):
        api.post("/api/v1/token", json={"username": username, "password": "wrong-one"})
    assert metric(api, "sohoa_lockouts_total") == lockouts + 1
    text = api.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain") and "sohoa_signature_queue_depth" in text.text


def test_a_signature_is_observed_in_the_batch_size_histogram(api, monkeypatch):
    with api.db.reading() as s:
        entry = s.scalars(select(LogbookEntry).where(LogbookEntry.status == EntryStatus.PENDING)
                          .order_by(LogbookEntry.period_end, LogbookEntry.id).limit(1)).one()
        user = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == entry.teacher_id))
    token = api.post("/api/v1/token", json={"username": user, "password": DEMO_PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    monkeypatch.setattr(clock, "now", lambda: entry.period_end + dt.timedelta(minutes=2))
    data = base64.b64decode(api.get(f"/api/v1/entries/{entry.id}", headers=headers).json()["canonical_bytes"])
    cms = api.keys.signer_for(f"staff-{entry.teacher_id}").sign_detached(data, dt.datetime(2025, 9, 22))
    before = metric(api, "sohoa_signature_batch_size_count")
    done = api.post(f"/api/v1/entries/{entry.id}/signature", headers={**headers, "Idempotency-Key": "obs-1"},
                    json={"signature": base64.b64encode(cms).decode()})
    assert done.status_code == 200, done.text
    assert metric(api, "sohoa_signature_batch_size_count") == before + 1
    assert metric(api, "sohoa_signature_batch_size_sum") >= 1


# ---------------------------------------------------------------------------------- the scheduler
def test_the_scheduler_runs_registered_jobs_on_time_one_run_at_a_time():
    runs, overlapping, busy = [], [], threading.Lock()

    def slow(_context):
        if not busy.acquire(blocking=False):
            overlapping.append(time.monotonic())
            return "overlap"
        try:
            runs.append(time.monotonic())
            time.sleep(1.5)
            return "ran"
        finally:
            busy.release()

    jobs.register(jobs.Job("probe", "a test's job, every second", {"second": "*"}, slow))
    try:
        context = jobs.JobContext(db=None, settings=settings.Settings())
        scheduled = jobs.scheduler(context, blocking=False, names=["probe"])
        scheduled.start()
        time.sleep(4.5)
        scheduled.shutdown(wait=True)
    finally:
        jobs.REGISTRY.pop("probe")
    assert 2 <= len(runs) <= 3, runs  # every second, but never two at once (max_instances=1)
    assert not overlapping


def test_the_registry_has_the_periodic_jobs_and_refuses_an_unknown_one():
    assert {"logbook-weeks", "lessons-missed", "reminders", "receipts-seal", "checkpoint", "retimestamp",
            "analytics-refresh"} <= set(jobs.REGISTRY)
    from core.kernel.errors import NotFound

    with pytest.raises(NotFound, match="no job 'cron-loop'"):
        jobs.run_job("cron-loop", jobs.JobContext(db=None, settings=settings.Settings()))


# ---------------------------------------------------------------------------------- several processes
_PROCESS = """
import os, sys
from pathlib import Path
from core.operations import observability as o
o.share_metrics(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    o.observe("console", "GET", "/login", 200, 0.02)
if sys.argv[3] != "-":
    o.QUEUE_DEPTH.set(float(sys.argv[3]))
print(os.getpid(), file=sys.stderr)
sys.stdout.buffer.write(o.metrics_text())
"""


def _process(directory, requests: int, depth: str = "-") -> tuple[int, str]:
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", _PROCESS, str(directory), str(requests), depth], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.strip().splitlines()[-1]), done.stdout


def _sample(text: str, name: str, **labels) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_shared_metrics_keep_a_stopped_process_s_counts_and_clean_its_files_at_the_next_start(tmp_path):
    """A process counts 3 requests and a queue of 5, then stops; the next one to start adds its
    counters into the archive, drops its gauge and its files: its own scrape totals 3 + 2, the
    queue is 0 (nobody waits in a running process), the histogram counts all 5."""
    first, text = _process(tmp_path, 3, "5")
    assert _sample(text, "sohoa_requests_total", route="/login") == 3
    assert _sample(text, "sohoa_signature_queue_depth") == 5
    assert {p.name for p in tmp_path.glob("*.db")} >= {f"counter_{first}.db", f"gauge_livesum_{first}.db"}
    second, text = _process(tmp_path, 2)
    assert second != first
    assert _sample(text, "sohoa_requests_total", route="/login", status="200") == 5  # no false reset
    assert _sample(text, "sohoa_request_seconds_count", route="/login") == 5
    assert _sample(text, "sohoa_signature_queue_depth") == 0
    left = {p.name for p in tmp_path.glob("*.db")}
    assert not [name for name in left if name.endswith(f"_{first}.db")], left  # cleaned at start
    assert {"counter_archive.db", "histogram_archive.db", f"counter_{second}.db"} <= left
