"""The overview as a Panel component (dashboards.overview.Overview): its state and its data
tested without a browser, on the worked week of tests/services/test_compliance.py."""
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
