"""vi-VN formats for people (core.kernel.formats)."""
import datetime as dt

from core.kernel import formats


def test_numbers_and_percentages_in_vi_vn():
    assert formats.number(3837) == "3.837"
    assert formats.number(1234.5, 1) == "1.234,5" and formats.number(31777) == "31.777"
    assert formats.number(0) == "0" and formats.number(None) == "—" and formats.number(float("nan")) == "—"
    assert formats.percent(0.825) == "82,5 %" and formats.percent(0.8607) == "86,1 %"
    assert formats.percent(1) == "100,0 %" and formats.percent(float("nan")) == "—"
    assert formats.points(0.031) == "+3,1 điểm %" and formats.points(-0.1818) == "−18,2 điểm %"
    assert formats.points(0) == "±0,0 điểm %"
    assert formats.signed(-1500) == "−1.500" and formats.signed(12) == "+12"


def test_dates_and_times_in_vietnam():
    assert formats.date(dt.date(2026, 12, 7)) == "07/12/2026"
    assert formats.datetime(dt.datetime(2026, 12, 7, 8, 5)) == "08:05 07/12/2026"  # core's naive = Vietnam time
    utc = dt.datetime(2026, 12, 7, 20, 30, tzinfo=dt.timezone.utc)
    assert formats.datetime(utc) == "03:30 08/12/2026"  # UTC+7, the next day


def test_statuses_as_words():
    from core.kernel.vocabulary import EntryStatus, WeekCloseStatus

    assert formats.status("on_time") == "Ký đúng hạn" and formats.status(EntryStatus.MISSED) == "Không ký"
    assert formats.status(WeekCloseStatus.HOMEROOM_SIGNED) == "GVCN đã ký, chờ hiệu trưởng"
    assert all(formats.status(s) != s.value for s in EntryStatus)
    assert all(formats.status(s) != s.value for s in WeekCloseStatus)
    assert formats.status("Ký trễ") == "Ký trễ"


def test_certificate_kinds_as_words():
    from core.kernel.vocabulary import CertificateKind

    assert [formats.kind(k) for k in CertificateKind] == ["Cá nhân", "Con dấu của trường"]
