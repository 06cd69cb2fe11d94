"""Checkpoints (mốc kiểm chứng): signed, timestamped statements of the record store's evidence,
kept outside the database.

A checkpoint states the head (seq, hash) of every audit chain and, section by section
(:mod:`core.evidence.sections`), the facts the record store attests — issued and cancelled
transcripts, closed weeks. It is signed by the department system's service seal and
timestamped by the timestamp authority (:meth:`core.signatures.service.ServiceSeal.attest`), and
names the previous checkpoint's file and its SHA-256, so the files form a chain: one removed,
replaced or edited breaks it. Anyone holding the trust anchors can check a checkpoint
(:func:`read_checkpoints`), without the database and without trusting whoever runs it.

A checkpoint file (``checkpoint-00000042.json``, written once: :mod:`core.evidence.store`) is
canonical JSON::

    {"format": "sohoa.checkpoint-file/1", "seal": "<the seal certificate's SHA-256>",
     "statement": "<the statement, canonical JSON, as a string: the bytes signed>",
     "signature": "<base64 CMS SignedData, detached>", "timestamp": "<base64 RFC 3161 token>"}

and the statement::

    {"format": "sohoa.checkpoint/1", "sequence": 42, "taken_at": "2026-05-30T17:00:02",
     "reason": "periodic", "previous": {"name": "checkpoint-00000041.json", "sha256": "…"},
     "audit": {"<chain>": {"seq": 1830, "hash": "…"}, …},
     "sections": {"transcripts": {…}, "weeks": {…}}}

Checkpoints are written by ``sohoa checkpoint`` (cron, a systemd timer), by the
:class:`Checkpointer` loop the console and the API run, and after every weekly close the
API records (:meth:`Checkpointer.request`).
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import SYSTEM
from core.evidence.sections import SECTIONS
from core.evidence.store import CheckpointStore, checkpoint_name, sequence_of
from core.kernel import clock
from core.kernel.documents import canonical_json
from core.kernel.errors import Conflict
from core.kernel.integrity import Discrepancy
from core.signatures.cms import TrustStore
from core.signatures.service import Attestation, AttestationCheck, ServiceSeal, verify_attestation
from core.storage.db import Database
from core.storage.models import AuditEvent, AuditHead

FILE_FORMAT, STATEMENT_FORMAT = "sohoa.checkpoint-file/1", "sohoa.checkpoint/1"
#: The audit action that records each checkpoint written (its name and SHA-256), so that a
#: checkpoint removed from the store is missed even when it was the last one.
WRITTEN = "checkpoint.write"

log = logging.getLogger("sohoa.checkpoints")


@dataclass(frozen=True)
class Written:
    """A checkpoint just written."""

    name: str
    sequence: int
    sha256: str


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read from the store."""

    name: str
    sequence: int
    sha256: str                               # of the file's bytes: what the next one names
    statement: dict
    check: AttestationCheck

    @property
    def heads(self) -> dict[int, int]:
        """The audit chains' heads it anchors: chain → seq."""
        return {int(c): h["seq"] for c, h in self.statement.get("audit", {}).items()}

    @property
    def head_hashes(self) -> dict[int, tuple[int, str]]:
        return {int(c): (h["seq"], h["hash"]) for c, h in self.statement.get("audit", {}).items()}

    @property
    def sections(self) -> dict:
        return self.statement.get("sections", {})


# ---------------------------------------------------------------- the file format
def file_bytes(statement: bytes, attestation: Attestation, seal_fingerprint: str) -> bytes:
    return canonical_json({
        "format": FILE_FORMAT, "seal": seal_fingerprint, "statement": statement.decode(),
        "signature": base64.b64encode(attestation.signature).decode(),
        "timestamp": None if attestation.timestamp is None else base64.b64encode(attestation.timestamp).decode(),
    })


def parse_file(data: bytes) -> tuple[bytes, Attestation]:
    """A checkpoint file's statement (the exact bytes signed) and attestation; ValueError when
    it is not one."""
    try:
        outer = json.loads(data)
        if outer.get("format") != FILE_FORMAT:
            raise ValueError(f"not a checkpoint file ({outer.get('format')!r})")
        statement = outer["statement"].encode()
        stamp = outer.get("timestamp")
        return statement, Attestation(base64.b64decode(outer["signature"], validate=True),
                                      None if stamp is None else base64.b64decode(stamp, validate=True))
    except (KeyError, TypeError, AttributeError, UnicodeError, json.JSONDecodeError, base64.binascii.Error) as err:
        raise ValueError(f"not a checkpoint file: {type(err).__name__}") from err


def _statement_of(data: bytes) -> dict | None:
    try:
        statement = json.loads(parse_file(data)[0])
        return statement if statement.get("format") == STATEMENT_FORMAT else None
    except ValueError:
        return None


# ---------------------------------------------------------------- writing
@contextlib.contextmanager
def _snapshot(db: Database) -> Iterator[Session]:
    """A session that sees one consistent moment of the record store (REPEATABLE READ on
    PostgreSQL; a read transaction is a snapshot on SQLite): the heads and the facts agree."""
    with db.reading() as session:
        if db.is_postgres and isinstance(session.get_bind(), Engine):  # (a session on a Connection keeps its own)
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        yield session


def _events_after(session: Session, heads: dict[int, int], now: dict[int, int]) -> list[AuditEvent]:
    """The audit events after ``heads`` up to ``now`` (both chain → seq), chain by chain."""
    events: list[AuditEvent] = []
    for chain, seq in sorted(now.items()):
        if seq > heads.get(chain, 0):
            events += session.scalars(select(AuditEvent).where(
                AuditEvent.chain == chain, AuditEvent.seq > heads.get(chain, 0), AuditEvent.seq <= seq)
                .order_by(AuditEvent.seq)).all()
    return events


def write_checkpoint(db: Database, seal: ServiceSeal, store: CheckpointStore, *, reason: str = "periodic",
                     force: bool = False, attempts: int = 5) -> Written | None:
    """Take a checkpoint of the record store and write it to ``store``: None when nothing
    happened since the last one (only checkpoints written), unless ``force``. Two writers racing
    for the same name never overwrite each other: the loser takes a fresh look and writes the
    next one."""
    for _ in range(attempts):
        names = store.names()
        last = names[-1] if names else None
        previous, heads_before = None, None
        if last is not None:
            data = store.read(last)
            previous = {"name": last, "sha256": hashlib.sha256(data).hexdigest()}
            stated = _statement_of(data)
            if stated is not None:
                heads_before = {int(c): h["seq"] for c, h in stated.get("audit", {}).items()}
        sequence = (sequence_of(last) or 0) + 1 if last else 1
        with _snapshot(db) as session:
            heads = {h.id: (h.seq, h.hash) for h in session.scalars(select(AuditHead))}
            events = None if heads_before is None else _events_after(
                session, heads_before, {c: s for c, (s, _) in heads.items()})
            if events is not None and not force and all(e.action == WRITTEN for e in events):
                return None
            sections = {name: section.anchor(session, events) for name, section in SECTIONS.items()}
        statement = canonical_json({
            "format": STATEMENT_FORMAT, "sequence": sequence, "taken_at": clock.now().isoformat(),
            "reason": reason, "previous": previous,
            "audit": {str(c): {"seq": s, "hash": h} for c, (s, h) in sorted(heads.items())},
            "sections": sections,
        })
        data = file_bytes(statement, seal.attest(statement), seal.fingerprint)
        name = checkpoint_name(sequence)
        try:
            store.create(name, data)
        except FileExistsError:
            continue
        written = Written(name, sequence, hashlib.sha256(data).hexdigest())
        with db.transaction() as session:
            audit.record(session, SYSTEM, WRITTEN, "checkpoint", name,
                         after={"sha256": written.sha256, "sequence": sequence, "reason": reason})
        return written
    raise Conflict(f"another writer kept taking the next checkpoint's name ({attempts} attempts)",
                   message_vi="Một tiến trình khác liên tục ghi mốc kiểm chứng cùng lúc; hãy thử lại")


# ---------------------------------------------------------------- reading and checking
def _problem(name: str, en: str, vi: str) -> Discrepancy:
    return Discrepancy("checkpoint", name, en, vi)


def read_checkpoints(store: CheckpointStore, trust: TrustStore, *,
                     seals: Collection[str] | None = None) -> tuple[list[Checkpoint], list[Discrepancy]]:
    """Every checkpoint of ``store`` checked with the trust anchors alone: its seal's signature
    and its timestamp (by one of ``seals``, the service seal's certificate fingerprints, when
    given), its place in the chain of files (sequence, the previous file's SHA-256, time and
    audit heads moving forward only). Returns the checkpoints that hold, in order, and every
    problem found (a missing, unreadable, altered or misplaced file)."""
    found: list[Discrepancy] = []
    good: list[Checkpoint] = []
    expected = 1
    before: tuple[str, str] | None = None        # the previous file: name, SHA-256
    last_good: Checkpoint | None = None
    for name in store.names():
        sequence = sequence_of(name)
        for gone in range(expected, sequence):
            found.append(_problem(checkpoint_name(gone), "the checkpoint file is missing from the chain",
                                  "tệp mốc kiểm chứng bị mất khỏi chuỗi"))
            before = None
        expected = sequence + 1
        try:
            data = store.read(name)
        except FileNotFoundError:
            found.append(_problem(name, "the checkpoint file is missing", "tệp mốc kiểm chứng bị mất"))
            before = None
            continue
        digest = hashlib.sha256(data).hexdigest()
        try:
            statement_bytes, attestation = parse_file(data)
            statement = json.loads(statement_bytes)
            if statement.get("format") != STATEMENT_FORMAT:
                raise ValueError("not a checkpoint statement")
        except (ValueError, json.JSONDecodeError):
            found.append(_problem(name, "the file is not a readable checkpoint (altered)",
                                  "tệp không đọc được như một mốc kiểm chứng (đã bị sửa)"))
            before = (name, digest)
            continue
        check = verify_attestation(statement_bytes, attestation, trust)
        sealed = check.signature.valid and (seals is None or check.signature.signer_fingerprint in set(seals))
        problems = _attestation_problems(check, seals)
        if statement.get("sequence") != sequence:
            problems.append((f"the file names itself checkpoint {statement.get('sequence')}",
                             f"tệp tự ghi là mốc số {statement.get('sequence')}"))
        previous = statement.get("previous")
        if sequence == 1 and previous is not None:
            problems.append(("the first checkpoint names a previous one", "mốc đầu tiên lại ghi một mốc trước đó"))
        elif sequence > 1 and before is not None and previous != {"name": before[0], "sha256": before[1]}:
            problems.append((f"it does not follow {before[0]} as it is now (that file was altered or replaced)",
                             f"không nối tiếp tệp {before[0]} hiện có (tệp đó đã bị sửa hoặc thay thế)"))
        checkpoint = Checkpoint(name, sequence, digest, statement, check)
        if last_good is not None and not problems:
            problems += _moves_forward(last_good, checkpoint)
        for en, vi in problems:
            found.append(_problem(name, en, vi))
        if sealed:  # what the seal attested stands, whatever happened to the files around it
            good.append(checkpoint)
            last_good = checkpoint
        before = (name, digest)
    return good, found


def _attestation_problems(check: AttestationCheck, seals: Collection[str] | None) -> list[tuple[str, str]]:
    problems = []
    if not check.signature.valid:
        problems.append((f"the seal's signature does not verify ({check.signature.indication} "
                         f"{check.signature.sub_indication or ''}: {check.signature.message})",
                         "chữ ký của con dấu hệ thống không hợp lệ (nội dung đã bị sửa hoặc không do hệ thống ký)"))
    elif seals is not None and check.signature.signer_fingerprint not in set(seals):
        problems.append(("signed by another certificate than the service seal",
                         "được ký bằng chứng thư số khác, không phải con dấu của hệ thống"))
    if not check.timestamp.valid:
        problems.append((f"its timestamp does not hold ({check.timestamp.indication} "
                         f"{check.timestamp.sub_indication or ''}: {check.timestamp.message})",
                         "dấu thời gian không hợp lệ hoặc không có"))
    return problems


def _moves_forward(before: Checkpoint, after: Checkpoint) -> list[tuple[str, str]]:
    problems = []
    if before.check.timestamped_at and after.check.timestamped_at \
            and after.check.timestamped_at < before.check.timestamped_at:
        problems.append((f"timestamped before {before.name}", f"có dấu thời gian sớm hơn mốc {before.name}"))
    for chain, seq in sorted(before.heads.items()):
        if after.heads.get(chain, 0) < seq:
            problems.append((f"audit chain {chain} goes back from event {seq} ({before.name}) to "
                             f"{after.heads.get(chain, 0)}",
                             f"chuỗi nhật ký {chain} lùi từ sự kiện {seq} (mốc {before.name}) về "
                             f"{after.heads.get(chain, 0)}"))
    return problems


# ---------------------------------------------------------------- configuration and the loop
def seal_from_environment() -> ServiceSeal | None:
    """The service seal (settings ``seal_key``: its PKCS#12 file, default
    ``<pki_dir>/keys/service-seal.p12``; ``seal_pin``) and the timestamp authority
    (``tsa_url``), or None when no seal key is there."""
    from core.kernel import settings
    from core.signatures.ltv import tsa_url
    from core.signatures.pki import DEFAULT_PIN
    from core.signatures.service import SEAL_OWNER

    configured = settings.current()
    key = configured.seal_key or configured.effective_pki_dir / "keys" / f"{SEAL_OWNER}.p12"
    if not key.exists():
        return None
    return ServiceSeal.open(key, configured.seal_pin if configured.seal_pin is not None else DEFAULT_PIN, tsa_url())


@dataclass
class Checkpointer:
    """Writes checkpoints in the background: every ``interval`` seconds when something happened,
    and ``settle`` seconds after each :meth:`request` (a weekly close: a principal closing thirty
    classes in a row is anchored by one checkpoint, moments after the last)."""

    db: Database
    seal: ServiceSeal
    store: CheckpointStore
    interval: float = 3600.0
    settle: float = 2.0
    written: list[Written] = field(default_factory=list)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _reasons: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None

    @classmethod
    def from_environment(cls, db: Database) -> Checkpointer | None:
        """Configured by ``SOHOA_CHECKPOINT_DIR``, the seal (:func:`seal_from_environment`) and
        ``checkpoint_interval`` (seconds, default 3600); None when not configured."""
        from core.evidence.store import store_from_environment
        from core.kernel import settings

        store, seal = store_from_environment(), seal_from_environment()
        if store is None or seal is None:
            return None
        return cls(db, seal, store, interval=settings.current().checkpoint_interval)

    def request(self, reason: str) -> None:
        """Ask for a checkpoint soon (after a weekly close commits)."""
        self._reasons.append(reason)
        self._wake.set()

    def run_once(self, reason: str = "periodic") -> Written | None:
        written = write_checkpoint(self.db, self.seal, self.store, reason=reason)
        if written is not None:
            self.written.append(written)
        return written

    def start(self) -> Checkpointer:
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            requested = self._wake.wait(self.interval)
            if self._stop.is_set():
                break
            if requested:
                self._stop.wait(self.settle)  # let the closes that follow join this checkpoint
            self._wake.clear()
            reasons, self._reasons[:] = sorted(set(self._reasons)) or ["periodic"], []
            try:
                self.run_once(",".join(reasons))
            except Exception:  # noqa: BLE001 - the loop never dies; the next round tries again
                log.exception("checkpoint failed; trying again at the next round")


def checkpoint_time(checkpoint: Checkpoint) -> dt.datetime | None:
    """When the timestamp authority says the checkpoint existed (Vietnam local time)."""
    return checkpoint.check.timestamped_at
