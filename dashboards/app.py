"""The console: sign-in (our own login handler over core.access.accounts: hashed passwords,
expiring sessions, logout), the overview, signing compliance (drill-down, heatmap, late-signing
distribution), missed lessons (CSV / Excel), weekly closing, certificates, the audit trail,
transcript issuance, the admin actions (``dashboards/admin.py``); the public verification page
is plain HTTP (``dashboards/public.py``). Every page resolves the signed-in user from the
session cookie and passes that actor to core, which scopes the data; nothing here filters or
authorises on its own.

Here: :func:`serve` and the routing. Each page is a component over core in its own module
(``dashboards/overview.py``, ``compliance.py``, ``missed_lessons.py``, ``closing.py``,
``certificates.py``, ``audit.py``, ``issuance.py``, ``teacher.py``; a ``pn.viewable.Viewer``
whose parameters are the user's choices and whose methods are the data), the admin page in
``dashboards/admin.py``.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import panel as pn
from tornado import web

from core.analytics import queries as analytics_queries
from core.logbook import queries as logbook_queries
from core.storage.db import Database
from dashboards import audit, certificates, closing, compliance, issuance, missed_lessons, teacher
from dashboards.common import (  # noqa: F401 - COOKIE, NAV and current_actor are part of this module's API
    COOKIE,
    NAV,
    browser_session,
    current_actor,
    guarded,
)
from dashboards.oidc import oidc_handlers
from dashboards.public import public_handlers
from dashboards.security import LoginHandler, LogoutHandler, header_transform  # noqa: F401 - part of this API

#: The pages that are a component over core (path → its title and its class): each is built for
#: the signed-in user, on that page's record store bound to the sign-in (:func:`view_page`).
VIEWS = {"me": (teacher.TITLE, teacher.TeacherWeek), "compliance": (compliance.TITLE, compliance.Compliance),
         "missed": (missed_lessons.TITLE, missed_lessons.MissedLessons),
         "transcripts": (issuance.TITLE, issuance.Issuance), "closing": (closing.TITLE, closing.Closing),
         "certificates": (certificates.TITLE, certificates.Certificates), "audit": (audit.TITLE, audit.AuditTrail)}


def view_page(title: str, db: Database, view, **options):
    """One console page: ``view(db, actor, **options)`` (a ``pn.viewable.Viewer`` over core) for
    the signed-in user of ``db`` (:func:`dashboards.common.browser_session`), laid out in the
    page frame; the sign-in link without a session, core's refusal for a role the page is not for
    (:func:`dashboards.common.guarded`)."""
    return guarded(title, db, lambda actor: view(db, actor, **options).__panel__())


def serve(db: Database, trust, port: int = 5006, address: str = "127.0.0.1", show: bool = False, *,
          pki_dir: Path | None = None, analytics_store=None, https: bool | None = None, oidc=None, **kwargs):
    """Start the console (blocking unless ``threaded=True`` is passed). ``pki_dir`` is the
    demo PKI's directory: its key store lets a principal unlock their key (PIN) for batch
    signing. ``analytics_store`` (:class:`core.analytics.store.AnalyticsStore`): where the overview's,
    the compliance page's and the transcript issuance page's aggregates run (DuckDB), refreshed
    from the record store when stale; without one they run on the record store. ``https``: the
    console is reached over HTTPS (directly or behind a proxy): Secure cookies and HSTS (default:
    the settings' ``https``). ``oidc`` (:class:`dashboards.oidc.OidcProvider`): sign-in through the
    department's identity provider beside the passwords (default: the settings' ``oidc_issuer``,
    ``oidc_client_id``, ``oidc_client_secret``, ``oidc_scopes`` when an issuer is set).

    Every page is opened on a record store bound to its sign-in
    (:func:`dashboards.common.browser_session`): each load and action re-checks the session in
    core. No cookie and no Cookie header is written into a page (its Bokeh session token), and
    every answer carries the security headers of :mod:`dashboards.security`."""
    from core.kernel import settings
    from core.operations.observability import configure_logging, watch_record_store
    from dashboards.admin import admin_page
    from dashboards.oidc import OidcProvider
    from dashboards.overview import overview_page

    configured = settings.current()
    configure_logging(configured)
    watch_record_store(db)
    https = configured.https if https is None else https
    if oidc is None and configured.oidc_issuer:
        oidc = OidcProvider(issuer=configured.oidc_issuer, client_id=configured.oidc_client_id,
                            client_secret=configured.oidc_client_secret or None,
                            scopes=" ".join(configured.oidc_scopes))
    warming = threading.Thread(target=warm, args=(db, analytics_store), name="console-warm", daemon=True)
    warming.start()
    # what each page's component needs besides the record store and the actor
    options = {"compliance": {"store": analytics_store, "trust": trust}, "transcripts": {"store": analytics_store}}
    builders = {"overview": lambda db: overview_page(db, analytics_store, trust),
                "admin": lambda db: admin_page(db, pki_dir, trust),
                **{path: (lambda db, title=title, view=view, extra=options.get(path, {}):
                          view_page(title, db, view, **extra)) for path, (title, view) in VIEWS.items()}}
    pages = {name: (lambda build=build: build(browser_session(db))) for name, build in builders.items()}
    sso, link = oidc_handlers(db, oidc, https=https)
    # the public check is plain HTTP rendered here, not a Panel page (dashboards/public.py)
    # behind the reverse proxy (deploy/nginx-sohoa.conf): its host in the websocket's allowed
    # origins (settings allowed_hosts, public_url), X-Forwarded-For/-Proto believed when trusted_proxies
    origins = [f"{address}:{port}", f"localhost:{port}", *configured.allowed_hosts]
    if configured.public_url:
        origins.append(configured.public_url.split("://", 1)[-1].split("/", 1)[0])
    kwargs.setdefault("use_xheaders", configured.trusted_proxies > 0)
    kwargs.setdefault("log_function", _log_request)
    server = pn.serve(pages, port=port, address=address, show=show, title="Sổ đầu bài số",
                      extra_patterns=[(r"/login", LoginHandler, {"db": db, "https": https, "providers": link}), *sso,
                                      (r"/logout", LogoutHandler, {"db": db, "https": https}),
                                      (r"/metrics", MetricsHandler),
                                      (r"/", web.RedirectHandler, {"url": "/login"}), *public_handlers(db, trust),
                                      *kwargs.pop("extra_patterns", [])],
                      include_cookies=[], exclude_headers=["Cookie"],
                      transforms=[header_transform(https)], websocket_origin=kwargs.pop("websocket_origin", origins),
                      **kwargs)
    server.warming = warming  # (threaded: the server's thread; serve_in_background waits for both)
    return server


def warm(db: Database, analytics_store=None) -> None:
    """What the console computes once when it starts, in a thread, before the first page asks:
    the rollups shared by every scope (:func:`core.logbook.queries.warm`: the finished class-weeks
    and names; :func:`core.analytics.queries.warm`: the store's per-school rollups) and the module
    Panel imports when it builds its first page (``matplotlib.figure``, 0.4 s). A failure is
    logged: the pages then compute what they need."""
    try:
        import matplotlib.figure  # noqa: F401 - Panel's pane resolution imports it on the first page

        logbook_queries.warm(db)
        if analytics_store is not None:
            analytics_queries.warm(analytics_store)
    except Exception:  # noqa: BLE001 - the pages compute what they need
        logging.getLogger("sohoa.console").exception("warming the shared rollups failed")


class MetricsHandler(web.RequestHandler):
    """``GET /metrics``: Prometheus text (core/operations/observability.py); the reverse proxy
    serves it to the monitoring network only."""

    def get(self):
        from core.operations.observability import CONTENT_TYPE, metrics_text

        self.set_header("Content-Type", CONTENT_TYPE)
        self.write(metrics_text())


def _log_request(handler) -> None:
    """Tornado's log function: each answer in the metrics; errors and slow answers (everything at
    debug level) as a JSON line with the proxy's request id."""
    import logging

    from core.operations.observability import new_request_id, observe

    access = logging.getLogger("sohoa.console.access")
    request = handler.request
    status, seconds = handler.get_status(), request.request_time()
    observe("console", request.method, request.path, status, seconds)
    level = (logging.WARNING if status >= 500 else logging.INFO if status >= 400 or seconds > 1.0
             else logging.DEBUG)
    if access.isEnabledFor(level):
        access.log(level, "request", extra={"request_id": new_request_id(request.headers.get("X-Request-ID")),
                                             "method": request.method, "path": request.path[:200], "status": status,
                                             "seconds": round(seconds, 4), "client": request.remote_ip})


def serve_in_background(db: Database, trust, *, pki_dir: Path | None = None,
                        analytics_store=None, **kwargs) -> tuple[object, str]:
    """Serve the console on a free loopback port from a thread; returns (server, base URL)
    once it answers and has computed what it warms when it starts (:func:`warm`). For tests, the
    screenshots script and the benchmark."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve(db, trust, port=port, threaded=True, pki_dir=pki_dir, analytics_store=analytics_store, **kwargs)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    server.warming.join(600)  # ready as a console started a while before its first visitor
    return server, url


__all__ = ["serve", "serve_in_background", "current_actor", "COOKIE", "NAV"]
