"""Sessions that end when they should, in Chromium: a page left open loses its rights as soon as
its session is signed out (in another tab), expires, its account is deactivated, or its monitor
is unassigned — the next data load or admin action on that page is refused with a notice in
both languages. No session secret in any page; the security headers; the login form refuses a
cross-site POST (login CSRF)."""
import http.server
import json
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

from bokeh.util.token import get_token_payload
from sqlalchemy import select, update

from core.access import accounts, admin
from core.access.authz import SYSTEM
from core.demo.synthetic import DEMO_PASSWORD
from core.kernel import clock
from core.kernel.errors import SessionEnded
from core.storage.models import LoginSession, MonitorAssignment, UserAccount
from dashboards.common import NAV
from dashboards.security import COOKIE, CSP
from tests.browser.conftest import actor, card, sign_in

ENDED = "Phiên đăng nhập đã kết thúc"
ENDED_EN = "The session has ended"
CHANGED = "Vai trò hoặc phạm vi trường của bạn đã thay đổi"


def _session_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


def _open_compliance(page, console):
    page.goto(f"{console}/compliance")
    page.wait_for_selector(".tabulator-row", timeout=30000)
    return page.locator("select").first


def _reload_table(select):
    """A data load: pick another school in the compliance page's box."""
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("s => s.options[s.selectedIndex].text")
    select.select_option(label=next(o for o in options if o != current))


def _user_id(db, username: str) -> int:
    with db.reading() as s:
        return s.scalar(select(UserAccount.id).where(UserAccount.username == username))


def test_signing_out_in_another_tab_stops_the_open_page(page, console):
    sign_in(page, console, "phong.1")
    school = _open_compliance(page, console)
    other = page.context.new_page()  # the same browser: another tab signs out
    other.goto(f"{console}/logout")
    other.wait_for_url("**/login")
    _reload_table(school)
    page.wait_for_selector(f"text={ENDED}", timeout=30000)
    page.wait_for_selector(f"text={ENDED_EN}", timeout=30000)


def test_an_admin_action_on_an_open_page_is_refused_after_sign_out(page, console):
    sign_in(page, console, "gs.s0001", then="admin")
    box = card(page, "Nhắc giáo viên còn tiết chưa ký")
    other = page.context.new_page()
    other.goto(f"{console}/logout")
    other.wait_for_url("**/login")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Thực hiện").click()
    box.locator(".alert", has_text=f"Không thực hiện được: {ENDED}").wait_for(timeout=30000)
    page.wait_for_selector(f"text={ENDED_EN}", timeout=30000)


def test_an_expired_session_stops_the_open_page(page, demo):
    sign_in(page, demo.url, "so.giamsat")
    school = _open_compliance(page, demo.url)
    digest = accounts._digest(_session_token(page))
    with demo.db.transaction() as s:  # eight hours later
        s.execute(update(LoginSession).where(LoginSession.token_hash == digest).values(expires_at=clock.now()))
    _reload_table(school)
    page.wait_for_selector(f"text={ENDED}", timeout=30000)


def test_deactivating_the_account_stops_its_open_pages(page, demo):
    sign_in(page, demo.url, "ht.s0002")
    school = _open_compliance(page, demo.url)
    accounts.deactivate(demo.db, actor(demo.db, "admin"), "ht.s0002", "Chuyển công tác")
    _reload_table(school)
    page.wait_for_selector(f"text={ENDED}", timeout=30000)
    page.goto(f"{demo.url}/overview")
    page.wait_for_selector("#signed-out", timeout=30000)


def test_unassigning_a_monitor_stops_the_page_they_have_open(page, demo):
    sign_in(page, demo.url, "gs.s0001", then="audit")
    page.wait_for_selector("text=Nhật ký thao tác", timeout=30000)
    page.wait_for_selector(".tabulator-row", timeout=30000)
    monitor = _user_id(demo.db, "gs.s0001")
    with demo.db.reading() as s:
        schools = list(s.scalars(select(MonitorAssignment.school_id).where(
            MonitorAssignment.user_id == monitor, MonitorAssignment.unassigned_at.is_(None))))
    for school_id in schools:
        admin.unassign_monitor(demo.db, actor(demo.db, "so.giamsat"), monitor, school_id, "Thôi phân công")
    page.locator("input[type=text]").first.fill("admin")  # the audit trail's "who" filter: a data load
    page.locator("input[type=text]").first.press("Enter")
    page.wait_for_selector(f"text={CHANGED}", timeout=30000)
    for school_id in schools:  # as it was, for the other tests
        admin.assign_monitor(demo.db, SYSTEM, monitor, school_id)


def test_no_session_secret_in_any_page(page, console):
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
    assert page.errors == []  # the pages work under the Content-Security-Policy


def test_security_headers_and_cookie_flags(console):
    for path in ("/login", "/overview", "/verify"):
        with urllib.request.urlopen(f"{console}{path}") as answer:
            policy = answer.headers["Content-Security-Policy"]  # the public check sets a stricter one
            assert policy == CSP or path == "/verify"
            assert "frame-ancestors 'none'" in policy
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["Referrer-Policy"] in ("same-origin", "no-referrer")
            assert answer.headers["Strict-Transport-Security"] is None  # HTTPS is off here
    with urllib.request.urlopen(f"{console}/login") as answer:
        cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_with_https_on_cookies_are_secure_and_hsts_is_sent(demo):
    from dashboards.app import serve_in_background

    server, url = serve_in_background(demo.db, demo.trust, https=True)
    try:
        with urllib.request.urlopen(f"{url}/login") as answer:
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            cookie = answer.headers["Set-Cookie"]
            csrf = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode())[1]
        assert "Secure" in cookie and "HttpOnly" in cookie
        request = urllib.request.Request(f"{url}/login", data=urllib.parse.urlencode(
            {"username": "phantich", "password": DEMO_PASSWORD, "csrf": csrf}).encode(),
            headers={"Cookie": cookie.split(";")[0]})
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request)
            raise AssertionError("a signed-in user is redirected")
        except urllib.error.HTTPError as redirect:
            assert redirect.code == 302
            session = [c for c in redirect.headers.get_all("Set-Cookie") if c.startswith(COOKIE)][0]
        assert "Secure" in session and "HttpOnly" in session and "SameSite=Strict" in session
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


def test_the_login_form_refuses_a_post_without_its_token_or_from_another_origin(console):
    with urllib.request.urlopen(f"{console}/login") as answer:
        cookie = answer.headers["Set-Cookie"].split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', answer.read().decode())[1]
    body = {"username": "phantich", "password": DEMO_PASSWORD}
    for fields, headers in (({**body}, {"Cookie": cookie}),                          # no token
                            ({**body, "csrf": csrf}, {}),                           # no cookie
                            ({**body, "csrf": csrf}, {"Cookie": cookie, "Origin": "http://evil.example"})):
        request = urllib.request.Request(f"{console}/login", data=urllib.parse.urlencode(fields).encode(),
                                         headers=headers)
        try:
            urllib.request.build_opener(_NoRedirect).open(request)
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
