"""The batcher answers every submission, whichever event loop serves the app (on SQLite and
PostgreSQL).

An ASGI app can be served by more than one event loop in one process: schemathesis' ASGI client
runs the app — its lifespan included — on its own event loop thread beside the test client's, and
a uvicorn started with ``lifespan="off"`` serves it from a third. The batcher used to keep one
queue, replaced by each lifespan's start: a submission from another loop was put in a queue whose
consumer slept in another thread's event loop, which a put from a foreign thread does not wake
(asyncio is not thread-safe), and its answer was set on a future of yet another loop. The valid
signature sent after the schemathesis run waited for ever. Every wait here is bounded: a hang is
a failure, never a stuck run."""
import base64
import datetime as dt
import http.client
import json
import threading
import time

import anyio
from fastapi.testclient import TestClient

from api.hotpath import SignatureHotPath
from tests.api.test_api import api, at, login, pending, sign  # noqa: F401 - the API's fixtures and helpers
from tests.api.test_bounded_input import server  # noqa: F401 - the app behind a real uvicorn, lifespan off

BOUND = 30.0  #: seconds any one answer may take here (a batch takes milliseconds)


def bounded(call, seconds: float = BOUND):
    """``call()``'s result, or a failure if it has not answered within ``seconds``."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"no answer within {seconds} s"
    return result[0]


def signed(api, n: int):
    """The n-th pending period, its teacher's sign-in headers and a valid signature body."""
    entry, user = pending(api, n)
    headers = login(api, user)
    return entry, headers, json.dumps({"signature": sign(api, entry.id, headers, entry.teacher_id)}).encode()


def post(client, entry_id, headers, body, key, **extra):
    return client.post(f"/api/v1/entries/{entry_id}/signature", content=body,
                       headers={**headers, "Content-Type": "application/json", "Idempotency-Key": key, **extra})


def test_a_second_event_loop_serving_the_app_loses_no_submission(api, at):
    """Two clients, each with its own event loop and its own run of the lifespan (as the test
    client and schemathesis' ASGI client are): many submissions at once from both — valid ones,
    malformed bodies (bad JSON, bad base64, too large, chunked, too deep), unknown entries, forged
    tokens, clients that hang up mid-body or give up while their batch settles — and then a valid
    signature through the first client, as the schemathesis test sends one after its run: every
    one is answered, the last one included."""
    periods = [pending(api, n)[0] for n in range(40)]
    day = next(d for d in sorted({p.period_end.date() for p in periods})
               if sum(p.period_end.date() == d for p in periods) >= 8)  # signed that day: none missed
    entries = [signed(api, n) for n, p in enumerate(periods) if p.period_end.date() == day][:8]
    at(max(e.period_end for e, _, _ in entries) + dt.timedelta(minutes=1))
    last_entry, last_headers, last_body = entries.pop()
    given_up = entries.pop()
    hot = SignatureHotPath.handled
    with TestClient(api.app_) as other:  # a second loop, the lifespan run again on it
        assert other.get("/api/v1/health").status_code == 200
        answers: list = []

        def send(client, n):
            entry, headers, body = entries[n % len(entries)]
            cases = [
                (body, 200), (b'{"signature": "AAAA"', 422), (b'{"signature": "not base64!"}', 400),
                (b'{"signature": "' + b"A" * 70_000 + b'"}', 413), (b'{"signature": ' + b"[" * 40 + b"]" * 40 + b"}", 422),
            ]
            for i, (payload, expected) in enumerate(cases):
                r = post(client, entry.id, headers, payload, f"mix-{n}-{i}")
                answers.append((r.status_code, expected, r.text[:120]))
            r = post(client, 2 ** 63 - 1, headers, body, f"mix-{n}-404")
            answers.append((r.status_code, 404, r.text[:120]))
            r = post(client, entry.id, {"Authorization": "Bearer forged"}, body, f"mix-{n}-401")
            answers.append((r.status_code, 401, r.text[:120]))
            r = client.post(f"/api/v1/entries/{entry.id}/signature", content=iter([body[:9], body[9:]]),
                            headers={**headers, "Content-Type": "application/json", "Idempotency-Key": f"mix-{n}-0"})
            answers.append((r.status_code, 200, r.text[:120]))  # chunked: the framework's path, a replay

        threads = [threading.Thread(target=send, args=((api, other)[n % 2], n), daemon=True)
                   for n in range(len(entries))]
        for thread in threads:
            thread.start()
        # meanwhile on each loop: a client that hangs up mid-body, and one that gives up while
        # its batch settles (its task cancelled)
        for client in (api, other):
            entry, headers, body = given_up
            assert bounded(lambda c=client: c.portal.call(_hang_up, api.app_, entry.id, headers, body)) == "gone"
            assert bounded(lambda c=client: c.portal.call(_give_up, api.app_, entry.id, headers, body)) == "gave up"
        until = time.monotonic() + BOUND
        for thread in threads:
            thread.join(max(0.0, until - time.monotonic()))
        assert not any(thread.is_alive() for thread in threads), "a submission had no answer"
        assert [a for a in answers if a[0] != a[1]] == [] and len(answers) == 8 * len(threads)
    # the other loop's lifespan has ended: the first client's loop still answers
    r = bounded(lambda: post(api, last_entry.id, last_headers, last_body, "last-1"))
    assert r.status_code == 200 and r.json()["entry_id"] == last_entry.id, r.text
    assert SignatureHotPath.handled > hot


async def _hang_up(app, entry_id, headers, body):
    """A client that sends half its signature and hangs up."""
    sent = []

    async def receive():
        if not sent:
            sent.append(1)
            return {"type": "http.request", "body": body[:20], "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(_scope(entry_id, headers, len(body)), receive, send)
    return "gone" if not any(isinstance(m, dict) and m.get("type") == "http.response.start" for m in sent) else sent


async def _give_up(app, entry_id, headers, body):
    """A client whose request is cancelled while the batcher has it."""
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        pass

    with anyio.move_on_after(0):
        await app(_scope(entry_id, headers, len(body), "give-up"), receive, send)
    return "gave up"


def _scope(entry_id, headers, length, key="hang-up"):
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": f"/api/v1/entries/{entry_id}/signature", "raw_path": b"", "root_path": "", "query_string": b"",
            "client": ("127.0.0.1", 1), "server": ("testserver", 80),
            "headers": [(b"authorization", headers["Authorization"].encode()), (b"idempotency-key", key.encode()),
                        (b"content-type", b"application/json"), (b"content-length", str(length).encode())]}


def test_a_loop_that_never_ran_the_lifespan_is_answered(api, at, server):
    """A real uvicorn serving the app without its lifespan (the bounded-input tests' server):
    a valid signature over HTTP is settled and answered like any other."""
    entry, headers, body = signed(api, 39)
    at(entry.period_end + dt.timedelta(minutes=1))
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=BOUND)
    connection.request("POST", f"/api/v1/entries/{entry.id}/signature", body=body,
                       headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "uvicorn-1"})
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    assert json.loads(answer.read())["entry_id"] == entry.id
    connection.close()
    r = bounded(lambda: post(api, entry.id, headers, body, "uvicorn-1"))  # the same key on the first loop: a replay
    assert r.status_code == 200 and r.json()["replayed"], r.text
    assert base64.b64decode(json.loads(body)["signature"])
