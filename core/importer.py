"""Import of real school data (nhập dữ liệu) from CSV and Excel templates.

Kinds, in the order a new school year is loaded: ``schools``, ``subjects``, ``bells``,
``staff``, ``classes``, ``students``, ``timetable``. Columns are documented in
``docs/import-templates.md``; examples are in ``core/templates/``.

**All or nothing.** Every row is checked first and every problem is collected as an
:class:`ImportProblem` naming the file, the spreadsheet row (the header is row 1), the
column and the reason. If there is any problem, :class:`core.errors.ImportRejected` is
raised and nothing is written; the writes themselves happen in one transaction.
"""
from __future__ import annotations

import csv
import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.authz import Actor, Permission, require
from core.errors import ImportRejected, InvalidPersonalId, SohoaError
from core.rules.personal_id import validate_personal_id
from core.rules.timetable import Lesson, conflict_message, find_conflicts
from core.services.timetable import SlotSpec, publish_timetable_in
from core.storage.bulk import allocate_ids, bulk_insert
from core.storage.db import Database
from core.storage.models import (
    BellPeriod, CurriculumLoad, Department, District, Enrolment, Ownership, School, SchoolClass, SchoolLevel,
    SchoolYear, Sex, Staff, StaffAssignment, StaffRole, Student, Subject,
)

KINDS = ("schools", "subjects", "bells", "staff", "classes", "students", "timetable")


@dataclass(frozen=True)
class ImportProblem:
    file: str
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}, column {self.column}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    kind: str
    file: str
    rows_imported: int
    created: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        made = ", ".join(f"{n} {what}" for what, n in self.created.items())
        return f"{self.file}: {self.rows_imported} rows imported ({made})"


# ---------------------------------------------------------------- reading files
def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV (UTF-8) or .xlsx file as dicts of stripped strings."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        if not values:
            return []
        header = [str(h).strip() if h is not None else "" for h in values[0]]
        return [{h: _cell(v) for h, v in zip(header, row)} for row in values[1:]
                if any(v not in (None, "") for v in row)]
    if path.suffix.lower() != ".csv":
        raise SohoaError(f"{path.name}: unsupported file type (use .csv or .xlsx)")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ---------------------------------------------------------------- checking cells
class _Rows:
    """Walks the rows, parsing cells and collecting problems instead of stopping at the first."""

    def __init__(self, file: str, rows: list[dict[str, str]], columns: list[str]):
        self.file, self.rows, self.problems = file, rows, []
        missing = [c for c in columns if rows and c not in rows[0]]
        for c in missing:
            self.problem(1, c, "missing column in the header")

    def problem(self, row: int, column: str, reason: str) -> None:
        self.problems.append(ImportProblem(self.file, row, column, reason))

    def each(self):
        for i, row in enumerate(self.rows, start=2):
            yield i, _Cells(self, i, row)


class _Cells:
    def __init__(self, rows: _Rows, number: int, values: dict[str, str]):
        self.rows, self.number, self.values, self.ok = rows, number, values, True

    def bad(self, column: str, reason: str) -> None:
        self.ok = False
        self.rows.problem(self.number, column, reason)

    def text(self, column: str, required: bool = True) -> str | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.bad(column, "a value is required")
            return None
        return value

    def integer(self, column: str, low: int | None = None, high: int | None = None) -> int | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.bad(column, f"{value!r} is not a whole number")
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            self.bad(column, f"{number} is outside {low}..{high}")
            return None
        return number

    def _parsed(self, column: str, required: bool, formats: tuple[str, ...], what: str, hint: str):
        value = self.text(column, required)
        if value is None:
            return None
        for fmt in formats:
            try:
                return dt.datetime.strptime(value, fmt)
            except ValueError:
                continue
        self.bad(column, f"wrong {what} format {value!r} (use {hint})")
        return None

    def date(self, column: str, required: bool = True) -> dt.date | None:
        moment = self._parsed(column, required, ("%Y-%m-%d", "%d/%m/%Y"), "date", "YYYY-MM-DD or DD/MM/YYYY")
        return moment.date() if moment else None

    def time(self, column: str) -> dt.time | None:
        moment = self._parsed(column, True, ("%H:%M", "%H:%M:%S"), "time", "HH:MM")
        return moment.time() if moment else None

    def choice(self, column: str, options: dict[str, object]) -> object | None:
        value = self.text(column)
        if value is None:
            return None
        key = value.strip().lower()
        if key not in options:
            self.bad(column, f"{value!r} is not one of {', '.join(sorted({str(k) for k in options}))}")
            return None
        return options[key]

    def unique(self, column: str, key, existing, seen: set, what: str) -> None:
        """Report a duplicate of ``key`` (already in the database or earlier in the file)."""
        if key is None:
            return
        if key in existing or key in seen:
            self.bad(column, f"duplicate: {what}")
        seen.add(key)

    def lookup(self, column: str, table: dict, what: str, key=None):
        value = self.text(column)
        if value is None:
            return None
        found = table.get(key if key is not None else value)
        if found is None:
            self.bad(column, f"unknown {what} {value!r}")
        return found


def _values(e: type[enum.Enum]) -> dict[str, object]:
    return {m.value: m for m in e}


YES_NO = {"yes": True, "no": False, "có": True, "không": False, "true": True, "false": False, "1": True, "0": False}
SEXES = {"m": Sex.MALE, "f": Sex.FEMALE, "nam": Sex.MALE, "nữ": Sex.FEMALE, "nu": Sex.FEMALE}
WEEKDAYS = {"2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6, "thứ hai": 1, "thứ ba": 2, "thứ tư": 3,
            "thứ năm": 4, "thứ sáu": 5, "thứ bảy": 6}


# ---------------------------------------------------------------- the kinds
@dataclass
class _Context:
    session: Session
    actor: Actor
    department_id: int | None
    school_year_id: int | None

    def schools(self) -> dict[str, School]:
        return {s.code: s for s in self.session.scalars(select(School))}

    def school_in_scope(self, cells: _Cells, column: str = "school_code") -> School | None:
        school = cells.lookup(column, self.schools_cache, "school")
        if school is not None and not self.actor.sees_school(school.id):
            cells.bad(column, f"school {school.code} is outside your scope")
            return None
        return school

    def __post_init__(self):
        self.schools_cache = self.schools()


Writer = Callable[[], dict[str, int]]


def _schools(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    department = ctx.department_id or s.scalar(select(func.min(Department.id)))
    if department is None:
        rows.problem(1, "-", "no department exists to import schools into")
    districts = {d.code: d for d in s.scalars(select(District))}
    new_districts: dict[str, str] = {}
    new, seen = [], set()
    for i, c in rows.each():
        code, name = c.text("school_code"), c.text("school_name")
        dcode, dname = c.text("district_code"), c.text("district_name", required=False)
        level = c.choice("level", _values(SchoolLevel))
        ownership = c.choice("ownership", _values(Ownership))
        if code in seen or code in ctx.schools_cache:
            c.bad("school_code", f"duplicate: school {code} " + ("appears twice in the file" if code in seen
                                                                 else "already exists"))
        seen.add(code)
        if ctx.actor.school_ids is not None:
            c.bad("school_code", f"school {code} is outside your scope (only department staff add schools)")
        if dcode and dcode not in districts and dcode not in new_districts:
            if not dname:
                c.bad("district_name", f"district {dcode} is new: its name is required")
            new_districts[dcode] = dname or dcode
        if c.ok:
            new.append((code, name, dcode, level, ownership))

    def write():
        for (dcode, dname), did in zip(new_districts.items(), allocate_ids(s, District, len(new_districts))):
            bulk_insert(s, District, [{"id": did, "department_id": department, "code": dcode, "name": dname}])
        made = {d.code: d.id for d in s.scalars(select(District))}
        bulk_insert(s, School, [{"district_id": made[d], "code": code, "name": name, "level": level,
                                 "ownership": own, "signing_grace_seconds": 300, "lesson_rating_enabled": True}
                                for code, name, d, level, own in new])
        return {"schools": len(new), "districts": len(new_districts)}
    return write


def _subjects(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    existing = {x.code: x for x in s.scalars(select(Subject))}
    loads = set(s.execute(select(Subject.code, CurriculumLoad.grade).join(
        CurriculumLoad, CurriculumLoad.subject_id == Subject.id)).all())
    subjects: dict[str, tuple] = {}
    grades = []
    for i, c in rows.each():
        code, name = c.text("subject_code"), c.text("subject_name")
        level = c.choice("level", _values(SchoolLevel))
        comment = c.choice("comment_only", YES_NO)
        grade, periods = c.integer("grade", 1, 12), c.integer("periods_per_year", 1, 1000)
        if ctx.actor.school_ids is not None:
            c.bad("subject_code", "the subject catalogue is managed by the department")
        if (code, grade) in loads or (code, grade) in {(g[0], g[1]) for g in grades}:
            c.bad("grade", f"duplicate: subject {code} grade {grade}")
        if code in subjects and subjects[code] != (name, level, comment):
            c.bad("subject_name", f"subject {code} is described differently on another row")
        if c.ok:
            subjects.setdefault(code, (name, level, comment))
            grades.append((code, grade, periods))

    def write():
        todo = [code for code in subjects if code not in existing]
        ids = dict(zip(todo, allocate_ids(s, Subject, len(todo))))
        bulk_insert(s, Subject, [{"id": ids[code], "code": code, "name": subjects[code][0], "level": subjects[code][1],
                                  "comment_only": subjects[code][2]} for code in todo])
        ids.update({code: x.id for code, x in existing.items()})
        bulk_insert(s, CurriculumLoad, [{"subject_id": ids[code], "grade": g, "periods_per_year": n}
                                        for code, g, n in grades])
        return {"subjects": len(todo), "curriculum loads": len(grades)}
    return write


def _bells(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    existing = set(s.execute(select(BellPeriod.school_id, BellPeriod.period_no)).all())
    new, seen = [], set()
    for i, c in rows.each():
        school = ctx.school_in_scope(c)
        session_name = c.choice("session", {"morning": "morning", "afternoon": "afternoon", "sáng": "morning",
                                            "chiều": "afternoon"})
        period, start, end = c.integer("period_no", 1, 15), c.time("start_time"), c.time("end_time")
        if start and end and end <= start:
            c.bad("end_time", f"the period ends ({end:%H:%M}) before it starts ({start:%H:%M})")
        if school and period:
            c.unique("period_no", (school.id, period), existing, seen, f"period {period} of school {school.code}")
        if c.ok:
            new.append({"school_id": school.id, "session": session_name, "period_no": period, "start_time": start,
                        "end_time": end})
    return lambda: {"bell periods": bulk_insert(s, BellPeriod, new)}


def _staff(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    existing = set(s.scalars(select(Staff.code)))
    people: dict[str, dict] = {}
    roles = []
    for i, c in rows.each():
        code, name = c.text("staff_code"), c.text("full_name")
        email = c.text("email", required=False)
        school = ctx.school_in_scope(c)
        role = c.choice("role", _values(StaffRole))
        since = c.date("valid_from")
        if code in existing:
            c.bad("staff_code", f"duplicate: staff {code} already exists")
        elif code in people and school and (people[code]["name"] != name or people[code]["school"] != school.id):
            c.bad("staff_code", f"duplicate: staff {code} appears with another name or school")
        if c.ok:
            people.setdefault(code, {"name": name, "school": school.id, "email": email})
            roles.append((code, school.id, role, since))

    def write():
        ids = dict(zip(people, allocate_ids(s, Staff, len(people))))
        bulk_insert(s, Staff, [{"id": ids[code], "school_id": p["school"], "code": code, "full_name": p["name"],
                                "email": p["email"], "active": True} for code, p in people.items()])
        bulk_insert(s, StaffAssignment, [{"staff_id": ids[code], "school_id": school, "role": role,
                                          "valid_from": since, "valid_to": None}
                                         for code, school, role, since in roles])
        return {"staff": len(people), "role assignments": len(roles)}
    return write


def _year(ctx: _Context, rows: _Rows) -> int | None:
    year = ctx.school_year_id or ctx.session.scalar(select(SchoolYear.id).order_by(SchoolYear.start_date.desc()))
    if year is None:
        rows.problem(1, "-", "no school year exists; create one first")
    return year


def _classes(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    year = _year(ctx, rows)
    staff = {x.code: x for x in s.scalars(select(Staff))}
    existing = set(s.execute(select(SchoolClass.school_id, SchoolClass.name)
                             .where(SchoolClass.school_year_id == year)).all())
    new, seen = [], set()
    for i, c in rows.each():
        school = ctx.school_in_scope(c)
        name, grade = c.text("class_name"), c.integer("grade", 1, 12)
        teacher = c.lookup("homeroom_staff_code", staff, "staff")
        if teacher is not None and school is not None and teacher.school_id != school.id:
            c.bad("homeroom_staff_code", f"staff {teacher.code} is not on the staff of {school.code}")
        if school and name:
            c.unique("class_name", (school.id, name), existing, seen, f"class {name} of school {school.code}")
        if c.ok:
            new.append({"school_id": school.id, "school_year_id": year, "grade": grade, "name": name,
                        "homeroom_teacher_id": teacher.id})
    return lambda: {"classes": bulk_insert(s, SchoolClass, new)}


def _students(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    year = _year(ctx, rows)
    classes = {(k.school_id, k.name): k.id for k in s.scalars(select(SchoolClass)
                                                              .where(SchoolClass.school_year_id == year))}
    existing = set(s.scalars(select(Student.personal_id)))
    new, seen = [], set()
    for i, c in rows.each():
        pid, name = c.text("personal_id"), c.text("full_name")
        born, sex = c.date("birth_date"), c.choice("sex", SEXES)
        school = ctx.school_in_scope(c)
        class_name = c.text("class_name")
        since = c.date("enrolled_from")
        class_id = classes.get((school.id, class_name)) if school and class_name else None
        if school and class_name and class_id is None:
            c.bad("class_name", f"unknown class {class_name!r} in school {school.code}")
        if pid and born and sex:
            try:
                validate_personal_id(pid, born, sex.value)
            except InvalidPersonalId as err:
                c.bad("personal_id", str(err))
        if pid in existing or pid in seen:
            c.bad("personal_id", f"duplicate: personal ID {pid} " + ("appears twice in the file" if pid in seen
                                                                     else "already exists"))
        seen.add(pid)
        if c.ok:
            new.append(({"personal_id": pid, "full_name": name, "birth_date": born, "sex": sex}, class_id, since))

    def write():
        ids = allocate_ids(s, Student, len(new))
        bulk_insert(s, Student, [{"id": i, **row} for i, (row, _, _) in zip(ids, new)])
        bulk_insert(s, Enrolment, [{"student_id": i, "class_id": cid, "valid_from": since, "valid_to": None}
                                   for i, (_, cid, since) in zip(ids, new)])
        return {"students": len(new), "enrolments": len(new)}
    return write


def _timetable(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    year = _year(ctx, rows)
    classes = {(k.school_id, k.name): k for k in s.scalars(select(SchoolClass)
                                                           .where(SchoolClass.school_year_id == year))}
    staff = {x.code: x for x in s.scalars(select(Staff))}
    subjects = {x.code: x for x in s.scalars(select(Subject))}
    bells = set(s.execute(select(BellPeriod.school_id, BellPeriod.period_no)).all())
    groups: dict[tuple[int, dt.date], list[tuple[int, SlotSpec, Lesson]]] = defaultdict(list)
    for i, c in rows.each():
        school = ctx.school_in_scope(c)
        monday = c.date("effective_from")
        if monday and monday.weekday() != 0:
            c.bad("effective_from", f"{monday:%d/%m/%Y} is not a Monday: a timetable takes effect on a Monday")
        class_name = c.text("class_name")
        klass = classes.get((school.id, class_name)) if school and class_name else None
        if school and class_name and klass is None:
            c.bad("class_name", f"unknown class {class_name!r} in school {school.code}")
        weekday = c.choice("weekday", WEEKDAYS)
        period = c.integer("period_no", 1, 15)
        if school and period and (school.id, period) not in bells:
            c.bad("period_no", f"period {period} is not in the bell schedule of {school.code}")
        subject = c.lookup("subject_code", subjects, "subject")
        teacher = c.lookup("teacher_staff_code", staff, "staff")
        if teacher and school and teacher.school_id != school.id:
            c.bad("teacher_staff_code", f"staff {teacher.code} is not on the staff of {school.code}")
        if c.ok:
            groups[(school.id, monday)].append((i, SlotSpec(klass.id, weekday, period, subject.id, teacher.id),
                                                Lesson(class_name, teacher.full_name, weekday, period, subject.name,
                                                       class_key=klass.id, teacher_key=teacher.id)))
    for items in groups.values():
        row_of = {id(lesson): i for i, _, lesson in items}
        for first, second, kind in find_conflicts([lesson for _, _, lesson in items]):
            rows.problem(row_of[id(second)], "teacher_staff_code" if kind == "teacher" else "class_name",
                         f"timetable conflict with row {row_of[id(first)]}: {conflict_message(first, second, kind)}")

    def write():
        for (school_id, monday), items in groups.items():
            publish_timetable_in(s, ctx.actor, school_id, monday, [slot for _, slot, _ in items],
                                 note=f"import {rows.file}")
        return {"timetable versions": len(groups), "lessons": sum(len(v) for v in groups.values())}
    return write


_KIND_COLUMNS = {
    "schools": (_schools, ["school_code", "school_name", "district_code", "district_name", "level", "ownership"]),
    "subjects": (_subjects, ["subject_code", "subject_name", "level", "comment_only", "grade", "periods_per_year"]),
    "bells": (_bells, ["school_code", "session", "period_no", "start_time", "end_time"]),
    "staff": (_staff, ["staff_code", "full_name", "email", "school_code", "role", "valid_from"]),
    "classes": (_classes, ["school_code", "class_name", "grade", "homeroom_staff_code"]),
    "students": (_students, ["personal_id", "full_name", "birth_date", "sex", "school_code", "class_name",
                             "enrolled_from"]),
    "timetable": (_timetable, ["school_code", "effective_from", "class_name", "weekday", "period_no",
                               "subject_code", "teacher_staff_code"]),
}


def import_file(db: Database, actor: Actor, kind: str, path: str | Path, *, department_id: int | None = None,
                school_year_id: int | None = None) -> ImportResult:
    """Import one template file, all or nothing (see the module docstring)."""
    require(actor, Permission.IMPORT_DATA)
    if kind not in _KIND_COLUMNS:
        raise SohoaError(f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}")
    path = Path(path)
    builder, columns = _KIND_COLUMNS[kind]
    raw = read_rows(path)
    rows = _Rows(path.name, raw, columns)
    if not raw:
        rows.problem(1, "-", "the file has no data rows")
    with db.transaction() as session:
        ctx = _Context(session, actor, department_id, school_year_id)
        write = builder(ctx, rows)
        if rows.problems:
            raise ImportRejected(rows.problems)
        try:
            created = write()
        except SohoaError as err:  # a rule checked by a service while writing: still nothing written
            raise ImportRejected([ImportProblem(path.name, 0, "-", str(err))]) from err
        only_school = next(iter(actor.school_ids)) if actor.school_ids and len(actor.school_ids) == 1 else None
        audit.record(session, actor, f"import.{kind}", "import", path.name, school_id=only_school,
                     after={"rows": len(raw), **created})
    return ImportResult(kind, path.name, len(raw), created)
