"""The installation's settings (cấu hình): one frozen object, read in one place.

Where a value comes from, last one wins:

1. the default below;
2. the settings file, TOML, flat ``name = value`` (the field names below): the path in
   ``SOHOA_CONFIG`` or ``--config``, else ``/etc/sohoa/sohoa.toml`` when it exists;
3. the environment: ``SOHOA_<NAME>`` (upper case), e.g. ``SOHOA_DATABASE_URL``,
   ``SOHOA_CONSOLE_PORT``; lists are comma-separated, booleans ``on``/``off`` (or
   ``true``/``false``, ``1``/``0``).

Nothing depends on the working directory: ``data_dir`` (the embedded database, the demo PKI,
the analytics store, the checkpoints) defaults to the source checkout's ``var/`` when the
product runs from one (the demo of the README), else to ``$XDG_DATA_HOME/sohoa``
(``~/.local/share/sohoa``); a relative path in the file is relative to the file, in the
environment to nothing (refused). Every other path defaults to a place inside ``data_dir``.

The process reads :func:`current` (cached while the file's path and the ``SOHOA_*``
environment stay the same); the command line builds its object with :func:`load` and hands it
on with :func:`configure` (never by changing ``os.environ``); a child process started by
uvicorn receives it pickled (``api.app.ServerConfig``). ``docs/operations.md`` lists every
setting.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import tomllib
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.kernel.errors import BadRequest

PREFIX = "SOHOA_"
#: The settings file's path (not itself a setting).
CONFIG_VARIABLE = "SOHOA_CONFIG"
SYSTEM_FILE = Path("/etc/sohoa/sohoa.toml")
_CHECKOUT = Path(__file__).resolve().parents[2]


def default_data_dir() -> Path:
    """The source checkout's ``var/`` (``pyproject.toml`` beside ``core/``), else the user's
    data directory: never the working directory."""
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "core").is_dir():
        return _CHECKOUT / "var"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sohoa"


@dataclass(frozen=True)
class Settings:
    """Every setting of an installation. ``None`` or an empty string means "not set"."""

    # where things are
    data_dir: Path = field(default_factory=default_data_dir)
    #: the record store; empty: the embedded file ``<data_dir>/sohoa.db``
    database_url: str = ""
    #: the owner role's URL, for ``sohoa init`` only (docs/operations.md)
    migration_database_url: str = ""
    #: the PKI directory (its ``anchors/`` are the trust anchors the servers read); default
    #: ``<data_dir>/pki`` (``<data_dir>/pki-<database>`` for a PostgreSQL database)
    pki_dir: Path | None = None
    #: the analytics store (DuckDB over Parquet); default ``<data_dir>/analytics[-<database>]``
    analytics_dir: Path | None = None
    #: the checkpoint store; the servers write checkpoints only when it is set; the commands
    #: default to ``<data_dir>/checkpoints``
    checkpoint_dir: Path | None = None
    checkpoint_interval: float = 3600.0
    #: where the servers and the scheduler keep their metrics (one file per process and kind),
    #: so that a scrape of any process totals them all; default ``<data_dir>/metrics[-<database>]``
    metrics_dir: Path | None = None

    # the servers
    console_host: str = "127.0.0.1"
    console_port: int = 5006
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 0
    #: the demo PKI's CRL / OCSP / timestamp responder (``sohoa pki serve``)
    pki_port: int = 8790
    #: the address people reach the console at (the QR codes on transcripts, the links in mails)
    public_url: str = ""
    #: extra Host values the console's websocket accepts (the reverse proxy's name)
    allowed_hosts: tuple[str, ...] = ()
    #: how many proxies in front of the servers set X-Forwarded-For / -Proto (0: none trusted)
    trusted_proxies: int = 0
    #: HTTPS in front (a reverse proxy): Secure cookies, HSTS
    https: bool = False
    log_format: str = "json"
    log_level: str = "info"

    # signatures
    #: the timestamp authority (RFC 3161); unset: the one the trust anchors publish; empty: none
    #: (signatures are then PAdES B-B, their time the server's receipt)
    tsa_url: str | None = None
    #: the CRL / OCSP responder; empty: the one the trust anchors publish
    ocsp_url: str = ""
    seal_key: Path | None = None
    seal_pin: str | None = None
    seal_fingerprint: tuple[str, ...] = ()
    school_seal_pin: str | None = None
    #: ``off``, ``demo`` or ``protected`` (core/signatures/held_keys.py)
    server_held_keys: str = "off"
    key_pepper_file: Path | None = None
    csc_url: str = ""
    csc_token: str = ""
    csc_credential: str = "staff-{staff_id}"

    # the signing API's batching and receipts
    api_batch_window_ms: float = 4.0
    receipts: bool = True
    seal_interval_ms: float = 1000.0

    # sign-in through the department's identity provider (OpenID Connect); empty: local passwords only
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: tuple[str, ...] = ("openid", "email", "profile")

    # mail
    smtp_host: str = ""
    smtp_port: int = 25
    mail_from: str = "sohoa@localhost"

    #: a shift of the product's clock, to replay a demo school day (0 in production)
    clock_offset_seconds: float = 0.0

    #: the settings file this object was read from, if any
    config_file: Path | None = None

    # ------------------------------------------------------------------ derived places
    @property
    def instance(self) -> str:
        """"" for the embedded database, else ``-<database name>``: keeps a PostgreSQL demo's
        PKI and analytics apart from the embedded demo's."""
        if not self.database_url or self.database_url.startswith("sqlite"):
            return ""
        name = self.database_url.rsplit("/", 1)[-1].split("?", 1)[0]
        return "-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)

    @property
    def database_file(self) -> Path:
        return self.data_dir / "sohoa.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.database_file}"

    @property
    def effective_pki_dir(self) -> Path:
        return self.pki_dir or self.data_dir / f"pki{self.instance}"

    @property
    def effective_analytics_dir(self) -> Path:
        return self.analytics_dir or self.data_dir / f"analytics{self.instance}"

    @property
    def effective_checkpoint_dir(self) -> Path:
        return self.checkpoint_dir or self.data_dir / f"checkpoints{self.instance}"

    @property
    def effective_metrics_dir(self) -> Path:
        return self.metrics_dir or self.data_dir / f"metrics{self.instance}"

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.console_host}:{self.console_port}").rstrip("/")

    def replace(self, **changes) -> Settings:
        """A copy with ``changes`` (a command line option over the file and the environment)."""
        return dataclasses.replace(self, **{k: _convert(_field(k), v, Path.cwd()) for k, v in changes.items()})

    def describe(self) -> list[tuple[str, str]]:
        """Each setting and its value as ``sohoa settings`` prints it (secrets hidden)."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value and f.name in SECRETS:
                value = "***"
            rows.append((f.name, ",".join(value) if isinstance(value, tuple) else "" if value is None else str(value)))
        return rows


#: Never printed.
SECRETS = frozenset({"seal_pin", "school_seal_pin", "csc_token", "oidc_client_secret"})
_FIELDS = {f.name: f for f in fields(Settings)}
_NOT_FROM_OUTSIDE = {"config_file"}


def _field(name: str):
    if name not in _FIELDS or name in _NOT_FROM_OUTSIDE:
        raise BadRequest(f"unknown setting {name!r}", message_vi=f"Không có mục cấu hình {name!r}")
    return _FIELDS[name]


def _convert(f, value, base: Path | None):
    """A value from the file (typed TOML) or the environment (a string) as the field's type."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    name = f.name
    try:
        if value is None:
            return None
        if "Path" in kind:
            if value == "":
                return None
            path = Path(os.path.expanduser(str(value)))
            if not path.is_absolute():
                if base is None:
                    raise ValueError("a path must be absolute here")
                path = base / path
            return path
        if kind.startswith("tuple"):
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return tuple(str(i).strip() for i in items if str(i).strip())
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("on", "true", "1", "yes"):
                return True
            if text in ("off", "false", "0", "no"):
                return False
            raise ValueError("on or off")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("a number")
            number = int(str(value).strip())
            if name.endswith("_port") and not 0 <= number <= 65535:
                raise ValueError("a port is 0 to 65535")
            return number
        if kind == "float":
            return float(str(value).strip() or 0)
        return "" if value is None else str(value)
    except ValueError as err:
        raise BadRequest(f"setting {name} ({PREFIX}{name.upper()}): {value!r} is not valid ({err})",
                         message_vi=f"Mục cấu hình {name} ({PREFIX}{name.upper()}) không hợp lệ: {value!r}") from err


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_VARIABLE)
    if named:
        return Path(named)
    return SYSTEM_FILE if SYSTEM_FILE.is_file() else None


def load(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the file ``path`` (default :func:`config_path`) and then ``environ``
    (default ``os.environ``: its ``SOHOA_*`` variables). An unknown key in the file, or a value
    of the wrong kind anywhere, is refused with the setting's name."""
    environ = os.environ if environ is None else environ
    path = Path(path) if path else config_path(environ)
    values: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise BadRequest(f"no settings file {path}", message_vi=f"Không có tệp cấu hình {path}") from err
        except tomllib.TOMLDecodeError as err:
            raise BadRequest(f"settings file {path}: {err}", message_vi=f"Tệp cấu hình {path} sai cú pháp: {err}") from err
        base = Path(path).resolve().parent
        for key, value in data.items():
            values[key] = _convert(_field(key), value, base)
        values["config_file"] = Path(path)
    for name, f in _FIELDS.items():
        if name in _NOT_FROM_OUTSIDE:
            continue
        raw = environ.get(PREFIX + name.upper())
        if raw is None or (raw == "" and "str" not in str(f.type) and "tuple" not in str(f.type)):
            continue  # an empty number, path or switch: the default
        values[name] = _convert(f, raw, None)
    return Settings(**values)


_lock = threading.Lock()
_configured: Settings | None = None
_cache: tuple[tuple, Settings] | None = None


def _environment_key() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))


def current() -> Settings:
    """This process's settings: what :func:`configure` set, else :func:`load` (read again only
    when the ``SOHOA_*`` environment changed)."""
    global _cache
    if _configured is not None:
        return _configured
    key = _environment_key()
    cached = _cache
    if cached is not None and cached[0] == key:
        return cached[1]
    with _lock:
        settings = load()
        _cache = (key, settings)
        return settings


def configure(settings: Settings | None) -> None:
    """Make ``settings`` this process's (the command line, a server's worker); None: read
    them from the file and the environment again."""
    global _configured, _cache
    _configured, _cache = settings, None


@contextmanager
def overridden(**changes):
    """The current settings with ``changes`` for the duration (tests, benchmarks)."""
    before = _configured
    configure(current().replace(**changes))
    try:
        yield current()
    finally:
        configure(before)
