"""Số định danh cá nhân: the 12-digit personal identification number (Nghị định 137/2015/NĐ-CP, Art. 13; Luật Căn cước 2023).

Structure (Decree 137/2015/NĐ-CP Art. 7, kept by the Law on Identification 2023):
3 digits province code of birth registration + 1 digit century and sex + 2 digits
last two digits of the birth year + 6 random digits.
"""
from __future__ import annotations

import datetime as dt
import re

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


def century_sex_digit(birth_year: int, sex: str) -> int:
    """The 4th digit: 0/1 for the 20th century (male/female), 2/3 for the 21st, … (Decree 137/2015 Art. 7.3)."""
    century_index = (birth_year - 1900) // 100
    if century_index < 0 or century_index > 4:
        raise InvalidPersonalId(f"birth year {birth_year} is outside the scheme (1900-2399)")
    return century_index * 2 + (1 if sex.upper().startswith("F") else 0)


def validate_personal_id(number: str, birth_date: dt.date, sex: str) -> str:
    """Check a personal ID against the holder's birth date and sex; return it, or raise.

    ``sex`` is ``"M"`` or ``"F"``. The reasons name exactly what is wrong.
    """
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
