"""Timetable rules: Monday versions, weekend-only change requests, conflicts named in full."""
import datetime as dt

import pytest

from core.kernel.errors import RuleViolation, TimetableConflict
from core.timetable.rules.calendar import teaching_weeks
from core.timetable.rules.slots import (
    Lesson,
    change_request_applies_from,
    find_conflicts,
    require_monday,
    require_no_conflicts,
)


def test_version_must_start_on_monday():
    assert require_monday(dt.date(2025, 10, 13)) == dt.date(2025, 10, 13)
    with pytest.raises(RuleViolation, match="Tuesday 2025-10-14"):
        require_monday(dt.date(2025, 10, 14))


@pytest.mark.parametrize("when,applies", [
    (dt.datetime(2025, 10, 18, 0, 0, 0), dt.date(2025, 10, 20)),     # Saturday 00:00
    (dt.datetime(2025, 10, 19, 23, 59, 59), dt.date(2025, 10, 20)),  # Sunday 23:59:59
])
def test_weekend_requests_apply_next_monday(when, applies):
    assert change_request_applies_from(when) == applies


@pytest.mark.parametrize("when", [
    dt.datetime(2025, 10, 17, 23, 59, 59),  # Friday night
    dt.datetime(2025, 10, 20, 0, 0, 0),     # Monday 00:00
    dt.datetime(2025, 10, 15, 10, 0, 0),    # Wednesday
])
def test_weekday_requests_are_refused(when):
    with pytest.raises(RuleViolation, match="only on Saturday or Sunday"):
        change_request_applies_from(when)


def test_teacher_in_two_classes_names_both_lessons():
    a = Lesson("6A1", "Nguyễn Thị Lan", 2, 3, "Toán")
    b = Lesson("6A2", "Nguyễn Thị Lan", 2, 3, "Toán")
    with pytest.raises(TimetableConflict) as err:
        require_no_conflicts([a, b])
    assert "6A1 Thứ Ba tiết 3 (Toán, Nguyễn Thị Lan)" in str(err.value)
    assert "6A2 Thứ Ba tiết 3 (Toán, Nguyễn Thị Lan)" in str(err.value)
    assert "teacher Nguyễn Thị Lan" in str(err.value)


def test_class_with_two_lessons_in_one_slot_names_both():
    a = Lesson("7B", "Trần Văn Nam", 1, 1, "Ngữ văn")
    b = Lesson("7B", "Lê Thu Hà", 1, 1, "Tiếng Anh")
    conflicts = find_conflicts([a, b])
    assert [(c[2]) for c in conflicts] == ["class"]
    with pytest.raises(TimetableConflict, match="class 7B cannot have two lessons"):
        require_no_conflicts([a, b])


def test_no_conflict_when_slots_differ():
    lessons = [Lesson("6A1", "T1", 1, 1, "Toán"), Lesson("6A2", "T1", 1, 2, "Toán"),
               Lesson("6A1", "T2", 1, 2, "Văn")]
    assert find_conflicts(lessons) == []


def test_year_has_35_weeks_18_plus_17_skipping_tet():
    tet = dt.date(2026, 2, 16)
    weeks = teaching_weeks(dt.date(2025, 9, 8), breaks=frozenset({tet}))
    assert len(weeks) == 35
    assert sum(w.term == 1 for w in weeks) == 18 and sum(w.term == 2 for w in weeks) == 17
    assert tet not in {w.monday for w in weeks}
    assert all(w.monday.weekday() == 0 for w in weeks)
