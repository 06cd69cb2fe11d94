"""The signing API for teachers' apps (FastAPI): sign in, the week's timetable, an entry's
content and canonical bytes, fill an entry, submit its signature (idempotent), ask for a
timetable change, teaching hours, and the weekly close (chốt sổ tuần) by the homeroom teacher
and the principal. Every call goes through core's services and authorization, exactly as the
console's do; this module only maps HTTP to them.

The weekly close is signed with remote signing (ký số từ xa): the signer's key is held by the
server, PIN-protected, and each request opens it with the PIN it carries, in a fresh key store
so an unlocked key is never reused by another request.

Submitted signatures are gathered by a :class:`Batcher` and settled together by
:func:`core.logbook.submissions.submit_signatures` — one transaction for up to
``max_batch`` signatures — which is how one process keeps up with a city's bell (see
docs/api.md and benchmarks/signing_api.py). A request is answered only after its batch has
committed: an acknowledged signature is in the database.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import gc
import json
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Path, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, OperationalError

from core.access.accounts import SESSION_LIFETIME, actor_for_token, sign_in
from core.access.authz import Actor
from core.kernel import clock
from core.kernel.errors import PermissionDenied, SohoaError, Unauthorized
from core.logbook.entries import EntryContent, entry_for_signing, fill_entry, teacher_week, teaching_hours
from core.logbook.submissions import SignatureSubmission, submit_signatures, warm_certificates
from core.logbook.weekly_close import class_week_close, homeroom_sign_week, principal_close_week, weeks_to_close
from core.signatures.held_keys import unlock_signing_key
from core.storage.db import Database
from core.timetable.services import request_change

MAX_BODY = 64 * 1024
#: Ids are 64-bit in the record store: anything larger is a 422, never a database error.
Id = Annotated[int, Field(ge=1, le=2**63 - 1)]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a logbook entry's id")]
ClassId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a class's id")]
WeekId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a school week's id (week_id in the list of weeks)")]
VERSION = "1.0.0"


# ---------------------------------------------------------------- models
class Problem(BaseModel):
    code: str = Field(description="machine-readable error code")
    message: str = Field(description="English")
    message_vi: str = Field(description="Tiếng Việt")


class ErrorBody(BaseModel):
    error: Problem


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class Period(BaseModel):
    entry_id: int
    day: dt.date
    period_no: int
    class_name: str
    subject: str
    period_start: dt.datetime
    period_end: dt.datetime
    signing_deadline: dt.datetime
    status: str
    is_substitute: bool
    lesson_title: str | None


class EntryForSigning(BaseModel):
    entry_id: int
    day: dt.date
    period_no: int
    status: str
    lesson_title: str | None
    curriculum_seq: int | None
    class_remark: str | None
    class_rating: str | None
    period_end: dt.datetime
    signed_at: dt.datetime | None
    canonical_bytes: str = Field(description="base64 of the exact bytes the signature must cover")
    sha256: str


class Content(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson_title: str = Field(min_length=1, max_length=400)
    curriculum_seq: int | None = Field(default=None, ge=1, le=500)
    class_remark: str | None = Field(default=None, max_length=2000)
    class_rating: str | None = Field(default=None, max_length=2)
    absences: dict[Id, bool] | None = Field(default=None, description="student id → excused")
    student_remarks: dict[Id, Annotated[str, Field(max_length=2000)]] | None = None


class SignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str = Field(min_length=1, max_length=90_000,
                           description="base64 of a detached CMS (PKCS#7) signature over canonical_bytes")


class ReceiptOut(BaseModel):
    entry_id: int
    status: str = Field(description="on_time | late (decided by the server's receipt time)")
    received_at: dt.datetime
    counts_as_teaching_hours: bool
    replayed: bool = Field(description="true when answered from an earlier request with the same Idempotency-Key")


class Hours(BaseModel):
    periods: int
    counted: int
    lost: int
    pending: int


class Health(BaseModel):
    status: str
    ready: bool = Field(description="the registered certificates' chains have been checked")
    certificates_checked: int


class SlotChangeIn(BaseModel):
    """One slot of next week's timetable: removed (``remove: true``), or given a subject and
    a teacher (``subject_id`` and ``teacher_id`` both required then)."""
    model_config = ConfigDict(extra="forbid")
    class_id: Id
    weekday: int = Field(ge=1, le=7, description="1 = Monday … 7 = Sunday")
    period_no: int = Field(ge=1, le=20)
    remove: bool = False
    subject_id: Id | None = None
    teacher_id: Id | None = None


class ChangeRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    school_id: Id
    changes: list[SlotChangeIn] = Field(min_length=1, max_length=50)
    reason: str = Field(default="", max_length=1000)


class ChangeRequestOut(BaseModel):
    request_id: int


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # no control characters: a NUL byte in a PKCS#12 password panics the key loader
    pin: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$",
                     description="the PIN that opens my signing key held by the server (ký số từ xa)")


class EntryCounts(BaseModel):
    on_time: int
    late: int
    missed: int
    pending: int


class ClassWeek(BaseModel):
    class_id: int
    class_name: str
    grade: int
    homeroom_teacher: str | None
    week_id: int = Field(description="the id to close the week with")
    week_number: int
    monday: dt.date
    last_school_day: dt.date = Field(description="the class's last day with lessons that week")
    week_over: bool = Field(description="the last school day is past: the week can be signed")
    deadline: dt.datetime = Field(description="closed by then, the week counts as closed on time")
    status: str = Field(description="open | homeroom_signed | closed | reopened")
    summary_hash: str | None = Field(description="SHA-256 (hex) of the week summary the signatures cover")
    counts: EntryCounts = Field(description="the class's periods of the week by status")
    homeroom_signed_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_on_time: bool | None
    reopen_count: int
    your_step: str | None = Field(description="what I do next: homeroom_signature | close | null")


ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)}


# ---------------------------------------------------------------- batching
class Batcher:
    """Gathers submitted signatures for a few milliseconds and settles them in one transaction
    on a worker thread; each request waits for its own answer."""

    def __init__(self, db: Database, trust, *, window: float = 0.004, max_batch: int = 256, pipeline: int = 1):
        self.db, self.trust, self.window, self.max_batch, self.pipeline = db, trust, window, max_batch, pipeline
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batches = self.items = 0
        self.settle_seconds = 0.0

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        if self.batches:
            logging.getLogger("sohoa.api").warning(
                "batcher: %d signatures in %d batches (mean %.1f), settling took %.1f ms a batch on average",
                self.items, self.batches, self.items / self.batches, 1000 * self.settle_seconds / self.batches)

    async def submit(self, token: str, entry_id: int, signature: bytes, key: str, received_at: dt.datetime):
        """Queue one submission (its bearer token is resolved with the rest of the batch)."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(((token, entry_id, signature, key, received_at), future))
        return await future

    def _settle(self, raw: list[tuple]) -> list:
        """One transaction for the batch, its tokens included; each item judged at its own
        receipt time."""
        return submit_signatures(self.db, self.trust, [
            SignatureSubmission(None, entry_id, signature, key, received_at, token=token)
            for token, entry_id, signature, key, received_at in raw], max(r[4] for r in raw))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        in_flight = asyncio.Semaphore(self.pipeline)
        while True:
            first = await self.queue.get()
            batch = [first]
            deadline = loop.time() + self.window
            while len(batch) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            # up to ``pipeline`` batches in the database at once: the next one gathers while the
            # previous commits (the same entry in two batches is serialised by its row lock)
            await in_flight.acquire()
            task = loop.create_task(self._settle_batch(batch))
            task.add_done_callback(lambda _t: in_flight.release())

    async def _settle_batch(self, batch: list) -> None:
        started = time.perf_counter()
        try:
            answers = await asyncio.get_running_loop().run_in_executor(None, self._settle, [b[0] for b in batch])
            self.batches, self.items = self.batches + 1, self.items + len(batch)
            self.settle_seconds += time.perf_counter() - started
        except Exception as err:  # noqa: BLE001 - the database is away: every waiter hears it
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():
                future.set_result(answer)


# ---------------------------------------------------------------- the app
def create_app(db: Database, trust, *, pki_dir: FilePath | None = None, batch_window: float = 0.004,
               max_batch: int = 256, token_cache_seconds: float = 10.0, warm: bool = True) -> FastAPI:
    """The app. ``pki_dir`` holds the staff's PIN-protected keys (``keys/staff-<id>.p12``)
    for the weekly close; without it those calls answer 503. With ``warm`` a thread checks
    every registered certificate's chain at start-up (``GET /api/v1/health`` says when it is
    done); a :class:`Database` bound to one connection (the tests' isolated ones) needs
    ``warm=False``, as that connection cannot serve two threads."""
    batcher = Batcher(db, trust, window=batch_window, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        if warm:
            threading.Thread(target=warm_up, name="warm-certificates", daemon=True).start()
        else:
            readiness["ready"] = True
        # what start-up allocated (modules, models, caches) is never collected again: the
        # collector's full passes then walk only what requests create (fewer long pauses)
        gc.collect()
        gc.freeze()
        yield
        await batcher.stop()

    app = FastAPI(title="sohoa signing API", version=VERSION, lifespan=lifespan,
                  description="Sổ đầu bài số: the API teachers' apps use to read their timetable and sign their "
                              "periods, and homeroom teachers and principals use to close the week (chốt sổ tuần). "
                              "Errors carry an English and a Vietnamese message. See docs/api.md.",
                  responses={401: {"model": ErrorBody}})
    bearer = HTTPBearer(auto_error=False)
    tokens: dict[str, tuple[Actor, float]] = {}
    readiness = {"ready": False, "certificates_checked": 0}

    def warm_up():
        """Before the first bell: every registered certificate's chain validated once."""
        try:
            readiness["certificates_checked"] = warm_certificates(db, trust)
        except Exception:  # noqa: BLE001 - a cold cache is slower, never wrong
            logging.getLogger("sohoa.api").exception("certificate warm-up failed; chains are checked on first use")
        readiness["ready"] = True

    @app.get("/api/v1/health", response_model=Health, tags=["service"],
             summary="Is this process ready for the bell (certificates checked)?")
    async def health():
        return Health(status="ok", **readiness)

    def problem(status: int, code: str, message: str, message_vi: str, headers=None) -> JSONResponse:
        return JSONResponse(status_code=status, content=_problem(code, message, message_vi), headers=headers)

    @app.exception_handler(SohoaError)
    async def sohoa_error(_request, err: SohoaError):
        status = getattr(err, "status", 400)
        retry = getattr(err, "retry_after", None)
        return problem(status, type(err).__name__, err.message, err.message_vi,
                       headers=None if retry is None else {"Retry-After": str(retry)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(422, "InvalidRequest", f"invalid request: {where}: {first.get('msg', '')}",
                       f"Yêu cầu không hợp lệ: {where}")

    @app.exception_handler(OperationalError)
    async def database_away(_request, _err):
        return problem(503, *UNAVAILABLE, headers={"Retry-After": "1"})

    @app.exception_handler(DBAPIError)
    async def database_error(_request, err: DBAPIError):
        if err.connection_invalidated:
            return await database_away(_request, err)
        raise err

    app.add_middleware(Guard)
    # outermost of ours: a well-formed signature submission skips the framework's routing
    app.add_middleware(SignatureHotPath, batcher=batcher)

    async def teacher(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Actor:
        if credentials is None:
            raise Unauthorized("sign in first: Authorization: Bearer <token>", message_vi="Hãy đăng nhập trước")
        token = credentials.credentials
        cached = tokens.get(token)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        try:
            actor = await asyncio.get_running_loop().run_in_executor(None, actor_for_token, db, token)
        except PermissionDenied as err:
            raise Unauthorized(err.message, message_vi=err.message_vi) from err
        if len(tokens) > 100_000:
            tokens.clear()
        tokens[token] = (actor, now + token_cache_seconds)
        return actor

    async def run(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    @app.post("/api/v1/token", response_model=Token, responses=ERRORS, tags=["sign-in"],
              summary="Sign in (đăng nhập): a bearer token for the other calls")
    async def token(body: Credentials):
        try:
            value = await run(sign_in, db, body.username, body.password)
        except PermissionDenied as err:
            raise Unauthorized(err.message, message_vi=err.message_vi) from err
        return Token(access_token=value, expires_in=int(SESSION_LIFETIME.total_seconds()))

    @app.get("/api/v1/me/timetable", response_model=list[Period], responses=ERRORS, tags=["logbook"],
             summary="The signed-in teacher's periods in one week (thời khóa biểu)")
    async def timetable(monday: dt.date = Query(description="the week's Monday"), actor: Actor = Depends(teacher)):
        if monday.weekday() != 0:
            raise BadRequest("monday must be a Monday", message_vi="Ngày bắt đầu tuần phải là thứ Hai")
        return await run(teacher_week, db, actor, monday)

    @app.get("/api/v1/entries/{entry_id}", response_model=EntryForSigning, responses=ERRORS, tags=["logbook"],
             summary="One of my periods, with the exact bytes to sign")
    async def entry(entry_id: EntryId, actor: Actor = Depends(teacher)):
        row = await run(entry_for_signing, db, actor, entry_id)
        return {**row, "canonical_bytes": base64.b64encode(row["canonical_bytes"]).decode()}

    @app.put("/api/v1/entries/{entry_id}/content", status_code=204, responses=ERRORS, tags=["logbook"],
             summary="Record what was taught (before signing)")
    async def content(entry_id: EntryId, body: Content, actor: Actor = Depends(teacher)):
        await run(fill_entry, db, actor, entry_id, EntryContent(**body.model_dump()))

    @app.post("/api/v1/entries/{entry_id}/signature", response_model=ReceiptOut, responses=ERRORS,
              tags=["logbook"], summary="Submit my signature of a period (ký số tiết học)")
    async def signature(entry_id: EntryId, body: SignatureIn,
                        idempotency_key: str = Header(alias="Idempotency-Key", min_length=1, max_length=100,
                                                      description="the same key for every retry of this submission"),
                        credentials: HTTPAuthorizationCredentials | None = Depends(bearer)):
        received = clock.now()  # the server's receipt time decides on time or late
        if credentials is None:
            raise Unauthorized("sign in first: Authorization: Bearer <token>", message_vi="Hãy đăng nhập trước")
        try:
            raw = base64.b64decode(body.signature, validate=True)
        except (binascii.Error, ValueError) as err:
            raise BadRequest("the signature is not valid base64",
                             message_vi="Chữ ký không đúng định dạng base64") from err
        # the token is resolved with the rest of the batch: one query for all of them
        answer = await batcher.submit(credentials.credentials, entry_id, raw, idempotency_key, received)
        if isinstance(answer, SohoaError):
            raise answer
        return JSONResponse(receipt_json(answer))

    @app.get("/api/v1/me/teaching-hours", response_model=Hours, responses=ERRORS, tags=["logbook"],
             summary="My periods and teaching hours between two dates (giờ giảng)")
    async def hours(start: dt.date, end: dt.date, actor: Actor = Depends(teacher)):
        if actor.staff_id is None:
            raise PermissionDenied("only staff have teaching hours", message_vi="Chỉ giáo viên có giờ giảng")
        if end < start or (end - start).days > 400:
            raise BadRequest("end must follow start, within 400 days",
                                message_vi="Khoảng thời gian không hợp lệ")
        return await run(teaching_hours, db, actor, actor.staff_id, start, end)

    @app.post("/api/v1/timetable/change-requests", response_model=ChangeRequestOut, status_code=201,
              responses=ERRORS, tags=["timetable"],
              summary="Ask to change next week's timetable (Saturday or Sunday only)")
    async def change(body: ChangeRequestIn, actor: Actor = Depends(teacher)):
        changes = [c.model_dump(exclude_none=True) for c in body.changes]
        return ChangeRequestOut(request_id=await run(request_change, db, actor, body.school_id, changes,
                                                     body.reason))

    # ---------------------------------------------------------------- weekly close
    def close_step(step, actor: Actor, class_id: int, week_id: int, pin: str, at: dt.datetime) -> dict:
        if pki_dir is None:
            raise SigningUnavailable("remote signing is not configured on this server",
                                     message_vi="Máy chủ chưa được cấu hình ký số từ xa")
        step(db, actor, class_id, week_id, unlock_signing_key(db, actor, pki_dir, pin, at), at)
        return class_week_close(db, actor, class_id, week_id, at)

    @app.get("/api/v1/me/weeks-to-close", response_model=list[ClassWeek], responses=ERRORS, tags=["weekly-close"],
             summary="The class-weeks I sign or close (chốt sổ tuần): my class as homeroom teacher, "
                     "my school's classes as principal")
    async def weeks(monday: dt.date = Query(description="the week's Monday"), actor: Actor = Depends(teacher)):
        if monday.weekday() != 0:
            raise BadRequest("monday must be a Monday", message_vi="Ngày bắt đầu tuần phải là thứ Hai")
        return await run(weeks_to_close, db, actor, monday)

    @app.post("/api/v1/classes/{class_id}/weeks/{week_id}/homeroom-signature", response_model=ClassWeek,
              responses=ERRORS, tags=["weekly-close"],
              summary="The homeroom teacher signs the class's week (giáo viên chủ nhiệm ký sổ tuần)")
    async def homeroom_signature(class_id: ClassId, week_id: WeekId, body: PinIn, actor: Actor = Depends(teacher)):
        return await run(close_step, homeroom_sign_week, actor, class_id, week_id, body.pin, clock.now())

    @app.post("/api/v1/classes/{class_id}/weeks/{week_id}/close", response_model=ClassWeek, responses=ERRORS,
              tags=["weekly-close"], summary="The principal signs and closes the class's week (hiệu trưởng chốt sổ tuần)")
    async def close(class_id: ClassId, week_id: WeekId, body: PinIn, actor: Actor = Depends(teacher)):
        return await run(close_step, principal_close_week, actor, class_id, week_id, body.pin, clock.now())

    return app


class Guard:
    """Pure ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware): refuses a
    body over :data:`MAX_BODY` (413) and a POST/PUT that is not JSON (415) before any work."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        refusal = None
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            refusal = (413, "TooLarge", f"the request body is larger than {MAX_BODY} bytes",
                       f"Nội dung yêu cầu vượt quá {MAX_BODY} byte")
        elif scope["method"] in ("POST", "PUT"):
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json":
                refusal = (415, "UnsupportedMediaType", "send JSON (Content-Type: application/json)",
                           "Hãy gửi JSON (Content-Type: application/json)")
        if refusal is None:
            return await self.app(scope, receive, send)
        status, code, message, message_vi = refusal
        body = JSONResponse(status_code=status, content=_problem(code, message, message_vi))
        await body(scope, receive, send)


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

    def __init__(self, app, batcher: "Batcher"):
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
        if not (entry.isdigit() and entry[0] != "0" and len(entry) <= 19 and int(entry) <= 2**63 - 1
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
        except (ValueError, binascii.Error):
            signature = None
        if not signature:
            return await self.app(scope, _replay(body), send)
        SignatureHotPath.handled += 1
        try:
            answer = await self.batcher.submit(auth[7:].decode("latin-1"), int(entry), signature,
                                               key.decode("latin-1"), received)
        except OperationalError:
            return await _send_json(send, 503, _problem(*UNAVAILABLE), ((b"retry-after", b"1"),))
        except DBAPIError as err:
            if not err.connection_invalidated:
                raise
            return await _send_json(send, 503, _problem(*UNAVAILABLE), ((b"retry-after", b"1"),))
        if isinstance(answer, SohoaError):
            return await _send_json(send, getattr(answer, "status", 400),
                                    _problem(type(answer).__name__, answer.message, answer.message_vi))
        await _send_json(send, 200, receipt_json(answer))


UNAVAILABLE = ("Unavailable", "the database is unavailable; retry with the same Idempotency-Key",
               "Cơ sở dữ liệu tạm thời không sẵn sàng; hãy gửi lại với cùng Idempotency-Key")


def _problem(code: str, message: str, message_vi: str) -> dict:
    return {"error": {"code": code, "message": message, "message_vi": message_vi}}


def receipt_json(answer) -> dict:
    """A :class:`~core.logbook.submissions.Receipt` in the shape of :class:`ReceiptOut`."""
    return {"entry_id": answer.entry_id, "status": answer.status.value, "received_at": answer.received_at.isoformat(),
            "counts_as_teaching_hours": answer.counts_as_teaching_hours, "replayed": answer.replayed}


async def _send_json(send, status: int, content: dict, extra_headers=()) -> None:
    """What Starlette's JSONResponse sends, for the hot path."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json"),
                            *extra_headers]})
    await send({"type": "http.response.body", "body": body})


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


class BadRequest(SohoaError):
    status = 400


class SigningUnavailable(SohoaError):
    status = 503


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory`` (``sohoa api``): the record store from
    ``SOHOA_DATABASE_URL`` (or the demo file), trust anchors and the staff's server-held keys
    (for the weekly close) from ``SOHOA_PKI_DIR`` (default ``var/pki``, the demo CA); the
    batching window from ``SOHOA_API_BATCH_WINDOW_MS`` (see :class:`Batcher`)."""
    import os

    from core.signatures import DemoPKI
    from core.storage.db import make_engine

    # No pre-ping per checkout (a round trip per request at the bell): a connection lost to a
    # database restart fails its request with a retryable 503 and the pool is renewed.
    url = os.environ.get("SOHOA_DATABASE_URL") or None
    db = Database(make_engine(url, pool_pre_ping=False) if url and not url.startswith("sqlite") else make_engine(url))
    pki_dir = FilePath(os.environ.get("SOHOA_PKI_DIR", "var/pki"))
    trust = DemoPKI.load(pki_dir).trust_store()
    window = float(os.environ.get("SOHOA_API_BATCH_WINDOW_MS", "4")) / 1000
    return create_app(db, trust, pki_dir=pki_dir, batch_window=window)
