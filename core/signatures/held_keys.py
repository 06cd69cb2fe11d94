"""Server-held personal signing keys (khóa ký số lưu trên máy chủ): the demo's and a department's
that insists on them. Opened per request with the holder's PIN; wrong PINs count towards the
credential lock of :mod:`core.access.accounts`.

Keys under the signer's sole control (a token, the phone, a remote signing service) carry more
evidential weight; see docs/evidence.md."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from core.access.accounts import attempt
from core.access.authz import Actor
from core.kernel import clock
from core.kernel.errors import KeyNotOpened, PermissionDenied
from core.signatures.signer import KeyAccessError, KeyStore
from core.storage.db import Database


def unlock_signing_key(db: Database, actor: Actor, pki_dir: Path, pin: str, at: dt.datetime | None = None):
    """The actor's server-held signing key (khóa ký số lưu trên máy chủ — remote signing, ký số
    từ xa), opened with their PIN in a fresh key store, so an unlocked key is never reused by
    another request or user. Wrong PINs count towards the lock (:func:`attempt`); a missing key
    is refused without counting."""
    if actor.staff_id is None or actor.user_id is None:
        raise PermissionDenied("only staff hold a signing key", message_vi="Chỉ cán bộ, giáo viên có khóa ký số")
    owner = f"staff-{actor.staff_id}"
    if not (Path(pki_dir) / "keys" / f"{owner}.p12").exists():
        raise KeyNotOpened("no signing key is held for you on this server",
                           message_vi="Chưa có khóa ký số của bạn trên máy chủ")
    opened = []

    def check() -> bool:
        try:
            opened.append(KeyStore(pki_dir).signer_for(owner, pin))
            return True
        except KeyAccessError:
            return False

    at = at or clock.now()
    with db.transaction() as session:
        refusal = attempt(session, actor.user_id, "pin", check, at,
                          KeyNotOpened("the signing key could not be opened: wrong PIN",
                                       message_vi="Không mở được khóa ký số: sai mã PIN"))
    if refusal:
        raise refusal
    return opened[0]
