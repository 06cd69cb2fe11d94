"""Timetable versions and weekend change requests through the services."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from core.access.authz import SYSTEM
from core.kernel.errors import MalformedInput, PermissionDenied, RuleViolation, TimetableConflict
from core.logbook.entries import generate_week
from core.storage.models import LogbookEntry, TimetableChangeRequest
from core.timetable.services import SlotSpec, decide_change, publish_timetable, request_change
from tests.world import MONDAY

SATURDAY = dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(9, 0))


def test_publish_refuses_a_conflict_naming_both_lessons(world):
    ids = world.ids
    slots = [SlotSpec(ids["6A1"], 3, 1, ids["subj:TOAN"], ids["lan"]),
             SlotSpec(ids["6A2"], 3, 1, ids["subj:TOAN"], ids["lan"])]
    with pytest.raises(TimetableConflict) as err:
        publish_timetable(world.db, SYSTEM, ids["A"], MONDAY + dt.timedelta(days=7), slots)
    assert "6A1 Thứ Tư tiết 1 (Toán, Nguyễn Thị Lan)" in str(err.value)
    assert "6A2 Thứ Tư tiết 1 (Toán, Nguyễn Thị Lan)" in str(err.value)


def test_publish_only_on_monday_and_only_by_school_management(world):
    ids = world.ids
    slot = [SlotSpec(ids["6A1"], 3, 1, ids["subj:TOAN"], ids["lan"])]
    with pytest.raises(RuleViolation, match="Monday"):
        publish_timetable(world.db, SYSTEM, ids["A"], MONDAY + dt.timedelta(days=8), slot)
    with pytest.raises(PermissionDenied):
        publish_timetable(world.db, world.actor("lan"), ids["A"], MONDAY + dt.timedelta(days=7), slot)
    with pytest.raises(PermissionDenied):  # principal of school B on school A
        publish_timetable(world.db, world.actor("dung"), ids["A"], MONDAY + dt.timedelta(days=7), slot)


def _move_lan(world):
    ids = world.ids
    return [{"class_id": ids["6A1"], "weekday": 1, "period_no": 1, "remove": True},
            {"class_id": ids["6A1"], "weekday": 1, "period_no": 3, "subject_id": ids["subj:TOAN"],
             "teacher_id": ids["lan"]}]


def test_change_request_only_at_the_weekend(world):
    with pytest.raises(RuleViolation, match="only on Saturday or Sunday"):
        request_change(world.db, world.actor("lan"), world.ids["A"], _move_lan(world),
                       at=dt.datetime.combine(MONDAY + dt.timedelta(days=4), dt.time(16)))


def test_approved_change_applies_from_next_monday(world):
    ids = world.ids
    req = request_change(world.db, world.actor("lan"), ids["A"], _move_lan(world), "đổi tiết", at=SATURDAY)
    with world.db.reading() as s:
        assert s.get(TimetableChangeRequest, req).applies_from == MONDAY + dt.timedelta(days=7)
    with pytest.raises(PermissionDenied):
        decide_change(world.db, world.actor("lan"), req, True)
    version = decide_change(world.db, world.actor("binh"), req, True, "đồng ý",
                            at=SATURDAY + dt.timedelta(hours=2))
    assert version is not None
    generate_week(world.db, SYSTEM, ids["A"], ids["week1"])
    generate_week(world.db, SYSTEM, ids["A"], ids["week2"])
    with world.db.reading() as s:
        def lesson(week, period):
            return s.scalar(select(LogbookEntry.teacher_id).where(
                LogbookEntry.class_id == ids["6A1"], LogbookEntry.week_id == ids[week],
                LogbookEntry.period_no == period, LogbookEntry.day == s.scalar(
                    select(LogbookEntry.day).where(LogbookEntry.week_id == ids[week]).order_by(LogbookEntry.day)
                    .limit(1))))
        assert lesson("week1", 1) == ids["lan"] and lesson("week1", 3) == ids["ha"]   # old version
        assert lesson("week2", 1) is None and lesson("week2", 3) == ids["lan"]        # new version


def test_change_creating_a_conflict_is_refused(world):
    ids = world.ids
    clash = [{"class_id": ids["6A2"], "weekday": 1, "period_no": 3, "subject_id": ids["subj:NV"],
              "teacher_id": ids["ha"]}]  # Hà already teaches 6A1 on Monday period 3
    with pytest.raises(TimetableConflict, match="Lê Thu Hà"):
        request_change(world.db, world.actor("minh"), ids["A"], clash, at=SATURDAY)


def test_decision_after_the_monday_is_refused(world):
    req = request_change(world.db, world.actor("lan"), world.ids["A"], _move_lan(world), at=SATURDAY)
    with pytest.raises(RuleViolation, match="no longer be decided"):
        decide_change(world.db, world.actor("binh"), req, True, at=SATURDAY + dt.timedelta(days=2))


@pytest.mark.parametrize("changes, message", [
    ([{}], "change 1: 'class_id' is missing"),
    ([{"class_id": 1, "weekday": 1, "period_no": 1, "remove": True}, "x"], "change 2: must be an object"),
    ([{"class_id": "6A1", "weekday": 1, "period_no": 1, "remove": True}], "'class_id' must be a whole number"),
    ([{"class_id": 1, "weekday": 1, "period_no": 1}], "'subject_id' is missing"),
    ([{"class_id": 1, "weekday": 1, "period_no": 1, "remove": "yes"}], "'remove' must be true or false"),
    ([{"class_id": 2**70, "weekday": 1, "period_no": 1, "remove": True}], "'class_id' must be a whole number"),
    ([{"class_id": 1, "weekday": 1, "period_no": 1, "remove": True, "room": "B2"}], "unknown field"),
])
def test_a_malformed_change_is_refused_naming_it_and_nothing_is_stored(world, changes, message):
    with world.db.reading() as s:
        before = s.scalar(select(func.count()).select_from(TimetableChangeRequest))
    with pytest.raises(MalformedInput, match=message) as err:
        request_change(world.db, world.actor("lan"), world.ids["A"], changes, at=SATURDAY)
    assert err.value.message_vi.startswith("Thay đổi thứ")
    with world.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(TimetableChangeRequest)) == before


def test_a_change_is_stored_in_one_normal_form(world):
    ids = world.ids
    raw = [{"class_id": str(ids["6A1"]), "weekday": "1", "period_no": 1, "remove": True}]
    req = request_change(world.db, world.actor("lan"), ids["A"], raw, at=SATURDAY)
    with world.db.reading() as s:
        assert s.get(TimetableChangeRequest, req).changes == [
            {"class_id": ids["6A1"], "weekday": 1, "period_no": 1, "remove": True}]
