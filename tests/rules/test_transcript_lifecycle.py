"""An issued transcript never changes: the rule's Python form (core.transcripts.rules.lifecycle)
and the record store's triggers agree, on PostgreSQL and on the embedded default, for every
status, every frozen column, every status change and deletion."""
import datetime as dt

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import TranscriptStatus as S
from core.storage.models import SchoolYear, Transcript
from core.transcripts.rules.lifecycle import FROZEN_ONCE_ISSUED, change_allowed, deletion_allowed, require_step

#: another value for every column of a transcript (the ids are filled from the world)
NEW_VALUES = {"content": {"changed": True}, "content_hash": "f" * 64, "document": b"%PDF-other",
              "student_id": None, "school_id": None, "class_id": None, "school_year_id": None, "version": 9,
              "verification_code": "ZZZZZZZZZZ", "issued_at": dt.datetime(2030, 1, 1), "homeroom_signed_by": None,
              "principal_signed_by": None, "replaces_id": None, "cancelled_at": dt.datetime(2030, 1, 2),
              "cancel_reason": "rewritten", "archive_valid_until": dt.datetime(2040, 1, 1), "issued_length": 7}


def test_the_workflow_moves_one_step_forward_only():
    require_step(S.DRAFT, S.HOMEROOM_SIGNED)
    require_step(S.HOMEROOM_SIGNED, S.ISSUED)
    require_step(S.ISSUED, S.CANCELLED)
    for old, new in ((S.DRAFT, S.ISSUED), (S.ISSUED, S.DRAFT), (S.CANCELLED, S.ISSUED), (S.ISSUED, S.HOMEROOM_SIGNED)):
        with pytest.raises(RuleViolation):
            require_step(old, new)


def _row(world, status: S, n: int) -> Transcript:
    ids = world.ids
    return Transcript(student_id=ids["student0"], school_id=ids["A"], class_id=ids["6A1"], school_year_id=ids["year"],
                      version=n, status=status, verification_code=f"LIFE{n:06d}", content={"n": n},
                      content_hash="a" * 64, document=b"%PDF-1.7 issued" if status in (S.ISSUED, S.CANCELLED) else None,
                      issued_at=dt.datetime(2026, 5, 30) if status in (S.ISSUED, S.CANCELLED) else None)


def _refused(db, statement) -> bool:
    """Whether the record store refuses ``statement``; either way nothing is kept."""
    with db.transaction() as session:
        savepoint = session.begin_nested()
        try:
            session.execute(statement)
            return False
        except DBAPIError:
            return True
        finally:
            savepoint.rollback()


def test_the_triggers_and_the_rule_agree(world):
    db = world.db
    with db.transaction() as session:
        rows = {status: _row(world, status, n) for n, status in enumerate(S, start=1)}
        next_year = SchoolYear(department_id=world.ids["dep"], name="2026-2027", start_date=dt.date(2026, 9, 7),
                               end_date=dt.date(2027, 5, 31))
        session.add_all([*rows.values(), next_year])
        session.flush()
        ids = {status: row.id for status, row in rows.items()}
    w = world.ids
    NEW_VALUES.update(student_id=w["student1"], school_id=w["B"], class_id=w["6A2"], school_year_id=next_year.id,
                      homeroom_signed_by=w["minh"], principal_signed_by=w["minh"], replaces_id=ids[S.DRAFT])
    columns = [c.name for c in Transcript.__table__.c if c.name not in ("id", "status")]
    assert sorted(columns) == sorted(NEW_VALUES) and set(FROZEN_ONCE_ISSUED) <= set(columns)
    # the status, school, class, year and signers of an issued transcript are frozen too
    assert {"school_id", "class_id", "school_year_id", "homeroom_signed_by", "principal_signed_by"} \
        <= set(FROZEN_ONCE_ISSUED)
    checked = 0
    for old in S:
        row = Transcript.__table__.c
        for column in columns:
            allowed = change_allowed(old, old, {column})
            refused = _refused(db, update(Transcript).where(row.id == ids[old]).values({column: NEW_VALUES[column]}))
            assert refused is not allowed, (old, column)
            checked += 1
        for new in S:
            allowed = change_allowed(old, new, {"status"})
            refused = _refused(db, update(Transcript).where(row.id == ids[old]).values(status=new))
            assert refused is not allowed, (old, new)
            checked += 1
        refused = _refused(db, delete(Transcript).where(row.id == ids[old]))
        assert refused is not deletion_allowed(old), old
    assert checked == len(S) * (len(columns) + len(S))


def test_the_installed_triggers_are_the_rules_sql_form(db):
    """One list (FROZEN_ONCE_ISSUED): the record store's triggers are the condition the rule writes."""
    from sqlalchemy import text

    from core.transcripts.rules.lifecycle import change_refused_sql, deletion_refused_sql

    with db.reading() as session:
        if session.bind.dialect.name == "postgresql":
            source = session.scalar(text("SELECT prosrc FROM pg_proc WHERE proname = 'transcript_immutable'"))
            assert f"IF {change_refused_sql('postgresql')} THEN" in source
            assert f"IF {deletion_refused_sql()} THEN" in source
        else:
            source = session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'transcript_no_change'"))
            assert f"WHEN {change_refused_sql('sqlite')}" in source


def test_an_issued_document_may_only_grow_and_the_triggers_agree(world):
    """A renewal appends a revision (its DSS and archive timestamp): the record store lets an
    issued document grow, and refuses any other change of its bytes, as the rule says."""
    from core.transcripts.rules.lifecycle import document_may_grow

    db = world.db
    with db.transaction() as session:
        rows = {status: _row(world, status, 100 + n) for n, status in enumerate(S, start=1)}
        session.add_all(rows.values())
        session.flush()
        ids = {status: row.id for status, row in rows.items()}
    issued = b"%PDF-1.7 issued"
    for status in S:
        old = issued if status in (S.ISSUED, S.CANCELLED) else None
        for new in (issued + b"\n%renewal\n%%EOF\n", b"%PDF-1.7 issueD" + b"\n%renewal\n%%EOF\n", issued[:-1],
                    b"%PDF-other"):
            allowed = change_allowed(status, status, set()) and (
                status not in (S.ISSUED, S.CANCELLED) or document_may_grow(status, status, old, new))
            refused = _refused(db, update(Transcript).where(Transcript.id == ids[status]).values(document=new))
            assert refused is not allowed, (status, new)
    assert document_may_grow(S.ISSUED, S.ISSUED, issued, issued + b"%%EOF")
    assert not document_may_grow(S.ISSUED, S.CANCELLED, issued, issued + b"%%EOF")
    assert not document_may_grow(S.CANCELLED, S.CANCELLED, issued, issued + b"%%EOF")
