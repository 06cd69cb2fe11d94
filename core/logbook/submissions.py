"""Signatures submitted from teachers' apps (ký số qua app và web, HCMC sổ đầu bài số rules 2025-2026).

The app fetches an entry's canonical bytes (:func:`core.logbook.entries.entry_bytes`), signs
them with the teacher's key where the key lives (a token, a remote signing service, the
phone), and submits the detached CMS signature with an **idempotency key**. The server's
receipt time decides on time or late (:func:`core.logbook.rules.signing_window.classify_signing`),
never the time the client claims.

:func:`submit_signatures` takes a batch of submissions — from different teachers, as an API
process gathers them, each with its bearer token — and settles all of them in **one
transaction**: one query for the tokens' sessions, one locked read of the entries, one query
for the idempotency keys already seen, three for their canonical bytes, one for the
certificates, then one UPDATE and one INSERT of receipts for the whole batch. A failure of one
submission (not their entry, already signed, a bad signature) is that submission's answer
and changes nothing for it; the others go through.

Every statement of a batch has one SQL text whatever the batch's size
(:func:`core.storage.bulk.among`): on PostgreSQL it is prepared once per connection and not
planned again, and each reads related rows by key, so that a plan made once stays right as the
city's data grows. The one exception is the read of the receipts already given: that table
grows by hundreds of rows a second during a bell, and a plan made while it was small would go
on scanning it whole, so it is planned for each batch. The entries are found by their partition keys (docs/partitioning.md): a
teacher signs only periods of their own school and of the day of receipt (or the day before,
for a period ending just before midnight), so each entry is looked for in one partition; an
entry not found that way is read by its id alone, to give the same refusal as ever.

Each accepted signature leaves a receipt (:class:`~core.storage.models.Submission`): who,
which entry, when it was received, the signature's hash, under which key. A retried request
with the same key is answered from its receipt — it never signs or counts hours twice — and
the same key reused for a different entry is refused. The signed entry itself (signature,
signer, time) is the evidence of a teacher's signing; the audit trail keeps administrators'
actions.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass

from sqlalchemy import ARRAY, BigInteger, String, and_, bindparam, cast, func, select

from core.access.accounts import actors_in
from core.access.authz import Actor, Permission
from core.kernel import clock
from core.kernel.documents import sha256_hex
from core.kernel.errors import (
    BadSignature,
    CertificateNotRegistered,
    Conflict,
    NotFound,
    PermissionDenied,
    RuleViolation,
    SohoaError,
    Unauthorized,
)
from core.kernel.vocabulary import CertificateKind, EntryStatus, WeekCloseStatus
from core.logbook.entries import entries_bytes
from core.logbook.rules.receipts import receipt_evidence
from core.logbook.rules.signing_window import classify_signing, counts_as_teaching_hours
from core.signatures.cms import TrustStore, read_signature, signer_fingerprint, verify_read
from core.signatures.rules.validity import validity_problem
from core.storage.bulk import among, bulk_insert, bulk_update
from core.storage.db import Database, is_postgres
from core.storage.models import Certificate, LogbookEntry, School, Submission, WeekClose
from core.storage.statements import rows

MAX_KEY_LENGTH = 100
MAX_SIGNATURE_BYTES = 64 * 1024




@dataclass(frozen=True)
class SignatureSubmission:
    """One submitted signature. The teacher is ``actor``, or — from the signing API — the
    holder of the bearer ``token``, resolved with the rest of the batch."""

    actor: Actor | None
    entry_id: int
    signature: bytes
    idempotency_key: str
    #: when the server received it (decides on time / late); default: the batch's ``at``
    received_at: dt.datetime | None = None
    token: str | None = None


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
    from core.signatures.certificates import valid_at

    at = at or clock.now()
    checked, last = 0, 0
    while True:  # in chunks: never a long transaction, never all DER in memory at once
        with db.reading() as session:
            chunk_rows = session.execute(select(Certificate.id, Certificate.der).where(
                Certificate.kind == CertificateKind.PERSONAL, valid_at(at), Certificate.id > last)
                .order_by(Certificate.id).limit(chunk)).all()
        if not chunk_rows:
            return checked
        checked += trust.warm(der for _id, der in chunk_rows)
        last = chunk_rows[-1][0]


def _check(item: SignatureSubmission, actor: Actor | None) -> None:
    """What a submission must be before its entry is looked at: from a signed-in teacher, with
    an idempotency key, of a signature's size."""
    if actor is None:
        raise Unauthorized("the session has ended; sign in again", message_vi="Phiên đăng nhập đã hết hạn")
    key = item.idempotency_key
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise RuleViolation(f"an idempotency key of 1 to {MAX_KEY_LENGTH} printable characters is required",
                            message_vi=f"Cần khóa chống lặp (Idempotency-Key) từ 1 đến {MAX_KEY_LENGTH} ký tự")
    if actor.staff_id is None or not actor.may(Permission.SIGN_ENTRY):
        raise PermissionDenied("only teachers sign lesson entries", message_vi="Chỉ giáo viên được ký sổ đầu bài")
    if len(item.signature) > MAX_SIGNATURE_BYTES:
        raise BadSignature("the signature is too large", message_vi="Chữ ký quá lớn")


@functools.cache
def _queries(postgres: bool):
    """The batch's statements, built once (one SQL text each, whatever the batch's size):
    the entries locked, the entries by id (PostgreSQL: unlocked, for those the first missed;
    elsewhere None), the receipts already given, the certificates."""
    E, S, C = LogbookEntry.__table__, Submission.__table__, Certificate.__table__
    # the entry's columns (not its signature), its school's grace and its week's close status,
    # the last two by key: a plan made once never hashes the schools or the weeks
    columns = [*[c for c in E.c if c.name != "signature"],
               select(School.signing_grace_seconds).where(School.id == E.c.school_id)
               .scalar_subquery().label("grace"),
               select(WeekClose.status).where(WeekClose.class_id == E.c.class_id, WeekClose.week_id == E.c.week_id)
               .scalar_subquery().label("week_status")]
    by_id = select(*columns).where(among(E.c.id, "ids", postgres=postgres)).order_by(E.c.id)
    receipt = (S.c.user_id, S.c.idempotency_key, S.c.entry_id, S.c.status, S.c.received_at)
    if postgres:  # (user, key) pairs, each found by the unique index
        pairs = (func.unnest(cast(bindparam("users"), ARRAY(BigInteger)), cast(bindparam("keys"), ARRAY(String)))
                 .table_valued("user_id", "key").render_derived("wanted"))
        seen = select(*receipt).select_from(pairs.join(S, and_(S.c.user_id == pairs.c.user_id,
                                                               S.c.idempotency_key == pairs.c.key)))
    else:  # every user's keys among the batch's: the pairs are picked out after
        seen = select(*receipt).where(among(S.c.user_id, "users", postgres=False),
                                      among(S.c.idempotency_key, "keys", postgres=False))
    certificates = select(C.c.fingerprint, C.c.staff_id, C.c.not_before, C.c.not_after, C.c.revoked_at).where(
        among(C.c.fingerprint, "fingerprints", postgres=postgres))
    # locked in id order: a retry racing its original waits there, then finds its receipt
    if not postgres:
        return by_id.with_for_update(of=E), None, seen, certificates
    # each entry looked for in its one partition: (id, school) pairs on the batch's days
    keys = (func.unnest(cast(bindparam("ids"), ARRAY(BigInteger)), cast(bindparam("schools"), ARRAY(BigInteger)))
            .table_valued("id", "school_id").render_derived("wanted"))
    locked = (select(*columns).select_from(keys.join(E, and_(E.c.id == keys.c.id, E.c.school_id == keys.c.school_id)))
              .where(among(E.c.day, "days", postgres=True)).order_by(E.c.id).with_for_update(of=E))
    return locked, by_id, seen, certificates


def _read_entries(session, locked, by_id, wanted: list[tuple[int, Actor]], days: set[dt.date]) -> dict:
    """The batch's entries, locked. On PostgreSQL by their partition keys (the signer's school,
    the days of receipt), then any other by id alone: it will be refused, with the same answer
    as ever (not found, not yours, outside the signing window). Elsewhere by id, locked."""
    if by_id is None:
        return {row.id: row for row in rows(session, locked, {"ids": sorted({e for e, _ in wanted})})}
    pairs = sorted({(entry_id, school) for entry_id, actor in wanted if actor.school_ids is not None
                    for school in actor.school_ids})
    entries = {row.id: row for row in rows(
        session, locked, {"ids": [p[0] for p in pairs], "schools": [p[1] for p in pairs], "days": sorted(days)})}
    rest = sorted({entry_id for entry_id, _ in wanted} - entries.keys())
    if rest:
        entries.update((row.id, row) for row in rows(session, by_id, {"ids": rest}))
    return entries


def submit_signatures(db: Database, trust: TrustStore, items: list[SignatureSubmission],
                      at: dt.datetime | None = None, *, receipts: bool = True) -> list[Receipt | SohoaError]:
    """Settle a batch of submitted signatures in one transaction; one answer per item, in order.
    Each item is judged at its own receipt time (``received_at``, else ``at``, else now): a
    batch gathered over a few milliseconds never moves a signature across a deadline.

    Four steps, each refusing what it can decide and passing the rest on: :meth:`_Batch.admit`
    (who sends it: a signed-in teacher, a key, a signature's size), :meth:`_Batch.read` (the
    entries, locked, and the receipts already given for the keys: replays answered),
    :meth:`_Batch.judge` (the signature over the entry's bytes, the certificate registered to the
    teacher and valid, the signing window) and :meth:`_Batch.write` (one update and one insert).

    Each receipt carries its leaf hash (:func:`core.logbook.rules.receipts.receipt_evidence`) for
    the sealer of :mod:`core.logbook.receipts`; ``receipts=False`` keeps receipts as they were
    before they were sealed (no leaf: the signing API's benchmark compares both)."""
    batch = _Batch(items, at or clock.now(), receipts)
    for i, item in enumerate(items):
        if item.token is None:
            batch.admit(i, item.actor)
    # read before the transaction (no row is locked meanwhile): each signer's certificate is
    # then known when the batch's rows are read
    batch.reads = {i: read_signature(item.signature) for i, item in enumerate(items) if batch.answers[i] is None}
    if not batch.reads:
        return batch.answers
    with db.transaction() as session:
        queries = _queries(is_postgres(session.bind))
        batch.admit_tokens(session)
        candidates = batch.read(session, queries)
        if candidates:
            batch.write(session, *batch.judge(session, queries, trust, candidates))
    return batch.answers


class _Batch:
    """One batch of submissions being settled: the answers so far, and each step's findings."""

    def __init__(self, items: list[SignatureSubmission], at: dt.datetime, receipts: bool = True):
        self.items, self.receipts = items, receipts
        self.when = [item.received_at or at for item in items]
        self.answers: list[Receipt | SohoaError | None] = [None] * len(items)
        self.actors: dict[int, Actor] = {}
        self.reads: dict = {}
        self.entries: dict = {}

    def admit(self, i: int, actor: Actor | None) -> None:
        """From a signed-in teacher, with an idempotency key, of a signature's size."""
        try:
            _check(self.items[i], actor)
            self.actors[i] = actor
        except SohoaError as err:
            self.answers[i] = err

    def admit_tokens(self, session) -> None:
        """The bearer tokens resolved in one query; a token must still be valid when its last
        request came."""
        tokens = {self.items[i].token for i in self.reads if self.items[i].token is not None}
        if tokens:
            holders = actors_in(session, tokens, max(self.when[i] for i in self.reads))
            for i in self.reads:
                if self.items[i].token is not None:
                    self.admit(i, holders.get(self.items[i].token))

    def read(self, session, queries) -> list[int]:
        """The entries (locked) and the receipts already given: a retried key is answered from
        its receipt, a key reused for another entry refused; an entry not the teacher's, already
        decided or in a closed week refused. Returns the items left to judge."""
        locked, by_id, seen_query, _ = queries
        items, actors = self.items, self.actors
        todo = [i for i in self.reads if i in actors]
        if not todo:
            return []
        self.entries = entries = _read_entries(
            session, locked, by_id, [(items[i].entry_id, actors[i]) for i in todo],
            {d for i in todo for d in (self.when[i].date(), self.when[i].date() - dt.timedelta(days=1))})
        pairs = sorted({(actors[i].user_id, items[i].idempotency_key) for i in todo})
        # planned for each batch: the receipts grow by hundreds a second during a bell
        seen = {(row.user_id, row.idempotency_key): row for row in rows(
            session, seen_query, {"users": [p[0] for p in pairs], "keys": [p[1] for p in pairs]}, prepare=False)}
        fresh = []
        for i in todo:
            earlier = seen.get((actors[i].user_id, items[i].idempotency_key))
            if earlier is None:
                fresh.append(i)
            elif earlier.entry_id != items[i].entry_id:
                self.answers[i] = Conflict("this idempotency key was already used for another entry",
                                           message_vi="Khóa chống lặp này đã dùng cho một tiết khác")
            else:
                self.answers[i] = Receipt(earlier.entry_id, earlier.status, earlier.received_at,
                                          counts_as_teaching_hours(earlier.status), replayed=True)
        closed = {e.id for e in entries.values()
                  if e.week_status in (WeekCloseStatus.HOMEROOM_SIGNED, WeekCloseStatus.CLOSED)}
        candidates = []
        for i in fresh:
            item, actor, entry = items[i], actors[i], entries.get(items[i].entry_id)
            try:
                if entry is None or not actor.sees_school(entry.school_id):
                    raise NotFound(f"no logbook entry {item.entry_id}",
                                   message_vi=f"Không có tiết học {item.entry_id}")
                if entry.teacher_id != actor.staff_id:
                    raise PermissionDenied(f"entry {entry.id} is not yours: another teacher teaches that period",
                                           message_vi="Bạn không phải giáo viên dạy tiết này")
                if entry.status != EntryStatus.PENDING:
                    raise Conflict(f"entry {entry.id} is already {entry.status.value}",
                                   message_vi="Tiết học đã được ký hoặc đã quá hạn")
                if entry.id in closed:
                    raise Conflict(f"the week of entry {entry.id} is closed", message_vi="Sổ tuần đã chốt")
                candidates.append(i)
            except SohoaError as err:
                self.answers[i] = err
        return candidates

    def judge(self, session, queries, trust: TrustStore, candidates: list[int]) -> tuple[list[dict], list[dict]]:
        """Each signature checked over its entry's canonical bytes at its receipt time, its
        certificate registered to the teacher and valid then, and its status decided by the
        signing window (the first good signature of an entry signs it). Returns the entries'
        updates and the receipts to write."""
        items, actors, entries = self.items, self.actors, self.entries
        certificates_query = queries[3]
        data = entries_bytes(session, list({items[i].entry_id: entries[items[i].entry_id] for i in candidates}
                                           .values()))
        checks = {i: verify_read(data[items[i].entry_id], self.reads[i], trust, at=self.when[i]) for i in candidates}
        certificates = {c.fingerprint: c for c in rows(session, certificates_query, {"fingerprints": sorted(
            {f for f in (signer_fingerprint(self.reads[i]) for i in candidates) if f})})}
        updates, receipts = [], []
        taken: set[int] = set()
        for i in candidates:
            item, actor, entry, check, at = items[i], actors[i], entries[items[i].entry_id], checks[i], self.when[i]
            try:
                if not check.valid:
                    raise BadSignature(f"the signature does not verify: {check.indication} "
                                       f"{check.sub_indication or ''} ({check.message})".replace("  ", " "),
                                       message_vi="Chữ ký số không hợp lệ cho nội dung tiết học này")
                cert = certificates.get(check.signer_fingerprint)
                if cert is None or cert.staff_id != actor.staff_id:
                    raise CertificateNotRegistered("the signing certificate is not registered to this teacher",
                                                   message_vi="Chứng thư số không thuộc giáo viên này")
                problem = validity_problem(cert.not_before, cert.not_after, cert.revoked_at, at)
                if problem:
                    raise BadSignature(f"the signing {problem[1][4:]}", message_vi=problem[2])
                if entry.id in taken:  # the same entry twice in one batch: the first good one signs
                    raise Conflict(f"entry {entry.id} is already signed", message_vi="Tiết học đã được ký")
                # before the period starts, or after its day: refused (the signing window)
                status = classify_signing(at, entry.period_start, entry.period_end,
                                          dt.timedelta(seconds=entry.grace))
                taken.add(entry.id)
            except SohoaError as err:
                self.answers[i] = err
                continue
            updates.append({"id": entry.id, "day": entry.day, "school_id": entry.school_id,
                            "signature": item.signature, "content_hash": sha256_hex(data[entry.id]),
                            "signed_at": at, "signed_by": actor.staff_id, "status": status})
            receipt = {"user_id": actor.user_id, "idempotency_key": item.idempotency_key,
                       "entry_id": entry.id, "status": status, "received_at": at}
            if self.receipts:  # the decision as a leaf, for the sealer (core.logbook.receipts)
                receipt.update(receipt_evidence(entry_id=entry.id, status=status.value, received_at=at,
                                                signature=item.signature, content_hash=updates[-1]["content_hash"],
                                                signer_fingerprint=check.signer_fingerprint))
            else:
                receipt["signature_hash"] = hashlib.sha256(item.signature).hexdigest()
            receipts.append(receipt)
            self.answers[i] = Receipt(entry.id, status, at, counts_as_teaching_hours(status))
        return updates, receipts

    @staticmethod
    def write(session, updates: list[dict], receipts: list[dict]) -> None:
        """The entries signed and the receipts kept, in the batch's transaction."""
        if not updates:
            return
        # the entries are locked and pending: every update lands (one statement on PostgreSQL,
        # each row pruned to its partition by day and school)
        changed = bulk_update(session, LogbookEntry, updates, keys=("id", "day", "school_id"),
                              where={"status": EntryStatus.PENDING})
        if changed != len(updates):  # cannot happen under the row locks; if it did, write nothing
            raise RuntimeError(f"{len(updates) - changed} of {len(updates)} locked entries were not updated")
        bulk_insert(session, Submission, receipts)
