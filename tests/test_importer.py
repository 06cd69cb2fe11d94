"""Import templates: each example imports; one bad row anywhere imports nothing and the
error names the file, row, column and reason."""
import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.authz import SYSTEM, Actor
from core.errors import ImportRejected, PermissionDenied
from core.importer import KINDS, import_file
from core.storage.models import (
    BellPeriod, Department, Role, School, SchoolClass, SchoolYear, Staff, StaffAssignment, Student, Subject,
    TimetableSlot,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "core" / "templates"


@pytest.fixture
def base(db):
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


def count(db, model):
    with db.reading() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_every_template_imports_in_order(base):
    load(base, *KINDS)
    assert (count(base, School), count(base, Subject), count(base, BellPeriod)) == (2, 3, 3)
    assert (count(base, Staff), count(base, StaffAssignment), count(base, SchoolClass)) == (3, 5, 2)
    assert (count(base, Student), count(base, TimetableSlot)) == (4, 5)


def write_csv(path: Path, source: str, change) -> Path:
    """Copy a template with one row changed by ``change(rows)``."""
    with (TEMPLATES / source).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    change(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def set_cell(row, column, value):
    def change(rows):
        rows[row - 2][column] = value
    return change


CASES = [
    # (kind, prerequisites, change, model counted, expected text)
    ("students", ("schools", "staff", "classes"), set_cell(3, "personal_id", "079213000002"), Student,
     "students.csv row 3, column personal_id: personal ID 079213000002: century/sex digit 2 does not match sex F"),
    ("students", ("schools", "staff", "classes"), set_cell(4, "class_name", "9Z9"), Student,
     "row 4, column class_name: unknown class '9Z9' in school T001"),
    ("students", ("schools", "staff", "classes"), set_cell(5, "personal_id", "079213000001"), Student,
     "row 5, column personal_id: duplicate: personal ID 079213000001 appears twice in the file"),
    ("students", ("schools", "staff", "classes"), set_cell(2, "birth_date", "2013.03.14"), Student,
     "row 2, column birth_date: wrong date format '2013.03.14'"),
    ("staff", ("schools",), set_cell(4, "school_code", "X999"), Staff, "row 4, column school_code: unknown school 'X999'"),
    ("staff", ("schools",), set_cell(6, "role", "janitor"), Staff, "row 6, column role: 'janitor' is not one of"),
    ("classes", ("schools", "staff"), set_cell(3, "grade", "sáu"), SchoolClass,
     "row 3, column grade: 'sáu' is not a whole number"),
    ("classes", ("schools", "staff"), set_cell(2, "homeroom_staff_code", ""), SchoolClass,
     "row 2, column homeroom_staff_code: a value is required"),
    ("timetable", ("schools", "subjects", "bells", "staff", "classes"),
     set_cell(5, "teacher_staff_code", "T001-GV02"), TimetableSlot,
     "row 5, column teacher_staff_code: timetable conflict with row 3: teacher Trần Văn Minh"),
    ("timetable", ("schools", "subjects", "bells", "staff", "classes"),
     set_cell(3, "period_no", "1"), TimetableSlot,
     "row 3, column class_name: timetable conflict with row 2: class 6A1 cannot have two lessons"),
    ("timetable", ("schools", "subjects", "bells", "staff", "classes"),
     set_cell(2, "effective_from", "2025-10-14"), TimetableSlot, "row 2, column effective_from: 14/10/2025 is not a Monday"),
    ("timetable", ("schools", "subjects", "bells", "staff", "classes"),
     set_cell(6, "subject_code", "CS-HOA"), TimetableSlot, "row 6, column subject_code: unknown subject 'CS-HOA'"),
    ("schools", (), set_cell(3, "school_code", "T001"), School, "row 3, column school_code: duplicate: school T001"),
]


@pytest.mark.parametrize("kind,needs,change,model,expected", CASES)
def test_one_bad_row_imports_nothing(base, tmp_path, kind, needs, change, model, expected):
    load(base, *needs)
    before = count(base, model)
    bad = write_csv(tmp_path / f"{kind}.csv", f"{kind}.csv", change)
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, kind, bad)
    text = "\n".join(str(p) for p in err.value.problems)
    assert expected in text, text
    assert "nothing was imported" in str(err.value)
    assert count(base, model) == before


def test_every_problem_is_listed_not_only_the_first(base, tmp_path):
    load(base, "schools", "staff", "classes")

    def two(rows):
        rows[0]["personal_id"] = "12345"
        rows[2]["sex"] = "X"
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", write_csv(tmp_path / "students.csv", "students.csv", two))
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "personal_id"), (4, "sex")]


def test_excel_templates_import_the_same(base, tmp_path):
    from openpyxl import Workbook

    load(base, "schools", "staff", "classes")
    with (TEMPLATES / "students.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    wb.active.cell(row=2, column=3).value = dt.datetime(2013, 3, 14)  # a real Excel date
    wb.save(tmp_path / "students.xlsx")
    result = import_file(base, SYSTEM, "students", tmp_path / "students.xlsx")
    assert result.rows_imported == 4 and count(base, Student) == 4
    wb.active.cell(row=3, column=1).value = "07931300000"  # 11 digits
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(ImportRejected) as err:
        import_file(base, SYSTEM, "students", tmp_path / "bad.xlsx")
    assert "bad.xlsx row 3, column personal_id: personal ID '07931300000' must be exactly 12 digits" in \
        [str(p) for p in err.value.problems]
    assert count(base, Student) == 4


def test_roles_without_import_rights_are_refused(base):
    monitor = Actor(user_id=1, username="gs", role=Role.SCHOOL_MONITOR, school_ids=frozenset({1}))
    with pytest.raises(PermissionDenied):
        import_file(base, monitor, "schools", TEMPLATES / "schools.csv")


def test_a_principal_imports_only_for_their_school(base):
    load(base, "schools", "staff")
    with base.reading() as s:
        t2 = s.scalar(select(School.id).where(School.code == "T002"))
    principal = Actor(user_id=1, username="ht", role=Role.PRINCIPAL, school_ids=frozenset({t2}))
    with pytest.raises(ImportRejected, match="school T001 is outside your scope"):
        import_file(base, principal, "classes", TEMPLATES / "classes.csv")
