"""Sign-in: hashed passwords, sessions that expire, logout; the session resolves to a scoped actor."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.access.accounts import actor_for_token, check_password, hash_password, set_password, sign_in, sign_out
from core.access.authz import SYSTEM
from core.kernel.errors import PermissionDenied, RuleViolation
from core.storage.models import UserAccount

NOW = dt.datetime(2025, 10, 13, 8, 0)


def test_passwords_are_stored_hashed_and_salted():
    a, b = hash_password("mật-khẩu-123"), hash_password("mật-khẩu-123")
    assert a != b and "mật-khẩu" not in a and a.startswith("scrypt$")
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
    tokens = open_sessions(world.db, ["mon_a", "mon_b", "nobody"], authenticated_by="oidc:sso.hcm.edu.vn", at=NOW)
    assert set(tokens) == {"mon_a"}  # inactive and unknown users get no session
    assert actor_for_token(world.db, tokens["mon_a"], at=NOW).username == "mon_a"
    with pytest.raises(PermissionDenied):
        actor_for_token(world.db, tokens["mon_a"], at=NOW + dt.timedelta(hours=9))
    with world.db.reading() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "account.sign_in")).all()[-1]
    assert event.after == {"username": "mon_a", "by": "oidc:sso.hcm.edu.vn"}


# ---------------------------------------------------------------- wrong attempts lock a credential
def _audited_locks(db) -> list:
    from core.storage.models import AuditEvent

    with db.reading() as s:
        return [e.after for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "account.locked"))]


def test_five_wrong_passwords_in_a_row_lock_sign_in_for_fifteen_minutes(world):
    from core.access.accounts import LOCKOUT, MAX_WRONG_ATTEMPTS
    from core.kernel.errors import TooManyAttempts

    set_password(world.db, SYSTEM, "mon_a", "giam-sat-2025")
    for n in range(1, MAX_WRONG_ATTEMPTS):
        with pytest.raises(PermissionDenied, match=f"{MAX_WRONG_ATTEMPTS - n} attempts left") as err:
            sign_in(world.db, "mon_a", f"guess-{n}", at=NOW + dt.timedelta(minutes=n))
        assert f"còn {MAX_WRONG_ATTEMPTS - n} lần thử" in err.value.message_vi
    assert _audited_locks(world.db) == []
    at = NOW + dt.timedelta(minutes=MAX_WRONG_ATTEMPTS)
    with pytest.raises(TooManyAttempts) as locked:
        sign_in(world.db, "mon_a", "guess-5", at=at)
    assert locked.value.status == 429 and locked.value.retry_after == LOCKOUT.total_seconds()
    assert "thử lại sau 15 phút" in locked.value.message_vi
    # while locked even the right password is refused, without being checked
    with pytest.raises(TooManyAttempts, match="try again in 10 minutes") as still:
        sign_in(world.db, "mon_a", "giam-sat-2025", at=at + dt.timedelta(minutes=5))
    assert still.value.retry_after == 600
    assert _audited_locks(world.db) == [{"credential": "password", "until": (at + LOCKOUT).isoformat()}]
    # after the lock the right password works, and the count starts again
    assert sign_in(world.db, "mon_a", "giam-sat-2025", at=at + LOCKOUT)
    with pytest.raises(PermissionDenied, match=f"{MAX_WRONG_ATTEMPTS - 1} attempts left"):
        sign_in(world.db, "mon_a", "guess-6", at=at + LOCKOUT + dt.timedelta(minutes=1))


def test_a_right_password_or_time_resets_the_count(world):
    from core.access.accounts import LOCKOUT, MAX_WRONG_ATTEMPTS

    set_password(world.db, SYSTEM, "mon_a", "giam-sat-2025")
    at = NOW
    for _ in range(MAX_WRONG_ATTEMPTS - 1):
        with pytest.raises(PermissionDenied):
            sign_in(world.db, "mon_a", "guess", at=at)
    sign_in(world.db, "mon_a", "giam-sat-2025", at=at)  # a success: the count starts again
    for _ in range(MAX_WRONG_ATTEMPTS - 1):
        with pytest.raises(PermissionDenied, match="attempts left"):
            sign_in(world.db, "mon_a", "guess", at=at)
    # a failure older than the lock's length no longer counts
    with pytest.raises(PermissionDenied, match=f"{MAX_WRONG_ATTEMPTS - 1} attempts left"):
        sign_in(world.db, "mon_a", "guess", at=at + LOCKOUT + dt.timedelta(seconds=1))
    # the lock is per account: another user is not affected
    set_password(world.db, SYSTEM, "mon_b", "giam-sat-2026")
    assert sign_in(world.db, "mon_b", "giam-sat-2026", at=at)
    assert _audited_locks(world.db) == []


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
    assert sign_in(world.db, "lan", "mat-khau-cua-lan", at=NOW)  # the password is a separate credential
    # who holds no key is told so, and that does not count as a wrong PIN
    with pytest.raises(PermissionDenied, match="only staff"):
        unlock_signing_key(world.db, world.actor("mon_a"), world.pki.directory, DEFAULT_PIN, at=NOW)


@pytest.mark.parametrize("username, password", [("\x00", "x"), ("lan\x00", "sohoa-demo"), ("lan", "sohoa\x00demo")])
def test_a_nul_in_a_name_or_password_is_a_wrong_sign_in_not_a_database_error(world, username, password):
    """PostgreSQL refuses NUL in text: such a sign-in gets the answer of any wrong one (found by
    schemathesis against the API on PostgreSQL)."""
    with pytest.raises(PermissionDenied, match="wrong user name or password"):
        sign_in(world.db, username, password)
