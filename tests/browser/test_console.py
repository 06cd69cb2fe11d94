"""The console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
sign-in, the pages without console errors, scope enforced by core, sign-out, the public
verification page."""
import pytest

from tests.browser.conftest import see_in_audit, sign_in


def test_supervisor_sees_the_overview_without_errors(page, console):
    sign_in(page, console, "so.giamsat")
    page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=30000)
    page.wait_for_selector("text=Xu hướng theo tuần")
    assert page.locator("text=Trường Tiểu học Lê Quý Đôn").count() >= 1
    page.goto(f"{console}/compliance")
    page.wait_for_selector("text=Tuân thủ ký số", timeout=30000)
    page.wait_for_selector(".tabulator-row", timeout=30000)
    assert page.errors == []


@pytest.mark.parametrize("who", ["admin", "so.giamsat", "phong.1", "gs.s0001", "ht.s0001", "phantich"])
def test_every_page_opens_without_errors(page, console, who):
    sign_in(page, console, who)
    for path, marker in (("overview", "Tổng quan ký sổ đầu bài"), ("compliance", "Tuân thủ ký số"),
                         ("missed", "Tiết không ký và ký trễ"), ("closing", "Chốt sổ tuần"),
                         ("certificates", "độ phủ và hết hạn"), ("audit", "Nhật ký thao tác"),
                         ("transcripts", "Cấp học bạ số"), ("admin", "Quản trị"),
                         ("verify", "Tra cứu, xác thực học bạ số")):
        page.goto(f"{console}/{path}")
        page.wait_for_selector(f"text={marker}", timeout=30000)
        assert page.locator("text=Traceback").count() == 0, path
    assert page.errors == []


def test_audit_page_shows_the_chain_check(page, console):
    sign_in(page, console, "admin", then="audit")
    page.wait_for_selector("text=hợp lệ", timeout=30000)


def test_wrong_password_is_refused(page, console):
    sign_in(page, console, "so.giamsat", "not-the-password", then=None)
    page.wait_for_selector("text=Sai tên đăng nhập hoặc mật khẩu")
    page.goto(f"{console}/overview")
    page.wait_for_selector("#signed-out", timeout=30000)


def test_a_monitor_sees_only_their_school(page, console):
    sign_in(page, console, "gs.s0001")
    page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=30000)
    assert page.locator("text=Trường THCS Nguyễn Du").count() == 0  # school S0002 is not theirs
    page.goto(f"{console}/compliance")
    page.wait_for_selector("select", timeout=30000)
    options = page.locator("select option").all_inner_texts()
    assert any(o.startswith("S0001") for o in options) and not any(o.startswith("S0002") for o in options)
    assert page.errors == []


def test_sign_out_ends_the_session(page, console):
    sign_in(page, console, "phong.1")
    page.wait_for_selector("text=Tỉ lệ ký đúng hạn", timeout=30000)
    page.click("#logout")
    page.wait_for_url("**/login")
    page.goto(f"{console}/overview")
    page.wait_for_selector("#signed-out", timeout=30000)


def test_public_verification_page(page, console):
    page.goto(f"{console}/verify?code=NOSUCHCODE")
    page.wait_for_selector("text=Không tìm thấy học bạ với mã này", timeout=30000)
    assert page.errors == []


def test_reopen_a_week_from_the_admin_page_and_see_it_audited(page, console):
    sign_in(page, console, "phong.1", then="admin")
    page.wait_for_selector("text=Mở lại sổ tuần đã chốt", timeout=30000)
    card = page.locator(".card", has_text="Mở lại sổ tuần đã chốt")
    button = card.locator("button", has_text="Thực hiện")
    assert button.is_disabled()  # nothing happens without the confirmation
    card.locator("input[type=text]").fill("Sửa số học sinh vắng")
    card.locator("input[type=checkbox]").check()
    button.click()
    page.wait_for_selector("text=Đã thực hiện", timeout=30000)
    see_in_audit(page, console, "week.reopen", expect_text="Sửa số học sinh vắng")
    assert page.errors == []


def test_a_monitor_cannot_assign_monitors(page, console):
    sign_in(page, console, "gs.s0001", then="admin")
    page.wait_for_selector("text=Nhắc giáo viên còn tiết chưa ký", timeout=30000)
    assert page.locator("text=Phân công giám sát trường").count() == 0


def test_drill_down_to_one_entry_and_its_verification_report(page, console):
    sign_in(page, console, "so.giamsat", then="compliance")
    page.wait_for_selector("text=Chi tiết một lớp - tuần", timeout=30000)
    rows = page.locator(".tabulator", has_text="Tên bài").locator(".tabulator-row")
    rows.first.wait_for(timeout=30000)
    entry = rows.first.locator('[tabulator-field="Mã tiết"]').inner_text().strip().replace(",", "")
    assert entry.isdigit() and entry != "0"
    page.get_by_placeholder("Mã tiết cần xác thực").fill(entry)
    page.locator("button", has_text="Xác thực chữ ký").click()
    page.wait_for_selector("text=/PASSED|INDETERMINATE|FAILED/", timeout=30000)
    assert page.errors == []


def test_the_overview_trend_comes_from_the_analytics_store(page, demo):
    """The trend over the weeks is aggregated by DuckDB in the analytics store, which the
    overview refreshes from the record store when stale; its figures equal the record store's."""
    import json

    from core.analytics import AnalyticsStore, compliance_facts
    from core.authz import SYSTEM
    from core.services.compliance import TREND, compliance

    sign_in(page, demo.url, "so.giamsat")
    page.wait_for_selector("text=Xu hướng theo tuần", timeout=30000)
    state = json.loads((demo.root / "analytics" / "state.json").read_text())
    assert state["weeks"] and state["refreshed_at"]
    store = AnalyticsStore(demo.root / "analytics")
    ours = compliance_facts(store, SYSTEM, "department", by_week=True)
    theirs = compliance(demo.db, SYSTEM, TREND)
    assert list(ours["scheduled"]) == list(theirs["scheduled"]) and list(ours["on_time"]) == list(theirs["on_time"])
    assert page.errors == []


def test_injected_text_is_shown_as_text_in_the_console(page, demo):
    """A lesson title carrying SQL and HTML (as a teacher's app could send it: the API stores it
    as text, tests/api) is displayed literally in the drill-down, never run as markup."""
    from sqlalchemy import text

    from core.authz import SYSTEM
    from core.services import queries

    first = queries.week_closing(demo.db, SYSTEM, page_size=2000).iloc[0]
    entries = queries.class_week_entries(demo.db, SYSTEM, int(first["class_id"]), int(first["week_id"]))
    target = int(entries["entry_id"].iloc[0])  # the first row: on screen without scrolling
    title = "Bài 9'); DROP TABLE logbook_entry; -- <img src=x onerror=alert(1)><b>đậm</b>"
    with demo.db.engine.begin() as conn:
        conn.execute(text("UPDATE logbook_entry SET lesson_title = :t WHERE id = :i"), {"t": title, "i": target})
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, demo.url, "so.giamsat", then="compliance")
    cell = page.locator('.tabulator-cell[tabulator-field="Tên bài"]', has_text="DROP TABLE")
    cell.first.wait_for(timeout=30000)
    assert cell.first.inner_text().strip() == title  # the markup shows as characters
    assert cell.first.locator("img, b").count() == 0 and dialogs == []
    with demo.db.reading() as s:
        assert s.execute(text("SELECT count(*) FROM logbook_entry")).scalar() > 0
