"""Pure ASGI layers in front of the routes: the :class:`Guard` (body size and type) and the
bell's :class:`SignatureHotPath`."""
from __future__ import annotations

import asyncio
import base64
import binascii
import json

from api.errors import problem, refusal, send_json
from core.kernel import clock
from core.kernel.errors import SohoaError

MAX_BODY = 64 * 1024


MAX_DEPTH = 32  #: how deep JSON may nest (objects and arrays); the API's bodies need 4
_TOO_LARGE = ("TooLarge", f"the request body is larger than {MAX_BODY} bytes",
              f"Nội dung yêu cầu vượt quá {MAX_BODY} byte")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``body`` nests objects or arrays deeper than ``limit`` (a scan of the bytes,
    strings skipped: nothing is parsed, so nothing recurses)."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class Guard:
    """Pure ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware), before any
    work and before any sign-in: a body over :data:`MAX_BODY` is refused (413) — announced by its
    Content-Length, or counted while it streams (chunked, no Content-Length): never more than
    :data:`MAX_BODY` bytes are read —, a POST/PUT with a body that is not JSON (415), JSON nested
    deeper than :data:`MAX_DEPTH` (422). A POST without a body (``/api/v1/logout``) needs no
    type. Every refusal is the API's problem body in both languages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        refusal = None
        if length is not None and not (length.isdigit() and length.isascii()):
            refusal = (400, "InvalidRequest", "the Content-Length header is not a number",
                       "Tiêu đề Content-Length không phải là một số")
        elif length is not None and int(length) > MAX_BODY:
            refusal = (413, *_TOO_LARGE)
        elif scope["method"] in ("POST", "PUT", "PATCH") and (chunked or int(length or 0) > 0):
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                refusal = (415, "UnsupportedMediaType", "send JSON (Content-Type: application/json)",
                           "Hãy gửi JSON (Content-Type: application/json)")
        if refusal is None and scope["method"] in ("POST", "PUT", "PATCH") and (chunked or int(length or 0) > 0):
            body, more = bytearray(), True
            while more:  # counted while it streams: at most MAX_BODY bytes are ever held
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > MAX_BODY:
                    refusal = (413, *_TOO_LARGE)
                    break
            if refusal is None and too_deep(body):
                refusal = (422, "InvalidRequest", f"the JSON body nests deeper than {MAX_DEPTH} levels",
                           f"Nội dung JSON lồng nhau quá {MAX_DEPTH} cấp")
            if refusal is None:
                return await self.app(scope, _replay(bytes(body)), send)
        if refusal is None:
            return await self.app(scope, receive, send)
        status, code, message, message_vi = refusal
        await send_json(send, status, problem(code, message, message_vi),
                        {"Connection": "close"} if status == 413 else None)


class SignatureHotPath:
    """The bell's hot path: ``POST /api/v1/entries/{id}/signature`` when the request is
    well formed — a bearer token, an Idempotency-Key of 1–100 characters, a JSON body of at
    most :data:`MAX_BODY` bytes that is exactly ``{"signature": "<base64>"}`` — goes straight
    to the :class:`Batcher` and its answer is written back, without the framework's routing,
    dependency solving and model validation (about a third of a request's CPU at the bell).

    Anything else — a missing header, a malformed body, another path — is handed to the
    FastAPI app unchanged (the body replayed), so every error is the framework's own and the
    OpenAPI document describes both. Answers are the same bytes either way (tested)."""

    PREFIX, SUFFIX = "/api/v1/entries/", "/signature"
    handled = 0  #: requests answered here (for tests and monitoring)

    def __init__(self, app, batcher):
        self.app, self.batcher = app, batcher

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(self.PREFIX)
                or not path.endswith(self.SUFFIX)):
            return await self.app(scope, receive, send)
        received = clock.now()  # the server's receipt time decides on time or late
        headers = dict(scope["headers"])
        entry = path[len(self.PREFIX):-len(self.SUFFIX)]
        auth = headers.get(b"authorization", b"")
        key = headers.get(b"idempotency-key", b"")
        length = headers.get(b"content-length", b"")
        if not (entry.isascii() and entry.isdigit() and entry[0] != "0" and len(entry) <= 19 and int(entry) <= 2**63 - 1
                and auth[:7].lower() == b"bearer " and len(auth) > 7 and b" " not in auth[7:]
                and 1 <= len(key) <= 100 and headers.get(b"content-type") == b"application/json"
                and length.isdigit() and int(length) <= MAX_BODY):
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
        signature = None
        try:
            doc = json.loads(body)
            if type(doc) is dict and len(doc) == 1 and type(doc.get("signature")) is str \
                    and 1 <= len(doc["signature"]) <= 90_000:
                signature = base64.b64decode(doc["signature"], validate=True)
        except (ValueError, binascii.Error, RecursionError):  # the framework's path answers (Guard: 422)
            signature = None
        if not signature:
            return await self.app(scope, _replay(body), send)
        SignatureHotPath.handled += 1
        try:
            answer = await self.batcher.submit(auth[7:].decode("latin-1"), int(entry), signature,
                                               key.decode("latin-1"), received)
        except Exception as err:
            refused = refusal(err)
            if refused is None:
                raise
            return await send_json(send, *refused)
        if isinstance(answer, SohoaError):
            return await send_json(send, *refusal(answer))
        await send_json(send, 200, receipt_json(answer))


def receipt_json(answer) -> dict:
    """A :class:`~core.logbook.submissions.Receipt` in the shape of :class:`api.models.ReceiptOut`."""
    return {"entry_id": answer.entry_id, "status": answer.status.value, "received_at": answer.received_at.isoformat(),
            "counts_as_teaching_hours": answer.counts_as_teaching_hours, "replayed": answer.replayed}


def _replay(body: bytes):
    """A ``receive`` that gives the already-read body again (then waits for a disconnect)."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
    return receive
