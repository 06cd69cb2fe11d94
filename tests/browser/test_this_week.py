"""The overview a supervisor opens on Monday, in Chromium: this week first (the week picker on
the current week, each figure with its change, who is behind, today's unsigned periods), the
drill-down by clicking with breadcrumbs and the state in the URL (at most 4 clicks from the
overview to a period's verification report; back and bookmarks work), a menu per role, the
teacher's own page, and the phone layout (390 px, nothing scrolls sideways)."""
import pytest

from core.logbook import this_week
from tests.browser.conftest import actor, fits, sign_in

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def test_the_overview_opens_on_this_week_with_its_changes(page, demo):
    so = actor(demo.db, "so.giamsat")
    week = this_week.current_week(demo.db, so)
    fig = this_week.week_figures(demo.db, so, week)
    sign_in(page, demo.url, "so.giamsat")
    page.locator("h3", has_text=f"Tuần {fig.attrs['number']} (từ").wait_for(timeout=30000)
    picker = page.locator("select").first
    assert picker.input_value().startswith(f"Tuần {fig.attrs['number']} (từ")
    card = page.locator('[data-figure="on_time_rate"]')
    from core.kernel import formats

    assert formats.percent(fig.loc["on_time_rate", "this_week"]) in card.inner_text()
    assert "so với tuần trước" in card.inner_text() and "so với học kỳ" in card.inner_text()
    assert "điểm %" in card.inner_text() or "—" in card.inner_text()
    missed = page.locator('[data-figure="missed"] .sh-value').inner_text()
    assert missed == formats.number(fig.loc["missed", "this_week"])
    teachers, schools, limits = this_week.behind_this_week(demo.db, so, week, limit=10)
    behind = page.locator("#behind-teachers tbody tr")
    assert behind.count() == len(teachers)
    if len(teachers):
        assert behind.first.locator("td").first.inner_text() == teachers.iloc[0]["teacher_name"]
    page.wait_for_selector(f"text=dưới {limits.teacher_min_rate} %")
    assert page.locator("text=Tiết chưa ký hôm nay").count() >= 1
    assert page.errors == []


def test_four_clicks_from_the_overview_to_a_periods_verification_report(page, demo):
    sign_in(page, demo.url, "so.giamsat")
    page.wait_for_selector("#drill-table", timeout=30000)
    page.evaluate("() => { window.samePage = true }")  # gone if a step loaded a page
    clicks = 0
    for level in ("district", "school", "class", "entry"):
        link = page.locator("#drill-table tbody tr a").first
        link.click()
        clicks += 1
        page.wait_for_url(f"**{level}=*", timeout=30000)
        page.wait_for_selector("#breadcrumbs", timeout=30000)
    page.wait_for_selector("text=Báo cáo xác thực chữ ký số của tiết", timeout=60000)
    page.wait_for_selector("text=/PASSED|INDETERMINATE|FAILED|chưa có chữ ký số/", timeout=60000)
    assert clicks <= 4
    crumbs = page.locator("#breadcrumbs").inner_text()
    assert crumbs.startswith("Toàn bộ phạm vi ›") and crumbs.count("›") == 4
    bookmark = page.url
    # back goes one step up the drill-down; the bookmark opens the same report again
    page.go_back()
    page.wait_for_url("**class=*", timeout=30000)
    page.wait_for_selector("#drill-table", timeout=30000)
    # each step came in place, in the same session (the back button too)
    assert page.evaluate("() => window.samePage === true")
    assert page.locator("text=Báo cáo xác thực chữ ký số của tiết").count() == 0
    page.goto(bookmark)
    page.wait_for_selector("text=Báo cáo xác thực chữ ký số của tiết", timeout=60000)
    # a breadcrumb goes back up
    page.locator("#breadcrumbs a").nth(1).click()
    page.wait_for_url("**district=*", timeout=30000)
    assert page.errors == []


#: The font size and weight of the heading with that text, and the colour of the breadcrumbs' first link.
LOOK = """(text) => { let found = null, link = null; const walk = (root) => {
  for (const el of root.querySelectorAll('*')) {
    if (el.tagName === 'H3' && el.textContent.trim().startsWith(text) && !found) found = getComputedStyle(el);
    if (el.id === 'breadcrumbs' && !link) link = getComputedStyle(el.querySelector('a'));
    if (el.shadowRoot) walk(el.shadowRoot); } };
  walk(document); return [found && found.fontSize, found && found.fontWeight, link && link.color] }"""


def at_depth(page, steps: int) -> None:
    """Wait for the breadcrumbs of a view ``steps`` below the whole scope."""
    crumbs = page.locator("#breadcrumbs").first
    for _ in range(300):
        if crumbs.count() and crumbs.inner_text().count("›") == steps:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"no view {steps} steps down: {crumbs.inner_text() if crumbs.count() else None}")


def click_bar(page, name: str, index: int = 0) -> str:
    """Click (a real mouse click, on the bar's track) the ``index``-th bar of chart ``name``; its label."""
    bar = page.locator(f"#{name} a.sh-bar").nth(index)
    bar.wait_for(timeout=30000)
    label = bar.locator(".sh-bar-name").inner_text()
    bar.locator(".sh-bar-track").click(position={"x": 5, "y": 5})
    return label


def test_a_click_on_a_bar_goes_down_as_a_click_on_its_row(page, demo):
    """The department's chart of districts: a click on a district's bar shows that district's
    schools (the URL and the breadcrumbs say so, in place), back returns; then a school's bar,
    a class's bar and a period's row: four clicks to a verification report."""
    from core.kernel import formats

    so = actor(demo.db, "so.giamsat")
    week = this_week.current_week(demo.db, so)
    districts = this_week.record_store(demo.db, so)("district", week_id=week).sort_values("on_time_rate")
    first = districts.iloc[0]
    sign_in(page, demo.url, "so.giamsat")
    page.wait_for_selector("#drill-table", timeout=30000)
    page.evaluate("() => { window.samePage = true }")
    label = click_bar(page, "drill-bars")
    assert label == f"{first['district_name']} · {formats.percent(first['on_time_rate'])}"
    page.wait_for_url(f"**district={int(first['district_id'])}*", timeout=30000)
    page.wait_for_selector("#breadcrumbs", timeout=30000)
    assert page.locator("#breadcrumbs").inner_text() == f"Toàn bộ phạm vi › {first['district_name']}"
    schools = this_week.record_store(demo.db, so)("school", week_id=week, district_id=int(first["district_id"]))
    shown = page.locator("#drill-table tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(schools["school_name"]) and len(shown) > 0
    assert page.evaluate("() => window.samePage === true")  # in place, in the same session
    # the step in place looks as that URL loaded as a page does (its heading, its links)
    in_place = page.evaluate(LOOK, "Các trường")
    page.go_back()
    page.wait_for_url(lambda u: "district=" not in u, timeout=30000)
    page.locator("h3", has_text="Theo quận/huyện").wait_for(timeout=30000)
    assert page.evaluate("() => window.samePage === true")
    page.go_forward()
    page.wait_for_url("**district=*", timeout=30000)
    page.reload()
    page.locator("h3", has_text="Các trường").wait_for(timeout=30000)
    assert page.evaluate(LOOK, "Các trường") == in_place
    page.goto(f"{demo.url}/overview")
    page.wait_for_selector("#drill-table", timeout=30000)
    # four clicks from the overview to a period's report: three bars, then a period's row
    for depth, level in enumerate(("district", "school", "class"), start=1):
        click_bar(page, "drill-bars")
        page.wait_for_url(f"**{level}=*", timeout=30000)
        at_depth(page, depth)
    page.locator("#drill-table tbody tr a").first.click()
    page.wait_for_url("**entry=*", timeout=30000)
    page.wait_for_selector("text=Báo cáo xác thực chữ ký số của tiết", timeout=60000)
    assert page.locator("#breadcrumbs").inner_text().count("›") == 4
    assert page.errors == []


def test_the_week_picker_puts_the_week_in_the_url(page, demo):
    so = actor(demo.db, "so.giamsat")
    from core.logbook import queries

    weeks = queries.weeks_in_scope(demo.db, so)
    assert len(weeks) >= 2
    first = int(weeks.iloc[0]["week_id"])
    sign_in(page, demo.url, "so.giamsat")
    page.wait_for_selector("#drill-table", timeout=30000)
    label = f"Tuần {int(weeks.iloc[0]['number'])} (từ"
    page.locator("select").first.select_option(label=next(
        o for o in page.locator("select").first.locator("option").all_inner_texts() if o.startswith(label)))
    page.wait_for_url(f"**week={first}*", timeout=30000)
    page.locator("h3", has_text=label).wait_for(timeout=30000)
    assert page.locator("select").first.input_value().startswith(label)
    assert page.errors == []


def test_a_monitor_cannot_drill_into_another_school(page, demo):
    from tests.browser.conftest import school_id

    other = school_id(demo.db, "S0002")
    sign_in(page, demo.url, "gs.s0001")
    page.wait_for_selector("#drill-table", timeout=30000)
    page.goto(f"{demo.url}/overview?school={other}")
    page.wait_for_selector("text=Không có trường", timeout=30000)
    assert page.locator("text=Trường THCS Nguyễn Du").count() == 0


MENUS = {"so.giamsat": ({"Tổng quan", "Nhật ký thao tác", "Quản trị"}, set()),
         "phantich": ({"Tổng quan", "Tuân thủ ký số"}, {"Quản trị", "Nhật ký thao tác"}),
         "gs.s0001": ({"Tổng quan", "Quản trị"}, set()),
         "phong.1": ({"Tổng quan", "Quản trị", "Nhật ký thao tác"}, set()),
         "ht.s0001": ({"Tổng quan", "Quản trị", "Cấp học bạ"}, set())}


@pytest.mark.parametrize("who", sorted(MENUS))
def test_each_role_gets_a_menu_of_pages_it_can_use(page, demo, who):
    has, lacks = MENUS[who]
    sign_in(page, demo.url, who)
    page.wait_for_selector("#logout", timeout=30000)
    items = set(page.locator("#sidebar a, .sidenav a, nav a").all_inner_texts())
    items = {i.strip() for i in items}
    assert has <= items and not (lacks & items), items
    hrefs = [a.get_attribute("href") for a in page.locator("a[href^='/']").all()
             if a.get_attribute("href") not in ("/logout", "/login") and "?" not in a.get_attribute("href")]
    for path in sorted(set(hrefs)):
        page.goto(demo.url + path)
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        assert "không có quyền" not in text.lower(), path
    assert page.errors == []


def test_the_analyst_sees_no_admin_card(page, demo):
    sign_in(page, demo.url, "phantich", then="admin")
    page.wait_for_selector("text=không có thao tác quản trị nào", timeout=30000)
    assert page.locator(".card").count() == 0


def _teacher(db) -> str:
    from sqlalchemy import select

    from core.kernel.vocabulary import Role
    from core.storage.models import UserAccount
    with db.reading() as session:
        return session.scalar(select(UserAccount.username).where(UserAccount.role == Role.TEACHER)
                              .order_by(UserAccount.username).limit(1))


def test_a_teacher_gets_their_own_week(page, demo):
    who = _teacher(demo.db)
    _, hours = this_week.my_week(demo.db, actor(demo.db, who))
    sign_in(page, demo.url, who)
    page.wait_for_selector("text=Tuần của tôi", timeout=30000)
    page.wait_for_selector("text=giờ dạy được tính", timeout=30000)
    from core.kernel import formats

    assert formats.number(hours["term"]["counted"]) in page.locator("#my-hours").inner_text()
    items = {i.strip() for i in page.locator("a[href^='/']").all_inner_texts()}
    assert "Tuân thủ ký số" not in items and "Quản trị" not in items
    assert page.errors == []


@pytest.mark.parametrize("who,path,marker", [("so.giamsat", "overview", "#drill-table"),
                                             (None, "verify", "#by-code"),
                                             ("teacher", "me", "text=giờ dạy được tính")])
def test_phone_layout_has_no_sideways_scrolling(browser, demo, who, path, marker):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if who:
        sign_in(page, demo.url, _teacher(demo.db) if who == "teacher" else who, then=None)
        page.wait_for_url("**/overview", timeout=30000)
    page.goto(f"{demo.url}/{path}")
    page.wait_for_selector(marker, timeout=30000)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => document.querySelector('meta[name=viewport]').content").startswith(
        "width=device-width")
    page.screenshot(path=str(demo.root / f"phone-{path}.png"), full_page=True)
    assert fits(page), f"/{path} scrolls sideways at 390 px"
    assert errors == []
    context.close()


def test_an_oversized_upload_on_verify_gets_a_clear_message(page, demo, tmp_path):
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * (50 * 1024 * 1024))
    page.goto(f"{demo.url}/verify")
    page.locator("#pdf").set_input_files(str(big))
    page.locator("#by-file button").click()
    page.wait_for_selector("#error", timeout=30000)
    assert "Tệp lớn hơn" in page.inner_text("#error")


def test_after_an_admin_action_the_reason_is_cleared_and_nothing_is_chosen(page, demo):
    sign_in(page, demo.url, "phong.1", then="admin")
    box = page.locator(".card", has_text="Mở lại sổ tuần đã chốt")
    box.first.wait_for(timeout=30000)
    picker = box.locator("select")
    first = picker.input_value()
    assert first and first != "— chọn —"
    box.locator("input[type=text]").fill("Sửa số học sinh vắng")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Thực hiện").click()
    box.locator(".alert", has_text="Đã thực hiện").wait_for(timeout=30000)
    page.wait_for_function("() => true")
    assert box.locator("input[type=text]").input_value() == ""
    assert picker.input_value() == "— chọn —"  # never the next week silently
    assert first not in picker.locator("option").all_inner_texts()  # the reopened week left the list
    # a second click without choosing does nothing
    box.locator("input[type=text]").fill("Lý do khác")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Thực hiện").click()
    box.locator(".alert", has_text="Chưa thực hiện: chưa chọn lớp - tuần").wait_for(timeout=30000)
    assert page.errors == []


def test_the_department_sets_its_thresholds_and_the_overview_uses_them(page, demo):
    sign_in(page, demo.url, "so.giamsat", then="admin")
    box = page.locator(".card", has_text="Ngưỡng cảnh báo")
    box.first.wait_for(timeout=30000)
    fields = box.locator("input:not([type=checkbox])")
    for i, value in enumerate(("50", "9", "40")):
        fields.nth(i).fill(value)
        fields.nth(i).press("Enter")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Lưu ngưỡng").click()
    box.locator(".alert", has_text="Đã thực hiện").wait_for(timeout=30000)
    assert this_week.thresholds(demo.db, actor(demo.db, "so.giamsat")) == this_week.Thresholds(50, 9, 40)
    page.goto(f"{demo.url}/overview")
    page.wait_for_selector("text=dưới 50 %", timeout=30000)
    assert page.errors == []


def test_closing_counts_every_class_week(page, demo):
    from core.kernel import formats
    from core.logbook import queries

    counts = queries.week_closing_counts(demo.db, actor(demo.db, "so.giamsat"))
    total = int(counts["class_weeks"].sum())
    sign_in(page, demo.url, "so.giamsat", then="closing")
    page.wait_for_selector(f"text={formats.number(total)} lớp - tuần đã qua trong phạm vi", timeout=30000)
    table = page.locator(".tabulator", has_text="Số lớp - tuần").first
    shown = {r.locator('[tabulator-field="Tình trạng chốt"]').inner_text(): r.locator(
        '[tabulator-field="Số lớp - tuần"]').inner_text() for r in table.locator(".tabulator-row").all()}
    assert shown == {r.state: formats.number(r.class_weeks) for r in counts.itertuples()}
    assert page.errors == []


def test_reminders_list_their_recipients_and_then_their_delivery(page, demo):
    import datetime as dt

    from core.access import admin
    from core.logbook import queries
    from tests.browser.conftest import school_id

    monitor, school = actor(demo.db, "gs.s0001"), school_id(demo.db, "S0001")
    monday = queries.weeks_in_scope(demo.db, monitor)["monday"].iloc[-1]
    at = dt.datetime.combine(monday, dt.time(12))
    expected = admin.reminder_recipients(demo.db, monitor, school)
    sent = admin.send_reminders(demo.db, monitor, school, as_of=at)  # reminders queued in the demo's last week
    assert sent > 0
    sign_in(page, demo.url, "gs.s0001", then="admin")
    box = page.locator(".card", has_text="Nhắc giáo viên còn tiết chưa ký")
    box.first.wait_for(timeout=30000)
    preview = (f"Sẽ gửi cho {len(expected)} giáo viên" if len(expected) else
               "Không có giáo viên nào còn tiết chưa ký tuần này")
    box.get_by_text(preview).first.wait_for(timeout=30000)
    box.get_by_text("Tình trạng gửi các thư nhắc gần đây").wait_for(timeout=30000)
    states = box.locator('[tabulator-field="Tình trạng gửi"]').all_inner_texts()
    assert states and set(states) <= {"Chờ gửi (hộp thư đi)", "Tình trạng gửi"}
    assert page.errors == []


def test_the_public_verify_page_stands_alone_without_the_menu(page, demo):
    sign_in(page, demo.url, "so.giamsat")  # even for a signed-in supervisor
    page.goto(f"{demo.url}/verify")
    page.wait_for_selector("#by-code", timeout=30000)
    links = {a.strip() for a in page.locator("a").all_inner_texts()}
    assert not links & {"Tổng quan", "Tuân thủ ký số", "Quản trị", "Đăng xuất"}, links
