"""Compliance figures at each level, computed from a known week."""
import datetime as dt

import pytest

from core.access.authz import SYSTEM
from core.logbook.compliance import LEVELS, compliance, weekly_report
from core.logbook.entries import generate_week, sign_entry
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week
from tests.world import MONDAY

TUESDAY = MONDAY + dt.timedelta(days=1)
AFTER = dt.datetime.combine(MONDAY + dt.timedelta(days=6), dt.time(12))


@pytest.fixture
def signed(world):
    w = world
    for school in ("A", "B"):
        generate_week(w.db, SYSTEM, w.ids[school], w.ids["week1"])

    def sign(who, klass, day, period, h, m, s=0):
        sign_entry(w.db, w.actor(who), w.entry(klass, day, period), w.signer(who),
                   at=dt.datetime.combine(day, dt.time(h, m, s)))
    # School A, 10 periods: Lan 4 (2 on time, 1 late, 1 missed); Minh 4 (3 on time, 1 missed); Hà 2 (1 on time, 1 late)
    sign("lan", "6A1", MONDAY, 1, 7, 50)          # on time (ends 07:45, +5:00 exactly)
    sign("lan", "6A2", MONDAY, 2, 8, 40, 1)       # late by 1 second
    sign("lan", "6A1", TUESDAY, 1, 7, 10)         # on time
    sign("minh", "6A1", MONDAY, 2, 8, 30)
    sign("minh", "6A2", MONDAY, 1, 7, 45)
    sign("minh", "6A1", TUESDAY, 2, 8, 35)
    sign("ha", "6A1", MONDAY, 3, 9, 0)
    sign("ha", "6A1", TUESDAY, 3, 11, 0)          # late
    # School B: Khoa's one period missed. 6A1 closed on time.
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"),
                       at=dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(10)))
    principal_close_week(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.signer("binh"),
                         at=dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(11)))
    return w


def test_teacher_level(signed):
    df = compliance(signed.db, signed.actor("so"), "teacher", week_id=signed.ids["week1"], as_of=AFTER)
    rows = df.set_index("teacher_code")
    assert rows.loc["A01-GV01", ["scheduled", "on_time", "late", "missed"]].tolist() == [4, 2, 1, 1]
    assert rows.loc["A01-GV02", ["scheduled", "on_time", "late", "missed"]].tolist() == [4, 3, 0, 1]
    assert rows.loc["A01-GV03", ["on_time", "late", "hours_counted", "hours_lost"]].tolist() == [1, 1, 1, 1]
    assert rows.loc["A01-GV01", "on_time_rate"] == 0.5


def test_school_district_department_levels(signed):
    so = signed.actor("so")
    school = compliance(signed.db, so, "school", week_id=signed.ids["week1"], as_of=AFTER).set_index("school_code")
    assert school.loc["A01", ["scheduled", "on_time", "late", "missed"]].tolist() == [10, 6, 2, 2]
    assert school.loc["A01", "on_time_rate"] == 0.6
    assert school.loc["A01", ["weeks_total", "weeks_closed_on_time", "weeks_open"]].tolist() == [2, 1, 1]
    assert school.loc["B01", ["scheduled", "missed", "weeks_open"]].tolist() == [1, 1, 1]
    assert school["schools_without_monitor"].tolist() == [0, 0]
    district = compliance(signed.db, so, "district", week_id=signed.ids["week1"], as_of=AFTER)
    assert sorted(district["scheduled"].tolist()) == [1, 10]
    dept = compliance(signed.db, so, "department", as_of=AFTER)
    assert dept.loc[0, ["scheduled", "on_time", "late", "missed", "hours_lost"]].tolist() == [11, 6, 2, 3, 5]
    klass = compliance(signed.db, so, "class", week_id=signed.ids["week1"], as_of=AFTER).set_index("class_name")
    assert klass.loc["6A1", ["scheduled", "weeks_closed_on_time"]].tolist() == [6, 1]


def test_pending_periods_are_not_missed_before_their_day_ends(signed):
    during = dt.datetime.combine(TUESDAY, dt.time(12))
    school = compliance(signed.db, signed.actor("so"), "school", as_of=during).set_index("school_code")
    assert school.loc["A01", ["missed", "pending"]].tolist() == [0, 2]  # 6A2's Tuesday periods: day not over
    assert school.loc["B01", ["missed", "pending"]].tolist() == [1, 0]


def test_schools_without_monitor(signed):
    from sqlalchemy import update

    from core.storage.models import MonitorAssignment
    with signed.db.transaction() as s:
        s.execute(update(MonitorAssignment).where(MonitorAssignment.school_id == signed.ids["B"])
                  .values(unassigned_at=dt.datetime(2025, 10, 1)))
    dept = compliance(signed.db, signed.actor("so"), "department", as_of=AFTER)
    assert dept.loc[0, "schools_without_monitor"] == 1


def test_weekly_report_text(signed):
    text = weekly_report(signed.db, signed.actor("so"), signed.ids["week1"], as_of=AFTER)
    assert "THCS Trần Văn Ơn" in text and "tuần 6" in text and "Tổng" in text


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_returns_rates_between_0_and_1(signed, level):
    df = compliance(signed.db, signed.actor("admin"), level, as_of=AFTER)
    assert not df.empty
    assert ((df["on_time_rate"] >= 0) & (df["on_time_rate"] <= 1)).all()
