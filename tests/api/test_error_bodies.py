"""Every refusal of a malformed or unauthorised request is a 4xx whose body carries the English
and the Vietnamese message (on SQLite and PostgreSQL): bodies too large (413: announced, chunked,
on the signing hot path and off it), JSON too deep and ids that are not ids (422, on every
operation that takes an entry id), and every way of not being signed in (401: no header, another
scheme, an empty, forged, signed-out or console token — on the hot path, where the token is read
with its batch, and off it)."""
import json

import pytest

from api.hotpath import MAX_BODY, MAX_DEPTH
from tests.api.test_api import api, login, pending  # noqa: F401 - the API's fixtures and helpers


def bilingual(r, status):
    """A ``status`` answer in the problem body, its Vietnamese message written in Vietnamese."""
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["code"] and error["message"] and error["message_vi"], error
    assert error["message_vi"] != error["message"] and any(ord(c) > 127 for c in error["message_vi"]), error
    return error


@pytest.fixture(scope="module")
def teacher(api):
    entry, user = pending(api, 2)
    return entry, login(api, user)


def test_bodies_too_large_are_413_in_both_languages(api, teacher):
    entry, headers = teacher
    big = b'{"signature": "' + b"A" * MAX_BODY + b'"}'
    json_type = {"Content-Type": "application/json"}
    for method, url, extra in (("POST", "/api/v1/token", {}),
                               ("POST", f"/api/v1/entries/{entry.id}/signature", {"Idempotency-Key": "big-1"}),
                               ("PUT", f"/api/v1/entries/{entry.id}/content", {}),
                               ("POST", "/api/v1/timetable/change-requests", {})):
        for body in (big, iter([big[:40000], big[40000:]])):  # announced, then chunked
            r = api.request(method, url, content=body, headers={**headers, **json_type, **extra})
            assert bilingual(r, 413)["code"] == "TooLarge"


def test_json_too_deep_is_422_in_both_languages(api, teacher):
    entry, headers = teacher
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    inside = b'{"signature": ' + deep + b"}"
    for method, url, body in (("POST", "/api/v1/token", deep),
                              ("POST", f"/api/v1/entries/{entry.id}/signature", inside),
                              ("PUT", f"/api/v1/entries/{entry.id}/content", b'{"absences": ' + deep + b"}"),
                              ("POST", "/api/v1/timetable/change-requests", b'{"changes": ' + deep + b"}")):
        r = api.request(method, url, content=body, headers={**headers, "Content-Type": "application/json",
                                                             "Idempotency-Key": "deep-2"})
        assert "32" in bilingual(r, 422)["message_vi"], url


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1.5", "1e3", "0x10", "١٢", "１２", "9" * 20,
                                    str(2 ** 63), " 7", "7 "])
def test_ids_that_are_not_ids_are_422_in_both_languages(api, teacher, bad_id):
    _, headers = teacher
    signature = json.dumps({"signature": "AAAA"})
    for method, path, body in (("GET", "", None), ("GET", "/receipt", None),
                               ("PUT", "/content", json.dumps({"lesson_title": "x"})), ("POST", "/signature", signature)):
        r = api.request(method, f"/api/v1/entries/{bad_id}{path}", content=body,
                        headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "id-1"})
        assert bilingual(r, 422)["code"] == "InvalidRequest", (method, path)


def test_not_signed_in_is_401_in_both_languages(api, teacher):
    entry, headers = teacher
    _, other = pending(api, 3)
    ended = login(api, other)
    assert api.post("/api/v1/logout", headers=ended).status_code == 204
    console = api.app_.state.sohoa.db
    from core.access.accounts import CONSOLE, open_sessions
    cookie = open_sessions(console, [other], authenticated_by="test", kind=CONSOLE)[other]
    ways = [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
            {"Authorization": "Bearer forged"}, ended, {"Authorization": f"Bearer {cookie}"}]
    for way in ways:
        for method, url, body in (
                ("GET", "/api/v1/me/timetable?monday=2025-09-22", None),
                ("GET", f"/api/v1/entries/{entry.id}", None),
                ("POST", f"/api/v1/entries/{entry.id}/signature", json.dumps({"signature": "MAo="})),  # the hot path
                ("POST", "/api/v1/logout", None),
                ("POST", "/api/v1/me/sessions/revoke", None)):
            r = api.request(method, url, content=body, headers={**way, "Content-Type": "application/json",
                                                               "Idempotency-Key": "auth-1"})
            bilingual(r, 401)
