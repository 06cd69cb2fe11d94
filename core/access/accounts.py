"""Sign-in (đăng nhập): passwords stored only as salted Argon2id hashes (older scrypt hashes
are still read, and replaced at the next sign-in), sessions that expire, logout. The console and
the teachers' API both resolve a session token into the :class:`~core.access.authz.Actor`
every service call takes; their tokens are of two kinds (:data:`CONSOLE`, :data:`API`) and one
never works as the other.

Sign-in resists guessing without letting anyone lock a teacher out (:func:`sign_in`): the
answer and its cost are the same for an unknown name, an inactive account and a wrong password
(an Argon2 check against a dummy hash when there is no account), and failures slow down the
*client* that makes them — per name typed from that client, per client, and per name from
clients that never signed in to it before — never the account itself.

Wrong PINs for a server-held signing key are limited per account (:func:`attempt`): five in a
row lock that credential for fifteen minutes, audited — the user is already signed in then.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
import select as selector
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from core.access import audit
from core.access.authz import SYSTEM, Actor, Permission, require, resolve_actor
from core.kernel import clock
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation, SessionEnded, SohoaError, TooManyAttempts
from core.storage.bulk import among
from core.storage.db import Database, is_postgres
from core.storage.models import (
    CredentialLockout,
    LinkedIdentity,
    LoginSession,
    SignInThrottle,
    Staff,
    UserAccount,
)
from core.storage.statements import rows

SESSION_LIFETIME = dt.timedelta(hours=8)
#: the two kinds of session token: the console's cookie and the apps' bearer token
CONSOLE, API = "console", "api"
#: wrong PINs in a row that lock a server-held key, and for how long (a failure older than the
#: lock's length no longer counts)
MAX_WRONG_ATTEMPTS = 5
LOCKOUT = dt.timedelta(minutes=15)
_CREDENTIAL_NAMES = {"password": ("password", "mật khẩu"), "pin": ("PIN", "mã PIN")}
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_ARGON2 = PasswordHasher()  # Argon2id, RFC 9106's second recommended parameters (argon2-cffi's default)
MIN_PASSWORD = 8

#: sign-in throttling: free failures of one name from one client, then a wait that doubles at
#: each further failure up to :data:`MAX_BACKOFF`; failures are forgotten after :data:`THROTTLE_WINDOW`
FREE_FAILURES = 3
MAX_BACKOFF = dt.timedelta(minutes=15)
THROTTLE_WINDOW = dt.timedelta(minutes=15)
#: failures from one client (any names) in the window that block it for the window
CLIENT_LIMIT = 50
#: failures for one name (from any clients) in the window after which only the clients that
#: signed in to it before (in :data:`KNOWN_CLIENT_FOR`) may try it: a botnet slows down, the
#: teacher on their usual phone or at their school does not
ACCOUNT_LIMIT = 100
KNOWN_CLIENT_FOR = dt.timedelta(days=30)
WRONG = ("wrong user name or password", "Sai tên đăng nhập hoặc mật khẩu")


def hash_password(password: str) -> str:
    """An Argon2id hash (``$argon2id$…``) with a fresh salt."""
    return _ARGON2.hash(password)


def _scrypt_hash(password: str) -> str:
    """The former scheme, ``scrypt$n$r$p$salt$hash`` (kept to test the upgrade of old hashes)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + \
        f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@functools.cache
def _dummy_hash() -> str:
    """What an unknown name's password is checked against: the same work as a real check."""
    return _ARGON2.hash(secrets.token_urlsafe(16))


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (Argon2id, or a former scrypt hash); with no
    hash, the check still runs against a dummy one, so it costs the same."""
    if stored and stored.startswith("scrypt$"):
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r),
                                   p=int(p))
        return hmac.compare_digest(candidate, base64.b64decode(digest))
    try:
        return _ARGON2.verify(stored if stored and stored.startswith("$argon2") else _dummy_hash(), password) \
            and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


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


def _throttle_key(kind: str, *parts: str) -> str:
    return hashlib.sha256("\x00".join((kind, *parts)).encode()).hexdigest()


def _blocked(state: SignInThrottle | None, at: dt.datetime) -> int:
    """Seconds still to wait on this key (0: free)."""
    if state is None or state.blocked_until is None or state.blocked_until <= at:
        return 0
    return max(1, int((state.blocked_until - at).total_seconds() + 0.999))


def _fail(state: SignInThrottle, at: dt.datetime, block_after: int, *, doubling: bool) -> None:
    if state.last_failure_at is None or at - state.last_failure_at > THROTTLE_WINDOW:
        state.failures = 0
    state.failures, state.last_failure_at = (state.failures or 0) + 1, at
    if state.failures >= block_after:
        wait = min(MAX_BACKOFF, dt.timedelta(seconds=2 ** (state.failures - block_after))) if doubling \
            else THROTTLE_WINDOW
        state.blocked_until = at + wait


def sign_in(db: Database, username: str, password: str, at: dt.datetime | None = None, *,
            client: str | None = None, kind: str = CONSOLE) -> str:
    """Check the password and open a session of ``kind``; returns its token (shown once).

    ``client`` is who asks (the address the request came from). Whatever the name — an
    account's, an unknown one, an inactive one — the answer is the same: a wrong name or
    password is :class:`~core.kernel.errors.PermissionDenied` "wrong user name or password"
    (401) after the same Argon2 work, and a client that failed too often is asked to wait
    (:class:`~core.kernel.errors.TooManyAttempts`, 429 with Retry-After):

    - one name from one client: :data:`FREE_FAILURES` free failures, then a wait that doubles
      with each failure (1 s, 2 s, 4 s … up to 15 minutes);
    - one client, whatever the names: :data:`CLIENT_LIMIT` failures in 15 minutes block it;
    - one name, from every client: past :data:`ACCOUNT_LIMIT` failures in 15 minutes, only
      clients that signed in to it within :data:`KNOWN_CLIENT_FOR` may still try.

    No counter is kept on the account itself, so guesses from elsewhere never keep the teacher
    out: their own client is throttled only by their own mistakes, and signing with a token
    they already hold never passes here."""
    at = at or clock.now()
    client = client or "unknown"
    name = username if username.isprintable() and len(username) <= 200 else ""
    keys = {"pair": _throttle_key("pair", name, client), "client": _throttle_key("client", client),
            "account": _throttle_key("account", name), "known": _throttle_key("known", name, client)}
    with db.transaction() as session:
        found = {k: session.get(SignInThrottle, key, with_for_update=True) for k, key in keys.items()}
        known = found["known"] is not None and found["known"].last_success_at is not None \
            and at - found["known"].last_success_at <= KNOWN_CLIENT_FOR
        wait = max(_blocked(found["pair"], at), _blocked(found["client"], at),
                   0 if known else _blocked(found["account"], at))
        user = session.scalar(select(UserAccount).where(UserAccount.username == name)) if name else None
        if user is not None and not user.active:
            user = None
        right = check_password(password, user.password_hash if user is not None else None)  # always the same work
        if wait:
            raise TooManyAttempts(
                f"too many failed sign-ins from this device; try again in {wait} seconds",
                message_vi=f"Đăng nhập sai quá nhiều lần từ thiết bị này; thử lại sau {wait} giây", retry_after=wait)
        for k in ("pair", "client", "account", "known"):
            if found[k] is None:
                found[k] = SignInThrottle(key=keys[k], failures=0)
                session.add(found[k])
        if not right or user is None:
            _fail(found["pair"], at, FREE_FAILURES, doubling=True)
            if user is not None and found["pair"].failures == FREE_FAILURES:  # this device now waits: audited
                audit.record(session, SYSTEM, "account.locked", "user_account", user.id,
                             after={"credential": "password", "until": found["pair"].blocked_until.isoformat(),
                                    "scope": "one device"},
                             reason=f"{FREE_FAILURES} failed sign-ins in a row from one device")
            _fail(found["client"], at, CLIENT_LIMIT, doubling=False)
            _fail(found["account"], at, ACCOUNT_LIMIT, doubling=False)
            refused = PermissionDenied(WRONG[0], message_vi=WRONG[1])
            token = None
        else:
            found["pair"].failures, found["pair"].blocked_until = 0, None
            found["known"].last_success_at = at
            if user.password_hash and user.password_hash.startswith("scrypt$"):
                user.password_hash = hash_password(password)  # the former scheme, replaced
            refused = None
            token = _open_sessions(session, [user], at, "password", kind)[user.username]
    if refused:  # raised after the commit: the failure is counted even though the call fails
        raise refused
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
                  at: dt.datetime | None = None, kind: str = API) -> dict[str, str]:
    """Sessions for users someone else has already authenticated — a department's identity
    provider (OIDC, docs/console.md) or a load test's simulated phones — named in the audit
    trail by ``authenticated_by``; inactive or unknown users get none."""
    at = at or clock.now()
    names = sorted(set(usernames))
    with db.transaction() as session:
        users = [u for start in range(0, len(names), 5000)  # bounded IN lists (a city's teachers)
                 for u in session.scalars(select(UserAccount).where(UserAccount.username.in_(names[start:start + 5000]),
                                                                    UserAccount.active.is_(True)))]
        return _open_sessions(session, users, at, authenticated_by, kind)


def _open_sessions(session, users: list[UserAccount], at: dt.datetime, how: str, kind: str) -> dict[str, str]:
    tokens = {u.username: secrets.token_urlsafe(32) for u in users}
    session.add_all([LoginSession(user_id=u.id, token_hash=_digest(tokens[u.username], kind),
                                  created_at=at, expires_at=at + SESSION_LIFETIME) for u in users])
    audit.record_many(session, SYSTEM, [audit.Change("account.sign_in", "user_account", u.id,
                                                     after={"username": u.username, "by": how}) for u in users])
    return tokens


def actor_for_token(db: Database, token: str, at: dt.datetime | None = None, *, kind: str = CONSOLE) -> Actor:
    """The signed-in user behind a session token of ``kind``; expired or ended sessions, and a
    token of the other kind, are refused."""
    with db.reading() as session:
        actor = actors_in(session, {token}, at, kind=kind).get(token)
    if actor is None:
        raise PermissionDenied("the session has ended; sign in again", message_vi="Phiên đăng nhập đã hết hạn")
    return actor


def _digest(token: str, kind: str = CONSOLE) -> str:
    """What the record store keeps of a token: a SHA-256 bound to its kind, so a console cookie
    presented as an API bearer token (or the reverse) matches no session."""
    return hashlib.sha256(f"{kind}:{token}".encode()).hexdigest()


def session_check(token: str, actor: Actor):
    """A check for :meth:`core.storage.db.Database.checked`: run at the start of every read and
    unit of work of a page opened by ``actor`` with this session token, it refuses
    (:class:`~core.kernel.errors.SessionEnded`, 401) once the session has ended — signed out,
    expired, the account deactivated — or once the user's role or current scope is no longer
    the one the page was opened with (a monitor unassigned from a school, a role changed): the
    page's widgets hold that actor, so they must stop. Only the token's digest is kept."""
    digest = _digest(token, CONSOLE)

    def check(session) -> None:
        found = rows(session, _sessions_query(is_postgres(session.bind)), {"hashes": [digest]})
        at = clock.now()
        live = [r for r in found if r.ended_at is None and r.expires_at > at and r.active]
        if not live:
            raise SessionEnded("the session has ended (signed out, expired, or the account was deactivated); "
                               "sign in again",
                               message_vi="Phiên đăng nhập đã kết thúc (đã đăng xuất, hết hạn hoặc tài khoản đã bị "
                                          "vô hiệu hóa); vui lòng đăng nhập lại")
        if resolve_actor(session, live[0], staff_school_id=live[0].staff_school_id) != actor:
            raise SessionEnded("your role or the schools in your scope changed since this page was opened; "
                               "open the page again",
                               message_vi="Vai trò hoặc phạm vi trường của bạn đã thay đổi từ khi mở trang này; "
                                          "vui lòng mở lại trang")
    return check


def deactivate(db: Database, actor: Actor, username: str, reason: str) -> None:
    """An administrator deactivates an account (vô hiệu hóa tài khoản: a teacher who left):
    its sessions end at once — the console's open pages and the apps' tokens — and it can no
    longer sign in. Audited with the reason.

    Only :data:`~core.access.authz.Permission.MANAGE_ACCOUNTS` may (administrators, whose scope
    is every school); a principal, a monitor or a supervisor may not deactivate anyone, in their
    school or another. An administrator does not deactivate their own account (the last way in
    could go with it), nor one already inactive."""
    if actor is not SYSTEM:
        require(actor, Permission.MANAGE_ACCOUNTS)
    if not reason.strip():
        raise RuleViolation("give the reason for deactivating the account",
                            message_vi="Hãy ghi lý do vô hiệu hóa tài khoản")
    at = clock.now()
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username).with_for_update())
        if user is None:
            raise NotFound(f"no user {username!r}", message_vi=f"Không có người dùng {username!r}")
        if actor.user_id is not None and user.id == actor.user_id:
            raise RuleViolation("you cannot deactivate your own account",
                                message_vi="Không thể tự vô hiệu hóa tài khoản của chính mình")
        if not user.active:
            raise RuleViolation(f"the account {username!r} is already inactive",
                                message_vi=f"Tài khoản {username!r} đã bị vô hiệu hóa từ trước")
        user.active = False
        school_id = user.school_id or (session.scalar(select(Staff.school_id).where(Staff.id == user.staff_id))
                                       if user.staff_id is not None else None)
        for open_session in session.scalars(select(LoginSession).where(LoginSession.user_id == user.id,
                                                                       LoginSession.ended_at.is_(None))):
            open_session.ended_at = at
        # in the school's chain too: its principal and monitor see on their audit page who was deactivated
        audit.record(session, actor, "account.deactivate", "user_account", user.id, school_id=school_id,
                     after={"username": username, "active": False}, reason=reason.strip())


@functools.cache
def _sessions_query(postgres: bool):
    return (select(LoginSession.token_hash, LoginSession.expires_at, LoginSession.ended_at, UserAccount.id,
                   UserAccount.username, UserAccount.role, UserAccount.active, UserAccount.staff_id,
                   UserAccount.school_id, UserAccount.department_id, UserAccount.district_id,
                   Staff.school_id.label("staff_school_id"))
            .join(UserAccount, UserAccount.id == LoginSession.user_id)
            .outerjoin(Staff, Staff.id == UserAccount.staff_id)
            .where(among(LoginSession.token_hash, "hashes", postgres=postgres)))


def actors_in(session, tokens: set[str], at: dt.datetime | None = None, *, kind: str = API) -> dict[str, Actor]:
    """The actors behind many session tokens, in one query for the session, its user and a
    staff member's school, inside the caller's transaction (the signing API resolves a whole
    batch of requests with the rest of the batch); tokens that are unknown, ended or expired,
    or whose user is inactive, are left out."""
    at = at or clock.now()
    by_hash = {_digest(t, kind): t for t in tokens}
    found = rows(session, _sessions_query(is_postgres(session.bind)), {"hashes": list(by_hash)})
    return {by_hash[r.token_hash]: resolve_actor(session, r, staff_school_id=r.staff_school_id)
            for r in found if r.ended_at is None and r.expires_at > at and r.active}


#: the channel on which PostgreSQL announces, at commit, the sessions that ended and the accounts
#: whose standing changed (migration 0019's triggers): ``s:<token hash>``, ``u:<user id>``, ``t:<staff id>``
REVOCATIONS = "sohoa_session_ended"


class TokenCache:
    """The actors behind bearer tokens of one kind, kept ``seconds`` in this process so that a
    request's sign-in usually costs no query — and revocation still immediate in every process.

    On PostgreSQL a thread LISTENs on :data:`REVOCATIONS`: a logout, a revoke-all, a deactivation
    (or a session deleted, a role, scope or school changed — by any process, the console's or a
    script's) evicts the token or the user at once, as its transaction commits. The cache answers
    only while that thread listens: before it is connected, and from a lost connection until it
    is back (the cache then emptied), every token is looked up. A lookup that overlaps an eviction
    is not kept (it may have read the session before it ended).

    On SQLite (the embedded mode: one process) nothing is announced; the process evicts what it
    ends itself (:meth:`evict_token`, :meth:`evict_user`) and keeps entries ``seconds`` at most."""

    MAX_ENTRIES = 100_000
    HEARTBEAT = 5.0  #: seconds between the listener's checks that its connection is alive

    def __init__(self, db: Database, seconds: float, *, kind: str = API):
        self.db, self.seconds, self.kind = db, seconds, kind
        self._entries: dict[str, tuple[Actor, float]] = {}   # token digest -> (actor, until)
        self._generation = 0  # moved on by every eviction
        self._lock = threading.Lock()
        self.announced = db.is_postgres
        self.listening = False
        self._arriving = None  # a poll of the listener's socket
        #: while the listener reads announcements off its socket and evicts what they name: the
        #: socket then looks empty, but an announced token may still be in the cache
        self._draining = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen for revocations (PostgreSQL; nothing to do on SQLite)."""
        if self.announced and self.seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._listen, name="token-revocations", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.HEARTBEAT + 5)
            self._thread = None

    def cached(self, token: str) -> Actor | None:
        """The actor if this process knows it (no query; cheap enough for the event loop). Not
        while an announcement is arriving on the listener's socket (a poll of it, microseconds):
        a revocation committed elsewhere is never answered from the cache while its
        announcement waits for the listener thread."""
        if self.seconds <= 0:
            return None
        if self.announced:
            arriving = self._arriving
            try:
                if not self.listening or arriving is None or arriving.poll(0):
                    return None
            except (OSError, ValueError, RuntimeError):  # the connection closing meanwhile, or polled twice at once
                return None
            if self._draining:  # read off the socket, not yet evicted (checked after the poll: see _listen)
                return None
        hit = self._entries.get(_digest(token, self.kind))
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def lookup(self, token: str, at: dt.datetime | None = None) -> Actor:
        """The actor behind ``token``, read from the record store (refused with
        :class:`~core.kernel.errors.PermissionDenied` as :func:`actor_for_token`), then kept."""
        generation = self._generation
        actor = actor_for_token(self.db, token, at, kind=self.kind)
        if self.seconds > 0:
            with self._lock:
                if generation == self._generation and (self.listening or not self.announced):
                    if len(self._entries) >= self.MAX_ENTRIES:
                        self._entries.clear()
                    self._entries[_digest(token, self.kind)] = (actor, time.monotonic() + self.seconds)
        return actor

    def evict_token(self, token: str) -> None:
        self._evict_digest(_digest(token, self.kind))

    def _evict_digest(self, digest: str) -> None:
        self._evict(lambda kept, _actor: kept == digest)

    def evict_user(self, user_id: int) -> None:
        self._evict(lambda _digest_, actor: actor.user_id == user_id)

    def _evict(self, which) -> None:
        with self._lock:
            self._generation += 1
            for digest, (actor, _) in list(self._entries.items()):
                if which(digest, actor):
                    del self._entries[digest]

    def _clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def _announced(self, payload: str) -> None:
        kind, _, value = payload.partition(":")
        if kind == "s":
            self._evict_digest(value)
        elif kind == "u" and value.isdigit():
            self.evict_user(int(value))
        elif kind == "t" and value.isdigit():
            self._evict(lambda _digest_, actor: actor.staff_id == int(value))
        else:  # not ours to read: forget everything rather than keep a revoked token
            self._clear()

    def _listen(self) -> None:
        """LISTEN on a connection of its own (taken out of the pool), reconnecting after a loss."""
        log = logging.getLogger("sohoa.access")
        while not self._stop.is_set():
            conn = None
            try:
                pooled = self.db.engine.raw_connection()
                conn = pooled.driver_connection
                pooled.detach()  # this connection is the listener's for good
                conn.autocommit = True
                conn.execute(f"LISTEN {REVOCATIONS}")
                self._clear()  # what was announced while nobody listened is unknown
                self._arriving = selector.poll()
                self._arriving.register(conn.fileno(), selector.POLLIN)
                waiting = selector.poll()  # the listener's own (cached() polls the other from request threads)
                waiting.register(conn.fileno(), selector.POLLIN)
                self.listening = True
                beat = time.monotonic()
                while not self._stop.is_set():
                    arrived = bool(waiting.poll(500))
                    beating = time.monotonic() - beat > self.HEARTBEAT
                    if not (arrived or beating):
                        continue
                    # draining set before announcements leave the socket (the heartbeat's query reads
                    # them too, into psycopg's backlog), cleared once what they name is evicted
                    self._draining = True
                    try:
                        if beating:
                            conn.execute("SELECT 1")
                            beat = time.monotonic()
                        for note in conn.notifies(timeout=0):
                            self._announced(note.payload)
                    finally:
                        self._draining = False
            except Exception:  # noqa: BLE001 - the database away: every token is looked up until it is back
                if not self._stop.is_set():
                    log.warning("token revocations: the listener lost its connection; looking every token up",
                                exc_info=True)
            finally:
                self.listening, self._arriving, self._draining = False, None, False
                self._clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._stop.wait(1.0)


def sign_out(db: Database, token: str, at: dt.datetime | None = None, *, kind: str = CONSOLE) -> bool:
    """End the session of this token (logout); True when one was open."""
    with db.transaction() as session:
        row = session.scalar(select(LoginSession).where(LoginSession.token_hash == _digest(token, kind)))
        if row is None or row.ended_at is not None:
            return False
        row.ended_at = at or clock.now()
        return True


def sign_out_everywhere(db: Database, actor: Actor, at: dt.datetime | None = None) -> int:
    """End every open session of the acting user — the console's and every app token (a phone
    lost, a password seen): token revocation. Audited; returns how many ended."""
    at = at or clock.now()
    with db.transaction() as session:
        open_sessions_ = list(session.scalars(select(LoginSession).where(
            LoginSession.user_id == actor.user_id, LoginSession.ended_at.is_(None), LoginSession.expires_at > at)))
        for row in open_sessions_:
            row.ended_at = at
        audit.record(session, actor, "account.revoke_token", "user_account", actor.user_id,
                     after={"sessions_ended": len(open_sessions_)})
        return len(open_sessions_)


def link_identity(db: Database, actor: Actor, username: str, issuer: str, subject: str) -> None:
    """An administrator links a person's identity at the department's identity provider
    (``issuer`` and the ``sub`` it names them by) to their account; one identity, one account.
    Audited."""
    if actor is not SYSTEM and actor.role.value != "administrator":
        raise PermissionDenied("only an administrator links identities to accounts",
                               message_vi="Chỉ quản trị hệ thống được liên kết tài khoản định danh")
    if not issuer.startswith(("https://", "http://")) or not subject or len(subject) > 255 or len(issuer) > 300:
        raise RuleViolation("an identity is the provider's issuer URL and a subject of at most 255 characters",
                            message_vi="Định danh gồm địa chỉ nhà cung cấp (issuer) và mã người dùng (sub) "
                                       "tối đa 255 ký tự")
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).where(UserAccount.username == username))
        if user is None:
            raise NotFound(f"no user {username!r}", message_vi=f"Không có người dùng {username!r}")
        link = session.get(LinkedIdentity, (issuer, subject))
        if link is not None and link.user_id != user.id:
            raise RuleViolation("this identity is already linked to another account",
                                message_vi="Định danh này đã được liên kết với tài khoản khác")
        if link is None:
            session.add(LinkedIdentity(issuer=issuer, subject=subject, user_id=user.id, linked_at=clock.now()))
        audit.record(session, actor, "account.link_identity", "user_account", user.id,
                     after={"username": username, "issuer": issuer, "subject": subject})


def sign_in_with_identity(db: Database, issuer: str, subject: str, at: dt.datetime | None = None) -> str:
    """A console session for the account linked to an identity the department's identity
    provider has just vouched for (its ID token checked by the caller: signature, issuer,
    audience, expiry, nonce). An identity linked to no account, or to an inactive one, is
    refused; the provider's other claims (groups, roles) grant nothing. Audited as a sign-in
    ``by`` ``oidc:<issuer>``."""
    at = at or clock.now()
    with db.transaction() as session:
        user = session.scalar(select(UserAccount).join(LinkedIdentity, LinkedIdentity.user_id == UserAccount.id)
                              .where(LinkedIdentity.issuer == issuer, LinkedIdentity.subject == subject))
        if user is None or not user.active:
            refused = PermissionDenied(
                "your identity provider signed you in, but no active account here is linked to that identity; "
                "ask the administrator",
                message_vi="Nhà cung cấp định danh đã xác thực bạn, nhưng chưa có tài khoản đang hoạt động nào "
                           "được liên kết với định danh này; hãy liên hệ quản trị hệ thống")
            token = None
        else:
            refused, token = None, _open_sessions(session, [user], at, f"oidc:{issuer}", CONSOLE)[user.username]
    if refused:
        raise refused
    return token
