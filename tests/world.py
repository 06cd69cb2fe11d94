"""A small, hand-made school world for service tests (two schools, known timetable).

School A (THCS, code A01) in district Q1: classes 6A1 (homeroom: Lan) and 6A2 (homeroom: Minh),
teachers Lan (Toán), Minh (Ngữ văn), Hà (Tiếng Anh), principal Bình; school B (B01) in district Q3.
Week 1 starts Monday 2025-10-13. Period 1 07:00–07:45, period 2 07:50–08:35, period 3 08:40–09:25.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.access.authz import SYSTEM, Actor, actor_for
from core.kernel.vocabulary import CertificateKind, Role, SchoolLevel, Sex
from core.logbook.rules.signing_window import DEFAULT_GRACE_SECONDS
from core.storage.db import Database
from core.storage.models import (
    BellPeriod,
    Certificate,
    Department,
    District,
    Enrolment,
    MonitorAssignment,
    School,
    SchoolClass,
    SchoolWeek,
    SchoolYear,
    Staff,
    Student,
    Subject,
    UserAccount,
)
from core.timetable.services import SlotSpec, publish_timetable

MONDAY = dt.date(2025, 10, 13)
BELLS = {1: (dt.time(7, 0), dt.time(7, 45)), 2: (dt.time(7, 50), dt.time(8, 35)), 3: (dt.time(8, 40), dt.time(9, 25))}


@dataclass
class World:
    db: Database
    ids: dict[str, int] = field(default_factory=dict)
    pki: object = None
    keys: object = None

    def actor(self, username: str) -> Actor:
        with self.db.reading() as s:
            return actor_for(s, self.ids[f"user:{username}"])

    def signer(self, staff: str):
        return self.keys.signer_for(f"staff-{self.ids[staff]}")

    def entry(self, klass: str, day: dt.date, period: int) -> int:
        from sqlalchemy import select

        from core.storage.models import LogbookEntry
        with self.db.reading() as s:
            return s.scalar(select(LogbookEntry.id).where(LogbookEntry.class_id == self.ids[klass],
                                                          LogbookEntry.day == day, LogbookEntry.period_no == period))


def build_world(db: Database, pki, keys) -> World:
    w = World(db, pki=pki, keys=keys)
    ids = w.ids
    with db.transaction() as s:
        dep = Department(code="SGD79", name="Sở GD&ĐT TP. Hồ Chí Minh", province_code="079")
        s.add(dep)
        s.flush()
        q1 = District(department_id=dep.id, code="Q1", name="Quận 1")
        q3 = District(department_id=dep.id, code="Q3", name="Quận 3")
        s.add_all([q1, q3])
        s.flush()
        a = School(district_id=q1.id, code="A01", name="THCS Trần Văn Ơn", level=SchoolLevel.LOWER_SECONDARY,
                   signing_grace_seconds=DEFAULT_GRACE_SECONDS, lesson_rating_enabled=True)
        b = School(district_id=q3.id, code="B01", name="THCS Colette", level=SchoolLevel.LOWER_SECONDARY,
                   signing_grace_seconds=DEFAULT_GRACE_SECONDS, lesson_rating_enabled=True)
        s.add_all([a, b])
        s.flush()
        year = SchoolYear(department_id=dep.id, name="2025-2026", start_date=dt.date(2025, 9, 8),
                          end_date=dt.date(2026, 5, 31))
        s.add(year)
        s.flush()
        weeks = [SchoolWeek(school_year_id=year.id, number=6 + i, term=1, monday=MONDAY + dt.timedelta(weeks=i))
                 for i in range(3)]
        s.add_all(weeks)
        for school in (a, b):
            s.add_all([BellPeriod(school_id=school.id, session="morning", period_no=p, start_time=st, end_time=en)
                       for p, (st, en) in BELLS.items()])
        subjects = {code: Subject(code=code, name=name, level=SchoolLevel.LOWER_SECONDARY)
                    for code, name in [("TOAN", "Toán"), ("NV", "Ngữ văn"), ("TA", "Tiếng Anh")]}
        s.add_all(subjects.values())
        staff = {
            "lan": Staff(school_id=a.id, code="A01-GV01", full_name="Nguyễn Thị Lan"),
            "minh": Staff(school_id=a.id, code="A01-GV02", full_name="Trần Văn Minh"),
            "ha": Staff(school_id=a.id, code="A01-GV03", full_name="Lê Thu Hà"),
            "binh": Staff(school_id=a.id, code="A01-HT", full_name="Phạm Văn Bình"),
            "khoa": Staff(school_id=b.id, code="B01-GV01", full_name="Võ Minh Khoa"),
            "dung": Staff(school_id=b.id, code="B01-HT", full_name="Đặng Thị Dung"),
        }
        s.add_all(staff.values())
        s.flush()
        c1 = SchoolClass(school_id=a.id, school_year_id=year.id, grade=6, name="6A1",
                         homeroom_teacher_id=staff["lan"].id)
        c2 = SchoolClass(school_id=a.id, school_year_id=year.id, grade=6, name="6A2",
                         homeroom_teacher_id=staff["minh"].id)
        cb = SchoolClass(school_id=b.id, school_year_id=year.id, grade=6, name="6B1",
                         homeroom_teacher_id=staff["khoa"].id)
        s.add_all([c1, c2, cb])
        s.flush()
        students = [Student(personal_id=f"07921300{i:04d}", full_name=f"Học sinh {i}", birth_date=dt.date(2013, 5, 1),
                            sex=Sex.MALE) for i in range(4)]
        s.add_all(students)
        s.flush()
        for i, st in enumerate(students):
            s.add(Enrolment(student_id=st.id, class_id=(c1 if i < 2 else c2).id, valid_from=dt.date(2025, 9, 5)))
        users = {
            "admin": UserAccount(username="admin", display_name="Quản trị", role=Role.ADMINISTRATOR),
            "so": UserAccount(username="so", display_name="Giám sát Sở", role=Role.DEPARTMENT_SUPERVISOR,
                              department_id=dep.id),
            "q1": UserAccount(username="q1", display_name="Giám sát Q1", role=Role.DISTRICT_SUPERVISOR,
                              department_id=dep.id, district_id=q1.id),
            "mon_a": UserAccount(username="mon_a", display_name="Giám sát trường A", role=Role.SCHOOL_MONITOR),
            "mon_b": UserAccount(username="mon_b", display_name="Giám sát trường B", role=Role.SCHOOL_MONITOR),
            "analyst": UserAccount(username="analyst", display_name="Phân tích", role=Role.ANALYST,
                                   department_id=dep.id),
            "binh": UserAccount(username="binh", display_name="Phạm Văn Bình", role=Role.PRINCIPAL,
                                school_id=a.id, staff_id=staff["binh"].id),
            "dung": UserAccount(username="dung", display_name="Đặng Thị Dung", role=Role.PRINCIPAL,
                                school_id=b.id, staff_id=staff["dung"].id),
        }
        for key in ("lan", "minh", "ha", "khoa"):
            users[key] = UserAccount(username=key, display_name=staff[key].full_name, role=Role.TEACHER,
                                     school_id=staff[key].school_id, staff_id=staff[key].id)
        s.add_all(users.values())
        s.flush()
        s.add(MonitorAssignment(user_id=users["mon_a"].id, school_id=a.id, assigned_at=dt.datetime(2025, 9, 1)))
        s.add(MonitorAssignment(user_id=users["mon_b"].id, school_id=b.id, assigned_at=dt.datetime(2025, 9, 1)))
        for key, st in staff.items():
            cred = pki.issue_personal(f"staff-{st.id}", st.full_name, not_before=dt.datetime(2025, 1, 1),
                                      not_after=dt.datetime(2027, 12, 31))
            s.add(Certificate(kind=CertificateKind.PERSONAL, staff_id=st.id, school_id=st.school_id,
                              fingerprint=cred.fingerprint, serial_hex=cred.serial_hex, subject=cred.subject,
                              not_before=cred.not_before, not_after=cred.not_after, der=cred.cert_der))
        ids.update({"dep": dep.id, "q1": q1.id, "q3": q3.id, "A": a.id, "B": b.id, "year": year.id,
                    "6A1": c1.id, "6A2": c2.id, "6B1": cb.id})
        ids.update({f"week{i + 1}": wk.id for i, wk in enumerate(weeks)})
        ids.update({f"subj:{k}": v.id for k, v in subjects.items()})
        ids.update({k: v.id for k, v in staff.items()})
        ids.update({f"user:{k}": v.id for k, v in users.items()})
        ids.update({f"student{i}": st.id for i, st in enumerate(students)})
    # Timetable: Monday and Tuesday, periods 1-3, per class; school B one class.
    T, NV, TA = ids["subj:TOAN"], ids["subj:NV"], ids["subj:TA"]
    slots_a = []
    for weekday in (1, 2):
        slots_a += [SlotSpec(ids["6A1"], weekday, 1, T, ids["lan"]), SlotSpec(ids["6A1"], weekday, 2, NV, ids["minh"]),
                    SlotSpec(ids["6A1"], weekday, 3, TA, ids["ha"]),
                    SlotSpec(ids["6A2"], weekday, 1, NV, ids["minh"]), SlotSpec(ids["6A2"], weekday, 2, T, ids["lan"])]
    publish_timetable(db, SYSTEM, ids["A"], MONDAY, slots_a)
    publish_timetable(db, SYSTEM, ids["B"], MONDAY, [SlotSpec(ids["6B1"], 1, 1, T, ids["khoa"])])
    return w
