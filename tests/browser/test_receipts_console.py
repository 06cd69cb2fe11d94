"""End to end, as it happens: a teacher's phone signs a period through the signing API (its own
key, its own wrong clock), the API settles it and its sealer seals the receipt, and a supervisor
verifies that entry in the console's compliance drill-down in Chromium: valid (hợp lệ), the
teacher's signature and the server's sealed receipt both."""
import base64
import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from core.demo.synthetic import DEMO_PASSWORD, Scale
from core.kernel import clock
from core.kernel.vocabulary import EntryStatus
from core.signatures import DemoPKI, KeyStore
from core.signatures.responder import Responder, free_port
from core.signatures.service import SEAL_OWNER, ServiceSeal
from core.storage.models import LogbookEntry, Submission, UserAccount
from tests.browser.conftest import sign_in

DEMO_SCALE = Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=3, students_per_class=4, seed=3)
DEMO_AS_OF = dt.datetime(2025, 9, 22, 7, 0)  # Monday of week 3: its periods are still to be signed
SIGNED: dict[str, int] = {}


def prepare_demo(db, pki_dir):
    """A phone signs the first pending period through the API; the API's sealer seals it."""
    pki = DemoPKI.load(pki_dir)
    with db.reading() as s:
        entry = s.scalars(select(LogbookEntry).where(LogbookEntry.status == EntryStatus.PENDING)
                          .order_by(LogbookEntry.period_end, LogbookEntry.id).limit(1)).one()
        teacher = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == entry.teacher_id))
    port = free_port()
    responder = Responder(pki).start(port)
    real_now, received = clock.now, entry.period_end + dt.timedelta(minutes=2)
    clock.now = lambda: received  # the server's clock at the bell
    try:
        seal = ServiceSeal(KeyStore(pki_dir).signer_for(SEAL_OWNER), f"http://127.0.0.1:{port}/tsa")
        app = create_app(db, pki.trust_store(), pki_dir=pki_dir, batch_window=0.001, seal=seal, seal_interval=0.2)
        with TestClient(app) as api:
            token = api.post("/api/v1/token", json={"username": teacher, "password": DEMO_PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            data = base64.b64decode(api.get(f"/api/v1/entries/{entry.id}", headers=headers).json()["canonical_bytes"])
            signature = KeyStore(pki_dir).signer_for(f"staff-{entry.teacher_id}").sign_detached(
                data, dt.datetime(2031, 1, 1))  # the phone's clock is years off
            answer = api.post(f"/api/v1/entries/{entry.id}/signature", headers={**headers, "Idempotency-Key": "b1"},
                              json={"signature": base64.b64encode(signature).decode()})
            assert answer.status_code == 200 and answer.json()["status"] == "on_time", answer.text
        # the app stopped: its sealer sealed what was left
    finally:
        clock.now = real_now
        responder.stop()
    with db.reading() as s:
        assert s.scalar(select(Submission.batch_id).where(Submission.entry_id == entry.id)) is not None
    SIGNED["entry"] = entry.id


def test_an_entry_signed_through_the_api_is_shown_valid_in_the_drill_down(page, console):
    entry = SIGNED["entry"]
    sign_in(page, console, "so.giamsat", then="compliance")
    page.wait_for_selector("text=Chi tiết một lớp - tuần", timeout=30000)
    page.get_by_placeholder("Mã tiết cần xác thực").fill(str(entry))
    page.locator("button", has_text="Xác thực chữ ký").click()
    page.wait_for_selector("text=Biên nhận đã niêm phong của máy chủ: hợp lệ (PASSED)", timeout=60000)
    assert page.locator("strong", has_text="hợp lệ (PASSED)").count() == 1  # the entry's verdict
    assert page.locator("text=Giáo viên dạy tiết: hợp lệ (PASSED)").count() == 1
    assert page.locator("text=the server decided on time at").count() == 1
    assert page.locator("text=không hợp lệ").count() == 0 and page.locator("text=chưa xác định").count() == 0
    assert page.errors == []
