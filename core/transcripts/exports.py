"""Exports of the issued transcripts' data for other systems (docs/transcript-data.md), within
the caller's rights, each audited:

- :func:`national_export` for the national education database (cơ sở dữ liệu ngành giáo dục):
  a ZIP with ``hocba.jsonl`` (one issued transcript's data a line, schema 1.0 of
  :mod:`core.transcripts.data`, with its issuance), ``ketquamonhoc.csv`` (one row per
  transcript and subject) and ``manifest.json`` (format, scope, counts, each file's SHA-256).
  For the people who keep the schools' data (the permission to import data: the principal,
  the clerk, the department, the administrator).
- :func:`oneroster_export`: OneRoster 1.2 CSV (1EdTech) for analysts and other systems: a ZIP
  with ``manifest.csv``, ``orgs.csv``, ``academicSessions.csv``, ``courses.csv``,
  ``classes.csv``, ``users.csv``, ``roles.csv``, ``enrollments.csv``, ``categories.csv``,
  ``lineItems.csv``, ``results.csv``. For anyone who may view the schools (analysts included);
  the names of students and staff are in it only for those who may also import the data, and
  pseudonyms (``HS<id>``, ``GV<id>``) otherwise — an analyst needs the structure, not the
  names (Nghị định 13/2023/NĐ-CP, Art. 3: data minimisation). Personal ID numbers are never in it.

Both read issued transcripts only (the results the school signed), of one school year, of the
schools in the caller's scope (or one of them).
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from sqlalchemy import select

from core.access import audit
from core.access.authz import Actor, Permission
from core.kernel import clock
from core.kernel.errors import NotFound, PermissionDenied
from core.kernel.vocabulary import Role, TranscriptStatus
from core.storage.db import Database
from core.storage.models import (
    Department,
    District,
    Enrolment,
    School,
    SchoolClass,
    SchoolYear,
    Staff,
    Student,
    Subject,
    TeachingAssignment,
    Transcript,
    UserAccount,
)
from core.transcripts.data import SCHEMA_VERSION, transcript_data

NATIONAL_FORMAT = "sohoa-csdl-nganh-1.0"
#: The calendar's first term (MOET school-year framework: 18 + 17 teaching weeks), breaks not counted
TERM1_WEEKS = 18


@dataclass(frozen=True)
class Export:
    """A written export: the ZIP's bytes and what it holds."""

    archive: bytes
    counts: dict[str, int]
    schools: list[str]


def _scope(session, actor: Actor, permission: Permission, school_code: str | None, year_name: str | None):
    """The schools (in the actor's scope, with ``permission`` there) and the school year."""
    if not actor.may(permission):
        raise PermissionDenied(f"exporting needs the permission {permission.value}",
                               message_vi="Bạn không có quyền xuất dữ liệu này")
    query = select(School).where(actor.school_filter(School.id)).order_by(School.code)
    if school_code is not None:
        query = query.where(School.code == school_code)
    schools = list(session.scalars(query))
    if school_code is not None and not schools:
        raise NotFound(f"no school {school_code} in your scope", message_vi=f"Không có trường {school_code} "
                                                                            "trong phạm vi của bạn")
    years = select(SchoolYear).order_by(SchoolYear.start_date.desc())
    if year_name is not None:
        years = years.where(SchoolYear.name == year_name)
    year = session.scalars(years).first()
    if year is None:
        raise NotFound(f"no school year {year_name}", message_vi=f"Không có năm học {year_name}")
    return schools, year


def _issued(session, schools: list[School], year: SchoolYear) -> list[Transcript]:
    if not schools:
        return []
    return list(session.scalars(select(Transcript).where(
        Transcript.school_id.in_([s.id for s in schools]), Transcript.school_year_id == year.id,
        Transcript.status == TranscriptStatus.ISSUED).order_by(Transcript.school_id, Transcript.class_id,
                                                               Transcript.id)))


def _csv(header: list[str], rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # the same bytes for the same data
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return out.getvalue()


def _audit(session, actor: Actor, action: str, schools: list[School], year: SchoolYear, counts: dict,
           digest: str) -> None:
    changes = [audit.Change(action, "export", f"{year.name}", s.id, None,
                            {"year": year.name, "counts": counts, "sha256": digest}, None) for s in schools]
    if changes:
        audit.record_many(session, actor, changes)


# ---------------------------------------------------------------- national education database
def national_export(db: Database, actor: Actor, *, school_code: str | None = None,
                    year_name: str | None = None) -> Export:
    """The issued transcripts of the year (the latest unless ``year_name``) of the schools in
    the actor's scope (or ``school_code``), for the national education database."""
    with db.transaction() as session:
        schools, year = _scope(session, actor, Permission.IMPORT_DATA, school_code, year_name)
        rows = _issued(session, schools, year)
        lines, subject_rows = [], []
        for row in rows:
            data = transcript_data(row.content, row.verification_code, row.content_hash)
            data["caphocba"] = {"trangthai": "dacap", "ngaycap": (row.issued_at or clock.now()).date().isoformat(),
                                "bampdf": hashlib.sha256(row.document).hexdigest() if row.document else None}
            lines.append(json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
            for line in data["ketquamonhoc"]:
                subject_rows.append([data["madinhdanhhocba"], data["hocsinh"]["sodinhdanhcanhan"],
                                     data["truong"]["matruong"], data["namhoc"], data["lop"]["khoi"],
                                     data["lop"]["tenlop"], line["mamonhoc"], line["tenmonhoc"],
                                     line.get("diemhk1") or "", line.get("diemhk2") or "",
                                     line.get("ketquacanam") or line.get("mucdatduoc") or "",
                                     line.get("diemktcuoinam") or "", line.get("ketquakiemtralai") or ""])
        files = {"hocba.jsonl": ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"),
                 "ketquamonhoc.csv": _csv(["madinhdanhhocba", "sodinhdanhcanhan", "matruong", "namhoc", "khoi",
                                           "tenlop", "mamonhoc", "tenmonhoc", "diemhk1", "diemhk2", "ketquacanam",
                                           "diemktcuoinam", "ketquakiemtralai"], subject_rows)}
        counts = {"transcripts": len(lines), "subject_results": len(subject_rows)}
        manifest = {"format": NATIONAL_FORMAT, "schema": SCHEMA_VERSION, "namhoc": year.name,
                    "truong": [s.code for s in schools], "counts": counts,
                    "created_at": clock.now().replace(tzinfo=clock.VN_TZ).isoformat(timespec="seconds"),
                    "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
        files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
        archive = _zip(files)
        _audit(session, actor, "export.national", schools, year, counts, hashlib.sha256(archive).hexdigest())
        return Export(archive, counts, [s.code for s in schools])


# ---------------------------------------------------------------- OneRoster 1.2 CSV
ONEROSTER_FILES = ("academicSessions", "categories", "classes", "classResources", "courses", "courseResources",
                   "demographics", "enrollments", "lineItemLearningObjectiveIds", "lineItems",
                   "lineItemScoreScales", "orgs", "resources", "resultLearningObjectiveIds", "results",
                   "resultScoreScales", "roles", "scoreScales", "userProfiles", "userResources", "users")
WRITTEN = ("academicSessions", "categories", "classes", "courses", "enrollments", "lineItems", "orgs", "results",
           "roles", "users")
HEADERS = {
    "orgs": ["sourcedId", "status", "dateLastModified", "name", "type", "identifier", "parentSourcedId"],
    "academicSessions": ["sourcedId", "status", "dateLastModified", "title", "type", "startDate", "endDate",
                         "parentSourcedId", "schoolYear"],
    "courses": ["sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title", "courseCode", "grades",
                "orgSourcedId", "subjects", "subjectCodes"],
    "classes": ["sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId", "classCode",
                "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects", "subjectCodes", "periods"],
    "users": ["sourcedId", "status", "dateLastModified", "enabledUser", "username", "userIds", "givenName",
              "familyName", "middleName", "identifier", "email", "sms", "phone", "agentSourcedIds", "grades",
              "password", "userMasterIdentifier", "preferredGivenName", "preferredMiddleName",
              "preferredFamilyName", "primaryOrgSourcedId", "pronouns"],
    "roles": ["sourcedId", "status", "dateLastModified", "userSourcedId", "roleType", "role", "beginDate", "endDate",
              "orgSourcedId", "userProfileSourcedId"],
    "enrollments": ["sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId", "userSourcedId",
                    "role", "primary", "beginDate", "endDate"],
    "categories": ["sourcedId", "status", "dateLastModified", "title", "weight"],
    "lineItems": ["sourcedId", "status", "dateLastModified", "title", "description", "assignDate", "dueDate",
                  "classSourcedId", "categorySourcedId", "gradingPeriodSourcedId", "resultValueMin",
                  "resultValueMax"],
    "results": ["sourcedId", "status", "dateLastModified", "lineItemSourcedId", "studentSourcedId", "scoreStatus",
                "score", "textScore", "scoreDate", "comment"],
}
#: What a result column of the transcript is, as a OneRoster line item: (key, title, term)
LINE_ITEMS = (("term1", "Điểm trung bình học kì I", 1), ("term2", "Điểm trung bình học kì II", 2),
              ("year", "Kết quả cả năm", None))


def _names(full_name: str) -> tuple[str, str, str]:
    """(given, family, middle) of a Vietnamese full name: họ first, tên last."""
    parts = full_name.split()
    if len(parts) == 1:
        return parts[0], parts[0], ""
    return parts[-1], parts[0], " ".join(parts[1:-1])


def _decimal_or_none(text: str | None) -> str | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return f"{value:.1f}" if 0 <= value <= 10 else None


def oneroster_export(db: Database, actor: Actor, *, school_code: str | None = None,
                     year_name: str | None = None) -> Export:
    """The year's organisations, sessions, classes, people, enrolments and issued results of the
    schools in the actor's scope (or ``school_code``) as OneRoster 1.2 CSV (bulk)."""
    with db.transaction() as session:
        schools, year = _scope(session, actor, Permission.VIEW, school_code, year_name)
        named = actor.may(Permission.IMPORT_DATA)
        stamp = clock.to_utc(clock.now()).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        ids = [s.id for s in schools]
        rows: dict[str, list[list]] = {name: [] for name in HEADERS}
        # organisations: the department, then its schools
        districts = {d.id: d for d in session.scalars(select(District).where(
            District.id.in_({s.district_id for s in schools})))} if schools else {}
        departments = {d.id: d for d in session.scalars(select(Department).where(
            Department.id.in_({d.department_id for d in districts.values()})))} if districts else {}
        for d in departments.values():
            rows["orgs"].append([f"org-dept-{d.id}", "active", stamp, d.name, "state", d.code, ""])
        for s in schools:
            parent = districts[s.district_id].department_id if s.district_id in districts else None
            rows["orgs"].append([f"org-school-{s.id}", "active", stamp, s.name, "school", s.code,
                                 f"org-dept-{parent}" if parent else ""])
        # sessions: the year and its two terms
        year_id = f"as-year-{year.id}"
        split = year.start_date + dt.timedelta(weeks=TERM1_WEEKS)
        rows["academicSessions"] += [
            [year_id, "active", stamp, f"Năm học {year.name}", "schoolYear", year.start_date.isoformat(),
             year.end_date.isoformat(), "", str(year.end_date.year)],
            [f"as-term1-{year.id}", "active", stamp, "Học kì I", "semester", year.start_date.isoformat(),
             (split - dt.timedelta(days=1)).isoformat(), year_id, str(year.end_date.year)],
            [f"as-term2-{year.id}", "active", stamp, "Học kì II", "semester", split.isoformat(),
             year.end_date.isoformat(), year_id, str(year.end_date.year)]]
        term_ids = f"as-term1-{year.id},as-term2-{year.id}"
        classes = list(session.scalars(select(SchoolClass).where(
            SchoolClass.school_id.in_(ids), SchoolClass.school_year_id == year.id).order_by(SchoolClass.id))) \
            if ids else []
        class_by_id = {c.id: c for c in classes}
        taught = session.execute(select(TeachingAssignment, Subject).join(
            Subject, Subject.id == TeachingAssignment.subject_id).where(
            TeachingAssignment.class_id.in_(list(class_by_id)), TeachingAssignment.valid_to.is_(None))
            .order_by(TeachingAssignment.class_id, Subject.code)).all() if classes else []
        courses: set[tuple[int, int, int]] = set()
        subject_class: dict[tuple[int, str], str] = {}
        staff_ids: set[int] = set()
        for ta, subject in taught:
            klass = class_by_id[ta.class_id]
            course = (klass.school_id, subject.id, klass.grade)
            if course not in courses:
                courses.add(course)
                rows["courses"].append([f"course-{klass.school_id}-{subject.id}-{klass.grade}", "active", stamp,
                                        year_id, f"{subject.name} {klass.grade}", f"{subject.code}-{klass.grade}",
                                        f"{klass.grade:02d}", f"org-school-{klass.school_id}", subject.name,
                                        subject.code])
            class_sid = f"class-{klass.id}-{subject.id}"
            subject_class[(klass.id, subject.code)] = class_sid
            rows["classes"].append([class_sid, "active", stamp, f"{klass.name} – {subject.name}", f"{klass.grade:02d}",
                                    f"course-{klass.school_id}-{subject.id}-{klass.grade}", f"{klass.name}-{subject.code}",
                                    "scheduled", "", f"org-school-{klass.school_id}", term_ids, subject.name,
                                    subject.code, ""])
            rows["enrollments"].append([f"enr-t-{ta.id}", "active", stamp, class_sid, f"org-school-{klass.school_id}",
                                        f"user-staff-{ta.teacher_id}", "teacher", "true",
                                        ta.valid_from.isoformat() if ta.valid_from else "", ""])
            staff_ids.add(ta.teacher_id)
        enrolled = session.execute(select(Enrolment, Student).join(Student, Student.id == Enrolment.student_id)
                                   .where(Enrolment.class_id.in_(list(class_by_id))).order_by(Enrolment.id)).all() \
            if classes else []
        students: dict[int, tuple[Student, SchoolClass]] = {}
        for enrolment, student in enrolled:
            klass = class_by_id[enrolment.class_id]
            students[student.id] = (student, klass)
            for (class_id, code), class_sid in subject_class.items():
                if class_id == klass.id:
                    rows["enrollments"].append([f"enr-s-{enrolment.id}-{code}", "active", stamp, class_sid,
                                                f"org-school-{klass.school_id}", f"user-student-{student.id}",
                                                "student", "false", enrolment.valid_from.isoformat()
                                                if enrolment.valid_from else "", enrolment.valid_to.isoformat()
                                                if enrolment.valid_to else ""])
        for student, klass in students.values():
            given, family, middle = _names(student.full_name) if named else (f"HS{student.id}", "HS", "")
            rows["users"].append([f"user-student-{student.id}", "active", stamp, "true", f"hs{student.id}", "",
                                  given, family, middle, f"HS{student.id}", "", "", "", "", f"{klass.grade:02d}", "",
                                  "", "", "", "", f"org-school-{klass.school_id}", ""])
            rows["roles"].append([f"role-student-{student.id}", "active", stamp, f"user-student-{student.id}",
                                  "primary", "student", "", "", f"org-school-{klass.school_id}", ""])
        principals = {staff_id for staff_id, role in session.execute(
            select(UserAccount.staff_id, UserAccount.role).where(UserAccount.staff_id.is_not(None),
                                                                 UserAccount.school_id.in_(ids)))
            if role in (Role.PRINCIPAL, Role.PRINCIPAL.value)} if ids else set()
        for staff in session.scalars(select(Staff).where(Staff.id.in_(staff_ids | principals)).order_by(Staff.id)):
            given, family, middle = _names(staff.full_name) if named else (f"GV{staff.id}", "GV", "")
            rows["users"].append([f"user-staff-{staff.id}", "active" if staff.active else "tobedeleted", stamp,
                                  "true" if staff.active else "false", staff.code, "", given, family, middle,
                                  staff.code, (staff.email or "") if named else "", "", "", "", "", "", "", "", "",
                                  "", f"org-school-{staff.school_id}", ""])
            role = "administrator" if staff.id in principals else "teacher"
            rows["roles"].append([f"role-staff-{staff.id}", "active", stamp, f"user-staff-{staff.id}", "primary",
                                  role, "", "", f"org-school-{staff.school_id}", ""])
        # results: the issued transcripts' term and year results
        rows["categories"].append(["cat-transcript", "active", stamp, "Kết quả trên học bạ", "1"])
        items: set[str] = set()
        for row in _issued(session, schools, year):
            klass = class_by_id.get(row.class_id)
            if klass is None:
                continue
            when = (row.issued_at or clock.now()).date().isoformat()
            for line in row.content["subjects"]:
                class_sid = subject_class.get((klass.id, line["code"]))
                if class_sid is None:
                    continue
                for key, title, term in LINE_ITEMS:
                    value = line.get(key) or ""
                    if not value:
                        continue
                    item = f"li-{class_sid}-{key}"
                    if item not in items:
                        items.add(item)
                        rows["lineItems"].append([item, "active", stamp, title, f"{title} – {line['name']}",
                                                  year.start_date.isoformat(), year.end_date.isoformat(), class_sid,
                                                  "cat-transcript", f"as-term{term}-{year.id}" if term else year_id,
                                                  "0.0", "10.0"])
                    score = _decimal_or_none(value)
                    rows["results"].append([f"res-{row.id}-{line['code']}-{key}", "active", stamp, item,
                                            f"user-student-{row.student_id}", "fully graded", score or "",
                                            "" if score else value, when, ""])
        files = {"manifest.csv": _csv(["propertyName", "value"], [
            ["manifest.version", "1.0"], ["oneroster.version", "1.2"],
            *[[f"file.{name}", "bulk" if name in WRITTEN else "absent"] for name in ONEROSTER_FILES],
            ["source.systemName", "sohoa"], ["source.systemCode", "sohoa-1"]])}
        for name in sorted(WRITTEN):
            files[f"{name}.csv"] = _csv(HEADERS[name], rows[name])
        counts = {name: len(rows[name]) for name in sorted(WRITTEN)}
        archive = _zip(files)
        _audit(session, actor, "export.oneroster", schools, year, counts, hashlib.sha256(archive).hexdigest())
        return Export(archive, counts, [s.code for s in schools])
