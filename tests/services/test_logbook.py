"""Logbook services against PostgreSQL and the embedded default, with worked examples."""
import datetime as dt

import pytest
from sqlalchemy import select, update

from core.access.authz import SYSTEM
from core.kernel.errors import CertificateNotRegistered, NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.entries import (
    EntryContent,
    fill_entry,
    generate_week,
    mark_missed,
    record_substitute,
    sign_entry,
    teaching_hours,
)
from core.logbook.verification import verify_entry_signature
from core.storage.models import Holiday, LogbookEntry
from tests.evidence._receipts import sealing  # noqa: F401 - a fixture
from tests.world import MONDAY

TUESDAY = MONDAY + dt.timedelta(days=1)


def at(day, h, m, s=0):
    return dt.datetime.combine(day, dt.time(h, m, s))


@pytest.fixture
def week1(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    generate_week(world.db, SYSTEM, world.ids["B"], world.ids["week1"])
    return world


def test_week_is_generated_from_the_timetable(week1):
    with week1.db.reading() as s:
        rows = s.execute(select(LogbookEntry.class_id, LogbookEntry.day, LogbookEntry.period_no,
                                LogbookEntry.period_start, LogbookEntry.period_end)
                         .where(LogbookEntry.school_id == week1.ids["A"])).all()
    assert len(rows) == 10  # 5 lessons a day, Monday and Tuesday
    p2 = [r for r in rows if r.class_id == week1.ids["6A1"] and r.day == MONDAY and r.period_no == 2][0]
    assert (p2.period_start.time(), p2.period_end.time()) == (dt.time(7, 50), dt.time(8, 35))
    # generating again adds nothing
    assert generate_week(week1.db, SYSTEM, week1.ids["A"], week1.ids["week1"]) == 0


def test_holidays_are_excluded(world):
    with world.db.transaction() as s:
        s.add(Holiday(school_year_id=world.ids["year"], day=TUESDAY, name="Nghỉ lễ"))
    assert generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"]) == 5
    with world.db.reading() as s:
        assert set(s.scalars(select(LogbookEntry.day).where(LogbookEntry.school_id == world.ids["A"]))) == {MONDAY}


def _sign(w, who, klass, day, period, when):
    return sign_entry(w.db, w.actor(who), w.entry(klass, day, period), w.signer(who), at=when)


def test_signing_window_edges_on_the_real_service(week1):
    # Period 2 (07:50–08:35) is Minh's in 6A1 on Monday and Tuesday.
    with pytest.raises(RuleViolation, match="cannot be signed"):
        _sign(week1, "minh", "6A1", MONDAY, 2, at(MONDAY, 7, 49))
    r = _sign(week1, "minh", "6A1", MONDAY, 2, at(MONDAY, 8, 40, 0))
    assert r.status == EntryStatus.ON_TIME and r.counts_as_teaching_hours
    r = _sign(week1, "minh", "6A1", TUESDAY, 2, at(TUESDAY, 8, 40, 1))
    assert r.status == EntryStatus.LATE and not r.counts_as_teaching_hours
    with week1.db.reading() as s:
        late = s.get(LogbookEntry, week1.entry("6A1", TUESDAY, 2))
        assert late.status == EntryStatus.LATE and late.signed_at == at(TUESDAY, 8, 40, 1)
    # signing twice is refused
    with pytest.raises(RuleViolation, match="already"):
        _sign(week1, "minh", "6A1", MONDAY, 2, at(MONDAY, 8, 41))


def test_unsigned_by_end_of_day_is_missed(week1):
    with pytest.raises(RuleViolation, match="missed"):
        _sign(week1, "lan", "6A1", MONDAY, 1, at(TUESDAY, 7, 0))
    assert mark_missed(week1.db, SYSTEM, as_of=at(TUESDAY, 0, 0)) == 6  # all of Monday (both schools)
    with week1.db.reading() as s:
        assert s.get(LogbookEntry, week1.entry("6A1", MONDAY, 1)).status == EntryStatus.MISSED


def test_only_the_periods_teacher_signs(week1):
    with pytest.raises(PermissionDenied, match="not yours"):
        sign_entry(week1.db, week1.actor("lan"), week1.entry("6A1", MONDAY, 2), week1.signer("lan"),
                   at=at(MONDAY, 8, 0))
    # Minh signing with Lan's key: the certificate is not his
    with pytest.raises(CertificateNotRegistered, match="not registered to this teacher"):
        sign_entry(week1.db, week1.actor("minh"), week1.entry("6A1", MONDAY, 2), week1.signer("lan"),
                   at=at(MONDAY, 8, 0))


def test_substitute_signs_and_gets_the_hours(week1):
    entry = week1.entry("6A1", MONDAY, 3)  # Hà's English lesson
    with pytest.raises(PermissionDenied):  # a teacher cannot record substitutes
        record_substitute(week1.db, week1.actor("ha"), entry, week1.ids["lan"], "ốm")
    with pytest.raises(RuleViolation, match="already teaches"):  # Minh is not free? he teaches 6A2 p1 only
        record_substitute(week1.db, week1.actor("binh"), week1.entry("6A1", MONDAY, 1), week1.ids["minh"], "ốm")
    record_substitute(week1.db, week1.actor("binh"), entry, week1.ids["lan"], "Cô Hà ốm")
    with pytest.raises(PermissionDenied):
        _sign(week1, "ha", "6A1", MONDAY, 3, at(MONDAY, 9, 0))
    r = _sign(week1, "lan", "6A1", MONDAY, 3, at(MONDAY, 9, 0))
    assert r.status == EntryStatus.ON_TIME
    lan = teaching_hours(week1.db, week1.actor("lan"), week1.ids["lan"], MONDAY, MONDAY)
    ha = teaching_hours(week1.db, week1.actor("binh"), week1.ids["ha"], MONDAY, MONDAY)
    assert lan["counted"] == 1 and lan["periods"] == 3  # 6A1 p1, 6A2 p2, and 6A1 p3 as substitute
    assert ha["periods"] == 0 and ha["counted"] == 0


def test_filled_content_is_signed_and_verifies(week1, sealing):
    trust = sealing.trust()
    entry = week1.entry("6A1", MONDAY, 1)
    content = EntryContent(lesson_title="Bài 3: Số nguyên tố", curriculum_seq=12,
                           absences={week1.ids["student0"]: True}, class_remark="Lớp sôi nổi",
                           student_remarks={week1.ids["student1"]: "Em phát biểu tốt"}, class_rating="A")
    fill_entry(week1.db, week1.actor("lan"), entry, content)
    _sign(week1, "lan", "6A1", MONDAY, 1, at(MONDAY, 7, 30))
    # until the server's receipt of the decision is sealed, the entry is not proven
    report = verify_entry_signature(week1.db, week1.actor("mon_a"), entry, trust)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "TRY_LATER")
    assert [s.role for s in report.signatures] == ["teacher", "receipt"] and report.signatures[0].verification.valid
    sealing.seal_all(week1.db)
    report = verify_entry_signature(week1.db, week1.actor("mon_a"), entry, trust)
    assert report.indication == "PASSED" and report.valid, report.signatures
    # the content can no longer be changed through the service
    with pytest.raises(RuleViolation, match="no longer change"):
        fill_entry(week1.db, week1.actor("lan"), entry, content)
    # tampering in the database is detected
    with week1.db.transaction() as s:
        s.execute(update(LogbookEntry).where(LogbookEntry.id == entry).values(lesson_title="Bài khác"))
    report = verify_entry_signature(week1.db, week1.actor("mon_a"), entry, trust)
    assert report.indication == "FAILED" and report.sub_indication == "HASH_FAILURE" and not report.valid


def test_unknown_student_is_refused(week1):
    with pytest.raises(RuleViolation, match="not in this class"):
        fill_entry(week1.db, week1.actor("lan"), week1.entry("6A1", MONDAY, 1),
                   EntryContent(lesson_title="Bài 1", absences={week1.ids["student3"]: False}))


def test_unsigned_entry_is_indeterminate_never_valid(week1, trust):
    report = verify_entry_signature(week1.db, week1.actor("so"), week1.entry("6A1", MONDAY, 1), trust)
    assert report.indication == "INDETERMINATE" and not report.valid


def test_monitor_cannot_reach_another_schools_entry(week1, trust):
    other = week1.entry("6B1", MONDAY, 1)
    with pytest.raises(NotFound):
        verify_entry_signature(week1.db, week1.actor("mon_a"), other, trust)
    with pytest.raises(NotFound):
        teaching_hours(week1.db, week1.actor("mon_a"), 10**9, MONDAY, MONDAY)
    with pytest.raises(PermissionDenied):
        teaching_hours(week1.db, week1.actor("mon_a"), week1.ids["khoa"], MONDAY, MONDAY)
