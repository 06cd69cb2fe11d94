"""The signing API for teachers' apps (FastAPI): the app factory. The routes are
:mod:`api.routes`, the shapes :mod:`api.models`, the one error mapper :mod:`api.errors`, the
batching of submitted signatures :mod:`api.batching` and the bell's hot path :mod:`api.hotpath`.

The weekly close is signed with remote signing (ký số từ xa): the signer's key is held by the
server, PIN-protected, and each request opens it with the PIN it carries, in a fresh key store
so an unlocked key is never reused by another request.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path as FilePath

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.batching import Batcher
from api.errors import invalid_request, problem, refusal
from api.hotpath import Guard, SignatureHotPath
from api.models import ErrorBody
from api.routes import ApiState, router
from core.kernel.errors import SohoaError
from core.logbook.receipts import Sealer
from core.logbook.submissions import warm_certificates
from core.operations.observability import (
    BATCH_SIZE,
    CONTENT_TYPE,
    QUEUE_DEPTH,
    metrics_text,
    new_request_id,
    observe,
    request_id,
    watch_record_store,
)
from core.signatures.service import ServiceSeal
from core.storage.db import Database, database_errors

VERSION = "1.0.0"
DESCRIPTION = ("Sổ đầu bài số: the API teachers' apps use to read their timetable and sign their periods, and "
               "homeroom teachers and principals use to close the week (chốt sổ tuần). Errors carry an English and "
               "a Vietnamese message. See docs/api.md.")


def create_app(db: Database, trust, *, pki_dir: FilePath | None = None, batch_window: float = 0.004,
               max_batch: int = 256, token_cache_seconds: float = 10.0, warm: bool = True,
               remote_signing=None, checkpoints=None, seal: ServiceSeal | None = None, seal_interval: float = 1.0,
               receipts: bool = True) -> FastAPI:
    """The app. ``pki_dir`` is where the staff's server-held keys are, for the weekly close with
    a PIN (a :class:`core.signatures.held_keys.HeldKeys`, or a directory of the demo's
    ``keys/staff-<id>.p12``); without it (the default outside the demo) those calls answer 503
    and people sign on their device (``…/prepare`` and ``…/complete``), or through the remote
    signing service ``remote_signing`` (:class:`core.signatures.remote.RemoteSigning`).
    ``checkpoints``: a :class:`core.evidence.checkpoints.Checkpointer` run while the app runs
    (periodic checkpoints, and one after each weekly close). With ``seal`` (the service seal) a
    thread seals the receipts every ``seal_interval`` seconds (:class:`core.logbook.receipts.Sealer`);
    ``receipts=False`` keeps receipts without leaves and seals nothing, as before receipts were
    sealed (for the benchmark's comparison). With ``warm`` a thread checks every registered
    certificate's chain at start-up (``GET /api/v1/health`` says when it is done); a
    :class:`Database` bound to one connection (the tests' isolated ones) needs ``warm=False`` and no
    ``seal``, as that connection cannot serve two threads."""
    state = ApiState(db, trust, ObservedBatcher(db, trust, window=batch_window, max_batch=max_batch,
                                                receipts=receipts),
                     pki_dir, token_cache_seconds, checkpoints=checkpoints)
    watch_record_store(db)
    state.remote_signing = remote_signing
    sealer = Sealer(db, seal, interval=seal_interval) if seal is not None and receipts else None

    def warm_up():
        """Before the first bell: every registered certificate's chain validated once."""
        try:
            state.certificates_checked = warm_certificates(db, trust)
        except Exception:  # noqa: BLE001 - a cold cache is slower, never wrong
            logging.getLogger("sohoa.api").exception("certificate warm-up failed; chains are checked on first use")
        state.ready = True

    @asynccontextmanager
    async def lifespan(_app):
        state.batcher.start()
        state.tokens.start()  # revocations heard from the database (PostgreSQL)
        if checkpoints is not None:
            checkpoints.start()
        if sealer is not None:
            sealer.start()
        if warm:
            threading.Thread(target=warm_up, name="warm-certificates", daemon=True).start()
        else:
            state.ready = True
        # what start-up allocated (modules, models, caches) is never collected again: the
        # collector's full passes then walk only what requests create (fewer long pauses)
        gc.collect()
        gc.freeze()
        yield
        await state.batcher.stop()
        await asyncio.get_running_loop().run_in_executor(None, state.tokens.stop)
        if sealer is not None:  # what is left is sealed before the process ends
            await asyncio.get_running_loop().run_in_executor(None, sealer.stop)
        if checkpoints is not None:
            checkpoints.stop()

    app = FastAPI(title="sohoa signing API", version=VERSION, lifespan=lifespan, description=DESCRIPTION,
                  responses={401: {"model": ErrorBody}})
    app.state.sohoa = state
    app.include_router(router)
    app.add_exception_handler(SohoaError, _answer)
    for kind in database_errors():
        app.add_exception_handler(kind, _answer)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(Guard)
    # outermost of ours: a well-formed signature submission skips the framework's routing
    app.add_middleware(SignatureHotPath, batcher=state.batcher)
    app.add_middleware(Observed)  # outermost: every request has its id, its log lines and its metrics
    return app


class ObservedBatcher(Batcher):
    """The batcher, each batch's size observed (``sohoa_signature_batch_size``) and the
    signatures waiting (``sohoa_signature_queue_depth``) set as each one comes and each batch
    goes (a value in the process's metrics, summed over the API's workers)."""

    async def submit(self, *args, **kwargs):
        QUEUE_DEPTH.set(self.depth() + 1)
        return await super().submit(*args, **kwargs)

    def _settle(self, raw: list[tuple]) -> list:
        BATCH_SIZE.observe(len(raw))
        QUEUE_DEPTH.set(self.depth())
        return super()._settle(raw)


class Observed:
    """Pure ASGI (cheap on the bell's hot path): the request id (the proxy's ``X-Request-ID``
    or a new one; answered in ``X-Request-ID``, carried by every log line of the request), the
    request metrics, ``GET /metrics`` (Prometheus text), and a JSON log line for every answer
    that is an error or slow (all of them at debug level)."""

    SLOW = 1.0

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == "/metrics" and scope["method"] == "GET":
            body = metrics_text()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        offered = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = new_request_id(offered)
        token = request_id.set(rid)
        status = [500]
        started = time.perf_counter()

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            observe("api", scope["method"], scope["path"], status[0], seconds)
            if status[0] >= 400 or seconds > self.SLOW or _access.isEnabledFor(logging.DEBUG):
                _access.log(logging.WARNING if status[0] >= 500 else logging.INFO if status[0] >= 400 or
                            seconds > self.SLOW else logging.DEBUG, "request",
                            extra={"method": scope["method"], "path": scope["path"][:200], "status": status[0],
                                   "seconds": round(seconds, 4)})
            request_id.reset(token)


_access = logging.getLogger("sohoa.api.access")


async def _answer(_request: Request, err: Exception):
    refused = refusal(err)
    if refused is None:
        raise err
    status, body, headers = refused
    return JSONResponse(status_code=status, content=body, headers=headers or None)


async def _invalid(_request: Request, err: RequestValidationError):
    status, body, headers = invalid_request(err.errors())
    return JSONResponse(status_code=status, content=body)


_HTTP_ERRORS = {404: ("NotFound", "no such path in this API", "Không có đường dẫn này trong API"),
                405: ("MethodNotAllowed", "this path does not take that method", "Đường dẫn này không nhận phương thức đó")}


async def _http_error(_request: Request, err: StarletteHTTPException):
    """The framework's own refusals (an unknown path, a wrong method) in the API's problem body,
    in both languages."""
    code, message, message_vi = _HTTP_ERRORS.get(err.status_code, (
        "InvalidRequest", f"the request was refused: {err.detail}", "Yêu cầu bị từ chối"))
    return JSONResponse(status_code=err.status_code, content=problem(code, message, message_vi),
                        headers=getattr(err, "headers", None))


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory`` (``sohoa api``), from this process's settings
    (:mod:`core.kernel.settings`): the record store (``database_url``, or the embedded file),
    the trust anchors of ``pki_dir`` (its ``anchors/`` only — the server never reads a CA key),
    the staff's server-held keys only when ``server_held_keys`` says so (default off:
    :class:`core.signatures.held_keys.HeldKeys`); the batching window ``api_batch_window_ms``
    (see :class:`api.batching.Batcher`); checkpoints when ``checkpoint_dir`` and the service seal
    are configured (:meth:`core.evidence.checkpoints.Checkpointer.from_environment`)."""
    from core.kernel import settings
    from core.signatures.anchors import configured_anchors
    from core.signatures.held_keys import HeldKeys
    from core.storage.db import make_engine

    configured = settings.current()
    from core.operations.observability import configure_logging, share_metrics

    configure_logging(configured)
    share_metrics(configured.effective_metrics_dir)  # each worker: one scrape totals every process
    # No pre-ping per checkout (a round trip per request at the bell): a connection lost to a
    # database restart fails its request with a retryable 503 and the pool is renewed.
    url = configured.database_url or None
    db = Database(make_engine(url, pool_pre_ping=False) if url and not url.startswith("sqlite") else make_engine(url))
    pki_dir = configured.effective_pki_dir
    anchors = configured_anchors(configured, responder_tsa=False)
    trust = anchors.trust_store()
    window = configured.api_batch_window_ms / 1000
    from core.evidence.checkpoints import Checkpointer
    from core.signatures.remote import RemoteSigning

    receipts = configured.receipts
    return create_app(db, trust, pki_dir=HeldKeys.from_environment(pki_dir), batch_window=window,
                      remote_signing=RemoteSigning.from_environment(), checkpoints=Checkpointer.from_environment(db),
                      receipts=receipts, seal=_seal_from_environment(configured) if receipts else None,
                      seal_interval=configured.seal_interval_ms / 1000)


def _seal_from_environment(configured) -> ServiceSeal | None:
    """The service seal that seals the receipts: its key file (setting ``seal_key``, default
    ``<pki_dir>/keys/service-seal.p12``) opened with ``seal_pin``, timestamped by the
    ``tsa_url``. Without a PIN or a key file receipts are kept but not sealed (logged):
    entries then verify INDETERMINATE until a sealer with the seal runs."""
    from core.logbook.weekly_close import tsa_url
    from core.signatures.service import SEAL_OWNER

    key = configured.seal_key or configured.effective_pki_dir / "keys" / f"{SEAL_OWNER}.p12"
    if configured.seal_pin is None or not key.exists():
        logging.getLogger("sohoa.api").warning("receipts are kept but not sealed: set seal_pin (and "
                                               "seal_key) to the service seal's key")
        return None
    return ServiceSeal.open(key, configured.seal_pin, tsa_url())


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration carrying the installation's settings: a worker process receives
    it pickled and makes them its own before it builds the app (never through ``os.environ``)."""

    def __init__(self, *args, sohoa_settings=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sohoa_settings = sohoa_settings

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.sohoa_settings is not None:
            from core.kernel import settings

            settings.configure(self.sohoa_settings)


def run(configured) -> None:
    """Serve the API with ``configured`` (:class:`core.kernel.settings.Settings`): its host,
    port and workers (default one per CPU), as ``uvicorn.run`` would."""
    import os

    from uvicorn.supervisors import Multiprocess

    workers = configured.api_workers or os.cpu_count() or 1
    config = ServerConfig("api.app:app_from_environment", factory=True, host=configured.api_host,
                          port=configured.api_port, workers=workers, log_level="warning", access_log=False,
                          sohoa_settings=configured)
    server = uvicorn.Server(config)
    try:
        if workers > 1:
            import inspect

            older = "target" in inspect.signature(Multiprocess.__init__).parameters  # uvicorn < 0.55
            extra = {"target": server.run} if older else {}
            Multiprocess(config, sockets=[config.bind_socket()], **extra).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
