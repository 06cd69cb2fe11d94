"""The school year (năm học): 35 teaching weeks, học kỳ I of 18 and học kỳ II of 17
(Quyết định 2269/QĐ-BGDĐT, the MOET framework for 2025-2026), Monday to Saturday lessons."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

TERM1_WEEKS = 18
TERM2_WEEKS = 17
WEEKDAYS = {1: "Thứ Hai", 2: "Thứ Ba", 3: "Thứ Tư", 4: "Thứ Năm", 5: "Thứ Sáu", 6: "Thứ Bảy", 7: "Chủ Nhật"}


@dataclass(frozen=True)
class TeachingWeek:
    number: int
    term: int
    monday: dt.date

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)


def monday_of(day: dt.date) -> dt.date:
    """The Monday of the week that contains ``day``."""
    return day - dt.timedelta(days=day.weekday())


def next_monday(day: dt.date) -> dt.date:
    """The first Monday strictly after ``day``."""
    return monday_of(day) + dt.timedelta(days=7)


def teaching_weeks(first_monday: dt.date, *, breaks: frozenset[dt.date] = frozenset(),
                   term1_weeks: int = TERM1_WEEKS, term2_weeks: int = TERM2_WEEKS) -> list[TeachingWeek]:
    """The teaching weeks of a year from its first Monday, skipping whole-week breaks
    (e.g. Tết), numbered 1..35 with the term each belongs to."""
    if first_monday.weekday() != 0:
        raise ValueError(f"a school year starts on a Monday, not {first_monday:%A %Y-%m-%d}")
    weeks: list[TeachingWeek] = []
    monday = first_monday
    while len(weeks) < term1_weeks + term2_weeks:
        if monday not in breaks:
            number = len(weeks) + 1
            weeks.append(TeachingWeek(number, 1 if number <= term1_weeks else 2, monday))
        monday += dt.timedelta(days=7)
    return weeks


def school_days(week_monday: dt.date, holidays: set[dt.date] | frozenset[dt.date],
                days_per_week: int = 6) -> list[dt.date]:
    """The lesson days of a week (Monday..Saturday by default) without its holidays."""
    days = [week_monday + dt.timedelta(days=i) for i in range(days_per_week)]
    return [d for d in days if d not in holidays]
