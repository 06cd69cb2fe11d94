"""Served as in production: Debian's nginx, started here on loopback with a self-signed
certificate and deploy/nginx-sohoa.conf (its ports and paths moved to the test's), in front of
two console processes and the API, all on one PostgreSQL database. HTTPS only (HTTP redirects),
HSTS, every cookie Secure, the console's websocket upgraded through the proxy, a session
opened through one process honoured by the other, request ids shared by nginx's log and the
API, and Chromium signing in and using the console through the proxy. The deploy files are
checked by their tools (``nginx -t``, ``systemd-analyze verify``)."""
from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.demo.synthetic import DEMO_PASSWORD, Scale, generate
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.browser.conftest import ARGS, CHROMIUM

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (as a department's test server would)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "sohoa.pem", directory / "sohoa.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def nginx_conf(prefix: Path, site: str) -> Path:
    """A main nginx.conf around the site file, everything under ``prefix``."""
    for folder in ("logs", "tmp"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    (prefix / "site.conf").write_text(site)
    conf.write_text(f"""user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    access_log off;
    include {prefix}/site.conf;
}}
""")
    return conf


def site_for_test(prefix: Path, cert: Path, key: Path, *, https: int, http: int, consoles: list[int], api: int) -> str:
    """deploy/nginx-sohoa.conf with the test's ports, certificate and log files (nothing else)."""
    site = (DEPLOY / "nginx-sohoa.conf").read_text()
    swaps = {"listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
             "listen [::]:443 ssl http2;\n": "", "listen 80;": f"listen 127.0.0.1:{http};", "listen [::]:80;\n": "",
             "server 127.0.0.1:5006;": f"server 127.0.0.1:{consoles[0]};",
             "server 127.0.0.1:5007;": f"server 127.0.0.1:{consoles[1]};",
             "server 127.0.0.1:8000;": f"server 127.0.0.1:{api};",
             "/etc/ssl/certs/sohoa.pem": str(cert), "/etc/ssl/private/sohoa.key": str(key),
             "/var/log/nginx/": f"{prefix}/logs/"}
    for old, new in swaps.items():
        assert old in site, f"deploy/nginx-sohoa.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 120, context=None) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5, context=context).close()
            return
        except OSError:
            assert proc.poll() is None, f"{proc.args} stopped"
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.3)


def spawn(args: list[str], logs: Path, name: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """A server process, its output in ``logs/name.out|err`` (files closed here, kept by the child)."""
    with (logs / f"{name}.out").open("w") as out, (logs / f"{name}.err").open("w") as err:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err)


def request(port: int, method: str, path: str, *, body: str | None = None, headers: dict | None = None,
            tls: ssl.SSLContext | None = None):
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=tls, timeout=60) if tls
            else http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


@pytest.fixture(scope="module")
def site(pg_server_url, tmp_path_factory):
    assert Path(NGINX).exists(), "Debian's nginx is required (installed by scripts/test.sh)"
    root = tmp_path_factory.mktemp("proxied")
    url = create_scratch_database(pg_server_url, "sohoa_proxied")
    procs: list[subprocess.Popen] = []
    try:
        db = Database(make_engine(url))
        upgrade(db.engine)
        generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, seed=11),
                 pki_dir=root / "pki", progress=False)
        db.engine.dispose()
        https, http_port, api = free_port(), free_port(), free_port()
        consoles = [free_port(), free_port()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        env.update({"PYTHONPATH": str(ROOT), "SOHOA_DATABASE_URL": url, "SOHOA_DATA_DIR": str(root / "data"),
                    "SOHOA_PKI_DIR": str(root / "pki"), "SOHOA_HTTPS": "on", "SOHOA_TRUSTED_PROXIES": "1",
                    "SOHOA_ALLOWED_HOSTS": f"127.0.0.1:{https}", "SOHOA_PUBLIC_URL": f"https://127.0.0.1:{https}",
                    "SOHOA_TSA_URL": ""})
        logs = root / "logs"
        logs.mkdir()
        for port in consoles:
            procs.append(spawn([sys.executable, "-m", "core.cli", "serve", "--port", str(port)], logs,
                               f"console-{port}", env, root))
        procs.append(spawn([sys.executable, "-m", "core.cli", "api", "--port", str(api), "--workers", "1"], logs,
                           "api", env, root))
        cert, key = self_signed(root)
        prefix = root / "nginx"
        conf = nginx_conf(prefix, site_for_test(prefix, cert, key, https=https, http=http_port, consoles=consoles,
                                                api=api))
        checked = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        nginx = spawn([NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], logs, "nginx")
        procs.append(nginx)
        tls = ssl.create_default_context(cafile=str(cert))
        for port in consoles:
            wait_for(f"http://127.0.0.1:{port}/login", procs[consoles.index(port)], 180)
        wait_for(f"http://127.0.0.1:{api}/api/v1/health", procs[2], 120)
        wait_for(f"https://127.0.0.1:{https}/login", nginx, 30, context=tls)
        yield {"https": https, "http": http_port, "consoles": consoles, "api": api, "tls": tls, "cert": cert,
               "prefix": prefix, "logs": logs}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_scratch_database(pg_server_url, url)


def sign_in_through(site, username="so.giamsat") -> tuple[str, str]:
    """POST the login form through nginx (with the form's CSRF token and its cookie,
    dashboards/security.py): the Set-Cookie header and the cookie pair."""
    form, page = request(site["https"], "GET", "/login", tls=site["tls"])
    csrf = re.search(rb'name="csrf" value="([^"]+)"', page)[1].decode()
    body = urllib.parse.urlencode({"username": username, "password": DEMO_PASSWORD, "csrf": csrf})
    response, _ = request(site["https"], "POST", "/login", body=body, tls=site["tls"],
                          headers={"Content-Type": "application/x-www-form-urlencoded",
                                   "Cookie": form.getheader("Set-Cookie").split(";", 1)[0],
                                   "Origin": f"https://127.0.0.1:{site['https']}",
                                   "Referer": f"https://127.0.0.1:{site['https']}/login"})
    assert response.status in (302, 303), (response.status, _[:3000])
    set_cookie = response.getheader("Set-Cookie")
    assert set_cookie and set_cookie.startswith("sohoa_session=")
    return set_cookie, set_cookie.split(";", 1)[0]


def test_https_only_with_hsts_and_secure_cookies(site):
    redirect, _ = request(site["http"], "GET", "/login?next=x")
    assert redirect.status == 301 and redirect.getheader("Location") == "https://127.0.0.1/login?next=x"
    page, body = request(site["https"], "GET", "/login", tls=site["tls"])
    assert page.status == 200 and b"password" in body
    assert page.getheader("Strict-Transport-Security").startswith("max-age=31536000")
    set_cookie, _ = sign_in_through(site)
    attributes = {a.strip().lower() for a in set_cookie.split(";")[1:]}
    assert "secure" in attributes and "httponly" in attributes, set_cookie
    with pytest.raises(ssl.SSLError):  # and only with a certificate the client trusts
        request(site["https"], "GET", "/login", tls=ssl.create_default_context())


def test_a_session_opened_through_one_console_process_works_on_the_other(site):
    """Signed in through the proxy (whichever process took it), the same session cookie opens the
    overview on each console process directly, in Chromium: the sessions are PostgreSQL's."""
    from playwright.sync_api import sync_playwright

    _, cookie = sign_in_through(site)
    value = cookie.split("=", 1)[1]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for port in site["consoles"]:
                context = browser.new_context(viewport={"width": 1300, "height": 900})
                context.add_cookies([{"name": "sohoa_session", "value": value, "url": f"http://127.0.0.1:{port}"}])
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/overview")
                page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=60000)
                assert page.locator("#signed-out").count() == 0
                context.close()
            anonymous = browser.new_context().new_page()
            anonymous.goto(f"http://127.0.0.1:{site['consoles'][1]}/overview")
            anonymous.wait_for_selector("#signed-out", timeout=60000)
        finally:
            browser.close()


def test_request_ids_join_nginx_and_the_api_and_metrics_are_served(site):
    response, body = request(site["https"], "GET", "/api/v1/health", tls=site["tls"])
    assert response.status == 200, body
    rid = response.getheader("X-Request-ID")
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    time.sleep(0.5)  # nginx writes its access log line after answering
    log = (site["prefix"] / "logs" / "sohoa.access.log").read_text()
    assert f"rid={rid}" in log and '"GET /api/v1/health HTTP/' in log
    metrics, text = request(site["https"], "GET", "/metrics", tls=site["tls"])
    assert metrics.status == 200 and b'service="console"' in text and b"sohoa_request_seconds_bucket" in text
    assert b"sohoa_sign_ins_total" in text


def test_chromium_signs_in_and_uses_the_console_through_the_proxy(site):
    from playwright.sync_api import sync_playwright

    base = f"https://127.0.0.1:{site['https']}"
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
    log = (site["prefix"] / "logs" / "sohoa.access.log").read_text()
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
