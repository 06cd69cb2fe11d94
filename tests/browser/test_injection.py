"""SQL and HTML in every text field a teacher's app sends (issue 7): sent through the signing
API, stored as text, shown as text in the console — a lesson's title, class remark and
remarks on students (PUT /entries/{id}/content), a timetable change request's reason (POST
/timetable/change-requests). The console shows the title in the compliance drill-down and the
reason on the admin page and in the audit trail; each is checked there in Chromium."""
import base64
import datetime as dt
from unittest import mock

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.access.authz import SYSTEM
from core.demo.synthetic import DEMO_PASSWORD, FIRST_MONDAY, Scale
from core.kernel import clock
from core.kernel.vocabulary import EntryStatus
from core.logbook import queries
from core.storage.models import (
    Enrolment,
    LogbookEntry,
    StudentRemark,
    TimetableChangeRequest,
    TimetableSlot,
    UserAccount,
)
from core.timetable.services import version_in_force
from tests.browser.conftest import coming_saturday, see_in_audit, sign_in

DEMO_SCALE = Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=2, seed=13)
#: the demo's second week has just begun: its periods are pending, to be filled and signed
DEMO_AS_OF = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(days=7), dt.time(6, 0))

ATTACK = "Bài 9'); DROP TABLE logbook_entry; -- <img src=x onerror=alert(1)><script>alert(2)</script><b>đậm</b>"


def _api_calls(demo):
    """What a teacher's app sends: the content of the period first on screen in the drill-down,
    and a change request on the coming Saturday (so the console, on today's clock, lists it)."""
    first = queries.week_closing(demo.db, SYSTEM, page_size=2000).iloc[0]
    entries = queries.class_week_entries(demo.db, SYSTEM, int(first["class_id"]), int(first["week_id"]))
    entry_id = int(entries["entry_id"].iloc[0])
    with demo.db.reading() as s:
        entry = s.get(LogbookEntry, entry_id)
        assert entry.status == EntryStatus.PENDING
        username = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == entry.teacher_id))
        student = s.scalar(select(Enrolment.student_id).where(Enrolment.class_id == entry.class_id).limit(1))
        school = entry.school_id
    saturday = coming_saturday()
    with demo.db.reading() as s:
        slot = s.scalars(select(TimetableSlot).where(
            TimetableSlot.version_id == version_in_force(s, school, saturday + dt.timedelta(days=2)).id,
            TimetableSlot.teacher_id == entry.teacher_id).limit(1)).one()
    app = create_app(demo.db, demo.trust, warm=False)
    with TestClient(app) as api:
        with mock.patch.object(clock, "now", lambda: dt.datetime.combine(entry.day, dt.time(6, 30))):
            token = api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            r = api.put(f"/api/v1/entries/{entry_id}/content", headers=headers,
                        json={"lesson_title": ATTACK, "class_remark": ATTACK, "student_remarks": {str(student): ATTACK}})
            assert r.status_code == 204, r.text
            body = api.get(f"/api/v1/entries/{entry_id}", headers=headers).json()
            assert body["lesson_title"] == ATTACK and body["class_remark"] == ATTACK
            assert ATTACK.encode() in base64.b64decode(body["canonical_bytes"])  # the signed bytes carry it as is
        with mock.patch.object(clock, "now", lambda: dt.datetime.combine(saturday, dt.time(9))):
            token = api.post("/api/v1/token", json={"username": username, "password": DEMO_PASSWORD}).json()
            r = api.post("/api/v1/timetable/change-requests",
                         headers={"Authorization": f"Bearer {token['access_token']}"},
                         json={"school_id": school, "reason": ATTACK,
                               "changes": [{"class_id": slot.class_id, "weekday": slot.weekday,
                                            "period_no": slot.period_no, "remove": True}]})
            assert r.status_code == 201, r.text
    return entry_id, r.json()["request_id"]


def test_injected_text_from_the_api_is_stored_and_shown_as_text(page, demo):
    entry_id, request_id = _api_calls(demo)
    with demo.db.reading() as s:
        entry = s.get(LogbookEntry, entry_id)
        assert entry.lesson_title == ATTACK and entry.class_remark == ATTACK
        assert s.scalars(select(StudentRemark.text).where(StudentRemark.entry_id == entry_id)).all() == [ATTACK]
        assert s.get(TimetableChangeRequest, request_id).reason == ATTACK
        assert s.scalar(select(LogbookEntry.id).limit(1)) is not None   # the table is still there
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    sign_in(page, demo.url, "so.giamsat", then="compliance")
    cell = page.locator('.tabulator-cell[tabulator-field="Tên bài"]', has_text="DROP TABLE").first
    cell.wait_for(timeout=30000)
    assert cell.inner_text().strip() == ATTACK and cell.locator("img, b, script").count() == 0

    page.goto(f"{demo.url}/logout")
    sign_in(page, demo.url, "ht.s0001", then="admin")
    row = page.locator(".tabulator-row", has_text="DROP TABLE").first
    row.wait_for(timeout=30000)
    reason = row.locator('[tabulator-field="Lý do"]')
    assert reason.inner_text().strip() == ATTACK and reason.locator("img, b, script").count() == 0

    trail = see_in_audit(page, demo.url, "timetable.request_change", expect_text="DROP TABLE")
    assert trail.first.locator('[tabulator-field="Lý do"]').inner_text().strip() == ATTACK
    assert page.locator("img[src=x]").count() == 0 and dialogs == [] and page.errors == []
