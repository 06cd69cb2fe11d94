"""This week first (core.logbook.this_week) with worked numbers, on the hand-made world: week 6
as in tests/services/test_compliance.py, week 7 with every period of school A signed on time.

Week 6: 11 periods, 6 on time, 2 late, 3 missed → 6/11 = 54,55 %.
Week 7: 11 periods, 10 on time, 0 late, 1 missed (school B's) → 10/11 = 90,91 %.
Term 1 so far (weeks 6-7): 16 on time of 22 decided → 72,73 %; per week 2,0 missed, 1,0 late."""
import datetime as dt

import pytest

from core.access import queries as access_queries
from core.access.authz import SYSTEM
from core.kernel.errors import MalformedInput, PermissionDenied
from core.logbook import this_week
from core.logbook.entries import generate_week, sign_entry
from tests.services.test_compliance import AFTER, signed  # noqa: F401 - the fixture
from tests.world import BELLS, MONDAY

WEEK7 = MONDAY + dt.timedelta(weeks=1)
AFTER7 = AFTER + dt.timedelta(weeks=1)
#: School A's timetable (Monday and Tuesday): (class, period, teacher).
SLOTS = [("6A1", 1, "lan"), ("6A1", 2, "minh"), ("6A1", 3, "ha"), ("6A2", 1, "minh"), ("6A2", 2, "lan")]


@pytest.fixture
def two_weeks(signed):  # noqa: F811
    w = signed
    for school in ("A", "B"):
        generate_week(w.db, SYSTEM, w.ids[school], w.ids["week2"])
    for day in (WEEK7, WEEK7 + dt.timedelta(days=1)):
        for klass, period, who in SLOTS:
            end = BELLS[period][1]
            sign_entry(w.db, w.actor(who), w.entry(klass, day, period), w.signer(who),
                       at=dt.datetime.combine(day, end) + dt.timedelta(minutes=1))
    return w


def test_the_week_beside_last_week_and_the_term(two_weeks):
    w = two_weeks
    fig = this_week.week_figures(w.db, w.actor("so"), w.ids["week2"], as_of=AFTER7)
    assert fig.attrs["number"] == 7 and fig.attrs["term_number"] == 1
    assert fig.loc["on_time_rate", ["this_week", "last_week", "term"]].tolist() == [0.9091, 0.5455, 0.7273]
    assert fig.loc["on_time_rate", "vs_last_week"] == pytest.approx(0.3636)
    assert fig.loc["on_time_rate", "vs_term"] == pytest.approx(0.1818)
    assert fig.loc["missed", ["this_week", "last_week", "term", "vs_last_week", "vs_term"]].tolist() == \
        [1, 3, 2.0, -2, -1.0]
    assert fig.loc["late", ["this_week", "last_week", "term"]].tolist() == [0, 2, 1.0]
    assert fig.loc["hours_lost", ["this_week", "last_week", "vs_last_week"]].tolist() == [1, 5, -4]
    assert fig.loc["scheduled", ["this_week", "term"]].tolist() == [11, 11.0]


def test_the_first_week_has_no_last_week(two_weeks):
    fig = this_week.week_figures(two_weeks.db, two_weeks.actor("so"), two_weeks.ids["week1"], as_of=AFTER7)
    assert fig.loc["on_time_rate", "this_week"] == 0.5455 and fig.loc["on_time_rate", "term"] == 0.5455
    assert fig["last_week"].isna().all() and fig["vs_last_week"].isna().all()


def test_a_monitor_sees_their_school_only(two_weeks):
    fig = this_week.week_figures(two_weeks.db, two_weeks.actor("mon_b"), two_weeks.ids["week2"], as_of=AFTER7)
    assert fig.loc["scheduled", "this_week"] == 1 and fig.loc["on_time_rate", "this_week"] == 0.0
    assert fig.loc["missed", ["this_week", "last_week"]].tolist() == [1, 1]


def test_who_is_behind_with_the_default_thresholds(signed):  # noqa: F811
    teachers, schools, limits = this_week.behind_this_week(signed.db, signed.actor("so"), signed.ids["week1"],
                                                           as_of=AFTER)
    assert limits == this_week.Thresholds(80, 2, 85)
    # Khoa 0/1; Lan 2/4 with 2 unsigned; Hà 1/2 with 1; Minh 3/4 = 75 % < 80 %
    assert teachers["teacher_name"].tolist() == ["Võ Minh Khoa", "Nguyễn Thị Lan", "Lê Thu Hà", "Trần Văn Minh"]
    assert teachers["unsigned"].tolist() == [1, 2, 1, 1]
    assert schools["school_code"].tolist() == ["B01", "A01"] and schools["on_time_rate"].tolist() == [0.0, 0.6]


def test_the_department_sets_its_thresholds(signed):  # noqa: F811
    w, so = signed, signed.actor("so")
    this_week.set_thresholds(w.db, so, w.ids["dep"], this_week.Thresholds(60, 1, 50))
    teachers, schools, limits = this_week.behind_this_week(w.db, so, w.ids["week1"], as_of=AFTER)
    assert limits == this_week.Thresholds(60, 1, 50)
    assert teachers["teacher_name"].tolist() == ["Võ Minh Khoa", "Nguyễn Thị Lan", "Lê Thu Hà"]  # Minh: 75 %, 1
    assert schools["school_code"].tolist() == ["B01"]  # A01 at 60 % is above 50 %
    # the principal of school A reads the same department's thresholds (through the week's school year)
    assert this_week.thresholds(w.db, w.actor("binh"), week_id=w.ids["week1"]) == limits
    trail, _ = access_queries.audit_trail(w.db, w.actor("admin"), action="department.", check_chain=False)
    assert trail["actor_name"].tolist() == ["so"]


def test_thresholds_are_refused_to_others_and_checked(signed):  # noqa: F811
    w = signed
    with pytest.raises(PermissionDenied):
        this_week.set_thresholds(w.db, w.actor("q1"), w.ids["dep"], this_week.Thresholds())
    with pytest.raises(MalformedInput) as err:
        this_week.set_thresholds(w.db, w.actor("so"), w.ids["dep"], this_week.Thresholds(120, 1, 50))
    assert "0 đến 100" in err.value.message_vi
    assert this_week.thresholds(w.db, w.actor("so")) == this_week.DEFAULT  # nothing stored


def test_today_unsigned_periods_so_far(world):
    w = world
    for school in ("A", "B"):
        generate_week(w.db, SYSTEM, w.ids[school], w.ids["week1"])
    sign_entry(w.db, w.actor("minh"), w.entry("6A2", MONDAY, 1), w.signer("minh"),
               at=dt.datetime.combine(MONDAY, dt.time(7, 46)))
    at = dt.datetime.combine(MONDAY, dt.time(8, 0))  # period 1 ended 07:45 (+5 min grace); period 2 still on
    rows = this_week.unsigned_today(w.db, w.actor("so"), as_of=at)
    assert sorted(rows["teacher"]) == ["Nguyễn Thị Lan", "Võ Minh Khoa"] and set(rows["period_no"]) == {1}
    assert this_week.unsigned_today(w.db, w.actor("mon_a"), as_of=at)["class_name"].tolist() == ["6A1"]
    assert this_week.unsigned_today(w.db, w.actor("so"), as_of=at - dt.timedelta(minutes=11)).empty  # 07:49


def test_the_picker_opens_on_the_current_week(two_weeks):
    w, so = two_weeks, two_weeks.actor("so")
    assert this_week.current_week(w.db, so, WEEK7 + dt.timedelta(days=1)) == w.ids["week2"]
    assert this_week.current_week(w.db, so, MONDAY + dt.timedelta(days=20)) == w.ids["week2"]  # week 8: no periods
    assert this_week.current_week(w.db, so, MONDAY - dt.timedelta(days=30)) == w.ids["week1"]


def test_a_teachers_own_week_and_hours(two_weeks):
    w = two_weeks
    periods, hours = this_week.my_week(w.db, w.actor("lan"), as_of=AFTER7)
    assert periods.attrs["monday"] == WEEK7 and len(periods) == 4 and set(periods["status"]) == {"on_time"}
    assert hours["week"] == {"periods": 4, "counted": 4, "lost": 0, "pending": 0}
    assert hours["term"] == {"periods": 8, "counted": 6, "lost": 2, "pending": 0}  # week 6: 2 on time, 1 late, 1 missed
    # long after (the summer): the last week they taught
    later, _ = this_week.my_week(w.db, w.actor("lan"), as_of=AFTER7 + dt.timedelta(weeks=30))
    assert later.attrs["monday"] == WEEK7
    with pytest.raises(PermissionDenied) as err:
        this_week.my_week(w.db, w.actor("so"), as_of=AFTER7)
    assert err.value.message_vi == "Chỉ giáo viên có trang tuần của mình"


def test_a_period_of_today_past_its_window_is_overdue_not_missed(world):
    w = world
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    periods, _ = this_week.my_week(w.db, w.actor("lan"), as_of=dt.datetime.combine(MONDAY, dt.time(8, 0)))
    today = periods[periods["day"] == MONDAY].set_index("period_no")["status"].to_dict()
    assert today == {1: "overdue", 2: "pending"}  # 6A1 p1 ended 07:45; 6A2 p2 ends 08:35


def test_the_drill_path_refuses_other_schools_alike(signed):  # noqa: F811
    from core.kernel.errors import NotFound

    w = signed
    path = this_week.drill_path(w.db, w.actor("so"), entry_id=w.entry("6A1", MONDAY, 1))
    assert [k for k in path] == ["entry", "week", "class", "school", "district"]
    assert path["class"][1] == "Lớp 6A1" and path["week"][1] == "Tuần 6"
    for place in ({"school_id": w.ids["B"]}, {"class_id": w.ids["6B1"]}, {"teacher_id": w.ids["khoa"]},
                  {"district_id": w.ids["q3"]}, {"school_id": 999_999}):
        with pytest.raises(NotFound):
            this_week.drill_path(w.db, w.actor("mon_a"), **place)
    rows = this_week.teacher_week_entries(w.db, w.actor("mon_b"), w.ids["lan"], w.ids["week1"])
    assert rows.empty  # another school's teacher: nothing
    assert len(this_week.teacher_week_entries(w.db, w.actor("mon_a"), w.ids["lan"], w.ids["week1"])) == 4
