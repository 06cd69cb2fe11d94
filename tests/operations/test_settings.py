"""One settings object (core/kernel/settings.py): a TOML file, then ``SOHOA_*`` overrides, then
the command's options; nothing depends on the working directory; a busy port is a one-line
error naming its setting."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.kernel import settings
from core.kernel.errors import BadRequest

ROOT = Path(__file__).resolve().parents[2]


def sohoa(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**base, **(env or {}), "PYTHONPATH": str(ROOT)}, timeout=timeout)


def test_the_file_then_the_environment(tmp_path):
    config = tmp_path / "etc" / "sohoa.toml"
    config.parent.mkdir()
    config.write_text('data_dir = "data"\nconsole_port = 7001\nhttps = true\nseal_fingerprint = ["ab", "cd"]\n'
                      'oidc_issuer = "https://id.example.vn"\nsmtp_host = "mail.example.vn"\n', encoding="utf-8")
    loaded = settings.load(config, environ={"SOHOA_CONSOLE_PORT": "7002", "SOHOA_API_PORT": "7003",
                                            "SOHOA_RECEIPTS": "off", "SOHOA_TSA_URL": ""})
    assert loaded.data_dir == tmp_path / "etc" / "data"  # relative to the file, not to the working directory
    assert (loaded.console_port, loaded.api_port, loaded.pki_port) == (7002, 7003, 8790)
    assert loaded.https is True and loaded.receipts is False
    assert loaded.seal_fingerprint == ("ab", "cd")
    assert loaded.tsa_url == "" and settings.load(config, environ={}).tsa_url is None  # "none" vs "unset"
    assert loaded.oidc_issuer == "https://id.example.vn" and loaded.oidc_client_secret == ""
    assert loaded.effective_database_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'sohoa.db'}"
    assert loaded.effective_pki_dir == tmp_path / "etc" / "data" / "pki"
    on_postgres = loaded.replace(database_url="postgresql://sohoa_app@db/sohoa_prod")
    assert on_postgres.effective_pki_dir == tmp_path / "etc" / "data" / "pki-sohoa_prod"  # not the embedded demo's
    assert on_postgres.effective_public_url == "http://127.0.0.1:7002"


@pytest.mark.parametrize("content, environ, named", [
    ("console_prot = 1\n", {}, "console_prot"),
    ("console_port = 70000\n", {}, "console_port"),
    ("", {"SOHOA_API_PORT": "eighty"}, "SOHOA_API_PORT"),
    ("", {"SOHOA_HTTPS": "maybe"}, "SOHOA_HTTPS"),
    ("", {"SOHOA_DATA_DIR": "relative/dir"}, "SOHOA_DATA_DIR"),
    ("data_dir = \n", {}, "sohoa.toml"),
])
def test_a_wrong_setting_is_refused_by_name(tmp_path, content, environ, named):
    config = tmp_path / "sohoa.toml"
    config.write_text(content, encoding="utf-8")
    with pytest.raises(BadRequest) as refused:
        settings.load(config, environ=environ)
    assert named in refused.value.message and refused.value.message_vi


def test_secrets_are_never_printed(tmp_path):
    rows = dict(settings.load(None, environ={"SOHOA_OIDC_CLIENT_SECRET": "s3cret", "SOHOA_SEAL_PIN": "9999",
                                             "SOHOA_DATA_DIR": str(tmp_path)}).describe())
    assert rows["oidc_client_secret"] == "***" and rows["seal_pin"] == "***"
    assert "s3cret" not in str(rows) and rows["data_dir"] == str(tmp_path)


def test_only_the_settings_module_reads_the_environment():
    """Every ``os.environ`` / ``getenv`` of the product is in core/kernel/settings.py, except
    SoftHSM2's own variable, which the PKCS#11 library reads (core/signatures/tokens.py)."""
    found = []
    for folder in ("core", "api", "dashboards"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if re.search(r"os\.environ|getenv\(", code) and "``os.environ``" not in code:
                    found.append(f"{path.relative_to(ROOT)}:{number}")
    allowed = {p for p in found if p.startswith("core/kernel/settings.py") or
               p.startswith("core/signatures/tokens.py")}
    assert set(found) == allowed, sorted(set(found) - allowed)
    assert allowed, "the settings module reads the environment"


def test_nothing_depends_on_the_working_directory(tmp_path):
    """A command run from anywhere with the same settings file finds the same installation; run
    with a data directory that holds no database, ``report`` refuses instead of answering from
    a new, empty one."""
    data = tmp_path / "srv"
    config = tmp_path / "sohoa.toml"
    config.write_text(f'data_dir = "{data}"\n', encoding="utf-8")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    refused = sohoa("report", cwd=elsewhere, env={"SOHOA_CONFIG": str(config)})
    assert refused.returncode == 1 and "no database at" in refused.stderr and "Traceback" not in refused.stderr
    assert not (data / "sohoa.db").exists() and not (elsewhere / "var").exists()
    assert sohoa("init", cwd=tmp_path, env={"SOHOA_CONFIG": str(config)}).returncode == 0
    assert (data / "sohoa.db").is_file()
    shown = sohoa("--config", str(config), "settings", cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    assert f"sqlite:///{data / 'sohoa.db'}" in shown.stdout and str(config) in shown.stdout
    assert not (elsewhere / "var").exists()


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command, setting", [
    (["serve", "--port", "{port}"], "console_port"),
    (["api", "--port", "{port}"], "api_port"),
    (["pki", "serve", "--port", "{port}"], "pki_port"),
    (["demo", "--quiet", "--pki-port", "{port}"], "pki_port"),  # what ./scripts/start.sh --pki-port N runs
    (["demo", "--quiet", "--port", "{port}"], "console_port"),
])
def test_a_busy_port_is_one_line_naming_its_setting(tmp_path, busy_port, command, setting):
    env = {"SOHOA_DATA_DIR": str(tmp_path / "data")}
    assert sohoa("init", cwd=tmp_path, env=env).returncode == 0
    if command[0] == "pki":
        assert sohoa("pki", "init", cwd=tmp_path, env=env).returncode == 0
    if command[0] == "serve":
        assert sohoa("pki", "init", cwd=tmp_path, env=env).returncode == 0
    done = sohoa(*[part.format(port=busy_port) for part in command], cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("lỗi:") and lines[1].startswith("error:"), done.stderr
    assert f"port {busy_port}" in lines[1] and setting in lines[1] and setting in lines[0]
    if command[0] == "demo":  # refused before anything was built
        assert not (tmp_path / "data" / "pki" / "ca").exists()


def test_start_script_passes_its_port_options():
    script = (ROOT / "scripts" / "start.sh").read_text()
    assert 'sohoa demo "$@"' in script and "--port" in script


def test_docs_operations_lists_every_setting():
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    table = text.split("## Settings", 1)[1].split("**Ports.**", 1)[0]
    missing = [name for name, _ in settings.Settings().describe() if name != "config_file" and f"`{name}`" not in table]
    assert not missing, missing


def test_a_wrong_settings_file_is_a_clear_error_not_a_traceback(tmp_path):
    config = tmp_path / "sohoa.toml"
    config.write_text('console_port = "abc"\n', encoding="utf-8")
    done = sohoa("report", cwd=tmp_path, env={"SOHOA_CONFIG": str(config)})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "setting console_port (SOHOA_CONSOLE_PORT): 'abc' is not valid" in done.stderr
