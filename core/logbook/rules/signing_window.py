"""When a lesson entry may be signed, and what counts as teaching hours (giờ giảng).

The HCMC Department of Education and Training's rules for the digital logbook from school year
2025-2026 (sodaubai.hcm.edu.vn): "giáo viên phải ký số trong tiết dạy … và chậm nhất 5 phút sau
khi kết thúc tiết dạy"; "tiết không ký sẽ không được tính giờ giảng". Our reading of the
boundaries, which the sources leave open: the window is [period start, period end + grace] with
both ends included, to the second.

Some of these rules must also run inside a database (the record store's aggregates, the
analytics store's facts). Their SQL forms live here, beside the Python forms, and
``tests/rules/test_rule_forms.py`` proves them equal on worked examples:

- :func:`is_missed`, :func:`is_pending`, :func:`is_decided`, :func:`counts_as_teaching_hours`
  are written with comparison and ``&``/``|`` operators only, so the *same* function evaluates a
  Python value and builds a SQLAlchemy expression over columns;
- :func:`missed_sql`, :func:`pending_sql`, :func:`decided_sql`, :func:`hours_counted_sql` are
  the same predicates as SQL text, for the DuckDB (and Trino, Spark) queries of the analytics
  store;
- :func:`window_verdict` (what the window says of a receipt time, which :func:`classify_signing`
  applies) and :func:`window_verdict_sql`, its SQL text for PostgreSQL and DuckDB, with which
  ``sohoa verify-integrity`` checks every signed entry's status against its receipt time.
"""
from __future__ import annotations

import datetime as dt

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus

#: The signing grace after the period's end: 5 minutes (the one home of this number; a school
#: may be given another, ``school.signing_grace_seconds``, which starts at this).
DEFAULT_GRACE = dt.timedelta(minutes=5)
DEFAULT_GRACE_SECONDS = int(DEFAULT_GRACE.total_seconds())


#: What the window says of a signature received at a moment: too early, on time, late, or after
#: the period's day (:func:`window_verdict`).
EARLY, AFTER_DAY = "early", "after_day"


def window_verdict(signed_at: dt.datetime, period_start: dt.datetime, period_end: dt.datetime,
                   grace: dt.timedelta = DEFAULT_GRACE) -> str:
    """``early`` before the period starts, ``on_time`` inside [start, end + grace], ``late`` after
    it on the same day, ``after_day`` on a later day (the period was missed)."""
    if signed_at < period_start:
        return EARLY
    if signed_at.date() > period_start.date():
        return AFTER_DAY
    return EntryStatus.ON_TIME.value if signed_at <= period_end + grace else EntryStatus.LATE.value


def window_verdict_sql(signed_at: str = "signed_at", period_start: str = "period_start",
                       period_end: str = "period_end", grace_seconds: str = "grace_seconds") -> str:
    """:func:`window_verdict` as SQL text (PostgreSQL, DuckDB), over the named columns."""
    return (f"(CASE WHEN {signed_at} < {period_start} THEN '{EARLY}' "
            f"WHEN CAST({signed_at} AS DATE) > CAST({period_start} AS DATE) THEN '{AFTER_DAY}' "
            f"WHEN {signed_at} <= {period_end} + {grace_seconds} * INTERVAL '1 second' "
            f"THEN '{EntryStatus.ON_TIME.value}' ELSE '{EntryStatus.LATE.value}' END)")


def classify_signing(signed_at: dt.datetime, period_start: dt.datetime, period_end: dt.datetime,
                     grace: dt.timedelta = DEFAULT_GRACE) -> EntryStatus:
    """ON_TIME inside [start, end + grace]; LATE after it on the same day.

    Before the period starts the signature is refused (nothing to attest yet). After the
    end of the period's day the entry is MISSED and can no longer be signed.
    Example (period 07:50–08:35): 07:49 refused; 08:20 and 08:40:00 on time; 08:40:01 late.
    """
    verdict = window_verdict(signed_at, period_start, period_end, grace)
    if verdict == EARLY:
        raise RuleViolation(
            f"the period starts at {period_start:%H:%M}; it cannot be signed at {signed_at:%H:%M:%S}",
            message_vi=f"Tiết học bắt đầu lúc {period_start:%H:%M}; chưa thể ký lúc {signed_at:%H:%M:%S}",
        )
    if verdict == AFTER_DAY:
        raise RuleViolation(
            f"the period of {period_start:%d/%m/%Y} was missed: it can no longer be signed",
            message_vi=f"Tiết học ngày {period_start:%d/%m/%Y} đã quá hạn ký (không ký)",
        )
    return EntryStatus(verdict)


def status_as_of(status: EntryStatus, day: dt.date, as_of: dt.datetime) -> EntryStatus:
    """An unsigned entry becomes MISSED once its day is over."""
    if is_missed(status, day, as_of.date()):
        return EntryStatus.MISSED
    return status


def is_missed(status, day, today):
    """Missed (không ký): marked missed, or still unsigned on a day before ``today``.
    On values or on SQL columns alike."""
    return (status == EntryStatus.MISSED) | ((status == EntryStatus.PENDING) & (day < today))


def is_pending(status, day, today):
    """Still to be signed: unsigned and its day is not over. On values or on SQL columns."""
    return (status == EntryStatus.PENDING) & (day >= today)


def is_decided(status, day, today):
    """Decided by ``today``: signed (on time or late), marked missed, or its day is over."""
    return (status != EntryStatus.PENDING) | (day < today)


def counts_as_teaching_hours(status):
    """Only a period signed on time counts as teaching hours (giờ giảng); the credit goes to
    the teacher who taught and signed it, the substitute when there is one. On values or on SQL
    columns alike."""
    return status == EntryStatus.ON_TIME


def missed_sql(status: str = "status", day: str = "day", today: str = "$as_of") -> str:
    """:func:`is_missed` as SQL text (column names and the ``today`` parameter given)."""
    return f"({status} = 'missed' OR ({status} = 'pending' AND {day} < {today}))"


def pending_sql(status: str = "status", day: str = "day", today: str = "$as_of") -> str:
    """:func:`is_pending` as SQL text."""
    return f"({status} = 'pending' AND {day} >= {today})"


def decided_sql(status: str = "status", day: str = "day", today: str = "$as_of") -> str:
    """:func:`is_decided` as SQL text."""
    return f"({status} <> 'pending' OR {day} < {today})"


def hours_counted_sql(status: str = "status") -> str:
    """:func:`counts_as_teaching_hours` as SQL text."""
    return f"({status} = 'on_time')"
