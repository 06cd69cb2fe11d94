"""Số định danh cá nhân: the 12-digit personal identification number (Nghị định 137/2015/NĐ-CP, Art. 13; Luật Căn cước 2023).

Structure (Decree 137/2015/NĐ-CP Art. 7, kept by the Law on Identification 2023):
3 digits province code of birth registration + 1 digit century and sex + 2 digits
last two digits of the birth year + 6 random digits.
"""
from __future__ import annotations

import datetime as dt
import re

from core.kernel import clock
from core.kernel.errors import InvalidPersonalId

#: Province codes of birth registration (Circular 07/2016/TT-BCA, the 63 pre-2025 provinces;
#: numbers issued before the 2025 merger keep them).
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi",
    "052": "Bình Định", "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận",
    "062": "Kon Tum", "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp", "089": "An Giang",
    "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_TWELVE_DIGITS = re.compile(r"\d{12}")


def _sex(sex) -> str:
    """``"M"`` or ``"F"`` (also the ``Sex`` enum's values); anything else is refused."""
    value = getattr(sex, "value", sex)
    if not isinstance(value, str) or value.strip().upper() not in ("M", "F"):
        raise InvalidPersonalId(f"sex must be M or F, not {str(sex)[:20]!r}",
                                message_vi=f"Giới tính phải là M (nam) hoặc F (nữ), không phải {str(sex)[:20]!r}")
    return value.strip().upper()


def century_sex_digit(birth_year: int, sex: str) -> int:
    """The 4th digit: 0/1 for the 20th century (male/female), 2/3 for the 21st, … (Decree 137/2015 Art. 7.3)."""
    if isinstance(birth_year, bool) or not isinstance(birth_year, int):
        raise InvalidPersonalId(f"a birth year is a whole number, not {str(birth_year)[:20]!r}",
                                message_vi=f"Năm sinh phải là số nguyên, không phải {str(birth_year)[:20]!r}")
    century_index = (birth_year - 1900) // 100
    if century_index < 0 or century_index > 4:
        raise InvalidPersonalId(f"birth year {birth_year} is outside the scheme (1900-2399)",
                                message_vi=f"Năm sinh {birth_year} nằm ngoài quy ước mã số (1900-2399)")
    return century_index * 2 + (1 if _sex(sex) == "F" else 0)


def validate_personal_id(number: str, birth_date: dt.date, sex: str, *, today: dt.date | None = None) -> str:
    """Check a personal ID against the holder's birth date and sex; return it, or raise.

    ``sex`` is ``"M"`` or ``"F"``; ``birth_date`` a date not after ``today`` (by default the
    current Vietnam date: a number is issued when the birth is registered, never before).
    The reasons name exactly what is wrong; a value of the wrong type is refused the same way
    (:class:`~core.kernel.errors.InvalidPersonalId`), never with a ``TypeError``.
    """
    if not isinstance(birth_date, dt.date):
        raise InvalidPersonalId(f"the birth date must be a date, not {str(birth_date)[:20]!r}",
                                message_vi=f"Ngày sinh phải là một ngày tháng, không phải {str(birth_date)[:20]!r}")
    birth_date = birth_date.date() if isinstance(birth_date, dt.datetime) else birth_date
    today = today or clock.now().date()
    if birth_date > today:
        raise InvalidPersonalId(
            f"birth date {birth_date:%d/%m/%Y} is in the future: no personal ID is issued before birth",
            message_vi=f"Ngày sinh {birth_date:%d/%m/%Y} ở tương lai: số định danh chỉ cấp khi đăng ký khai sinh",
        )
    if not isinstance(number, str) or not _TWELVE_DIGITS.fullmatch(number):
        raise InvalidPersonalId(
            f"personal ID {number!r} must be exactly 12 digits",
            message_vi=f"Số định danh {number!r} phải gồm đúng 12 chữ số",
        )
    province = number[:3]
    if province not in PROVINCE_CODES:
        raise InvalidPersonalId(
            f"personal ID {number}: {province} is not a province code",
            message_vi=f"Số định danh {number}: mã tỉnh {province} không hợp lệ",
        )
    expected = century_sex_digit(birth_date.year, sex)
    if int(number[3]) != expected:
        raise InvalidPersonalId(
            f"personal ID {number}: century/sex digit {number[3]} does not match "
            f"sex {sex} born {birth_date.year} (expected {expected})",
            message_vi=f"Số định danh {number}: chữ số thế kỷ/giới tính {number[3]} không khớp (phải là {expected})",
        )
    if number[4:6] != f"{birth_date.year % 100:02d}":
        raise InvalidPersonalId(
            f"personal ID {number}: year digits {number[4:6]} do not match birth year {birth_date.year}",
            message_vi=f"Số định danh {number}: hai số năm sinh {number[4:6]} không khớp năm {birth_date.year}",
        )
    return number


def make_personal_id(province: str, birth_date: dt.date, sex: str, serial: int) -> str:
    """Build a valid number (for synthetic data and tests)."""
    return f"{province}{century_sex_digit(birth_date.year, sex)}{birth_date.year % 100:02d}{serial % 1_000_000:06d}"
