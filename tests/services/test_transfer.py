"""Transfer packages between schools (tampering refused) and the handover of a leaving teacher."""
import datetime as dt
import io
import json
import zipfile

import pytest
from sqlalchemy import func, select

from core.access.authz import SYSTEM
from core.kernel.errors import PackageRejected, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.entries import generate_week, sign_entry
from core.storage.models import LogbookEntry, ReceivedTranscript, SchoolClass, TeachingAssignment
from core.transcripts.transfer import city_return_packages, export_package, handover, import_package
from tests.services.test_transcripts import issue_all, school  # noqa: F401 - the fixture
from tests.world import MONDAY


def rebuild(package: bytes, change) -> bytes:
    files = {}
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        for name in zf.namelist():
            files[name] = zf.read(name)
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def package(school):  # noqa: F811
    issue_all(school)
    return export_package(school.db, school.actor("binh"), school.ids["A"], school.seal,
                          student_ids=[school.ids["student0"]], to="B01")


def received(w):
    with w.db.reading() as s:
        return s.scalar(select(func.count()).select_from(ReceivedTranscript))


def test_export_then_import_at_the_receiving_school(school, package, trust):  # noqa: F811
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(package)).read("manifest.json"))
    assert manifest["format"] == "sohoa.transcript-package/2" and len(manifest["items"]) == 1
    assert manifest["addressee"] == "B01" and len(manifest["package_id"]) == 32
    outcome = import_package(school.db, school.actor("dung"), school.ids["B"], package, trust)
    assert (outcome.imported, outcome.already_imported) == (1, False)
    assert received(school) == 1
    again = import_package(school.db, school.actor("dung"), school.ids["B"], package, trust)  # idempotent
    assert (again.imported, again.already_imported) == (0, True) and "đã được nhập" in again.message_vi
    assert received(school) == 1


def test_export_needs_the_principal_and_the_schools_seal(school, package):  # noqa: F811
    with pytest.raises(PermissionDenied):
        export_package(school.db, school.actor("lan"), school.ids["A"], school.seal, student_ids=[1], to="B01")
    with pytest.raises(PermissionDenied, match="seal"):
        export_package(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"),
                       student_ids=[school.ids["student0"]], to="B01")
    with pytest.raises(RuleViolation, match="receiving school"):
        export_package(school.db, school.actor("binh"), school.ids["A"], school.seal,
                       student_ids=[school.ids["student0"]])


def _flip_pdf(files):
    name = next(n for n in files if n.endswith(".pdf"))
    data = bytearray(files[name])
    data[len(data) // 3] ^= 1
    files[name] = bytes(data)


def _forge_manifest(files):
    manifest = json.loads(files["manifest.json"])
    manifest["items"][0]["full_name"] = "Người Khác"
    files["manifest.json"] = json.dumps(manifest).encode()


@pytest.mark.parametrize("change,reason", [
    (_flip_pdf, "does not match the manifest"),
    (_forge_manifest, "HASH_FAILURE"),
    (lambda files: files.pop("manifest.p7s"), "manifest.p7s is missing"),
])
def test_tampered_packages_are_refused_whole(school, package, trust, change, reason):  # noqa: F811
    with pytest.raises(PackageRejected, match=reason):
        import_package(school.db, school.actor("dung"), school.ids["B"], rebuild(package, change), trust)
    assert received(school) == 0


def test_a_pdf_swapped_with_a_matching_hash_still_fails_its_signatures(school, package, trust):  # noqa: F811
    """Even if someone rewrote the manifest's hash, the seal over the manifest breaks."""
    def swap(files):
        _flip_pdf(files)
        manifest = json.loads(files["manifest.json"])
        import hashlib
        name = next(n for n in files if n.endswith(".pdf"))
        manifest["items"][0]["sha256"] = hashlib.sha256(files[name]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(PackageRejected):
        import_package(school.db, school.actor("dung"), school.ids["B"], rebuild(package, swap), trust)
    assert received(school) == 0


def test_handover_moves_unsigned_duties_only(world):
    w, ids = world, world.ids
    generate_week(w.db, SYSTEM, ids["A"], ids["week1"])
    with w.db.transaction() as s:
        s.add(TeachingAssignment(class_id=ids["6A1"], subject_id=ids["subj:TOAN"], teacher_id=ids["lan"],
                                 valid_from=dt.date(2025, 9, 1)))
    signed = w.entry("6A1", MONDAY, 1)
    sign_entry(w.db, w.actor("lan"), signed, w.signer("lan"), at=dt.datetime.combine(MONDAY, dt.time(7, 30)))
    with pytest.raises(PermissionDenied):
        handover(w.db, w.actor("lan"), ids["lan"], ids["ha"], "nghỉ hưu")
    moved = handover(w.db, w.actor("binh"), ids["lan"], ids["ha"], "Cô Lan nghỉ thai sản", effective=MONDAY)
    assert moved == {"periods": 3, "teaching_assignments": 1, "homeroom_classes": 1}
    with w.db.reading() as s:
        assert s.get(LogbookEntry, signed).teacher_id == ids["lan"]  # what she signed stays hers
        assert s.get(LogbookEntry, signed).status == EntryStatus.ON_TIME
        assert s.get(SchoolClass, ids["6A1"]).homeroom_teacher_id == ids["ha"]
        assert s.scalar(select(func.count()).select_from(LogbookEntry).where(
            LogbookEntry.teacher_id == ids["lan"], LogbookEntry.status == EntryStatus.PENDING)) == 0


def test_city_push_then_return_to_the_admitting_school(school, trust):  # noqa: F811
    """Grade 5 → grade 6: school A pushes its cohort to the city; after admissions the
    department returns each admitted student's transcript to the admitting school, which
    verifies the issuing school's own signatures before recording it."""
    issue_all(school)
    ids = school.ids
    pushed = export_package(school.db, school.actor("binh"), ids["A"], school.seal,
                            student_ids=[ids["student0"], ids["student1"]], purpose="city-push")
    pushed_manifest = json.loads(zipfile.ZipFile(io.BytesIO(pushed)).read("manifest.json"))
    assert (pushed_manifest["purpose"], pushed_manifest["addressee"]) == ("city-push", "SGD79")
    school.pki.issue_seal("sgd", "Sở GD&ĐT TP. Hồ Chí Minh", identifier="MDV:SGD79")  # the department's seal (VGCA)
    department = school.keys.signer_for("sgd")
    with school.db.reading() as s:
        from core.storage.models import School, Student
        pids = {sid: s.get(Student, sid).personal_id for sid in (ids["student0"], ids["student1"])}
        code_b = s.get(School, ids["B"]).code
    with pytest.raises(PermissionDenied):
        city_return_packages(school.db, school.actor("binh"), [pushed], {pids[ids["student0"]]: code_b}, department,
                             trust, department_code="SGD79")
    # only student0 was admitted (to B); student1 went elsewhere
    returned = city_return_packages(school.db, school.actor("so"), [pushed], {pids[ids["student0"]]: code_b},
                                    department, trust, department_code="SGD79")
    assert list(returned) == [code_b]
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(returned[code_b])).read("manifest.json"))
    assert manifest["purpose"] == "city-return" and manifest["addressee"] == code_b
    assert [i["personal_id"] for i in manifest["items"]] == [pids[ids["student0"]]]
    with pytest.raises(PackageRejected, match="addressed to B01, not to A01"):
        import_package(school.db, school.actor("binh"), ids["A"], returned[code_b], trust)
    assert import_package(school.db, school.actor("dung"), ids["B"], returned[code_b], trust).imported == 1
    with school.db.reading() as s:
        row = s.scalar(select(ReceivedTranscript))
        assert row.from_school_code == "A01" and row.receiving_school_id == ids["B"]
    # a return built from a tampered push is refused at the city already
    tampered = rebuild(pushed, lambda f: f.update({"manifest.json": f["manifest.json"].replace(b"city-push",
                                                                                               b"city-push ")}))
    with pytest.raises(PackageRejected):
        city_return_packages(school.db, school.actor("so"), [tampered], {}, department, trust,
                             department_code="SGD79")


def test_a_school_cannot_forge_a_city_return(school, trust):  # noqa: F811
    issue_all(school)
    with pytest.raises(RuleViolation):
        export_package(school.db, school.actor("binh"), school.ids["A"], school.seal,
                       student_ids=[school.ids["student0"]], to="B01", purpose="city-return")


def test_exportable_students_are_those_with_issued_transcripts_for_the_principal_only(school):  # noqa: F811
    from core.transcripts.transfer import exportable_students

    assert exportable_students(school.db, school.actor("binh"), school.ids["A"]) == []  # nothing issued yet
    issue_all(school)
    listed = exportable_students(school.db, school.actor("binh"), school.ids["A"])
    assert school.ids["student0"] in [s.student_id for s in listed]
    assert all(s.transcripts >= 1 and s.personal_id for s in listed)
    with pytest.raises(PermissionDenied):
        exportable_students(school.db, school.actor("lan"), school.ids["A"])


def test_admissions_are_parsed_or_refused_naming_the_line():
    from core.transcripts.transfer import parse_admissions

    assert parse_admissions("079213000001, S0002\n\n079213000002;S0003\n079213000003\tS0002 ") == {
        "079213000001": "S0002", "079213000002": "S0003", "079213000003": "S0002"}
    for text, line in [("079213000001 S0002\n07921300000, S0002", "Dòng 2"), ("", "Chưa có"),
                       ("079213000001,S0002\n079213000001,S0003", "hai trường")]:
        with pytest.raises(RuleViolation) as refused:
            parse_admissions(text)
        assert line in refused.value.message_vi


def test_the_department_returns_from_the_console_audited(school, trust):  # noqa: F811
    """The console's path: the actor's own department, admissions as typed, one bundle of one
    package per admitting school, an audit event; a school's principal is refused."""
    from sqlalchemy import select as sa_select

    from core.storage.models import AuditEvent, Department, School, Student
    from core.transcripts.transfer import department_city_return

    issue_all(school)
    ids = school.ids
    pushed = export_package(school.db, school.actor("binh"), ids["A"], school.seal,
                            student_ids=[ids["student0"], ids["student1"]], purpose="city-push")
    with school.db.reading() as s:
        code = s.scalar(sa_select(Department.code).where(Department.id == school.actor("so").department_id))
        pid = s.get(Student, ids["student0"]).personal_id
        code_b = s.get(School, ids["B"]).code
    school.pki.issue_seal("sgd", "Sở GD&ĐT", identifier=f"MDV:{code}")
    department = school.keys.signer_for("sgd")
    with pytest.raises(PermissionDenied):
        department_city_return(school.db, school.actor("binh"), [pushed], f"{pid},{code_b}", department, trust)
    from core.kernel.errors import NotFound
    with pytest.raises(NotFound, match="ZZ99"):
        department_city_return(school.db, school.actor("so"), [pushed], f"{pid},ZZ99", department, trust)
    bundle, counts = department_city_return(school.db, school.actor("so"), [pushed], f"{pid}, {code_b}",
                                            department, trust)
    assert counts == {code_b: 1}
    inner = zipfile.ZipFile(io.BytesIO(bundle)).read(f"{code_b}.zip")
    assert import_package(school.db, school.actor("dung"), ids["B"], inner, trust).imported == 1
    with school.db.reading() as s:
        assert s.scalar(sa_select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "package.export.city-return")) == 1
