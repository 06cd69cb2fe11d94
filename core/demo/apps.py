"""What teachers' apps would send (dữ liệu mô phỏng cho ứng dụng): for the signing API's load
benchmark and fault tests. Each teacher with a pending period gets a fresh key "on the phone"
(a certificate from the demo CA, registered to them as an administrator would), a session
token, and a detached CMS signature of each period's canonical bytes — exactly what the app
does before it calls ``POST /api/v1/entries/{id}/signature``.
"""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core.access.accounts import open_sessions
from core.kernel.vocabulary import CertificateKind, EntryStatus
from core.logbook.entries import entries_bytes
from core.signatures import DemoPKI
from core.signatures.signer import SoftwareSigner
from core.storage.bulk import bulk_insert
from core.storage.db import Database
from core.storage.models import Certificate, LogbookEntry, Staff, UserAccount


@dataclass(frozen=True)
class AppSubmission:
    entry_id: int
    token: str
    signature_b64: str
    period_end: dt.datetime


def phone_submissions(db: Database, pki_dir: Path, day: dt.date, *, limit: int | None = None,
                      token_time: dt.datetime | None = None, progress: bool = False) -> list[AppSubmission]:
    """Signed submissions for the pending periods of ``day`` (earliest first, at most ``limit``),
    with session tokens opened at ``token_time`` (default: 06:00 that day); ``progress`` shows
    bars for the keys issued and the periods signed (minutes for a city)."""
    from tqdm import tqdm

    with db.reading() as session:
        query = (select(LogbookEntry).where(LogbookEntry.day == day, LogbookEntry.status == EntryStatus.PENDING)
                 .order_by(LogbookEntry.period_end, LogbookEntry.id))
        entries = session.scalars(query.limit(limit) if limit else query).all()
        users = dict(session.execute(select(UserAccount.staff_id, UserAccount.username)
                                     .where(UserAccount.staff_id.is_not(None))).all())
        staff = dict(session.execute(select(Staff.id, Staff.school_id)).all())
        data = {}
        for start in range(0, len(entries), 5000):
            data.update(entries_bytes(session, entries[start:start + 5000]))
    pki = DemoPKI.load(pki_dir)
    signers, rows = {}, []
    for teacher in tqdm(sorted({e.teacher_id for e in entries}), desc="Cấp khóa cho điện thoại", unit="GV",
                        disable=not progress):
        cred = pki.issue_personal(f"phone-{teacher}", f"GV {teacher}", not_before=dt.datetime(2025, 1, 1),
                                  key_file=False)
        signers[teacher] = SoftwareSigner(cred.key, cred.cert_der, [pki.issuing_der])
        rows.append({"kind": CertificateKind.PERSONAL, "staff_id": teacher, "school_id": staff[teacher],
                     "fingerprint": cred.fingerprint, "serial_hex": cred.serial_hex, "subject": cred.subject,
                     "not_before": cred.not_before, "not_after": cred.not_after, "der": cred.cert_der,
                     "revoked_at": None})
    with db.transaction() as session:
        bulk_insert(session, Certificate, rows)
    opened = token_time or dt.datetime.combine(day, dt.time(6, 0))
    # the phones signed in earlier; one password check each would cost ~50 ms (scrypt) a teacher
    by_name = open_sessions(db, [users[t] for t in signers], authenticated_by="synthetic-app", at=opened)
    tokens = {t: by_name[users[t]] for t in signers}
    return [AppSubmission(e.id, tokens[e.teacher_id],
                          base64.b64encode(signers[e.teacher_id].sign_detached(data[e.id], e.period_end)).decode(),
                          e.period_end)
            for e in tqdm(entries, desc="Ký trên điện thoại", unit="tiết", disable=not progress)]
