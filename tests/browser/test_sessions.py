"""Sessions that end when they should, in Chromium, through the HTTPS proxy in front of two
console processes (tests/operations/proxied.py, one PostgreSQL database): a page left open loses
its rights as soon as its session is signed out (in another tab), expires, its account is
deactivated, or its monitor is unassigned — the next data load or admin action on that page is
refused with a notice in both languages, and its next page load finds nobody signed in. No
session secret in any page; every page works under the Content-Security-Policy with no violation
reported, and the policy stops an injected inline script; the security headers (HSTS and Secure
cookies with https on, from the console itself, not only from nginx); the login form refuses a
cross-site POST (login CSRF)."""
import http.server
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
from bokeh.util.token import get_token_payload
from sqlalchemy import select, update

from core.access import accounts, admin
from core.access.authz import SYSTEM
from core.demo.synthetic import DEMO_PASSWORD
from core.kernel import clock
from core.kernel.errors import SessionEnded
from core.storage.models import LoginSession, MonitorAssignment, UserAccount
from dashboards.common import NAV
from dashboards.security import COOKIE
from tests.browser.conftest import actor, card, sign_in
from tests.operations.proxied import shared_site


@pytest.fixture(scope="module")
def demo(request, pg_server_url, tmp_path_factory):
    """The demo behind nginx (HTTPS, two console processes): ``url`` is the proxy's."""
    return shared_site(request, pg_server_url, tmp_path_factory)


@pytest.fixture
def page(browser):
    """A fresh Chromium context that trusts the proxy's self-signed certificate; ``page.errors``
    collects the page's errors, ``page.csp`` every message about the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1300, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    page.errors, page.csp = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("console", lambda m: page.csp.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def _opener(demo, *handlers):
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=demo.tls), *handlers)


ENDED = "Phiên đăng nhập đã kết thúc"
ENDED_EN = "The session has ended"
CHANGED = "Vai trò hoặc phạm vi trường của bạn đã thay đổi"


def _session_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


def _user_id(db, username: str) -> int:
    with db.reading() as s:
        return s.scalar(select(UserAccount.id).where(UserAccount.username == username))


def _sign_out_in_another_tab(page, demo, username):
    other = page.context.new_page()  # the same browser: another tab signs out
    other.goto(f"{demo.url}/logout")
    other.wait_for_url("**/login")


def _expire(page, demo, username):
    digest = accounts._digest(_session_token(page))
    with demo.db.transaction() as s:  # eight hours later
        s.execute(update(LoginSession).where(LoginSession.token_hash == digest).values(expires_at=clock.now()))


def _deactivate(page, demo, username):
    accounts.deactivate(demo.db, actor(demo.db, "admin"), username, "Chuyển công tác")


def _unassign(page, demo, username):
    """Every school of the monitor unassigned; returns how to put them back (for the other tests)."""
    monitor = _user_id(demo.db, username)
    with demo.db.reading() as s:
        schools = list(s.scalars(select(MonitorAssignment.school_id).where(
            MonitorAssignment.user_id == monitor, MonitorAssignment.unassigned_at.is_(None))))
    assert schools
    for school_id in schools:
        admin.unassign_monitor(demo.db, actor(demo.db, "so.giamsat"), monitor, school_id, "Thôi phân công")
    return lambda: [admin.assign_monitor(demo.db, SYSTEM, monitor, school_id) for school_id in schools]


#: how a session ends: (the account, what ends it, the notice its open pages show)
ENDINGS = {"sign-out": ("gs.s0001", _sign_out_in_another_tab, ENDED),
           "expiry": ("so.giamsat", _expire, ENDED),
           "deactivation": ("ht.s0002", _deactivate, ENDED),
           "unassignment": ("gs.s0001", _unassign, CHANGED)}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_an_ended_session_stops_the_pages_already_open(page, demo, ending):
    """Two pages open through the proxy (the audit trail, and the admin page's reminders card);
    the session ends; the trail's next data load and the card's next action are refused with the
    notice in both languages, and the next page load finds nobody signed in (an unassigned
    monitor is still signed in, with a new scope)."""
    username, end, notice = ENDINGS[ending]
    sign_in(page, demo.url, username, then="audit")
    page.wait_for_selector("text=Nhật ký thao tác", timeout=60000)
    page.wait_for_selector(".tabulator-row", timeout=60000)
    actions = page.context.new_page()
    actions.goto(f"{demo.url}/admin")
    box = card(actions, "Nhắc giáo viên còn tiết chưa ký")
    restore = end(page, demo, username)
    try:
        page.locator("input[type=text]").first.fill("admin")  # the trail's "who" filter: a data load
        page.locator("input[type=text]").first.press("Enter")
        page.wait_for_selector(f"text={notice}", timeout=60000)
        if notice == ENDED:
            page.wait_for_selector(f"text={ENDED_EN}", timeout=30000)
        box.locator("input[type=checkbox]").check()
        box.locator("button", has_text="Thực hiện").click()
        box.locator(".alert", has_text=f"Không thực hiện được: {notice}").wait_for(timeout=60000)
        if notice == ENDED:
            page.goto(f"{demo.url}/overview")
            page.wait_for_selector("#signed-out", timeout=60000)
    finally:
        if restore:
            restore()
    # nothing refused by the policy but, now and then, a stylesheet Panel made in a callback and
    # pointed at its CDN (a Panel race: its own copy is served here; nothing may come from elsewhere)
    refused = [m for m in page.csp if "https://cdn.holoviz.org/" not in m]
    assert refused == [], "\n".join(refused)


def test_no_session_secret_in_any_page_and_no_policy_violation(page, console):
    sign_in(page, console, "admin")
    token = _session_token(page)
    for path, _ in NAV:
        raw = page.context.request.get(f"{console}/{path}").text()
        page.goto(f"{console}/{path}")
        page.wait_for_load_state("networkidle")
        for html in (raw, page.content()):
            assert token not in html, path
            for bokeh_token in re.findall(r'"token":\s*"([A-Za-z0-9_.-]+)"', html) + \
                    re.findall(r"token=([A-Za-z0-9_.-]{40,})", html):
                payload = json.dumps(get_token_payload(bokeh_token))
                assert token not in payload and COOKIE not in payload, path
        assert "signed-out" not in page.content(), path  # the page did know who is signed in
    # the pages render and work under the Content-Security-Policy: nothing refused, no error
    assert page.csp == [] and page.errors == []


def test_the_policy_stops_an_injected_script(page, console):
    """What an HTML pane showing a hostile value would hold: an ``onerror=`` attribute, a
    ``javascript:`` link and a ``<script>`` added to the page do not run (no 'unsafe-inline');
    the page's own scripts did (it rendered)."""
    sign_in(page, console, "phantich")
    page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=60000)
    page.evaluate("""() => {
        const box = document.createElement('div');
        box.innerHTML = '<img id="x" src="/no-such-image" onerror="window.injected = 1">' +
                        '<a id="j" href="javascript:window.injected = 2">x</a>';
        document.body.appendChild(box);
        const s = document.createElement('script');
        s.textContent = 'window.injected = 3';
        document.body.appendChild(s);
        document.getElementById('j').click();
    }""")
    page.wait_for_timeout(1500)
    assert page.evaluate("() => window.injected") is None
    assert len(page.csp) >= 3, page.csp  # each refusal reported
    assert page.locator("#signed-out").count() == 0


def _headers_and_cookie(opener, url):
    with opener.open(f"{url}/login") as answer:
        return answer.headers, answer.headers["Set-Cookie"], answer.read().decode()


def test_security_headers_and_cookie_flags(demo):
    """Through the proxy: every answer carries the policy (no 'unsafe-inline' script; an HTML
    page's scripts carry that answer's nonce), frame, referrer and sniffing protection, HSTS,
    and Secure cookies. The console processes (https on) send HSTS and Secure cookies themselves,
    not only nginx; a console with https off sends neither (it is not reached over HTTPS)."""
    from dashboards.app import serve_in_background

    opener = _opener(demo)
    for path in ("/login", "/overview", "/verify"):
        with opener.open(f"{demo.url}{path}") as answer:
            policy, body = answer.headers["Content-Security-Policy"], answer.read().decode()
            scripts = re.search(r"script-src ([^;]*)", policy)
            assert scripts is None or "'unsafe-inline'" not in scripts[1], path  # /verify: no script at all
            assert "frame-ancestors 'none'" in policy and ("object-src 'none'" in policy or "default-src 'none'" in policy)
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            if path == "/overview":  # a Panel page: its scripts carry the nonce of this answer
                nonce = re.search(r"'nonce-([^']+)'", policy)[1]
                tags = re.findall(r"<script\b[^>]*>", body)
                assert tags and all(f'nonce="{nonce}"' in tag for tag in tags)
    for url in (demo.url, f"http://127.0.0.1:{demo.consoles[0]}"):  # the proxy, one console itself
        headers, cookie, form = _headers_and_cookie(opener, url)
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000"), url
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie, url
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)[1]
    signing_in = urllib.request.Request(f"http://127.0.0.1:{demo.consoles[0]}/login", data=urllib.parse.urlencode(
        {"username": "phantich", "password": DEMO_PASSWORD, "csrf": csrf}).encode(),
        headers={"Cookie": cookie.split(";")[0]})
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(_NoRedirect).open(signing_in)
    assert redirect.value.code == 302
    session = [c for c in redirect.value.headers.get_all("Set-Cookie") if c.startswith(COOKIE)][0]
    assert "Secure" in session and "HttpOnly" in session and "SameSite=Strict" in session
    server, plain = serve_in_background(demo.db, demo.trust, https=False)
    try:
        headers, cookie, _ = _headers_and_cookie(urllib.request.build_opener(), plain)
        assert headers["Strict-Transport-Security"] is None and "Secure" not in cookie
        assert "HttpOnly" in cookie and headers["X-Frame-Options"] == "DENY"
    finally:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_cross_site_post_to_login_does_not_sign_the_visitor_in(page, console):
    """Another site (here ``localhost``, another site than ``127.0.0.1``) posts the login form
    with its own account's password: the console refuses it and no session cookie is set."""
    form = (f'<form id="f" method="post" action="{console}/login"><input name="username" value="phantich">'
            f'<input name="password" value="{DEMO_PASSWORD}"><input name="csrf" value="guessed"></form>'
            '<script>document.getElementById("f").submit()</script>').encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(form)

        def log_message(self, *args):
            pass

    attacker = http.server.HTTPServer(("127.0.0.1", _free_port()), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
            page.goto(f"http://localhost:{attacker.server_port}/")
        assert answer.value.status == 403
        page.wait_for_selector("text=gửi từ trang khác", timeout=30000)
        assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
        page.goto(f"{console}/overview")
        page.wait_for_selector("#signed-out", timeout=30000)
    finally:
        attacker.shutdown()


def test_the_login_form_refuses_a_post_without_its_token_or_from_another_origin(demo):
    console = demo.url
    with _opener(demo).open(f"{console}/login") as answer:
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode())[1]
    body = {"username": "phantich", "password": DEMO_PASSWORD}
    for fields, headers in (({**body}, {"Cookie": cookie}),                          # no token
                            ({**body, "csrf": csrf}, {}),                           # no cookie
                            ({**body, "csrf": csrf}, {"Cookie": cookie, "Origin": "http://evil.example"})):
        request = urllib.request.Request(f"{console}/login", data=urllib.parse.urlencode(fields).encode(),
                                         headers=headers)
        try:
            _opener(demo, _NoRedirect).open(request)
            raise AssertionError("refused")
        except urllib.error.HTTPError as refused:
            assert refused.code == 403, (fields.keys(), headers)
            assert not any(c.startswith(COOKIE) for c in refused.headers.get_all("Set-Cookie") or [])


def test_the_session_check_is_in_core(demo):
    """The same refusals without a browser: core's session check on a record store."""
    token = accounts.sign_in(demo.db, "ht.s0001", DEMO_PASSWORD)
    who = accounts.actor_for_token(demo.db, token)
    bound = demo.db.checked(accounts.session_check(token, who))
    with bound.reading():
        pass
    accounts.sign_out(demo.db, token)
    try:
        with bound.reading():
            raise AssertionError("refused before the read")
    except SessionEnded as err:
        assert err.status == 401 and ENDED in err.message_vi
