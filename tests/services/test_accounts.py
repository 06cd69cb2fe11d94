"""Sign-in: hashed passwords, sessions that expire, logout; the session resolves to a scoped actor."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.accounts import actor_for_token, check_password, hash_password, set_password, sign_in, sign_out
from core.authz import SYSTEM
from core.errors import PermissionDenied, RuleViolation
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
    from core.accounts import open_sessions
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
