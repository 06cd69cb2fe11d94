"""The weekly close from the app (chốt sổ tuần), over HTTP against the hand-made world on
SQLite and PostgreSQL: the homeroom teacher's and the principal's list of weeks, the homeroom
signature and the close with a server-held key opened by the PIN (ký số từ xa), the stored PDF
that verifies with both signatures, and every refusal — wrong PIN, not the homeroom teacher,
not the principal, another school's class, a week not over — changing nothing."""
import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.access.accounts import open_sessions
from core.access.authz import SYSTEM
from core.kernel import clock
from core.kernel.vocabulary import EntryStatus, WeekCloseStatus
from core.logbook.entries import generate_week, sign_entry
from core.logbook.verification import verify_week_document
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.signatures.pades import verify_pdf
from core.signatures.pki import DEFAULT_PIN
from core.storage.models import LogbookEntry, WeekClose
from tests.world import MONDAY

TUESDAY_EVENING = dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(20, 0))  # the last school day
SATURDAY = dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(10, 0))


@pytest.fixture
def api(world, pki, monkeypatch):
    """The app on the world with week 1 generated for both schools, and its clock frozen."""
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    generate_week(world.db, SYSTEM, world.ids["B"], world.ids["week1"])
    app = create_app(world.db, pki.trust_store(), pki_dir=pki.directory, batch_window=0.001, warm=False,
                     token_cache_seconds=0)
    with TestClient(app) as client:
        client.world, client.trust = world, pki.trust_store()

        def at(moment):
            monkeypatch.setattr(clock, "now", lambda: moment)
        client.at = at
        at(SATURDAY)
        yield client


def login(api, username):
    """A bearer token for ``username`` opened at the server's (frozen) time."""
    token = open_sessions(api.world.db, [username], authenticated_by="test", at=clock.now())[username]
    return {"Authorization": f"Bearer {token}"}


def url(api, klass="6A1", action="homeroom-signature"):
    return f"/api/v1/classes/{api.world.ids[klass]}/weeks/{api.world.ids['week1']}/{action}"


def listing(api, username, monday=MONDAY):
    r = api.get(f"/api/v1/me/weeks-to-close?monday={monday.isoformat()}", headers=login(api, username))
    assert r.status_code == 200, r.text
    return {row["class_name"]: row for row in r.json()}


def close_state(api, klass="6A1"):
    with api.world.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == api.world.ids[klass],
                                               WeekClose.week_id == api.world.ids["week1"]))
        pending = s.scalar(select(func.count()).select_from(LogbookEntry).where(
            LogbookEntry.class_id == api.world.ids[klass], LogbookEntry.status == EntryStatus.PENDING))
        return (row.status if row is not None else None), (row.document if row is not None else None), pending


def refused(response, status, code):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["message_vi"], error
    return error


def test_homeroom_signs_then_the_principal_closes(api):
    w = api.world
    api.at(dt.datetime.combine(MONDAY, dt.time(7, 30)))
    sign_entry(w.db, w.actor("lan"), w.entry("6A1", MONDAY, 1), w.signer("lan"))
    api.at(SATURDAY)

    mine = listing(api, "lan")
    assert list(mine) == ["6A1"]  # Lan teaches 6A2 too, but is the homeroom teacher of 6A1 only
    row = mine["6A1"]
    assert row["week_id"] == w.ids["week1"] and row["class_id"] == w.ids["6A1"] and row["week_number"] == 6
    assert (row["status"], row["summary_hash"], row["your_step"], row["week_over"]) == \
        ("open", None, "homeroom_signature", True)
    assert row["counts"] == {"on_time": 1, "late": 0, "missed": 0, "pending": 5}
    assert row["last_school_day"] == (MONDAY + dt.timedelta(days=1)).isoformat()
    assert row["deadline"] == dt.datetime.combine(MONDAY + dt.timedelta(days=7), dt.time(23, 59, 59)).isoformat()
    assert row["homeroom_teacher"] == "Nguyễn Thị Lan"

    signed = api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["status"] == "homeroom_signed" and len(body["summary_hash"]) == 64
    assert body["counts"] == {"on_time": 1, "late": 0, "missed": 5, "pending": 0}  # unsigned periods: missed
    assert body["homeroom_signed_at"] == SATURDAY.isoformat() and body["your_step"] is None
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], api.trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "homeroom_summary"], \
        report.signatures

    school = listing(api, "binh")
    assert list(school) == ["6A1", "6A2"]
    assert (school["6A1"]["status"], school["6A1"]["your_step"]) == ("homeroom_signed", "close")
    assert school["6A1"]["summary_hash"] == body["summary_hash"]
    assert (school["6A2"]["status"], school["6A2"]["your_step"]) == ("open", None)

    api.at(SATURDAY + dt.timedelta(hours=1))
    closed = api.post(url(api, action="close"), headers=login(api, "binh"), json={"pin": DEFAULT_PIN})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["summary_hash"] == body["summary_hash"]
    assert closed.json()["closed_on_time"] is True and closed.json()["your_step"] is None
    assert listing(api, "binh")["6A1"]["status"] == "closed"

    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], api.trust)
    assert report.valid and [s.role for s in report.signatures] == \
        ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures
    _, pdf, _ = close_state(api)
    assert [(field, v.indication) for field, v in verify_pdf(pdf, api.trust)] == \
        [(HOMEROOM_FIELD, "PASSED"), (PRINCIPAL_FIELD, "PASSED")]
    # a closed week cannot be signed or closed again
    refused(api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}), 409, "RuleViolation")
    refused(api.post(url(api, action="close"), headers=login(api, "binh"), json={"pin": DEFAULT_PIN}), 409,
            "RuleViolation")


def test_a_wrong_pin_changes_nothing(api):
    error = refused(api.post(url(api), headers=login(api, "lan"), json={"pin": "0000"}), 403, "KeyNotOpened")
    assert "PIN" in error["message"] and "PIN" in error["message_vi"]
    assert close_state(api) == (None, None, 6)
    assert listing(api, "lan")["6A1"]["status"] == "open"

    assert api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}).status_code == 200
    status, document, _ = close_state(api)
    refused(api.post(url(api, action="close"), headers=login(api, "binh"), json={"pin": "4321"}), 403,
            "KeyNotOpened")
    assert close_state(api) == (WeekCloseStatus.HOMEROOM_SIGNED, document, 0)


def test_five_wrong_pins_lock_the_key_and_change_nothing(api):
    for left in (4, 3, 2, 1):
        error = refused(api.post(url(api), headers=login(api, "lan"), json={"pin": "0000"}), 403, "KeyNotOpened")
        assert f"{left} attempts left" in error["message"]
    locked = api.post(url(api), headers=login(api, "lan"), json={"pin": "0000"})
    refused(locked, 429, "TooManyAttempts")
    assert locked.headers["Retry-After"] == "900"
    refused(api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}), 429, "TooManyAttempts")
    assert close_state(api) == (None, None, 6)
    api.at(SATURDAY + dt.timedelta(minutes=15))  # the lock lapses
    assert api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}).status_code == 200


def test_only_the_homeroom_teacher_signs_and_only_the_principal_closes(api):
    for teacher in ("ha", "minh"):  # both teach 6A1; Minh is the homeroom teacher of 6A2
        refused(api.post(url(api), headers=login(api, teacher), json={"pin": DEFAULT_PIN}), 403, "PermissionDenied")
    assert listing(api, "ha") == {} and list(listing(api, "minh")) == ["6A2"]
    assert close_state(api) == (None, None, 6)

    assert api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}).status_code == 200
    for not_principal in ("lan", "minh"):
        refused(api.post(url(api, action="close"), headers=login(api, not_principal), json={"pin": DEFAULT_PIN}),
                403, "PermissionDenied")
    assert close_state(api)[0] == WeekCloseStatus.HOMEROOM_SIGNED
    # users without a key or without the right to close weeks
    refused(api.get(f"/api/v1/me/weeks-to-close?monday={MONDAY}", headers=login(api, "mon_a")), 403,
            "PermissionDenied")
    refused(api.post(url(api, action="close"), headers=login(api, "mon_a"), json={"pin": DEFAULT_PIN}), 403,
            "PermissionDenied")


def test_another_schools_class_is_not_found(api):
    assert api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}).status_code == 200
    refused(api.post(url(api, action="close"), headers=login(api, "dung"), json={"pin": DEFAULT_PIN}), 404,
            "NotFound")
    refused(api.post(url(api, "6B1"), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}), 404, "NotFound")
    refused(api.post(f"/api/v1/classes/{api.world.ids['6A1']}/weeks/999999999/close", headers=login(api, "binh"),
                     json={"pin": DEFAULT_PIN}), 404, "NotFound")
    assert close_state(api)[0] == WeekCloseStatus.HOMEROOM_SIGNED
    assert list(listing(api, "dung")) == ["6B1"]  # the other principal sees their own school only


def test_not_before_the_week_is_over(api):
    api.at(TUESDAY_EVENING)
    row = listing(api, "lan")["6A1"]
    assert (row["week_over"], row["your_step"]) == (False, "homeroom_signature")
    error = refused(api.post(url(api), headers=login(api, "lan"), json={"pin": DEFAULT_PIN}), 409, "RuleViolation")
    assert "14/10/2025" in error["message_vi"]
    assert close_state(api) == (None, None, 6)
    # and the principal cannot close a week the homeroom teacher has not signed
    refused(api.post(url(api, action="close"), headers=login(api, "binh"), json={"pin": DEFAULT_PIN}), 409,
            "RuleViolation")


def test_bad_requests(api):
    lan = login(api, "lan")
    refused(api.get("/api/v1/me/weeks-to-close?monday=2025-10-14", headers=lan), 400, "BadRequest")
    assert listing(api, "lan", MONDAY + dt.timedelta(days=70)) == {}  # no such school week
    refused(api.post(url(api), json={"pin": DEFAULT_PIN}), 401, "Unauthorized")
    refused(api.post(url(api), headers=lan, json={}), 422, "InvalidRequest")
    refused(api.post(url(api), headers=lan, json={"pin": DEFAULT_PIN, "extra": 1}), 422, "InvalidRequest")
    refused(api.post(url(api), headers=lan, json={"pin": "12\u000034"}), 422, "InvalidRequest")  # NUL: never to the key
    refused(api.post("/api/v1/classes/0/weeks/1/homeroom-signature", headers=lan, json={"pin": "1"}), 422,
            "InvalidRequest")
    assert close_state(api) == (None, None, 6)


def test_without_server_held_keys_the_close_is_unavailable(world, pki):
    app = create_app(world.db, pki.trust_store(), token_cache_seconds=0, warm=False)
    with TestClient(app) as client:
        token = open_sessions(world.db, ["lan"], authenticated_by="test")["lan"]
        r = client.post(f"/api/v1/classes/{world.ids['6A1']}/weeks/{world.ids['week1']}/homeroom-signature",
                        headers={"Authorization": f"Bearer {token}"}, json={"pin": DEFAULT_PIN})
    refused(r, 400, "SigningNotOffered")   # server-held keys are off: the app signs on the device
