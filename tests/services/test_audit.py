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


def test_an_appended_event_carries_the_hash_python_computes(db):
    """On PostgreSQL one statement appends the event and the database computes its hash: it is
    byte for byte the one :func:`audit._digest` computes (Vietnamese text, quotes, JSON null)."""
    with db.transaction() as s:
        first = audit.record(s, SYSTEM, "test.first", "thing", None, school_id=7)
        second = audit.record(s, SYSTEM, "test.event", "thing", 'a"b', school_id=7, before=None,
                              after={"tên": "Nguyễn Thị Lan", "điểm": ["7.5", None], "x": 'q"\\'},
                              reason="Sửa điểm theo đơn của phụ huynh — \"khiếu nại\"")
        assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
        assert second.id is not None and second in s
    with db.reading() as s:
        stored = s.scalars(select(AuditEvent).where(AuditEvent.chain == 7).order_by(AuditEvent.seq)).all()
        head = s.get(audit.AuditHead, 7)
        report = audit.verify_chain(s)
    assert [e.hash for e in stored] == [audit._digest(e.prev_hash, audit._fields(e)) for e in stored]
    assert stored[1].after == {"tên": "Nguyễn Thị Lan", "điểm": ["7.5", None], "x": 'q"\\'}
    assert stored[1].before is None and stored[1].entity_id == 'a"b'
    assert report.ok and report.checked == 2 and (head.seq, head.hash) == (2, stored[1].hash)


def test_a_rolled_back_event_leaves_its_chain_as_it_was(db):
    """All or nothing: a transaction that fails after its event leaves neither the event nor a
    moved head; the next event continues the chain."""
    with db.transaction() as s:
        kept = audit.record(s, SYSTEM, "test.kept", "thing", 1, school_id=3)
    with pytest.raises(RuntimeError):
        with db.transaction() as s:
            audit.record(s, SYSTEM, "test.lost", "thing", 2, school_id=3)
            raise RuntimeError("the request fails after its audit event")
    with db.transaction() as s:
        after = audit.record(s, SYSTEM, "test.after", "thing", 3, school_id=3)
    assert (after.seq, after.prev_hash) == (2, kept.hash)
    with db.reading() as s:
        assert [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.chain == 3)
                                            .order_by(AuditEvent.seq))] == ["test.kept", "test.after"]
        assert audit.verify_chain(s).ok


def test_concurrent_appends_to_one_school_form_one_chain(pg_server_url):
    """Requests of one school appending at the same moment (each its own transaction and
    connection) wait for each other at the head: every event gets its own number, in one
    unbroken chain."""
    from concurrent.futures import ThreadPoolExecutor

    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.scratch import create_scratch_database, drop_scratch_database

    url = create_scratch_database(pg_server_url, "sohoa_audit_race")
    db = Database(make_engine(url, pool_size=8))
    try:
        upgrade(db.engine)

        def append(i):
            with db.transaction() as s:
                return audit.record(s, SYSTEM, "test.race", "thing", i, school_id=5).seq

        with ThreadPoolExecutor(8) as pool:
            seqs = sorted(pool.map(append, range(80)))
        with db.reading() as s:
            report = audit.verify_chain(s)
            head = s.get(audit.AuditHead, 5)
        assert seqs == list(range(1, 81)) and report.ok and report.checked == 80 and head.seq == 80
    finally:
        db.engine.dispose()
        drop_scratch_database(pg_server_url, url)
