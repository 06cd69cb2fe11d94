"""Reading the values teachers submit (giá trị đánh giá): the one place a number or a label
written by a person becomes a value a rule computes with.

- :func:`parse_decimal` reads a decimal number as Vietnamese teachers write it, with a comma
  ("7,5", the Vietnamese decimal separator) or a point ("7.5"), or as a number; anything else
  (empty, ``None``, NaN, infinity, ``True``, "7,5,1", "1e3", a date) is not a number.
- :func:`parse_label` reads a level or rating given as its enum, its name or its code,
  whatever the Unicode normalisation and letter case of the text.

Neither decides what the regulation allows: the rule that calls them does (a score on the
10-point scale with one decimal, Thông tư 22/2021/TT-BGDĐT Art. 5; a whole number from 0 to 10,
Thông tư 27/2020/TT-BGDĐT Art. 7), and refuses with :class:`~core.kernel.errors.InvalidAssessment`.
"""
from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from typing import TypeVar

#: A plain decimal as written by hand: sign, up to 3 digits, one separator (comma or point)
#: and up to 6 decimals. Longer or other forms are refused before any arithmetic.
_PLAIN_DECIMAL = re.compile(r"[+-]?\d{1,3}(?:[.,]\d{1,6})?")

E = TypeVar("E", bound=enum.Enum)


def parse_decimal(value) -> Decimal | None:
    """``value`` as an exact :class:`~decimal.Decimal`, or ``None`` when it is not a plainly
    written finite number. "7,5", "7.5", 7.5, 7 and ``Decimal("7.5")`` all read as 7.5; a float
    is read by its shortest representation (6.95 reads as 6.95, never 6.9500000000000001776).

    Examples: ``parse_decimal("7,5") == Decimal("7.5")``; ``parse_decimal(" 8 ") == 8``;
    ``parse_decimal("7,5,1") is None``; ``parse_decimal(float("nan")) is None``;
    ``parse_decimal(True) is None``; ``parse_decimal(None) is None``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        text = str(value) if value.is_finite() else ""
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    if len(text) > 12 or not _PLAIN_DECIMAL.fullmatch(text):
        return None
    number = Decimal(text.replace(",", "."))
    return Decimal(0) if number.is_zero() else number  # "-0" is 0


def normal_text(value: str) -> str:
    """Text compared as a person means it: NFC (a keyboard may send "Đạt" decomposed), trimmed,
    inner spaces collapsed, case folded."""
    return " ".join(unicodedata.normalize("NFC", value).split()).casefold()


def parse_label(value, kind: type[E], names: Mapping[str, E]) -> E | None:
    """``value`` as a member of the enum ``kind``: the member itself, or a text equal (see
    :func:`normal_text`) to one of ``names``; ``None`` otherwise (an unknown label, a number,
    ``None``)."""
    if isinstance(value, kind):
        return value
    if not isinstance(value, str) or len(value) > 40:
        return None
    wanted = normal_text(value)
    return next((member for name, member in names.items() if normal_text(name) == wanted), None)
