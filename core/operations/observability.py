"""Logs and metrics of the servers and jobs (nhật ký vận hành, số đo).

**Logs**: one JSON object a line on stderr (setting ``log_format = "json"``, or ``text``), with
the time (UTC, ISO 8601), the level, the logger, the message, the request id of the request
being served (``X-Request-ID`` from the reverse proxy when it is well formed, else a new one,
sent back in the answer) and any ``extra`` fields. ``configure_logging`` sets it up once per
process.

**Metrics**, Prometheus text format (``prometheus_client``), at ``/metrics`` of the console and
the API (the reverse proxy keeps ``/metrics`` to the monitoring network):

- ``sohoa_requests_total{service,method,route,status}`` and the latency histogram
  ``sohoa_request_seconds{service,route}`` (route: the path with its numbers as ``{id}``);
- ``sohoa_signature_batch_size`` (signatures settled together) and
  ``sohoa_signature_queue_depth`` (waiting to be settled), from the API's batcher;
- ``sohoa_sign_ins_total`` and ``sohoa_lockouts_total``: read from the record store at each
  scrape (sessions opened, ``account.locked`` audit events), so every process and every
  restart agrees;
- ``sohoa_job_runs_total{job,outcome}`` (the scheduler).

Request metrics are per process: scrape each console and API process (or run one worker per
port behind the proxy).
"""
from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter("sohoa_requests", "HTTP requests answered", ["service", "method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("sohoa_request_seconds", "Time to answer an HTTP request", ["service", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
BATCH_SIZE = Histogram("sohoa_signature_batch_size", "Signatures settled in one batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=REGISTRY)
QUEUE_DEPTH = Gauge("sohoa_signature_queue_depth", "Signatures waiting to be settled", registry=REGISTRY)
JOB_RUNS = Counter("sohoa_job_runs", "Runs of the periodic jobs", ["job", "outcome"], registry=REGISTRY)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_WELL_FORMED = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_NUMBERS = re.compile(r"/\d+(?=/|$)")


def new_request_id(offered: str | None = None) -> str:
    """The proxy's ``X-Request-ID`` when well formed (so its log and ours share it), else a new one."""
    return offered if offered and _WELL_FORMED.match(offered) else uuid.uuid4().hex


def route_of(path: str) -> str:
    """A path as a metric label: numbers as ``{id}``, at most 80 characters (bounded labels)."""
    return _NUMBERS.sub("/{id}", path)[:80]


def observe(service: str, method: str, path: str, status: int, seconds: float) -> None:
    route = route_of(path)
    REQUESTS.labels(service, method if method in _METHODS else "OTHER", route, str(status)).inc()
    LATENCY.labels(service, route).observe(seconds)


_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


class _StoreCounters:
    """Sign-ins and lockouts from the record store, at each scrape (one truth for every process):
    the process's record store, the one it watches last (held weakly)."""

    def __init__(self):
        self.db = None

    def collect(self):
        db = self.db() if self.db is not None else None
        if db is None:
            return
        try:
            sign_ins, lockouts = sign_in_counts(db)
        except Exception:  # noqa: BLE001 - a scrape never fails for the database's sake
            logging.getLogger("sohoa.metrics").warning("sign-in counts unavailable")
            return
        yield CounterMetricFamily("sohoa_sign_ins", "Sign-ins (sessions opened)", value=sign_ins)
        yield CounterMetricFamily("sohoa_lockouts", "Credentials locked after wrong attempts", value=lockouts)


def sign_in_counts(db) -> tuple[int, int]:
    """Sessions ever opened, and ``account.locked`` events, in the record store."""
    from sqlalchemy import func, select

    from core.storage.models import AuditEvent, LoginSession

    with db.reading() as session:
        return (session.scalar(select(func.count()).select_from(LoginSession)) or 0,
                session.scalar(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "account.locked")) or 0)


_store_counters = _StoreCounters()
REGISTRY.register(_store_counters)


def watch_record_store(db) -> None:
    """Count the sign-ins and lockouts of ``db`` (this process's record store) in its metrics."""
    import weakref

    _store_counters.db = weakref.ref(db)


def metrics_text() -> bytes:
    return generate_latest(REGISTRY)


# ---------------------------------------------------------------------------------- logs
class JsonFormatter(logging.Formatter):
    """One JSON object a line, with the request id and the record's ``extra`` fields."""

    _standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            line["request_id"] = rid
        for key, value in vars(record).items():
            if key not in self._standard and key != "request_id":
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(settings) -> None:
    """The process's logging, from the settings ``log_format`` and ``log_level`` (idempotent)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_sohoa", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._sohoa = True
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    root.setLevel(level)
    for name in ("sohoa", "tornado.access", "uvicorn.error"):
        logging.getLogger(name).setLevel(level)
