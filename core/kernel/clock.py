"""Time in the product: Vietnam local time (Giờ Việt Nam, UTC+7, no daylight saving).

Every datetime stored by core is *naive* and means Vietnam local time, because the
rules (bell times, "5 minutes after the period ends", "the end of the day") are stated
in school-local time. Code that talks to the outside world (CMS signing-time
attributes, certificates) converts with :func:`to_utc` / :func:`from_utc`.
"""
from __future__ import annotations

import datetime as dt

from core.kernel import settings

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")


#: Shift of the product's clock, for replaying a school day of the demo calendar in a load
#: test or a demonstration (setting ``clock_offset_seconds``; 0 in production), read once.
def _offset() -> dt.timedelta:
    from core.kernel.errors import SohoaError

    try:
        return dt.timedelta(seconds=settings.current().clock_offset_seconds)
    except SohoaError:  # a wrong settings file: reported where the settings are read for good
        return dt.timedelta(0)


OFFSET = _offset()


def now() -> dt.datetime:
    """The current Vietnam local time, naive, to the second."""
    return (dt.datetime.now(VN_TZ) + OFFSET).replace(tzinfo=None, microsecond=0)


def to_utc(local: dt.datetime) -> dt.datetime:
    """A naive Vietnam-local datetime as an aware UTC datetime."""
    if local.tzinfo is not None:
        return local.astimezone(dt.timezone.utc)
    return local.replace(tzinfo=VN_TZ).astimezone(dt.timezone.utc)


def from_utc(moment: dt.datetime) -> dt.datetime:
    """An aware datetime as naive Vietnam-local time."""
    if moment.tzinfo is None:
        raise ValueError("from_utc needs an aware datetime")
    return moment.astimezone(VN_TZ).replace(tzinfo=None)
