"""How figures, dates and states are written for people (định dạng Việt Nam): vi-VN numbers
(``3.837``; ``82,5 %``), dates ``dd/mm/yyyy``, times in Vietnam's time zone, statuses as words.
The console, the exports, the digests and the CLI's reports all write through these."""
from __future__ import annotations

import datetime as dt
import math

from core.kernel import clock

#: A logbook entry's state (:class:`core.kernel.vocabulary.EntryStatus`) in words.
ENTRY_STATUS_VI = {"pending": "Chưa đến hạn ký", "on_time": "Ký đúng hạn", "late": "Ký trễ",
                   "missed": "Không ký", "overdue": "Quá giờ ký đúng hạn, chưa ký"}
#: A class-week's state (:class:`core.kernel.vocabulary.WeekCloseStatus`) in words.
WEEK_STATUS_VI = {"open": "Chưa chốt", "homeroom_signed": "GVCN đã ký, chờ hiệu trưởng", "closed": "Đã chốt",
                  "reopened": "Đang mở lại"}
#: A transcript's state in words.
TRANSCRIPT_STATUS_VI = {"draft": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                        "cancelled": "Đã hủy"}
#: A certificate's kind (:class:`core.kernel.vocabulary.CertificateKind`) in words.
CERTIFICATE_KIND_VI = {"personal": "Cá nhân", "seal": "Con dấu của trường"}
STATUS_VI = {**TRANSCRIPT_STATUS_VI, **WEEK_STATUS_VI, **ENTRY_STATUS_VI}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value != value  # noqa: PLR0124


def number(value, digits: int = 0) -> str:
    """``3837`` → ``3.837``; ``1234.5, 1`` → ``1.234,5`` (vi-VN: '.' groups thousands, ',' is the
    decimal mark). Nothing → ``—``."""
    if _missing(value):
        return "—"
    text = f"{float(value):,.{digits}f}" if digits else f"{round(float(value)):,d}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def percent(rate, digits: int = 1) -> str:
    """A ratio as a vi-VN percentage: ``0.825`` → ``82,5 %``. Nothing → ``—``."""
    if _missing(rate):
        return "—"
    return f"{number(100 * float(rate), digits)} %"


def points(delta, digits: int = 1) -> str:
    """A change of a ratio in percentage points with its sign: ``0.031`` → ``+3,1 điểm %``."""
    if _missing(delta):
        return "—"
    value = round(100 * float(delta), digits)
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{number(abs(value), digits)} điểm %"


def signed(delta, digits: int = 0) -> str:
    """A change of a count with its sign: ``12`` → ``+12``, ``-1500`` → ``−1.500``."""
    if _missing(delta):
        return "—"
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    return f"{sign}{number(abs(delta), digits)}"


def date(value) -> str:
    """``dd/mm/yyyy``."""
    if _missing(value):
        return "—"
    return f"{value:%d/%m/%Y}"


def local(moment: dt.datetime) -> dt.datetime:
    """A moment as Vietnam local time, naive (core's stored datetimes already are)."""
    return clock.from_utc(moment) if moment.tzinfo is not None else moment


def datetime(value) -> str:
    """``HH:MM dd/mm/yyyy`` in Vietnam's time zone (an aware moment is converted; a naive one is
    core's Vietnam-local time already)."""
    if _missing(value):
        return "—"
    return f"{local(value):%H:%M %d/%m/%Y}"


def kind(code) -> str:
    """A certificate's kind as words."""
    if _missing(code):
        return "—"
    key = getattr(code, "value", code)
    return CERTIFICATE_KIND_VI.get(key, str(key))


def status(code) -> str:
    """A state code (``on_time``, ``closed``, an enum member) as words; unknown codes as they are."""
    if _missing(code):
        return "—"
    key = getattr(code, "value", code)
    return STATUS_VI.get(key, str(key))
