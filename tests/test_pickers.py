"""A picker over many choices (a city's 2,002 schools) shows a search box and at most
PICK_LIMIT of them (dashboards.common.searchable); set_options refills it through its search."""
import panel as pn

from dashboards.common import PICK, PICK_LIMIT, fold, searchable, set_options

SCHOOLS = {f"{n:04d} — Trường THCS số {n}": n for n in range(1, 2003)}
SCHOOLS["0777 — Trường THCS Lê Quý Đôn"] = 3000


def test_a_few_choices_stay_a_plain_select():
    select = pn.widgets.Select(label="Trường", options={"a": 1, "b": 2})
    assert searchable(select, what="trường") is select and select.options == {"a": 1, "b": 2}


def test_many_choices_get_a_search_box_and_the_first_ones():
    select = pn.widgets.Select(label="Trường", options={"(tất cả)": 0, **SCHOOLS})
    laid = searchable(select, what="trường", pinned=1)
    search = laid[0]
    assert isinstance(laid, pn.Column) and laid[1] is select and "2.003 trường" in search.placeholder
    assert len(select.options) == PICK_LIMIT + 1 and next(iter(select.options)) == "(tất cả)"
    search.value = "le quy don"  # without accents or case
    assert list(select.options) == ["(tất cả)", "0777 — Trường THCS Lê Quý Đôn"]
    search.value_input = "số 1999"  # as typed, before the box is left
    assert list(select.options.values()) == [0, 1999]
    assert fold("Trường ĐÔN") == "truong don"


def test_the_chosen_one_is_always_offered_and_a_refill_keeps_the_search():
    select = pn.widgets.Select(label="Trường", options=SCHOOLS, value=1500)
    laid = searchable(select, what="trường")
    assert select.value == 1500 and 1500 in select.options.values()
    laid[0].value = "số 12"
    assert select.value == 1500 and 1500 in select.options.values() and 12 in select.options.values()
    fewer = {k: v for k, v in SCHOOLS.items() if v != 1500}
    set_options(select, fewer)  # the chosen one is gone (an action used it): nothing chosen, not the next
    assert select.value is None and next(iter(select.options)) == PICK
    assert all("12" in k for k in list(select.options)[1:]) and len(select.options) <= PICK_LIMIT + 1
    laid[0].value = ""
    assert len(select.options) == PICK_LIMIT + 1
