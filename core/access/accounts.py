"""Sign-in (đăng nhập): passwords stored only as salted scrypt hashes, sessions that expire,
logout. The console and the teachers' API both resolve a session token into the
:class:`~core.access.authz.Actor` every service call takes.

Wrong passwords and wrong PINs for a server-held signing key are limited the same way
(:func:`attempt`): five in a row lock that credential for fifteen minutes, audited.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import secrets

from sqlalchemy import select

from core.access import audit
from core.access.authz import SYSTEM, Actor, resolve_actor
from core.kernel import clock
from core.kernel.errors import PermissionDenied, RuleViolation, SohoaError, TooManyAttempts
from core.storage.bulk import among
from core.storage.db import Database, is_postgres
from core.storage.models import CredentialLockout, LoginSession, Staff, UserAccount
from core.storage.statements import rows

SESSION_LIFETIME = dt.timedelta(hours=8)
#: wrong attempts in a row that lock a credential, and for how long (a failure older than the
#: lock's length no longer counts)
MAX_WRONG_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
_CREDENTIAL_NAMES = {"password": ("password", "mật khẩu"), "pin": ("PIN", "mã PIN")}
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
        raise RuleViolation(f"a password needs at least {MIN_PASSWORD} characters",
                            message_vi=f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự")
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username))
        if user is None:
            raise PermissionDenied("unknown user", message_vi="Không có người dùng này")
        if actor is not SYSTEM and actor.user_id != user.id and actor.role.value != "administrator":
            raise PermissionDenied("only an administrator sets another user's password",
                                   message_vi="Chỉ quản trị hệ thống được đặt mật khẩu của người khác")
        user.password_hash = hash_password(password)
        audit.record(session, actor, "account.set_password", "user_account", user.id, after={"username": username})


def sign_in(db: Database, username: str, password: str, at: dt.datetime | None = None) -> str:
    """Check the password and open a session; returns the session token (shown once). Five
    wrong passwords in a row lock the account's sign-in for :data:`LOCKOUT`."""
    at = at or clock.now()
    wrong = PermissionDenied("wrong user name or password", message_vi="Sai tên đăng nhập hoặc mật khẩu")
    if not username.isprintable() or "\x00" in password:  # no account has such a name; NUL never reaches SQL
        raise wrong
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username))
        if user is None or not user.active:
            raise wrong
        refusal = attempt(session, user.id, "password", lambda: check_password(password, user.password_hash), at,
                          wrong)
        token = None if refusal else _open_sessions(session, [user], at, "password")[user.username]
    if refusal:  # raised after the commit: the failure is counted even though the call fails
        raise refusal
    return token


def attempt(session, user_id: int, credential: str, check, at: dt.datetime, wrong: SohoaError) -> SohoaError | None:
    """Run ``check`` (True when the password or PIN is right) unless the credential is locked.

    Returns ``None`` on success (the count of wrong attempts starts again), else the error to
    raise once the caller's transaction has committed, so the failure is remembered: ``wrong``
    with the attempts left, or :class:`~core.kernel.errors.TooManyAttempts` when locked — the
    :data:`MAX_WRONG_ATTEMPTS`-th failure in a row locks the credential for :data:`LOCKOUT`
    and is audited (``account.locked``). Attempts of one user are serialised by locking their
    account row, so parallel guesses cannot slip past the count."""
    session.scalar(select(UserAccount.id).where(UserAccount.id == user_id).with_for_update())
    state = session.get(CredentialLockout, (user_id, credential))
    if state is None:
        state = CredentialLockout(user_id=user_id, credential=credential, failures=0)
        session.add(state)
    if state.locked_until is not None and state.locked_until > at:
        return _locked(credential, state.locked_until, at)
    if check():
        state.failures, state.last_failure_at, state.locked_until = 0, None, None
        return None
    if state.last_failure_at is None or at - state.last_failure_at > LOCKOUT:
        state.failures = 0
    state.failures, state.last_failure_at = state.failures + 1, at
    if state.failures >= MAX_WRONG_ATTEMPTS:
        state.failures, state.locked_until = 0, at + LOCKOUT
        audit.record(session, SYSTEM, "account.locked", "user_account", user_id,
                     after={"credential": credential, "until": state.locked_until.isoformat()},
                     reason=f"{MAX_WRONG_ATTEMPTS} wrong attempts in a row")
        return _locked(credential, state.locked_until, at)
    left = MAX_WRONG_ATTEMPTS - state.failures
    return type(wrong)(f"{wrong.message} ({left} attempts left before a {LOCKOUT.seconds // 60}-minute lock)",
                       message_vi=f"{wrong.message_vi} (còn {left} lần thử trước khi bị khóa "
                                  f"{LOCKOUT.seconds // 60} phút)")


def _locked(credential: str, until: dt.datetime, at: dt.datetime) -> TooManyAttempts:
    seconds = max(1, int((until - at).total_seconds()))
    minutes = -(-seconds // 60)
    name, name_vi = _CREDENTIAL_NAMES[credential]
    return TooManyAttempts(
        f"too many wrong attempts: the {name} is locked; try again in {minutes} minutes",
        message_vi=f"Nhập sai quá {MAX_WRONG_ATTEMPTS} lần: {name_vi} bị khóa tạm, "
                   f"thử lại sau {minutes} phút",
        retry_after=seconds)


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
        return _open_sessions(session, users, at, authenticated_by)


def _open_sessions(session, users: list[UserAccount], at: dt.datetime, how: str) -> dict[str, str]:
    tokens = {u.username: secrets.token_urlsafe(32) for u in users}
    session.add_all([LoginSession(user_id=u.id, token_hash=hashlib.sha256(tokens[u.username].encode()).hexdigest(),
                                  created_at=at, expires_at=at + SESSION_LIFETIME) for u in users])
    audit.record_many(session, SYSTEM, [audit.Change("account.sign_in", "user_account", u.id,
                                                     after={"username": u.username, "by": how}) for u in users])
    return tokens


def actor_for_token(db: Database, token: str, at: dt.datetime | None = None) -> Actor:
    """The signed-in user behind a session token; expired or ended sessions are refused."""
    with db.reading() as session:
        actor = actors_in(session, {token}, at).get(token)
    if actor is None:
        raise PermissionDenied("the session has ended; sign in again", message_vi="Phiên đăng nhập đã hết hạn")
    return actor


@functools.cache
def _sessions_query(postgres: bool):
    return (select(LoginSession.token_hash, LoginSession.expires_at, LoginSession.ended_at, UserAccount.id,
                   UserAccount.username, UserAccount.role, UserAccount.active, UserAccount.staff_id,
                   UserAccount.school_id, UserAccount.department_id, UserAccount.district_id,
                   Staff.school_id.label("staff_school_id"))
            .join(UserAccount, UserAccount.id == LoginSession.user_id)
            .outerjoin(Staff, Staff.id == UserAccount.staff_id)
            .where(among(LoginSession.token_hash, "hashes", postgres=postgres)))


def actors_in(session, tokens: set[str], at: dt.datetime | None = None) -> dict[str, Actor]:
    """The actors behind many session tokens, in one query for the session, its user and a
    staff member's school, inside the caller's transaction (the signing API resolves a whole
    batch of requests with the rest of the batch); tokens that are unknown, ended or expired,
    or whose user is inactive, are left out."""
    at = at or clock.now()
    by_hash = {hashlib.sha256(t.encode()).hexdigest(): t for t in tokens}
    found = rows(session, _sessions_query(is_postgres(session.bind)), {"hashes": list(by_hash)})
    return {by_hash[r.token_hash]: resolve_actor(session, r, staff_school_id=r.staff_school_id)
            for r in found if r.ended_at is None and r.expires_at > at and r.active}


def sign_out(db: Database, token: str, at: dt.datetime | None = None) -> None:
    with db.transaction() as session:
        row = session.scalar(select(LoginSession).where(
            LoginSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))
        if row is not None and row.ended_at is None:
            row.ended_at = at or clock.now()
