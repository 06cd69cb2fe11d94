"""Served as in production (tests/operations/proxied.py: Debian's nginx on loopback with a
self-signed certificate and deploy/nginx-sohoa.conf, in front of two console processes and the
API, all on one PostgreSQL database). HTTPS only (HTTP redirects), HSTS, every cookie Secure, the
console's websocket upgraded through the proxy, a session opened through one process honoured by
the other, request ids shared by nginx's log and the API, one scrape of the metrics totalling
every process, and Chromium signing in and using the console through the proxy (the session
items through the proxy: tests/browser/test_sessions.py). The deploy files are checked by their
tools (``nginx -t``, ``systemd-analyze verify``)."""
from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from core.demo.synthetic import DEMO_PASSWORD
from tests.browser.conftest import ARGS, CHROMIUM
from tests.operations.proxied import DEPLOY, NGINX, nginx_conf, request, self_signed, shared_site


@pytest.fixture(scope="module")
def site(request, pg_server_url, tmp_path_factory):
    return shared_site(request, pg_server_url, tmp_path_factory)


def sign_in_through(site, username="so.giamsat") -> tuple[str, str]:
    """POST the login form through nginx (with the form's CSRF token and its cookie,
    dashboards/security.py): the Set-Cookie header and the cookie pair."""
    form, page = request(site.https, "GET", "/login", tls=site.tls)
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page)[1].decode()
    body = urllib.parse.urlencode({"username": username, "password": DEMO_PASSWORD, "csrf": csrf})
    response, _ = request(site.https, "POST", "/login", body=body, tls=site.tls,
                          headers={"Content-Type": "application/x-www-form-urlencoded",
                                   "Cookie": form.getheader("Set-Cookie").split(";", 1)[0],
                                   "Origin": f"https://127.0.0.1:{site.https}",
                                   "Referer": f"https://127.0.0.1:{site.https}/login"})
    assert response.status in (302, 303), (response.status, _[:3000])
    set_cookie = response.getheader("Set-Cookie")
    assert set_cookie and set_cookie.startswith("sohoa_session=")
    return set_cookie, set_cookie.split(";", 1)[0]


def test_https_only_with_hsts_and_secure_cookies(site):
    redirect, _ = request(site.http, "GET", "/login?next=x")
    assert redirect.status == 301 and redirect.getheader("Location") == "https://127.0.0.1/login?next=x"
    page, body = request(site.https, "GET", "/login", tls=site.tls)
    assert page.status == 200 and b"password" in body
    assert page.getheader("Strict-Transport-Security").startswith("max-age=31536000")
    assert len(page.headers.get_all("Strict-Transport-Security")) == 1  # not the console's and nginx's
    set_cookie, _ = sign_in_through(site)
    attributes = {a.strip().lower() for a in set_cookie.split(";")[1:]}
    assert "secure" in attributes and "httponly" in attributes, set_cookie
    with pytest.raises(ssl.SSLError):  # and only with a certificate the client trusts
        request(site.https, "GET", "/login", tls=ssl.create_default_context())


def test_a_session_opened_through_one_console_process_works_on_the_other(site):
    """Signed in through the proxy (whichever process took it), the same session cookie opens the
    overview on each console process directly, in Chromium: the sessions are PostgreSQL's."""
    from playwright.sync_api import sync_playwright

    _, cookie = sign_in_through(site)
    value = cookie.split("=", 1)[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for port in site.consoles:
                context = browser.new_context(viewport={"width": 1300, "height": 900})
                context.add_cookies([{"name": "sohoa_session", "value": value, "url": f"http://127.0.0.1:{port}"}])
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/overview")
                page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=60000)
                assert page.locator("#signed-out").count() == 0
                context.close()
            anonymous = browser.new_context().new_page()
            anonymous.goto(f"http://127.0.0.1:{site.consoles[1]}/overview")
            anonymous.wait_for_selector("#signed-out", timeout=60000)
        finally:
            browser.close()


def test_request_ids_join_nginx_and_the_api_and_metrics_are_served(site):
    response, body = request(site.https, "GET", "/api/v1/health", tls=site.tls)
    assert response.status == 200, body
    rid = response.getheader("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    time.sleep(0.5)  # nginx writes its access log line after answering
    log = (site.prefix / "logs" / "sohoa.access.log").read_text()
    assert f"rid={rid}" in log and '"GET /api/v1/health HTTP/' in log
    metrics, text = request(site.https, "GET", "/metrics", tls=site.tls)
    assert metrics.status == 200 and b'service="console"' in text and b"sohoa_request_seconds_bucket" in text
    assert b"sohoa_sign_ins_total" in text


def test_chromium_signs_in_and_uses_the_console_through_the_proxy(site):
    from playwright.sync_api import sync_playwright

    base = f"https://127.0.0.1:{site.https}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(ignore_https_errors=True, viewport={"width": 1300, "height": 900})
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/login")
            page.fill("#username", "so.giamsat")
            page.fill("#password", DEMO_PASSWORD)
            page.click("#signin")
            page.wait_for_url("**/overview")
            page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=60000)
            cookie = next(c for c in context.cookies() if c["name"] == "sohoa_session")
            assert cookie["secure"] and cookie["httpOnly"]
            page.goto(f"{base}/compliance")  # a page whose table comes over the websocket
            page.wait_for_selector(".tabulator-row", timeout=60000)
            assert errors == []
        finally:
            browser.close()
    time.sleep(0.5)
    log = (site.prefix / "logs" / "sohoa.access.log").read_text()
    upgraded = [line for line in log.splitlines() if re.search(r'"GET /(overview|compliance)/ws HTTP/1.1" 101 ', line)]
    assert upgraded, "no websocket upgraded through nginx"


def test_the_deploy_files_pass_their_tools(tmp_path):
    """``nginx -t`` on deploy/nginx-sohoa.conf as shipped (only its certificate and log paths moved
    to files that exist here), and ``systemd-analyze verify`` on the units."""
    cert, key = self_signed(tmp_path)
    site = (DEPLOY / "nginx-sohoa.conf").read_text()
    site = site.replace("/etc/ssl/certs/sohoa.pem", str(cert)).replace("/etc/ssl/private/sohoa.key", str(key))
    site = site.replace("/var/log/nginx/", f"{tmp_path}/nginx/logs/")
    conf = nginx_conf(tmp_path / "nginx", site)
    checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf)], capture_output=True,
                             text=True)
    assert checked.returncode == 0 and "syntax is ok" in checked.stderr, checked.stderr
    broken = nginx_conf(tmp_path / "broken", site.replace("proxy_cookie_flags", "proxy_cookie_flagz"))
    assert subprocess.run([NGINX, "-t", "-p", str(tmp_path / "broken"), "-c", str(broken)],
                          capture_output=True).returncode != 0  # the check can fail
    sohoa = shutil.which("sohoa") or str(Path(sys.executable).parent / "sohoa")
    units = sorted(DEPLOY.glob("sohoa-*.service")) + sorted(DEPLOY.glob("sohoa-*.timer"))
    assert len(units) >= 5
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/sohoa/bin/sohoa", sohoa))
    (tmp_path / "sohoa-console@5006.service").write_text((tmp_path / "sohoa-console@.service").read_text())
    verified = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / u.name) for u in units
                                                             if "@" not in u.name],
                               str(tmp_path / "sohoa-console@5006.service")],
                              capture_output=True, text=True, cwd=tmp_path)
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
    import tomllib

    from core.kernel import settings

    example = settings.load(DEPLOY / "sohoa.toml", environ={})  # the example settings file is valid
    assert example.https and example.trusted_proxies == 1 and example.data_dir == Path("/var/lib/sohoa")
    assert tomllib.loads((DEPLOY / "sohoa.toml").read_text())


def _total(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_one_scrape_totals_every_console_and_the_api(site):
    """Requests answered by each console process and by the API, then one scrape of any of them
    (or through the proxy): the totals of all three processes (core/operations/observability.py,
    ``share_metrics``: one file per process in ``metrics_dir``)."""
    def scrape(port: int, tls=None) -> str:
        answer, body = request(port, "GET", "/metrics", tls=tls)
        assert answer.status == 200
        return body.decode()

    logins = {"service": "console", "method": "GET", "route": "/login", "status": "200"}
    health = {"service": "api", "method": "GET", "route": "/api/v1/health", "status": "200"}
    before = scrape(site.consoles[0])
    for port, times in ((site.consoles[0], 3), (site.consoles[1], 2)):
        for _ in range(times):
            assert request(port, "GET", "/login")[0].status == 200
    for _ in range(4):
        assert request(site.api, "GET", "/api/v1/health")[0].status == 200
    for text in (scrape(site.consoles[0]), scrape(site.consoles[1]), scrape(site.api),
                 scrape(site.https, site.tls)):
        assert _total(text, "sohoa_requests_total", **logins) == _total(before, "sohoa_requests_total", **logins) + 5
        assert _total(text, "sohoa_requests_total", **health) == _total(before, "sohoa_requests_total", **health) + 4
        assert _total(text, "sohoa_request_seconds_count", service="console", route="/login") >= 5
        assert "sohoa_signature_queue_depth" in text and "sohoa_sign_ins_total" in text
    pids = {path.stem.rsplit("_", 1)[-1] for path in site.metrics_dir.glob("counter_*.db")}
    assert len(pids - {"archive"}) >= 3  # each console and the API's worker its own file
