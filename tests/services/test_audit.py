"""The audit trail is append-only in the database and its hash chain detects tampering."""
import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from core import audit
from core.authz import SYSTEM
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
