"""The audit trail (nhật ký thao tác): append-only and hash-chained.

Each state change writes one :class:`~core.storage.models.AuditEvent` in the same
transaction as the change. There is one chain per school (chain 0 for events outside a
school), so that schools never wait on each other's lock. Event *n* of a chain stores ``hash = sha256(prev_hash ‖ canonical(event))``
with ``prev_hash`` the hash of event *n-1*, so changing, deleting or reordering any event
breaks the chain, which :func:`verify_chain` detects. The database also refuses UPDATE and
DELETE on the table (triggers in the initial migration).

Appending locks the chain's head (a row lock on ``audit_head``) until the transaction commits,
so the events of one school are written one transaction at a time. On PostgreSQL an event
that is its chain's only one in the call is therefore appended by ONE statement
(:func:`_append_one`): it locks the head, computes the hash in the database (``sha256`` over
the same canonical text :func:`_digest` hashes: the event's fields sort with ``seq`` last, so
everything but the number and the previous hash is written before the lock) and writes the
event and the head. The lock is then held for the rest of that statement and the commit only,
not for several round trips of a busy API process (grade entry: a school's requests queued
behind each other; docs/benchmarks.md). :func:`verify_chain` recomputes every hash in Python.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select, tuple_
from sqlalchemy.orm import Session, make_transient_to_detached

from core.access.authz import Actor
from core.kernel import clock
from core.storage.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + _canonical(fields)).encode()).hexdigest()


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
    chains = [change.school_id or 0 for change in changes]
    if session.bind.dialect.name == "postgresql" and len(set(chains)) == len(chains):
        session.flush()  # what the caller changed is written before the lock, as an autoflush did
        return [_append_one(session, actor, change) for change in changes]
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


_APPEND = """
WITH head AS (SELECT seq, hash FROM audit_head WHERE id = %(chain)s::bigint FOR UPDATE),
next AS (SELECT seq + 1 AS seq, hash AS prev_hash,
                encode(sha256(convert_to(hash || %(body)s::text || (seq + 1)::text || '}', 'UTF8')), 'hex') AS hash
         FROM head),
event AS (INSERT INTO audit_event (chain, seq, at, actor_id, actor_name, action, entity, entity_id, school_id,
                                   before, after, reason, prev_hash, hash)
          SELECT %(chain)s::bigint, seq, %(at)s::timestamp, %(actor_id)s::bigint, %(actor_name)s::varchar,
                 %(action)s::varchar, %(entity)s::varchar, %(entity_id)s::varchar, %(school_id)s::bigint,
                 %(before)s::json, %(after)s::json, %(reason)s::text, prev_hash, hash FROM next
          RETURNING id, seq, prev_hash, hash)
UPDATE audit_head SET seq = event.seq, hash = event.hash FROM event WHERE audit_head.id = %(chain)s::bigint
RETURNING event.id, event.seq, event.prev_hash, event.hash"""


def _append_one(session: Session, actor: Actor, change: Change) -> AuditEvent:
    """One event appended to its chain by one statement on PostgreSQL (see the module's
    docstring); the event is returned as a persistent object of the session, as the ORM's
    insert would leave it. The hash is the one :func:`_digest` computes: the canonical text
    of the fields with ``seq`` (the last key) left for the database to write. ``at`` (to the
    second) is read before the lock, so two events of a school in the same moment may carry
    times one second out of their order; the chain's order is ``seq``."""
    chain = change.school_id or 0
    event = AuditEvent(
        chain=chain, seq=0, at=clock.now(), actor_id=actor.user_id, actor_name=actor.username,
        action=change.action, entity=change.entity,
        entity_id=None if change.entity_id is None else str(change.entity_id), school_id=change.school_id,
        before=_jsonable(change.before), after=_jsonable(change.after), reason=change.reason,
    )
    text = _canonical(_fields(event))  # ends with "seq":0}: the database writes the number and the brace
    params = {"chain": chain, "body": text[:-len("0}")], "at": event.at,
              "actor_id": event.actor_id, "actor_name": event.actor_name, "action": event.action,
              "entity": event.entity, "entity_id": event.entity_id, "school_id": event.school_id,
              "before": json.dumps(event.before), "after": json.dumps(event.after), "reason": event.reason}
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor:
        cursor.execute(_APPEND, params, prepare=True)
        written = cursor.fetchone()
        if written is None:  # the chain's first event: its head is created, then locked
            _locked_head(session, chain)
            cursor.execute(_APPEND, params, prepare=True)
            written = cursor.fetchone()
    event.id, event.seq, event.prev_hash, event.hash = written
    head = session.identity_map.get(inspect(AuditHead).identity_key_from_primary_key((chain,)))
    if head is not None:
        session.expire(head)  # moved by the statement, not by the session
    make_transient_to_detached(event)
    session.add(event)
    return event


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
    on after each one, so that a check can list them all). The events are read in (chain, seq)
    order, ``batch`` at a time across chains (a city has a chain per school, most of them short:
    one query per chain cost a second for nothing)."""
    checked = 0
    heads = {h.id: h for h in session.scalars(select(AuditHead))}
    state: dict[str, Any] = {"chain": None, "prev": GENESIS, "expected": 1}

    def tail(chain: int) -> Iterator[ChainProblem]:
        head, expected_seq = heads.get(chain), state["expected"]
        if head is None or head.seq != expected_seq - 1 or head.hash != state["prev"]:
            yield ChainProblem(chain, expected_seq, "tail",
                               f"chain {chain}: events after seq {expected_seq - 1} are missing", checked)

    ordered, unseen = sorted(heads), [0]  # the heads in chain order; the first not yet passed

    def chains_without_events(below: int | None, after: int | None) -> Iterator[int]:
        """Chains with a head but no event, between two chains met in the events (the chains
        come in order: one pass over the heads, where a city's 2,000 chains each sorted them)."""
        found = []
        while unseen[0] < len(ordered) and (below is None or ordered[unseen[0]] <= below):
            chain = ordered[unseen[0]]
            unseen[0] += 1
            if (after is None or chain > after) and chain != below:
                found.append(chain)
        return iter(found)

    last: tuple[int, int] | None = None
    while True:
        stmt = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq).limit(batch)
        if last is not None:
            stmt = stmt.where(tuple_(AuditEvent.chain, AuditEvent.seq) > tuple_(*last))
        rows = session.scalars(stmt).all()
        for ev in rows:
            if ev.chain != state["chain"]:
                if state["chain"] is not None:
                    yield from tail(state["chain"])
                for empty in chains_without_events(ev.chain, state["chain"]):
                    state.update(prev=GENESIS, expected=1)
                    yield from tail(empty)
                state.update(chain=ev.chain, prev=GENESIS, expected=1)
            expected_seq = state["expected"]
            if ev.seq != expected_seq:
                for gone in range(expected_seq, ev.seq):
                    yield ChainProblem(ev.chain, gone, "missing", f"chain {ev.chain}: event {gone} is missing",
                                       checked)
            elif ev.prev_hash != state["prev"]:
                yield ChainProblem(ev.chain, ev.seq, "link",
                                   f"chain {ev.chain}: link to the previous event is broken", checked)
            if _digest(ev.prev_hash, _fields(ev)) != ev.hash:
                yield ChainProblem(ev.chain, ev.seq, "altered",
                                   f"chain {ev.chain}: event {ev.seq} does not match its hash (altered)", checked)
            state.update(prev=ev.hash, expected=ev.seq + 1)
            checked += 1
        if len(rows) < batch:
            break
        last = (rows[-1].chain, rows[-1].seq)
    if state["chain"] is not None:
        yield from tail(state["chain"])
    for empty in chains_without_events(None, state["chain"]):
        state.update(prev=GENESIS, expected=1)
        yield from tail(empty)


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute every hash of every chain in order; report the first event that does not match."""
    for problem in chain_problems(session, batch):
        return ChainReport(False, problem.checked, problem.seq, problem.message)
    return ChainReport(True, session.scalar(select(func.count()).select_from(AuditEvent)))
