"""Import templates (nhập dữ liệu): each example imports; one bad row anywhere imports nothing
and the error names the file, row, column and reason; Excel works like CSV; permissions and
scope hold; a failure while writing leaves nothing behind. Runs on SQLite and PostgreSQL."""
import csv
import datetime as dt
import types
import unicodedata
from pathlib import Path

import pytest
from sqlalchemy import func, select

import core.school.importer as importer
from core.access.authz import SYSTEM, Actor
from core.kernel.errors import ImportRejected, PermissionDenied, RuleViolation
from core.kernel.vocabulary import Role
from core.school.importer import KINDS, ImportProblem, import_file
from core.storage.models import (
    AuditEvent,
    BellPeriod,
    CurriculumLoad,
    Department,
    District,
    Enrolment,
    School,
    SchoolClass,
    SchoolYear,
    Staff,
    StaffAssignment,
    Student,
    Subject,
    TimetableSlot,
    TimetableVersion,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "core" / "templates"
TABLES = (Department, District, School, Subject, CurriculumLoad, BellPeriod, Staff, StaffAssignment, SchoolClass,
          Student, Enrolment, TimetableVersion, TimetableSlot, AuditEvent)


@pytest.fixture
def base(db):
    return with_department(db)


def with_department(db):
    """A department (Sở GD&ĐT TP.HCM) and its school year 2025-2026."""
    with db.transaction() as s:
        dep = Department(code="SGD79", name="Sở GD&ĐT TP. Hồ Chí Minh", province_code="079")
        s.add(dep)
        s.flush()
        s.add(SchoolYear(department_id=dep.id, name="2025-2026", start_date=dt.date(2025, 9, 8),
                         end_date=dt.date(2026, 5, 31)))
    return db


def load(db, *kinds):
    for kind in kinds:
        import_file(db, SYSTEM, kind, TEMPLATES / f"{kind}.csv")


def count(db, model, *where):
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def counts(db) -> dict[str, int]:
    return {model.__tablename__: count(db, model) for model in TABLES}


def school_id(db, code):
    with db.reading() as s:
        return s.scalar(select(School.id).where(School.code == code))


def template_rows(name: str) -> list[dict]:
    with (TEMPLATES / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def changed(path: Path, source: str, change) -> Path:
    """Copy a template with its rows changed by ``change(rows)`` (rows[0] is spreadsheet row 2)."""
    rows = template_rows(source)
    change(rows)
    return write_csv(path, rows)


def problems_of(err) -> str:
    return "\n".join(str(p) for p in err.value.problems)


# ---------------------------------------------------------------- the examples import
EXPECTED = {
    "schools": {"schools": 2, "districts": 1},
    "subjects": {"subjects": 3, "curriculum_loads": 4},
    "bells": {"bell_periods": 3},
    "staff": {"staff": 3, "staff_assignments": 5},
    "classes": {"classes": 2},
    "students": {"students": 4, "enrolments": 4},
    "timetable": {"timetable_versions": 1, "timetable_slots": 5},
}


def test_every_template_imports_in_order(base):
    assert tuple(EXPECTED) == KINDS
    for kind in KINDS:
        result = import_file(base, SYSTEM, kind, TEMPLATES / f"{kind}.csv")
        assert (result.kind, result.file, result.created) == (kind, f"{kind}.csv", EXPECTED[kind])
        assert result.rows_imported == len(template_rows(f"{kind}.csv"))
    assert (count(base, District), count(base, School)) == (1, 2)
    assert (count(base, Subject), count(base, CurriculumLoad)) == (3, 4)
    assert (count(base, BellPeriod), count(base, Staff), count(base, StaffAssignment)) == (3, 3, 5)
    assert (count(base, SchoolClass), count(base, Student), count(base, Enrolment)) == (2, 4, 4)
    assert (count(base, TimetableVersion), count(base, TimetableSlot)) == (1, 5)
    with base.reading() as s:
        t001 = s.scalar(select(School).where(School.code == "T001"))
        assert (t001.name, t001.level.value, t001.ownership.value) == ("Trường THCS Lê Quý Đôn", "lower_secondary",
                                                                       "public")
        assert s.scalar(select(District.name)) == "Quận 3"
        # DD/MM/YYYY (the Vietnamese habit) and YYYY-MM-DD both read as the same kind of date
        assert s.scalar(select(Student.birth_date).where(Student.personal_id == "079313000002")) == dt.date(2013, 7, 21)
        assert s.scalar(select(Student.sex).where(Student.personal_id == "001213000003")).value == "M"  # "Nam"
        assert set(s.scalars(select(StaffAssignment.valid_from))) == {dt.date(2025, 9, 1)}
        lan = s.scalar(select(Staff).where(Staff.code == "T001-GV01"))
        klass = s.scalar(select(SchoolClass).where(SchoolClass.name == "6A1"))
        assert klass.homeroom_teacher_id == lan.id and klass.grade == 6
        version = s.scalar(select(TimetableVersion))
        assert version.effective_from == dt.date(2025, 10, 13)
        # Thứ Hai and 2 are both Monday (1); Thứ 3 is Tuesday (2)
        assert sorted(s.execute(select(TimetableSlot.weekday, TimetableSlot.period_no)
                                .where(TimetableSlot.class_id == klass.id)).all()) == [(1, 1), (1, 2), (2, 3)]


def test_each_import_writes_one_audit_event_with_its_counts(base):
    load(base, "schools", "subjects", "bells", "staff", "classes", "students")
    with base.reading() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action.like("import.%"))
                           .order_by(AuditEvent.id)).all()
        assert [e.action for e in events] == ["import.schools", "import.subjects", "import.bells", "import.staff",
                                              "import.classes", "import.students"]
        students = events[-1]
        assert students.after == {"file": "students.csv", "rows": 4, "students": 4, "enrolments": 4}
        assert (students.actor_name, students.entity, students.entity_id) == ("system", "import", "students.csv")
        assert students.school_id == school_id(base, "T001")  # every row is T001's: on that school's chain
        assert events[0].school_id is None and events[0].after["schools"] == 2


# ---------------------------------------------------------------- one bad row imports nothing
def set_cell(row, column, value):
    def change(rows):
        rows[row - 2][column] = value
    return change


def keep_only_row_as_is(row):
    """Give every student a new personal ID except the one on ``row`` (already imported)."""
    def change(rows):
        for i, r in enumerate(rows, start=2):
            if i != row:
                r["personal_id"] = r["personal_id"][:-3] + "9" + r["personal_id"][-2:]
    return change


PEOPLE = ("schools", "staff", "classes")
BEFORE_TIMETABLE = ("schools", "subjects", "bells", "staff", "classes")
CASES = [
    pytest.param("students", PEOPLE, set_cell(3, "personal_id", "079213000002"),
                 "students.csv row 3, column personal_id: personal ID 079213000002: century/sex digit 2 does not match "
                 "sex F born 2013 (expected 3)", id="bad-personal-id-sex"),
    pytest.param("students", PEOPLE, set_cell(2, "personal_id", "079218000001"),
                 "students.csv row 2, column personal_id: personal ID 079218000001: year digits 18 do not match birth "
                 "year 2013", id="bad-personal-id-year"),
    pytest.param("students", PEOPLE, set_cell(4, "class_name", "9Z9"),
                 "students.csv row 4, column class_name: unknown class '9Z9' in school T001 (2025-2026)",
                 id="unknown-class"),
    pytest.param("staff", ("schools",), set_cell(4, "school_code", "X999"),
                 "staff.csv row 4, column school_code: unknown school 'X999'", id="unknown-school"),
    pytest.param("classes", ("schools", "staff"), set_cell(3, "homeroom_staff_code", "T001-GV99"),
                 "classes.csv row 3, column homeroom_staff_code: unknown staff 'T001-GV99'", id="unknown-staff"),
    pytest.param("classes", ("schools", "staff"), set_cell(3, "school_code", "T002"),
                 "classes.csv row 3, column homeroom_staff_code: staff T001-GV02 is not on the staff of school T002",
                 id="homeroom-of-another-school"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(6, "subject_code", "CS-HOA"),
                 "timetable.csv row 6, column subject_code: unknown subject 'CS-HOA'", id="unknown-subject"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(4, "teacher_staff_code", "T001-HT9"),
                 "timetable.csv row 4, column teacher_staff_code: unknown staff 'T001-HT9'", id="unknown-teacher"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(5, "teacher_staff_code", "T001-GV02"),
                 "timetable.csv row 5, column teacher_staff_code: timetable conflict with row 3: teacher Trần Văn Minh "
                 "cannot teach two classes in the same slot: 6A1 Thứ Hai tiết 2 (Ngữ văn, Trần Văn Minh) and "
                 "6A2 Thứ Hai tiết 2 (Toán, Trần Văn Minh)", id="conflict-teacher"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(3, "period_no", "1"),
                 "timetable.csv row 3, column class_name: timetable conflict with row 2: class 6A1 cannot have two "
                 "lessons in the same slot", id="conflict-class"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(2, "effective_from", "2025-10-14"),
                 "timetable.csv row 2, column effective_from: 14/10/2025 is a Tuesday (Thứ Ba), not a Monday",
                 id="not-a-monday"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(4, "period_no", "9"),
                 "timetable.csv row 4, column period_no: period 9 is not in the bell schedule of school T001",
                 id="period-not-in-bells"),
    pytest.param("students", PEOPLE, set_cell(5, "personal_id", "079213000001"),
                 "students.csv row 5, column personal_id: duplicate: personal ID 079213000001 appears twice in "
                 "the file",
                 id="duplicate-in-file"),
    pytest.param("students", (*PEOPLE, "students"), keep_only_row_as_is(3),
                 "students.csv row 3, column personal_id: duplicate: personal ID 079313000002 already exists",
                 id="duplicate-in-db"),
    pytest.param("schools", ("schools",), set_cell(2, "school_code", "T003"),
                 "schools.csv row 3, column school_code: duplicate: school T002 already exists",
                 id="duplicate-school-in-db"),
    pytest.param("subjects", (), set_cell(3, "grade", "6"),
                 "subjects.csv row 3, column grade: duplicate: subject CS-TOAN grade 6 appears twice in the file",
                 id="duplicate-subject-grade"),
    pytest.param("students", PEOPLE, set_cell(2, "birth_date", "2013.03.14"),
                 "students.csv row 2, column birth_date: wrong date format '2013.03.14' (use YYYY-MM-DD or DD/MM/YYYY)",
                 id="wrong-date-format"),
    pytest.param("staff", ("schools",), set_cell(3, "valid_from", "09-01-2025"),
                 "staff.csv row 3, column valid_from: wrong date format '09-01-2025'", id="wrong-date-format-us"),
    pytest.param("students", PEOPLE, set_cell(5, "enrolled_from", "31/02/2025"),
                 "students.csv row 5, column enrolled_from: '31/02/2025' is not a calendar date", id="impossible-date"),
    pytest.param("classes", ("schools", "staff"), set_cell(2, "homeroom_staff_code", ""),
                 "classes.csv row 2, column homeroom_staff_code: a value is required", id="missing-value"),
    pytest.param("students", PEOPLE, set_cell(4, "full_name", "  "),
                 "students.csv row 4, column full_name: a value is required", id="missing-value-blank"),
    pytest.param("staff", ("schools",), set_cell(6, "role", "janitor"),
                 "staff.csv row 6, column role: 'janitor' is not one of teacher, homeroom_teacher, principal, "
                 "vice_principal, school_monitor, clerk", id="bad-enum-role"),
    pytest.param("students", PEOPLE, set_cell(3, "sex", "X"),
                 "students.csv row 3, column sex: 'X' is not one of M, F, Nam, Nữ", id="bad-enum-sex"),
    pytest.param("schools", (), set_cell(2, "level", "university"),
                 "schools.csv row 2, column level: 'university' is not one of primary, lower_secondary, "
                 "upper_secondary, multi_level", id="bad-enum-level"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(6, "weekday", "Chủ Nhật"),
                 "timetable.csv row 6, column weekday: 'Chủ Nhật' is not one of 2, 3, 4, 5, 6, 7, Thứ Hai",
                 id="bad-enum-weekday-sunday"),
    pytest.param("classes", ("schools", "staff"), set_cell(3, "grade", "sáu"),
                 "classes.csv row 3, column grade: 'sáu' is not a whole number", id="not-an-integer"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(4, "period_no", "1.5"),
                 "timetable.csv row 4, column period_no: '1.5' is not a whole number", id="not-an-integer-period"),
    pytest.param("subjects", (), set_cell(4, "periods_per_year", "nhiều"),
                 "subjects.csv row 4, column periods_per_year: 'nhiều' is not a whole number",
                 id="not-an-integer-load"),
    pytest.param("classes", ("schools", "staff"), set_cell(2, "grade", "10"),
                 "classes.csv row 2, column grade: grade 10 is not taught at school T001 (lower_secondary)",
                 id="grade-outside-school-level"),
    pytest.param("staff", ("schools",), set_cell(2, "email", "lan at lqd"),
                 "staff.csv row 2, column email: 'lan at lqd' is not an e-mail address", id="bad-email"),
]


@pytest.mark.parametrize("kind,needs,change,expected", CASES)
def test_one_bad_row_imports_nothing(base, tmp_path, kind, needs, change, expected):
    load(base, *needs)
    before = counts(base)
    bad = changed(tmp_path / f"{kind}.csv", f"{kind}.csv", change)
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, kind, bad)
    assert expected in problems_of(err), problems_of(err)
    assert str(err.value).endswith("nothing was imported")
    assert all(isinstance(p, ImportProblem) and p.file == f"{kind}.csv" for p in err.value.problems)
    # every reason has its Vietnamese text too, and the refusal's Vietnamese message is the first one's
    assert all(p.reason_vi and p.reason_vi != p.reason for p in err.value.problems), err.value.problems
    assert err.value.message_vi.startswith(f"Tệp có lỗi, chưa nhập gì: {err.value.problems[0].vi()}")
    assert counts(base) == before


VIETNAMESE = [
    pytest.param("students", PEOPLE, set_cell(3, "sex", "X"),
                 "students.csv dòng 3, cột sex: 'X' không phải một trong các giá trị M, F, Nam, Nữ", id="sex"),
    pytest.param("students", PEOPLE, set_cell(4, "class_name", "9Z9"),
                 "students.csv dòng 4, cột class_name: trường T001 không có lớp '9Z9' (năm học 2025-2026)",
                 id="unknown-class"),
    pytest.param("students", PEOPLE, set_cell(2, "birth_date", "2013.03.14"),
                 "students.csv dòng 2, cột birth_date: sai định dạng ngày '2013.03.14' (viết YYYY-MM-DD hoặc "
                 "DD/MM/YYYY)", id="date"),
    pytest.param("classes", ("schools", "staff"), set_cell(2, "grade", "10"),
                 "classes.csv dòng 2, cột grade: trường T001 (trung học cơ sở) không dạy khối 10", id="grade"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(2, "effective_from", "2025-10-14"),
                 "timetable.csv dòng 2, cột effective_from: ngày 14/10/2025 là Thứ Ba, không phải Thứ Hai",
                 id="not-a-monday"),
    pytest.param("timetable", BEFORE_TIMETABLE, set_cell(5, "teacher_staff_code", "T001-GV02"),
                 "timetable.csv dòng 5, cột teacher_staff_code: trùng lịch với dòng 3: giáo viên Trần Văn Minh "
                 "không thể dạy hai lớp trong cùng một tiết", id="conflict"),
    pytest.param("schools", ("schools",), set_cell(2, "school_code", "T003"),
                 "schools.csv dòng 3, cột school_code: trùng: trường T002 đã có", id="duplicate"),
]


@pytest.mark.parametrize("kind,needs,change,expected", VIETNAMESE)
def test_each_rows_reason_is_given_in_vietnamese_too(base, tmp_path, kind, needs, change, expected):
    """The console shows the Vietnamese (the refusal's ``message_vi``); the problem carries both."""
    load(base, *needs)
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, kind, changed(tmp_path / f"{kind}.csv", f"{kind}.csv", change))
    assert expected in "\n".join(p.vi() for p in err.value.problems)
    assert expected in err.value.message_vi
    from api.errors import refusal  # the API answers it as every refusal: both languages

    status, body, _ = refusal(err.value)
    assert status == 400 and body["error"]["message_vi"] == err.value.message_vi
    assert body["error"]["message"] == err.value.message and expected not in body["error"]["message"]
    first = err.value.problems[0]
    assert first.as_dict() == {"file": first.file, "row": first.row, "column": first.column, "reason": first.reason,
                               "reason_vi": first.reason_vi}


def test_a_file_that_cannot_be_read_is_refused_in_vietnamese_too(base, tmp_path):
    legacy = tmp_path / "students.csv"
    legacy.write_bytes((TEMPLATES / "students.csv").read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", legacy)
    assert err.value.message_vi.startswith("Tệp có lỗi, chưa nhập gì: students.csv: tệp không phải văn bản UTF-8")


def test_every_reason_the_importer_writes_has_its_vietnamese_text():
    """Every place that reports a problem passes both texts (a static walk, so that a reason no
    test reaches is covered too): ``ImportProblem(file, row, column, reason, reason_vi)``,
    ``problem(row, column, reason, reason_vi)`` and ``bad(column, reason, reason_vi)``."""
    import ast

    source = Path(importer.__file__)
    wants = {"ImportProblem": 5, "problem": 4, "bad": 3}
    short = []
    found = 0
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in wants:
                found += 1
                if len(node.args) + len(node.keywords) != wants[name]:
                    short.append(f"{source.name}:{node.lineno} {name}")
    assert found > 40 and short == [], short


def test_the_command_line_shows_a_bad_rows_reason_in_both_languages(tmp_path):
    """``sohoa import`` prints each problem in Vietnamese, then in English, and imports nothing."""
    import os
    import subprocess
    import sys

    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    with_department(db)
    db.engine.dispose()
    bad = changed(tmp_path / "schools.csv", "schools.csv", set_cell(3, "level", "đại học"))
    done = subprocess.run([sys.executable, "-m", "core.cli", "import", "schools", str(bad), "--user", "system"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "SOHOA_DATABASE_URL": url, "SOHOA_DATA_DIR": str(tmp_path / "var"),
                               "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("chưa nhập gì: tệp có 1 lỗi / import rejected, nothing was imported"), lines
    assert lines[1] == ("  schools.csv dòng 3, cột level: 'đại học' không phải một trong các giá trị primary, "
                        "lower_secondary, upper_secondary, multi_level"), lines
    assert lines[2] == ("    schools.csv row 3, column level: 'đại học' is not one of primary, lower_secondary, "
                        "upper_secondary, multi_level"), lines
    db = Database(make_engine(url))
    assert count(db, School) == 0
    db.engine.dispose()


def test_every_problem_is_listed_not_only_the_first(base, tmp_path):
    load(base, *PEOPLE)

    def two(rows):
        rows[0]["personal_id"] = "12345"
        rows[2]["sex"] = "X"
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", changed(tmp_path / "students.csv", "students.csv", two))
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "personal_id"), (4, "sex")]
    assert str(err.value).startswith("students.csv row 2, column personal_id: personal ID '12345' must be exactly 12")
    assert "(and 1 more problems)" in str(err.value)
    assert count(base, Student) == 0


def test_a_missing_column_is_reported_once_on_the_header(base, tmp_path):
    load(base, *PEOPLE)
    rows = [{k: v for k, v in r.items() if k != "enrolled_from"} for r in template_rows("students.csv")]
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", write_csv(tmp_path / "students.csv", rows))
    assert [str(p) for p in err.value.problems] == [
        "students.csv row 1, column enrolled_from: missing column in the header"]


def test_row_numbers_are_the_spreadsheets_even_with_blank_rows(base, tmp_path):
    load(base, *PEOPLE)
    lines = (TEMPLATES / "students.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("6A2", "6B9")  # spreadsheet row 4
    path = tmp_path / "students.csv"
    path.write_text("\n".join([lines[0], lines[1], "", ",,,,,,", *lines[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", path)
    assert [str(p) for p in err.value.problems] == [
        "students.csv row 6, column class_name: unknown class '6B9' in school T001 (2025-2026)"]


def test_vietnamese_words_in_any_unicode_form_and_semicolons(base, tmp_path):
    """Excel with Vietnamese regional settings separates with ';'; some keyboards type decomposed
    (NFD) letters. Both read the same as the template."""
    load(base, *BEFORE_TIMETABLE)
    rows = template_rows("timetable.csv")
    rows[4]["weekday"] = unicodedata.normalize("NFD", "Thứ Bảy")
    path = tmp_path / "tkb.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    assert import_file(base, SYSTEM, "timetable", path).created == EXPECTED["timetable"]
    with base.reading() as s:
        assert s.scalar(select(TimetableSlot.weekday).where(TimetableSlot.period_no == 3)) == 6


def test_files_that_cannot_be_read_are_rejected_as_a_whole(base, tmp_path):
    load(base, *PEOPLE)
    legacy = tmp_path / "students.csv"
    legacy.write_bytes((TEMPLATES / "students.csv").read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", legacy)
    assert problems_of(err).startswith("students.csv: the file is not UTF-8 text")
    old_excel = tmp_path / "students.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ImportRejected, match=r"students.xls: unsupported file type '.xls'"):
        import_file(base, SYSTEM, "students", old_excel)
    header_only = tmp_path / "empty.csv"
    header_only.write_text((TEMPLATES / "students.csv").read_text(encoding="utf-8").splitlines()[0] + "\n")
    with pytest.raises(ImportRejected, match="empty.csv: the file has no data rows"):
        import_file(base, SYSTEM, "students", header_only)
    assert count(base, Student) == 0


# ---------------------------------------------------------------- Excel
def xlsx_from(source: str, path: Path, edit=None) -> Path:
    from openpyxl import Workbook

    with (TEMPLATES / source).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    book = Workbook()
    for row in rows:
        book.active.append(row)
    if edit:
        edit(book.active)
    book.save(path)
    return path


def test_excel_templates_import_the_same(base, tmp_path):
    load(base, *PEOPLE)

    def real_cells(sheet):
        sheet.cell(row=2, column=3).value = dt.datetime(2013, 3, 14)  # a real Excel date cell
        sheet.cell(row=3, column=1).value = 79313000002  # typed as a number: Excel dropped the leading 0
        sheet.cell(row=5, column=3).value = "30/01/2013"
    result = import_file(base, SYSTEM, "students", xlsx_from("students.csv", tmp_path / "students.xlsx", real_cells))
    assert (result.file, result.rows_imported, result.created) == ("students.xlsx", 4, EXPECTED["students"])
    with base.reading() as s:
        assert s.scalar(select(Student.birth_date).where(Student.personal_id == "079213000001")) == dt.date(2013, 3, 14)
        assert s.scalar(select(func.count()).where(Student.personal_id == "079313000002")) == 1


def test_excel_one_bad_row_imports_nothing(base, tmp_path):
    load(base, *BEFORE_TIMETABLE)
    before = counts(base)

    def bad(sheet):
        sheet.cell(row=3, column=1).value = "07931300000"  # students: 11 digits, as text
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", xlsx_from("students.csv", tmp_path / "bad.xlsx", bad))
    assert [str(p) for p in err.value.problems] == [
        "bad.xlsx row 3, column personal_id: personal ID '07931300000' must be exactly 12 digits"]

    def clash(sheet):
        sheet.cell(row=5, column=7).value = "T001-GV02"  # timetable: a teacher in two classes at once
        sheet.insert_rows(4)  # and a blank row: numbers stay the spreadsheet's
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "timetable", xlsx_from("timetable.csv", tmp_path / "tkb.xlsx", clash))
    assert problems_of(err).startswith("tkb.xlsx row 6, column teacher_staff_code: timetable conflict with row 3: "
                                       "teacher Trần Văn Minh cannot teach two classes in the same slot")
    assert counts(base) == before
    assert import_file(base, SYSTEM, "timetable", xlsx_from("timetable.csv", tmp_path / "ok.xlsx")).created == \
        EXPECTED["timetable"]


# ---------------------------------------------------------------- a failure while writing
def test_a_failure_while_writing_rolls_everything_back(base, tmp_path, monkeypatch):
    """The rows are written group by group; if the service refuses the second timetable
    version, the first one (and its audit event) is rolled back with it."""
    load(base, *BEFORE_TIMETABLE)
    rows = template_rows("timetable.csv")
    rows += [{**r, "effective_from": "20/10/2025"} for r in rows]
    path = write_csv(tmp_path / "timetable.csv", rows)
    before = counts(base)
    real, calls = importer.publish_timetable_in, []

    def refuse_the_second(session, actor, school_id, monday, slots, note=None):
        calls.append(monday)
        if len(calls) == 2:
            raise RuleViolation("refused by the service")
        return real(session, actor, school_id, monday, slots, note)
    monkeypatch.setattr(importer, "publish_timetable_in", refuse_the_second)
    with pytest.raises(ImportRejected, match="timetable.csv: refused while writing: refused by the service"):
        import_file(base, SYSTEM, "timetable", path)
    assert len(calls) == 2 and counts(base) == before
    monkeypatch.setattr(importer, "publish_timetable_in", real)
    assert import_file(base, SYSTEM, "timetable", path).created == {"timetable_versions": 2, "timetable_slots": 10}


def test_a_crash_after_the_rows_are_written_rolls_them_back(base, monkeypatch):
    load(base, *PEOPLE)
    before = counts(base)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(importer, "audit", types.SimpleNamespace(record=crash))
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(base, SYSTEM, "students", TEMPLATES / "students.csv")
    assert counts(base) == before


# ---------------------------------------------------------------- permission and scope
def test_roles_without_import_rights_are_refused(base):
    load(base, "schools")
    monitor = Actor(user_id=1, username="gs", role=Role.SCHOOL_MONITOR, school_ids=frozenset({school_id(base, "T001")}))
    before = counts(base)
    for kind in ("schools", "staff", "students"):
        with pytest.raises(PermissionDenied):
            import_file(base, monitor, kind, TEMPLATES / f"{kind}.csv")
    assert counts(base) == before


def test_a_principal_imports_only_for_their_school(base, tmp_path):
    load(base, "schools", "staff")
    principal = Actor(user_id=1, username="ht", role=Role.PRINCIPAL, school_ids=frozenset({school_id(base, "T002")}))
    with pytest.raises(ImportRejected) as err:
        import_file(base, principal, "classes", TEMPLATES / "classes.csv")
    assert [str(p) for p in err.value.problems] == [
        "classes.csv row 2, column school_code: school T001 is outside your scope",
        "classes.csv row 3, column school_code: school T001 is outside your scope"]

    def new_codes(rows):
        rows[0]["school_code"], rows[1]["school_code"] = "T005", "T006"
    with pytest.raises(ImportRejected, match="schools.csv row 2, column school_code: school T005 is outside your "
                                             r"scope \(schools are added by the department\)"):
        import_file(base, principal, "schools", changed(tmp_path / "schools.csv", "schools.csv", new_codes))
    assert count(base, SchoolClass) == 0


def test_a_clerk_imports_their_school_but_may_not_publish_a_timetable(base):
    load(base, "schools", "subjects", "bells")
    clerk = Actor(user_id=1, username="vt", role=Role.CLERK, school_ids=frozenset({school_id(base, "T001")}))
    assert import_file(base, clerk, "staff", TEMPLATES / "staff.csv").created == EXPECTED["staff"]
    with base.reading() as s:
        assert s.scalar(select(AuditEvent.school_id).where(AuditEvent.action == "import.staff")) == \
            school_id(base, "T001")
    import_file(base, clerk, "classes", TEMPLATES / "classes.csv")
    with pytest.raises(PermissionDenied, match="publish_timetable"):
        import_file(base, clerk, "timetable", TEMPLATES / "timetable.csv")
    with pytest.raises(ImportRejected, match="subjects.csv: the subject catalogue is outside your scope"):
        import_file(base, clerk, "subjects", TEMPLATES / "subjects.csv")


def test_a_department_supervisor_adds_schools_to_their_own_department(base, tmp_path):
    with base.transaction() as s:
        other = Department(code="SGD01", name="Sở GD&ĐT Hà Nội", province_code="001")
        s.add(other)
        s.flush()
        other_id = other.id
        own_id = s.scalar(select(Department.id).where(Department.code == "SGD79"))
    supervisor = Actor(user_id=1, username="so", role=Role.DEPARTMENT_SUPERVISOR, school_ids=frozenset(),
                       department_id=own_id)
    with pytest.raises(ImportRejected, match=f"schools.csv: department {other_id} is outside your scope"):
        import_file(base, supervisor, "schools", TEMPLATES / "schools.csv", department_id=other_id)
    with pytest.raises(ImportRejected, match="several departments exist"):
        import_file(base, SYSTEM, "schools", TEMPLATES / "schools.csv")
    assert count(base, School) == 0
    assert import_file(base, supervisor, "schools", TEMPLATES / "schools.csv").created == EXPECTED["schools"]
    with base.reading() as s:
        assert s.scalar(select(District.department_id)) == own_id
    # a Hà Nội school may not join the HCMC district Q3
    path = changed(tmp_path / "schools.csv", "schools.csv", lambda rows: rows[0].update(school_code="T901"))
    with pytest.raises(ImportRejected, match="row 2, column district_code: district Q3 belongs to another department"):
        import_file(base, SYSTEM, "schools", path, department_id=other_id)


def test_classes_go_to_the_school_year_given(base, tmp_path):
    load(base, "schools", "staff")
    with base.transaction() as s:
        dep = s.scalar(select(Department.id))
        old = SchoolYear(department_id=dep, name="2024-2025", start_date=dt.date(2024, 9, 5),
                         end_date=dt.date(2025, 5, 31))
        s.add(old)
        s.flush()
        old_id = old.id
    with pytest.raises(ImportRejected, match="classes.csv: there is no school year 99999"):
        import_file(base, SYSTEM, "classes", TEMPLATES / "classes.csv", school_year_id=99999)
    import_file(base, SYSTEM, "classes", TEMPLATES / "classes.csv", school_year_id=old_id)
    import_file(base, SYSTEM, "classes", TEMPLATES / "classes.csv")  # the latest year: 2025-2026
    assert count(base, SchoolClass, SchoolClass.school_year_id == old_id) == 2
    assert count(base, SchoolClass) == 4
    with pytest.raises(ImportRejected, match="duplicate: class 6A1 of school T001 already exists in 2025-2026"):
        import_file(base, SYSTEM, "classes", TEMPLATES / "classes.csv")


def test_reimporting_a_timetable_for_the_same_monday_replaces_that_version(base, tmp_path):
    load(base, *BEFORE_TIMETABLE, "timetable")
    fewer = write_csv(tmp_path / "timetable.csv", template_rows("timetable.csv")[:3])
    assert import_file(base, SYSTEM, "timetable", fewer).created == {"timetable_versions": 1, "timetable_slots": 3}
    assert (count(base, TimetableVersion), count(base, TimetableSlot)) == (1, 3)
    assert count(base, AuditEvent, AuditEvent.action == "import.timetable") == 2


def test_an_import_stopped_midway_leaves_nothing_and_runs_again_once(base, monkeypatch):
    """The staff import writes staff, then their assignments; stopped between the two (the
    process killed, the database gone), nothing of it stays, and running it again imports it once."""
    load(base, *KINDS[:KINDS.index("staff")])
    before = counts(base)
    real, calls = importer.bulk_insert, []

    def dies_on_the_second_write(session, model, rows, *args, **kwargs):
        calls.append(model)
        if len(calls) == 2:
            raise SystemExit("killed")  # not an error the importer could catch and report
        return real(session, model, rows, *args, **kwargs)

    monkeypatch.setattr(importer, "bulk_insert", dies_on_the_second_write)
    with pytest.raises(SystemExit):
        import_file(base, SYSTEM, "staff", TEMPLATES / "staff.csv")
    assert calls[0] is Staff and counts(base) == before
    monkeypatch.setattr(importer, "bulk_insert", real)
    import_file(base, SYSTEM, "staff", TEMPLATES / "staff.csv")
    assert (count(base, Staff), count(base, StaffAssignment)) == (3, 5)
