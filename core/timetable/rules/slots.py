"""Timetable rules (thời khóa biểu) of the Ho Chi Minh City logbook (HCMC sổ đầu bài số rules 2025-2026):
"the timetable in the logbook is updated every Monday; teachers may only make
adjustments at the weekend"; and the two scheduling invariants: a teacher cannot be in
two classes in the same slot, and a class has one lesson per slot."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from core.kernel.errors import RuleViolation, TimetableConflict
from core.timetable.rules.calendar import WEEKDAYS, next_monday


@dataclass(frozen=True)
class Lesson:
    """One timetable slot described by names, so that errors can name it."""

    class_name: str
    teacher: str
    weekday: int
    period_no: int
    subject: str
    class_key: object = None
    teacher_key: object = None

    def describe(self) -> str:
        return (f"{self.class_name} {WEEKDAYS.get(self.weekday, self.weekday)} tiết {self.period_no} "
                f"({self.subject}, {self.teacher})")


def require_monday(effective_from: dt.date) -> dt.date:
    """A timetable version takes effect on a Monday (HCMC: "cập nhật vào thứ Hai hằng tuần")."""
    if effective_from.weekday() != 0:
        raise RuleViolation(
            f"a timetable version takes effect on a Monday; {effective_from:%A %Y-%m-%d} is not one",
            message_vi=f"Thời khóa biểu chỉ có hiệu lực từ thứ Hai; ngày {effective_from:%d/%m/%Y} không phải thứ Hai",
        )
    return effective_from


def change_request_applies_from(requested_at: dt.datetime) -> dt.date:
    """A change request is accepted only on Saturday or Sunday and applies from the next Monday
    (HCMC: "giáo viên chỉ được điều chỉnh vào cuối tuần"). Mid-week requests are refused."""
    if requested_at.weekday() not in (5, 6):
        raise RuleViolation(
            f"timetable change requests are accepted only on Saturday or Sunday; "
            f"{requested_at:%A %Y-%m-%d %H:%M} is a weekday",
            message_vi="Chỉ được đề nghị điều chỉnh thời khóa biểu vào thứ Bảy hoặc Chủ nhật",
        )
    return next_monday(requested_at.date())


def find_conflicts(lessons: Iterable[Lesson]) -> list[tuple[Lesson, Lesson, str]]:
    """Every pair of lessons that share a teacher or a class in the same weekday and period."""
    by_teacher: dict[tuple, Lesson] = {}
    by_class: dict[tuple, Lesson] = {}
    conflicts = []
    for lesson in lessons:
        tkey = (lesson.teacher_key or lesson.teacher, lesson.weekday, lesson.period_no)
        ckey = (lesson.class_key or lesson.class_name, lesson.weekday, lesson.period_no)
        if ckey in by_class:
            conflicts.append((by_class[ckey], lesson, "class"))
        else:
            by_class[ckey] = lesson
        if tkey in by_teacher:
            conflicts.append((by_teacher[tkey], lesson, "teacher"))
        else:
            by_teacher[tkey] = lesson
    return conflicts


def conflict_message(first: Lesson, second: Lesson, kind: str) -> str:
    if kind == "teacher":
        return (f"teacher {second.teacher} cannot teach two classes in the same slot: "
                f"{first.describe()} and {second.describe()}")
    return (f"class {second.class_name} cannot have two lessons in the same slot: "
            f"{first.describe()} and {second.describe()}")


def conflict_message_vi(first: Lesson, second: Lesson, kind: str) -> str:
    """:func:`conflict_message` in Vietnamese."""
    if kind == "teacher":
        return (f"giáo viên {second.teacher} không thể dạy hai lớp trong cùng một tiết: "
                f"{first.describe()} và {second.describe()}")
    return (f"lớp {second.class_name} không thể có hai tiết học cùng lúc: "
            f"{first.describe()} và {second.describe()}")


def require_no_conflicts(lessons: Iterable[Lesson]) -> None:
    """Raise :class:`TimetableConflict` naming both lessons of the first conflict."""
    conflicts = find_conflicts(lessons)
    if conflicts:
        first, second, kind = conflicts[0]
        more = f" (and {len(conflicts) - 1} more conflicts)" if len(conflicts) > 1 else ""
        raise TimetableConflict(
            conflict_message(first, second, kind) + more,
            message_vi=f"Trùng lịch: {first.describe()} và {second.describe()}",
        )
