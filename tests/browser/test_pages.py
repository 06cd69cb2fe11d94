"""Console pages in Chromium beyond the smoke tests: the late-signing distribution on the
compliance page, the Excel export of missed lessons and the audit trail's filters. Each
figure the page shows is compared with what core returns for the same user."""
import datetime as dt

from core.access import queries as access_queries
from core.logbook import exports, queries
from tests.browser.conftest import actor, choose, school_id, sign_in


def pick_date(page, label: str, day: dt.date):
    """Set a Panel DatePicker (flatpickr) as a user's click in its calendar would."""
    field = page.locator(".bk-input-group", has_text=label).locator("input.flatpickr-input").first
    field.evaluate("(el, day) => el._flatpickr.setDate(day, true)", day.isoformat())


def _dotted(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def test_late_signing_distribution_matches_core(page, demo):
    so = actor(demo.db, "so.giamsat")
    everything = int(queries.late_signing_distribution(demo.db, so)["entries"].sum())
    one = int(queries.late_signing_distribution(demo.db, so, school_id=school_id(demo.db, "S0001"))["entries"].sum())
    assert everything > one > 0
    sign_in(page, demo.url, "so.giamsat", then="compliance")
    page.wait_for_selector("text=Ký trễ: bao lâu sau khi hết tiết", timeout=30000)
    page.wait_for_selector(f"text={_dotted(everything)} tiết ký trễ", timeout=30000)
    choose(page.locator("select").first, "S0001")
    page.wait_for_selector(f"text={_dotted(one)} tiết ký trễ", timeout=30000)
    page.locator(".bk-btn", has_text="1 phút").click()
    page.wait_for_selector(f"text={_dotted(one)} tiết ký trễ", timeout=30000)
    assert page.errors == []


def test_missed_lessons_excel_and_csv_exports(page, demo, tmp_path):
    import csv

    from openpyxl import load_workbook

    so = actor(demo.db, "so.giamsat")
    expected = sum(1 for _ in exports.missed_rows(demo.db, so))
    assert expected > 0
    before = len(access_queries.audit_trail(demo.db, actor(demo.db, "admin"), action="export.",
                                            page_size=1000, check_chain=False)[0])
    sign_in(page, demo.url, "so.giamsat", then="missed")
    page.wait_for_selector("text=Tiết không ký và ký trễ", timeout=30000)
    with page.expect_download(timeout=60000) as download:
        page.locator("button, a", has_text="Tải Excel").first.click()
    path = tmp_path / "missed.xlsx"
    download.value.save_as(path)
    assert download.value.suggested_filename == "tiet-khong-ky.xlsx"
    sheet = load_workbook(path, read_only=True)["Tiết không ký"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == exports.HEADERS
    assert len(rows) - 1 == expected
    assert {r[7] for r in rows[1:]} <= {"Không ký", "Ký trễ"} and all(r[10] == 1 for r in rows[1:])
    with page.expect_download(timeout=60000) as download:
        page.locator("button, a", has_text="Tải CSV").first.click()
    path = tmp_path / "missed.csv"
    download.value.save_as(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the Vietnamese
    lines = list(csv.reader(data.decode("utf-8-sig").splitlines()))
    assert lines[0] == exports.HEADERS and len(lines) - 1 == expected
    after = access_queries.audit_trail(demo.db, actor(demo.db, "admin"), action="export.", page_size=1000,
                                       check_chain=False)[0]
    assert len(after) == before + 2 and set(after["actor_name"]) == {"so.giamsat"}
    assert page.errors == []


def test_audit_filters_by_action_school_user_and_dates(page, demo):
    sign_in(page, demo.url, "admin", then="audit")
    page.wait_for_selector("text=hợp lệ", timeout=30000)
    selects = page.locator("select")
    choose(selects.nth(0), "synthetic.school")
    page.wait_for_selector("text=Trang 1: 2 sự kiện", timeout=30000)
    choose(selects.nth(1), "S0001")
    page.wait_for_selector("text=Trang 1: 1 sự kiện", timeout=30000)
    user = page.get_by_placeholder("tên đăng nhập")
    user.fill("nobody")
    user.press("Enter")
    page.wait_for_selector("text=Trang 1: 0 sự kiện", timeout=30000)
    user.fill("system")
    user.press("Enter")
    page.wait_for_selector("text=Trang 1: 1 sự kiện", timeout=30000)
    from core.kernel import clock

    today = clock.now().date()  # the product's day (Vietnam's), not the machine's: they differ after 17:00 UTC
    pick_date(page, "Đến ngày", today - dt.timedelta(days=1))
    page.wait_for_selector("text=Trang 1: 0 sự kiện", timeout=30000)
    pick_date(page, "Từ ngày", today - dt.timedelta(days=1))
    pick_date(page, "Đến ngày", today)
    page.wait_for_selector("text=Trang 1: 1 sự kiện", timeout=30000)
    assert page.errors == []
