"""Every role on a phone, in Chromium: each role signs in (the department supervisor, a district
supervisor, a school monitor, a principal, a teacher, the analyst) and opens every page of its
own menu (:func:`dashboards.common.menu`) at 390 px wide; none refuses its own user, none shows
a traceback or a console error, and nothing scrolls sideways — neither the page nor its main
area (a wide table scrolls inside its own box). Anyone, signed in or not, gets the same of the
public check (/verify). Phone screenshots of the overview, the check and a teacher's page are
kept in the test's directory (``scripts/screenshots.py`` makes the ones in docs/screenshots/)."""
import pytest

from dashboards.common import menu
from tests.browser.conftest import actor, sign_in, watch
from tests.browser.test_this_week import PHONE, _teacher

#: Nothing wider than the phone: the document, and the template's main area that scrolls itself.
FITS = """() => {
  const wide = [document.documentElement, document.body, document.querySelector('#main')]
    .filter(Boolean).filter(e => e.scrollWidth > window.innerWidth + 1);
  return wide.map(e => `${e.tagName}#${e.id} ${e.scrollWidth}px`) }"""
#: The page's text, the widgets' shadow roots included (Bokeh renders each in its own).
TEXT = """() => { const parts = []; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
  if (el.shadowRoot) { parts.push(el.shadowRoot.textContent); walk(el.shadowRoot); } } };
  parts.push(document.body.innerText); walk(document); return parts.join(' ') }"""
#: What a page says when it refuses its user, or fails.
REFUSED = ("không có quyền", "vui lòng đăng nhập", "không hiển thị được", "traceback", "lỗi hệ thống")
ROLES = {"so.giamsat": "department_supervisor", "phong.1": "district_supervisor", "gs.s0001": "school_monitor",
         "ht.s0001": "principal", "teacher": "teacher", "phantich": "analyst"}


def _open(page, url: str, marker: str) -> str:
    page.goto(url)
    page.wait_for_selector(marker, timeout=60000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # (the last widgets' layout)
    return page.evaluate(TEXT)


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    yield watch(context.new_page())
    context.close()


@pytest.mark.parametrize("who", sorted(ROLES))
def test_each_role_opens_every_page_of_its_menu_on_a_phone(phone, demo, who):
    username = _teacher(demo.db) if who == "teacher" else who
    user = actor(demo.db, username)
    assert user.role.value == ROLES[who]
    pages = [path for path, _ in menu(user)]
    assert pages and "verify" in pages
    sign_in(phone, demo.url, username, then=None)
    phone.wait_for_url("**/overview", timeout=30000)
    phone.wait_for_selector("#logout", timeout=60000)
    shown = {a.strip() for a in phone.locator("a.m").all_inner_texts()}
    assert shown == {label for _, label in menu(user)} | {"Đăng xuất"}, shown  # the menu the role gets
    opened = []
    for path in pages:
        text = _open(phone, f"{demo.url}/{path}", "#by-code" if path == "verify" else "#logout").lower()
        assert not [r for r in REFUSED if r in text], (path, [r for r in REFUSED if r in text])
        assert username.lower() in text or path == "verify", path  # still signed in as that user
        assert phone.evaluate(FITS) == [], (path, phone.evaluate(FITS))
        if who in ("so.giamsat", "teacher") and path in ("overview", "me"):
            phone.screenshot(path=str(demo.root / f"phone-{who}-{path}.png"), full_page=True)
        opened.append(path)
    assert opened == pages
    assert phone.errors == [], phone.errors


def test_anyone_opens_the_public_check_on_a_phone(phone, demo):
    text = _open(phone, f"{demo.url}/verify", "#by-code").lower()
    assert not [r for r in REFUSED if r in text]
    assert phone.evaluate("() => document.querySelector('meta[name=viewport]').content").startswith(
        "width=device-width")
    assert phone.evaluate(FITS) == [] and phone.errors == [], phone.errors
    phone.locator("#code").fill("KHONG-CO-MA-NAY")
    phone.locator("#by-code button").click()
    phone.wait_for_load_state("networkidle")
    assert "KHONG-CO-MA-NAY" in phone.locator("#code").input_value()
    assert phone.evaluate(FITS) == []  # the answer to an unknown code too (a 400: the console logs it)
    phone.screenshot(path=str(demo.root / "phone-verify.png"), full_page=True)
