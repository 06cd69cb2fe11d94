"""Locking an account (khóa tài khoản) in Chromium: the administrator finds a teacher and a
school monitor on the admin page, gives the reason and confirms; the audit page shows both
events with the reason; the monitor's admin page, left open in another browser, is refused at
its next action, the teacher's page at its next load, and the teacher's API token at its next
request — nothing else than core's session re-check on every load and action. A principal's
and a monitor's admin page offer no such card (core refuses them in any case)."""
import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.kernel import clock
from core.kernel.vocabulary import Role
from core.storage.models import School, Staff, UserAccount
from tests.browser.conftest import card, choose, perform, see_in_audit, sign_in

LOCK = "Khóa tài khoản"
ENDED = "Phiên đăng nhập đã kết thúc"


def _teacher(db, school_code: str) -> str:
    with db.reading() as s:
        return s.scalar(select(UserAccount.username).join(Staff, Staff.id == UserAccount.staff_id)
                        .join(School, School.id == Staff.school_id)
                        .where(School.code == school_code, UserAccount.role == Role.TEACHER)
                        .order_by(UserAccount.username.desc()).limit(1))


def _lock(page, who: str, reason: str):
    box = card(page, LOCK)
    box.locator("input[type=text]").first.fill(who)
    box.locator("input[type=text]").first.press("Enter")
    page.wait_for_timeout(300)
    choose(box.locator("select"), f"{who} — ")
    box.locator("input[type=text]").last.fill(reason)
    perform(page, box, f"đã khóa tài khoản {who} — ")


def test_the_administrator_locks_a_teacher_and_a_monitor_and_their_rights_end(page, demo, browser):
    teacher, monitor = _teacher(demo.db, "S0002"), "gs.s0002"
    with TestClient(create_app(demo.db, demo.trust, pki_dir=demo.pki_dir, token_cache_seconds=0, warm=False)) as api:
        answer = api.post("/api/v1/token", json={"username": teacher, "password": "sohoa-demo"})
        assert answer.status_code == 200, answer.text
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        today = clock.now().date()
        week = {"monday": (today - dt.timedelta(days=today.weekday())).isoformat()}
        assert api.get("/api/v1/me/timetable", params=week, headers=bearer).status_code == 200

        others = [browser.new_context(viewport={"width": 1300, "height": 900}) for _ in range(2)]
        try:
            teachers_page, monitors_page = (context.new_page() for context in others)
            sign_in(teachers_page, demo.url, teacher)  # the teacher's own week
            teachers_page.wait_for_selector("text=Tuần của tôi", timeout=30000)
            sign_in(monitors_page, demo.url, monitor, then="admin")
            remind = card(monitors_page, "Nhắc giáo viên còn tiết chưa ký")
            assert monitors_page.get_by_text(LOCK, exact=True).count() == 0  # not a monitor's card

            sign_in(page, demo.url, "admin", then="admin")
            _lock(page, teacher, "Giáo viên chuyển công tác")
            _lock(page, monitor, "Giám sát viên nghỉ việc")
            box = card(page, LOCK)
            assert box.locator("select option", has_text=f"{teacher} — ").count() == 0  # locked: off the list

            # the monitor's page left open: its next action is refused (core re-checks the session)
            remind.locator("input[type=checkbox]").check()
            remind.locator("button", has_text="Thực hiện").click()
            remind.locator(".alert", has_text=f"Không thực hiện được: {ENDED}").wait_for(timeout=30000)
            # the teacher's page: its next load finds no one signed in
            teachers_page.reload()
            teachers_page.wait_for_selector("#signed-out", timeout=30000)
            # the teacher's app: the token is refused, and signing in again too
            refused = api.get("/api/v1/me/timetable", params=week, headers=bearer)
            assert refused.status_code == 401, refused.text
            again = api.post("/api/v1/token", json={"username": teacher, "password": "sohoa-demo"})
            assert again.status_code == 401
        finally:
            for context in others:
                context.close()

    for reason in ("Giáo viên chuyển công tác", "Giám sát viên nghỉ việc"):
        row = see_in_audit(page, demo.url, "account.deactivate", expect_text=reason)
        assert row.count() == 1 and "admin" in row.first.inner_text()
    assert page.errors == []


def test_a_principal_has_no_card_to_lock_accounts(page, demo):
    sign_in(page, demo.url, "ht.s0001", then="admin")
    card(page, "Hủy và cấp lại học bạ")
    assert page.get_by_text(LOCK, exact=True).count() == 0
