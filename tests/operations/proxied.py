"""The console served as in production, for the tests that need it: Debian's nginx on loopback
with a self-signed certificate and deploy/nginx-sohoa.conf (its ports and paths moved to the
test's), in front of two console processes and the API, all on one PostgreSQL database with the
small browser-test demo. Started once per test session (:func:`shared_site`) and shared by
tests/operations/test_behind_nginx.py and tests/browser/test_sessions.py."""
from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.demo.synthetic import generate
from core.kernel.settings import Settings
from core.signatures import DemoPKI
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.browser.conftest import SMALL

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


@contextlib.contextmanager
def served_behind_nginx(pg_server_url: str, root: Path):
    """The site, stopped and its database dropped on leaving: ``url`` (https://127.0.0.1:port),
    ``https``, ``http`` (redirects), ``consoles`` and ``api`` (the processes' own ports), ``tls``
    (a client context trusting the certificate ``cert``), nginx's ``prefix`` and the processes'
    ``logs``; the record store ``db`` (its ``database_url``), its ``trust`` and ``pki_dir``, the
    processes' ``data_dir`` and their shared ``metrics_dir``."""
    assert Path(NGINX).exists(), "Debian's nginx is required (installed by scripts/test.sh)"
    url = create_scratch_database(pg_server_url, "sohoa_proxied")
    procs: list[subprocess.Popen] = []
    db = None
    try:
        db = Database(make_engine(url))
        upgrade(db.engine)
        generate(db, SMALL, pki_dir=root / "pki", progress=False)
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
        for index, port in enumerate(consoles):
            wait_for(f"http://127.0.0.1:{port}/login", procs[index], 180)
        wait_for(f"http://127.0.0.1:{api}/api/v1/health", procs[2], 120)
        wait_for(f"https://127.0.0.1:{https}/login", nginx, 30, context=tls)
        yield SimpleNamespace(url=f"https://127.0.0.1:{https}", https=https, http=http_port, consoles=consoles,
                              api=api, tls=tls, cert=cert, prefix=prefix, logs=logs, db=db, database_url=url,
                              pki_dir=root / "pki", trust=DemoPKI.load(root / "pki").trust_store(),
                              data_dir=root / "data", metrics_dir=Settings(data_dir=root / "data", database_url=url).effective_metrics_dir,
                              root=root)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if db is not None:
            db.engine.dispose()
        drop_scratch_database(pg_server_url, url)


_SITE = pytest.StashKey[SimpleNamespace]()


def shared_site(request, pg_server_url: str, tmp_path_factory) -> SimpleNamespace:
    """:func:`served_behind_nginx`, started by the first module that asks and stopped at the end
    of the test session (one proxy, two consoles and an API for every module using it)."""
    site = request.config.stash.get(_SITE, None)
    if site is None:
        stack = contextlib.ExitStack()
        try:
            site = stack.enter_context(served_behind_nginx(pg_server_url, tmp_path_factory.mktemp("proxied")))
        except BaseException:
            stack.close()
            raise
        request.config.stash[_SITE] = site
        request.config.add_cleanup(stack.close)
    return site
