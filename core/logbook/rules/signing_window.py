"""When a lesson entry may be signed, and what counts as teaching hours (regulations.md 4.3).

HCMC rule (seed 000): "giáo viên phải ký số trong tiết dạy … và chậm nhất 5 phút sau khi
kết thúc tiết dạy"; "tiết không ký sẽ không được tính giờ giảng". Our reading of the
boundaries, which the sources leave open: the window is [period start, period end + grace]
with both ends included, to the second.
"""
from __future__ import annotations

import datetime as dt

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus

DEFAULT_GRACE = dt.timedelta(minutes=5)


def classify_signing(signed_at: dt.datetime, period_start: dt.datetime, period_end: dt.datetime,
                     grace: dt.timedelta = DEFAULT_GRACE) -> EntryStatus:
    """ON_TIME inside [start, end + grace]; LATE after it on the same day.

    Before the period starts the signature is refused (nothing to attest yet). After the
    end of the period's day the entry is MISSED and can no longer be signed.
    Example (period 07:50–08:35): 07:49 refused; 08:20 and 08:40:00 on time; 08:40:01 late.
    """
    if signed_at < period_start:
        raise RuleViolation(
            f"the period starts at {period_start:%H:%M}; it cannot be signed at {signed_at:%H:%M:%S}",
            message_vi=f"Tiết học bắt đầu lúc {period_start:%H:%M}; chưa thể ký lúc {signed_at:%H:%M:%S}",
        )
    if signed_at.date() > period_start.date():
        raise RuleViolation(
            f"the period of {period_start:%d/%m/%Y} was missed: it can no longer be signed",
            message_vi=f"Tiết học ngày {period_start:%d/%m/%Y} đã quá hạn ký (không ký)",
        )
    if signed_at <= period_end + grace:
        return EntryStatus.ON_TIME
    return EntryStatus.LATE


def status_as_of(status: EntryStatus, day: dt.date, as_of: dt.datetime) -> EntryStatus:
    """An unsigned entry becomes MISSED once its day is over."""
    if status == EntryStatus.PENDING and as_of.date() > day:
        return EntryStatus.MISSED
    return status


def counts_as_teaching_hours(status: EntryStatus) -> bool:
    """Only a period signed on time counts as teaching hours (giờ giảng); the credit goes to
    the teacher who taught and signed it, the substitute when there is one."""
    return status == EntryStatus.ON_TIME
