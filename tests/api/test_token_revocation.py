"""A revoked API token stops working in every API process at once, though each keeps the tokens
it has seen for 10 s: two real API processes (``sohoa api``) on one PostgreSQL database, a token
used on both, then revoked through one — logout, revoke-all, an administrator's deactivation from
a third process — and the other refuses it on the very next request (the database announces the
revocation at commit: core.access.accounts.TokenCache, migration 0019). A session ended without
the announcement (triggers off) keeps working there for the cache's seconds: the cache is used,
and the announcement is what ends it. On SQLite (one process) the process evicts what it ends."""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from api.app import create_app
from core.access.accounts import deactivate
from core.access.authz import SYSTEM
from core.demo.synthetic import DEMO_PASSWORD, FIRST_MONDAY, Scale, generate
from core.kernel.vocabulary import Role
from core.signatures import DemoPKI
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import UserAccount
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.pg_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
WEEK = f"/api/v1/me/timetable?monday={FIRST_MONDAY.isoformat()}"


def call(base, method, path, token=None, body=None):
    """(status, JSON body) of one request, from this process."""
    request = urllib.request.Request(f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


@pytest.fixture(scope="module")
def world(pg_server_url, tmp_path_factory):
    """A small generated school on a fresh PostgreSQL database, its teachers' user names, and two
    API processes on it (each with the default 10 s token cache)."""
    root = tmp_path_factory.mktemp("revocation")
    url = create_scratch_database(pg_server_url, "revocation")
    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=1, students_per_class=3,
                       seed=5, key_files=False), pki_dir=root / "pki", progress=False,
             as_of=dt.datetime.combine(FIRST_MONDAY, dt.time(0, 1)))
    with db.reading() as s:
        teachers = list(s.scalars(select(UserAccount.username).where(UserAccount.role == Role.TEACHER)
                                  .order_by(UserAccount.id)))
    env = {**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(root / "pki")}
    procs, bases = [], []
    for _ in range(2):
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "core.cli", "api", "--port", str(port), "--workers", "1"],
                                      env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            deadline = time.time() + 90
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/api/v1/health", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                raise RuntimeError("the API did not start")
        yield {"db": db, "url": url, "teachers": teachers, "a": bases[0], "b": bases[1]}
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
        db.engine.dispose()
        drop_scratch_database(pg_server_url, url)


def signed_in_on_both(world, username):
    """A token from process A, used once on each process (so B has it cached)."""
    status, body = call(world["a"], "POST", "/api/v1/token", body={"username": username, "password": DEMO_PASSWORD})
    assert status == 200, body
    token = body["access_token"]
    for base in (world["a"], world["b"]):
        status, body = call(base, "GET", WEEK, token)
        assert status == 200, body
    return token


def refused_at_once(base, token):
    """The very next request is refused, in both languages."""
    status, body = call(base, "GET", WEEK, token)
    assert status == 401, (status, body)
    assert body["error"]["message"] and body["error"]["message_vi"] != body["error"]["message"]


def test_the_cache_is_used_and_only_the_announcement_ends_it(world):
    """The control: a session ended in SQL with the triggers off (no announcement) still works
    on B for the cache's seconds — B answers from its cache — and is refused after them."""
    token = signed_in_on_both(world, world["teachers"][0])
    engine = make_engine(world["url"])
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # ordinary triggers do not fire
        conn.execute(text("UPDATE login_session SET ended_at = now() WHERE ended_at IS NULL AND user_id = "
                          "(SELECT id FROM user_account WHERE username = :u)"), {"u": world["teachers"][0]})
    engine.dispose()
    assert call(world["b"], "GET", WEEK, token)[0] == 200  # cached: nothing told B
    deadline = time.time() + 15
    while call(world["b"], "GET", WEEK, token)[0] == 200:
        assert time.time() < deadline, "B kept a dead token past its cache's seconds"
        time.sleep(0.5)
    refused_at_once(world["a"], token)  # its own entry has gone by now too


def test_logout_on_one_process_is_refused_on_the_other_at_once(world):
    token = signed_in_on_both(world, world["teachers"][1])
    status, _ = call(world["a"], "POST", "/api/v1/logout", token)
    assert status == 204
    refused_at_once(world["b"], token)
    refused_at_once(world["a"], token)


def test_revoke_everywhere_on_one_process_is_refused_on_the_other_at_once(world):
    first = signed_in_on_both(world, world["teachers"][2])
    second = signed_in_on_both(world, world["teachers"][2])
    status, body = call(world["a"], "POST", "/api/v1/me/sessions/revoke", first)
    assert status == 200 and body["sessions_ended"] == 2, body
    for token in (first, second):
        refused_at_once(world["b"], token)
        refused_at_once(world["a"], token)


def test_deactivation_from_another_process_is_refused_on_both_at_once(world):
    """The console deactivates the account (core's deactivate, from this test's process)."""
    token = signed_in_on_both(world, world["teachers"][3])
    deactivate(world["db"], SYSTEM, world["teachers"][3], "left the school")
    refused_at_once(world["b"], token)
    refused_at_once(world["a"], token)


def test_on_sqlite_the_process_evicts_what_it_ends(tmp_path):
    """The embedded mode (one process, nothing announced): with the 10 s cache, logout and
    revoke-all are refused on the next request."""
    db = Database(make_engine(f"sqlite:///{tmp_path / 'record.db'}"))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=1, weeks=1, students_per_class=3,
                       seed=6, key_files=False), pki_dir=tmp_path / "pki", progress=False,
             as_of=dt.datetime.combine(FIRST_MONDAY, dt.time(0, 1)))
    with db.reading() as s:
        username = s.scalar(select(UserAccount.username).where(UserAccount.role == Role.TEACHER).limit(1))
    with TestClient(create_app(db, DemoPKI.load(tmp_path / "pki").trust_store(), warm=False)) as api:
        def token():
            r = api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            assert api.get(WEEK, headers=headers).status_code == 200  # now cached
            return headers

        headers = token()
        assert api.post("/api/v1/logout", headers=headers).status_code == 204
        assert api.get(WEEK, headers=headers).status_code == 401
        first, second = token(), token()
        assert api.post("/api/v1/me/sessions/revoke", headers=first).json()["sessions_ended"] == 2
        assert api.get(WEEK, headers=first).status_code == api.get(WEEK, headers=second).status_code == 401
    db.engine.dispose()
