"""The audit trail (nhật ký thao tác): append-only and hash-chained.

Each state change writes one :class:`~core.storage.models.AuditEvent` in the same
transaction as the change. There is one chain per school (chain 0 for events outside a
school), so that schools never wait on each other's lock. Event *n* of a chain stores ``hash = sha256(prev_hash ‖ canonical(event))``
with ``prev_hash`` the hash of event *n-1*, so changing, deleting or reordering any event
breaks the chain, which :func:`verify_chain` detects. The database also refuses UPDATE and
DELETE on the table (triggers in the initial migration).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.access.authz import Actor
from core.kernel import clock
from core.storage.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _fields(ev: AuditEvent) -> dict[str, Any]:
    return {
        "chain": ev.chain, "seq": ev.seq, "at": ev.at.isoformat(), "actor_id": ev.actor_id, "actor_name": ev.actor_name,
        "action": ev.action, "entity": ev.entity, "entity_id": ev.entity_id, "school_id": ev.school_id,
        "before": ev.before, "after": ev.after, "reason": ev.reason,
    }


@dataclass(frozen=True)
class Change:
    """One audited change, for :func:`record_many`."""

    action: str
    entity: str
    entity_id: Any = None
    school_id: int | None = None
    before: dict | None = None
    after: dict | None = None
    reason: str | None = None


def record(session: Session, actor: Actor, action: str, entity: str, entity_id: Any = None, *,
           school_id: int | None = None, before: dict | None = None, after: dict | None = None,
           reason: str | None = None) -> AuditEvent:
    """Append one event to its school's chain inside the caller's transaction."""
    return record_many(session, actor, [Change(action, entity, entity_id, school_id, before, after, reason)])[0]


def record_many(session: Session, actor: Actor, changes: list[Change]) -> list[AuditEvent]:
    """Append events in order, each to its school's chain, inside the caller's transaction;
    each chain's head is locked and written once for the lot (a head updated once per event
    in one transaction leaves PostgreSQL a chain of row versions to walk at every update:
    quadratic for a city's teachers signing in at once)."""
    events, heads = [], {}
    for change in changes:
        chain = change.school_id or 0
        head = heads.get(chain)
        if head is None:
            head = heads[chain] = _locked_head(session, chain)
        event = AuditEvent(
            chain=head.id, seq=head.seq + 1, at=clock.now(), actor_id=actor.user_id, actor_name=actor.username,
            action=change.action, entity=change.entity,
            entity_id=None if change.entity_id is None else str(change.entity_id), school_id=change.school_id,
            before=_jsonable(change.before), after=_jsonable(change.after), reason=change.reason,
            prev_hash=head.hash,
        )
        event.hash = _digest(head.hash, _fields(event))
        events.append(event)
        head.seq, head.hash = event.seq, event.hash
    session.add_all(events)
    session.flush()
    return events


def _locked_head(session: Session, chain: int) -> AuditHead:
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(AuditHead).values(id=chain, seq=0, hash=GENESIS)
                    .on_conflict_do_nothing(index_elements=["id"]))
    return session.execute(select(AuditHead).where(AuditHead.id == chain)
                           .with_for_update()).scalar_one()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ChainProblem:
    """One place where a chain does not hold: ``kind`` is ``missing`` (an event is gone),
    ``link`` (an event does not point to the one before), ``altered`` (an event does not match
    its hash) or ``tail`` (the chain's head names events that are gone); ``checked``: the events
    found sound before it."""

    chain: int
    seq: int
    kind: str
    message: str
    checked: int


def chain_problems(session: Session, batch: int = 5000) -> Iterator[ChainProblem]:
    """Recompute every hash of every chain in order and yield every problem found (the walk goes
    on after each one, so that a check can list them all)."""
    checked = 0
    heads = {h.id: h for h in session.scalars(select(AuditHead))}
    chains = set(heads) | set(session.scalars(select(AuditEvent.chain).distinct()))
    for chain in sorted(chains):
        prev, expected_seq, last_seq = GENESIS, 1, 0
        while True:
            rows = session.scalars(select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > last_seq)
                                   .order_by(AuditEvent.seq).limit(batch)).all()
            if not rows:
                break
            for ev in rows:
                if ev.seq != expected_seq:
                    for gone in range(expected_seq, ev.seq):
                        yield ChainProblem(chain, gone, "missing", f"chain {chain}: event {gone} is missing", checked)
                elif ev.prev_hash != prev:
                    yield ChainProblem(chain, ev.seq, "link",
                                       f"chain {chain}: link to the previous event is broken", checked)
                if _digest(ev.prev_hash, _fields(ev)) != ev.hash:
                    yield ChainProblem(chain, ev.seq, "altered",
                                       f"chain {chain}: event {ev.seq} does not match its hash (altered)", checked)
                prev, expected_seq, last_seq = ev.hash, ev.seq + 1, ev.seq
                checked += 1
        head = heads.get(chain)
        if head is None or head.seq != expected_seq - 1 or head.hash != prev:
            yield ChainProblem(chain, expected_seq, "tail",
                               f"chain {chain}: events after seq {expected_seq - 1} are missing", checked)


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute every hash of every chain in order; report the first event that does not match."""
    for problem in chain_problems(session, batch):
        return ChainReport(False, problem.checked, problem.seq, problem.message)
    return ChainReport(True, session.scalar(select(func.count()).select_from(AuditEvent)))
