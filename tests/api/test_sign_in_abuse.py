"""Sign-in that resists abuse, over HTTP (on SQLite and PostgreSQL): the same answer in about
the same time for an unknown name, an inactive account and a wrong password; guessing slows down
the guessing device, never the teacher — their token keeps signing at the bell and their own
phone signs in again; one device guessing many names is stopped; logout and revocation end
tokens at once; the console's cookie is not an API token, nor the reverse."""
import datetime as dt
import statistics
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.access import accounts
from core.access.authz import SYSTEM
from core.demo.synthetic import DEMO_PASSWORD
from core.storage.models import UserAccount
from tests.api.test_api import api, at, login, pending, sign  # noqa: F401 - the API's fixtures and helpers


def _from(api, address: str) -> TestClient:
    """The same app, asked from another device (address)."""
    return TestClient(api.app_, client=(address, 40000))


def _token(client, username, password=DEMO_PASSWORD):
    return client.post("/api/v1/token", json={"username": username, "password": password})


def test_unknown_inactive_and_wrong_get_the_same_answer_in_about_the_same_time(api):
    _, teacher = pending(api, 0)
    with api.db.reading() as s:  # a user no other test here signs in as
        leaver = s.scalar(select(UserAccount.username).where(UserAccount.staff_id.is_(None))
                          .order_by(UserAccount.id.desc()).limit(1))
    accounts.deactivate(api.db, SYSTEM, leaver, "Nghỉ việc")
    cases = {"wrong": (teacher, "wrong-password"), "unknown": ("khong-co-ai", "wrong-password"),
             "inactive": (leaver, DEMO_PASSWORD)}
    answers, times = {}, {name: [] for name in cases}
    for round_ in range(5):
        for name, (user, password) in cases.items():  # each from its own device: no throttling here
            device = _from(api, f"192.0.2.{10 * round_ + len(name)}")
            start = time.perf_counter()
            r = _token(device, user, password)
            times[name].append(time.perf_counter() - start)
            answers[name] = (r.status_code, r.json())
    assert len({repr(a) for a in answers.values()}) == 1, answers
    assert answers["wrong"][0] == 401
    error = answers["wrong"][1]["error"]
    assert error["message"] == "wrong user name or password" and error["message_vi"] == "Sai tên đăng nhập hoặc mật khẩu"
    medians = [statistics.median(t) for t in times.values()]
    assert max(medians) < 2 * min(medians), times  # an Argon2 check each time, a dummy hash for no account


def test_an_attacker_cannot_keep_a_teacher_from_signing_at_the_bell(api, at):
    entry, teacher = pending(api, 2)
    phone = _from(api, "10.20.30.40")
    headers = {"Authorization": f"Bearer {_token(phone, teacher).json()['access_token']}"}
    at(entry.period_end - dt.timedelta(hours=1))  # the attack, all in one moment
    attacker = _from(api, "203.0.113.66")
    codes = [_token(attacker, teacher, f"doan-{n}").status_code for n in range(12)]
    assert codes[:accounts.FREE_FAILURES] == [401] * accounts.FREE_FAILURES and set(codes[accounts.FREE_FAILURES:]) == {429}
    r = _token(attacker, teacher)  # even the right password waits on that device
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "TooManyAttempts" and r.json()["error"]["message_vi"]
    at(entry.period_end + dt.timedelta(minutes=2))
    signature = sign(api, entry.id, headers, entry.teacher_id)
    signed = api.post(f"/api/v1/entries/{entry.id}/signature", headers={**headers, "Idempotency-Key": "abuse-1"},
                      json={"signature": signature})  # the token already held signs: the hot path
    assert signed.status_code == 200 and signed.json()["status"] == "on_time", signed.text
    assert _token(phone, teacher).status_code == 200  # and their phone signs in again at once


def test_one_device_guessing_many_names_is_stopped(api):
    _, teacher = pending(api, 3)
    sprayer = _from(api, "198.51.100.99")
    for n in range(accounts.CLIENT_LIMIT):
        assert _token(sprayer, f"ten-{n}", "123456").status_code == 401
    assert _token(sprayer, teacher).status_code == 429
    assert _token(_from(api, "10.20.30.41"), teacher).status_code == 200


def test_logout_ends_this_token_and_revocation_ends_every_one(api):
    _, teacher = pending(api, 4)
    first, second = login(api, teacher), login(api, teacher)
    console = accounts.sign_in(api.db, teacher, DEMO_PASSWORD, kind=accounts.CONSOLE)
    week = "/api/v1/me/timetable?monday=2025-09-22"
    assert api.post("/api/v1/logout", headers=first).status_code == 204
    refused = api.get(week, headers=first)
    assert refused.status_code == 401 and refused.json()["error"]["message_vi"]
    assert api.post("/api/v1/logout", headers=first).status_code == 401
    assert api.get(week, headers=second).status_code == 200  # another phone: still signed in
    r = api.post("/api/v1/me/sessions/revoke", headers=second)
    assert r.status_code == 200 and r.json()["sessions_ended"] == 2  # the second phone and the console
    assert api.get(week, headers=second).status_code == 401
    with pytest.raises(Exception, match="sign in again"):
        accounts.actor_for_token(api.db, console)


def test_the_console_cookie_is_not_an_api_token_nor_the_reverse(api):
    _, teacher = pending(api, 5)
    console = accounts.sign_in(api.db, teacher, DEMO_PASSWORD, kind=accounts.CONSOLE)
    r = api.get("/api/v1/me/timetable?monday=2025-09-22", headers={"Authorization": f"Bearer {console}"})
    assert r.status_code == 401
    app_token = login(api, teacher)["Authorization"].split()[1]
    with pytest.raises(Exception, match="sign in again"):
        accounts.actor_for_token(api.db, app_token, kind=accounts.CONSOLE)
    assert accounts.actor_for_token(api.db, console, kind=accounts.CONSOLE).username == teacher
