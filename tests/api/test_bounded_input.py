"""Bounded input everywhere, over HTTP (on SQLite and PostgreSQL): a body is bounded while it
streams — a chunked body without Content-Length is refused with 413 once past the limit, never
read whole (a real uvicorn server, 256 MiB offered) —, JSON nesting is bounded, an id written in
other scripts' digits is a 4xx, every malformed request gets a 4xx in both languages, and a
schemathesis run of the signing hot path and of every body sent chunked finds no server error."""
import json
import select as selector
import socket
import threading
import time

import pytest
import uvicorn

from api.hotpath import MAX_BODY, MAX_DEPTH, SignatureHotPath
from tests.api.test_api import api, at, login, pending, sign  # noqa: F401 - the API's fixtures and helpers


def _bilingual(r, status=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status:
        assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["message"] and error["message_vi"] and error["message"] != error["message_vi"], error
    return error


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(api):
    """The same app behind a real uvicorn on loopback (no lifespan: only refusals are asked)."""
    port = _free_port()
    config = uvicorn.Config(api.app_, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    for _ in range(100):
        if runner.started:
            break
        time.sleep(0.05)
    yield port
    runner.should_exit = True
    thread.join(10)


def test_a_chunked_body_without_length_is_refused_while_it_streams(server):
    """256 MiB offered in 64 KiB chunks, no Content-Length: the answer is 413 after the limit and
    the connection closes; the client never gets to send more than a few socket buffers."""
    sock = socket.create_connection(("127.0.0.1", server))
    sock.sendall(b"POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"[" * 65536 + b"\r\n"
    sent, answer = 0, b""
    try:
        while sent < 256 * 2 ** 20:
            readable, writable, _ = selector.select([sock], [sock], [], 5)
            if readable:
                break
            sock.send(chunk)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.settimeout(10)
    try:
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    except (ConnectionResetError, socket.timeout):
        pass
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "TooLarge" and "byte" in error["message_vi"]
    assert sent < 32 * 2 ** 20, sent  # refused early: not the 256 MiB


def test_a_chunked_body_within_the_limit_is_served(api):
    r = api.post("/api/v1/token", headers={"Content-Type": "application/json"},
                 content=iter([b'{"username": "nobody", ', b'"password": "x"}']))
    assert r.request.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.request.headers
    assert _bilingual(r, 401)["code"] == "Unauthorized"
    big = api.post("/api/v1/token", headers={"Content-Type": "application/json"},
                   content=iter([b" " * 40000, b" " * 40000, b"{}"]))
    assert _bilingual(big, 413)["code"] == "TooLarge"


def test_deep_json_is_refused_everywhere(api):
    _, user = pending(api, 6)
    headers = login(api, user)
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    deeper = b'{"signature": ' + b"[" * 20000 + b"]" * 20000 + b"}"  # would exhaust Python's recursion
    for url, body in (("/api/v1/token", deep), ("/api/v1/entries/1/signature", deeper),
                      ("/api/v1/timetable/change-requests", deeper)):
        r = api.post(url, content=body, headers={**headers, "Content-Type": "application/json",
                                                 "Idempotency-Key": "deep-1"})
        assert _bilingual(r, 422)["code"] == "InvalidRequest", url
    fine = b'{"username": "nobody", "password": "x", "x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert api.post("/api/v1/token", content=fine, headers={"Content-Type": "application/json"}).status_code == 422


@pytest.mark.parametrize("entry_id", ["١٢", "²", "１２", "٣", "12\u0663", "-1", "0x1f", "1e3", " 7", "9" * 30])
def test_an_id_in_other_digits_is_a_4xx_in_both_languages(api, entry_id):
    entry, user = pending(api, 7)
    headers = login(api, user)
    before = SignatureHotPath.handled
    r = api.post(f"/api/v1/entries/{entry_id}/signature", json={"signature": "AAAA"},
                 headers={**headers, "Idempotency-Key": "digits-1"})
    _bilingual(r)
    assert SignatureHotPath.handled == before  # not through the hot path
    _bilingual(api.get(f"/api/v1/entries/{entry_id}", headers=headers))
    _bilingual(api.get(f"/api/v1/entries/{entry_id}/receipt", headers=headers))


def test_every_malformed_request_gets_a_4xx_in_both_languages(api):
    _, user = pending(api, 8)
    headers = login(api, user)
    cases = [
        api.get("/api/v1/no-such-thing"),
        api.delete("/api/v1/token"),
        api.post("/api/v1/token", content=b"username=a", headers={"Content-Type": "text/plain"}),
        api.post("/api/v1/token", content=b"{not json", headers={"Content-Type": "application/json"}),
        api.post("/api/v1/token", content=b"\xff\xfe", headers={"Content-Type": "application/json"}),
        api.post("/api/v1/token", content=b"{}", headers={"Content-Type": "application/json",
                                                           "Content-Length": "abc"}),
        api.post("/api/v1/token", content=b"x" * (MAX_BODY + 1), headers={"Content-Type": "application/json"}),
        api.post("/api/v1/entries/1/signature", content=b'{"signature": "AAAA"', headers={
            **headers, "Content-Type": "application/json", "Idempotency-Key": "m-1"}),
        api.get("/api/v1/me/timetable?monday=2025-13-45", headers=headers),
        api.get("/api/v1/me/timetable?monday=2025-09-22", headers={"Authorization": "Bearer \u00e9\u00e9".encode("latin-1")}),
    ]
    for r in cases:
        _bilingual(r)


def test_schemathesis_on_the_hot_path_and_with_chunked_bodies(api, at):
    """The signing operation with well-formed signatures and idempotency keys (the hot path,
    :class:`api.hotpath.SignatureHotPath`), and every operation with a body sent chunked without
    Content-Length: no server error, and every refusal in both languages."""
    import datetime as dt

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    entry, user = pending(api, 9)
    headers = login(api, user)
    at(entry.period_end + dt.timedelta(minutes=1))
    good = sign(api, entry.id, headers, entry.teacher_id)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app_)
    failures, hot = [], SignatureHotPath.handled
    for operation in schema.get_all_operations():
        op = operation.ok()
        if op.path in ("/api/v1/logout", "/api/v1/me/sessions/revoke") or op.method.upper() not in ("POST", "PUT"):
            continue
        signing = op.path == "/api/v1/entries/{entry_id}/signature"

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=op.as_strategy(), key=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=100),
               entry_id=st.sampled_from([entry.id, entry.id + 1, 1, 2 ** 63 - 1]), valid=st.booleans())
        def run(case, key, entry_id, valid):
            if signing:
                case.path_parameters = {"entry_id": entry_id}
                case.body = {"signature": good} if valid else case.body
                case.headers = {**(case.headers or {}), "Idempotency-Key": key}
            case.headers = {**(case.headers or {}), **headers}
            response = case.call()
            if response.status_code >= 500:
                failures.append((op.label, "whole", response.status_code, response.text[:200]))
            if case.body is not None:  # the same request, its body sent chunked, from the test client's loop
                data = json.dumps(case.body).encode() if not isinstance(case.body, bytes) else case.body
                pieces = [data[i:i + 7] for i in range(0, len(data), 7)] or [b""]
                r = api.request(case.method, case.formatted_path, params=case.query,
                                headers={**{k: v for k, v in case.headers.items() if k.lower() != "content-length"},
                                         "Content-Type": "application/json"}, content=iter(pieces))
                if r.status_code >= 500:
                    failures.append((op.label, "chunked", r.status_code, r.text[:200]))
                elif r.status_code >= 400:
                    error = r.json().get("error", {})
                    if not (error.get("message") and error.get("message_vi")):
                        failures.append((op.label, "not bilingual", r.status_code, r.text[:200]))

        run()
    assert failures == []
    assert SignatureHotPath.handled > hot  # the hot path was exercised


def test_a_signature_sent_chunked_takes_the_framework_path_to_the_same_answers(api, at):
    """After the schemathesis run (whose ASGI client ran the app's lifespan on its own event loop:
    tests/api/test_batching.py), through the test client's loop."""
    import datetime as dt

    entry, user = pending(api, 11)
    other, _ = next((e, u) for e, u in (pending(api, n) for n in range(12, 40)) if u != user)
    headers = login(api, user)
    at(entry.period_end + dt.timedelta(minutes=1))
    body = json.dumps({"signature": sign(api, entry.id, headers, entry.teacher_id)}).encode()
    before = SignatureHotPath.handled
    for entry_id, key, expected in ((2 ** 63 - 1, "c-1", 404), (other.id, "c-2", 403), (entry.id, "c-3", 200),
                                    (entry.id, "c-3", 200)):
        r = api.post(f"/api/v1/entries/{entry_id}/signature", content=iter([body[:9], body[9:]]),
                     headers={**headers, "Content-Type": "application/json", "Idempotency-Key": key})
        assert r.status_code == expected, r.text
    assert SignatureHotPath.handled == before
