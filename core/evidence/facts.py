"""Records anchored fact by fact (sự kiện được neo): issued transcripts, closed weeks.

A kind of record (:class:`FactKind`) says how to read each record's fact from the record store,
which audit events name a record and carry its fact, and which changes of a fact its rule
allows. With it, three things are the same for every kind:

- :func:`anchor` — what a checkpoint states: every attested record's fact in the first
  checkpoint, then only the records named by the audit events since the previous checkpoint
  (every change of an attested record writes one, in the same transaction);
- :func:`fold` — the checkpoints read in order, into the latest anchored fact of every record;
  a fact that changed between two checkpoints in a way the rule forbids is reported;
- :func:`compare` — the record store now against the anchored facts and the audit events since
  the last checkpoint: a record gone, changed as its rule forbids, changed without an audit event,
  different from what its latest audit event says, or attested but neither anchored nor recorded.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.kernel.integrity import Discrepancy
from core.storage.models import AuditEvent

#: What a user reads for each field of a fact: (English, Vietnamese).
LABELS = {
    "status": ("status", "trạng thái"), "school_id": ("school", "trường"), "class_id": ("class", "lớp"),
    "school_year_id": ("school year", "năm học"), "student_id": ("student", "học sinh"),
    "version": ("version", "phiên bản"), "verification_code": ("verification code", "mã tra cứu"),
    "issued_at": ("time of issue", "thời điểm cấp"), "content_sha256": ("content", "nội dung"),
    "content_hash": ("content hash", "mã băm nội dung"), "document_sha256": ("signed PDF", "tệp PDF đã ký"),
    "homeroom_signed_by": ("homeroom teacher who signed", "giáo viên chủ nhiệm ký"),
    "principal_signed_by": ("principal who signed", "hiệu trưởng ký"),
    "replaces_id": ("transcript it replaces", "học bạ được thay thế"),
    "week_id": ("week", "tuần"), "reopen_count": ("times reopened", "số lần mở lại"),
    "summary_hash": ("week summary signed", "bản tổng hợp tuần đã ký"),
    "homeroom_signature_sha256": ("homeroom teacher's signature", "chữ ký của giáo viên chủ nhiệm"),
    "principal_signature_sha256": ("principal's signature", "chữ ký của hiệu trưởng"),
    "closed_at": ("time of close", "thời điểm chốt sổ"),
}
#: Statuses as words (Vietnamese).
STATUS_VI = {"draft": "bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "đã cấp", "cancelled": "đã hủy",
             "open": "đang mở", "closed": "đã chốt", "reopened": "mở lại", "pending": "chưa ký",
             "on_time": "ký đúng hạn", "late": "ký muộn", "missed": "không ký"}


def status_vi(status: str | None) -> str:
    return STATUS_VI.get(status or "", status or "?")


@dataclass(frozen=True)
class FactKind:
    """A kind of anchored record (see the module's docstring)."""

    section: str                                        # the checkpoint's section: ``transcripts``
    kind: str                                           # the discrepancies' kind: ``transcript``
    entities: tuple[str, ...]                           # audit entities whose events name such records
    ids_in: Callable[[AuditEvent], list[int]]           # the records an event names
    fact_in: Callable[[AuditEvent, int], dict | None]   # the fact an event carries for a record
    read: Callable[[Session, list[int] | None], Iterator[dict]]  # facts now (None: every attested record)
    attested: Callable[[dict], bool]                    # whether a fact is evidence (issued, closed, …)
    allowed: Callable[[dict, dict], bool]               # whether the rule allows a change old → new
    subject: Callable[[dict], tuple[str, str]]          # the record named (English, Vietnamese)


@dataclass
class Told:
    """What the audit events since the last checkpoint say of a record: that some named it, and
    the fact the latest one carried (None when none carried one)."""

    fact: dict | None = None
    events: list[tuple[int, int]] = field(default_factory=list)


def events_since(session: Session, entities: Iterable[str], heads: dict[int, int] | None,
                 batch: int = 2000) -> Iterator[AuditEvent]:
    """The audit events about ``entities`` after ``heads`` (chain → seq; None: every event), in
    order of their chains."""
    entities = sorted(set(entities))
    if heads is None:
        query = select(AuditEvent).where(AuditEvent.entity.in_(entities)).order_by(AuditEvent.chain, AuditEvent.seq)
        yield from session.scalars(query.execution_options(yield_per=batch))
        return
    chains = sorted(set(session.scalars(select(AuditEvent.chain).distinct())))
    for chain in chains:
        query = (select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > heads.get(chain, 0),
                                          AuditEvent.entity.in_(entities)).order_by(AuditEvent.seq))
        yield from session.scalars(query.execution_options(yield_per=batch))


def told_by(kind: FactKind, events: Iterable[AuditEvent]) -> dict[int, Told]:
    told: dict[int, Told] = {}
    for event in events:
        for record in kind.ids_in(event):
            entry = told.setdefault(record, Told())
            entry.events.append((event.chain, event.seq))
            fact = kind.fact_in(event, record)
            if fact is not None:
                entry.fact = fact
    return told


def _chunks(ids: list[int], size: int = 1000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def read_ids(kind: FactKind, session: Session, ids: Iterable[int]) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for chunk in _chunks(sorted(set(ids))):
        out.update((f["id"], f) for f in kind.read(session, chunk))
    return out


# ---------------------------------------------------------------- what a checkpoint states
def anchor(kind: FactKind, session: Session, events: list[AuditEvent] | None) -> dict[str, Any]:
    """The section of a checkpoint: every attested record's fact when ``events`` is None (the
    first checkpoint), else the facts of the attested records those events name."""
    if events is None:
        facts = {str(f["id"]): f for f in kind.read(session, None)}
    else:
        named = {record for event in events if event.entity in kind.entities for record in kind.ids_in(event)}
        facts = {str(i): f for i, f in sorted(read_ids(kind, session, named).items()) if kind.attested(f)}
    return {"full": events is None, "facts": facts}


# ---------------------------------------------------------------- the checkpoints, in order
def changed_fields(old: dict, new: dict) -> list[str]:
    return [k for k in dict.fromkeys([*old, *new]) if k != "id" and old.get(k) != new.get(k)]


def _values(fields: list[str], old: dict, new: dict, vi: bool = False) -> str:
    def show(field: str, value):
        if field == "status":
            return status_vi(value) if vi else str(value)
        if isinstance(value, str) and len(value) == 64:
            return value[:12] + "…"
        return "—" if value is None else str(value)

    return "; ".join(f"{LABELS.get(f, (f, f))[1 if vi else 0]}: {show(f, old.get(f))} → {show(f, new.get(f))}"
                     for f in fields)


def fold(kind: FactKind, state: dict | None, stated: dict, checkpoint) -> tuple[dict, list[Discrepancy]]:
    """Add a checkpoint's section to the anchored facts (record id → (fact, checkpoint)); a
    record whose fact changed since the checkpoint before in a way its rule forbids is reported."""
    state = dict(state or {})
    found = []
    for key, fact in (stated or {}).get("facts", {}).items():
        before = state.get(int(key))
        if before is not None and before[0] != fact and not kind.allowed(before[0], fact):
            fields = changed_fields(before[0], fact)
            en, vi = kind.subject(fact)
            found.append(Discrepancy(
                "checkpoint", checkpoint.name,
                f"{en} changed between {before[1].name} and {checkpoint.name} as the rules forbid "
                f"({_values(fields, before[0], fact)})",
                f"{vi} đã bị thay đổi trái quy định giữa hai mốc {before[1].name} và {checkpoint.name} "
                f"({_values(fields, before[0], fact, vi=True)})"))
        state[int(key)] = (fact, checkpoint)
    return state, found


# ---------------------------------------------------------------- the record store now
def compare(kind: FactKind, session: Session, anchored: dict | None,
            latest_heads: dict[int, int] | None) -> list[Discrepancy]:
    """The record store against the anchored facts (None: no checkpoint yet) and the audit
    events after ``latest_heads``, the last checkpoint's heads (None: every event)."""
    told = told_by(kind, events_since(session, kind.entities, latest_heads))
    now = {f["id"]: f for f in kind.read(session, None)}
    anchored = anchored or {}
    now.update(read_ids(kind, session, [i for i in anchored if i not in now]))
    found: list[Discrepancy] = []

    def report(fact: dict, en: str, vi: str) -> None:
        subject_en, subject_vi = kind.subject(fact)
        found.append(Discrepancy(kind.kind, subject_en, f"{subject_en}: {en}", f"{subject_vi}: {vi}"))

    for record, (fact, checkpoint) in sorted(anchored.items()):
        current = now.get(record)
        if current is None:
            report(fact, f"anchored by {checkpoint.name}, it is no longer in the record store (deleted)",
                   f"đã được neo ở mốc {checkpoint.name} nhưng không còn trong cơ sở dữ liệu (đã bị xóa)")
            continue
        if current == fact:
            continue
        fields = changed_fields(fact, current)
        if not kind.allowed(fact, current):
            report(current, f"changed since {checkpoint.name} as the rules forbid ({_values(fields, fact, current)})",
                   f"bị thay đổi trái quy định so với mốc {checkpoint.name} "
                   f"({_values(fields, fact, current, vi=True)})")
        elif record not in told:
            report(current, f"changed since {checkpoint.name} without an audit event "
                            f"({_values(fields, fact, current)})",
                   f"bị thay đổi so với mốc {checkpoint.name} mà không có sự kiện nhật ký nào "
                   f"({_values(fields, fact, current, vi=True)})")
    for record, current in sorted(now.items()):
        said = told.get(record)
        if said is not None and said.fact is not None and said.fact != current:
            fields = changed_fields(said.fact, current)
            chain, seq = said.events[-1]
            report(current, f"differs from its latest audit event (chain {chain}, event {seq}: "
                            f"{_values(fields, said.fact, current)})",
                   f"khác với sự kiện nhật ký gần nhất (chuỗi {chain}, sự kiện {seq}: "
                   f"{_values(fields, said.fact, current, vi=True)})")
        elif (record not in anchored and kind.attested(current) and latest_heads is not None
              and (said is None or said.fact is None)):
            report(current, f"{current.get('status')}, but neither anchored by a checkpoint nor recorded in the "
                            "audit trail since the last one",
                   f"{status_vi(current.get('status'))} nhưng không được neo ở mốc nào và không có trong nhật ký "
                   "kể từ mốc gần nhất")
    return found

