"""The console in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
sign-in, the pages without console errors, scope enforced by core, sign-out, the public
verification page, and the figures served from the analytics store."""
import pytest

from core.demo.synthetic import Scale
from tests.browser.conftest import actor, see_in_audit, sign_in

#: The conftest's small demo, with 6 students a class and their transcripts (prepare_demo).
DEMO_SCALE = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, students_per_class=6, seed=11)


def prepare_demo(db, pki_dir):
    """One class per school through the transcript workflow (the first school's issued), so
    that the console's issuance figures count something."""
    from core.demo.gradebook import generate_transcripts

    generate_transcripts(db, pki_dir=pki_dir, classes_per_school=1, seed=11, renew_certificates=True)


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
    page.goto(f"{console}/verify?code=ABCDEFGHJK")
    page.wait_for_selector("text=Không tìm thấy học bạ với mã này", timeout=30000)
    assert page.errors == []
    page.goto(f"{console}/verify?code=NOSUCHCODE")                # O and I are not in the codes' alphabet
    page.wait_for_selector("text=Mã xác thực không hợp lệ", timeout=30000)
    assert page.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


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


def test_another_class_week_fills_the_same_entries_table(page, demo):
    """The compliance page's drill-down step: picking another class-week puts that class-week's
    periods (core's, in its order) into the entries table."""
    from core.access.authz import SYSTEM
    from core.logbook import queries

    sign_in(page, demo.url, "so.giamsat", then="compliance")
    rows = page.locator(".tabulator", has_text="Tên bài").locator(".tabulator-row")
    rows.first.wait_for(timeout=30000)
    picker = page.locator(".bk-input-group", has_text="Lớp - tuần").locator("select")
    weeks = queries.week_closing(demo.db, SYSTEM, page_size=500)
    before = _cell(rows.first, "Mã tiết")
    for other in weeks.iloc[1:].itertuples():
        expected = str(int(queries.class_week_entries(demo.db, SYSTEM, int(other.class_id),
                                                      int(other.week_id))["entry_id"].iloc[0]))
        if expected != before:
            break
    picker.select_option(label=f"{other.school_name} · {other.class_name} · tuần {other.week}")
    page.locator('.tabulator-cell[tabulator-field="Mã tiết"]', has_text=expected).first.wait_for(timeout=30000)
    assert _cell(rows.first, "Mã tiết") == expected != before
    assert page.errors == []


def test_the_overview_trend_comes_from_the_analytics_store(page, demo):
    """The trend over the weeks is aggregated by DuckDB in the analytics store, which the
    overview refreshes from the record store when stale; its figures equal the record store's."""
    import json

    from core.access.authz import SYSTEM
    from core.analytics.queries import compliance_figures
    from core.analytics.store import AnalyticsStore
    from core.logbook.compliance import TREND, compliance

    sign_in(page, demo.url, "so.giamsat")
    page.wait_for_selector("text=Xu hướng theo tuần", timeout=30000)
    state = json.loads((demo.root / "analytics" / "state.json").read_text())
    assert state["weeks"] and state["refreshed_at"]
    store = AnalyticsStore(demo.root / "analytics")
    ours = compliance_figures(store, SYSTEM, "department", by_week=True)
    theirs = compliance(demo.db, SYSTEM, TREND)
    assert list(ours["scheduled"]) == list(theirs["scheduled"]) and list(ours["on_time"]) == list(theirs["on_time"])
    assert page.errors == []


def test_injected_text_is_shown_as_text_in_the_console(page, demo):
    """A lesson title carrying SQL and HTML (as a teacher's app could send it: the API stores it
    as text, tests/api) is displayed literally in the drill-down, never run as markup."""
    from sqlalchemy import text

    from core.access.authz import SYSTEM
    from core.logbook import queries

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


def _card(page, label: str) -> str:
    """The value shown by the overview's term card titled ``label``."""
    card = page.locator("#term-cards .sh-card", has=page.get_by_text(label, exact=True)).first
    card.wait_for(timeout=30000)
    return card.locator(".sh-value").inner_text().strip()


def _cell(row, field: str) -> str:
    return row.locator(f'[tabulator-field="{field}"]').inner_text().strip()


def test_the_console_figures_come_from_the_analytics_store(page, demo, monkeypatch):
    """Served with an analytics store, the overview's cards and worst schools, the compliance
    page's table and late-signing distribution and the transcript issuance table are DuckDB's
    aggregates — the record store's aggregate services are switched off for this test and the
    pages still show every figure — and they are the record store's figures."""
    from core.analytics import queries as analytics_queries
    from core.analytics.store import AnalyticsStore, refresh
    from core.kernel import formats
    from core.logbook import queries
    from core.logbook.compliance import compliance
    from core.transcripts import figures as transcript_figures

    refresh(demo.db, AnalyticsStore(demo.root / "analytics"))  # the tests before changed the record store
    so = actor(demo.db, "so.giamsat")
    total = compliance(demo.db, so, "department").sum(numeric_only=True)
    schools = compliance(demo.db, so, "school")
    issued = transcript_figures.issuance_figures(demo.db, so, "district").sum(numeric_only=True)
    grades = transcript_figures.issuance_figures(demo.db, so, "grade")
    late = int(queries.late_signing_distribution(demo.db, so)["entries"].sum())
    duck = analytics_queries.compliance_figures(AnalyticsStore(demo.root / "analytics"), so, "department")
    assert duck.sum(numeric_only=True)[["missed", "hours_lost", "weeks_open"]].tolist() == \
        total[["missed", "hours_lost", "weeks_open"]].tolist()
    assert issued["students"] > issued["issued"] > 0 and late > 0 and total["weeks_open"] > 0

    def switched_off(*args, **kwargs):
        raise AssertionError("a console aggregate ran on the record store")

    for name in ("dashboards.common.compliance", "core.logbook.queries.signing_heatmap",
                 "core.logbook.queries.late_signing_distribution", "core.transcripts.figures.issuance_figures"):
        monkeypatch.setattr(name, switched_off)

    sign_in(page, demo.url, "so.giamsat")
    rate = total["on_time"] / (total["scheduled"] - total["pending"])
    assert _card(page, "Tỉ lệ ký đúng hạn (cả học kỳ)") == formats.percent(rate)  # vi-VN: "79,6 %"
    assert _card(page, "Tiết không ký") == formats.number(total["missed"])
    assert _card(page, "Giờ dạy bị mất") == formats.number(total["hours_lost"])
    assert _card(page, "Tuần chưa chốt") == formats.number(total["weeks_open"])
    assert _card(page, "Trường chưa có giám sát") == formats.number(total["schools_without_monitor"])
    assert _card(page, "Học bạ đã cấp / cần cấp") == \
        f"{formats.number(issued['issued'])}/{formats.number(issued['students'])}"
    page.get_by_text("Số liệu tổng hợp từ kho phân tích", exact=False).first.wait_for(timeout=30000)
    worst = schools.sort_values("on_time_rate").iloc[0]
    row = page.locator("#worst-schools tbody tr", has_text=worst["school_name"]).first
    row.wait_for(timeout=30000)
    cells = row.locator("td").all_inner_texts()  # Trường, Quận/huyện, Số tiết, Không ký, Tỉ lệ, Tuần chưa chốt
    assert (cells[2], cells[3], cells[5]) == \
        (formats.number(worst["scheduled"]), formats.number(worst["missed"]), formats.number(worst["weeks_open"]))

    page.goto(f"{demo.url}/compliance")
    page.wait_for_selector(f"text={late:,} tiết ký trễ".replace(",", "."), timeout=30000)
    for school in schools.itertuples():
        row = page.locator(".tabulator-row", has_text=school.school_name).first
        row.wait_for(timeout=30000)
        assert (_cell(row, "Số tiết"), _cell(row, "Ký trễ"), _cell(row, "Không ký")) == \
            (str(school.scheduled), str(school.late), str(school.missed))
    assert page.locator("text=Chưa có dữ liệu").count() == 0  # the heatmap has its figures

    page.goto(f"{demo.url}/transcripts")
    page.wait_for_selector("text=Cấp học bạ số theo khối", timeout=30000)
    table = page.locator(".tabulator", has_text="Học sinh").first
    for grade in grades.itertuples():
        row = table.locator(".tabulator-row", has_text=grade.school_code).first
        row.wait_for(timeout=30000)
        assert (_cell(row, "Khối"), _cell(row, "Học sinh"), _cell(row, "Đã cấp")) == \
            (str(grade.grade), str(grade.students), str(grade.issued))
    assert page.locator("text=Traceback").count() == 0 and page.errors == []
