"""The overview as a Panel component (dashboards.overview.Overview): its state and its data
tested without a browser, on the worked week of tests/services/test_compliance.py."""
import html

import panel as pn
import pytest

from core.kernel.errors import NotFound
from dashboards.overview import Overview
from tests.services.test_compliance import signed  # noqa: F401 - the fixture
from tests.world import MONDAY


def test_the_overview_opens_on_the_current_week_at_the_department(signed):  # noqa: F811
    view = Overview(signed.db, signed.actor("so"))
    assert view.week == signed.ids["week1"] and view.level() == "department"
    rows = view.rows()  # districts, worst first: Q3 (B01: 0 of 1 on time), then Q1 (A01: 6 of 10)
    assert rows["on_time_rate"].tolist() == [0.0, 0.6]
    assert view.figures().loc["missed", "this_week"] == 3
    teachers, schools, _ = view.behind()
    assert len(teachers) == 4 and schools["school_code"].tolist() == ["B01", "A01"]
    assert isinstance(view.__panel__(), pn.Column)


def test_each_step_down_is_state_the_url_carries(signed):  # noqa: F811
    w = signed
    school = Overview.from_url(w.db, w.actor("so"), {"school": w.ids["A"]})
    assert school.level() == "school" and school.state() == {"week": w.ids["week1"], "school": w.ids["A"]}
    assert sorted(school.rows()["class_name"]) == ["6A1", "6A2"] and len(school.teachers()) == 3
    klass = Overview.from_url(w.db, w.actor("so"), {"class": w.ids["6A1"], "week": w.ids["week1"]})
    assert klass.level() == "class" and len(klass.rows()) == 6 and klass.state()["class"] == w.ids["6A1"]
    entry = Overview.from_url(w.db, w.actor("so"), {"entry": w.entry("6A1", MONDAY, 1)})
    assert entry.level() == "entry"
    assert list(entry.path()) == ["entry", "week", "class", "school", "district"]
    assert isinstance(klass.__panel__(), pn.Column)


def test_a_place_outside_the_scope_is_not_found(signed):  # noqa: F811
    view = Overview.from_url(signed.db, signed.actor("mon_b"), {"school": signed.ids["A"]})
    with pytest.raises(NotFound):
        view.path()
    assert view.rows().empty  # core intersects the filter with the scope


def _names(view: Overview) -> list[str]:
    return [p.name for p in view._content.objects]


def test_a_step_in_place_rebuilds_only_the_content(signed):  # noqa: F811
    w = signed
    view = Overview(w.db, w.actor("so"))
    layout = view.__panel__()
    title, picker_row, content = layout.objects[0], layout.objects[1], layout.objects[2]
    assert "drill-table" in _names(view) and "week-cards" in _names(view)
    view.navigate(f"/overview?week={w.ids['week1']}&school={w.ids['A']}")
    assert view.level() == "school" and view.state() == {"week": w.ids["week1"], "school": w.ids["A"]}
    assert layout.objects[:3] == [title, picker_row, content] and content.visible
    assert _names(view)[0] == "breadcrumbs" and "drill-teachers" in _names(view) and "week-cards" not in _names(view)
    # back to the department (a breadcrumb, or the back button): the places the URL names, the others cleared
    view.navigate(f"/overview?week={w.ids['week1']}")
    assert view.level() == "department" and view.school is None and "week-cards" in _names(view)
    view.navigate("/compliance?school=1")  # not the overview's URL: nothing happens
    assert view.level() == "department"


def test_a_step_in_place_is_scoped_like_a_page_load(signed):  # noqa: F811
    w = signed
    view = Overview(w.db, w.actor("mon_b"))
    view.__panel__()
    view.navigate(f"/overview?school={w.ids['A']}")  # another school's URL, typed or replayed
    (alert,) = view._content.objects
    assert isinstance(alert, pn.pane.Alert) and "Không có trường" in alert.object
    view.navigate(f"/overview?school={w.ids['B']}")  # no week named: the current one, as a page load
    assert view.level() == "school" and view.week == w.ids["week1"] and "drill-table" in _names(view)
    assert not {"6A1", "6A2"} & set(view.rows()["class_name"])


def _bar_links(pane) -> list[tuple[str, str]]:
    """(label, URL) of each bar of a :func:`dashboards.overview.rate_bars` chart, top down."""
    import html
    import re

    return [(html.unescape(label), html.unescape(url)) for url, label in
            re.findall(r'<a class="sh-bar" href="([^"]*)"[^>]*><span class="sh-bar-name">([^<]*)</span>', pane.object)]


def _bars(view: Overview, name: str):
    (pane,) = [p for p in view._content.objects if p.name == name]
    return pane, dict(_bar_links(pane))


def test_each_level_has_bars_that_lead_where_their_rows_do(signed):  # noqa: F811
    """The district, school, class and teacher charts: a bar per row with a rate, the lowest on
    top, as long as its rate, and a click on it goes to the row's link, in place (the overview's
    one handler)."""
    from dashboards.overview import GO, href

    w = signed
    view = Overview(w.db, w.actor("so"))
    view.__panel__()
    week = w.ids["week1"]
    pane, links = _bars(view, "drill-bars")  # districts: Q3 (0 %), then Q1 (60 %)
    assert pane.name == "drill-bars" and f'onclick="{html.escape(GO)}"' in pane.object
    assert 'style="width:0.0%"' in pane.object and 'style="width:60.0%"' in pane.object
    rows = view.rows()
    assert list(links) == [
        f"{r.district_name} · {'0,0 %' if r.on_time_rate == 0 else '60,0 %'}" for r in rows.itertuples()]
    assert list(links.values()) == [href(week=week, district=int(d)) for d in rows["district_id"]]
    view.navigate(href(week=week, school=w.ids["A"]))
    _, classes = _bars(view, "drill-bars")
    _, teachers = _bars(view, "teacher-bars")
    assert sorted(classes.values()) == sorted(href(week=week, **{"class": int(c)}) for c in view.rows()["class_id"])
    assert len(teachers) == len(view.teachers()) == 3
    assert set(teachers.values()) == {href(week=week, teacher=int(t)) for t in view.teachers()["teacher_id"]}
    view.navigate(href(week=week, **{"class": w.ids["6A1"]}))  # the periods: rows only
    assert "drill-bars" not in _names(view) and "drill-table" in _names(view)


def test_bars_of_rows_with_the_same_name_and_rate_stay_apart():
    import pandas as pd

    from dashboards.overview import MAX_BARS, rate_bars

    rows = pd.DataFrame({"class_id": [1, 2, 3], "class_name": ["6A1", "6A1", "6A2"],
                         "on_time_rate": [0.5, 0.5, float("nan")]})
    note, pane = rate_bars(rows, "class_name", lambda r: f"/overview?class={r['class_id']}", name="b", title="Lớp")
    assert _bar_links(pane) == [("6A1 · 50,0 %", "/overview?class=1"),
                                ("6A1 · 50,0 %", "/overview?class=2")]  # no bar without a rate
    many = pd.DataFrame({"class_id": range(MAX_BARS + 5), "class_name": [f"L{i}" for i in range(MAX_BARS + 5)],
                         "on_time_rate": [i / 100 for i in range(MAX_BARS + 5)]})
    note, pane = rate_bars(many, "class_name", lambda r: "x", name="b", title="Lớp")
    assert f"chỉ {MAX_BARS} dòng" in note.object and len(_bar_links(pane)) == MAX_BARS
    assert rate_bars(rows.iloc[2:], "class_name", lambda r: "x", name="b", title="Lớp") == []
    evil = pd.DataFrame({"class_id": [1], "class_name": ['<img src=x onerror="alert(1)">'], "on_time_rate": [0.2]})
    _, pane = rate_bars(evil, "class_name", lambda r: "/overview?class=1", name="b", title="Lớp")
    assert "<img" not in pane.object and "&lt;img" in pane.object  # names are text, never markup
