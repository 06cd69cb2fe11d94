"""Signatures submitted from teachers' apps (ký số qua app và web, seed 000).

The app fetches an entry's canonical bytes (:func:`core.services.logbook.entry_bytes`), signs
them with the teacher's key where the key lives (a token, a remote signing service, the
phone), and submits the detached CMS signature with an **idempotency key**. The server's
receipt time decides on time or late (:func:`core.rules.signing_window.classify_signing`),
never the time the client claims.

:func:`submit_signatures` takes a batch of submissions — from different teachers, as an API
process gathers them — and settles all of them in **one transaction**: one query for the
idempotency keys already seen, one locked read of the entries, three queries for their
canonical bytes, the certificates, then one UPDATE and one INSERT of receipts for the whole
batch. A failure of one submission (not their entry, already signed, a bad signature) is
that submission's answer and changes nothing for it; the others go through.

Each accepted signature leaves a receipt (:class:`~core.storage.models.Submission`): who,
which entry, when it was received, the signature's hash, under which key. A retried request
with the same key is answered from its receipt — it never signs or counts hours twice — and
the same key reused for a different entry is refused. The signed entry itself (signature,
signer, time) is the evidence of a teacher's signing; the audit trail keeps administrators'
actions.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, select, tuple_

from core import clock
from core.authz import Actor, Permission
from core.documents import sha256_hex
from core.errors import NotFound, PermissionDenied, RuleViolation, SohoaError
from core.rules.signing_window import classify_signing, counts_as_teaching_hours
from core.services.logbook import entries_bytes
from core.signatures.cms import TrustStore, verify_detached
from core.storage.bulk import bulk_insert, bulk_update
from core.storage.db import Database
from core.storage.models import (
    Certificate, CertificateKind, EntryStatus, LogbookEntry, School, Submission, WeekClose, WeekCloseStatus,
)

MAX_KEY_LENGTH = 100
MAX_SIGNATURE_BYTES = 64 * 1024


class Conflict(RuleViolation):
    """The request cannot be applied to the entry's current state (HTTP 409)."""

    status = 409


class BadSignature(RuleViolation):
    """The submitted bytes are not a valid signature over the entry by the teacher (HTTP 422)."""

    status = 422


@dataclass(frozen=True)
class SignatureSubmission:
    actor: Actor
    entry_id: int
    signature: bytes
    idempotency_key: str
    #: when the server received it (decides on time / late); default: the batch's ``at``
    received_at: dt.datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """The answer to one submission: the entry's signing status as the server decided it."""

    entry_id: int
    status: EntryStatus
    received_at: dt.datetime
    counts_as_teaching_hours: bool
    replayed: bool = False   # answered from an earlier receipt with the same idempotency key


def warm_certificates(db: Database, trust: TrustStore, at: dt.datetime | None = None, *,
                      chunk: int = 5000) -> int:
    """Validate the chain of every personal certificate usable at ``at`` once, before the
    first bell (an API process does it when it starts), so that at the bell a submission
    costs its own signature check only. Returns how many certificates were checked."""
    from core.services.certificates import valid_at

    at = at or clock.now()
    checked, last = 0, 0
    while True:  # in chunks: never a long transaction, never all DER in memory at once
        with db.reading() as session:
            rows = session.execute(select(Certificate.id, Certificate.der).where(
                Certificate.kind == CertificateKind.PERSONAL, valid_at(at), Certificate.id > last)
                .order_by(Certificate.id).limit(chunk)).all()
        if not rows:
            return checked
        checked += trust.warm(der for _id, der in rows)
        last = rows[-1][0]


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise RuleViolation(f"an idempotency key of 1 to {MAX_KEY_LENGTH} printable characters is required",
                            message_vi=f"Cần khóa chống lặp (Idempotency-Key) từ 1 đến {MAX_KEY_LENGTH} ký tự")


def submit_signatures(db: Database, trust: TrustStore, items: list[SignatureSubmission],
                      at: dt.datetime | None = None) -> list[Receipt | SohoaError]:
    """Settle a batch of submitted signatures in one transaction; one answer per item, in order.
    Each item is judged at its own receipt time (``received_at``, else ``at``, else now): a
    batch gathered over a few milliseconds never moves a signature across a deadline."""
    at = at or clock.now()
    when = [item.received_at or at for item in items]
    answers: list[Receipt | SohoaError | None] = [None] * len(items)
    for i, item in enumerate(items):
        try:
            _check_key(item.idempotency_key)
            if item.actor.staff_id is None or not item.actor.may(Permission.SIGN_ENTRY):
                raise PermissionDenied("only teachers sign lesson entries",
                                       message_vi="Chỉ giáo viên được ký sổ đầu bài")
            if len(item.signature) > MAX_SIGNATURE_BYTES:
                raise BadSignature("the signature is too large", message_vi="Chữ ký quá lớn")
        except SohoaError as err:
            answers[i] = err
    todo = [i for i, a in enumerate(answers) if a is None]
    if not todo:
        return answers
    with db.transaction() as session:
        # Lock the entries first: a retry racing its original waits here, then finds its receipt.
        # Plain rows (no ORM objects), with the school's grace and whether the week is closed,
        # in the same locked read: one round trip instead of three.
        E = LogbookEntry.__table__
        entries = {row.id: row for row in session.execute(
            select(*[c for c in E.c if c.name != "signature"], School.signing_grace_seconds.label("grace"),
                   WeekClose.status.label("week_status"))
            .join(School, School.id == E.c.school_id)
            .outerjoin(WeekClose, and_(WeekClose.class_id == E.c.class_id, WeekClose.week_id == E.c.week_id))
            .where(E.c.id.in_({items[i].entry_id for i in todo}))
            .order_by(E.c.id).with_for_update(of=E))}
        S = Submission.__table__
        seen = {(row.user_id, row.idempotency_key): row for row in session.execute(
            select(S.c.user_id, S.c.idempotency_key, S.c.entry_id, S.c.status, S.c.received_at).where(
                tuple_(S.c.user_id, S.c.idempotency_key).in_(
                    [(items[i].actor.user_id, items[i].idempotency_key) for i in todo])))}
        fresh = []
        for i in todo:
            earlier = seen.get((items[i].actor.user_id, items[i].idempotency_key))
            if earlier is None:
                fresh.append(i)
            elif earlier.entry_id != items[i].entry_id:
                answers[i] = Conflict("this idempotency key was already used for another entry",
                                      message_vi="Khóa chống lặp này đã dùng cho một tiết khác")
            else:
                answers[i] = Receipt(earlier.entry_id, earlier.status, earlier.received_at,
                                     counts_as_teaching_hours(earlier.status), replayed=True)
        closed = {e.id for e in entries.values()
                  if e.week_status in (WeekCloseStatus.HOMEROOM_SIGNED, WeekCloseStatus.CLOSED)}
        candidates = []
        taken: set[int] = set()
        for i in fresh:
            item, entry = items[i], entries.get(items[i].entry_id)
            try:
                if entry is None or not item.actor.sees_school(entry.school_id):
                    raise NotFound(f"no logbook entry {item.entry_id}",
                                   message_vi=f"Không có tiết học {item.entry_id}")
                if entry.teacher_id != item.actor.staff_id:
                    raise PermissionDenied(f"entry {entry.id} is not yours: another teacher teaches that period",
                                           message_vi="Bạn không phải giáo viên dạy tiết này")
                if entry.status != EntryStatus.PENDING:
                    raise Conflict(f"entry {entry.id} is already {entry.status.value}",
                                   message_vi="Tiết học đã được ký hoặc đã quá hạn")
                if entry.id in closed:
                    raise Conflict(f"the week of entry {entry.id} is closed", message_vi="Sổ tuần đã chốt")
                candidates.append(i)
            except SohoaError as err:
                answers[i] = err
        data = entries_bytes(session, [entries[items[i].entry_id] for i in candidates]) if candidates else {}
        checks = {i: verify_detached(data[items[i].entry_id], items[i].signature, trust, at=when[i])
                  for i in candidates}
        C = Certificate.__table__
        certificates = {c.fingerprint: c for c in session.execute(
            select(C.c.fingerprint, C.c.staff_id, C.c.not_before, C.c.not_after, C.c.revoked_at).where(
                C.c.fingerprint.in_({v.signer_fingerprint for v in checks.values() if v.signer_fingerprint})))}
        updates, receipts = [], []
        for i in candidates:
            item, entry, check, at = items[i], entries[items[i].entry_id], checks[i], when[i]
            try:
                if not check.valid:
                    raise BadSignature(f"the signature does not verify: {check.indication} "
                                       f"{check.sub_indication or ''} ({check.message})".replace("  ", " "),
                                       message_vi="Chữ ký số không hợp lệ cho nội dung tiết học này")
                cert = certificates.get(check.signer_fingerprint)
                if cert is None or cert.staff_id != item.actor.staff_id:
                    raise BadSignature("the signing certificate is not registered to this teacher",
                                       message_vi="Chứng thư số không thuộc giáo viên này")
                if not (cert.not_before <= at <= cert.not_after) or (cert.revoked_at and cert.revoked_at <= at):
                    raise BadSignature("the signing certificate is expired or revoked",
                                       message_vi="Chứng thư số đã hết hạn hoặc bị thu hồi")
                if entry.id in taken:  # the same entry twice in one batch: the first good one signs
                    raise Conflict(f"entry {entry.id} is already signed", message_vi="Tiết học đã được ký")
                # before the period starts, or after its day: refused (regulations: signing window)
                status = classify_signing(at, entry.period_start, entry.period_end,
                                          dt.timedelta(seconds=entry.grace))
                taken.add(entry.id)
            except SohoaError as err:
                answers[i] = err
                continue
            updates.append({"id": entry.id, "day": entry.day, "school_id": entry.school_id,
                            "signature": item.signature, "content_hash": sha256_hex(data[entry.id]),
                            "signed_at": at, "signed_by": item.actor.staff_id, "status": status})
            receipts.append({"user_id": item.actor.user_id, "idempotency_key": item.idempotency_key,
                             "entry_id": entry.id, "status": status, "received_at": at,
                             "signature_hash": hashlib.sha256(item.signature).hexdigest()})
            answers[i] = Receipt(entry.id, status, at, counts_as_teaching_hours(status))
        if updates:
            # the entries are locked and pending: every update lands (one statement on PostgreSQL,
            # each row pruned to its partition by day and school)
            changed = bulk_update(session, LogbookEntry, updates, keys=("id", "day", "school_id"),
                                  where={"status": EntryStatus.PENDING})
            if changed != len(updates):  # cannot happen under the row locks; if it did, write nothing
                raise RuntimeError(f"{len(updates) - changed} of {len(updates)} locked entries were not updated")
            bulk_insert(session, Submission, receipts)
    return answers
