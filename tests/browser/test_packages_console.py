"""Transcript packages in Chromium (docs/packages.md): school S0001's principal exports a
transfer package of two students to S0002 (the school's seal, the principal's PIN) and
downloads it; S0002's principal uploads it, it is verified under the trust policy and recorded
once (a second upload records nothing); a tampered package and one addressed to another school
are refused with the reason, and nothing is recorded. The demo's gradebook generator (every
step through core) issues S0001's transcripts."""
import json
import zipfile

from sqlalchemy import func, select

from core.demo.synthetic import Scale
from core.signatures import DemoPKI, KeyStore
from core.storage.models import Department, ReceivedTranscript
from core.transcripts import transfer
from tests.browser.conftest import actor, card, school_id, see_in_audit, sign_in
from tests.services.test_transfer import _flip_pdf, rebuild

DEMO_SCALE = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=1, students_per_class=4,
                   seed=11)
EXPORT = "Xuất gói hồ sơ học bạ (chuyển trường / gửi lên thành phố)"
IMPORT = "Nhận gói hồ sơ học bạ (chuyển đến / thành phố trả về)"


def prepare_demo(db, pki_dir):
    from core.demo.gradebook import generate_transcripts

    generate_transcripts(db, pki_dir=pki_dir, classes_per_school=1, stages=("issued", "homeroom_signed"), seed=11,
                         renew_certificates=True)
    with db.reading() as session:  # the department's seal (VGCA would issue it), in the console's key store
        department = session.execute(select(Department.id, Department.code)).first()
    DemoPKI.load(pki_dir).issue_seal(f"department-{department.id}", "Sở GD&ĐT TP. Hồ Chí Minh",
                                     identifier=f"MDV:{department.code}")


def received(db) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(ReceivedTranscript))


def _package(demo, *, to: str | None, students: int = 1, purpose: str = "transfer") -> bytes:
    """A package exported through core, as the console's card does."""
    sid = school_id(demo.db, "S0001")
    principal = actor(demo.db, "ht.s0001")
    chosen = [s.student_id for s in transfer.exportable_students(demo.db, principal, sid)][-students:]
    seal = KeyStore(demo.pki_dir).signer_for(f"school-{sid}")
    return transfer.export_package(demo.db, principal, sid, seal, student_ids=chosen, to=to, purpose=purpose)


def _upload(page, demo, path, expect: str):
    sign_in(page, demo.url, "ht.s0002", then="admin")
    box = card(page, IMPORT)
    box.locator("input[type=file]").set_input_files(str(path))
    page.wait_for_timeout(700)  # the file travels over the websocket
    button = box.locator("button", has_text="Kiểm tra và nhập")
    assert button.is_disabled()  # nothing happens without the confirmation
    box.locator("input[type=checkbox]").check()
    button.click()
    box.locator(".alert", has_text=expect).first.wait_for(timeout=120000)


def test_export_in_one_school_then_import_in_another(page, demo, tmp_path):
    sid = school_id(demo.db, "S0001")
    students = transfer.exportable_students(demo.db, actor(demo.db, "ht.s0001"), sid)
    assert len(students) >= 2
    before = received(demo.db)
    sign_in(page, demo.url, "ht.s0001", then="admin")
    box = card(page, EXPORT)
    labels = [f"{s.class_name} · {s.full_name} · {s.personal_id}" for s in students[:2]]
    box.locator("select[multiple]").select_option(label=labels)
    box.locator("input[type=text]").fill("S0002")
    box.locator("input[type=password]").fill("0000")  # a wrong PIN: refused, nothing exported
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Xuất gói").click()
    box.locator(".alert", has_text="Không thực hiện được").wait_for(timeout=30000)
    assert box.locator("button", has_text="Tải gói về máy").count() == 0 or \
        not box.locator("button", has_text="Tải gói về máy").is_visible()
    box.locator("input[type=password]").fill("1234")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Xuất gói").click()
    box.locator(".alert", has_text="đã xuất gói").filter(has_text="gửi S0002 (chuyển trường): 2 học bạ") \
        .first.wait_for(timeout=30000)
    with page.expect_download(timeout=30000) as download:
        box.locator("button", has_text="Tải gói về máy").click()
    path = tmp_path / "goi.zip"
    download.value.save_as(path)
    assert download.value.suggested_filename.startswith("goi-hoc-ba-S0001-S0002-")
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert manifest["addressee"] == "S0002" and manifest["purpose"] == "transfer"
    assert sorted(i["personal_id"] for i in manifest["items"]) == sorted(s.personal_id for s in students[:2])
    see_in_audit(page, demo.url, "package.export.transfer")

    n = len(manifest["items"])
    _upload(page, demo, path, f"Đã nhập {n} học bạ từ S0001")
    assert received(demo.db) == before + n
    _upload(page, demo, path, "Gói này đã được nhập lúc")  # once: a second upload records nothing
    assert received(demo.db) == before + n
    assert page.errors == []


def test_a_tampered_package_is_refused_whole(page, demo, tmp_path):
    path = tmp_path / "sua.zip"
    path.write_bytes(rebuild(_package(demo, to="S0002"), _flip_pdf))
    before = received(demo.db)
    _upload(page, demo, path, "không khớp với manifest.json")
    assert received(demo.db) == before
    assert page.locator(".alert", has_text="Không nhập").count() >= 1


def test_a_package_addressed_to_another_school_is_refused(page, demo, tmp_path):
    path = tmp_path / "nham.zip"
    path.write_bytes(_package(demo, to="S0009"))
    before = received(demo.db)
    _upload(page, demo, path, "Gói này gửi cho đơn vị S0009, không phải S0002; không nhập")
    assert received(demo.db) == before


def test_a_file_that_is_not_a_package_is_refused(page, demo, tmp_path):
    path = tmp_path / "khong-phai.zip"
    path.write_bytes(b"PK not really a zip")
    _upload(page, demo, path, "Tệp không phải gói hồ sơ học bạ")


def test_the_department_returns_the_admitted_cohort_and_the_school_imports_it(page, demo, tmp_path):
    """Grade 5 → 6: S0001 pushes its cohort to the city; the department supervisor uploads it
    with the admissions (one student to S0002), the department's seal (a wrong PIN first), and
    downloads the returns; S0002 imports its own."""
    pushed = tmp_path / "day-len.zip"
    pushed.write_bytes(_package(demo, to=None, students=3, purpose="city-push"))
    last = json.loads(zipfile.ZipFile(pushed).read("manifest.json"))["items"][-1]["personal_id"]
    sign_in(page, demo.url, "so.giamsat", then="admin")
    box = card(page, "Trả hồ sơ học bạ sau tuyển sinh (Sở)")
    box.locator("input[type=file]").set_input_files([str(pushed)])
    page.wait_for_timeout(700)
    box.locator("textarea").fill(f"{last}, S0002")
    box.locator("input[type=password]").fill("0000")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Lập gói trả về").click()
    box.locator(".alert", has_text="sai mã PIN").wait_for(timeout=30000)
    box.locator("input[type=password]").fill("1234")
    box.locator("input[type=checkbox]").check()
    box.locator("button", has_text="Lập gói trả về").click()
    box.locator(".alert", has_text="đã lập 1 gói trả về (S0002: 1 học bạ)").wait_for(timeout=120000)
    with page.expect_download(timeout=30000) as download:
        box.locator("button", has_text="Tải các gói trả về").click()
    bundle = tmp_path / "tra-ve.zip"
    download.value.save_as(bundle)
    returned = tmp_path / "S0002.zip"
    returned.write_bytes(zipfile.ZipFile(bundle).read("S0002.zip"))
    manifest = json.loads(zipfile.ZipFile(returned).read("manifest.json"))
    assert (manifest["purpose"], manifest["addressee"]) == ("city-return", "S0002")
    assert [i["personal_id"] for i in manifest["items"]] == [last]
    from core.access import queries as access_queries

    trail, _ = access_queries.audit_trail(demo.db, actor(demo.db, "so.giamsat"), action="package.export.city-return",
                                          check_chain=False)
    assert list(trail["actor_name"]) == ["so.giamsat"]
    before = received(demo.db)
    _upload(page, demo, returned, f"Đã nhập 1 học bạ từ {manifest['school_code']}")
    assert received(demo.db) == before + 1
    assert page.errors == []
