"""When a lesson entry may be signed, and what counts as teaching hours (giờ giảng).

The HCMC Department of Education and Training's rules for the digital logbook from school year
2025-2026 (sodaubai.hcm.edu.vn): "giáo viên phải ký số trong tiết dạy … và chậm nhất 5 phút sau
khi kết thúc tiết dạy"; "tiết không ký sẽ không được tính giờ giảng". Our reading of the
boundaries, which the sources leave open: the window is [period start, period end + grace] with
both ends included, to the second, in absolute time — a period ending at 23:58 is signed on
time until 00:03:00 the next day. A later signature on the period's day is LATE; after the
day (or after the grace, when the grace runs past midnight) the period is MISSED.

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

The day-level predicates (``status``, ``day``, ``today``) are exact for every period that ends
``grace`` or more before midnight; given also the period's end and :func:`grace_cutoff` they are
exact for every period, the ones ending near midnight included.
"""
from __future__ import annotations

import datetime as dt

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus

#: The signing grace after the period's end: 5 minutes (the one home of this number; a school
#: may be given another, ``school.signing_grace_seconds``, which starts at this).
DEFAULT_GRACE = dt.timedelta(minutes=5)
DEFAULT_GRACE_SECONDS = int(DEFAULT_GRACE.total_seconds())


def signing_deadline(period_start: dt.datetime, period_end: dt.datetime,
                     grace: dt.timedelta = DEFAULT_GRACE) -> dt.datetime:
    """The first instant at which the period can no longer be signed at all: the end of the
    period's day (midnight), or the end of its grace if that is later — a period ending at
    23:58 is signed on time until 00:03:00 the next day, and is missed from 00:03:01."""
    midnight = dt.datetime.combine(period_start.date() + dt.timedelta(days=1), dt.time())
    return max(midnight, period_end + grace + dt.timedelta(microseconds=1))


#: What the window says of a signature received at a moment: too early, on time, late, or after
#: the period could be signed (:func:`window_verdict`).
EARLY, AFTER_DAY = "early", "after_day"


def window_verdict(signed_at: dt.datetime, period_start: dt.datetime, period_end: dt.datetime,
                   grace: dt.timedelta = DEFAULT_GRACE) -> str:
    """``early`` before the period starts, ``on_time`` inside [start, end + grace] (across
    midnight), ``late`` after it on the period's day, ``after_day`` from
    :func:`signing_deadline` on (the period was missed)."""
    if signed_at < period_start:
        return EARLY
    if signed_at <= period_end + grace:
        return EntryStatus.ON_TIME.value
    if signed_at >= signing_deadline(period_start, period_end, grace):
        return AFTER_DAY
    return EntryStatus.LATE.value


def window_verdict_sql(signed_at: str = "signed_at", period_start: str = "period_start",
                       period_end: str = "period_end", grace_seconds: str = "grace_seconds") -> str:
    """:func:`window_verdict` as SQL text (PostgreSQL, DuckDB), over the named columns: past the
    grace on a later day than the period's is after the deadline."""
    return (f"(CASE WHEN {signed_at} < {period_start} THEN '{EARLY}' "
            f"WHEN {signed_at} <= {period_end} + {grace_seconds} * INTERVAL '1 second' "
            f"THEN '{EntryStatus.ON_TIME.value}' "
            f"WHEN CAST({signed_at} AS DATE) > CAST({period_start} AS DATE) THEN '{AFTER_DAY}' "
            f"ELSE '{EntryStatus.LATE.value}' END)")


def classify_signing(signed_at: dt.datetime, period_start: dt.datetime, period_end: dt.datetime,
                     grace: dt.timedelta = DEFAULT_GRACE) -> EntryStatus:
    """ON_TIME inside [start, end + grace] (in absolute time, across midnight); LATE after it
    on the period's day.

    Before the period starts the signature is refused (nothing to attest yet). From the end of
    the period's day — or from the end of its grace, when that falls after midnight — the
    entry is MISSED and can no longer be signed (:func:`signing_deadline`).
    Example (period 07:50–08:35): 07:49 refused; 08:20 and 08:40:00 on time; 08:40:01 late;
    00:00 the next day refused. Period 23:10–23:58: 00:03:00 the next day on time, 00:03:01
    refused.
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


def grace_cutoff(as_of: dt.datetime, grace: dt.timedelta = DEFAULT_GRACE) -> dt.datetime:
    """``as_of`` less the grace: a period that ended *before* it is past its grace at ``as_of``
    (the parameter of the predicates below that keeps a period ending near midnight signable
    in its grace minutes after 00:00)."""
    return as_of - grace


def status_as_of(status: EntryStatus, day: dt.date, as_of: dt.datetime, period_end: dt.datetime | None = None,
                 grace: dt.timedelta = DEFAULT_GRACE) -> EntryStatus:
    """An unsigned entry becomes MISSED once its day is over — and, given its ``period_end``,
    once its grace is over too (a period ending at 23:58 is still pending at 00:02)."""
    cutoff = grace_cutoff(as_of, grace) if period_end is not None else None
    if is_missed(status, day, as_of.date(), period_end, cutoff):
        return EntryStatus.MISSED
    return status


def _past(day, today, period_end, cutoff):
    """The period can no longer be signed: its day is over and, when the period's end and the
    cutoff (:func:`grace_cutoff`) are given, its grace is over as well. Without them the rule is
    the day alone, exact for every period ending ``grace`` or more before midnight."""
    over = day < today
    if period_end is None or cutoff is None:
        return over
    return over & (period_end < cutoff)


def is_missed(status, day, today, period_end=None, cutoff=None):
    """Missed (không ký): marked missed, or still unsigned once it can no longer be signed
    (its day over; with ``period_end`` and ``cutoff``, its grace over too). On values or on
    SQL columns alike."""
    return (status == EntryStatus.MISSED) | ((status == EntryStatus.PENDING) & _past(day, today, period_end, cutoff))


def is_pending(status, day, today, period_end=None, cutoff=None):
    """Still to be signed: unsigned and still signable. On values or on SQL columns."""
    still = day >= today
    if period_end is not None and cutoff is not None:
        still = still | (period_end >= cutoff)
    return (status == EntryStatus.PENDING) & still


def is_decided(status, day, today, period_end=None, cutoff=None):
    """Decided by ``today`` (and ``cutoff``): signed (on time or late), marked missed, or no
    longer signable."""
    return (status != EntryStatus.PENDING) | _past(day, today, period_end, cutoff)


def counts_as_teaching_hours(status):
    """Only a period signed on time counts as teaching hours (giờ giảng); the credit goes to
    the teacher who taught and signed it, the substitute when there is one. On values or on SQL
    columns alike."""
    return status == EntryStatus.ON_TIME


def _past_sql(day: str, today: str, period_end: str | None, cutoff: str | None) -> str:
    over = f"{day} < {today}"
    return over if period_end is None or cutoff is None else f"({over} AND {period_end} < {cutoff})"


def missed_sql(status: str = "status", day: str = "day", today: str = "$as_of",
               period_end: str | None = None, cutoff: str | None = None) -> str:
    """:func:`is_missed` as SQL text (column names, the ``today`` parameter and, to keep the
    grace across midnight, the period's end column and the ``cutoff`` parameter)."""
    return f"({status} = 'missed' OR ({status} = 'pending' AND {_past_sql(day, today, period_end, cutoff)}))"


def pending_sql(status: str = "status", day: str = "day", today: str = "$as_of",
                period_end: str | None = None, cutoff: str | None = None) -> str:
    """:func:`is_pending` as SQL text."""
    still = f"{day} >= {today}" if period_end is None or cutoff is None else \
        f"({day} >= {today} OR {period_end} >= {cutoff})"
    return f"({status} = 'pending' AND {still})"


def decided_sql(status: str = "status", day: str = "day", today: str = "$as_of",
                period_end: str | None = None, cutoff: str | None = None) -> str:
    """:func:`is_decided` as SQL text."""
    return f"({status} <> 'pending' OR {_past_sql(day, today, period_end, cutoff)})"


def hours_counted_sql(status: str = "status") -> str:
    """:func:`counts_as_teaching_hours` as SQL text."""
    return f"({status} = 'on_time')"
