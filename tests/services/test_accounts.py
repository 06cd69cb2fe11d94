"""Sign-in: hashed passwords, sessions that expire, logout; the session resolves to a scoped actor."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.access.accounts import (
    ACCOUNT_LIMIT,
    CLIENT_LIMIT,
    FREE_FAILURES,
    MAX_BACKOFF,
    actor_for_token,
    check_password,
    hash_password,
    set_password,
    sign_in,
    sign_out,
)
from core.access.authz import SYSTEM
from core.kernel.errors import PermissionDenied, RuleViolation, SohoaError, TooManyAttempts
from core.storage.models import UserAccount

NOW = dt.datetime(2025, 10, 13, 8, 0)


def test_passwords_are_stored_hashed_and_salted():
    a, b = hash_password("mật-khẩu-123"), hash_password("mật-khẩu-123")
    assert a != b and "mật-khẩu" not in a and a.startswith("$argon2id$")
    assert check_password("mật-khẩu-123", a) and not check_password("mật-khẩu-124", a)
    assert not check_password("x", None)


def test_sign_in_session_expiry_and_logout(world):
    set_password(world.db, SYSTEM, "mon_a", "giam-sat-2025")
    with world.db.reading() as s:
        stored = s.scalar(select(UserAccount.password_hash).where(UserAccount.username == "mon_a"))
    assert "giam-sat-2025" not in stored
    with pytest.raises(PermissionDenied, match="wrong user name or password"):
        sign_in(world.db, "mon_a", "wrong-password", at=NOW)
    token = sign_in(world.db, "mon_a", "giam-sat-2025", at=NOW)
    actor = actor_for_token(world.db, token, at=NOW + dt.timedelta(hours=1))
    assert actor.username == "mon_a" and actor.school_ids == frozenset({world.ids["A"]})
    with pytest.raises(PermissionDenied, match="sign in again"):
        actor_for_token(world.db, token, at=NOW + dt.timedelta(hours=8))
    token = sign_in(world.db, "mon_a", "giam-sat-2025", at=NOW)
    sign_out(world.db, token, at=NOW + dt.timedelta(minutes=5))
    with pytest.raises(PermissionDenied):
        actor_for_token(world.db, token, at=NOW + dt.timedelta(minutes=6))


def test_password_rules_and_who_may_set_them(world):
    with pytest.raises(RuleViolation, match="at least 8"):
        set_password(world.db, SYSTEM, "lan", "short")
    with pytest.raises(PermissionDenied):
        set_password(world.db, world.actor("lan"), "minh", "password-of-minh")
    set_password(world.db, world.actor("lan"), "lan", "password-of-lan")  # their own
    set_password(world.db, world.actor("admin"), "minh", "password-of-minh")


def test_sessions_for_users_an_identity_provider_authenticated(world):
    from core.access.accounts import open_sessions
    from core.storage.models import AuditEvent

    with world.db.transaction() as s:
        s.scalar(select(UserAccount).where(UserAccount.username == "mon_b")).active = False
    tokens = open_sessions(world.db, ["mon_a", "mon_b", "nobody"], authenticated_by="oidc:sso.hcm.edu.vn", at=NOW,
                           kind="console")
    assert set(tokens) == {"mon_a"}  # inactive and unknown users get no session
    assert actor_for_token(world.db, tokens["mon_a"], at=NOW).username == "mon_a"
    with pytest.raises(PermissionDenied):
        actor_for_token(world.db, tokens["mon_a"], at=NOW + dt.timedelta(hours=9))
    with world.db.reading() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "account.sign_in")).all()[-1]
    assert event.after == {"username": "mon_a", "by": "oidc:sso.hcm.edu.vn"}


# ---------------------------------------------------------------- sign-in that resists guessing
def _audited_locks(db) -> list:
    from core.storage.models import AuditEvent

    with db.reading() as s:
        return [e.after for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "account.locked"))]


def _refusal(db, username, password, at, client):
    try:
        sign_in(db, username, password, at=at, client=client)
    except SohoaError as err:
        return type(err).__name__, err.status, err.message, err.message_vi, getattr(err, "retry_after", None)
    raise AssertionError("expected a refusal")


def test_an_unknown_name_an_inactive_account_and_a_wrong_password_get_the_same_answer(world):
    set_password(world.db, SYSTEM, "mon_a", "giam-sat-2025")
    set_password(world.db, SYSTEM, "mon_b", "giam-sat-2026")
    with world.db.transaction() as s:
        s.scalar(select(UserAccount).where(UserAccount.username == "mon_b")).active = False
    answers = {_refusal(world.db, "mon_a", "wrong-password", NOW, "10.0.0.1"),
               _refusal(world.db, "nobody-at-all", "wrong-password", NOW, "10.0.0.2"),
               _refusal(world.db, "mon_b", "giam-sat-2026", NOW, "10.0.0.3")}  # inactive, right password
    assert answers == {("PermissionDenied", 403, "wrong user name or password", "Sai tên đăng nhập hoặc mật khẩu",
                        None)}
    # and once a device failed too often, the wait is the same whether the name exists or not
    for name, client in (("mon_a", "10.0.0.4"), ("nobody-at-all", "10.0.0.5")):
        for _ in range(FREE_FAILURES):
            _refusal(world.db, name, "guess", NOW, client)
    assert _refusal(world.db, "mon_a", "guess", NOW, "10.0.0.4") == \
        _refusal(world.db, "nobody-at-all", "guess", NOW, "10.0.0.5")


def test_guesses_slow_down_the_guessing_device_never_the_teacher(world):
    """Someone guesses a teacher's password from their own device: their device waits longer at
    each failure (1 s, 2 s, 4 s …), even for the right password; the teacher, from their own
    phone, signs in at once — nothing locks the account."""
    set_password(world.db, SYSTEM, "lan", "mat-khau-cua-lan")
    at = NOW
    for _ in range(FREE_FAILURES):
        _refusal(world.db, "lan", "guess", at, "203.0.113.9")
    waits = []
    for _ in range(4):
        with pytest.raises(TooManyAttempts) as wait:  # blocked: not even checked
            sign_in(world.db, "lan", "mat-khau-cua-lan", at=at, client="203.0.113.9")
        waits.append(wait.value.retry_after)
        at += dt.timedelta(seconds=wait.value.retry_after)
        _refusal(world.db, "lan", "guess", at, "203.0.113.9")
    assert waits == [1, 2, 4, 8]
    assert sign_in(world.db, "lan", "mat-khau-cua-lan", at=at, client="10.1.2.3")  # the teacher's phone
    assert [lock["scope"] for lock in _audited_locks(world.db)] == ["one device"]  # the device's first wait
    # after the wait the right password works from that device too, and its count starts again
    assert sign_in(world.db, "lan", "mat-khau-cua-lan", at=at + MAX_BACKOFF, client="203.0.113.9")
    _refusal(world.db, "lan", "guess", at + MAX_BACKOFF, "203.0.113.9")  # a wrong password, not a wait


def test_one_device_guessing_many_names_is_stopped_for_all_of_them(world):
    set_password(world.db, SYSTEM, "minh", "mat-khau-cua-minh")
    for n in range(CLIENT_LIMIT):
        _refusal(world.db, f"name-{n}", "guess", NOW, "198.51.100.7")
    kind, status, *_ = _refusal(world.db, "minh", "mat-khau-cua-minh", NOW, "198.51.100.7")
    assert (kind, status) == ("TooManyAttempts", 429)
    assert sign_in(world.db, "minh", "mat-khau-cua-minh", at=NOW, client="10.9.9.9")  # elsewhere: fine


def test_many_devices_guessing_one_name_stop_only_the_devices_it_never_used(world):
    """A botnet: each device guesses once. Past the account's limit new devices must wait; the
    teacher's usual device (a success within 30 days) still signs in."""
    set_password(world.db, SYSTEM, "ha", "mat-khau-cua-ha")
    assert sign_in(world.db, "ha", "mat-khau-cua-ha", at=NOW - dt.timedelta(days=3), client="10.0.7.7")
    for n in range(ACCOUNT_LIMIT):
        _refusal(world.db, "ha", "guess", NOW, f"bot-{n}")
    kind, status, *_ = _refusal(world.db, "ha", "mat-khau-cua-ha", NOW, "bot-new")
    assert (kind, status) == ("TooManyAttempts", 429)
    assert sign_in(world.db, "ha", "mat-khau-cua-ha", at=NOW, client="10.0.7.7")


def test_a_former_scrypt_hash_still_signs_in_and_is_replaced_by_argon2id(world):
    from core.access.accounts import _scrypt_hash

    with world.db.transaction() as s:
        s.scalar(select(UserAccount).where(UserAccount.username == "mon_a")).password_hash = _scrypt_hash("cu-2024!")
    assert sign_in(world.db, "mon_a", "cu-2024!", at=NOW)
    with world.db.reading() as s:
        assert s.scalar(select(UserAccount.password_hash).where(UserAccount.username == "mon_a")).startswith(
            "$argon2id$")
    assert sign_in(world.db, "mon_a", "cu-2024!", at=NOW)


def test_console_and_api_tokens_are_not_interchangeable(world):
    from core.access.accounts import API, CONSOLE

    set_password(world.db, SYSTEM, "mon_a", "giam-sat-2025")
    console = sign_in(world.db, "mon_a", "giam-sat-2025", at=NOW, kind=CONSOLE)
    app = sign_in(world.db, "mon_a", "giam-sat-2025", at=NOW, kind=API)
    assert actor_for_token(world.db, console, at=NOW, kind=CONSOLE).username == "mon_a"
    assert actor_for_token(world.db, app, at=NOW, kind=API).username == "mon_a"
    with pytest.raises(PermissionDenied):
        actor_for_token(world.db, console, at=NOW, kind=API)
    with pytest.raises(PermissionDenied):
        actor_for_token(world.db, app, at=NOW, kind=CONSOLE)


def test_wrong_pins_lock_the_server_held_key_not_the_password(world):
    from core.access.accounts import MAX_WRONG_ATTEMPTS
    from core.kernel.errors import KeyNotOpened, TooManyAttempts
    from core.signatures.held_keys import unlock_signing_key
    from core.signatures.pki import DEFAULT_PIN

    lan = world.actor("lan")
    signer = unlock_signing_key(world.db, lan, world.pki.directory, DEFAULT_PIN, at=NOW)
    assert signer.sign_detached(b"x", NOW)  # a working key
    for n in range(1, MAX_WRONG_ATTEMPTS):
        with pytest.raises(KeyNotOpened, match=f"wrong PIN \\({MAX_WRONG_ATTEMPTS - n} attempts left"):
            unlock_signing_key(world.db, lan, world.pki.directory, "0000", at=NOW)
    with pytest.raises(TooManyAttempts, match="the PIN is locked"):
        unlock_signing_key(world.db, lan, world.pki.directory, "0000", at=NOW)
    with pytest.raises(TooManyAttempts):
        unlock_signing_key(world.db, lan, world.pki.directory, DEFAULT_PIN, at=NOW + dt.timedelta(minutes=1))
    assert _audited_locks(world.db)[0]["credential"] == "pin"
    set_password(world.db, SYSTEM, "lan", "mat-khau-cua-lan")
    assert sign_in(world.db, "lan", "mat-khau-cua-lan", at=NOW)  # the password is another thing
    # who holds no key is told so, and that does not count as a wrong PIN
    with pytest.raises(PermissionDenied, match="only staff"):
        unlock_signing_key(world.db, world.actor("mon_a"), world.pki.directory, DEFAULT_PIN, at=NOW)


@pytest.mark.parametrize("username, password", [("\x00", "x"), ("lan\x00", "sohoa-demo"), ("lan", "sohoa\x00demo")])
def test_a_nul_in_a_name_or_password_is_a_wrong_sign_in_not_a_database_error(world, username, password):
    """PostgreSQL refuses NUL in text: such a sign-in gets the answer of any wrong one (found by
    schemathesis against the API on PostgreSQL)."""
    with pytest.raises(PermissionDenied, match="wrong user name or password"):
        sign_in(world.db, username, password)
