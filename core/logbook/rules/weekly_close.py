"""Closing a class's week of the logbook (chốt sổ tuần), HCMC sổ đầu bài số rules 2025-2026:
"giáo viên chủ nhiệm và hiệu trưởng ký số, chốt sổ vào cuối mỗi tuần"."""
from __future__ import annotations

import datetime as dt

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import WeekCloseStatus

#: The week must be closed by the end of the following Monday to count as on time (our choice:
#: the sources set no deadline; the logbook of the new week is published that Monday).
CLOSE_DEADLINE_DAYS = 7


def require_week_over(last_school_day: dt.date, now: dt.datetime) -> None:
    """A week can be closed only after its last school day."""
    if now.date() <= last_school_day:
        raise RuleViolation(
            f"the week can be closed only after its last school day ({last_school_day:%d/%m/%Y})",
            message_vi=f"Chỉ được chốt sổ sau ngày học cuối cùng của tuần ({last_school_day:%d/%m/%Y})",
        )


def close_deadline(week_monday: dt.date) -> dt.datetime:
    """The end of the Monday after the week (23:59:59)."""
    return dt.datetime.combine(week_monday + dt.timedelta(days=CLOSE_DEADLINE_DAYS), dt.time(23, 59, 59))


def require_homeroom_step(status: WeekCloseStatus) -> None:
    """The homeroom teacher signs first, on an open or reopened week."""
    if status not in (WeekCloseStatus.OPEN, WeekCloseStatus.REOPENED):
        raise RuleViolation(f"the homeroom teacher cannot sign a week that is {status.value}",
                            message_vi="Giáo viên chủ nhiệm đã ký hoặc sổ tuần đã chốt")


def require_principal_step(status: WeekCloseStatus) -> None:
    """The principal closes only after the homeroom teacher signed."""
    if status != WeekCloseStatus.HOMEROOM_SIGNED:
        raise RuleViolation(
            "the principal closes the week only after the homeroom teacher has signed it"
            if status in (WeekCloseStatus.OPEN, WeekCloseStatus.REOPENED)
            else f"the week is already {status.value}",
            message_vi="Hiệu trưởng chỉ chốt sổ sau khi giáo viên chủ nhiệm đã ký",
        )


def require_reopen(status: WeekCloseStatus, reason: str) -> None:
    """Reopening a closed week: only a closed week, with a mandatory reason. Who may reopen is
    the permission ``REOPEN_WEEK`` (:mod:`core.access.authz`), checked by the service."""
    if status != WeekCloseStatus.CLOSED:
        raise RuleViolation(f"only a closed week can be reopened (this one is {status.value})",
                            message_vi="Chỉ mở lại được sổ tuần đã chốt")
    if not reason or not reason.strip():
        raise RuleViolation("a reason is required to reopen a week", message_vi="Phải nhập lý do mở lại sổ")


#: The steps a reopened week goes through again, in order, before it is closed once more.
_AGAIN = (WeekCloseStatus.REOPENED, WeekCloseStatus.HOMEROOM_SIGNED, WeekCloseStatus.CLOSED)


def attested_change_allowed(old: WeekCloseStatus, old_reopens: int, new: WeekCloseStatus, new_reopens: int,
                            changed: bool) -> bool:
    """Whether a week that was closed may look like ``new`` now when it looked like ``old``
    before (two checkpoints, or a checkpoint and the record store; ``changed``: its summary,
    signers, signatures or document differ). A closed week is read-only: nothing it was closed
    with changes unless it was reopened in between (an admin action with a reason, which grows
    the reopen count); a reopened week goes forward again — the homeroom teacher signs, the
    principal closes — and nothing goes back: the reopen count never shrinks."""
    if new_reopens != old_reopens:
        return new_reopens > old_reopens
    if old not in _AGAIN or new not in _AGAIN:
        return False
    step, before = _AGAIN.index(new), _AGAIN.index(old)
    return step > before or (step == before and not changed)
