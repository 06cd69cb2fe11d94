"""Personal identification numbers (Nghị định 137/2015/NĐ-CP, Art. 13)."""
import datetime as dt

import pytest

from core.kernel.errors import InvalidPersonalId
from core.school.rules.personal_id import make_personal_id, validate_personal_id

BORN_2018 = dt.date(2018, 3, 14)


@pytest.mark.parametrize("number,born,sex", [
    ("079218000123", BORN_2018, "M"),       # HCMC, 21st century male, 2018
    ("079318000123", BORN_2018, "F"),       # female
    ("001099123456", dt.date(1999, 1, 1), "M"),  # Hà Nội, 20th century male
    ("001199123456", dt.date(1999, 1, 1), "F"),
])
def test_valid_numbers(number, born, sex):
    assert validate_personal_id(number, born, sex) == number


@pytest.mark.parametrize("number,reason", [
    ("07921800012", "exactly 12 digits"),
    ("0792180001234", "exactly 12 digits"),
    ("07921800012a", "exactly 12 digits"),
    ("003218000123", "003 is not a province code"),
    ("079018000123", "century/sex digit 0"),   # 20th-century male digit for a 2018 birth
    ("079318000123", "century/sex digit 3"),   # female digit for a boy
    ("079217000123", "year digits 17"),
])
def test_invalid_numbers_say_why(number, reason):
    with pytest.raises(InvalidPersonalId, match=reason):
        validate_personal_id(number, BORN_2018, "M")


def test_made_numbers_validate():
    for serial, sex in enumerate("MFMF"):
        n = make_personal_id("079", BORN_2018, sex, serial)
        assert validate_personal_id(n, BORN_2018, sex) == n
