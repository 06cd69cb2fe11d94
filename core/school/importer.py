"""Import of real school data (nhập dữ liệu) from CSV and Excel templates.

Kinds, in the order a new school year is loaded: ``schools``, ``subjects``, ``bells``,
``staff``, ``classes``, ``students``, ``timetable``. Each is a CSV file (UTF-8, header row)
or an Excel ``.xlsx`` workbook (first sheet, header row) with the same columns; the file's
extension decides which. Columns are documented in ``docs/import-templates.md``; a valid
example of every kind is in ``core/templates/``.

**All or nothing.** Every row is checked first and every problem is collected as an
:class:`ImportProblem` naming the file, the spreadsheet row (the header is row 1, blank rows
count as in the spreadsheet), the column and the reason, in English and in Vietnamese (the
console shows the Vietnamese, the command line both). If there is any problem,
:class:`core.kernel.errors.ImportRejected` is raised and nothing is written. The writes happen in
one :meth:`~core.storage.db.Database.transaction` together with the import's audit event
(``import.<kind>``), so a failure while writing also leaves the database as it was.

Rows are written with :func:`core.storage.bulk.allocate_ids` and
:func:`core.storage.bulk.bulk_insert` (COPY on PostgreSQL), never one ORM object at a time;
timetables go through :func:`core.timetable.services.publish_timetable_in`.
"""
from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel.errors import ImportRejected, InvalidPersonalId, SohoaError
from core.kernel.vocabulary import Ownership, Role, SchoolLevel, Sex, StaffRole
from core.logbook.rules.signing_window import DEFAULT_GRACE_SECONDS
from core.school.rules.personal_id import validate_personal_id
from core.storage.bulk import allocate_ids, bulk_insert
from core.storage.db import Database
from core.storage.models import (
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
)
from core.timetable.rules.calendar import WEEKDAYS as WEEKDAY_NAMES
from core.timetable.rules.slots import Lesson, conflict_message, conflict_message_vi, find_conflicts
from core.timetable.services import SlotSpec, publish_timetable_in

KINDS = ("schools", "subjects", "bells", "staff", "classes", "students", "timetable")

#: The columns of each kind, in template order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "schools": ("school_code", "school_name", "district_code", "district_name", "level", "ownership"),
    "subjects": ("subject_code", "subject_name", "level", "comment_only", "grade", "periods_per_year"),
    "bells": ("school_code", "session", "period_no", "start_time", "end_time"),
    "staff": ("staff_code", "full_name", "email", "school_code", "role", "valid_from"),
    "classes": ("school_code", "class_name", "grade", "homeroom_staff_code"),
    "students": ("personal_id", "full_name", "birth_date", "sex", "school_code", "class_name", "enrolled_from"),
    "timetable": ("school_code", "effective_from", "class_name", "weekday", "period_no", "subject_code",
                  "teacher_staff_code"),
}

#: Columns that are optional (every other column needs a value on every row). ``district_name``
#: is needed only when the district is new.
OPTIONAL = {("schools", "district_name"), ("staff", "email")}

#: Columns of digits with a fixed length: Excel drops the leading zeros of such a number typed
#: into a General cell (every province code starts with 0), so numeric cells are padded back.
DIGIT_COLUMNS = {"personal_id": 12}


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import file. ``row`` is the spreadsheet row (header = 1;
    0 for the file as a whole); ``column`` is ``"-"`` when no single column is to blame;
    ``reason`` says why in English, ``reason_vi`` in Vietnamese."""

    file: str
    row: int
    column: str
    reason: str
    reason_vi: str

    def __str__(self) -> str:
        where = self.file
        if self.row:
            where += f" row {self.row}"
        if self.column and self.column != "-":
            where += f", column {self.column}" if self.row else f" column {self.column}"
        return f"{where}: {self.reason}"

    def where_vi(self) -> str:
        """The file, row and column in Vietnamese (``hoc-sinh.csv dòng 4, cột sex``)."""
        where = self.file + (f" dòng {self.row}" if self.row else "")
        if self.column and self.column != "-":
            where += f", cột {self.column}" if self.row else f" cột {self.column}"
        return where

    def vi(self) -> str:
        """Which row and why, in Vietnamese."""
        return f"{self.where_vi()}: {self.reason_vi}"

    def as_dict(self) -> dict:
        """As an answer carries it (both languages)."""
        return {"file": self.file, "row": self.row, "column": self.column, "reason": self.reason,
                "reason_vi": self.reason_vi}


@dataclass(frozen=True)
class ImportResult:
    """What one successful import wrote: the data rows read and how many records of each sort."""

    kind: str
    file: str
    rows_imported: int
    created: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        made = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in self.created.items())
        return f"{self.file}: {self.rows_imported} rows imported ({made})"


# ---------------------------------------------------------------- reading files
@dataclass
class Sheet:
    """A file read into a header and numbered data rows (blank rows dropped, numbers kept)."""

    file: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]
    problems: list[ImportProblem] = field(default_factory=list)


def _text(value: str) -> str:
    """NFC (Vietnamese typed on some keyboards arrives decomposed) and stripped."""
    return unicodedata.normalize("NFC", value).strip()


def read_sheet(path: str | Path) -> Sheet:
    """Read a ``.csv`` (UTF-8, comma or semicolon separated) or ``.xlsx`` (first sheet) file.

    Raises :class:`ImportRejected` when the file as a whole cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        records = _xlsx_records(path)
    elif suffix == ".csv":
        records = _csv_records(path)
    else:
        raise ImportRejected([ImportProblem(path.name, 0, "-", f"unsupported file type {suffix or '(none)'!r}: "
                                            "use a .csv (UTF-8) or an .xlsx file",
                                            f"không nhận loại tệp {suffix or '(không có)'!r}: dùng tệp .csv (UTF-8) "
                                            "hoặc .xlsx")])
    return _sheet(path.name, records)


def _csv_records(path: Path) -> list[list]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([ImportProblem(path.name, 0, "-", "the file is not UTF-8 text: in Excel save it as "
                                            "'CSV UTF-8 (Comma delimited)', or import the .xlsx itself",
                                            "tệp không phải văn bản UTF-8: trong Excel hãy lưu dạng "
                                            "'CSV UTF-8 (Comma delimited)', hoặc nhập thẳng tệp .xlsx")]) from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel with Vietnamese regional settings
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def _xlsx_records(path: Path) -> list[list]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
        raise ImportRejected([ImportProblem(path.name, 0, "-", f"not a readable .xlsx workbook ({err})",
                                            f"không đọc được tệp .xlsx ({err})")]) from err
    try:
        return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()


def _cell(value, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and column in DIGIT_COLUMNS and value >= 0:
        return str(value).zfill(DIGIT_COLUMNS[column])
    return _text(str(value))


def _sheet(file: str, records: list[list]) -> Sheet:
    if not records or not any(_cell(v) for v in records[0]):
        return Sheet(file, [], [], [ImportProblem(file, 1, "-", "the first row must be the header row",
                                                  "dòng đầu tiên phải là dòng tiêu đề")])
    header = [_cell(v).lower() for v in records[0]]
    while header and not header[-1]:
        header.pop()
    sheet = Sheet(file, header, [])
    for name in {h for h in header if h and header.count(h) > 1}:
        sheet.problems.append(ImportProblem(file, 1, name, "the column appears twice in the header",
                                            "cột xuất hiện hai lần trong dòng tiêu đề"))
    for number, record in enumerate(records[1:], start=2):
        values = [_cell(v, header[i] if i < len(header) else "") for i, v in enumerate(record)]
        if not any(values):
            continue
        if any(values[len(header):]):
            sheet.problems.append(ImportProblem(file, number, "-", f"the row has values beyond the "
                                                f"{len(header)} columns of the header (a stray separator?)",
                                                f"dòng có giá trị ngoài {len(header)} cột của dòng tiêu đề "
                                                "(thừa dấu phân cách?)"))
        sheet.rows.append((number, {h: values[i] if i < len(values) else "" for i, h in enumerate(header) if h}))
    return sheet


# ---------------------------------------------------------------- checking cells
class _Rows:
    """Walks the rows, parsing cells and collecting problems instead of stopping at the first."""

    def __init__(self, kind: str, sheet: Sheet):
        self.kind, self.file, self.sheet = kind, sheet.file, sheet
        self.problems: list[ImportProblem] = list(sheet.problems)
        self.missing = {c for c in COLUMNS[kind] if c not in sheet.header} if sheet.header else set()
        for column in COLUMNS[kind]:
            if column in self.missing:
                self.problem(1, column, "missing column in the header", "thiếu cột trong dòng tiêu đề")

    def problem(self, row: int, column: str, reason: str, reason_vi: str) -> None:
        self.problems.append(ImportProblem(self.file, row, column, reason, reason_vi))

    def each(self) -> Iterable[_Cells]:
        for number, values in self.sheet.rows:
            yield _Cells(self, number, values)


class _Cells:
    def __init__(self, rows: _Rows, number: int, values: dict[str, str]):
        self.rows, self.number, self.values, self.ok = rows, number, values, True

    def bad(self, column: str, reason: str, reason_vi: str) -> None:
        self.ok = False
        self.rows.problem(self.number, column, reason, reason_vi)

    def text(self, column: str) -> str | None:
        if column in self.rows.missing:  # already reported once, on the header
            self.ok = False
            return None
        value = self.values.get(column, "")
        if not value:
            if (self.rows.kind, column) not in OPTIONAL:
                self.bad(column, "a value is required", "cần có giá trị")
            return None
        return value

    def integer(self, column: str, low: int, high: int) -> int | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            self.bad(column, f"{value!r} is not a whole number", f"{value!r} không phải số nguyên")
            return None
        if not low <= number <= high:
            self.bad(column, f"{number} is outside {low}..{high}", f"{number} nằm ngoài khoảng {low}..{high}")
            return None
        return number

    _DATE_SHAPES = ((re.compile(r"\d{4}-\d{1,2}-\d{1,2}"), "%Y-%m-%d"),
                    (re.compile(r"\d{1,2}/\d{1,2}/\d{4}"), "%d/%m/%Y"))

    def date(self, column: str) -> dt.date | None:
        value = self.text(column)
        if value is None:
            return None
        for shape, fmt in self._DATE_SHAPES:
            if shape.fullmatch(value):
                try:
                    return dt.datetime.strptime(value, fmt).date()
                except ValueError:
                    self.bad(column, f"{value!r} is not a calendar date", f"{value!r} không phải ngày có thật")
                    return None
        self.bad(column, f"wrong date format {value!r} (use YYYY-MM-DD or DD/MM/YYYY)",
                 f"sai định dạng ngày {value!r} (viết YYYY-MM-DD hoặc DD/MM/YYYY)")
        return None

    def time(self, column: str) -> dt.time | None:
        value = self.text(column)
        if value is None:
            return None
        for fmt in ("%H:%M", "%H:%M:%S"):
            try:
                return dt.datetime.strptime(value, fmt).time()
            except ValueError:
                continue
        self.bad(column, f"wrong time format {value!r} (use HH:MM)", f"sai định dạng giờ {value!r} (viết HH:MM)")
        return None

    def choice(self, column: str, options: dict[str, object], shown: Iterable[str]):
        value = self.text(column)
        if value is None:
            return None
        found = options.get(value.lower())
        if found is None:
            self.bad(column, f"{value!r} is not one of {', '.join(shown)}",
                     f"{value!r} không phải một trong các giá trị {', '.join(shown)}")
        return found

    def unique(self, column: str, key, seen: set, existing, what: tuple[str, str],
               where: tuple[str, str] = ("", "")) -> bool:
        """Report ``key`` if it came earlier in the file or is already in the database; remember
        it. ``what`` and ``where`` are (English, Vietnamese). Returns True when it is new."""
        new = True
        if key in seen:
            self.bad(column, f"duplicate: {what[0]} appears twice in the file",
                     f"trùng: {what[1]} xuất hiện hai lần trong tệp")
            new = False
        elif key in existing:
            self.bad(column, f"duplicate: {what[0]} already exists{where[0]}", f"trùng: {what[1]} đã có{where[1]}")
            new = False
        seen.add(key)
        return new

    def lookup(self, column: str, table: dict, what: tuple[str, str]):
        """The record ``table`` holds for the cell's value; ``what`` it is, (English, Vietnamese)."""
        value = self.text(column)
        if value is None:
            return None
        found = table.get(value)
        if found is None:
            self.bad(column, f"unknown {what[0]} {value!r}", f"không có {what[1]} {value!r}")
        return found


def _choices(e: type[enum.Enum], **aliases: str) -> tuple[dict[str, object], list[str]]:
    """Options of an enum by value, plus Vietnamese aliases (alias text -> value)."""
    options: dict[str, object] = {m.value.lower(): m for m in e}
    for value, words in aliases.items():
        for word in words.split("|"):
            options[word] = e(value)
    return options, [m.value for m in e]


LEVELS = _choices(SchoolLevel, primary="tiểu học|th", lower_secondary="trung học cơ sở|thcs",
                  upper_secondary="trung học phổ thông|thpt", multi_level="liên cấp")
OWNERSHIPS = _choices(Ownership, public="công lập", private="tư thục|ngoài công lập")
ROLES = _choices(StaffRole, teacher="giáo viên|gv", homeroom_teacher="giáo viên chủ nhiệm|gvcn",
                 principal="hiệu trưởng", vice_principal="phó hiệu trưởng", clerk="văn thư|giáo vụ")
SEXES = ({"m": Sex.MALE, "f": Sex.FEMALE, "nam": Sex.MALE, "nữ": Sex.FEMALE, "nu": Sex.FEMALE},
         ["M", "F", "Nam", "Nữ"])
YES_NO = ({"yes": True, "no": False, "y": True, "n": False, "có": True, "không": False, "true": True,
           "false": False, "1": True, "0": False}, ["yes", "no"])
SESSIONS = ({"morning": "morning", "afternoon": "afternoon", "sáng": "morning", "chiều": "afternoon"},
            ["morning", "afternoon", "sáng", "chiều"])
WEEKDAYS = ({**{str(n): n - 1 for n in range(2, 8)},
             **{name.lower(): n for n, name in WEEKDAY_NAMES.items() if n <= 6}},
            ["2", "3", "4", "5", "6", "7", *(WEEKDAY_NAMES[n] for n in range(1, 7))])

#: Each level in Vietnamese (in reasons).
LEVEL_VI = {SchoolLevel.PRIMARY: "tiểu học", SchoolLevel.LOWER_SECONDARY: "trung học cơ sở",
            SchoolLevel.UPPER_SECONDARY: "trung học phổ thông", SchoolLevel.MULTI_LEVEL: "liên cấp"}
#: Grades a school or subject of each level teaches (multi-level: any).
GRADES = {SchoolLevel.PRIMARY: range(1, 6), SchoolLevel.LOWER_SECONDARY: range(6, 10),
          SchoolLevel.UPPER_SECONDARY: range(10, 13), SchoolLevel.MULTI_LEVEL: range(1, 13)}

try:  # PostgreSQL COPY (bulk_insert) raises the driver's own error, not SQLAlchemy's
    from psycopg import IntegrityError as _PgIntegrityError

    _INTEGRITY_ERRORS: tuple[type[Exception], ...] = (IntegrityError, _PgIntegrityError)
except ImportError:  # pragma: no cover - SQLite-only installs
    _INTEGRITY_ERRORS = (IntegrityError,)

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _chunks(values: list, size: int = 1000):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _existing(session: Session, column, values: Iterable) -> set:
    """Which of ``values`` are already in ``column`` (asked in chunks, not the whole table)."""
    wanted = sorted({v for v in values if v})
    found: set = set()
    for chunk in _chunks(wanted):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


# ---------------------------------------------------------------- the kinds
class _Context:
    """What every kind needs: the session, the actor and their scope, schools and years."""

    def __init__(self, session: Session, actor: Actor, rows: _Rows, department_id: int | None,
                 school_year_id: int | None):
        self.session, self.actor, self.rows = session, actor, rows
        self.department_id, self.school_year_id = department_id, school_year_id
        self.schools = {s.code: s for s in session.scalars(select(School))}
        self.school_department = dict(session.execute(
            select(School.id, District.department_id).join(District, District.id == School.district_id)).all())
        self.years = {y.id: y for y in session.scalars(select(SchoolYear))}
        self.latest_year: dict[int, SchoolYear] = {}
        for year in sorted(self.years.values(), key=lambda y: y.start_date):
            self.latest_year[year.department_id] = year
        self.touched: set[int] = set()  # schools the rows belong to (for the audit chain)

    @property
    def department_wide(self) -> bool:
        """Administrators and department supervisors add schools and subjects; staff of a school do not."""
        return self.actor.school_ids is None or self.actor.role == Role.DEPARTMENT_SUPERVISOR

    def school(self, cells: _Cells, column: str = "school_code") -> School | None:
        school = cells.lookup(column, self.schools, ("school", "trường"))
        if school is not None and not self.actor.sees_school(school.id):
            cells.bad(column, f"school {school.code} is outside your scope",
                      f"trường {school.code} nằm ngoài phạm vi của bạn")
            return None
        if school is not None:
            self.touched.add(school.id)
        return school

    def check_year(self) -> None:
        if self.school_year_id is not None and self.school_year_id not in self.years:
            self.rows.problem(0, "-", f"there is no school year {self.school_year_id}",
                              f"không có năm học {self.school_year_id}")

    def year(self, cells: _Cells, school: School | None) -> SchoolYear | None:
        """The school year the row is for: the one given to the import, else the latest of the
        school's department."""
        if school is None:
            return None
        department = self.school_department.get(school.id)
        if self.school_year_id is not None:
            year = self.years.get(self.school_year_id)
            if year is None:  # reported once for the whole file (check_year)
                cells.ok = False
            elif year.department_id != department:
                cells.bad("school_code", f"school {school.code} is not under the department of school year "
                                         f"{year.name} (id {year.id})",
                          f"trường {school.code} không thuộc Sở của năm học {year.name} (mã {year.id})")
                return None
            return year
        year = self.latest_year.get(department)
        if year is None:
            cells.bad("school_code", f"no school year exists for the department of school {school.code}; "
                                     "create one first",
                      f"Sở của trường {school.code} chưa có năm học nào; hãy tạo năm học trước")
        return year


Writer = Callable[[], dict[str, int]]


def _schools(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    department = ctx.department_id or ctx.actor.department_id
    if department is None:
        departments = list(s.scalars(select(Department.id)))
        department = departments[0] if len(departments) == 1 else None
        if not departments:
            rows.problem(0, "-", "no department exists to import schools into; create it first",
                         "chưa có Sở nào để nhập trường vào; hãy tạo Sở trước")
        elif department is None:
            rows.problem(0, "-", "several departments exist: say which one the schools are under (department_id)",
                         "có nhiều Sở: hãy cho biết các trường thuộc Sở nào (department_id)")
    elif s.get(Department, department) is None:
        rows.problem(0, "-", f"there is no department {department}", f"không có Sở {department}")
        department = None
    if (department is not None and ctx.actor.school_ids is not None and ctx.actor.department_id is not None
            and department != ctx.actor.department_id):
        rows.problem(0, "-", f"department {department} is outside your scope",
                     f"Sở {department} nằm ngoài phạm vi của bạn")
    districts = {d.code: d for d in s.scalars(select(District))}
    new_districts: dict[str, str] = {}
    new, seen = [], set()
    for c in rows.each():
        code, name = c.text("school_code"), c.text("school_name")
        dcode, dname = c.text("district_code"), c.text("district_name")
        level, ownership = c.choice("level", *LEVELS), c.choice("ownership", *OWNERSHIPS)
        if code and c.unique("school_code", code, seen, ctx.schools, (f"school {code}", f"trường {code}")) \
                and not ctx.department_wide:
            c.bad("school_code", f"school {code} is outside your scope (schools are added by the department)",
                  f"trường {code} nằm ngoài phạm vi của bạn (trường mới do Sở thêm)")
        district = districts.get(dcode) if dcode else None
        if district is not None and department is not None and district.department_id != department:
            c.bad("district_code", f"district {dcode} belongs to another department",
                  f"quận/huyện {dcode} thuộc Sở khác")
        elif dcode and district is None:
            if dcode in new_districts and dname and new_districts[dcode] != dname:
                c.bad("district_name", f"district {dcode} is named {new_districts[dcode]!r} on an earlier row",
                      f"quận/huyện {dcode} có tên {new_districts[dcode]!r} ở một dòng trước")
            elif not dname and dcode not in new_districts:
                c.bad("district_name", f"district {dcode} is new: its name is required",
                      f"quận/huyện {dcode} là quận/huyện mới: cần có tên")
            else:
                new_districts.setdefault(dcode, dname)
        if c.ok:
            new.append((code, name, dcode, level, ownership))

    def write():
        made = list(new_districts.items())
        ids = allocate_ids(s, District, len(made))
        bulk_insert(s, District, [{"id": i, "department_id": department, "code": code, "name": name}
                                  for i, (code, name) in zip(ids, made)])
        district_ids = {code: d.id for code, d in districts.items()} | {code: i for i, (code, _) in zip(ids, made)}
        bulk_insert(s, School, [{"id": i, "district_id": district_ids[d], "code": code, "name": name, "level": level,
                                 "ownership": own, "signing_grace_seconds": DEFAULT_GRACE_SECONDS, "lesson_rating_enabled": True}
                                for i, (code, name, d, level, own) in zip(allocate_ids(s, School, len(new)), new)])
        return {"schools": len(new), "districts": len(made)}
    return write


def _subjects(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    if not ctx.department_wide:
        rows.problem(0, "-", "the subject catalogue is outside your scope (it is kept by the department)",
                     "danh mục môn học nằm ngoài phạm vi của bạn (do Sở quản lý)")
    existing = {x.code: x for x in s.scalars(select(Subject))}
    loads = set(s.execute(select(Subject.code, CurriculumLoad.grade).join(
        CurriculumLoad, CurriculumLoad.subject_id == Subject.id)).all())
    subjects: dict[str, tuple] = {}
    grades: list[tuple[str, int, int]] = []
    seen: set[tuple[str, int]] = set()
    for c in rows.each():
        code, name = c.text("subject_code"), c.text("subject_name")
        level, comment = c.choice("level", *LEVELS), c.choice("comment_only", *YES_NO)
        grade, periods = c.integer("grade", 1, 12), c.integer("periods_per_year", 1, 1000)
        if level is not None and grade is not None and grade not in GRADES[level]:
            c.bad("grade", f"grade {grade} is not taught at level {level.value}",
                  f"cấp {LEVEL_VI[level]} không dạy khối {grade}")
        if code and grade is not None:
            c.unique("grade", (code, grade), seen, loads, (f"subject {code} grade {grade}",
                                                            f"môn {code} khối {grade}"))
        described = (name, level, comment)
        if code in existing and None not in described:
            old = existing[code]
            if (old.name, old.level, old.comment_only) != described:
                c.bad("subject_code", f"subject {code} already exists as {old.name!r} ({old.level.value}, "
                                      f"comment_only {'yes' if old.comment_only else 'no'}); this row differs",
                      f"môn {code} đã có với tên {old.name!r} ({LEVEL_VI[old.level]}, chỉ nhận xét: "
                      f"{'có' if old.comment_only else 'không'}); dòng này khác")
        elif code in subjects and None not in described and subjects[code] != described:
            c.bad("subject_name", f"subject {code} is described differently on an earlier row",
                  f"môn {code} được mô tả khác ở một dòng trước")
        if c.ok:
            subjects.setdefault(code, described)
            grades.append((code, grade, periods))

    def write():
        todo = [code for code in subjects if code not in existing]
        ids = dict(zip(todo, allocate_ids(s, Subject, len(todo))))
        bulk_insert(s, Subject, [{"id": ids[code], "code": code, "name": subjects[code][0], "level": subjects[code][1],
                                  "comment_only": subjects[code][2]} for code in todo])
        ids.update({code: x.id for code, x in existing.items()})
        bulk_insert(s, CurriculumLoad, [{"subject_id": ids[code], "grade": g, "periods_per_year": n}
                                        for code, g, n in grades])
        return {"subjects": len(todo), "curriculum_loads": len(grades)}
    return write


def _bells(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    existing = set(s.execute(select(BellPeriod.school_id, BellPeriod.period_no)).all())
    new, seen = [], set()
    for c in rows.each():
        school = ctx.school(c)
        session_name = c.choice("session", *SESSIONS)
        period, start, end = c.integer("period_no", 1, 15), c.time("start_time"), c.time("end_time")
        if start and end and end <= start:
            c.bad("end_time", f"the period ends ({end:%H:%M}) before it starts ({start:%H:%M})",
                  f"tiết kết thúc ({end:%H:%M}) trước khi bắt đầu ({start:%H:%M})")
        if school and period:
            c.unique("period_no", (school.id, period), seen, existing, (f"period {period} of school {school.code}",
                                                                        f"tiết {period} của trường {school.code}"))
        if c.ok:
            new.append({"school_id": school.id, "session": session_name, "period_no": period, "start_time": start,
                        "end_time": end})
    return lambda: {"bell_periods": bulk_insert(s, BellPeriod, new)}


def _staff(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    existing = _existing(s, Staff.code, (v.get("staff_code") for _, v in rows.sheet.rows))
    people: dict[str, dict] = {}
    roles: list[tuple] = []
    seen_roles: set[tuple] = set()
    for c in rows.each():
        code, name = c.text("staff_code"), c.text("full_name")
        email = c.text("email")
        school = ctx.school(c)
        role = c.choice("role", *ROLES)
        since = c.date("valid_from")
        if email and not _EMAIL.fullmatch(email):
            c.bad("email", f"{email!r} is not an e-mail address", f"{email!r} không phải địa chỉ e-mail")
        if code in existing:
            c.bad("staff_code", f"duplicate: staff {code} already exists", f"trùng: cán bộ {code} đã có")
        elif code in people and school and (people[code]["name"] != name or people[code]["school"] != school.id):
            c.bad("staff_code", f"staff {code} appears on an earlier row with another name or school",
                  f"cán bộ {code} có ở một dòng trước với tên hoặc trường khác")
        elif code and role and (code, role) in seen_roles:
            c.bad("role", f"duplicate: staff {code} has role {role.value} on an earlier row",
                  f"trùng: cán bộ {code} đã có vai trò {role.value} ở một dòng trước")
        if code and role:
            seen_roles.add((code, role))
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
        return {"staff": len(people), "staff_assignments": len(roles)}
    return write


def _classes(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    ctx.check_year()
    staff = {x.code: x for x in s.scalars(select(Staff).where(Staff.code.in_(sorted(
        {v.get("homeroom_staff_code") for _, v in rows.sheet.rows} - {None, ""}))))}
    existing = set(s.execute(select(SchoolClass.school_id, SchoolClass.school_year_id, SchoolClass.name)).all())
    new, seen = [], set()
    for c in rows.each():
        school = ctx.school(c)
        year = ctx.year(c, school)
        name, grade = c.text("class_name"), c.integer("grade", 1, 12)
        teacher = c.lookup("homeroom_staff_code", staff, ("staff", "cán bộ"))
        if teacher is not None and school is not None and teacher.school_id != school.id:
            c.bad("homeroom_staff_code", f"staff {teacher.code} is not on the staff of school {school.code}",
                  f"cán bộ {teacher.code} không thuộc trường {school.code}")
        if school and grade is not None and grade not in GRADES[school.level]:
            c.bad("grade", f"grade {grade} is not taught at school {school.code} ({school.level.value})",
                  f"trường {school.code} ({LEVEL_VI[school.level]}) không dạy khối {grade}")
        if school and year and name:
            c.unique("class_name", (school.id, year.id, name), seen, existing,
                     (f"class {name} of school {school.code}", f"lớp {name} của trường {school.code}"),
                     (f" in {year.name}", f" trong năm học {year.name}"))
        if c.ok:
            new.append({"school_id": school.id, "school_year_id": year.id, "grade": grade, "name": name,
                        "homeroom_teacher_id": teacher.id})
    return lambda: {"classes": bulk_insert(s, SchoolClass, new)}


def _classes_of(session: Session) -> dict[tuple[int, int, str], SchoolClass]:
    return {(k.school_id, k.school_year_id, k.name): k for k in session.scalars(select(SchoolClass))}


def _students(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    ctx.check_year()
    classes = _classes_of(s)
    existing = _existing(s, Student.personal_id, (v.get("personal_id") for _, v in rows.sheet.rows))
    new, seen = [], set()
    for c in rows.each():
        pid, name = c.text("personal_id"), c.text("full_name")
        born, sex = c.date("birth_date"), c.choice("sex", *SEXES)
        school = ctx.school(c)
        year = ctx.year(c, school)
        class_name = c.text("class_name")
        since = c.date("enrolled_from")
        klass = classes.get((school.id, year.id, class_name)) if school and year and class_name else None
        if school and year and class_name and klass is None:
            c.bad("class_name", f"unknown class {class_name!r} in school {school.code} ({year.name})",
                  f"trường {school.code} không có lớp {class_name!r} (năm học {year.name})")
        if pid and born and sex:
            try:
                validate_personal_id(pid, born, sex.value)
            except InvalidPersonalId as err:
                c.bad("personal_id", err.message, err.message_vi)
        if pid:
            c.unique("personal_id", pid, seen, existing, (f"personal ID {pid}", f"số định danh cá nhân {pid}"))
        if c.ok:
            new.append(({"personal_id": pid, "full_name": name, "birth_date": born, "sex": sex}, klass.id, since))

    def write():
        ids = allocate_ids(s, Student, len(new))
        bulk_insert(s, Student, [{"id": i, **row} for i, (row, _, _) in zip(ids, new)])
        bulk_insert(s, Enrolment, [{"student_id": i, "class_id": cid, "valid_from": since, "valid_to": None}
                                   for i, (_, cid, since) in zip(ids, new)])
        return {"students": len(new), "enrolments": len(new)}
    return write


def _timetable(ctx: _Context, rows: _Rows) -> Writer:
    s = ctx.session
    ctx.check_year()
    classes = _classes_of(s)
    staff = {x.code: x for x in s.scalars(select(Staff).where(Staff.code.in_(sorted(
        {v.get("teacher_staff_code") for _, v in rows.sheet.rows} - {None, ""}))))}
    subjects = {x.code: x for x in s.scalars(select(Subject))}
    bells = set(s.execute(select(BellPeriod.school_id, BellPeriod.period_no)).all())
    groups: dict[tuple[int, dt.date], list[tuple[int, SlotSpec, Lesson]]] = defaultdict(list)
    for c in rows.each():
        school = ctx.school(c)
        year = ctx.year(c, school)
        monday = c.date("effective_from")
        if monday and monday.weekday() != 0:
            c.bad("effective_from", f"{monday:%d/%m/%Y} is a {monday:%A} ({WEEKDAY_NAMES[monday.isoweekday()]}), "
                                    "not a Monday: a timetable takes effect on a Monday",
                  f"ngày {monday:%d/%m/%Y} là {WEEKDAY_NAMES[monday.isoweekday()]}, không phải Thứ Hai: "
                  "thời khóa biểu có hiệu lực từ một ngày Thứ Hai")
        class_name = c.text("class_name")
        klass = classes.get((school.id, year.id, class_name)) if school and year and class_name else None
        if school and year and class_name and klass is None:
            c.bad("class_name", f"unknown class {class_name!r} in school {school.code} ({year.name})",
                  f"trường {school.code} không có lớp {class_name!r} (năm học {year.name})")
        weekday = c.choice("weekday", *WEEKDAYS)
        period = c.integer("period_no", 1, 15)
        if school and period and (school.id, period) not in bells:
            c.bad("period_no", f"period {period} is not in the bell schedule of school {school.code}",
                  f"tiết {period} không có trong giờ học của trường {school.code}")
        subject = c.lookup("subject_code", subjects, ("subject", "môn"))
        teacher = c.lookup("teacher_staff_code", staff, ("staff", "cán bộ"))
        if teacher and school and teacher.school_id != school.id:
            c.bad("teacher_staff_code", f"staff {teacher.code} is not on the staff of school {school.code}",
                  f"cán bộ {teacher.code} không thuộc trường {school.code}")
        if c.ok:
            groups[(school.id, monday)].append((c.number, SlotSpec(klass.id, weekday, period, subject.id, teacher.id),
                                                Lesson(class_name, teacher.full_name, weekday, period, subject.name,
                                                       class_key=klass.id, teacher_key=teacher.id)))
    for items in groups.values():
        row_of = {id(lesson): number for number, _, lesson in items}
        for first, second, kind in find_conflicts([lesson for _, _, lesson in items]):
            rows.problem(row_of[id(second)], "teacher_staff_code" if kind == "teacher" else "class_name",
                         f"timetable conflict with row {row_of[id(first)]}: {conflict_message(first, second, kind)}",
                         f"trùng lịch với dòng {row_of[id(first)]}: {conflict_message_vi(first, second, kind)}")

    def write():
        for (school_id, monday), items in groups.items():
            publish_timetable_in(s, ctx.actor, school_id, monday, [slot for _, slot, _ in items],
                                 note=f"import {rows.file}")
        return {"timetable_versions": len(groups), "timetable_slots": sum(len(v) for v in groups.values())}
    return write


_BUILDERS: dict[str, Callable[[_Context, _Rows], Writer]] = {
    "schools": _schools, "subjects": _subjects, "bells": _bells, "staff": _staff, "classes": _classes,
    "students": _students, "timetable": _timetable,
}


def import_file(db: Database, actor: Actor, kind: str, path: str | Path, *, department_id: int | None = None,
                school_year_id: int | None = None) -> ImportResult:
    """Import one template file of ``kind``, all or nothing (see the module docstring).

    ``department_id``: the department new districts and schools go under (default: the
    actor's, or the only one). ``school_year_id``: the year of classes, students and the
    timetable (default: the latest year of each school's department).

    Raises :class:`core.kernel.errors.PermissionDenied` without ``Permission.IMPORT_DATA`` (and,
    for a timetable, ``Permission.PUBLISH_TIMETABLE``), and :class:`ImportRejected` listing
    every problem when anything is wrong; then nothing has been written."""
    require(actor, Permission.IMPORT_DATA)
    if kind not in _BUILDERS:
        raise SohoaError(f"unknown import kind {kind!r}; choose one of {', '.join(KINDS)}",
                         message_vi=f"Không có loại dữ liệu nhập {kind!r}; chọn một trong: {', '.join(KINDS)}")
    if kind == "timetable":
        require(actor, Permission.PUBLISH_TIMETABLE)
    path = Path(path)
    sheet = read_sheet(path)
    rows = _Rows(kind, sheet)
    if sheet.header and not sheet.rows:
        rows.problem(0, "-", "the file has no data rows", "tệp không có dòng dữ liệu")
    with db.transaction() as session:
        ctx = _Context(session, actor, rows, department_id, school_year_id)
        write = _BUILDERS[kind](ctx, rows)
        if rows.problems:
            raise ImportRejected(sorted(rows.problems, key=lambda p: p.row))
        try:
            created = write()
        except SohoaError as err:  # a rule a service checks while writing: the transaction rolls back
            raise ImportRejected([ImportProblem(path.name, 0, "-", f"refused while writing: {err.message}",
                                                f"bị từ chối khi ghi: {err.message_vi}")]) from err
        except _INTEGRITY_ERRORS as err:  # e.g. the same codes imported at the same moment by someone else
            raise ImportRejected([ImportProblem(path.name, 0, "-", "the database refused the rows (were they "
                                                "imported at the same time by someone else?): "
                                                f"{getattr(err, 'orig', None) or err}",
                                                "cơ sở dữ liệu từ chối các dòng (có ai nhập cùng lúc không?): "
                                                f"{getattr(err, 'orig', None) or err}")]) from err
        chain = next(iter(ctx.touched)) if len(ctx.touched) == 1 else None
        audit.record(session, actor, f"import.{kind}", "import", path.name, school_id=chain,
                     after={"file": path.name, "rows": len(sheet.rows), **created})
    return ImportResult(kind, path.name, len(sheet.rows), created)
