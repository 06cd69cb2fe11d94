"""The signing window, with the worked example of the HCMC rule (period 2, 07:50–08:35)."""
import datetime as dt

import pytest

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.rules.signing_window import (
    classify_signing,
    counts_as_teaching_hours,
    signing_deadline,
    status_as_of,
)

DAY = dt.date(2025, 10, 13)
START = dt.datetime.combine(DAY, dt.time(7, 50))
END = dt.datetime.combine(DAY, dt.time(8, 35))


def at(h, m, s=0):
    return dt.datetime.combine(DAY, dt.time(h, m, s))


def test_before_the_period_is_refused():
    with pytest.raises(RuleViolation, match="cannot be signed at 07:49:00"):
        classify_signing(at(7, 49), START, END)


def test_one_second_before_start_is_refused_and_start_itself_is_on_time():
    with pytest.raises(RuleViolation):
        classify_signing(at(7, 49, 59), START, END)
    assert classify_signing(at(7, 50), START, END) == EntryStatus.ON_TIME


def test_during_the_period_is_on_time():
    assert classify_signing(at(8, 20), START, END) == EntryStatus.ON_TIME


def test_end_plus_five_minutes_exactly_is_on_time():
    assert classify_signing(at(8, 40, 0), START, END) == EntryStatus.ON_TIME


def test_one_second_after_the_grace_is_late():
    assert classify_signing(at(8, 40, 1), START, END) == EntryStatus.LATE


def test_late_later_the_same_day():
    assert classify_signing(at(23, 59, 59), START, END) == EntryStatus.LATE


def test_next_day_is_missed_and_refused():
    with pytest.raises(RuleViolation, match="missed"):
        classify_signing(dt.datetime(2025, 10, 14, 0, 0, 0), START, END)


def test_grace_is_per_school():
    two_minutes = dt.timedelta(minutes=2)
    assert classify_signing(at(8, 37), START, END, two_minutes) == EntryStatus.ON_TIME
    assert classify_signing(at(8, 37, 1), START, END, two_minutes) == EntryStatus.LATE


def test_unsigned_becomes_missed_after_its_day():
    assert status_as_of(EntryStatus.PENDING, DAY, at(23, 59, 59)) == EntryStatus.PENDING
    assert status_as_of(EntryStatus.PENDING, DAY, dt.datetime(2025, 10, 14)) == EntryStatus.MISSED
    assert status_as_of(EntryStatus.LATE, DAY, dt.datetime(2025, 10, 14)) == EntryStatus.LATE


@pytest.mark.parametrize("status,counted", [(EntryStatus.ON_TIME, True), (EntryStatus.LATE, False),
                                            (EntryStatus.MISSED, False), (EntryStatus.PENDING, False)])
def test_only_on_time_counts_as_teaching_hours(status, counted):
    assert counts_as_teaching_hours(status) is counted


# ---------------------------------------------------------------- a period ending near midnight
LATE_START, LATE_END = at(23, 10), at(23, 58)     # a constructed example: period 23:10–23:58
NEXT = DAY + dt.timedelta(days=1)


def next_day(h, m, s=0):
    return dt.datetime.combine(NEXT, dt.time(h, m, s))


@pytest.mark.parametrize("signed_at,expected", [
    (at(23, 58), EntryStatus.ON_TIME),
    (at(23, 59, 59), EntryStatus.ON_TIME),
    (next_day(0, 0), EntryStatus.ON_TIME),         # after midnight, inside the grace
    (next_day(0, 2), EntryStatus.ON_TIME),
    (next_day(0, 3, 0), EntryStatus.ON_TIME),      # end + 5:00, the last second
])
def test_the_grace_runs_past_midnight(signed_at, expected):
    assert classify_signing(signed_at, LATE_START, LATE_END) == expected


def test_after_the_grace_past_midnight_it_is_missed():
    with pytest.raises(RuleViolation, match="missed"):
        classify_signing(next_day(0, 3, 1), LATE_START, LATE_END)
    assert signing_deadline(LATE_START, LATE_END) == next_day(0, 3) + dt.timedelta(microseconds=1)
    assert signing_deadline(START, END) == next_day(0, 0)  # an ordinary period: midnight


def test_a_period_whose_grace_ends_at_midnight():
    start, end = at(23, 0), at(23, 55)
    assert classify_signing(next_day(0, 0), start, end) == EntryStatus.ON_TIME
    with pytest.raises(RuleViolation):
        classify_signing(next_day(0, 0, 1), start, end)
    assert classify_signing(at(23, 55, 1), at(22, 0), at(23, 50)) == EntryStatus.LATE


def test_status_as_of_keeps_the_grace_past_midnight():
    assert status_as_of(EntryStatus.PENDING, DAY, next_day(0, 2), LATE_END) == EntryStatus.PENDING
    assert status_as_of(EntryStatus.PENDING, DAY, next_day(0, 3, 1), LATE_END) == EntryStatus.MISSED
    assert status_as_of(EntryStatus.PENDING, DAY, next_day(0, 0), END) == EntryStatus.MISSED
    # without the period's end, the day alone decides (exact for periods ending before 23:55)
    assert status_as_of(EntryStatus.PENDING, DAY, next_day(0, 2)) == EntryStatus.MISSED
