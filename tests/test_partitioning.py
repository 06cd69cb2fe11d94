"""The logbook partitioned by school year and school on PostgreSQL (migration 0009)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from core.storage.db import make_engine
from core.storage.migrate import upgrade
from core.storage.models import EntryAbsence, LogbookEntry, SchoolYear
from core.storage.partitioning import entry_partitions, is_partitioned
from core.storage.scratch import create_scratch_database, drop_scratch_database
from tests.world import MONDAY, build_world


def _with_week(world):
    from core.access.authz import SYSTEM
    from core.logbook.entries import generate_week

    for school in ("A", "B"):
        generate_week(world.db, SYSTEM, world.ids[school], world.ids["week1"])
    return world


@pytest.fixture
def pg_world(pg_db, pki, keys):
    return _with_week(build_world(pg_db, pki, keys))


def test_entries_land_in_their_year_and_one_bucket_per_school(pg_world):
    with pg_world.db.reading() as s:
        conn = s.connection()
        assert is_partitioned(conn)
        where = conn.execute(text(
            "SELECT school_id, array_agg(DISTINCT tableoid::regclass::text) FROM logbook_entry GROUP BY school_id"
        )).all()
        assert len(where) == 2  # both schools have periods
        for _school, partitions in where:
            assert len(partitions) == 1 and partitions[0].startswith("logbook_entry_y2025_h")
        leaves = {name: (bounds, rows) for name, bounds, rows in entry_partitions(conn)}
    assert leaves["logbook_entry_other"][1] == 0
    assert sum(rows for _b, rows in leaves.values()) == _count(pg_world) > 0
    assert "modulus 8, remainder 0" in leaves["logbook_entry_y2025_h0"][0]


def _count(world) -> int:
    with world.db.reading() as s:
        return s.scalar(select(text("count(*)")).select_from(LogbookEntry))


def test_a_new_school_year_gets_its_partition(pg_world):
    with pg_world.db.transaction() as s:
        dep = s.scalar(select(SchoolYear.department_id))
        assert s.scalar(text("SELECT to_regclass('logbook_entry_y2031')")) is None
        s.add(SchoolYear(department_id=dep, name="2031-2032", start_date=dt.date(2031, 9, 5),
                         end_date=dt.date(2032, 5, 31)))
        s.flush()
        assert s.scalar(text("SELECT to_regclass('logbook_entry_y2031')")) == "logbook_entry_y2031"
        bounds = dict((n, b) for n, b, _ in entry_partitions(s.connection()))
    assert bounds["logbook_entry_y2031_h7"] == "FOR VALUES WITH (modulus 8, remainder 7)"


def test_a_school_query_reads_one_partition(pg_world):
    with pg_world.db.reading() as s:
        school = s.scalar(text("SELECT id FROM school WHERE code = 'A01'"))
        plan = "\n".join(s.execute(text(
            "EXPLAIN SELECT count(*) FROM logbook_entry WHERE school_id = :s AND day BETWEEN :a AND :b"),
            {"s": school, "a": MONDAY, "b": MONDAY + dt.timedelta(days=6)}).scalars())
    scanned = {line.split(" on ")[1].split()[0] for line in plan.splitlines() if " on logbook_entry" in line}
    assert len(scanned) == 1 and scanned.pop().startswith("logbook_entry_y2025_h"), plan


def test_references_to_entries_are_enforced_like_foreign_keys(pg_world):
    entry = pg_world.entry("6A1", MONDAY, 1)
    with pg_world.db.reading() as s:
        student = s.scalar(text("SELECT min(id) FROM student"))
        missing = s.scalar(text("SELECT max(id) + 1000 FROM logbook_entry"))
    with pytest.raises(IntegrityError, match="does not exist"):
        with pg_world.db.transaction() as s:
            s.execute(insert(EntryAbsence).values(entry_id=missing, student_id=student, excused=True))
    with pg_world.db.transaction() as s:
        s.execute(insert(EntryAbsence).values(entry_id=entry, student_id=student, excused=True))
    with pytest.raises(IntegrityError, match="still referenced"):
        with pg_world.db.transaction() as s:
            s.execute(delete(LogbookEntry).where(LogbookEntry.id == entry))
    other = pg_world.entry("6A1", MONDAY, 2)  # nothing refers to it: it can go
    with pg_world.db.transaction() as s:
        assert s.execute(delete(LogbookEntry).where(LogbookEntry.id == other)).rowcount == 1
    with pg_world.db.reading() as s:
        assert s.scalar(select(EntryAbsence.entry_id).where(EntryAbsence.entry_id == entry)) == entry


def test_the_slot_rule_still_holds(pg_world):
    entry = pg_world.entry("6A1", MONDAY, 1)
    with pg_world.db.reading() as s:
        row = s.execute(select(LogbookEntry.__table__).where(LogbookEntry.id == entry)).mappings().one()
    copy = {k: v for k, v in row.items() if k != "id"}
    with pytest.raises(IntegrityError, match=r"Key \(class_id, day, period_no, school_id\)"):
        with pg_world.db.transaction() as s:
            s.execute(insert(LogbookEntry).values(**copy))


def test_migration_moves_existing_entries_and_back(pg_server_url, pki, keys):
    """An existing deployment (at 0008, plain table) upgraded: every entry and reference kept,
    now in partitions; downgrading gives the plain table with its foreign keys back."""
    url = create_scratch_database(pg_server_url, "sohoa_partition")
    engine = make_engine(url)
    try:
        upgrade(engine, "0008")
        from core.storage.db import Database
        world = _with_week(build_world(Database(engine), pki, keys))
        with engine.begin() as conn:
            before = conn.execute(text("SELECT id, class_id, day, period_no, status FROM logbook_entry ORDER BY id")).all()
            student = conn.scalar(text("SELECT min(id) FROM student"))
            conn.execute(text("INSERT INTO entry_absence (entry_id, student_id, excused) VALUES (:e, :s, true)"),
                         {"e": world.entry("6A2", MONDAY, 1), "s": student})
            assert not is_partitioned(conn)
        upgrade(engine, "0009")
        with engine.begin() as conn:
            assert is_partitioned(conn)
            after = conn.execute(text("SELECT id, class_id, day, period_no, status FROM logbook_entry ORDER BY id")).all()
            assert after == before and len(after) > 0
            assert {n for n, _b, rows in entry_partitions(conn) if rows} <= {f"logbook_entry_y2025_h{b}" for b in range(8)}
            next_id = conn.scalar(text("SELECT nextval(pg_get_serial_sequence('logbook_entry', 'id'))"))
            assert next_id > max(r.id for r in before)
        from alembic import command

        from core.storage.migrate import alembic_config
        command.downgrade(alembic_config(engine), "0008")
        with engine.begin() as conn:
            assert not is_partitioned(conn)
            assert conn.execute(text("SELECT id, class_id, day, period_no, status FROM logbook_entry ORDER BY id")).all() \
                == before
            fks = conn.execute(text("SELECT conname FROM pg_constraint WHERE confrelid = 'logbook_entry'::regclass")).scalars()
            assert set(fks) == {"fk_entry_absence_entry_id_logbook_entry", "fk_student_remark_entry_id_logbook_entry",
                                "fk_submission_entry_id_logbook_entry"}
    finally:
        engine.dispose()
        drop_scratch_database(pg_server_url, url)
