"""Synthetic data (dữ liệu mô phỏng): a deterministic, realistic department for the demo,
the tests and the benchmarks.

Everything follows from ``Scale.seed``: the organisation, a conflict-free timetable per
school, and a behaviour model for signing (most teachers sign on time, some are habitually
late or forgetful, some schools are far worse than others), substitutions, absences,
holidays, certificates that expire or are revoked mid-term, weekly closes on time, late,
missing or reopened. Every signed entry carries a real CMS signature made with the
teacher's demo key over exactly the bytes :func:`core.services.logbook.entry_bytes` rebuilds.

All writes are bulk (COPY on PostgreSQL), per school and week, so memory stays bounded.
"""
from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select

from core import audit
from core.authz import SYSTEM
from core.documents import entry_document, sha256_hex, week_document
from core.rules import curriculum
from core.rules.calendar import teaching_weeks
from core.rules.personal_id import make_personal_id
from core.rules.signing_window import classify_signing
from core.rules.weekly_close import close_deadline
from core.services.logbook import plan_week_entries
from core.services.timetable import SlotSpec
from core.signatures import DemoPKI, KeyStore
from core.storage.bulk import allocate_ids, bulk_insert, reset_sequences
from core.storage.db import Database
from core.storage.models import (
    BellPeriod, Certificate, CertificateKind, CurriculumLoad, Department, District, Enrolment, EntryAbsence,
    EntryStatus, Holiday, LogbookEntry, MonitorAssignment, Ownership, Role, School, SchoolClass, SchoolLevel,
    SchoolWeek, SchoolYear, Sex, Staff, StaffAssignment, StaffRole, Student, StudentRemark, Subject,
    TeachingAssignment, TimetableSlot, TimetableVersion, UserAccount, WeekClose, WeekCloseStatus, WeekReopen,
)

FIRST_MONDAY = dt.date(2025, 9, 8)
TET_BREAK = frozenset({dt.date(2026, 2, 16)})
HOLIDAYS = {dt.date(2026, 1, 1): "Tết Dương lịch", dt.date(2026, 4, 30): "Ngày Giải phóng miền Nam",
            dt.date(2026, 5, 1): "Quốc tế Lao động", dt.date(2026, 4, 27): "Giỗ Tổ Hùng Vương (nghỉ bù)"}
DISTRICT_NAMES = ["Quận 1", "Quận 3", "Quận 5", "Quận 10", "Bình Thạnh", "Gò Vấp", "Phú Nhuận", "Tân Bình",
                  "Thủ Đức", "Bình Tân", "Quận 7", "Quận 8", "Tân Phú", "Hóc Môn", "Củ Chi", "Nhà Bè"]
SCHOOL_NAMES = ["Lê Quý Đôn", "Nguyễn Du", "Trần Hưng Đạo", "Lê Lợi", "Minh Đức", "Võ Trường Toản",
                "Nguyễn Thị Minh Khai", "Chu Văn An", "Hai Bà Trưng", "Lương Thế Vinh", "Nguyễn Trãi",
                "Trần Quốc Toản", "Kim Đồng", "Phan Đình Phùng", "Lý Thường Kiệt", "Hồ Thị Kỷ"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE_M, MIDDLE_F = ["Văn", "Minh", "Quốc", "Đức", "Hữu"], ["Thị", "Ngọc", "Thu", "Thanh", "Mai"]
GIVEN_M = ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tâm", "Tuấn"]
GIVEN_F = ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Lan", "Linh", "My", "Nga", "Oanh", "Phương", "Thảo", "Vy"]
REMARKS = ["Em phát biểu xây dựng bài tốt", "Em chưa làm bài tập về nhà", "Em tiến bộ rõ",
           "Em còn nói chuyện riêng", "Em giúp bạn học tốt"]
CLASS_REMARKS = ["Lớp học tập sôi nổi", "Lớp còn ồn", "Lớp chuẩn bị bài tốt", "Cần nhắc nhở giữ trật tự"]
# Habits: (share of teachers, P(missed), P(late)) before the school's quality factor.
HABITS = {"punctual": (0.72, 0.01, 0.02), "late": (0.14, 0.03, 0.30), "forgetful": (0.10, 0.20, 0.05),
          "careless": (0.04, 0.35, 0.30)}
PERIODS_PER_TEACHER = 18


@dataclass(frozen=True)
class Scale:
    """How big: districts × schools per district × classes per school, over ``weeks`` weeks."""

    districts: int = 2
    schools_per_district: int = 4
    classes_per_school: int = 8
    weeks: int = 18
    students_per_class: int = 30
    seed: int = 2025


@dataclass
class GenerationReport:
    schools: int = 0
    classes: int = 0
    staff: int = 0
    students: int = 0
    entries: int = 0
    signed: int = 0
    week_closes: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"demo data: {self.schools} schools, {self.classes} classes, {self.staff} staff, "
                f"{self.students} students, {self.entries:,} logbook entries ({self.signed:,} signed), "
                f"{self.week_closes} week closes in {self.seconds:.1f} s")


def _person(rng: random.Random, sex: str) -> str:
    middle, given = (MIDDLE_F, GIVEN_F) if sex == "F" else (MIDDLE_M, GIVEN_M)
    return f"{rng.choice(FAMILY)} {rng.choice(middle)} {rng.choice(given)}"


def _level_for(index: int) -> SchoolLevel:
    return (SchoolLevel.PRIMARY, SchoolLevel.LOWER_SECONDARY, SchoolLevel.UPPER_SECONDARY)[index % 3]


def _bells(level: SchoolLevel) -> list[tuple[str, int, dt.time, dt.time]]:
    """Primary: 35-minute periods, two sessions; secondary: 45-minute periods, mornings plus one afternoon."""
    def t(h, m):
        return dt.time(h, m)
    if level == SchoolLevel.PRIMARY:
        return [("morning", 1, t(7, 30), t(8, 5)), ("morning", 2, t(8, 10), t(8, 45)),
                ("morning", 3, t(9, 5), t(9, 40)), ("morning", 4, t(9, 45), t(10, 20)),
                ("afternoon", 5, t(14, 0), t(14, 35)), ("afternoon", 6, t(14, 40), t(15, 15))]
    return [("morning", 1, t(7, 0), t(7, 45)), ("morning", 2, t(7, 50), t(8, 35)),
            ("morning", 3, t(8, 50), t(9, 35)), ("morning", 4, t(9, 40), t(10, 25)),
            ("morning", 5, t(10, 30), t(11, 15)), ("afternoon", 6, t(14, 0), t(14, 45))]


class _Ids:
    """Consecutive ids per table, allocated from the database once per batch."""

    def __init__(self, session):
        self.session = session

    def take(self, model, n: int) -> list[int]:
        return list(allocate_ids(self.session, model, n))


def generate(db: Database, scale: Scale, *, pki_dir: Path, progress: bool = True,
             as_of: dt.datetime | None = None, responder_url: str | None = None) -> GenerationReport:
    """Build a whole department into an empty record store; see the module docstring.
    ``responder_url`` is where the demo PKI's CRL/OCSP/TSA responder will answer (written into
    every certificate); :mod:`core.cli` starts it with the console."""
    started = time.perf_counter()
    rng = random.Random(scale.seed)
    report = GenerationReport()
    pki = DemoPKI.create(Path(pki_dir), responder_url=responder_url)
    keys = KeyStore(Path(pki_dir))
    weeks_all = teaching_weeks(FIRST_MONDAY, breaks=TET_BREAK)
    weeks = weeks_all[:scale.weeks]
    as_of = as_of or dt.datetime.combine(weeks[-1].monday + dt.timedelta(days=7), dt.time(0, 0))

    with db.transaction() as session:
        ids = _Ids(session)
        dep = Department(code="SGD-HCM", name="Sở GD&ĐT TP. Hồ Chí Minh", province_code="079")
        session.add(dep)
        session.flush()
        year = SchoolYear(department_id=dep.id, name="2025-2026", start_date=FIRST_MONDAY,
                          end_date=dt.date(2026, 5, 31))
        session.add(year)
        session.flush()
        week_ids = ids.take(SchoolWeek, len(weeks_all))
        bulk_insert(session, SchoolWeek, [{"id": i, "school_year_id": year.id, "number": w.number, "term": w.term,
                                           "monday": w.monday} for i, w in zip(week_ids, weeks_all)])
        bulk_insert(session, Holiday, [{"school_year_id": year.id, "school_id": None, "day": d, "name": n}
                                       for d, n in HOLIDAYS.items()])
        subject_ids: dict[str, int] = {}
        specs = list(curriculum.CURRICULUM)
        for sid, spec in zip(ids.take(Subject, len(specs)), specs):
            subject_ids[spec.code] = sid
        bulk_insert(session, Subject, [{"id": subject_ids[s.code], "code": s.code, "name": s.name,
                                        "level": s.level, "comment_only": s.comment_only} for s in specs])
        bulk_insert(session, CurriculumLoad, [{"subject_id": subject_ids[s.code], "grade": g, "periods_per_year": n}
                                              for s in specs for g, n in s.periods_per_year.items()])
        district_ids = ids.take(District, scale.districts)
        bulk_insert(session, District, [{"id": d, "department_id": dep.id, "code": f"P{n + 1:02d}",
                                         "name": DISTRICT_NAMES[n % len(DISTRICT_NAMES)]}
                                        for n, d in enumerate(district_ids)])
        users = [{"username": "admin", "display_name": "Quản trị hệ thống", "role": Role.ADMINISTRATOR},
                 {"username": "so.giamsat", "display_name": "Giám sát Sở GD&ĐT", "role": Role.DEPARTMENT_SUPERVISOR,
                  "department_id": dep.id},
                 {"username": "phantich", "display_name": "Chuyên viên phân tích", "role": Role.ANALYST,
                  "department_id": dep.id}]
        users += [{"username": f"phong.{n + 1}", "display_name": f"Giám sát {DISTRICT_NAMES[n % 16]}",
                   "role": Role.DISTRICT_SUPERVISOR, "department_id": dep.id, "district_id": d}
                  for n, d in enumerate(district_ids)]
        _insert_users(session, ids, users)
        audit.record(session, SYSTEM, "synthetic.organisation", "department", dep.id,
                     after={"seed": scale.seed, "districts": scale.districts})
        context = {"dep": dep.id, "year": year.id, "weeks": dict(zip([w.number for w in weeks_all], week_ids)),
                   "subjects": subject_ids}
    report.timings["organisation"] = time.perf_counter() - started

    schools = [(d, k) for d in range(scale.districts) for k in range(scale.schools_per_district)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(schools) * len(weeks), desc="Tạo dữ liệu mẫu", unit="trường-tuần")
    no_monitor = len(schools) - 1  # the last school has no monitor: a figure supervisors watch
    for n, (d, k) in enumerate(schools):
        school = _School(n, district_ids[d], scale, rng, context, pki, keys, monitor=n != no_monitor)
        with db.transaction() as session:
            school.write_setup(session)
        report.staff += len(school.staff)
        report.students += len(school.students)
        report.classes += len(school.classes)
        for week in weeks:
            with db.transaction() as session:
                made, signed, closes = school.write_week(session, week, context["weeks"][week.number], as_of)
            report.entries += made
            report.signed += signed
            report.week_closes += closes
            if bar:
                bar.update(1)
        with db.transaction() as session:
            audit.record(session, SYSTEM, "synthetic.school", "school", school.id, school_id=school.id,
                         after={"weeks": len(weeks), "classes": len(school.classes)})
    if bar:
        bar.close()
    with db.transaction() as session:
        reset_sequences(session)
    report.schools = len(schools)
    report.seconds = time.perf_counter() - started
    return report


#: Every demo account signs in with this password (one scrypt hash shared by the demo users,
#: computed once per run: hashing each account separately would cost ~50 ms a user).
DEMO_PASSWORD = "sohoa-demo"


@lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    from core.accounts import hash_password

    return hash_password(DEMO_PASSWORD)


def _insert_users(session, ids: _Ids, rows: list[dict]) -> list[int]:
    new = ids.take(UserAccount, len(rows))
    cols = ["id", "username", "display_name", "role", "department_id", "district_id", "school_id", "staff_id",
            "active", "password_hash"]
    bulk_insert(session, UserAccount, [{**{c: None for c in cols}, **r, "id": i, "active": True,
                                        "password_hash": _demo_password_hash()}
                                       for i, r in zip(new, rows)], cols)
    return new


class _School:
    """One school's generated world, kept in memory while its weeks are written."""

    def __init__(self, n, district_id, scale, rng, context, pki, keys, *, monitor: bool):
        self.n, self.district_id, self.scale, self.rng, self.ctx = n, district_id, scale, rng, context
        self.pki, self.keys, self.monitor = pki, keys, monitor
        self.level = _level_for(n)
        prefix = {SchoolLevel.PRIMARY: "Tiểu học", SchoolLevel.LOWER_SECONDARY: "THCS",
                  SchoolLevel.UPPER_SECONDARY: "THPT"}[self.level]
        self.code = f"S{n + 1:04d}"
        self.name = f"Trường {prefix} {SCHOOL_NAMES[n % len(SCHOOL_NAMES)]}" + (f" {n // 16 + 1}" if n >= 16 else "")
        self.private = rng.random() < 0.15
        # School quality: most are fine, a few far worse than others.
        self.quality = rng.choice([1.0] * 5 + [0.8, 0.5])
        self.rating = rng.random() < 0.7
        self.bells = {p: (s, e) for _, p, s, e in _bells(self.level)}
        self.extra_holiday = FIRST_MONDAY + dt.timedelta(days=7 * rng.randrange(3, 15) + rng.randrange(0, 5))

    # ---------------------------------------------------------------- setup
    def write_setup(self, session) -> None:
        rng, ids, scale = self.rng, _Ids(session), self.scale
        self.id = ids.take(School, 1)[0]
        bulk_insert(session, School, [{"id": self.id, "district_id": self.district_id, "code": self.code,
                                       "name": self.name, "level": self.level,
                                       "ownership": Ownership.PRIVATE if self.private else Ownership.PUBLIC,
                                       "signing_grace_seconds": 300, "lesson_rating_enabled": self.rating}])
        bulk_insert(session, BellPeriod, [{"school_id": self.id, "session": sess, "period_no": p, "start_time": s,
                                           "end_time": e} for sess, p, s, e in _bells(self.level)])
        bulk_insert(session, Holiday, [{"school_year_id": self.ctx["year"], "school_id": self.id,
                                        "day": self.extra_holiday, "name": "Kỷ niệm ngày thành lập trường"}])
        grades = curriculum.grades_of(self.level)
        class_grades = [grades[i * len(grades) // scale.classes_per_school] for i in range(scale.classes_per_school)]
        per_grade = defaultdict(int)
        class_names = []
        for g in class_grades:
            per_grade[g] += 1
            class_names.append(f"{g}A{per_grade[g]}")
        weekly = {g: curriculum.weekly_periods(g) for g in set(class_grades)}
        load = defaultdict(int)
        for g in class_grades:
            for code, n in weekly[g].items():
                load[code] += n
        # Teachers per subject; primary homeroom teachers teach Vietnamese, maths and ethics of their class.
        staff_rows, self.staff = [], []
        teachers_of: dict[str, list[int]] = {}
        homeroom_subjects = {"TH-TV", "TH-TOAN", "TH-DD", "TH-TNXH", "TH-HDTN"}
        staff_ids = iter(ids.take(Staff, 4 + sum(-(-n // PERIODS_PER_TEACHER) for n in load.values())
                                  + len(class_grades)))
        def new_staff(role_title: str) -> int:
            sid = next(staff_ids)
            sex = rng.choice("MF" if role_title != "teacher" else "FFFM")
            staff_rows.append({"id": sid, "school_id": self.id, "code": f"{self.code}-{len(staff_rows) + 1:03d}",
                               "full_name": _person(rng, sex), "email": None, "active": True})
            self.staff.append((sid, role_title))
            return sid
        self.principal = new_staff("principal")
        self.vice = new_staff("vice_principal")
        self.monitor_staff = new_staff("school_monitor")
        self.clerk = new_staff("clerk")
        homerooms = []
        if self.level == SchoolLevel.PRIMARY:
            homerooms = [new_staff("teacher") for _ in class_grades]
        for code, n in sorted(load.items()):
            if self.level == SchoolLevel.PRIMARY and code in homeroom_subjects:
                continue
            teachers_of[code] = [new_staff("teacher") for _ in range(-(-n // PERIODS_PER_TEACHER))]
        if not homerooms:
            pool = [t for code in sorted(teachers_of) for t in teachers_of[code]]
            rng.shuffle(pool)
            homerooms = [pool[i % len(pool)] for i in range(len(class_grades))]
        bulk_insert(session, Staff, staff_rows)
        role_map = {"principal": StaffRole.PRINCIPAL, "vice_principal": StaffRole.VICE_PRINCIPAL,
                    "school_monitor": StaffRole.SCHOOL_MONITOR, "clerk": StaffRole.CLERK, "teacher": StaffRole.TEACHER}
        start = FIRST_MONDAY - dt.timedelta(days=14)
        assignments = [{"staff_id": s, "school_id": self.id, "role": role_map[r], "valid_from": start,
                        "valid_to": None} for s, r in self.staff]
        assignments += [{"staff_id": h, "school_id": self.id, "role": StaffRole.HOMEROOM_TEACHER,
                         "valid_from": start, "valid_to": None} for h in homerooms]
        bulk_insert(session, StaffAssignment, assignments)
        # Classes, students, enrolments.
        class_ids = ids.take(SchoolClass, len(class_grades))
        self.classes = list(zip(class_ids, class_names, class_grades))
        bulk_insert(session, SchoolClass, [{"id": c, "school_id": self.id, "school_year_id": self.ctx["year"],
                                            "grade": g, "name": name, "homeroom_teacher_id": h}
                                           for (c, name, g), h in zip(self.classes, homerooms)])
        self.homeroom = dict(zip(class_ids, homerooms))
        n_students = scale.students_per_class * len(class_ids)
        student_ids = ids.take(Student, n_students)
        students, enrol = [], []
        self.students = {}
        self.class_students: dict[int, list[int]] = {c: [] for c in class_ids}
        for i, sid in enumerate(student_ids):
            cid, _, grade = self.classes[i // scale.students_per_class]
            sex = rng.choice("MF")
            birth = dt.date(2025 - grade - 6, rng.randint(1, 12), rng.randint(1, 28))
            pid = make_personal_id("079", birth, sex, sid * 7919 + self.n)
            students.append({"id": sid, "personal_id": pid, "full_name": _person(rng, sex), "birth_date": birth,
                             "sex": Sex.FEMALE if sex == "F" else Sex.MALE})
            enrol.append({"student_id": sid, "class_id": cid, "valid_from": FIRST_MONDAY - dt.timedelta(days=7),
                          "valid_to": None})
            self.students[sid] = pid
            self.class_students[cid].append(sid)
        bulk_insert(session, Student, students)
        bulk_insert(session, Enrolment, enrol)
        # Teaching assignments and a conflict-free timetable.
        self.subject_code = {v: k for k, v in self.ctx["subjects"].items()}
        teach = {}
        for cid, _, g in self.classes:
            for code in weekly[g]:
                if self.level == SchoolLevel.PRIMARY and code in homeroom_subjects:
                    teach[(cid, code)] = self.homeroom[cid]
                else:
                    pool = teachers_of[code]
                    teach[(cid, code)] = min(pool, key=lambda t: sum(1 for v in teach.values() if v == t))
        bulk_insert(session, TeachingAssignment, [{"class_id": c, "subject_id": self.ctx["subjects"][code],
                                                   "teacher_id": t, "valid_from": FIRST_MONDAY, "valid_to": None}
                                                  for (c, code), t in teach.items()])
        self.versions = []  # (effective monday, slots)
        slots = self._timetable(weekly, teach)
        self.versions.append((FIRST_MONDAY, slots))
        if rng.random() < 0.5 and self.scale.weeks > 6:
            # A mid-term change: two lessons of one class swap places from week 6.
            changed = list(slots)
            cid = self.classes[0][0]
            own = [i for i, s in enumerate(changed) if s.class_id == cid]
            a, b = own[0], own[-1]
            sa, sb = changed[a], changed[b]
            if not self._clash(changed, sa.teacher_id, sb.weekday, sb.period_no, {a, b}) and \
                    not self._clash(changed, sb.teacher_id, sa.weekday, sa.period_no, {a, b}):
                changed[a] = SlotSpec(cid, sb.weekday, sb.period_no, sa.subject_id, sa.teacher_id)
                changed[b] = SlotSpec(cid, sa.weekday, sa.period_no, sb.subject_id, sb.teacher_id)
                self.versions.append((FIRST_MONDAY + dt.timedelta(weeks=5), changed))
        for monday, version_slots in self.versions:
            vid = ids.take(TimetableVersion, 1)[0]
            bulk_insert(session, TimetableVersion, [{"id": vid, "school_id": self.id, "effective_from": monday,
                                                     "created_at": dt.datetime.combine(monday - dt.timedelta(days=2),
                                                                                       dt.time(9)),
                                                     "note": "Thời khóa biểu học kỳ I"}])
            bulk_insert(session, TimetableSlot, [{"version_id": vid, "class_id": s.class_id, "weekday": s.weekday,
                                                  "period_no": s.period_no, "subject_id": s.subject_id,
                                                  "teacher_id": s.teacher_id} for s in version_slots])
        # Behaviour: each teacher's habit; certificates (a few expire or are revoked mid-term).
        names = [h for h in HABITS]
        weights = [HABITS[h][0] for h in names]
        self.habit = {s: rng.choices(names, weights)[0] for s, _ in self.staff}
        self.cert_end: dict[int, dt.datetime] = {}
        cert_rows = []
        teacher_ids = [s for s, r in self.staff if r == "teacher"]
        unlucky = rng.sample(teacher_ids, k=min(2, len(teacher_ids)))
        for sid, _ in self.staff:
            row = next(r for r in staff_rows if r["id"] == sid)
            not_after = dt.datetime(2027, 9, 1)
            revoked = None
            if sid == unlucky[0] and rng.random() < 0.5:
                not_after = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(weeks=9), dt.time(0))
            elif len(unlucky) > 1 and sid == unlucky[1] and rng.random() < 0.3:
                revoked = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(weeks=11, days=2), dt.time(12))
            cred = self.pki.issue_personal(f"staff-{sid}", row["full_name"], not_before=dt.datetime(2025, 1, 1),
                                           not_after=not_after, organisation=self.name)
            self.cert_end[sid] = min(not_after, revoked or not_after)
            cert_rows.append({"kind": CertificateKind.PERSONAL, "staff_id": sid, "school_id": self.id,
                              "fingerprint": cred.fingerprint, "serial_hex": cred.serial_hex, "subject": cred.subject,
                              "not_before": cred.not_before, "not_after": cred.not_after, "der": cred.cert_der,
                              "revoked_at": revoked})
        seal = self.pki.issue_seal(f"school-{self.id}", self.name, not_before=dt.datetime(2025, 1, 1))
        cert_rows.append({"kind": CertificateKind.SEAL, "staff_id": None, "school_id": self.id,
                          "fingerprint": seal.fingerprint, "serial_hex": seal.serial_hex, "subject": seal.subject,
                          "not_before": seal.not_before, "not_after": seal.not_after, "der": seal.cert_der,
                          "revoked_at": None})
        bulk_insert(session, Certificate, cert_rows)
        # Users: the principal, a monitor (except for one school), every teacher.
        codes = {r["id"]: r["code"] for r in staff_rows}
        full = {r["id"]: r["full_name"] for r in staff_rows}
        users = [{"username": f"ht.{self.code.lower()}", "display_name": full[self.principal], "role": Role.PRINCIPAL,
                  "school_id": self.id, "staff_id": self.principal},
                 {"username": f"gs.{self.code.lower()}", "display_name": full[self.monitor_staff],
                  "role": Role.SCHOOL_MONITOR, "school_id": self.id, "staff_id": self.monitor_staff}]
        users += [{"username": codes[s].lower(), "display_name": full[s], "role": Role.TEACHER, "school_id": self.id,
                   "staff_id": s} for s in teacher_ids]
        user_ids = _insert_users(session, ids, users)
        self.principal_user = user_ids[0]
        if self.monitor:
            bulk_insert(session, MonitorAssignment, [{"user_id": user_ids[1], "school_id": self.id,
                                                      "assigned_at": dt.datetime(2025, 9, 1, 8), "unassigned_at": None}])
        self.staff_code = codes
        self.class_name = {c: name for c, name, _ in self.classes}
        self.seq = defaultdict(int)

    def _clash(self, slots, teacher, weekday, period, skip) -> bool:
        return any(i not in skip and s.teacher_id == teacher and s.weekday == weekday and s.period_no == period
                   for i, s in enumerate(slots))

    def _timetable(self, weekly, teach) -> list[SlotSpec]:
        """Greedy placement: each class's lessons into free (weekday, period) slots where the
        teacher is free too; never two lessons for a class or a teacher in one slot."""
        rng = self.rng
        periods = sorted(self.bells)
        busy_teacher, slots = set(), []
        for cid, _, grade in self.classes:
            free = [(d, p) for d in range(1, 7) for p in periods]
            rng.shuffle(free)
            free.sort(key=lambda s: (s[1] > 5, s[1] > 4 and self.level != SchoolLevel.PRIMARY))
            lessons = [code for code, n in sorted(weekly[grade].items(), key=lambda kv: -kv[1]) for _ in range(n)]
            for code in lessons:
                teacher = teach[(cid, code)]
                for i, (d, p) in enumerate(free):
                    if (teacher, d, p) not in busy_teacher:
                        busy_teacher.add((teacher, d, p))
                        slots.append(SlotSpec(cid, d, p, self.ctx["subjects"][code], teacher))
                        del free[i]
                        break
        return slots

    # ---------------------------------------------------------------- one week
    def write_week(self, session, week, week_id: int, as_of: dt.datetime) -> tuple[int, int, int]:
        rng = self.rng
        slots = [s for monday, s in self.versions if monday <= week.monday][-1]
        holidays = set(HOLIDAYS) | {self.extra_holiday}
        rows = plan_week_entries(school_id=self.id, week_id=week_id, monday=week.monday, slots=slots,
                                 bells=self.bells, holidays=holidays)
        if not rows:
            return 0, 0, 0
        entry_ids = allocate_ids(session, LogbookEntry, len(rows))
        busy = {(r["teacher_id"], r["day"], r["period_no"]) for r in rows}
        teachers = [s for s, r in self.staff if r == "teacher"]
        absences, remarks = [], []
        absent_today: dict[tuple[int, dt.date], dict[int, bool]] = {}
        signed = 0
        for row, eid in zip(rows, entry_ids):
            row["id"] = eid
            cid, day = row["class_id"], row["day"]
            if rng.random() < 0.02:  # a substitute teaches this period (dạy thay)
                free = [t for t in teachers if (t, day, row["period_no"]) not in busy]
                if free:
                    sub = rng.choice(free)
                    busy.add((sub, day, row["period_no"]))
                    row["teacher_id"], row["is_substitute"] = sub, True
            key = (cid, day)
            if key not in absent_today:
                absent_today[key] = {s: rng.random() < 0.6 for s in self.class_students[cid] if rng.random() < 0.02}
            subject = self.subject_code[row["subject_id"]]
            self.seq[(cid, subject)] += 1
            seq = self.seq[(cid, subject)]
            row.update(lesson_title=None, curriculum_seq=None, class_remark=None, class_rating=None,
                       signed_at=None, signed_by=None, signature=None, content_hash=None)
            if day >= as_of.date():
                continue  # the future: still to be taught and signed
            teacher = row["teacher_id"]
            _, p_missed, p_late = HABITS[self.habit.get(teacher, "punctual")]
            p_missed = min(0.9, p_missed / self.quality)
            p_late = min(0.9, p_late / self.quality)
            roll = rng.random()
            start, end = row["period_start"], row["period_end"]
            if roll < p_missed:
                row["status"] = EntryStatus.MISSED
                continue
            if roll < p_missed + p_late:
                latest = dt.datetime.combine(day, dt.time(23, 59, 59))
                when = min(latest, end + dt.timedelta(seconds=301 + int(rng.expovariate(1 / 1500))))
            else:
                span = int((end - start).total_seconds()) + 300
                when = start + dt.timedelta(seconds=int(span * (0.55 + 0.45 * rng.random())))
            if when > self.cert_end.get(teacher, when):
                row["status"] = EntryStatus.MISSED  # no valid certificate any more: cannot sign
                continue
            row["lesson_title"] = f"Bài {(seq + 1) // 2}: {subject} (tiết {seq})"
            row["curriculum_seq"] = seq
            if rng.random() < 0.2:
                row["class_remark"] = rng.choice(CLASS_REMARKS)
            if self.rating:
                row["class_rating"] = rng.choices("ABCD", [70, 24, 5, 1])[0]
            absent = absent_today[key]
            entry_remarks = []
            if rng.random() < 0.05:
                student = rng.choice(self.class_students[cid])
                entry_remarks.append((student, rng.choice(REMARKS)))
            data = entry_document(
                entry_id=eid, school_code=self.code, class_name=self.class_name[cid], day=day,
                period_no=row["period_no"], subject_code=subject, teacher_code=self.staff_code[teacher],
                is_substitute=row["is_substitute"], lesson_title=row["lesson_title"],
                curriculum_seq=seq, class_remark=row["class_remark"], class_rating=row["class_rating"],
                absences=[(self.students[s], ex) for s, ex in absent.items()],
                remarks=[(self.students[s], text) for s, text in entry_remarks])
            row["status"] = classify_signing(when, start, end)
            row["signature"] = self.keys.signer_for(f"staff-{teacher}").sign_detached(data, when)
            row["content_hash"] = sha256_hex(data)
            row["signed_at"], row["signed_by"] = when, teacher
            signed += 1
            absences += [{"entry_id": eid, "student_id": s, "excused": ex} for s, ex in absent.items()]
            remarks += [{"entry_id": eid, "student_id": s, "school_year_id": self.ctx["year"], "term": week.term,
                         "text": text} for s, text in entry_remarks]
        bulk_insert(session, LogbookEntry, rows)
        bulk_insert(session, EntryAbsence, absences)
        bulk_insert(session, StudentRemark, remarks)
        closes = self._close_week(session, week, week_id, rows, as_of)
        return len(rows), signed, closes

    def _close_week(self, session, week, week_id, rows, as_of) -> int:
        """Homeroom then principal signatures on most past class-weeks; some late, open or reopened
        (a reopened week is closed again a day later, which is never on time)."""
        rng = self.rng
        by_class = defaultdict(list)
        for r in rows:
            by_class[r["class_id"]].append(r)
        closes, reopens = [], []
        deadline = close_deadline(week.monday)
        for cid, entries in by_class.items():
            last_day = max(r["day"] for r in entries)
            roll = rng.random() * self.quality
            late, reopened = roll < 0.16, rng.random() < 0.03
            if last_day >= as_of.date() - dt.timedelta(days=1) or roll < 0.08:
                continue  # not over yet, or still open
            h_at = dt.datetime.combine(last_day + dt.timedelta(days=9 if late else 1), dt.time(9, rng.randrange(60)))
            p_at = h_at + dt.timedelta(hours=2, minutes=rng.randrange(60))
            first_close = p_at
            if reopened:
                h_at, p_at = h_at + dt.timedelta(days=1), p_at + dt.timedelta(days=1)
            homeroom = self.homeroom[cid]
            if p_at >= as_of or h_at > self.cert_end[homeroom] or p_at > self.cert_end[self.principal]:
                continue
            data = week_document(school_code=self.code, class_name=self.class_name[cid], week_number=week.number,
                                 monday=week.monday, entries=[(r["id"], r["status"].value, r["content_hash"])
                                                              for r in entries])
            closes.append({
                "school_id": self.id, "class_id": cid, "week_id": week_id,
                "status": WeekCloseStatus.CLOSED, "homeroom_signed_by": homeroom, "homeroom_signed_at": h_at,
                "homeroom_signature": self.keys.signer_for(f"staff-{homeroom}").sign_detached(data, h_at),
                "principal_signed_by": self.principal, "closed_at": p_at,
                "principal_signature": self.keys.signer_for(f"staff-{self.principal}").sign_detached(data, p_at),
                "summary_hash": sha256_hex(data), "closed_on_time": not reopened and p_at <= deadline,
                "reopen_count": 1 if reopened else 0})
            if reopened:
                reopens.append((len(closes) - 1, first_close + dt.timedelta(hours=3)))
        for row, new_id in zip(closes, allocate_ids(session, WeekClose, len(closes))):
            row["id"] = new_id
        bulk_insert(session, WeekClose, closes)
        bulk_insert(session, WeekReopen, [{"week_close_id": closes[i]["id"], "reopened_by": self.principal_user,
                                           "reopened_at": when, "reason": "Điều chỉnh sĩ số vắng"}
                                          for i, when in reopens])
        return len(closes)
