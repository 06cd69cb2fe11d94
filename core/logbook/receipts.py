"""The server's decisions as evidence (bằng chứng quyết định của máy chủ): signed receipt batches.

When a teacher's signature is settled (:mod:`core.logbook.submissions`, or
:func:`core.logbook.entries.sign_entry`), the server's decision — on time or late, at its
receipt time, over which content, which signature, with which certificate — is kept as a
receipt whose leaf hash is computed in the same transaction
(:func:`core.logbook.rules.receipts.receipt_evidence`). The settle path does nothing more: the
bell stays as fast as before.

A **sealer** (:func:`seal_pending`; :class:`Sealer` runs it about once a second in each API
process, a job or a test calls it directly) takes the receipts not yet sealed — on PostgreSQL
``FOR UPDATE SKIP LOCKED`` under a transaction-scoped advisory lock on the chain, so two API
processes never seal the same receipt nor fork the chain — builds their Merkle tree
(RFC 6962, :mod:`core.kernel.merkle`), writes the batch statement (batch id, size, root, the
previous batch's hash, when sealed: :func:`core.logbook.rules.receipts.batch_statement`) and has
the service seal attest it (:meth:`core.signatures.service.ServiceSeal.attest`: one CMS
signature and ONE RFC 3161 timestamp per batch). The batch and each receipt's place in it
(batch, leaf index) are written in the same transaction: a crash before the commit leaves the
receipts unsealed and the next run seals them.

What follows from the seal:

- :func:`receipt_proof` — an entry's inclusion proof (the API's ``GET
  /api/v1/entries/{id}/receipt``): the receipt, its leaf hash and index, the audit path, the batch
  statement, the CMS, the timestamp token and the seal's certificate: everything its teacher
  needs to prove, years later and without the database, what the server decided;
- :func:`verify_receipt` — checks such a proof offline against trust anchors (pure);
- :func:`check_entry_receipt` — what entry verification (:mod:`core.logbook.verification`) asks:
  does the entry as stored agree with its sealed receipt?
- :func:`receipts_anchor` and :func:`receipt_discrepancies` — for the integrity check: the head of
  the chain, and everything the record store says that its sealed receipts do not back.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from core.access.authz import Actor, Permission, require
from core.kernel import clock, merkle
from core.kernel.errors import Conflict, NotFound
from core.kernel.integrity import Discrepancy
from core.kernel.vocabulary import EntryStatus
from core.logbook.entries import entry_for
from core.logbook.rules.receipts import (
    GENESIS,
    batch_hash,
    batch_statement,
    parse_vietnam_time,
    read_statement,
    receipt_hash,
    receipt_leaf,
    sealed_after_receipt,
    vietnam_time,
)
from core.signatures.cms import (
    FAILED,
    INDETERMINATE,
    PASSED,
    TrustStore,
    Verification,
    read_signature,
    signer_fingerprint,
)
from core.signatures.service import Attestation, AttestationCheck, ServiceSeal, verify_attestation
from core.storage.bulk import bulk_update
from core.storage.db import Database, is_postgres
from core.storage.models import LogbookEntry, ReceiptBatch, Submission

PROOF_FORMAT = "sohoa.receipt-proof/1"
#: at most this many receipts in one batch (a bell's second holds ~830 in a city; more wait
#: only after an outage, and then go in several batches: a proof reads its whole batch)
MAX_LEAVES = 5_000
#: the chain's lock (PostgreSQL advisory lock, held by the sealing transaction)
_CHAIN_LOCK = "sohoa.receipts.chain"

log = logging.getLogger("sohoa.receipts")


# ---------------------------------------------------------------- sealing
@dataclass(frozen=True)
class SealedBatch:
    """What one run of the sealer sealed."""

    batch_id: int
    size: int
    root: str
    sealed_at: dt.datetime
    timestamped: bool


def seal_pending(db: Database, seal: ServiceSeal, *, max_leaves: int = MAX_LEAVES,
                 at: dt.datetime | None = None) -> SealedBatch | None:
    """Seal up to ``max_leaves`` receipts not yet sealed, oldest first, as the next batch of the
    chain; None when there is nothing to seal, or (PostgreSQL) when another sealer holds the
    chain — it will take them. Everything is one transaction: a failure (the timestamp authority
    away, a crash) seals nothing and the next run takes the same receipts."""
    with db.transaction() as session:
        if is_postgres(session.bind) and not session.scalar(
                select(func.pg_try_advisory_xact_lock(func.hashtext(_CHAIN_LOCK)))):
            return None
        leaves = session.execute(
            select(Submission.id, Submission.leaf_hash)
            .where(Submission.batch_id.is_(None), Submission.leaf_hash.is_not(None))
            .order_by(Submission.id).limit(max_leaves).with_for_update(skip_locked=True)).all()
        if not leaves:
            return None
        head = session.execute(select(ReceiptBatch.id, ReceiptBatch.statement)
                               .order_by(ReceiptBatch.id.desc()).limit(1)).first()
        batch_id, previous = (head.id + 1, batch_hash(head.statement)) if head else (1, GENESIS)
        root = merkle.root([bytes.fromhex(h) for _, h in leaves]).hex()
        sealed_at = at or clock.now()
        statement = batch_statement(batch_id=batch_id, size=len(leaves), root=root, previous=previous,
                                    sealed_at=sealed_at)
        attestation = seal.attest(statement, sealed_at)
        session.add(ReceiptBatch(id=batch_id, size=len(leaves), root=root, previous=previous, sealed_at=sealed_at,
                                 statement=statement, signature=attestation.signature,
                                 timestamp=attestation.timestamp))
        session.flush()
        placed = bulk_update(session, Submission, [{"id": sid, "batch_id": batch_id, "leaf_index": n}
                                                   for n, (sid, _) in enumerate(leaves)], keys=("id",))
        if placed != len(leaves):  # the rows are locked: cannot happen; if it did, seal nothing
            raise RuntimeError(f"{len(leaves) - placed} of {len(leaves)} locked receipts were not placed")
    return SealedBatch(batch_id, len(leaves), root, sealed_at, attestation.timestamp is not None)


def seal_all(db: Database, seal: ServiceSeal, *, max_leaves: int = MAX_LEAVES) -> list[SealedBatch]:
    """Seal every receipt waiting (in batches of ``max_leaves``): a job's run, the demo's build,
    a process stopping."""
    sealed = []
    while (batch := seal_pending(db, seal, max_leaves=max_leaves)) is not None:
        sealed.append(batch)
    return sealed


class Sealer:
    """Runs :func:`seal_pending` on a thread of its own every ``interval`` seconds (sooner
    while full batches keep coming) until stopped; a failed run (the timestamp authority or the
    database away) is logged and the next one takes the same receipts. Stopping seals what is
    left once more."""

    def __init__(self, db: Database, seal: ServiceSeal, *, interval: float = 1.0, max_leaves: int = MAX_LEAVES):
        self.db, self.seal, self.interval, self.max_leaves = db, seal, interval, max_leaves
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.batches = self.leaves = self.failures = 0
        self.seconds = 0.0

    def start(self) -> "Sealer":
        self._thread = threading.Thread(target=self._run, name="receipt-sealer", daemon=True)
        self._thread.start()
        return self

    def run_once(self) -> int:
        """Seal what is waiting now; returns how many receipts were sealed."""
        sealed = 0
        while True:
            started = time.perf_counter()
            try:
                batch = seal_pending(self.db, self.seal, max_leaves=self.max_leaves)
            except Exception:  # noqa: BLE001 - the receipts wait for the next run, never lost
                self.failures += 1
                log.exception("sealing receipts failed; the next run seals them")
                return sealed
            if batch is None:
                return sealed
            self.batches, self.leaves = self.batches + 1, self.leaves + batch.size
            self.seconds += time.perf_counter() - started
            sealed += batch.size
            if batch.size < self.max_leaves:
                return sealed

    def _run(self) -> None:
        # the timestamp client loaded now, before the bell, not at the first seal (~0.4 s of CPU)
        from pyhanko.sign.timestamps import requests_client  # noqa: F401
        self.run_once()  # what a crash left unsealed, first
        while not self._stop.wait(self.interval):
            self.run_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.run_once()
        if self.batches:
            log.warning("sealer: %d receipts in %d batches, %.1f ms a batch on average",
                        self.leaves, self.batches, 1000 * self.seconds / self.batches)


# ---------------------------------------------------------------- proofs
def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _leaf_of(row) -> dict:
    """The receipt leaf of a ``submission`` row (its decision and evidence columns)."""
    return receipt_leaf(entry_id=row.entry_id, status=row.status.value, received_at=row.received_at,
                        content_hash=row.content_hash, signature_hash=row.signature_hash,
                        signer_fingerprint=row.signer_fingerprint)


def _receipts_of(session: Session, entry_id: int) -> list[Submission]:
    """An entry's receipts that are leaves (one for a signed entry), oldest first."""
    return list(session.scalars(select(Submission).where(Submission.entry_id == entry_id,
                                                         Submission.leaf_hash.is_not(None)).order_by(Submission.id)))


def _proof(session: Session, receipt: Submission) -> dict | None:
    """The inclusion proof of a sealed receipt, from the record store as it is now (None when its
    batch is no longer there)."""
    batch = session.get(ReceiptBatch, receipt.batch_id)
    if batch is None:
        return None
    hashes = [bytes.fromhex(h) for h in session.scalars(
        select(Submission.leaf_hash).where(Submission.batch_id == batch.id).order_by(Submission.leaf_index))]
    path = merkle.audit_path(hashes, receipt.leaf_index) if receipt.leaf_index < len(hashes) else []
    read = read_signature(batch.signature)
    certificate = None if isinstance(read, Verification) else read.cert_der
    return {
        "format": PROOF_FORMAT,
        "leaf": _leaf_of(receipt),
        "leaf_hash": receipt.leaf_hash,
        "leaf_index": receipt.leaf_index,
        "audit_path": [h.hex() for h in path],
        "batch": {"batch_id": batch.id, "size": batch.size, "root": batch.root, "previous": batch.previous,
                  "sealed_at": vietnam_time(batch.sealed_at), "statement": _b64(batch.statement)},
        "signature": _b64(batch.signature),
        "timestamp": _b64(batch.timestamp),
        "seal_certificate": _b64(certificate),
    }


def receipt_proof(db: Database, actor: Actor, entry_id: int) -> dict:
    """The proof that the server decided what it did for an entry (see :func:`verify_receipt`),
    for the entry's teacher or anyone who may view its school; another school's entry is not
    found. An unsigned entry has no receipt (not found); a receipt not sealed yet is a
    conflict for a second or so — ask again."""
    with db.reading() as session:
        entry = entry_for(session, actor, entry_id)
        if actor.staff_id is None or actor.staff_id != entry.teacher_id:
            require(actor, Permission.VIEW, entry.school_id)
        receipts = _receipts_of(session, entry_id)
        if not receipts:
            raise NotFound(f"entry {entry_id} has no receipt: it was not signed through the server",
                           message_vi=f"Tiết {entry_id} chưa có biên nhận ký số của máy chủ")
        if receipts[0].batch_id is None:
            raise Conflict(f"the receipt of entry {entry_id} is not sealed yet; ask again in a few seconds",
                           message_vi="Biên nhận của tiết này chưa được niêm phong; hãy thử lại sau vài giây")
        proof = _proof(session, receipts[0])
        if proof is None:
            raise NotFound(f"the sealed batch {receipts[0].batch_id} of entry {entry_id}'s receipt is missing from "
                           "the record store; report it to the department",
                           message_vi="Lô biên nhận của tiết này không còn trong cơ sở dữ liệu; hãy báo cho Sở")
        return proof


@dataclass(frozen=True)
class ReceiptReport:
    """What checking a receipt's proof found, in the ETSI EN 319 102-1 vocabulary (PASSED,
    INDETERMINATE, FAILED with a sub-indication), and the decision it proves."""

    indication: str
    sub_indication: str | None
    message: str
    leaf: dict | None = None              # the receipt: entry_id, status, received_at, hashes
    batch_id: int | None = None
    timestamped_at: dt.datetime | None = None   # Vietnam local time, from the TSA's token
    seal_fingerprint: str | None = None
    seal_subject: str | None = None

    @property
    def valid(self) -> bool:
        return self.indication == PASSED

    def verification(self) -> Verification:
        """The same as one line of a :class:`core.signatures.reports.VerificationReport`."""
        return Verification(self.indication, self.sub_indication, self.seal_fingerprint, self.seal_subject,
                            self.timestamped_at, self.message)


_STATUS_EN = {"on_time": "on time", "late": "late"}
_ATTESTED: dict[tuple, tuple[float, AttestationCheck, TrustStore]] = {}
_ATTESTED_LOCK = threading.Lock()
#: how long a batch's seal and timestamp, once checked, are taken as checked (the entries of one
#: batch verified one after another: the console, the integrity check); a revocation published
#: since is seen after this at most
ATTESTATION_CACHE_SECONDS = 300.0


def _attested(statement: bytes, signature: bytes, token: bytes | None, trust: TrustStore) -> AttestationCheck:
    """:func:`core.signatures.service.verify_attestation` of a batch, remembered for a few minutes
    per trust store (validating an RFC 3161 token costs tens of milliseconds)."""
    key = (id(trust), hashlib.sha256(statement + signature + (token or b"")).digest())
    now = time.monotonic()
    found = _ATTESTED.get(key)
    if found is not None and now - found[0] < ATTESTATION_CACHE_SECONDS and found[2] is trust:
        return found[1]
    check = verify_attestation(statement, Attestation(signature, token), trust)
    with _ATTESTED_LOCK:
        if len(_ATTESTED) >= 4096:
            _ATTESTED.clear()
        _ATTESTED[key] = (now, check, trust)
    return check


def verify_receipt(proof: dict, trust: TrustStore) -> ReceiptReport:
    """Check an inclusion proof (:func:`receipt_proof`) offline — no database, only the trust
    anchors and the pinned service seal (``trust.seals``):

    1. the receipt's fields give its leaf hash (RFC 6962: SHA-256 of 0x00 and the canonical JSON);
    2. the audit path leads from that leaf, at its index, to the root the batch statement names
       (RFC 9162 §2.1.3.2), and the statement is well formed and agrees with the fields shown;
    3. the statement is signed by the service seal (a pinned certificate chaining to the trust
       anchors) and timestamped by a trusted timestamp authority (RFC 3161);
    4. the receipt time is not after the timestamp (give or take the clocks' tolerance).

    Never raises for a malformed proof: it reports FAILED (FORMAT_FAILURE)."""
    def failed(sub: str, message: str, leaf=None, **more) -> ReceiptReport:
        return ReceiptReport(FAILED, sub, message, leaf, **more)

    try:
        leaf, batch = proof["leaf"], proof["batch"]
        index, claimed = int(proof["leaf_index"]), str(proof["leaf_hash"])
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        statement = base64.b64decode(batch["statement"], validate=True)
        signature = base64.b64decode(proof["signature"], validate=True)
        token = base64.b64decode(proof["timestamp"], validate=True) if proof.get("timestamp") else None
        shown_seal = base64.b64decode(proof["seal_certificate"], validate=True) \
            if proof.get("seal_certificate") else None
        computed = receipt_hash(leaf)
        received_at = parse_vietnam_time(leaf["received_at"])
        fields = read_statement(statement)
    except (KeyError, TypeError, ValueError, binascii.Error) as err:
        return failed("FORMAT_FAILURE", f"not a receipt proof: {type(err).__name__}: {err}")
    if computed != claimed:
        return failed("HASH_FAILURE", "the receipt's fields do not give its leaf hash: the receipt was changed", leaf)
    shown = {k: batch.get(k) for k in ("batch_id", "size", "root", "previous", "sealed_at")}
    if shown != {k: fields[k] for k in shown}:
        return failed("FORMAT_FAILURE", "the batch's fields shown differ from its signed statement", leaf)
    reached = merkle.root_from_path(bytes.fromhex(computed), index, fields["size"], path)
    if reached is None or reached.hex() != fields["root"]:
        return failed("HASH_FAILURE", f"the receipt is not leaf {index} of batch {fields['batch_id']}: "
                      "its audit path does not lead to the batch's signed root", leaf, batch_id=fields["batch_id"])
    check = _attested(statement, signature, token, trust)
    seal = check.signature
    common = {"batch_id": fields["batch_id"], "timestamped_at": check.timestamped_at,
              "seal_fingerprint": seal.signer_fingerprint, "seal_subject": seal.signer_subject}
    if not seal.valid:
        return ReceiptReport(seal.indication, seal.sub_indication, f"the batch's seal: {seal.message}", leaf, **common)
    if not trust.seal_fingerprints:
        return ReceiptReport(INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND",
                             "the trust anchors pin no service seal: who sealed the batch cannot be told", leaf,
                             **common)
    if seal.signer_fingerprint not in trust.seal_fingerprints:
        return failed("NOT_AUTHORISED_FOR_ROLE", "the batch is signed by another certificate than the "
                      "department system's service seal", leaf, **common)
    if shown_seal is not None and hashlib.sha256(shown_seal).hexdigest() != seal.signer_fingerprint:
        return failed("FORMAT_FAILURE", "the seal certificate shown is not the one that signed the batch", leaf,
                      **common)
    stamp = check.timestamp
    if not stamp.valid:
        return ReceiptReport(stamp.indication, stamp.sub_indication, f"the batch's timestamp: {stamp.message}",
                             leaf, **common)
    if not sealed_after_receipt(received_at, check.timestamped_at):
        return failed("SIG_CONSTRAINTS_FAILURE", f"the receipt time {received_at:%d/%m/%Y %H:%M:%S} is after "
                      f"its batch was timestamped ({check.timestamped_at:%d/%m/%Y %H:%M:%S})", leaf, **common)
    delay = (check.timestamped_at - received_at).total_seconds()
    return ReceiptReport(PASSED, None, f"the server decided {_STATUS_EN[leaf['status']]} at "
                         f"{received_at:%H:%M:%S %d/%m/%Y} for entry {leaf['entry_id']}; sealed in batch "
                         f"{fields['batch_id']}, timestamped {check.timestamped_at:%H:%M:%S %d/%m/%Y} "
                         f"({max(0, delay):.0f} s later)", leaf, **common)


# ---------------------------------------------------------------- an entry against its receipt
@dataclass(frozen=True)
class _EntryRow:
    status: EntryStatus
    signed_at: dt.datetime | None
    content_hash: str | None
    signature: bytes | None


def _entry_facts(entry: LogbookEntry | _EntryRow) -> dict:
    """What an entry's row says about its signing, in a receipt's terms."""
    read = read_signature(entry.signature) if entry.signature is not None else None
    return {"status": entry.status.value, "received_at": entry.signed_at, "content_hash": entry.content_hash,
            "signature_hash": hashlib.sha256(entry.signature).hexdigest() if entry.signature is not None else None,
            "signer_fingerprint": signer_fingerprint(read) if read is not None else None}


def _disagreements(facts: dict, leaf: dict) -> list[str]:
    """The fields where an entry's row and its receipt differ (names, with both values)."""
    out = []
    for name, ours in facts.items():
        theirs = parse_vietnam_time(leaf[name]) if name == "received_at" else leaf[name]
        if ours != theirs:
            shown = (lambda v: f"{v:%d/%m/%Y %H:%M:%S}" if isinstance(v, dt.datetime) else str(v))
            out.append(f"{name}: {shown(ours)} in the database, {shown(theirs)} in the sealed receipt")
    return out


@dataclass(frozen=True)
class EntryReceipt:
    """An entry's receipt as entry verification sees it: the check's outcome, and the receipt
    time it attests (None when there is no receipt)."""

    verification: Verification | None
    received_at: dt.datetime | None


def check_entry_receipt(session: Session, entry: LogbookEntry, trust: TrustStore,
                        content_hash: str | None = None) -> EntryReceipt:
    """Does the entry as stored agree with the server's sealed receipt of its signing? PASSED when
    the receipt's proof verifies (:func:`verify_receipt`) and the entry's status, signing time,
    content (``content_hash``: of its canonical bytes as they are now, else the stored column),
    signature and signer are the receipt's; FAILED when they differ (the database was changed
    after the server decided) or the batch does not verify; INDETERMINATE when the receipt is
    not sealed yet or there is none (signed before receipts were sealed). An unsigned entry
    with no receipt has nothing to check (``verification`` None)."""
    receipts = _receipts_of(session, entry.id)
    signed = entry.signature is not None or entry.status in (EntryStatus.ON_TIME, EntryStatus.LATE)
    if not receipts:
        if not signed:
            return EntryReceipt(None, None)
        return EntryReceipt(Verification(INDETERMINATE, "NO_POE", None, None, entry.signed_at,
                                         "no receipt of the server's decision was kept for this entry"), None)
    receipt = receipts[0]
    when = receipt.received_at
    if len(receipts) > 1:
        return EntryReceipt(Verification(FAILED, "SIG_CONSTRAINTS_FAILURE", None, None, when,
                                          f"{len(receipts)} receipts for one entry: it can be signed once"), when)
    if receipt.batch_id is None:
        return EntryReceipt(Verification(INDETERMINATE, "TRY_LATER", None, None, when,
                                         "the server's receipt is not sealed yet; verify again in a few seconds"),
                            when)
    proof = _proof(session, receipt)
    if proof is None:
        return EntryReceipt(Verification(FAILED, "SIGNED_DATA_NOT_FOUND", None, None, when,
                                         f"the receipt's sealed batch {receipt.batch_id} is missing from the "
                                         "record store"), when)
    report = verify_receipt(proof, trust)
    if not report.valid:
        return EntryReceipt(report.verification(), when)
    facts = _entry_facts(entry)
    if content_hash is not None:
        facts["content_hash"] = content_hash
    differ = _disagreements(facts, report.leaf)
    if differ:
        return EntryReceipt(Verification(FAILED, "SIG_CONSTRAINTS_FAILURE", report.seal_fingerprint,
                                         report.seal_subject, report.timestamped_at,
                                         "the entry was changed after the server decided: " + "; ".join(differ)),
                            when)
    return EntryReceipt(report.verification(), when)


# ---------------------------------------------------------------- the integrity check's questions
def receipts_anchor(session: Session) -> dict:
    """The head of the batch chain, for a checkpoint kept outside the database: the last sealed
    batch's id and the SHA-256 of its statement (``{"batch_id": 0, "hash": GENESIS}`` before
    the first batch)."""
    head = session.execute(select(ReceiptBatch.id, ReceiptBatch.statement)
                           .order_by(ReceiptBatch.id.desc()).limit(1)).first()
    return {"batch_id": head.id, "hash": batch_hash(head.statement)} if head else {"batch_id": 0, "hash": GENESIS}


def _found(kind: str, subject: str, message: str, message_vi: str) -> Discrepancy:
    return Discrepancy(kind, subject, message, message_vi)


def receipt_discrepancies(session: Session, trust: TrustStore, *, anchored: dict | None = None,
                          unsealed_after: dt.timedelta = dt.timedelta(minutes=10),
                          now: dt.datetime | None = None, chunk: int = 5000) -> list[Discrepancy]:
    """Everything the record store says that its sealed receipts do not back, all of it:

    - every batch whose statement, seal, timestamp, leaves or root do not verify, or whose
      chain link does not hold (a batch missing, replaced or reordered);
    - a chain that does not reach ``anchored`` (a head from :func:`receipts_anchor` kept outside
      the database): batches removed or rewritten since that checkpoint;
    - every receipt whose fields no longer give its sealed leaf, and every one still unsealed
      ``unsealed_after`` its receipt time;
    - every entry whose row (status, signing time, content hash, signature, signer) disagrees
      with its sealed receipt, and every signed entry without a receipt.

    The entries' content is compared by its stored hash here; :func:`core.logbook.verification.
    verify_entry_signature` also rebuilds it and checks the teacher's signature over it."""
    now = now or clock.now()
    found: list[Discrepancy] = []
    previous_statement, expected, last = None, 1, 0
    anchor_id = int(anchored["batch_id"]) if anchored and anchored.get("batch_id") else None
    anchor_hash = None
    while True:  # in chunks of batches: never the whole chain in memory
        batches = session.execute(select(ReceiptBatch).where(ReceiptBatch.id > last)
                                  .order_by(ReceiptBatch.id).limit(chunk)).scalars().all()
        if not batches:
            break
        for batch in batches:
            subject = f"receipt batch {batch.id}"
            if batch.id != expected:
                found.append(_found("receipt", subject, f"batches {expected} to {batch.id - 1} are missing "
                                    "from the chain", f"Thiếu lô biên nhận {expected} đến {batch.id - 1} trong chuỗi"))
            expected = last = batch.id
            expected += 1
            if batch.id == anchor_id:
                anchor_hash = batch_hash(batch.statement)
            link = batch_hash(previous_statement) if previous_statement is not None else GENESIS
            previous_statement = batch.statement
            found += _batch_discrepancies(session, batch, subject, link, trust)
        session.expunge_all()
    if anchor_id is not None:
        if anchor_hash is None:
            found.append(_found("receipt", f"receipt batch {anchor_id}", "the chain does not reach the anchored "
                                "head: the batch was removed after the checkpoint",
                                "Chuỗi biên nhận không còn tới lô đã neo: lô đã bị xóa sau điểm kiểm tra"))
        elif anchor_hash != anchored.get("hash"):
            found.append(_found("receipt", f"receipt batch {anchor_id}", "the chain's batch differs from the "
                                "anchored head: it was rewritten after the checkpoint",
                                "Lô biên nhận khác với lô đã neo: đã bị viết lại sau điểm kiểm tra"))
    late = session.execute(select(Submission.entry_id, Submission.received_at).where(
        Submission.leaf_hash.is_not(None), Submission.batch_id.is_(None),
        Submission.received_at < now - unsealed_after).order_by(Submission.id)).all()
    found += [_found("receipt", f"entry {entry_id}", f"its receipt of {received:%d/%m/%Y %H:%M:%S} is still "
                     "not sealed", f"Biên nhận lúc {received:%H:%M:%S %d/%m/%Y} vẫn chưa được niêm phong")
              for entry_id, received in late]
    orphans = session.execute(select(Submission.entry_id, Submission.batch_id).where(
        Submission.batch_id.is_not(None), ~exists().where(ReceiptBatch.id == Submission.batch_id))
        .order_by(Submission.id)).all()
    found += [_found("receipt", f"entry {entry_id}", f"its sealed batch {batch_id} is missing",
                     f"Lô biên nhận {batch_id} của tiết này đã bị xóa") for entry_id, batch_id in orphans]
    found += _entry_discrepancies(session, chunk)
    return found


def _batch_discrepancies(session: Session, batch: ReceiptBatch, subject: str, link: str,
                         trust: TrustStore) -> list[Discrepancy]:
    found = []

    def add(message: str, message_vi: str) -> None:
        found.append(_found("receipt", subject, message, message_vi))

    try:
        fields = read_statement(batch.statement)
    except ValueError as err:
        add(f"its statement is unreadable ({err})", "Không đọc được nội dung lô biên nhận")
        return found
    columns = {"batch_id": batch.id, "size": batch.size, "root": batch.root, "previous": batch.previous,
               "sealed_at": batch.sealed_at}
    signed = {**fields, "sealed_at": parse_vietnam_time(fields["sealed_at"])}
    if any(columns[k] != signed[k] for k in columns):
        add("its columns differ from its signed statement", "Các cột của lô khác với nội dung đã ký")
    if fields["previous"] != link:
        add("the chain is broken here: it does not name the previous batch's hash",
            "Chuỗi biên nhận bị đứt: lô không trỏ đúng lô trước")
    check = _attested(batch.statement, batch.signature, batch.timestamp, trust)
    if not check.signature.valid:
        add(f"its seal does not verify: {check.signature.indication} {check.signature.sub_indication or ''} "
            f"({check.signature.message})", "Chữ ký niêm phong của lô không hợp lệ")
    elif check.signature.signer_fingerprint not in trust.seal_fingerprints:
        add("it is signed by another certificate than the service seal",
            "Lô được ký bằng chứng thư khác, không phải con dấu của hệ thống")
    if not check.timestamp.valid:
        add(f"its timestamp does not verify: {check.timestamp.indication} {check.timestamp.sub_indication or ''} "
            f"({check.timestamp.message})", "Dấu thời gian của lô không hợp lệ")
    leaves = session.execute(select(Submission).where(Submission.batch_id == batch.id)
                             .order_by(Submission.leaf_index)).scalars().all()
    if [r.leaf_index for r in leaves] != list(range(fields["size"])):
        add(f"it holds {len(leaves)} receipts where its statement seals {fields['size']}",
            f"Lô chứa {len(leaves)} biên nhận nhưng đã niêm phong {fields['size']}")
    elif merkle.root([bytes.fromhex(r.leaf_hash) for r in leaves]).hex() != fields["root"]:
        add("its receipts no longer give its sealed root", "Các biên nhận của lô không còn khớp gốc đã niêm phong")
    for row in leaves:
        try:
            same = receipt_hash(_leaf_of(row)) == row.leaf_hash
        except (ValueError, AttributeError):
            same = False
        if not same:
            found.append(_found("receipt", f"entry {row.entry_id}", f"its receipt in batch {batch.id} no longer "
                                "gives its sealed leaf: it was changed after sealing",
                                "Biên nhận đã bị sửa sau khi niêm phong"))
        elif check.timestamped_at is not None and not sealed_after_receipt(row.received_at, check.timestamped_at):
            found.append(_found("receipt", f"entry {row.entry_id}", "its receipt time is after its batch's "
                                "timestamp", "Thời điểm biên nhận muộn hơn dấu thời gian của lô"))
    return found


def _entry_discrepancies(session: Session, chunk: int) -> list[Discrepancy]:
    """Entries against their sealed receipts, and signed entries without one (streamed)."""
    found = []
    E, S = LogbookEntry, Submission
    rows = session.execute(
        select(E.id, E.status, E.signed_at, E.content_hash, E.signature, S.entry_id, S.status.label("receipt_status"),
               S.received_at, S.content_hash.label("receipt_content_hash"), S.signature_hash,
               S.signer_fingerprint).join(S, S.entry_id == E.id)
        .where(S.batch_id.is_not(None)).order_by(S.id).execution_options(yield_per=chunk))
    for row in rows:
        facts = _entry_facts(_EntryRow(row.status, row.signed_at, row.content_hash, row.signature))
        try:
            leaf = receipt_leaf(entry_id=row.entry_id, status=row.receipt_status.value, received_at=row.received_at,
                                content_hash=row.receipt_content_hash, signature_hash=row.signature_hash,
                                signer_fingerprint=row.signer_fingerprint)
            differ = _disagreements(facts, leaf)
        except (ValueError, AttributeError) as err:
            differ = [f"its receipt is unreadable ({err})"]
        if differ:
            found.append(_found("entry", f"entry {row.id}", "the row disagrees with its sealed receipt: "
                                + "; ".join(differ), "Dữ liệu tiết học khác với biên nhận đã niêm phong của máy chủ "
                                "(đã bị sửa sau khi máy chủ quyết định)"))
    has_receipt = exists().where(S.entry_id == E.id, S.leaf_hash.is_not(None))
    bare = session.execute(select(E.id).where(or_(E.signature.is_not(None),
                                                  E.status.in_([EntryStatus.ON_TIME, EntryStatus.LATE])),
                                              ~has_receipt).order_by(E.id)).scalars().all()
    found += [_found("entry", f"entry {entry_id}", "signed, but the server kept no receipt of its decision",
                     "Tiết đã ký nhưng không có biên nhận của máy chủ") for entry_id in bare]
    counts = session.execute(select(S.entry_id, func.count()).where(S.leaf_hash.is_not(None))
                             .group_by(S.entry_id).having(func.count() > 1)).all()
    found += [_found("entry", f"entry {entry_id}", f"{n} receipts for one entry: it can be signed once",
                     f"{n} biên nhận cho một tiết: một tiết chỉ được ký một lần") for entry_id, n in counts]
    return found
