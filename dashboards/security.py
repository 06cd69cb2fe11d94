"""The console's HTTP plumbing for sign-in and sessions: the login and logout handlers, the
session cookie, the login form's CSRF token, and the security headers every answer carries.

- The session cookie (``sohoa_session``) is HttpOnly and SameSite=Strict, and Secure when the
  console is served over HTTPS (``serve(https=True)``); it is never written into a page: the
  console leaves every cookie and the Cookie header out of the page's Bokeh session token
  (``include_cookies=[]``, ``exclude_headers=["Cookie"]``) and reads the session from the HTTP
  request that opened the page (:func:`request_cookie`).
- The login form carries a CSRF token bound to a cookie of its own (double submit) and a
  cross-site Origin is refused, so another site cannot sign a visitor in to an account of its
  choosing (login CSRF).
- Every answer: a Content-Security-Policy (scripts, styles, connections only from the console
  itself; no inline script but the page's own, by a nonce fresh for each answer;
  ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``, ``Referrer-Policy:
  same-origin``, ``X-Content-Type-Options: nosniff``; over HTTPS also
  ``Strict-Transport-Security``. What the policy still allows and why: docs/console.md.

Deciding who may sign in and what a session may do is core's (:mod:`core.access.accounts`).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import re
import secrets
from urllib.parse import urlsplit

import panel as pn
from tornado import web
from tornado.web import OutputTransform

from core.access import accounts
from core.kernel.errors import SohoaError, TooManyAttempts
from core.storage.db import Database

COOKIE = "sohoa_session"
CSRF_COOKIE = "sohoa_login_csrf"
#: Everything from the console's own origin only; nothing may be loaded from elsewhere, nothing
#: may frame the console, forms post only to it. Scripts (``{scripts}``, filled in per answer by
#: :func:`policy_for`): the console's files, the ``<script>`` elements of the page being
#: answered by that answer's nonce (:func:`with_nonce`), the one inline click handler the
#: console writes by its hash (:func:`handler_hashes`) — no ``'unsafe-inline'``, so an injected
#: ``<script>``, ``onerror=`` attribute or ``javascript:`` link does not run. Still allowed, because
#: Panel 1.9 and Bokeh 3.9 need them (docs/console.md): ``'unsafe-eval'`` (Panel compiles its page
#: template's actions, ``TemplateActions``, a ReactiveHTML, and a widget's ``jscallback``, Bokeh's
#: ``CustomJS``, with ``new Function``) and inline styles (Bokeh and Panel style their widgets
#: with ``<style>`` elements and ``style`` attributes; CSS runs no script).
CSP = ("default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self'; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SCRIPTS = "'self' 'unsafe-eval'"
HSTS = "max-age=31536000; includeSubDomains"
_SCRIPT_TAG = re.compile(rb"<script\b", re.I)


@functools.cache
def handler_hashes() -> tuple[str, ...]:
    """The hash sources of the inline event handlers the console writes itself: the overview's
    in-place links (:data:`dashboards.overview.GO`, one constant text). Nothing else written into
    an ``on…=`` attribute runs."""
    from dashboards.overview import GO

    return (f"'sha256-{base64.b64encode(hashlib.sha256(GO.encode()).digest()).decode()}'",)


def policy_for(nonce: str | None = None) -> str:
    """The Content-Security-Policy of an answer; with ``nonce``, of an HTML page whose
    ``<script>`` elements carry it."""
    scripts = SCRIPTS
    if nonce:
        scripts += f" 'nonce-{nonce}' 'unsafe-hashes' " + " ".join(handler_hashes())
    return CSP.format(scripts=scripts)


def with_nonce(page: bytes, nonce: str) -> bytes:
    """``page`` with ``nonce`` on each of its ``<script>`` elements.

    Only pages the console writes itself pass here, and none carries a value a user typed:
    Panel's server pages hold Bokeh's and Panel's own bootstrap code and the page's session
    token (the content arrives over the page's websocket and is drawn by the browser); the
    login and public pages hold no script. Scripts the page's own scripts add later take the
    nonce from it (es-module-shims reads it from the first ``<script nonce>``)."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"'.encode(), page)


def security_headers(https: bool) -> dict[str, str]:
    """The headers every answer of the console carries (the policy of an answer that is not an
    HTML page: no inline script at all)."""
    headers = {"Content-Security-Policy": policy_for(), "X-Frame-Options": "DENY",
               "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def header_transform(https: bool):
    """A Tornado output transform adding :func:`security_headers` to every answer (the pages,
    their static files, the login and the public check), for ``Application(transforms=…)``. An
    HTML page answered in one piece, with no policy of its own, gets a fresh nonce on its scripts
    and in its policy (:func:`with_nonce`); a page sent in pieces would get none, and its inline
    scripts would not run (seen at once, never silently allowed)."""
    extra = security_headers(https)

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            if ("Content-Security-Policy" not in headers and finishing and chunk
                    and headers.get("Content-Type", "").startswith("text/html")
                    and not headers.get("Content-Encoding")):
                nonce = secrets.token_urlsafe(18)
                chunk = with_nonce(chunk, nonce)
                headers["Content-Security-Policy"] = policy_for(nonce)
                if "Content-Length" in headers:
                    headers["Content-Length"] = str(len(chunk))
            for name, value in extra.items():
                if name not in headers:
                    headers[name] = value
            return status_code, headers, chunk

    return SecurityHeaders


def cookie_options(https: bool) -> dict:
    return {"httponly": True, "samesite": "Strict", "secure": https, "path": "/"}


def request_cookie(name: str) -> str | None:
    """A cookie of the HTTP request that opened this page (not the copy Bokeh may write into
    the page's session token: the console writes none there)."""
    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    request = getattr(context, "request", None)
    raw = getattr(request, "_request", None)  # Bokeh's _RequestProxy wraps Tornado's request
    cookies = getattr(raw, "cookies", None) or {}
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else None


LOGIN_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Đăng nhập — Sổ đầu bài số</title>
<style>body{{font-family:'DejaVu Sans',sans-serif;background:#f3f6fa;display:flex;justify-content:center;padding-top:8em}}
form{{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002;width:22em}}
input{{width:100%;margin:.4em 0 1em;padding:.5em}} button{{padding:.6em 1.4em}} .err{{color:#b00020}}</style></head>
<body><form method="post" action="/login"><h2>Sổ đầu bài số &amp; Học bạ số</h2>
<p class="err" id="error">{error}</p><input type="hidden" name="csrf" value="{csrf}">
<label>Tên đăng nhập<input name="username" id="username" autofocus></label>
<label>Mật khẩu<input name="password" id="password" type="password"></label>
<button type="submit" id="signin">Đăng nhập</button>{providers}
<p><a href="/verify">Tra cứu, xác thực học bạ (không cần đăng nhập)</a></p></form></body></html>"""
CSRF_REFUSED = ("Phiên biểu mẫu đăng nhập không hợp lệ hoặc gửi từ trang khác; hãy tải lại trang đăng nhập. "
                "(The sign-in form was not sent from this site's login page; reload the page.)")


class LoginHandler(web.RequestHandler):
    """``/login``: the form (GET) and the password check (POST) through
    :func:`core.access.accounts.sign_in`. ``providers``: links to sign in through the
    department's identity provider (OIDC), shown under the form."""

    def initialize(self, db: Database, https: bool = False, providers: str = ""):
        self.db, self.https, self.providers = db, https, providers

    def _form(self, error: str = "") -> None:
        token = secrets.token_urlsafe(32)
        self.set_cookie(CSRF_COOKIE, token, **cookie_options(self.https))
        self.set_header("Cache-Control", "no-store")
        self.write(LOGIN_PAGE.format(error=error, csrf=token, providers=self.providers))

    def get(self):
        self._form()

    def _same_site(self) -> bool:
        """The form comes from this site: its CSRF field matches its cookie (another site can
        read neither), and an Origin header, when the browser sends one, names this host (any
        port: behind a proxy the console may not see the port the browser used)."""
        origin = self.request.headers.get("Origin")
        if origin is not None and (origin == "null" or urlsplit(origin).hostname != self.request.host_name):
            return False
        sent, expected = self.get_body_argument("csrf", ""), self.get_cookie(CSRF_COOKIE) or ""
        return bool(sent) and bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())

    def post(self):
        if not self._same_site():
            self.set_status(403)
            return self._form(html.escape(CSRF_REFUSED))
        try:
            token = accounts.sign_in(self.db, self.get_body_argument("username", ""),
                                     self.get_body_argument("password", ""), client=self.request.remote_ip)
        except SohoaError as err:  # wrong user name or password (401), or too many tries (429)
            self.set_status(err.status if isinstance(err, TooManyAttempts) else 401)
            if isinstance(err, TooManyAttempts):
                self.set_header("Retry-After", str(err.retry_after))
            return self._form(html.escape(f"{err.message_vi} ({err.message})"))
        self.sign_in_with(token)

    def sign_in_with(self, token: str) -> None:
        self.set_cookie(COOKIE, token, **cookie_options(self.https))
        self.redirect("/overview")


class LogoutHandler(web.RequestHandler):
    """``/logout``: ends the session in core (every page left open stops with it) and drops the
    cookie. A cross-site link cannot sign anyone out: the SameSite=Strict cookie is not sent."""

    def initialize(self, db: Database, https: bool = False):
        self.db, self.https = db, https

    def get(self):
        token = self.get_cookie(COOKIE)
        if token:
            accounts.sign_out(self.db, token)
        self.clear_cookie(COOKIE, path="/")
        self.redirect("/login")
