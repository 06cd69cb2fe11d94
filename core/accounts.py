"""Sign-in (đăng nhập): passwords stored only as salted scrypt hashes, sessions that expire,
logout. The console and the teachers' API both resolve a session token into the
:class:`~core.authz.Actor` every service call takes.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select

from core import audit, clock
from core.authz import SYSTEM, Actor, resolve_actor
from core.errors import PermissionDenied, RuleViolation
from core.storage.db import Database
from core.storage.models import LoginSession, Staff, UserAccount

SESSION_LIFETIME = dt.timedelta(hours=8)
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + \
        f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def set_password(db: Database, actor: Actor, username: str, password: str) -> None:
    """An administrator (or the user themself) sets a password; it is stored hashed only."""
    if len(password) < MIN_PASSWORD:
        raise RuleViolation(f"a password needs at least {MIN_PASSWORD} characters")
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username))
        if user is None:
            raise PermissionDenied("unknown user")
        if actor is not SYSTEM and actor.user_id != user.id and actor.role.value != "administrator":
            raise PermissionDenied("only an administrator sets another user's password")
        user.password_hash = hash_password(password)
        audit.record(session, actor, "account.set_password", "user_account", user.id, after={"username": username})


def sign_in(db: Database, username: str, password: str, at: dt.datetime | None = None) -> str:
    """Check the password and open a session; returns the session token (shown once)."""
    at = at or clock.now()
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username))
        if user is None or not user.active or not check_password(password, user.password_hash):
            raise PermissionDenied("wrong user name or password", message_vi="Sai tên đăng nhập hoặc mật khẩu")
        return _open_session(session, user, at, "password")


def open_sessions(db: Database, usernames: list[str], *, authenticated_by: str,
                  at: dt.datetime | None = None) -> dict[str, str]:
    """Sessions for users someone else has already authenticated — a department's identity
    provider (OIDC, docs/console.md) or a load test's simulated phones — named in the audit
    trail by ``authenticated_by``; inactive or unknown users get none."""
    at = at or clock.now()
    names = sorted(set(usernames))
    with db.transaction() as session:
        users = [u for start in range(0, len(names), 5000)  # bounded IN lists (a city's teachers)
                 for u in session.scalars(select(UserAccount).where(UserAccount.username.in_(names[start:start + 5000]),
                                                                    UserAccount.active.is_(True)))]
        return {u.username: _open_session(session, u, at, authenticated_by) for u in users}


def _open_session(session, user: UserAccount, at: dt.datetime, how: str) -> str:
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                             created_at=at, expires_at=at + SESSION_LIFETIME))
    audit.record(session, SYSTEM, "account.sign_in", "user_account", user.id,
                 after={"username": user.username, "by": how})
    return token


def actor_for_token(db: Database, token: str, at: dt.datetime | None = None) -> Actor:
    """The signed-in user behind a session token; expired or ended sessions are refused."""
    actor = actors_for_tokens(db, {token}, at).get(token)
    if actor is None:
        raise PermissionDenied("the session has ended; sign in again", message_vi="Phiên đăng nhập đã hết hạn")
    return actor


def actors_for_tokens(db: Database, tokens: set[str], at: dt.datetime | None = None) -> dict[str, Actor]:
    """The actors behind many session tokens, in one query for the session, its user and a
    staff member's school (the signing API resolves a whole batch of requests at once); tokens
    that are unknown, ended or expired, or whose user is inactive, are left out."""
    at = at or clock.now()
    by_hash = {hashlib.sha256(t.encode()).hexdigest(): t for t in tokens}
    with db.reading() as session:
        rows = session.execute(
            select(LoginSession.token_hash, LoginSession.expires_at, LoginSession.ended_at, UserAccount,
                   Staff.school_id)
            .join(UserAccount, UserAccount.id == LoginSession.user_id)
            .outerjoin(Staff, Staff.id == UserAccount.staff_id)
            .where(LoginSession.token_hash.in_(list(by_hash)))).all()
        return {by_hash[r.token_hash]: resolve_actor(session, r.UserAccount, staff_school_id=r.school_id)
                for r in rows if r.ended_at is None and r.expires_at > at and r.UserAccount.active}


def sign_out(db: Database, token: str, at: dt.datetime | None = None) -> None:
    with db.transaction() as session:
        row = session.scalar(select(LoginSession).where(
            LoginSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        if row is not None and row.ended_at is None:
            row.ended_at = at or clock.now()
