"""The signing API over HTTP (FastAPI's test client, a committed generated database, on SQLite
and on PostgreSQL): sign in,
timetable, the bytes to sign, a client-side signature submitted with an idempotency key,
every refusal in both languages, tokens that expire, injection attempts stored as text, and a
schemathesis run of the OpenAPI document that finds no server error."""
import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.demo.synthetic import DEMO_PASSWORD, Scale, generate
from core.kernel import clock
from core.kernel.vocabulary import CertificateKind, EntryStatus
from core.signatures import DemoPKI, KeyStore
from core.storage.models import Certificate, LogbookEntry, Staff, Submission, TimetableChangeRequest, UserAccount
from tests.conftest import committed_database, runtime_database

AS_OF = dt.datetime(2025, 9, 22, 7, 0)  # Monday of week 3: its periods are still to be signed


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    """The app on a committed, generated database, as a server runs it: once on SQLite and
    once on PostgreSQL, there connected as the runtime role that owns nothing (the tests below
    share it, in order)."""
    root = tmp_path_factory.mktemp("api")
    with committed_database(request, root, "sohoa_api") as db, runtime_database(db) as runtime:
        generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=3, students_per_class=4,
                           seed=3), pki_dir=root / "pki", progress=False, as_of=AS_OF)
        trust = DemoPKI.load(root / "pki").trust_store()
        app = create_app(runtime, trust, pki_dir=root / "pki", batch_window=0.001, token_cache_seconds=0)
        with TestClient(app) as client:
            client.db, client.keys, client.app_ = db, KeyStore(root / "pki"), app
            yield client


def pending(api, n=0):
    """A pending period of week 3 and its teacher's user name."""
    with api.db.reading() as s:
        entry = s.scalars(select(LogbookEntry).where(LogbookEntry.status == EntryStatus.PENDING)
                          .order_by(LogbookEntry.period_end, LogbookEntry.id).offset(n).limit(1)).one()
        user = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == entry.teacher_id))
        return entry, user


def login(api, username, password=DEMO_PASSWORD):
    r = api.post("/api/v1/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def at(monkeypatch):
    """Freeze the server's clock."""
    def freeze(moment):
        monkeypatch.setattr(clock, "now", lambda: moment)
    return freeze


def sign(api, entry_id, headers, staff_id):
    body = api.get(f"/api/v1/entries/{entry_id}", headers=headers).json()
    data = base64.b64decode(body["canonical_bytes"])
    # the phone signs with its own (wrong) clock: the server's time decides anyway
    cms = api.keys.signer_for(f"staff-{staff_id}").sign_detached(data, dt.datetime(2031, 1, 1))
    return base64.b64encode(cms).decode()


def test_sign_in_and_refusals_in_two_languages(api):
    r = api.post("/api/v1/token", json={"username": "nobody", "password": "x"})
    assert r.status_code == 401 and r.json()["error"]["message_vi"] and r.json()["error"]["message"]
    assert api.get("/api/v1/me/timetable?monday=2025-09-22").status_code == 401
    r = api.get("/api/v1/me/timetable?monday=2025-09-22", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401


def test_timetable_content_and_an_idempotent_signature(api, at):
    entry, user = pending(api)
    headers = login(api, user)
    week = api.get("/api/v1/me/timetable?monday=2025-09-22", headers=headers)
    assert week.status_code == 200 and entry.id in [p["entry_id"] for p in week.json()]
    at(entry.period_end + dt.timedelta(minutes=2))
    put = api.put(f"/api/v1/entries/{entry.id}/content", headers=headers,
                  json={"lesson_title": "Bài 3: Phân số'); DROP TABLE logbook_entry; -- <script>alert(1)</script>"})
    assert put.status_code == 204, put.text
    signature = sign(api, entry.id, headers, entry.teacher_id)
    send = {"headers": {**headers, "Idempotency-Key": f"e{entry.id}-1"}, "json": {"signature": signature}}
    first = api.post(f"/api/v1/entries/{entry.id}/signature", **send)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "on_time" and not first.json()["replayed"]
    again = api.post(f"/api/v1/entries/{entry.id}/signature", **send)
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["received_at"] == \
        first.json()["received_at"]
    with api.db.reading() as s:
        row = s.get(LogbookEntry, entry.id)
        assert row.status == EntryStatus.ON_TIME and row.lesson_title.startswith("Bài 3: Phân số'); DROP TABLE")
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.entry_id == entry.id)) == 1
    read = api.get(f"/api/v1/entries/{entry.id}", headers=headers).json()
    assert read["lesson_title"].endswith("<script>alert(1)</script>")  # stored as text, returned as JSON text
    hours = api.get("/api/v1/me/teaching-hours?start=2025-09-22&end=2025-09-28", headers=headers)
    assert hours.status_code == 200 and hours.json()["counted"] >= 1


def test_bad_requests_change_nothing(api, at):
    entry, user = pending(api, 3)
    _, other_user = next((e, u) for e, u in (pending(api, n) for n in range(4, 40)) if u != user)
    headers, others = login(api, user), login(api, other_user)
    at(entry.period_end + dt.timedelta(minutes=1))
    good = sign(api, entry.id, headers, entry.teacher_id)
    url = f"/api/v1/entries/{entry.id}/signature"
    cases = [
        (api.post(url, headers={**others, "Idempotency-Key": "x1"}, json={"signature": good}), 403),
        (api.post("/api/v1/entries/99999999/signature", headers={**headers, "Idempotency-Key": "x2"},
                  json={"signature": good}), 404),
        (api.post(url, headers={**headers, "Idempotency-Key": "x3"}, json={"signature": "not base64!"}), 400),
        (api.post(url, headers={**headers, "Idempotency-Key": "x4"},
                  json={"signature": base64.b64encode(b"\x30\x80garbage").decode()}), 422),
        (api.post(url, headers=headers, json={"signature": good}), 422),                       # no key
        (api.post(url, headers={**headers, "Idempotency-Key": "x5"}, json={"sig": good}), 422),  # wrong field
        (api.post(url, headers={**headers, "Idempotency-Key": "x6", "Content-Type": "text/plain"},
                  content=json.dumps({"signature": good})), 415),
        (api.post(url, headers={**headers, "Idempotency-Key": "x7"},
                  content=b'{"signature": "' + b"A" * 70_000 + b'"}',), 413),
        (api.get(f"/api/v1/entries/{entry.id}", headers=others), 403),
        (api.post(url, headers={"Authorization": "Bearer forged", "Idempotency-Key": "x8"},
                  json={"signature": good}), 401),
        (api.post(url, headers={"Idempotency-Key": "x9"}, json={"signature": good}), 401),
    ]
    for response, expected in cases:
        assert response.status_code == expected, (expected, response.text)
        error = response.json()["error"]
        assert error["message"] and error["message_vi"]
    with api.db.reading() as s:
        assert s.get(LogbookEntry, entry.id).status == EntryStatus.PENDING
        assert s.scalar(select(func.count()).select_from(Submission).where(Submission.entry_id == entry.id)) == 0


def test_the_hot_path_answers_exactly_as_the_framework(api, at):
    """A well-formed submission takes the hot path (SignatureHotPath); the same request with
    ``; charset=utf-8`` goes through FastAPI's route. Same status, same bytes."""
    from api.hotpath import SignatureHotPath

    hot = SignatureHotPath.handled
    entry, user = pending(api, 6)
    _, other_user = next((e, u) for e, u in (pending(api, n) for n in range(7, 40)) if u != user)
    headers, others = login(api, user), login(api, other_user)
    at(entry.period_end + dt.timedelta(minutes=30))  # late
    good = sign(api, entry.id, headers, entry.teacher_id)
    url = f"/api/v1/entries/{entry.id}/signature"
    framework = {"Content-Type": "application/json; charset=utf-8"}

    def both(hdrs, body):
        fast = api.post(url, headers={**hdrs, "Content-Type": "application/json"}, content=json.dumps(body))
        slow = api.post(url, headers={**hdrs, **framework}, content=json.dumps(body))
        return fast, slow

    fast, slow = both({**others, "Idempotency-Key": "p1"}, {"signature": good})  # not their period
    assert fast.status_code == slow.status_code == 403 and fast.content == slow.content
    fast, slow = both({**headers, "Idempotency-Key": "p2"}, {"signature": base64.b64encode(b"0" * 40).decode()})
    assert fast.status_code == slow.status_code == 422 and fast.content == slow.content
    first = api.post(url, headers={**headers, "Idempotency-Key": "p3"}, json={"signature": good})
    assert first.status_code == 200 and first.json()["status"] == "late"
    replay = api.post(url, headers={**headers, "Idempotency-Key": "p3", **framework},
                      content=json.dumps({"signature": good}))
    assert replay.json() == {**first.json(), "replayed": True}
    assert first.headers["content-type"] == replay.headers["content-type"] == "application/json"
    assert SignatureHotPath.handled == hot + 3  # the three plain requests, not the charset ones


def test_ready_once_the_certificates_are_checked(api):
    import time

    from core.signatures.certificates import valid_at

    for _ in range(100):
        health = api.get("/api/v1/health").json()
        if health["ready"]:
            break
        time.sleep(0.1)
    with api.db.reading() as s:
        # validity is judged at the warm-up's own time, which another test's frozen clock may
        # have moved: at most every personal certificate, never a seal
        personal = s.scalar(select(func.count()).select_from(Certificate).where(
            Certificate.kind == CertificateKind.PERSONAL))
        usable_now = s.scalar(select(func.count()).select_from(Certificate).where(
            Certificate.kind == CertificateKind.PERSONAL, valid_at(clock.now())))
    assert health["ready"] and health["status"] == "ok"
    assert 0 < usable_now <= health["certificates_checked"] <= personal


def test_tokens_expire(api, at):
    _, user = pending(api)
    at(dt.datetime(2025, 9, 22, 7, 0))
    headers = login(api, user)
    assert api.get("/api/v1/me/timetable?monday=2025-09-22", headers=headers).status_code == 200
    at(dt.datetime(2025, 9, 22, 15, 1))  # 8 hours later
    r = api.get("/api/v1/me/timetable?monday=2025-09-22", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["message_vi"]


def test_passwords_are_stored_hashed(api):
    with api.db.reading() as s:
        hashes = s.scalars(select(UserAccount.password_hash)).all()
    assert hashes and all(DEMO_PASSWORD not in h and h.startswith("$argon2id$") for h in hashes)


def test_the_committed_openapi_document_is_current(api):
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(api.app_.openapi())), "run: python -m api.openapi > docs/openapi.json"


def test_a_malformed_change_request_is_a_422_in_two_languages(api, at):
    at(dt.datetime(2025, 9, 27, 9, 0))  # Saturday: change requests are open
    _, user = pending(api)
    headers = login(api, user)
    with api.db.reading() as s:
        school = s.scalar(select(Staff.school_id).join(UserAccount, UserAccount.staff_id == Staff.id)
                          .where(UserAccount.username == user))
        requests_before = s.scalar(select(func.count()).select_from(TimetableChangeRequest))
    for changes, where in (([{}], "changes.0.class_id"),
                           ([{"class_id": 1, "weekday": 1, "period_no": 1}], "subject_id")):
        r = api.post("/api/v1/timetable/change-requests", headers=headers,
                     json={"school_id": school, "changes": changes})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert where in error["message"] and error["message_vi"] != error["message"]
    with api.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(TimetableChangeRequest)) == requests_before


def test_schemathesis_finds_no_server_error(api, at):
    """Run on a Saturday, so that change requests get past the weekend rule to their checks."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    at(dt.datetime(2025, 9, 27, 9, 0))
    _, user = pending(api)
    headers = login(api, user)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app_)
    failures = []
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.path in ("/api/v1/logout", "/api/v1/me/sessions/revoke"):
            continue  # they would end the run's token (tests/api/test_sign_in_abuse.py)

        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=op.as_strategy())
        def run(case):
            case.headers = {**(case.headers or {}), **headers}
            response = case.call()
            if response.status_code >= 500:
                failures.append((op.label, response.status_code, response.text[:200]))

        run()
    assert failures == []
