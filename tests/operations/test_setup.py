"""``sohoa setup`` on the embedded database: the administrator's password typed at a prompt (a
real terminal: a pseudo-terminal here), what set-up refuses (and then stores nothing), and the
accounts' rules."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.access.accounts import sign_in
from core.access.authz import SYSTEM
from core.kernel.errors import Conflict, MalformedInput, PermissionDenied
from core.school.installation import add_account, set_up
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]
SETUP = ["setup", "--department-code", "SGD01", "--department-name", "Sở GD&ĐT Hà Nội", "--province", "001",
         "--school-year", "2025-2026", "--first-monday", "2025-09-08"]


def env_for(data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    return {**env, "PYTHONPATH": str(ROOT), "SOHOA_DATA_DIR": str(data)}


def at_a_terminal(args: list[str], env: dict, answers: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run ``sohoa ARGS`` on a pseudo-terminal, typing each answer at each password prompt."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", *args], stdin=follower, stdout=follower,
                            stderr=follower, env=env, close_fds=True)
    os.close(follower)
    seen, pending, answered = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if pending and seen[answered:].rstrip().endswith(b":"):  # a new prompt: answer it
                    time.sleep(0.2)  # getpass flushes what was typed before it turned echo off
                    os.write(leader, pending.pop(0).encode() + b"\n")
                    answered = len(seen)
            elif proc.poll() is not None:
                break
        return proc.wait(30), seen.decode(errors="replace")
    finally:
        os.close(leader)


def test_the_administrators_password_is_typed_at_a_prompt_and_never_shown(tmp_path):
    data = tmp_path / "data"
    code, output = at_a_terminal(SETUP, env_for(data), ["mat-khau-dai-1", "mat-khau-dai-1"])
    assert code == 0, output
    assert "administrator admin" in output and "mat-khau-dai-1" not in output  # never echoed nor printed
    assert "one-time password" not in output
    db = Database(make_engine(f"sqlite:///{data / 'sohoa.db'}"))
    assert sign_in(db, "admin", "mat-khau-dai-1")
    code, output = at_a_terminal(["account", "password", "admin"], env_for(data), ["mat-khau-moi-2", "khac-han-3"])
    assert code == 1 and "differ" in output  # two different entries: nothing changed
    assert sign_in(db, "admin", "mat-khau-dai-1")
    db.engine.dispose()


def test_without_a_terminal_setup_asks_for_the_one_time_password_option(tmp_path):
    done = subprocess.run([sys.executable, "-m", "core.cli", *SETUP], env=env_for(tmp_path / "data"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "--one-time-password" in done.stderr and "Traceback" not in done.stderr
    roles = subprocess.run([sys.executable, "-m", "core.cli", *SETUP, "--roles", "--one-time-password"],
                           env=env_for(tmp_path / "data"), capture_output=True, text=True, timeout=120)
    assert roles.returncode == 1 and "--roles is for PostgreSQL" in roles.stderr


@pytest.fixture
def empty(tmp_path):
    db = Database(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    upgrade(db.engine)
    yield db
    db.engine.dispose()


@pytest.mark.parametrize("change, why", [
    ({"province_code": "999"}, "unknown province code"),
    ({"school_year": "2025-2027"}, "school year"),
    ({"first_monday": __import__("datetime").date(2025, 9, 9)}, "not a Monday"),
    ({"admin_password": "short"}, "at least 8"),
    ({"admin_username": "Admin Root"}, "username"),
    ({"department_code": ""}, "a department needs a code"),
])
def test_bad_setup_input_is_refused_and_nothing_is_stored(empty, change, why):
    import datetime as dt

    from sqlalchemy import func, select

    from core.storage.models import Department, UserAccount

    args = {"department_code": "SGD01", "department_name": "Sở GD&ĐT Hà Nội", "province_code": "001",
            "school_year": "2025-2026", "first_monday": dt.date(2025, 9, 8), **change}
    with pytest.raises(MalformedInput, match=why) as refused:
        set_up(empty, **args)
    assert refused.value.message_vi
    with empty.reading() as session:
        assert session.scalar(select(func.count()).select_from(Department)) == 0
        assert session.scalar(select(func.count()).select_from(UserAccount)) == 0


def test_setup_runs_once_and_only_an_administrator_creates_accounts(empty):
    import datetime as dt

    from core.access.authz import actor_by_username

    done = set_up(empty, department_code="SGD01", department_name="Sở GD&ĐT Hà Nội", province_code="001",
                  school_year="2025-2026", first_monday=dt.date(2025, 9, 8), breaks=frozenset({dt.date(2026, 2, 16)}))
    assert done.weeks == 35 and len(done.one_time_password) == 20
    with pytest.raises(Conflict, match="already set up"):
        set_up(empty, department_code="SGD02", department_name="x", province_code="001", school_year="2025-2026",
               first_monday=dt.date(2025, 9, 8))
    analyst = add_account(empty, SYSTEM, "phantich", "Chuyên viên phân tích", "analyst")
    assert sign_in(empty, "phantich", analyst.one_time_password)
    with empty.reading() as session:
        as_analyst = actor_by_username(session, "phantich")
    with pytest.raises(PermissionDenied):
        add_account(empty, as_analyst, "so.2", "Giám sát", "department_supervisor")
    with pytest.raises(Conflict):
        add_account(empty, SYSTEM, "phantich", "again", "analyst")
    with pytest.raises(MalformedInput, match="staff import"):
        add_account(empty, SYSTEM, "gv.1", "Giáo viên", "teacher")
