"""Browser-test fixtures: a demo database served by the console on loopback (one per test
module, so that modules never see each other's admin actions), Debian's Chromium driven by
Playwright, and the sign-in helper."""
import datetime as dt
import shutil
from types import SimpleNamespace

import pytest

from core.demo.synthetic import DEMO_PASSWORD, Scale, generate
from core.signatures import DemoPKI
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


#: The demo every browser-test module gets unless it sets its own ``DEMO_SCALE``.
SMALL = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, seed=11)


@pytest.fixture(scope="module")
def demo(request, tmp_path_factory):
    """A small demo (1 district, 2 schools, 2 classes each, 2 weeks; or the test module's
    ``DEMO_SCALE`` as of its ``DEMO_AS_OF``, then its ``prepare_demo(db, pki_dir)``) served on loopback: ``url``, the
    record store ``db``, its ``pki_dir`` (key store, PIN 1234) and ``trust``."""
    from dashboards.app import serve_in_background

    assert shutil.which(CHROMIUM), "Debian's chromium is required (installed by scripts/test.sh)"
    root = tmp_path_factory.mktemp("console")
    db = Database(make_engine(f"sqlite:///{root / 'console.db'}"))
    upgrade(db.engine)
    generate(db, getattr(request.module, "DEMO_SCALE", SMALL), pki_dir=root / "pki", progress=False,
             as_of=getattr(request.module, "DEMO_AS_OF", None))
    prepare = getattr(request.module, "prepare_demo", None)  # a module's extra data, made through core
    if prepare:
        prepare(db, root / "pki")
    trust = DemoPKI.load(root / "pki").trust_store()
    from core.analytics.store import AnalyticsStore

    server, url = serve_in_background(db, trust, pki_dir=root / "pki",
                                      analytics_store=AnalyticsStore(root / "analytics"))
    yield SimpleNamespace(url=url, db=db, pki_dir=root / "pki", trust=trust, root=root)
    server.stop()


@pytest.fixture(scope="module")
def console(demo):
    """The console's base URL."""
    return demo.url


@pytest.fixture(scope="module")
def browser(demo):
    """Chromium, started after the demo is built: sync Playwright keeps an asyncio loop running
    in this thread, and core's PDF signing (pyHanko) runs its own loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def watch(page):
    """``page`` with its console errors and uncaught exceptions kept in ``page.errors``."""
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def fits(page) -> bool:
    """Nothing on the page scrolls sideways."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    yield watch(context.new_page())
    context.close()


def sign_in(page, url, username, password=DEMO_PASSWORD, *, then: str | None = "overview"):
    """Sign in through the login form; by default wait for the overview (then open ``then``)."""
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin")
    if then:
        page.wait_for_url("**/overview")
        if then != "overview":
            page.goto(f"{url}/{then}")




def see_in_audit(page, url, action: str, *, expect_text: str | None = None):
    """Open the audit page and wait for an event of ``action`` in the trail's table (and, when
    given, ``expect_text`` in the same row)."""
    page.goto(f"{url}/audit")
    row = page.locator(".tabulator-row", has=page.locator('[tabulator-field="Thao tác"]', has_text=action))
    if expect_text:
        row = row.filter(has_text=expect_text)
    row.first.wait_for(timeout=30000)
    return row


def actor(db, username: str):
    """The core Actor of a demo account (to prepare data through core services in a test)."""
    from core.access.authz import actor_by_username

    with db.reading() as session:
        return actor_by_username(session, username)


def coming_saturday() -> dt.date:
    """The next Saturday of the product's calendar (Vietnam's day, not the machine's): a change
    request made then applies from a Monday still to come, so the console lists it."""
    from core.kernel import clock

    today = clock.now().date()
    return today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)


def school_id(db, code: str) -> int:
    from sqlalchemy import select

    from core.storage.models import School
    with db.reading() as session:
        return session.scalar(select(School.id).where(School.code == code))


def card(page, title: str):
    """The action card whose title is exactly ``title``."""
    box = page.locator(".card", has=page.get_by_text(title, exact=True))
    box.first.wait_for(timeout=30000)
    return box


def perform(page, box, expect: str):
    """Confirm and run the card's action; wait for its result message."""
    button = box.locator("button", has_text="Thực hiện")
    assert button.is_disabled()  # nothing happens without the confirmation
    box.locator("input[type=checkbox]").check()
    button.click()
    box.locator(".alert", has_text=expect).wait_for(timeout=30000)


def choose(select, starting: str):
    """Pick the option whose text starts with ``starting``."""
    label = next(o for o in select.locator("option").all_inner_texts() if o.startswith(starting))
    select.select_option(label=label)
    return label
