"""Weekly close: homeroom teacher first, then the principal; closed is read-only; reopen rules."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.access.authz import SYSTEM
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus, WeekCloseStatus
from core.logbook.entries import EntryContent, fill_entry, generate_week, sign_entry
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week, reopen_week
from core.signatures.pades import verify_pdf
from core.storage.models import LogbookEntry, WeekClose, WeekReopen
from tests.world import MONDAY

SATURDAY = MONDAY + dt.timedelta(days=5)
NEXT_MONDAY = MONDAY + dt.timedelta(days=7)


@pytest.fixture
def week1(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    return world


def _homeroom(w, when=None):
    return homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"),
                              at=when or dt.datetime.combine(SATURDAY, dt.time(10)))


def _close(w, when=None):
    return principal_close_week(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.signer("binh"),
                                at=when or dt.datetime.combine(SATURDAY, dt.time(11)))


def test_close_in_order(week1):
    assert _homeroom(week1) == WeekCloseStatus.HOMEROOM_SIGNED
    assert _close(week1) == WeekCloseStatus.CLOSED
    with week1.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == week1.ids["6A1"]))
        assert row.closed_on_time is True and row.homeroom_signature and row.principal_signature
        # unsigned periods became MISSED when the homeroom teacher signed
        statuses = set(s.scalars(select(LogbookEntry.status).where(LogbookEntry.class_id == week1.ids["6A1"])))
        assert statuses == {EntryStatus.MISSED}
    # the printable week: exactly the homeroom teacher's certifying signature and the principal's
    # approval in the field the certifying revision created, both valid
    assert [(field, v.indication) for field, v in verify_pdf(row.document, week1.pki.trust_store())] == \
        [(HOMEROOM_FIELD, "PASSED"), (PRINCIPAL_FIELD, "PASSED")]


def test_principal_before_homeroom_is_refused(week1):
    with pytest.raises(RuleViolation, match="only after the homeroom teacher"):
        _close(week1)


def test_only_after_the_last_school_day(week1):
    with pytest.raises(RuleViolation, match="after its last school day"):
        _homeroom(week1, dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(23, 59, 59)))
    assert _homeroom(week1, dt.datetime.combine(MONDAY + dt.timedelta(days=2), dt.time(0, 0))) \
        == WeekCloseStatus.HOMEROOM_SIGNED


def test_only_the_classes_homeroom_teacher_and_only_the_principal(week1):
    with pytest.raises(PermissionDenied, match="homeroom teacher of 6A1"):
        homeroom_sign_week(week1.db, week1.actor("minh"), week1.ids["6A1"], week1.ids["week1"],
                           week1.signer("minh"), at=dt.datetime.combine(SATURDAY, dt.time(10)))
    _homeroom(week1)
    with pytest.raises(PermissionDenied):
        principal_close_week(week1.db, week1.actor("lan"), week1.ids["6A1"], week1.ids["week1"],
                             week1.signer("lan"), at=dt.datetime.combine(SATURDAY, dt.time(11)))
    with pytest.raises(NotFound):  # the other school's principal cannot even see the class
        principal_close_week(week1.db, week1.actor("dung"), week1.ids["6A1"], week1.ids["week1"],
                             week1.signer("dung"), at=dt.datetime.combine(SATURDAY, dt.time(11)))


def test_late_close_is_recorded(week1):
    _homeroom(week1, dt.datetime.combine(NEXT_MONDAY, dt.time(23, 0)))
    _close(week1, dt.datetime.combine(NEXT_MONDAY + dt.timedelta(days=1), dt.time(0, 0)))
    with week1.db.reading() as s:
        assert s.scalar(select(WeekClose.closed_on_time).where(WeekClose.class_id == week1.ids["6A1"])) is False


def test_closed_week_is_read_only(week1):
    _homeroom(week1)
    entry = week1.entry("6A1", MONDAY + dt.timedelta(days=1), 1)
    with pytest.raises(RuleViolation):
        fill_entry(week1.db, week1.actor("lan"), entry, EntryContent(lesson_title="Bài 9"))
    with pytest.raises(RuleViolation):
        sign_entry(week1.db, week1.actor("lan"), entry, week1.signer("lan"),
                   at=dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(7, 10)))


@pytest.mark.parametrize("who,allowed", [("binh", True), ("q1", True), ("so", True), ("admin", True),
                                         ("mon_a", False), ("lan", False), ("analyst", False),
                                         ("dung", False)])
def test_reopen_permissions(week1, who, allowed):
    _homeroom(week1)
    _close(week1)
    actor = week1.actor(who)
    if allowed:
        assert reopen_week(week1.db, actor, week1.ids["6A1"], week1.ids["week1"], "Sửa vắng học sinh") \
            == WeekCloseStatus.REOPENED
        with week1.db.reading() as s:
            assert s.scalar(select(WeekReopen.reason)) == "Sửa vắng học sinh"
    else:
        with pytest.raises((PermissionDenied, NotFound)):
            reopen_week(week1.db, actor, week1.ids["6A1"], week1.ids["week1"], "Sửa vắng học sinh")


def test_reopen_needs_a_reason_and_a_closed_week(week1):
    with pytest.raises(RuleViolation, match="only a closed week"):
        reopen_week(week1.db, week1.actor("binh"), week1.ids["6A1"], week1.ids["week1"], "lý do")
    _homeroom(week1)
    _close(week1)
    with pytest.raises(RuleViolation, match="reason is required"):
        reopen_week(week1.db, week1.actor("binh"), week1.ids["6A1"], week1.ids["week1"], "   ")


def test_reopened_week_is_closed_again_and_counts_reopened(week1):
    _homeroom(week1)
    _close(week1)
    reopen_week(week1.db, week1.actor("binh"), week1.ids["6A1"], week1.ids["week1"], "Sai sĩ số")
    _homeroom(week1, dt.datetime.combine(SATURDAY, dt.time(15)))
    assert _close(week1, dt.datetime.combine(SATURDAY, dt.time(16))) == WeekCloseStatus.CLOSED
    with week1.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == week1.ids["6A1"]))
        assert row.reopen_count == 1 and row.closed_on_time is False
