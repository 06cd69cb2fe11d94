"""The subject teacher's gradebook from a file (nhập điểm từ tệp): one row per student, subject
and term, in CSV or Excel, read like the other templates (:func:`core.school.importer.read_sheet`)
and checked whole by the same rules as the API (:mod:`core.transcripts.gradebook`): every
problem is listed with its row, and nothing is stored unless every row is right.

Columns (``docs/import-templates.md``, ``grades``): ``school_code``, ``class_name``,
``subject_code``, ``personal_id``, ``term`` (1 or 2), ``regular`` (the regular assessments,
separated by ``;`` — scores such as ``8; 7,5; 9`` or ``Đạt``/``Chưa đạt`` for a comment-only
subject), ``mid``, ``final`` and, optional, ``comment`` — for lower and upper secondary (Thông tư
22/2021/TT-BGDĐT). A primary class's row (Thông tư 27/2020/TT-BGDĐT Art. 7) is one per student
and subject for the year: ``term`` ``year`` (or ``cả năm``), ``rating`` (T, H, C or their names)
and ``test`` (the year-end periodic test, a whole number 0–10, only for the subjects that have
one), with ``regular``, ``mid`` and ``final`` left empty."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel.errors import ImportRejected
from core.kernel.vocabulary import SchoolLevel
from core.school.importer import ImportProblem, ImportResult, read_sheet
from core.school.rules.curriculum import level_of_grade
from core.storage.db import Database
from core.storage.models import District, Enrolment, School, SchoolClass, SchoolYear, Student, Subject
from core.transcripts.gradebook import enter_in, problems_in

COLUMNS = ("school_code", "class_name", "subject_code", "personal_id", "term", "regular", "mid", "final", "comment",
           "rating", "test")
#: Columns a file may leave out of its header (a secondary gradebook needs no rating or test)
OPTIONAL = {"comment", "rating", "test"}
#: Values every row needs; the rest depend on the class's level
ALWAYS = ("school_code", "class_name", "subject_code", "personal_id", "term")
SECONDARY_PARTS = ("regular", "mid", "final")
#: How a primary row names the year (TT27: the year's rating and year-end test)
YEAR_TERMS = {"year", "cả năm", "ca nam", "cn"}
MAX_ROWS = 20_000


def import_grades(db: Database, actor: Actor, path: str | Path, *, school_year_id: int | None = None) -> ImportResult:
    """Import a gradebook file for the classes and subjects ``actor`` teaches, all or nothing.
    ``school_year_id``: the year (default: the latest of each school's department). Raises
    :class:`~core.kernel.errors.ImportRejected` listing every problem (row, column, reason in
    English and Vietnamese); then nothing has been written."""
    require(actor, Permission.EDIT_ENTRY)
    path = Path(path)
    sheet = read_sheet(path)
    problems = list(sheet.problems)

    def problem(row: int, column: str, en: str, vi: str) -> None:
        problems.append(ImportProblem(path.name, row, column, en, vi))

    for column in COLUMNS:
        if sheet.header and column not in sheet.header and column not in OPTIONAL:
            problem(1, column, "missing column in the header", "thiếu cột trong dòng tiêu đề")
    if sheet.header and not sheet.rows:
        problem(0, "-", "the file has no data rows", "tệp không có dòng dữ liệu")
    if len(sheet.rows) > MAX_ROWS:
        problem(0, "-", f"at most {MAX_ROWS} rows in one file", f"tối đa {MAX_ROWS} dòng mỗi tệp")
    if problems:
        raise ImportRejected(problems)
    with db.transaction() as session:
        schools = {s.code: s for s in session.scalars(select(School))}
        subjects = {s.code: s for s in session.scalars(select(Subject))}
        groups: dict[tuple[int, int, int], dict[int, dict]] = defaultdict(dict)
        comments: dict[tuple[int, int, int], dict[int, str]] = defaultdict(dict)
        first_row: dict[tuple, int] = {}
        # each school's year, its classes and each class's students, read once for the file
        years: dict[int, int] = {}
        classes: dict[tuple[int, int], dict[str, SchoolClass]] = {}
        enrolled: dict[int, dict[str, int]] = {}
        seen: set[tuple] = set()
        for number, values in sheet.rows:
            cell = {c: values.get(c, "").strip() for c in COLUMNS}
            missing = [c for c in ALWAYS if not cell[c]]
            for column in missing:
                problem(number, column, "a value is required", "cần có giá trị")
            if missing:
                continue
            school = schools.get(cell["school_code"])
            if school is None or not actor.sees_school(school.id):
                problem(number, "school_code", f"unknown school {cell['school_code']!r}",
                        f"không có trường {cell['school_code']!r}")
                continue
            if school.id not in years:
                years[school.id] = school_year_id or session.scalar(
                    select(SchoolYear.id).where(SchoolYear.department_id == _department(session, school))
                    .order_by(SchoolYear.start_date.desc()).limit(1))
            year_id = years[school.id]
            if (school.id, year_id) not in classes:
                classes[(school.id, year_id)] = {c.name: c for c in session.scalars(select(SchoolClass).where(
                    SchoolClass.school_id == school.id, SchoolClass.school_year_id == year_id))}
            klass = classes[(school.id, year_id)].get(cell["class_name"])
            if klass is None:
                problem(number, "class_name", f"unknown class {cell['class_name']!r} in school {school.code}",
                        f"không có lớp {cell['class_name']!r} ở trường {school.code}")
                continue
            primary = level_of_grade(klass.grade) == SchoolLevel.PRIMARY
            if primary:
                wrong = [c for c in SECONDARY_PARTS if cell[c]] + ([] if cell["rating"] else ["rating"])
                for column in wrong:
                    problem(number, column, *(("a primary row has a rating and a test, no scores per term (TT27/2020 "
                                               "Art. 7)", "dòng tiểu học ghi mức đạt được và điểm kiểm tra, không "
                                               "ghi điểm từng học kì (TT27/2020 Điều 7)") if column != "rating" else
                                              ("a value is required", "cần có giá trị")))
                if cell["term"].lower() not in YEAR_TERMS:
                    problem(number, "term", f"{cell['term']!r}: a primary row is the year's (year)",
                            f"{cell['term']!r}: dòng tiểu học là kết quả cả năm (year / cả năm)")
                    continue
                if wrong:
                    continue
            else:
                wrong = [c for c in SECONDARY_PARTS if not cell[c]]
                for column in wrong:
                    problem(number, column, "a value is required", "cần có giá trị")
                for column in ("rating", "test"):
                    if cell[column]:
                        wrong.append(column)
                        problem(number, column, "a secondary row has scores per term, no rating or test",
                                "dòng trung học ghi điểm từng học kì, không ghi mức đạt được hay điểm kiểm tra")
                if wrong:
                    continue
            subject = subjects.get(cell["subject_code"])
            if subject is None:
                problem(number, "subject_code", f"unknown subject {cell['subject_code']!r}",
                        f"không có môn {cell['subject_code']!r}")
                continue
            if klass.id not in enrolled:
                enrolled[klass.id] = dict(session.execute(
                    select(Student.personal_id, Student.id).join(Enrolment, Enrolment.student_id == Student.id)
                    .where(Enrolment.class_id == klass.id)).all())
            student = enrolled[klass.id].get(cell["personal_id"])
            if student is None:
                problem(number, "personal_id", f"no student {cell['personal_id']} in class {klass.name}",
                        f"lớp {klass.name} không có học sinh {cell['personal_id']}")
                continue
            term = "year" if primary else cell["term"]
            if not primary and term not in ("1", "2"):
                problem(number, "term", f"{cell['term']!r} is not a term (1 or 2)",
                        f"{cell['term']!r} không phải học kì (1 hoặc 2)")
                continue
            key = (klass.id, subject.id, year_id)
            if (key, student, term) in seen:
                problem(number, "term", "this student's term appears twice in the file",
                        "học kì này của học sinh xuất hiện hai lần trong tệp")
                continue
            seen.add((key, student, term))
            first_row.setdefault((key, student), number)
            first_row.setdefault((key, None), number)
            first_row[(key, student, term)] = number
            if primary:
                groups[key][student] = {"rating": cell["rating"], "test": cell["test"] or None}
            else:
                groups[key].setdefault(student, {})[f"term{term}"] = {
                    "regular": [v.strip() for v in cell["regular"].split(";") if v.strip()],
                    "mid": cell["mid"], "final": cell["final"]}
            if cell["comment"]:
                comments[key][student] = cell["comment"]
        for key, results in groups.items():
            for student, err in problems_in(session, actor, key[0], key[1], key[2], results).items():
                term = next((t for t in ("1", "2") if f"term {t}" in getattr(err, "field", "")), None)
                row = first_row.get((key, student, term)) or first_row[(key, student)]
                problem(row, "-", err.message, err.message_vi)
        if problems:
            raise ImportRejected(sorted(problems, key=lambda p: p.row))
        for key, results in groups.items():
            enter_in(session, actor, key[0], key[1], key[2], results, comments.get(key) or None)
        audit.record(session, actor, "import.grades", "import", path.name,
                     after={"file": path.name, "rows": len(sheet.rows), "class_subjects": len(groups)})
    return ImportResult("grades", path.name, len(sheet.rows),
                        {"class_subjects": len(groups), "results": sum(len(r) for r in groups.values())})


def _department(session, school: School) -> int:
    return session.scalar(select(District.department_id).where(District.id == school.district_id))
