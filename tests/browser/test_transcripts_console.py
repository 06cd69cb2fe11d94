"""Transcript pieces of the console in Chromium: the blocking steps on the issuance page, the
principal's batch signing (PIN, progress bar, result list), cancel and re-issue, and the public
verification of an uploaded PDF. The demo's gradebook generator (every step through core's
services) takes school S0001's transcripts to issuance and leaves S0002's waiting for the
principal."""
from sqlalchemy import select

from core.demo.synthetic import Scale
from core.kernel.vocabulary import TranscriptStatus
from core.storage.models import SchoolClass, Transcript
from core.transcripts import figures as transcript_figures
from core.transcripts import queries as transcript_queries
from core.transcripts import workflow
from tests.browser.conftest import actor, card, choose, school_id, see_in_audit, sign_in

DEMO_SCALE = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, students_per_class=6,
                   seed=11)


def prepare_demo(db, pki_dir):
    from core.demo.gradebook import generate_transcripts

    generate_transcripts(db, pki_dir=pki_dir, classes_per_school=2, stages=("issued", "homeroom_signed"), seed=11,
                         renew_certificates=True)


def test_issuance_page_shows_the_blocking_steps(page, demo):
    rows, total = transcript_figures.blocking_steps(demo.db, actor(demo.db, "so.giamsat"))
    waiting = rows[rows["step"] == "Hiệu trưởng ký và đóng dấu"]
    assert total >= 2 and not waiting.empty
    sign_in(page, demo.url, "so.giamsat", then="transcripts")
    page.wait_for_selector(f"text={total} lớp còn học bạ chưa cấp", timeout=30000)
    table = page.locator(".tabulator", has_text="Bước đang chờ")
    first = waiting.iloc[0]
    table.locator(".tabulator-row", has_text=first["class"]).filter(has_text="Hiệu trưởng ký và đóng dấu") \
        .filter(has_text=first["waiting_on"]).first.wait_for(timeout=30000)
    assert page.errors == []


def test_principal_batch_signs_a_class_with_progress_and_result(page, demo):
    sid = school_id(demo.db, "S0002")
    classes = transcript_queries.transcript_classes(demo.db, actor(demo.db, "ht.s0002"), sid)
    target = classes[classes["homeroom_signed"] > 0].iloc[0]
    sign_in(page, demo.url, "ht.s0002", then="admin")
    box = card(page, "Ký duyệt và đóng dấu học bạ hàng loạt")
    choose(box.locator("select").nth(0), target.class_name)
    box.locator("input[type=password]").fill("0000")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Bắt đầu ký").click()
    box.locator(".alert", has_text="sai mã PIN").wait_for(timeout=30000)
    assert transcript_queries.transcript_classes(demo.db, actor(demo.db, "ht.s0002"), sid) \
        .set_index("class_id").loc[target.class_id, "issued"] == 0            # nothing signed
    box.locator("input[type=password]").fill("1234")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Bắt đầu ký").click()
    box.locator(".progress, progress").first.wait_for(timeout=30000)      # the progress bar shows
    box.locator(".alert", has_text=f"đã ký và cấp {target.homeroom_signed} học bạ").wait_for(timeout=120000)
    after = transcript_queries.transcript_classes(demo.db, actor(demo.db, "ht.s0002"), sid).set_index("class_id")
    assert after.loc[target.class_id, "issued"] == target.homeroom_signed
    n = target.homeroom_signed
    box.locator(f"text=Hoàn tất: đã xử lý {n}/{n} học bạ.").wait_for(timeout=30000)
    assert box.locator("select option", has_text=f"{target.class_name} — 0 chờ ký, {n} đã cấp").count() == 1
    see_in_audit(page, demo.url, "transcript.issue")
    assert page.errors == []


def test_the_batch_lists_what_it_could_not_sign(page, demo):
    """A draft (the homeroom teacher has not signed) in the batch is listed with the reason."""
    sid = school_id(demo.db, "S0001")
    with demo.db.reading() as session:
        issued = session.scalar(select(Transcript.id).where(Transcript.school_id == sid,
                                                            Transcript.status == TranscriptStatus.ISSUED)
                                .order_by(Transcript.id))
    new_id = workflow.cancel_and_reissue(demo.db, actor(demo.db, "ht.s0001"), issued, "Sai ngày sinh")
    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, "Ký duyệt và đóng dấu học bạ hàng loạt")
    box.locator(".bk-btn", has_text="Cả trường").click()
    box.locator("input[type=password]").fill("1234")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Bắt đầu ký").click()
    box.locator(".alert", has_text="1 học bạ chưa ký được").wait_for(timeout=120000)
    row = box.locator(".tabulator-row", has_text="chưa có chữ ký của giáo viên chủ nhiệm")
    row.first.wait_for(timeout=30000)
    assert row.count() == 1 and str(new_id) in row.inner_text().replace(",", "").replace(".", "")
    assert page.errors == []


def test_cancel_and_reissue_then_the_code_reports_it(page, demo):
    sid = school_id(demo.db, "S0001")
    listed = transcript_queries.transcript_list(demo.db, actor(demo.db, "ht.s0001"), school_id=sid,
                                     status=TranscriptStatus.ISSUED)
    code = listed.iloc[-1]["code"]
    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, "Hủy và cấp lại học bạ")
    search = box.locator("input[type=text]").first
    search.fill(code)
    search.press("Enter")
    page.wait_for_timeout(500)
    choose(box.locator("select"), code)
    box.locator("input[type=text]").last.fill("Sai điểm môn Toán")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Thực hiện").click()
    box.locator(".alert", has_text=f"đã hủy học bạ {code}").wait_for(timeout=30000)
    see_in_audit(page, demo.url, "transcript.cancel", expect_text="Sai điểm môn Toán")
    page.goto(f"{demo.url}/verify?code={code}")
    page.wait_for_selector("#verdict >> text=ĐÃ HỦY", timeout=30000)
    assert page.locator("#replacement").count() == 1
    assert "Sai điểm môn Toán" not in page.content()                 # the reason is not for the public
    assert page.errors == []


def test_verify_an_uploaded_pdf(page, demo, tmp_path):
    sid = school_id(demo.db, "S0001")
    with demo.db.reading() as session:
        document = session.scalar(select(Transcript.document).join(SchoolClass, SchoolClass.id == Transcript.class_id)
                                  .where(Transcript.school_id == sid, Transcript.status == TranscriptStatus.ISSUED)
                                  .order_by(Transcript.id.desc()))
    genuine, tampered, other = tmp_path / "hoc-ba.pdf", tmp_path / "hoc-ba-sua.pdf", tmp_path / "anh.png"
    genuine.write_bytes(document)
    at = document.index(b"/Contents")  # change one byte of a signature's container: no longer the issued file
    tampered.write_bytes(document[:at - 2] + b" " + document[at - 1:])
    other.write_bytes(b"\x89PNG not a pdf")
    page.goto(f"{demo.url}/verify")                                # public: no sign-in
    page.wait_for_selector("text=Tra cứu, xác thực học bạ số", timeout=30000)
    for file, expected in ((genuine, "Học bạ hợp lệ, đang có hiệu lực"), (tampered, "KHÔNG KHỚP"),
                           (other, "không phải là tệp PDF")):
        page.locator("input[type=file]").set_input_files(str(file))
        page.click("#by-file button")
        page.wait_for_selector(f"text={expected}", timeout=60000)
        if file == genuine:
            assert page.locator("text=Hiệu trưởng: hợp lệ (PASSED)").count() == 1
        if file != other:
            assert page.errors == []
    assert page.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
