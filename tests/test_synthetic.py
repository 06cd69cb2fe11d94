"""The synthetic generator: deterministic, valid, conflict-free, really signed, with behaviour."""
import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from core.rules.personal_id import validate_personal_id
from core.services.logbook import entry_bytes, teaching_hours
from core.signatures import DemoPKI, verify_detached
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import EntryStatus, LogbookEntry, MonitorAssignment, School, Student, WeekClose
from core.synthetic import Scale, generate

TINY = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, students_per_class=10, seed=7)


@pytest.fixture
def tiny(db, tmp_path):
    generate(db, TINY, pki_dir=tmp_path / "pki", progress=False)
    return db, DemoPKI.load(tmp_path / "pki").trust_store()


def summary(db):
    with db.reading() as s:
        return sorted(s.execute(select(LogbookEntry.class_id, LogbookEntry.day, LogbookEntry.period_no,
                                       LogbookEntry.status, LogbookEntry.signed_at)).all())


def test_same_seed_same_data(tiny, tmp_path):
    db, _ = tiny
    other = Database(make_engine(f"sqlite:///{tmp_path / 'again.db'}"))
    upgrade(other.engine)
    generate(other, TINY, pki_dir=tmp_path / "pki2", progress=False)
    first, second = summary(db), summary(other)
    assert len(first) > 50
    strip = [(r[1], r[2], r[3], r[4]) for r in first]
    assert strip == [(r[1], r[2], r[3], r[4]) for r in second]


def test_personal_ids_are_valid(tiny):
    db, _ = tiny
    with db.reading() as s:
        for st in s.scalars(select(Student)):
            validate_personal_id(st.personal_id, st.birth_date, st.sex.value)


def test_no_teacher_in_two_places(tiny):
    db, _ = tiny
    with db.reading() as s:
        clash = s.execute(select(LogbookEntry.teacher_id, LogbookEntry.day, LogbookEntry.period_no)
                          .group_by(LogbookEntry.teacher_id, LogbookEntry.day, LogbookEntry.period_no)
                          .having(func.count() > 1)).all()
    assert clash == []


def test_behaviour_mix_and_late_signatures_are_after_the_grace(tiny):
    db, _ = tiny
    with db.reading() as s:
        statuses = Counter(s.scalars(select(LogbookEntry.status)))
        late = s.execute(select(LogbookEntry.signed_at, LogbookEntry.period_end)
                         .where(LogbookEntry.status == EntryStatus.LATE)).all()
    assert statuses[EntryStatus.ON_TIME] > statuses[EntryStatus.LATE] > 0
    assert statuses[EntryStatus.MISSED] > 0 and statuses[EntryStatus.PENDING] == 0
    assert all(signed > end + dt.timedelta(minutes=5) for signed, end in late)


def test_signatures_verify_over_the_services_bytes(tiny):
    db, trust = tiny
    with db.reading() as s:
        sample = s.scalars(select(LogbookEntry).where(LogbookEntry.signature.is_not(None))
                           .order_by(LogbookEntry.id).limit(50)).all()
        assert len(sample) == 50
        for entry in sample:
            assert verify_detached(entry_bytes(s, entry), entry.signature, trust).valid


def test_substitutes_get_the_hours(db, tmp_path):
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=4, weeks=4, seed=3),
             pki_dir=tmp_path / "pki", progress=False)
    from core.authz import SYSTEM
    with db.reading() as s:
        subs = s.execute(select(LogbookEntry.teacher_id, LogbookEntry.scheduled_teacher_id)
                         .where(LogbookEntry.is_substitute.is_(True), LogbookEntry.status == EntryStatus.ON_TIME)
                         .limit(1)).first()
    assert subs is not None
    teacher, scheduled = subs
    assert teacher != scheduled
    hours = teaching_hours(db, SYSTEM, teacher, dt.date(2025, 9, 1), dt.date(2026, 6, 1))
    assert hours["counted"] >= 1


def test_one_school_has_no_monitor_and_weeks_are_closed(tiny):
    db, _ = tiny
    with db.reading() as s:
        schools = s.scalar(select(func.count()).select_from(School))
        monitored = s.scalar(select(func.count(func.distinct(MonitorAssignment.school_id))))
        closes = s.scalar(select(func.count()).select_from(WeekClose))
    assert schools - monitored == 1
    assert closes > 0


def test_demo_accounts_sign_in(tiny):
    from core.accounts import actor_for_token, sign_in
    from core.synthetic import DEMO_PASSWORD
    db, _ = tiny
    token = sign_in(db, "so.giamsat", DEMO_PASSWORD)
    assert actor_for_token(db, token).role.value == "department_supervisor"
