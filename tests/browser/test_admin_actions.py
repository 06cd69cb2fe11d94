"""Each admin action performed in Chromium the way a user does it (inputs, confirmation, button),
its result message read on the page, and its event found on the audit page: approve and reject
a timetable change request, register and revoke a certificate, record a handover, assign and
unassign a school monitor. Data the action needs (a pending change request, a certificate
file) is prepared through core services, as a teacher or the demo CA would."""
import datetime as dt

from sqlalchemy import select

from core.school import queries as school_queries
from core.signatures import DemoPKI, certificates
from core.storage.models import Staff, TimetableSlot, UserAccount
from core.timetable import queries as timetable_queries
from core.timetable.services import request_change, version_in_force
from tests.browser.conftest import actor, card, choose, coming_saturday, perform, school_id, see_in_audit, sign_in


def _pending_request(demo, school_code: str, reason: str) -> int:
    """A teacher of the school asks on Saturday to drop one period from next week."""
    sid = school_id(demo.db, school_code)
    saturday = coming_saturday()
    with demo.db.reading() as session:
        version = version_in_force(session, sid, saturday + dt.timedelta(days=2))
        taken = set()
        for r in timetable_queries.pending_change_requests(demo.db, actor(demo.db, f"ht.{school_code.lower()}"),
                                                 page_size=500).itertuples():
            taken.add(r.changes)
        slots = session.execute(select(TimetableSlot).where(TimetableSlot.version_id == version.id)
                                .order_by(TimetableSlot.id)).scalars().all()
        teacher = session.scalar(select(UserAccount.username).join(Staff, Staff.id == UserAccount.staff_id)
                                 .where(Staff.school_id == sid, UserAccount.role == "teacher").limit(1))
    slot = slots[len(taken)]
    return request_change(demo.db, actor(demo.db, teacher), sid,
                          [{"class_id": slot.class_id, "weekday": slot.weekday, "period_no": slot.period_no,
                            "remove": True}], reason=reason, at=dt.datetime.combine(saturday, dt.time(9)))


def test_principal_approves_and_rejects_timetable_change_requests(page, demo):
    approve_id = _pending_request(demo, "S0001", "Tiết học bù đã dạy")
    reject_id = _pending_request(demo, "S0001", "Xin đổi tiết họp tổ")
    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, "Duyệt / từ chối yêu cầu đổi thời khóa biểu")
    box.locator(".tabulator-row", has_text="Tiết học bù đã dạy").wait_for(timeout=30000)
    choose(box.locator("select"), f"#{approve_id} ")
    box.locator("input[type=text]").fill("Đồng ý")
    perform(page, box, f"đã duyệt yêu cầu #{approve_id}")
    assert box.locator("select option", has_text=f"#{approve_id} ").count() == 0  # decided: off the list
    choose(box.locator("select"), f"#{reject_id} ")
    box.locator(".bk-btn", has_text="Từ chối").click()
    box.locator("input[type=text]").fill("Không đủ giáo viên dạy thay")
    perform(page, box, f"đã từ chối yêu cầu #{reject_id}")
    row = see_in_audit(page, demo.url, "timetable.decide_change", expect_text="Không đủ giáo viên dạy thay")
    assert row.count() == 1
    assert see_in_audit(page, demo.url, "timetable.decide_change", expect_text="Đồng ý").count() == 1
    assert page.errors == []


def test_register_then_revoke_a_certificate(page, demo, tmp_path):
    from asn1crypto import pem

    sid = school_id(demo.db, "S0001")
    staff = school_queries.staff_list(demo.db, actor(demo.db, "admin"), sid).iloc[3]
    cred = DemoPKI.load(demo.pki_dir).issue_personal(f"staff-{staff.staff_id}-renewed", staff.full_name,
                                                     not_before=dt.datetime(2026, 1, 1),
                                                     not_after=dt.datetime(2028, 12, 31))
    path = tmp_path / "chung-thu.pem"
    path.write_bytes(pem.armor("CERTIFICATE", cred.cert_der))
    sign_in(page, demo.url, "so.giamsat", then="admin")
    box = card(page, "Đăng ký chứng thư số")
    choose(box.locator("select").nth(0), "S0001")
    choose(box.locator("select").nth(1), staff.code)
    box.locator("input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(500)  # the file travels over the websocket
    perform(page, box, "đã đăng ký chứng thư số")
    see_in_audit(page, demo.url, "certificate.register")

    page.goto(f"{demo.url}/admin")
    box = card(page, "Thu hồi chứng thư số")
    choose(box.locator("select").nth(0), "S0001")
    page.wait_for_timeout(300)
    choose(box.locator("select").nth(1), f"{staff.full_name} · số hiệu {cred.serial_hex[:16]}")
    box.locator("input[type=text]").fill("Giáo viên báo mất thiết bị ký")
    perform(page, box, "đã thu hồi chứng thư")
    see_in_audit(page, demo.url, "certificate.revoke", expect_text="Giáo viên báo mất thiết bị ký")
    revoked = certificates.certificate_list(demo.db, actor(demo.db, "admin"), school_id=sid, page_size=500)
    assert revoked.set_index("serial_hex").loc[cred.serial_hex, "revoked_at"] is not None
    assert page.errors == []


def test_a_bad_certificate_file_is_refused_before_core(page, demo, tmp_path):
    path = tmp_path / "not-a-cert.pem"
    path.write_bytes(b"hello")
    sign_in(page, demo.url, "admin", then="admin")
    box = card(page, "Đăng ký chứng thư số")
    box.locator("input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(500)
    perform(page, box, "không phải là chứng thư số X.509")


def test_principal_records_a_handover(page, demo):
    sid = school_id(demo.db, "S0002")
    staff = school_queries.staff_list(demo.db, actor(demo.db, "ht.s0002"), sid)
    leaving, replacement = staff.iloc[5], staff.iloc[6]
    sign_in(page, demo.url, "ht.s0002", then="admin")
    box = card(page, "Bàn giao công việc của giáo viên nghỉ / chuyển đi")
    choose(box.locator("select").nth(1), leaving.code)
    choose(box.locator("select").nth(2), replacement.code)
    box.locator("input[type=text]").last.fill("Giáo viên chuyển công tác")
    perform(page, box, f"đã bàn giao từ {leaving.code}")
    see_in_audit(page, demo.url, "staff.handover", expect_text="Giáo viên chuyển công tác")
    assert page.errors == []


def test_district_supervisor_assigns_then_unassigns_a_monitor(page, demo):
    sign_in(page, demo.url, "phong.1", then="admin")
    box = card(page, "Phân công giám sát trường")
    choose(box.locator("select").nth(0), "gs.s0001")
    choose(box.locator("select").nth(1), "S0002")
    perform(page, box, "đã phân công gs.s0001")
    box = card(page, "Thôi phân công giám sát trường")
    choose(box.locator("select"), "gs.s0001 · S0002")
    box.locator("input[type=text]").fill("Phân công nhầm trường")
    perform(page, box, "đã thôi phân công gs.s0001 · S0002")
    see_in_audit(page, demo.url, "monitor.assign")
    see_in_audit(page, demo.url, "monitor.unassign", expect_text="Phân công nhầm trường")
    assert page.errors == []


def test_a_monitor_sees_no_admin_actions_beyond_reminders(page, demo):
    sign_in(page, demo.url, "gs.s0001", then="admin")
    page.wait_for_selector("text=Nhắc giáo viên còn tiết chưa ký", timeout=30000)
    for title in ("Duyệt / từ chối", "Đăng ký chứng thư số", "Thu hồi chứng thư số", "Bàn giao công việc",
                  "Mở lại sổ tuần", "Hủy và cấp lại học bạ"):
        assert page.locator(f"text={title}").count() == 0, title


def test_principal_gives_then_revokes_a_delegation_to_sign_in_their_place(page, demo):
    """Giao ký thay: the principal records a written delegation for the school's vice-principal
    (Nghị định 30/2020/NĐ-CP Art. 13) and revokes it; both through core, both audited; an empty
    number is stopped before core."""
    from core.transcripts import delegations

    sid = school_id(demo.db, "S0001")
    vice = delegations.vice_principals(demo.db, actor(demo.db, "ht.s0001"), sid).iloc[0]
    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, "Giao ký thay hiệu trưởng")
    choose(box.locator("select").first, vice.code)
    perform(page, box, "cần nhập số văn bản")
    box.locator("input[type=text]").first.fill("15/QĐ-THCS")
    perform(page, box, f"đã giao ký thay cho {vice.code}")
    register = delegations.delegation_register(demo.db, actor(demo.db, "ht.s0001"), sid)
    assert list(register["document_no"]) == ["15/QĐ-THCS"] and register["revoked_at"].isna().all()
    see_in_audit(page, demo.url, "delegation.register", expect_text="Ghi nhận ủy quyền ký")

    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, "Thu hồi văn bản giao ký thay")
    choose(box.locator("select").first, "số 15/QĐ-THCS")
    box.locator("input[type=text]").last.fill("Hiệu trưởng đã trở lại trường")
    perform(page, box, "đã thu hồi văn bản giao ký thay số 15/QĐ-THCS")
    register = delegations.delegation_register(demo.db, actor(demo.db, "ht.s0001"), sid)
    assert register["revoked_at"].notna().all()
    see_in_audit(page, demo.url, "delegation.revoke", expect_text="Hiệu trưởng đã trở lại trường")
    assert page.errors == []
