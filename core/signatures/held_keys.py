"""Server-held personal signing keys (khóa ký số lưu trên máy chủ): the demo's, and a department's
that insists on them. Opened per request with the holder's PIN; wrong PINs count towards the
credential lock of :mod:`core.access.accounts`.

They are **off by default** (setting ``SOHOA_SERVER_HELD_KEYS``):

- ``off`` — nobody's personal key is on the server; people sign on their own device or through
  a remote signing service (the prepare/complete flow of :mod:`core.logbook.weekly_close`);
- ``demo`` — the demo's PKCS#12 files (``keys/staff-<id>.p12``) under its 4-digit demo PIN:
  ``sohoa demo`` sets it; never for real records;
- ``protected`` — where a department insists: each key is sealed (AES-256-GCM) under
  ``HMAC-SHA256(pepper, Argon2id(PIN, salt))`` (``keys/staff-<id>.key.json``), with a PIN of at
  least 6 digits that is not trivial (:func:`check_pin`), and a pepper
  (``SOHOA_KEY_PEPPER_FILE``, 32 bytes) kept off the disk that holds the keys and the database
  (an HSM/KMS secret, or a secret mounted from elsewhere). Without the pepper a stolen disk
  gives nothing to guess at; with it, each guess costs Argon2id's memory and time.

A signature made with a server-held key shows that someone who knew the PIN asked the server
to sign — not that the key was under the signer's sole control (Luật Giao dịch điện tử 2023,
Art. 22-23; Nghị định 23/2025/NĐ-CP): keys under the signer's sole control (a token, the phone,
a remote signing service) carry more evidential weight; see docs/evidence.md."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from core.access.accounts import attempt
from core.access.authz import Actor
from core.kernel import clock
from core.kernel.errors import KeyNotOpened, PermissionDenied, SigningUnavailable, WeakPin
from core.signatures.signer import KeyAccessError, KeyStore, SoftwareSigner
from core.storage.db import Database

#: The setting and its values.
SETTING, OFF, DEMO, PROTECTED = "SOHOA_SERVER_HELD_KEYS", "off", "demo", "protected"
PEPPER_SETTING = "SOHOA_KEY_PEPPER_FILE"

MIN_PIN_DIGITS = 6
#: A few of the PINs people choose most (one repeated digit, runs and repeats are refused by rule).
COMMON_PINS = frozenset({"123456", "654321", "123123", "112233", "121212", "696969", "123321", "147258",
                         "159753", "111222", "000001", "102030", "010203", "520520", "131313", "686868",
                         "868686", "789456", "456789", "101010", "202020", "112233", "778899"})


@dataclass(frozen=True)
class KdfParams:
    """Argon2id (RFC 9106) parameters, stored with each sealed key so keys can be re-sealed
    when hardware grows."""

    memory_kib: int = 256 * 1024
    iterations: int = 2
    lanes: int = 1

    def derive(self, pin: str, salt: bytes) -> bytes:
        from argon2.low_level import Type, hash_secret_raw

        return hash_secret_raw(pin.encode(), salt, time_cost=self.iterations, memory_cost=self.memory_kib,
                               parallelism=self.lanes, hash_len=32, type=Type.ID)


#: The product's setting on its 2-core servers: 256 MiB and ~0.75-1.1 s a guess (measured
#: 2026-12-07, see docs/evidence.md); an unlock is rare (a week close, a batch).
RECOMMENDED = KdfParams()
#: At most two unlocks run at once in a process (each costs RECOMMENDED.memory_kib).
_UNLOCKS = threading.BoundedSemaphore(2)


def check_pin(pin: str) -> None:
    """The PIN policy for a server-held key: at least :data:`MIN_PIN_DIGITS` digits (or a
    passphrase of 10+ characters); not one repeated digit, not a run (123456, 987654), not a
    repeated pair or triple (121212, 123123), not a common PIN. Raises :class:`WeakPin`."""
    if not pin.isdigit():
        if len(pin) < 10:
            raise WeakPin("a passphrase needs at least 10 characters",
                          message_vi="Cụm mật khẩu cần ít nhất 10 ký tự")
        return
    if len(pin) < MIN_PIN_DIGITS:
        raise WeakPin(f"a PIN needs at least {MIN_PIN_DIGITS} digits",
                      message_vi=f"Mã PIN cần ít nhất {MIN_PIN_DIGITS} chữ số")
    if (len(set(pin)) == 1 or pin in "01234567890123456789" or pin in "98765432109876543210"
            or pin in COMMON_PINS or re.fullmatch(r"(\d\d)\1+|(\d\d\d)\2+", pin)):
        raise WeakPin("this PIN is too easy to guess: choose one without runs or repeats",
                      message_vi="Mã PIN quá dễ đoán: hãy chọn mã không lặp lại và không theo dãy")


def _aad(owner: str, fingerprint: str) -> bytes:
    return f"{owner}|{fingerprint}".encode()


def seal_key(private_key_pkcs8: bytes, cert_der: bytes, chain_der: list[bytes], pin: str, *, pepper: bytes,
             owner: str, params: KdfParams = RECOMMENDED) -> bytes:
    """The sealed record of a server-held key (JSON bytes). The PIN must pass :func:`check_pin`;
    the owner and the certificate's fingerprint are bound as associated data, so a record
    cannot be moved onto another person."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    check_pin(pin)
    if len(pepper) < 32:
        raise ValueError("the pepper must have at least 32 bytes")
    salt, nonce = os.urandom(16), os.urandom(12)
    fingerprint = hashlib.sha256(cert_der).hexdigest()
    kek = hmac.new(pepper, params.derive(pin, salt), hashlib.sha256).digest()
    sealed = AESGCM(kek).encrypt(nonce, private_key_pkcs8, _aad(owner, fingerprint))
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return json.dumps({"v": 1, "kdf": "argon2id", **asdict(params), "salt": b64(salt), "aead": "AES-256-GCM",
                       "nonce": b64(nonce), "owner": owner, "cert_fingerprint": fingerprint,
                       "certificate": b64(cert_der), "chain": [b64(c) for c in chain_der],
                       "sealed": b64(sealed)}, indent=1).encode()


def open_sealed_key(record: bytes, pin: str, *, pepper: bytes) -> SoftwareSigner:
    """The signer of a sealed record; :class:`KeyAccessError` for a wrong PIN (or a wrong
    pepper, or a record moved to another owner: the three look the same)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = json.loads(record)
    params = KdfParams(data["memory_kib"], data["iterations"], data["lanes"])
    with _UNLOCKS:
        kek = hmac.new(pepper, params.derive(pin, base64.b64decode(data["salt"])), hashlib.sha256).digest()
    try:
        pkcs8 = AESGCM(kek).decrypt(base64.b64decode(data["nonce"]), base64.b64decode(data["sealed"]),
                                    _aad(data["owner"], data["cert_fingerprint"]))
    except InvalidTag as err:
        raise KeyAccessError("cannot open the signing key: wrong PIN") from err
    key = serialization.load_der_private_key(pkcs8, None)
    return SoftwareSigner(key, base64.b64decode(data["certificate"]), [base64.b64decode(c) for c in data["chain"]])


@dataclass(frozen=True)
class HeldKeys:
    """Where server-held keys are (``directory/keys``), how they are protected (``demo`` or
    ``protected``) and, for ``protected``, the pepper."""

    directory: Path
    mode: str = DEMO
    pepper: bytes | None = None

    @classmethod
    def from_environment(cls, pki_dir: Path, environ=None) -> HeldKeys | None:
        """The setting ``server_held_keys`` (``SOHOA_SERVER_HELD_KEYS``, default ``off``: None); a
        mapping ``environ`` of ``SOHOA_*`` variables instead of this process's settings."""
        from core.kernel import settings

        configured = settings.current() if environ is None else settings.load(environ=environ)
        mode = (configured.server_held_keys or OFF).strip().lower()
        if mode == OFF:
            return None
        if mode == DEMO:
            return cls(Path(pki_dir), DEMO)
        if mode == PROTECTED:
            path = configured.key_pepper_file
            if not path or not Path(path).is_file():
                raise SigningUnavailable(f"{SETTING}=protected needs {PEPPER_SETTING}: a file of 32 random bytes "
                                         "kept off the disk that holds the keys",
                                         message_vi="Khóa lưu trên máy chủ cần tệp bí mật (pepper) đặt ngoài ổ "
                                                    "đĩa chứa khóa")
            if Path(path).resolve().is_relative_to(Path(pki_dir).resolve()):
                raise SigningUnavailable("the pepper must not be stored with the keys",
                                         message_vi="Tệp bí mật (pepper) không được lưu cùng chỗ với khóa")
            return cls(Path(pki_dir), PROTECTED, Path(path).read_bytes())
        raise ValueError(f"{SETTING} must be off, demo or protected, not {mode!r}")

    def key_file(self, owner: str) -> Path:
        return self.directory / "keys" / (f"{owner}.p12" if self.mode == DEMO else f"{owner}.key.json")

    def open(self, owner: str, pin: str) -> SoftwareSigner:
        if self.mode == DEMO:
            return KeyStore(self.directory).signer_for(owner, pin)
        return open_sealed_key(self.key_file(owner).read_bytes(), pin, pepper=self.pepper)

    def enrol(self, owner: str, private_key, cert_der: bytes, chain_der: list[bytes], pin: str,
              params: KdfParams = RECOMMENDED) -> Path:
        """Store a key sealed under ``pin`` (``protected`` mode; the PIN policy applies)."""
        from cryptography.hazmat.primitives import serialization

        if self.mode != PROTECTED:
            raise ValueError("keys are enrolled sealed in protected mode only")
        pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        path = self.key_file(owner)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(seal_key(pkcs8, cert_der, chain_der, pin, pepper=self.pepper, owner=owner, params=params))
        return path


def unlock_signing_key(db: Database, actor: Actor, keys: HeldKeys | Path, pin: str, at: dt.datetime | None = None):
    """The actor's server-held signing key, opened with their PIN in a fresh key store, so an
    unlocked key is never reused by another request or user. ``keys`` is the setting's
    :class:`HeldKeys` (a bare directory means the demo's key files). Wrong PINs count towards
    the lock (:func:`attempt`); a missing key is refused without counting."""
    if actor.staff_id is None or actor.user_id is None:
        raise PermissionDenied("only staff hold a signing key", message_vi="Chỉ cán bộ, giáo viên có khóa ký số")
    return open_held_key(db, actor, keys, f"staff-{actor.staff_id}", pin, at,
                         missing=KeyNotOpened("no signing key is held for you on this server",
                                              message_vi="Chưa có khóa ký số của bạn trên máy chủ"),
                         wrong=KeyNotOpened("the signing key could not be opened: wrong PIN",
                                            message_vi="Không mở được khóa ký số: sai mã PIN"))


def open_held_key(db: Database, actor: Actor, keys: HeldKeys | Path, owner: str, pin: str,
                  at: dt.datetime | None, *, missing: KeyNotOpened, wrong: KeyNotOpened):
    """The server-held key of ``owner`` (``staff-<id>``, ``school-<id>``), opened with ``pin`` in
    a fresh key store; a wrong PIN counts towards the actor's lock (:func:`attempt`) and raises
    ``wrong``, a key not held raises ``missing`` without counting."""
    held = keys if isinstance(keys, HeldKeys) else HeldKeys(Path(keys), DEMO)
    if not held.key_file(owner).exists():
        raise missing
    opened = []

    def check() -> bool:
        try:
            opened.append(held.open(owner, pin))
            return True
        except KeyAccessError:
            return False

    with db.transaction() as session:
        refusal = attempt(session, actor.user_id, "pin", check, at or clock.now(), wrong)
    if refusal:
        raise refusal
    return opened[0]
