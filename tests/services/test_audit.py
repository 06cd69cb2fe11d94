"""The audit trail is append-only in the database and its hash chain detects tampering."""
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from core.access import audit
from core.access.authz import SYSTEM
from core.storage.models import AuditEvent


def _events(db, n=3):
    with db.transaction() as s:
        for i in range(n):
            audit.record(s, SYSTEM, "test.event", "thing", i, school_id=None, after={"i": i, "tên": "Lan"})


def test_chain_verifies(db):
    _events(db)
    with db.reading() as s:
        report = audit.verify_chain(s)
    assert report.ok and report.checked == 3


def test_update_and_delete_are_refused_by_the_database(db):
    _events(db, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.transaction() as s:
            s.execute(update(AuditEvent).values(reason="changed"))
    with pytest.raises(DBAPIError, match="append-only"):
        with db.transaction() as s:
            s.execute(text("DELETE FROM audit_event"))


def test_tampering_is_detected(db):
    _events(db, 3)
    with db.transaction() as s:  # an attacker with DDL rights drops the guard first
        if db.is_postgres:
            s.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_change"))
        else:
            s.execute(text("DROP TRIGGER audit_event_no_update"))
        s.execute(text("UPDATE audit_event SET reason = 'forged' WHERE seq = 2"))
    with db.reading() as s:
        report = audit.verify_chain(s)
    assert not report.ok and report.first_bad_seq == 2 and "altered" in report.problem


def test_many_events_across_chains_in_one_call_keep_each_chain(world):
    a, b = world.ids["A"], world.ids["B"]
    with world.db.transaction() as s:
        audit.record(s, SYSTEM, "test.before", "thing", 0, school_id=a)
        events = audit.record_many(s, SYSTEM, [audit.Change("test.event", "thing", i, school_id=school)
                                               for i, school in enumerate([None, a, b, a, None, a])])
        audit.record(s, SYSTEM, "test.after", "thing", 9, school_id=a)
    assert [(e.school_id, e.entity_id) for e in events] == [(None, "0"), (a, "1"), (b, "2"), (a, "3"), (None, "4"),
                                                             (a, "5")]
    by_chain = {}
    for e in events:
        by_chain.setdefault(e.chain, []).append(e.seq)
    assert all(seqs == list(range(seqs[0], seqs[0] + len(seqs))) for seqs in by_chain.values())
    with world.db.reading() as s:
        report = audit.verify_chain(s)
        head_a = s.get(audit.AuditHead, a)
        last_a = max(s.scalars(select(AuditEvent.seq).where(AuditEvent.chain == a)))
    assert report.ok and head_a.seq == last_a
