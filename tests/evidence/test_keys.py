"""Keys an insider cannot use (THREATS.md: the principal or school staff with the server room, the
hosting staff with the disks): the servers run without any CA key, a stolen disk does not give
away a server-held key to PIN guessing, and a person's signature can come from a key only they
hold — their phone — checked by the server and verified PASSED by core's verifier.

Each attack is made as the attacker would: the API and the console as their own processes on
loopback, started on a PKI directory whose CA part was deleted (an audit hook logs any attempt
to open a CA file, and the processes' memory is searched for the CA's private keys, with the
CA's own responder process as the control that the search finds them); the key file guessed
offline, PIN after PIN, against the clock; the device's answers forged, crossed, replayed and
late."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from core.access.accounts import open_sessions
from core.access.authz import SYSTEM
from core.kernel.errors import KeyAccessError, SigningUnavailable, WeakPin
from core.logbook.entries import generate_week
from core.logbook.verification import verify_week_document
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.signatures import KeyStore
from core.signatures.anchors import load_anchors
from core.signatures.held_keys import PROTECTED, RECOMMENDED, HeldKeys, check_pin, open_sealed_key
from core.signatures.pades import verify_pdf
from core.signatures.pki import DemoPKI
from core.signatures.responder import free_port
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import WeekClose
from tests.evidence._keys import Phone
from tests.world import build_world

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- processes and memory
def _wait(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def key_needles(key) -> dict[str, bytes]:
    """24-byte pieces of a private key's secret number, big-endian and in OpenSSL's BIGNUM
    order (little-endian): what a process that loaded the key holds in its memory."""
    numbers = key.private_numbers()
    value = getattr(numbers, "private_value", None) or numbers.d
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return {"big-endian": data[:24], "little-endian": data[::-1][:24]}


def memory_holds(pid: int, needles: dict[str, bytes]) -> set[str]:
    """Which needles occur anywhere in the readable memory of process ``pid`` (as root)."""
    found = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(name for name, needle in needles.items() if needle in chunk)
    return found


def ca_needles(pki: DemoPKI) -> dict[str, bytes]:
    root_key = serialization.load_pem_private_key((pki.directory / "ca" / "root.key.pem").read_bytes(), None)
    _, tsa_key = pki.tsa_credentials()
    return {f"{who} {order}": needle for who, key in (("issuing", pki.issuing_key()), ("root", root_key),
                                                       ("tsa", tsa_key))
            for order, needle in key_needles(key).items()}


def server_copy(pki_dir: Path, target: Path) -> Path:
    """What a server is given: the PKI directory without its CA part (deleted)."""
    shutil.copytree(pki_dir, target, ignore=shutil.ignore_patterns("ca"))
    assert not (target / "ca").exists()
    return target


def audited(log: Path, *args: str, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.evidence._audited", str(log), *args],
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd)


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    return {**env, **extra}


# ---------------------------------------------------------------- the API, as its own process
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A school world on a committed SQLite file; the CA and its responder (``sohoa pki serve``)
    on one side; on the other the API process, given a PKI directory with no ``ca/``."""
    root = tmp_path_factory.mktemp("keys-site")
    port = free_port()
    pki = DemoPKI.create(root / "ca-side", responder_url=f"http://127.0.0.1:{port}")
    url = f"sqlite:///{root / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    world = build_world(db, pki, KeyStore(pki.directory))
    generate_week(db, SYSTEM, world.ids["A"], world.ids["week1"])
    responder = subprocess.Popen([sys.executable, "-m", "core.cli", "pki", "--dir", str(pki.directory), "serve"],
                                 cwd=ROOT, env=clean_env())
    _wait(f"http://127.0.0.1:{port}/crl", responder)
    server_pki = server_copy(pki.directory, root / "server-pki")
    api_port, log = free_port(), root / "api-opened-ca-files.log"
    api = audited(log, "api", str(api_port), env=clean_env(SOHOA_DATABASE_URL=url, SOHOA_PKI_DIR=str(server_pki)))
    try:
        _wait(f"http://127.0.0.1:{api_port}/api/v1/health", api)
        yield {"pki": pki, "world": world, "db": db, "api": api, "base": f"http://127.0.0.1:{api_port}",
               "responder": responder, "server_pki": server_pki, "log": log}
    finally:
        _stop(api)
        _stop(responder)
        db.engine.dispose()


def http(site, method: str, path: str, username: str | None = None, body: dict | None = None,
         headers: dict | None = None):
    """(status, parsed body) of a real HTTP request to the API process."""
    head = {"Content-Type": "application/json", **(headers or {})}
    if username:
        token = open_sessions(site["db"], [username], authenticated_by="test")[username]
        head["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(site["base"] + path, method=method, headers=head,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            data = response.read()
            status, kind = response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as err:
        data, status, kind = err.read(), err.code, err.headers.get("content-type", "")
    return status, (json.loads(data) if "json" in kind else data)


def phone_of(site, username: str) -> Phone:
    return Phone.from_pkcs12(site["pki"].directory / "keys" / f"staff-{site['world'].ids[username]}.p12")


def week_path(site, action: str, verb: str) -> str:
    ids = site["world"].ids
    return f"/api/v1/classes/{ids['6A1']}/weeks/{ids['week1']}/{action}/{verb}"


def device_sign(site, username: str, action: str, key: str) -> dict:
    status, prepared = http(site, "POST", week_path(site, action, "prepare"), username, {"mode": "signed_attributes"},
                            {"Idempotency-Key": key})
    assert status == 201, prepared
    status, pdf = http(site, "GET", prepared["document_url"], username)
    assert status == 200 and pdf.startswith(b"%PDF")
    status, done = http(site, "POST", week_path(site, action, "complete"), username,
                        phone_of(site, username).answer(prepared, pdf))
    assert status == 200, done
    return done


def test_the_api_runs_on_trust_anchors_only_and_the_principal_closes_on_the_device(site):
    """The server process has no CA key, on disk or in memory, and never reaches for one; the
    homeroom teacher and then the principal sign the week on their phones over real HTTP; both
    signatures verify PASSED (PAdES B-T with the TSA's time) through core's verifier, with
    revocation checked at the CA's responder."""
    assert device_sign(site, "lan", "homeroom-signature", "evidence-1")["status"] == "homeroom_signed"
    closed = device_sign(site, "binh", "close", "evidence-2")
    assert closed["status"] == "closed" and closed["replayed"] is False

    world = site["world"]
    trust = load_anchors(site["server_pki"]).trust_store(check_revocation=True)
    report = verify_week_document(world.db, world.actor("mon_a"), world.ids["6A1"], world.ids["week1"], trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"], report.signatures
    with world.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == world.ids["6A1"]))
        document, closed_at = row.document, row.closed_at
    results = verify_pdf(document, trust)
    assert [(f, v.indication) for f, v in results] == [(HOMEROOM_FIELD, "PASSED"), (PRINCIPAL_FIELD, "PASSED")]
    principal = results[1][1]
    assert principal.signer_fingerprint == hashlib.sha256(phone_of(site, "binh").cert_der).hexdigest()
    assert abs((principal.signing_time - closed_at).total_seconds()) < 60   # the TSA's time, not the phone's

    assert not site["log"].exists(), site["log"].read_text()   # no attempt to open a CA file
    needles = ca_needles(site["pki"])
    assert memory_holds(site["api"].pid, needles) == set()
    # the control: the CA's own responder process does hold its keys, and the search finds them
    held = memory_holds(site["responder"].pid, needles)
    assert "issuing little-endian" in held and {"tsa big-endian", "tsa little-endian"} & held, held


def test_a_server_cannot_issue_a_certificate(site, tmp_path):
    """With what a server has (its PKI directory), issuing is impossible: there is no private
    key in it, the CA cannot be loaded from it, ``sohoa pki issue`` refuses, and the API has no
    door that issues or revokes certificates."""
    server_pki = site["server_pki"]
    for path in server_pki.rglob("*"):
        if path.is_file() and path.suffix == ".pem":
            assert b"PRIVATE KEY" not in path.read_bytes(), path
    with pytest.raises(FileNotFoundError, match="no CA key"):
        DemoPKI.load(server_pki)
    done = subprocess.run([sys.executable, "-m", "core.cli", "pki", "--dir", str(server_pki), "issue", "staff-99",
                           "Kẻ Giả Mạo"], cwd=ROOT, env=clean_env(), capture_output=True, text=True)
    assert done.returncode != 0 and "no CA key" in done.stderr
    assert not (server_pki / "keys" / "staff-99.p12").exists()
    status, spec = http(site, "GET", "/openapi.json")
    assert status == 200 and spec["paths"]
    # (a user's own API sessions may be revoked: /api/v1/me/sessions/revoke is no certificate's door)
    assert not [p for p in spec["paths"] if "certificate" in p or "issue" in p
                or ("revoke" in p and not p.endswith("/sessions/revoke"))], list(spec["paths"])
    # and the CA itself (its own directory) still issues: the refusal above is the missing key
    assert DemoPKI.load(site["pki"].directory).issue_personal("staff-98", "Giáo viên thật", key_file=False).cert_der


def test_the_console_runs_on_trust_anchors_only(tmp_path):
    """``sohoa serve`` (the console) on a demo whose PKI directory lost its ``ca/``: it starts,
    signs people in and shows its pages, with the CA's responder as its own process; it never
    tries to open a CA file and holds no CA key in memory."""
    from core.demo.synthetic import DEMO_PASSWORD, Scale, generate

    port, console_port = free_port(), free_port()
    ca_side = tmp_path / "ca-side"
    db = Database(make_engine(f"sqlite:///{tmp_path / 'var' / 'sohoa.db'}"))
    (tmp_path / "var").mkdir()
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=2, students_per_class=4,
                       transcript_classes=1, seed=5), pki_dir=ca_side, progress=False,
             responder_url=f"http://127.0.0.1:{port}", as_of=dt.datetime(2025, 9, 22, 7, 0))
    db.engine.dispose()
    pki = DemoPKI.load(ca_side)
    server_copy(ca_side, tmp_path / "var" / "pki")
    responder = subprocess.Popen([sys.executable, "-m", "core.cli", "pki", "--dir", str(ca_side), "serve"],
                                 cwd=ROOT, env=clean_env())
    log = tmp_path / "console-opened-ca-files.log"
    console = audited(log, "console", "--database", f"sqlite:///{tmp_path / 'var' / 'sohoa.db'}", "serve",
                      "--port", str(console_port), env=clean_env(SOHOA_DATA_DIR=str(tmp_path / "var")), cwd=tmp_path)
    try:
        _wait(f"http://127.0.0.1:{port}/crl", responder)
        base = f"http://127.0.0.1:{console_port}"
        _wait(f"{base}/login", console, seconds=180)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(f"{base}/login", timeout=120) as form:  # the form's CSRF token (dashboards/security.py)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.read().decode())[1]
        with opener.open(f"{base}/login", data=f"username=so.giamsat&password={DEMO_PASSWORD}&csrf={csrf}".encode(),
                         timeout=120) as response:
            assert response.status == 200 and response.url.endswith("/overview")
        for page in ("/compliance", "/verify"):
            with opener.open(base + page, timeout=120) as response:
                assert response.status == 200
        assert console.poll() is None
        assert not log.exists(), log.read_text()
        needles = ca_needles(pki)
        assert memory_holds(console.pid, needles) == set()
        assert "issuing little-endian" in memory_holds(responder.pid, needles)
    finally:
        _stop(console)
        _stop(responder)


# ---------------------------------------------------------------- a stolen disk
def test_a_stolen_disk_does_not_give_a_server_held_key_to_pin_guessing(tmp_path):
    """Server-held keys are off unless set; where a department insists they are sealed under
    Argon2id and a pepper kept off the disk. A short or trivial PIN is refused at set-up; each
    offline guess costs Argon2id's time and memory; without the pepper no PIN opens the file,
    not even the right one — while today's PKCS#12 file under a 4-digit PIN falls in seconds."""
    assert HeldKeys.from_environment(tmp_path, {}) is None                      # off by default
    with pytest.raises(SigningUnavailable):
        HeldKeys.from_environment(tmp_path, {"SOHOA_SERVER_HELD_KEYS": "protected"})   # no pepper, no start
    pepper_file = tmp_path / "elsewhere" / "pepper"
    pepper_file.parent.mkdir()
    pepper_file.write_bytes(os.urandom(32))
    held = HeldKeys.from_environment(tmp_path / "pki", {"SOHOA_SERVER_HELD_KEYS": PROTECTED,
                                                        "SOHOA_KEY_PEPPER_FILE": str(pepper_file)})
    pki = DemoPKI.create(tmp_path / "pki")
    cred = pki.issue_personal("staff-7", "Nguyễn Thị Lan", key_file=False)
    for weak in ("1234", "0000", "12345", "111111", "123456", "987654", "121212", "123123", "short"):
        with pytest.raises(WeakPin):
            held.enrol("staff-7", cred.key, cred.cert_der, [pki.issuing_der], weak)
        with pytest.raises(WeakPin):
            check_pin(weak)
    path = held.enrol("staff-7", cred.key, cred.cert_der, [pki.issuing_der], "830571")
    assert held.open("staff-7", "830571").fingerprint == cred.fingerprint      # the owner opens it
    record = path.read_bytes()
    assert b"830571" not in record and b"PRIVATE" not in record

    # the thief has the disk (the record), not the pepper: guess 4-digit PINs against the clock
    started, tried = time.perf_counter(), 0
    budget = 8.0
    for guess in ["830571", *(f"{n:04d}" for n in range(10_000))]:
        with pytest.raises(KeyAccessError):
            open_sealed_key(record, guess, pepper=bytes(32))
        tried += 1
        if time.perf_counter() - started > budget:
            break
    per_guess = (time.perf_counter() - started) / tried
    assert tried < 10_000 and per_guess > 0.1, (tried, per_guess)
    hours_for_all_4_digit = per_guess * 10_000 / 3600
    assert hours_for_all_4_digit > 0.25   # and each guess needs 256 MiB: no cheap parallel search
    assert RECOMMENDED.memory_kib >= 256 * 1024
    print(f"Argon2id m={RECOMMENDED.memory_kib // 1024} MiB t={RECOMMENDED.iterations}: {per_guess:.2f} s a guess, "
          f"{tried} guesses in {budget:.0f} s, {hours_for_all_4_digit:.1f} h for all 4-digit PINs; "
          "without the pepper none can succeed")

    # the same attack on the demo's PKCS#12 file (4-digit PIN): it falls
    legacy = pki.issue_personal("staff-8", "Trần Văn Minh", pin="7391")
    blob = legacy.p12_path.read_bytes()
    started = time.perf_counter()
    found = next(f"{n:04d}" for n in range(10_000) if _opens(blob, f"{n:04d}"))
    assert found == "7391" and time.perf_counter() - started < 60


def _opens(blob: bytes, pin: str) -> bool:
    try:
        pkcs12.load_key_and_certificates(blob, pin.encode())
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- the device's answers attacked
def test_device_answers_forged_crossed_replayed_or_late_are_refused(site):
    """Over real HTTP: a signature by another person's key, one made for another document (an
    earlier prepare of the same week), a replay of a completed answer and a late one are each
    refused with their code, and change nothing."""
    world, ids = site["world"], site["world"].ids
    path = f"/api/v1/classes/{ids['6A2']}/weeks/{ids['week1']}/homeroom-signature"   # Minh's class
    minh, lan = phone_of(site, "minh"), phone_of(site, "lan")

    def prepare(key):
        status, body = http(site, "POST", f"{path}/prepare", "minh", {"mode": "signed_attributes"},
                            {"Idempotency-Key": key})
        assert status in (200, 201), body
        return body

    def complete(answer):
        return http(site, "POST", f"{path}/complete", "minh", answer)

    first = prepare("attack-1")
    forged = minh.answer(first)
    forged["signature_b64"] = base64.b64encode(lan.sign_raw(base64.b64decode(first["signed_attributes_b64"]))).decode()
    status, body = complete(forged)
    assert (status, body["error"]["code"], body["error"]["reason"]) == (422, "SignatureRejected", "SIG_CRYPTO_FAILURE")

    second = prepare("attack-2")                       # supersedes the first
    crossed = {**minh.answer(first), "signing_id": second["signing_id"]}
    status, body = complete(crossed)
    assert (status, body["error"]["code"], body["error"]["reason"]) == (422, "SignatureRejected", "SIG_CRYPTO_FAILURE")
    status, body = complete(minh.answer(first))
    assert (status, body["error"]["code"]) == (409, "SigningSuperseded")

    answer = minh.answer(second)
    status, done = complete(answer)
    assert status == 200 and done["status"] == "homeroom_signed"
    status, again = complete(answer)                  # the same answer again: replayed, nothing new
    assert status == 200 and again["replayed"] is True
    status, body = complete(minh.answer(second))      # another answer for a completed signing
    assert (status, body["error"]["code"]) == (409, "AlreadyCompleted")
    trust = load_anchors(site["server_pki"]).trust_store()
    report = verify_week_document(world.db, world.actor("mon_a"), ids["6A2"], ids["week1"], trust)
    assert report.valid and [s.role for s in report.signatures] == ["homeroom", "homeroom_summary"]


def test_a_late_device_answer_is_refused(world, pki, monkeypatch):
    """Past its five minutes a prepared signing is refused (410 SigningExpired) and the week
    stays open (the server's clock, frozen here, decides)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from core.kernel import clock

    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    saturday = dt.datetime(2025, 10, 18, 10, 0)
    monkeypatch.setattr(clock, "now", lambda: saturday)
    with TestClient(create_app(world.db, pki.trust_store(), warm=False, token_cache_seconds=0)) as api:
        token = open_sessions(world.db, ["lan"], authenticated_by="test", at=saturday)["lan"]
        head = {"Authorization": f"Bearer {token}"}
        path = f"/api/v1/classes/{world.ids['6A1']}/weeks/{world.ids['week1']}/homeroom-signature"
        prepared = api.post(f"{path}/prepare", headers={**head, "Idempotency-Key": "late"}, json={}).json()
        monkeypatch.setattr(clock, "now", lambda: saturday + dt.timedelta(minutes=5, seconds=1))
        phone = Phone.from_pkcs12(pki.directory / "keys" / f"staff-{world.ids['lan']}.p12")
        late = api.post(f"{path}/complete", headers=head, json=phone.answer(prepared))
        assert late.status_code == 410 and late.json()["error"]["code"] == "SigningExpired", late.text
    with world.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == world.ids["6A1"]))
        assert row.status.value == "open" and row.document is None
