"""Regenerate docs/screenshots/: build a small demo (with gradebooks and transcripts at several
workflow steps, and one pending timetable change request), serve the console on loopback,
sign in as the department supervisor and photograph every page in Debian's Chromium and the
overview's drill-down step by step; then the admin page again as a principal, a teacher's own
week, the overview and the teacher's page on a phone (390 px) (change requests, handover, batch signing, cancel and
re-issue) and the public verification of an issued transcript.

Usage: .venv/bin/python scripts/screenshots.py
"""
from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ["overview", "compliance", "missed", "closing", "certificates", "audit", "transcripts", "admin", "verify"]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
PRINCIPAL = "ht.s0002"   # the school whose transcripts wait for the principal (core.demo.gradebook.STAGES)


def pending_change_request(db, school_code: str) -> int:
    """A teacher of the school asks (on a Saturday) to drop one period from next week."""
    from sqlalchemy import select

    from core.access.authz import actor_by_username
    from core.storage.models import School, Staff, TimetableSlot, UserAccount
    from core.timetable.services import request_change, version_in_force

    today = dt.date.today()
    saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
    with db.reading() as session:
        school_id = session.scalar(select(School.id).where(School.code == school_code))
        version = version_in_force(session, school_id, saturday + dt.timedelta(days=2))
        slot = session.scalars(select(TimetableSlot).where(TimetableSlot.version_id == version.id)
                               .order_by(TimetableSlot.id)).first()
        teacher = session.scalar(select(UserAccount.username).join(Staff, Staff.id == UserAccount.staff_id)
                                 .where(Staff.id == slot.teacher_id))
        who = actor_by_username(session, teacher)
    return request_change(db, who, school_id, [{"class_id": slot.class_id, "weekday": slot.weekday,
                                                "period_no": slot.period_no, "remove": True}],
                          reason="Tham gia hội giảng cấp quận", at=dt.datetime.combine(saturday, dt.time(9)))


def main() -> int:
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import DEMO_PASSWORD, Scale, generate
    from core.kernel.vocabulary import TranscriptStatus
    from core.signatures.anchors import load_anchors
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import Transcript
    from dashboards.app import serve_in_background

    work = Path(tempfile.mkdtemp(prefix="sohoa-shots-"))
    db = Database(make_engine(f"sqlite:///{work / 'demo.db'}"))
    upgrade(db.engine)
    generate(db, Scale(districts=2, schools_per_district=2, classes_per_school=4, weeks=6), pki_dir=work / "pki",
             progress=False)
    # Gradebooks and transcripts through the services, schools stopping at different steps;
    # expired or revoked teacher certificates are renewed first so that one school gets to issuance.
    generate_transcripts(db, pki_dir=work / "pki", classes_per_school=2, renew_certificates=True)
    pending_change_request(db, PRINCIPAL.split(".")[1].upper())
    with db.reading() as session:
        code = session.scalar(select(Transcript.verification_code).where(Transcript.status == TranscriptStatus.ISSUED)
                              .order_by(Transcript.id))
    server, url = serve_in_background(db, load_anchors(work / "pki").trust_store(), pki_dir=work / "pki")
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)

    def shoot(page, path: str, name: str):
        page.set_viewport_size({"width": 1300, "height": 900})
        page.goto(f"{url}/{path}")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(2000)
        # The template scrolls its main area, not the document: grow the window to the content.
        height = page.evaluate("() => Math.max(...[...document.querySelectorAll('#main, .main, body')]"
                               ".map(e => e.scrollHeight))")
        page.set_viewport_size({"width": 1300, "height": min(max(900, height + 80), 5000)})
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        print(f"docs/screenshots/{name}.png")

    def sign_in(browser, username: str):
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.click("#signin")
        page.wait_for_url("**/overview")
        return page

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{url}/login")
        page.screenshot(path=str(out / "login.png"))
        page = sign_in(browser, "so.giamsat")
        for name in PAGES:
            shoot(page, name if name != "verify" or not code else f"verify?code={code}", name)
        # the drill-down, a click on the first row at each step: district, school, class, a period's report
        page.goto(f"{url}/overview")
        for name in ("overview-district", "overview-school", "overview-class", "overview-entry"):
            page.locator("#drill-table tbody tr a").first.click()
            page.wait_for_url(f"**{name.split('-')[1]}=*")
            page.wait_for_selector("#breadcrumbs")
            shoot(page, page.url.split("/", 3)[3], name)
        shoot(sign_in(browser, PRINCIPAL), "admin", "admin-principal")
        teacher = sign_in(browser, "s0001-005")
        shoot(teacher, "me", "teacher")
        for who, path, name in (("so.giamsat", "overview", "overview-phone"), ("s0001-005", "me", "teacher-phone")):
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                          is_mobile=True, has_touch=True)
            phone = context.new_page()
            phone.goto(f"{url}/login")
            phone.fill("#username", who)
            phone.fill("#password", DEMO_PASSWORD)
            phone.click("#signin")
            phone.wait_for_url("**/overview")
            phone.goto(f"{url}/{path}")
            phone.wait_for_load_state("networkidle")
            phone.wait_for_timeout(2500)
            phone.screenshot(path=str(out / f"{name}.png"))
            print(f"docs/screenshots/{name}.png")
            context.close()
        if code:  # the public check as a phone shows it, opened from the QR code
            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
            phone.goto(f"{url}/verify?code={code}")
            phone.wait_for_selector("#verdict")
            phone.screenshot(path=str(out / "verify-phone.png"), full_page=True)
            print("docs/screenshots/verify-phone.png")
        browser.close()
    server.stop()
    db.engine.dispose()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
