"""The missed-lessons export (CSV and Excel, core.logbook.exports) and the weekly-closing counts
over every class-week, on the hand-made world of tests/services/test_compliance.py."""
import csv
import io

import pytest
from sqlalchemy import update

from core.access import queries as access_queries
from core.kernel.errors import BadRequest
from core.logbook import exports, queries
from core.storage.models import Staff
from tests.services.test_compliance import signed  # noqa: F401 - the fixture


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Vietnamese
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def _xlsx_rows(data: bytes):
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data))["Tiết không ký"]
    return sheet, [[c.value for c in row] for row in sheet.iter_rows()]


def test_csv_and_excel_have_the_same_vietnamese_columns_and_values(signed):  # noqa: F811
    so = signed.actor("so")
    csv_rows = _csv_rows(exports.missed_lessons_file(signed.db, so, "csv"))
    _, xlsx_rows = _xlsx_rows(exports.missed_lessons_file(signed.db, so, "xlsx"))
    assert csv_rows[0] == xlsx_rows[0] == exports.HEADERS
    assert csv_rows[0][:4] == ["Mã tiết", "Trường", "Lớp", "Ngày"]
    # test_compliance's week: 2 late + 3 missed periods (A01: Lan 1+1, Minh 0+1, Hà 1+0; B01: Khoa's 1 missed)
    assert len(csv_rows) - 1 == len(xlsx_rows) - 1 == 5
    status = exports.HEADERS.index("Tình trạng")
    assert sorted(r[status] for r in csv_rows[1:]) == sorted(["Ký trễ"] * 2 + ["Không ký"] * 3)
    assert [r[status] for r in csv_rows[1:]] == [r[status] for r in xlsx_rows[1:]]
    day = exports.HEADERS.index("Ngày")
    assert {r[day] for r in csv_rows[1:]} <= {"13/10/2025", "14/10/2025"}
    assert [r[day] for r in xlsx_rows[1:]] == [r[day] for r in csv_rows[1:]]
    late = exports.HEADERS.index("Trễ (phút)")
    # 08:40:01 after 08:35, 11:00 after 09:25
    assert {r[late] for r in csv_rows[1:] if r[status] == "Ký trễ"} == {"5,0", "95,0"}


def test_formula_like_names_are_escaped_in_both_files(signed):  # noqa: F811
    with signed.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == signed.ids["khoa"]).values(full_name='=HYPERLINK("http://x","y")'))
    so = signed.actor("so")
    teacher = exports.HEADERS.index("Giáo viên")
    csv_rows = _csv_rows(exports.missed_lessons_file(signed.db, so, "csv"))
    assert "'=HYPERLINK(\"http://x\",\"y\")" in [r[teacher] for r in csv_rows[1:]]
    sheet, _ = _xlsx_rows(exports.missed_lessons_file(signed.db, so, "xlsx"))
    cells = [row[teacher] for row in sheet.iter_rows(min_row=2)]
    shown = [c for c in cells if str(c.value).startswith("=")]
    assert len(shown) == 1 and shown[0].data_type == "s"  # text, never a live formula
    assert exports.formula_like("+1") and exports.formula_like("@SUM(A1)") and exports.formula_like("-2")
    assert not exports.formula_like("Nguyễn") and not exports.formula_like(3)


def test_each_export_is_audited(signed):  # noqa: F811
    so = signed.actor("so")
    exports.missed_lessons_file(signed.db, so, "csv", school_id=signed.ids["A"])
    exports.missed_lessons_file(signed.db, so, "xlsx", include_late=False)
    trail, _ = access_queries.audit_trail(signed.db, signed.actor("admin"), action="export.", check_chain=False)
    assert len(trail) == 2
    assert set(trail["actor_name"]) == {"so"} and set(trail["action"]) == {"export.missed_lessons"}


def test_an_unknown_format_is_refused_in_vietnamese_and_not_audited(signed):  # noqa: F811
    with pytest.raises(BadRequest) as err:
        exports.missed_lessons_file(signed.db, signed.actor("so"), "pdf")
    assert "định dạng" in err.value.message_vi
    trail, _ = access_queries.audit_trail(signed.db, signed.actor("admin"), action="export.", check_chain=False)
    assert trail.empty


def test_closing_counts_every_class_week_not_one_page(signed):  # noqa: F811
    so = signed.actor("so")
    counts = queries.week_closing_counts(signed.db, so).set_index("state")["class_weeks"].to_dict()
    assert counts == {"Chưa chốt": 2, "Đã chốt đúng hạn": 1}  # 6A1 closed on time; 6A2 and B01's class open
    assert len(queries.week_closing(signed.db, so, page_size=1)) == 1
    assert sum(counts.values()) == len(queries.week_closing(signed.db, so, page_size=1000))
    school_b = queries.week_closing_counts(signed.db, signed.actor("so"), school_id=signed.ids["B"])
    assert school_b.to_dict("records") == [{"state": "Chưa chốt", "class_weeks": 1}]


def test_the_closed_class_weeks_alone_are_the_closed_rows_of_the_closing(signed):  # noqa: F811
    """What the admin page offers to reopen (``closed_only``, read from the week closes) is the
    closing's closed rows, in the same order; a monitor of the other school gets none of them."""
    so = signed.actor("so")
    everything = queries.week_closing(signed.db, so, page_size=1000)
    closed = queries.week_closing(signed.db, so, page_size=1000, closed_only=True)
    expected = everything[everything["state"].str.startswith("Đã chốt")]
    assert len(closed) == 1 and closed["state"].tolist() == ["Đã chốt đúng hạn"]
    assert closed[["class_id", "week_id"]].values.tolist() == expected[["class_id", "week_id"]].values.tolist()
    assert queries.week_closing(signed.db, signed.actor("mon_b"), page_size=1000, closed_only=True).empty


def test_the_finished_class_weeks_are_found_again_only_in_the_same_scope(signed):  # noqa: F811
    """The finished class-weeks of every school are kept by logbook version and narrowed to each
    caller: a monitor asking after the department never meets the department's class-weeks."""
    so, mon_b = signed.actor("so"), signed.actor("mon_b")
    assert len(queries.week_closing(signed.db, so, page_size=1000)) == 3
    assert len(queries.week_closing(signed.db, mon_b, page_size=1000)) == 1
    assert len(queries.week_closing(signed.db, so, page_size=1000)) == 3


def test_a_monitor_counts_and_exports_only_their_school(signed):  # noqa: F811
    mon_b = signed.actor("mon_b")
    assert queries.week_closing_counts(signed.db, mon_b).to_dict("records") == [{"state": "Chưa chốt",
                                                                                "class_weeks": 1}]
    rows = _csv_rows(exports.missed_lessons_file(signed.db, mon_b, "csv"))
    assert [r[exports.HEADERS.index("Giáo viên")] for r in rows[1:]] == ["Võ Minh Khoa"]


def test_the_kept_closing_rows_follow_each_step_of_a_week_close(signed):  # noqa: F811
    """The closing rows are kept by version and narrowed to each caller
    (core.logbook.queries._closing_rows): a reopening is seen by the very next read, in the
    counts, the rows and the monitor's own."""
    from core.logbook.weekly_close import reopen_week

    so, mon_b = signed.actor("so"), signed.actor("mon_b")
    before = dict(queries.week_closing_counts(signed.db, so).values.tolist())
    closed = queries.week_closing(signed.db, so, page_size=1000, closed_only=True).iloc[0]
    assert queries.week_closing_counts(signed.db, so).equals(queries.week_closing_counts(signed.db, so))  # kept
    reopen_week(signed.db, so, int(closed.class_id), int(closed.week_id), "Sửa vắng học sinh")
    after = dict(queries.week_closing_counts(signed.db, so).values.tolist())
    assert after.get("Đang mở lại") == 1 and after.get("Đã chốt đúng hạn", 0) == before["Đã chốt đúng hạn"] - 1
    rows = queries.week_closing(signed.db, so, page_size=1000)
    mine = rows[(rows["class_id"] == closed.class_id) & (rows["week_id"] == closed.week_id)]
    assert mine["state"].tolist() == ["Đang mở lại"]
    assert set(queries.week_closing(signed.db, mon_b, page_size=1000)["school_name"]) == {"THCS Colette"}


def test_missed_lessons_come_newest_first_by_day_then_period(signed):  # noqa: F811
    """The missed-lessons page's order (read from the index ix_entry_not_on_time backwards):
    the newest day first and, within a day, the last period first."""
    rows = queries.missed_lessons(signed.db, signed.actor("so"), page_size=1000)
    keys = list(zip(rows["day"], rows["period_no"], rows["entry_id"], strict=True))
    assert len(keys) > 1 and keys == sorted(keys, reverse=True)
