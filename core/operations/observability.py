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

**Every process counts into one total.** The console processes, the API's workers and the
scheduler keep their metrics in files of the directory ``metrics_dir`` (setting; prometheus_client's
multiprocess mode, :func:`share_metrics`): a scrape of any console's or the API's ``/metrics`` gives
the totals of all of them, each counter and histogram summed, the queue depth summed over the
running processes. A process starting cleans the directory of the processes no longer running:
their counters and histograms are added into ``counter_archive.db`` / ``histogram_archive.db`` (so
a total never goes down when a process restarts: no false counter reset), their gauges dropped.
A process that never calls :func:`share_metrics` (the tests' in-process servers) counts alone.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import fcntl
import json
import logging
import os
import re
import sys
import threading
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter("sohoa_requests", "HTTP requests answered", ["service", "method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("sohoa_request_seconds", "Time to answer an HTTP request", ["service", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
BATCH_SIZE = Histogram("sohoa_signature_batch_size", "Signatures settled in one batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=REGISTRY)
QUEUE_DEPTH = Gauge("sohoa_signature_queue_depth", "Signatures waiting to be settled", registry=REGISTRY,
                    multiprocess_mode="livesum")
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


#: The metrics made above (their values move to the shared files in :func:`share_metrics`).
_OURS = (REQUESTS, LATENCY, BATCH_SIZE, QUEUE_DEPTH, JOB_RUNS)
#: The directory this process shares its metrics in, once :func:`share_metrics` ran.
_shared: Path | None = None


def share_metrics(directory: Path) -> None:
    """Count this process's metrics in ``directory`` with every other process's (the setting
    ``metrics_dir``; called by ``sohoa serve``, the API's workers and ``sohoa scheduler`` at
    start), after cleaning it of the processes no longer running (:func:`_compact`). Idempotent."""
    global _shared
    directory = Path(directory)
    if _shared == directory:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory):
            _compact(directory)
    except OSError as err:  # not writable here (another user's?): this process counts alone
        logging.getLogger("sohoa.metrics").warning("metrics_dir %s unusable (%s): metrics of this process only",
                                                   directory, err)
        return
    values.ValueClass = _file_values(directory)
    for metric in _OURS:  # made at import: their values from now on in this process's files
        if metric._labelnames:
            metric.clear()
        else:
            metric._metric_init()
    _shared = directory


def _file_values(directory: Path):
    """prometheus_client's value class for multiprocess mode, in ``directory`` (which
    prometheus_client would read from the process environment): one file per process and kind,
    ``<kind>_<pid>.db`` (gauges ``gauge_<mode>_<pid>.db``), the names its collector reads. The
    servers never fork after start (the API's workers are spawned and call
    :func:`share_metrics` themselves)."""
    files: dict[str, MmapedDict] = {}
    lock = threading.Lock()
    pid = os.getpid()

    class FileValue:
        _multiprocess = True

        def __init__(self, typ, metric_name, name, labelnames, labelvalues, help_text, multiprocess_mode="",
                     **_kwargs):
            prefix = f"{typ}_{multiprocess_mode}" if typ == "gauge" else typ
            with lock:
                if prefix not in files:
                    files[prefix] = MmapedDict(str(directory / f"{prefix}_{pid}.db"))
                self._file = files[prefix]
                self._key = mmap_key(metric_name, name, labelnames, labelvalues, help_text)
                self._value, _ = self._file.read_value(self._key)

        def inc(self, amount):
            with lock:
                self._value += amount
                self._file.write_value(self._key, self._value, 0.0)

        def set(self, value, timestamp=None):
            with lock:
                self._value = value
                self._file.write_value(self._key, value, timestamp or 0.0)

        def get(self):
            with lock:
                return self._value

        def set_exemplar(self, _exemplar):
            return None

        def get_exemplar(self):
            return None

    return FileValue


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool = True):
    """One process at a time cleans the directory (several start together), and never while
    another reads it for a scrape (``exclusive=False``: a file merged but not yet removed would
    count twice, one removed mid-scrape would fail it)."""
    handle = os.open(directory / ".lock", os.O_RDONLY | os.O_CREAT, 0o664)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)  # releases the lock


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: running
        return True
    return True


def _files_of_gone_processes(directory: Path, kinds: tuple[str, ...] = ("counter", "histogram", "gauge")):
    """(kind, file) of each metrics file whose process no longer runs (or is this process's pid,
    left by an earlier process that had it)."""
    own = os.getpid()
    for path in sorted(directory.glob("*.db")):
        kind, owner = path.name.split("_", 1)[0], path.stem.rsplit("_", 1)[-1]
        if kind in kinds and owner.isdigit() and (int(owner) == own or not _running(int(owner))):
            yield kind, path


def _compact(directory: Path) -> None:
    """The files of processes no longer running: counters and histograms added into
    ``<kind>_archive.db`` (their totals stay), gauges dropped; then removed."""
    for kind, path in list(_files_of_gone_processes(directory)):
        if kind != "gauge":
            archive = MmapedDict(str(directory / f"{kind}_archive.db"))
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(path)):
                    total, _ = archive.read_value(key)
                    archive.write_value(key, total + value, timestamp)
            finally:
                archive.close()
        path.unlink()


def metrics_text() -> bytes:
    """The Prometheus text of a scrape: every process's totals once :func:`share_metrics` ran,
    else this process's (and the record store's counts, either way)."""
    if _shared is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(_shared))
    registry.register(_store_counters)
    with _locked(_shared, exclusive=False):
        for _, path in list(_files_of_gone_processes(_shared, ("gauge",))):
            if os.getpid() != int(path.stem.rsplit("_", 1)[-1]):  # a gauge of a process gone since
                path.unlink(missing_ok=True)
        return generate_latest(registry)


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
