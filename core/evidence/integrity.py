"""The integrity check (kiểm tra toàn vẹn, ``sohoa verify-integrity``): the record store against
the checkpoints kept outside it, listing every discrepancy.

What it checks, each finding a :class:`~core.kernel.integrity.Discrepancy`:

1. the checkpoint files themselves — the seal's signature, the timestamp, the chain of files
   (:func:`core.evidence.checkpoints.read_checkpoints`), and that every checkpoint the audit trail
   says was written is still there, unchanged;
2. every audit chain, recomputed event by event (an event gone, altered, unlinked), and at
   every head a checkpoint anchored: the event must still be there with that hash — so that
   even a consistent rewrite, every hash recomputed, is found;
3. each section's facts (:mod:`core.evidence.sections`): issued and cancelled transcripts,
   closed weeks (and their summaries recomputed from the entries), and any section registered
   later;
4. every signed lesson entry: signed statuses carry a signature and a receipt time, the status
   is what the signing window says of that time (on PostgreSQL in SQL:
   :func:`core.logbook.rules.signing_window.window_verdict_sql`), the receipt time is the signing
   time inside the teacher's signature, and the app's receipt (``submission``) says the same.

Whoever edits the record store with the triggers off and the hashes recomputed still cannot sign
as the service seal, the timestamp authority, the teachers or the principal: what they changed no
longer matches what those signed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection

from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from core.access.audit import chain_problems
from core.evidence.checkpoints import WRITTEN, Checkpoint, read_checkpoints
from core.evidence.facts import status_vi
from core.evidence.sections import SECTIONS
from core.evidence.store import CheckpointStore
from core.kernel.integrity import Discrepancy
from core.kernel.vocabulary import EntryStatus
from core.logbook.rules.signing_window import window_verdict, window_verdict_sql
from core.signatures.cms import TrustStore, read_signature
from core.storage.db import Database, is_postgres
from core.storage.models import AuditEvent, LogbookEntry, School, Submission

SIGNED = (EntryStatus.ON_TIME, EntryStatus.LATE)
_CHAIN_VI = {"missing": "sự kiện {seq} bị mất", "link": "sự kiện {seq} không nối với sự kiện trước",
             "altered": "sự kiện {seq} không khớp mã băm của nó (đã bị sửa)",
             "tail": "các sự kiện sau sự kiện {last} bị mất"}


def verify_integrity(db: Database, trust: TrustStore, store: CheckpointStore, *,
                     seals: Collection[str] | None = None, entry_signatures: bool = True) -> list[Discrepancy]:
    """Every discrepancy between the record store and its checkpoints (see the module's
    docstring); an empty list when none. ``seals``: the service seal certificates' SHA-256
    fingerprints a checkpoint must be signed with (None: any certificate the trust anchors
    accept). ``entry_signatures``: also read each signed entry's CMS signing time (the largest
    read of the check: every lesson signature)."""
    checkpoints, found = read_checkpoints(store, trust, seals=seals)
    if not checkpoints and not found:
        found.append(Discrepancy("checkpoint", "checkpoints", "no checkpoint: nothing outside the database anchors "
                                 "the record store yet (run `sohoa checkpoint`)",
                                 "chưa có mốc kiểm chứng nào: không có gì bên ngoài cơ sở dữ liệu neo giữ dữ liệu "
                                 "(hãy chạy `sohoa checkpoint`)"))
    with db.reading() as session:
        found += written_checkpoints(session, store)
        found += audit_discrepancies(session, checkpoints)
        states: dict[str, object] = {}
        for checkpoint in checkpoints:
            for name, stated in checkpoint.sections.items():
                section = SECTIONS.get(name)
                if section is not None:
                    states[name], between = section.fold(states.get(name), stated, checkpoint)
                    found += between
        for name, section in SECTIONS.items():
            found += section.discrepancies(session, trust, anchored=states.get(name))
        found += entry_discrepancies(session, signatures=entry_signatures)
        found += receipt_mismatches(session)
    return found


# ---------------------------------------------------------------- the checkpoints the trail names
def written_checkpoints(session: Session, store: CheckpointStore) -> list[Discrepancy]:
    """Every checkpoint the audit trail says was written is in the store, unchanged (so that the
    last one cannot be removed unseen: nothing after it in the chain of files would show it)."""
    found = []
    names = set(store.names())
    for name, after in session.execute(select(AuditEvent.entity_id, AuditEvent.after)
                                       .where(AuditEvent.action == WRITTEN).order_by(AuditEvent.id)):
        if name not in names:
            found.append(Discrepancy("checkpoint", name, "the audit trail records this checkpoint, but its file is "
                                     "gone from the store", "nhật ký ghi nhận mốc này nhưng tệp đã mất khỏi kho"))
        elif hashlib.sha256(store.read(name)).hexdigest() != (after or {}).get("sha256"):
            found.append(Discrepancy("checkpoint", name, "the file differs from the one the audit trail records",
                                     "tệp khác với tệp mà nhật ký đã ghi nhận"))
    return found


# ---------------------------------------------------------------- the audit chains
def audit_discrepancies(session: Session, checkpoints: list[Checkpoint]) -> list[Discrepancy]:
    """Every break of every audit chain, and every anchored head that the chain no longer has."""
    found = []
    for problem in chain_problems(session):
        vi = _CHAIN_VI[problem.kind].format(seq=problem.seq, last=problem.seq - 1)
        found.append(Discrepancy("audit", f"audit chain {problem.chain} event {problem.seq}", problem.message,
                                 f"chuỗi nhật ký {problem.chain}: {vi}"))
    anchors: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for checkpoint in checkpoints:
        for chain, (seq, digest) in checkpoint.head_hashes.items():
            if seq:
                anchors.setdefault((chain, seq), []).append((checkpoint.name, digest))
    keys = sorted(anchors)
    stored: dict[tuple[int, int], str] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        stored.update(((c, s), h) for c, s, h in session.execute(
            select(AuditEvent.chain, AuditEvent.seq, AuditEvent.hash)
            .where(tuple_(AuditEvent.chain, AuditEvent.seq).in_(chunk))))
    for (chain, seq), anchored in sorted(anchors.items()):
        for name, digest in anchored:
            now = stored.get((chain, seq))
            subject = f"audit chain {chain} event {seq}"
            if now is None:
                found.append(Discrepancy("audit", subject, f"anchored by {name}, the event is gone (the trail was cut "
                                         "or rewritten)", f"sự kiện đã được neo ở mốc {name} nhưng không còn "
                                         "(nhật ký đã bị cắt hoặc viết lại)"))
            elif now != digest:
                found.append(Discrepancy("audit", subject, f"its hash differs from the one {name} anchored: the "
                                         "history up to it was rewritten", f"mã băm khác với mã đã neo ở mốc {name}: "
                                         "lịch sử đến sự kiện này đã bị viết lại"))
    return found


# ---------------------------------------------------------------- lesson entries and receipts
def _entry(entry_id: int, en: str, vi: str) -> Discrepancy:
    return Discrepancy("entry", f"entry {entry_id}", f"entry {entry_id}: {en}", f"tiết {entry_id}: {vi}")


def _judge(row) -> list[Discrepancy]:
    status = EntryStatus(row.status)
    if status in SIGNED:
        if row.signed_at is None or not row.has_signature:
            return [_entry(row.id, f"{status.value} without a signature and a receipt time",
                           f"{status_vi(status.value)} nhưng không có chữ ký hoặc thời điểm nhận")]
        verdict = row.verdict
        if verdict != status.value:
            return [_entry(row.id, f"recorded {status.value}, but received at {row.signed_at:%d/%m/%Y %H:%M:%S} the "
                                   f"signing window says {verdict}",
                           f"ghi là {status_vi(status.value)}, nhưng nhận lúc {row.signed_at:%H:%M:%S %d/%m/%Y} "
                           f"thì khung giờ ký cho kết quả {status_vi(verdict)}")]
    elif row.signed_at is not None or row.has_signature:
        return [_entry(row.id, f"recorded {status.value}, yet it has a signature or a receipt time",
                       f"ghi là {status_vi(status.value)} nhưng lại có chữ ký hoặc thời điểm nhận")]
    return []


def entry_discrepancies(session: Session, *, signatures: bool = True) -> list[Discrepancy]:
    """Every entry whose status disagrees with its signature, its receipt time and the signing
    window; with ``signatures``, every receipt time that is not the signing time inside the
    teacher's CMS signature."""
    E, S = LogbookEntry.__table__.c, School.__table__.c
    signed = [s.value for s in SIGNED]
    found: list[Discrepancy] = []
    if is_postgres(session.bind):
        verdict = window_verdict_sql("e.signed_at", "e.period_start", "e.period_end", "s.signing_grace_seconds")
        rows = session.execute(text(f"""
            SELECT e.id, e.status, e.signed_at, e.signature IS NOT NULL AS has_signature, {verdict} AS verdict
            FROM logbook_entry e JOIN school s ON s.id = e.school_id
            WHERE (e.status IN ('on_time', 'late') AND (e.signature IS NULL OR e.signed_at IS NULL
                                                        OR {verdict} <> e.status))
               OR (e.status NOT IN ('on_time', 'late') AND (e.signature IS NOT NULL OR e.signed_at IS NOT NULL))
            ORDER BY e.id"""))
        for row in rows:
            found += _judge(row)
    else:
        query = (select(E.id, E.status, E.signed_at, E.period_start, E.period_end, (E.signature.is_not(None))
                        .label("has_signature"), S.signing_grace_seconds)
                 .join(School.__table__, S.id == E.school_id)
                 .where(E.status.in_(signed) | E.signed_at.is_not(None) | E.signature.is_not(None)).order_by(E.id))
        for row in session.execute(query.execution_options(yield_per=5000)):
            verdict = None if row.signed_at is None else window_verdict(
                row.signed_at, row.period_start, row.period_end, dt.timedelta(seconds=row.signing_grace_seconds))
            found += _judge(_Judged(row, verdict))
    if signatures:
        query = (select(E.id, E.signed_at, E.signature).where(E.signature.is_not(None), E.signed_at.is_not(None))
                 .order_by(E.id).execution_options(yield_per=2000))
        for entry_id, signed_at, signature in session.execute(query):
            read = read_signature(signature)
            when = getattr(read, "signing_time", None)
            if when is None:
                found.append(_entry(entry_id, "its signature cannot be read", "không đọc được chữ ký"))
            elif when != signed_at:
                found.append(_entry(entry_id, f"the receipt time {signed_at:%d/%m/%Y %H:%M:%S} is not the time inside "
                                              f"the teacher's signature ({when:%d/%m/%Y %H:%M:%S})",
                                    f"thời điểm nhận {signed_at:%H:%M:%S %d/%m/%Y} khác thời điểm ghi trong chữ ký "
                                    f"của giáo viên ({when:%H:%M:%S %d/%m/%Y})"))
    return found


class _Judged:
    """A row with the window's verdict beside it."""

    def __init__(self, row, verdict):
        self._row, self.verdict = row, verdict

    def __getattr__(self, name):
        return getattr(self._row, name)


def receipt_mismatches(session: Session) -> list[Discrepancy]:
    """Every app receipt (``submission``) whose status or time is not its entry's."""
    R, E = Submission, LogbookEntry
    rows = session.execute(select(R.id, R.entry_id, R.status, R.received_at, E.status.label("entry_status"),
                                  E.signed_at).join(E, E.id == R.entry_id)
                           .where((R.status != E.status) | (E.signed_at.is_(None)) | (R.received_at != E.signed_at))
                           .order_by(R.id))
    return [Discrepancy("receipt", f"receipt {r.id}",
                        f"receipt {r.id} of entry {r.entry_id} says {_v(r.status)} received at "
                        f"{r.received_at:%d/%m/%Y %H:%M:%S}; the entry says {_v(r.entry_status)}"
                        + (f" at {r.signed_at:%d/%m/%Y %H:%M:%S}" if r.signed_at else " with no receipt time"),
                        f"biên nhận {r.id} của tiết {r.entry_id} ghi {status_vi(_v(r.status))} lúc "
                        f"{r.received_at:%H:%M:%S %d/%m/%Y}; tiết học ghi {status_vi(_v(r.entry_status))}"
                        + (f" lúc {r.signed_at:%H:%M:%S %d/%m/%Y}" if r.signed_at else " và không có thời điểm nhận"))
            for r in rows]


def _v(status) -> str:
    return getattr(status, "value", status)
