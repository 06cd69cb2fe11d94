"""The synthetic generator: deterministic, valid, conflict-free, really signed, with behaviour."""
import datetime as dt
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from core.access.audit import verify_chain
from core.demo.synthetic import FIRST_MONDAY, Scale, generate
from core.kernel.documents import sha256_hex, week_document
from core.kernel.vocabulary import EntryStatus, Role, SchoolLevel, WeekCloseStatus
from core.logbook.entries import entry_bytes, teaching_hours
from core.logbook.rules.weekly_close import close_deadline
from core.school.rules import curriculum
from core.school.rules.personal_id import validate_personal_id
from core.signatures import DemoPKI, verify_detached
from core.storage.db import Database, make_engine
from core.storage.migrate import upgrade
from core.storage.models import (
    AuditEvent,
    Certificate,
    Enrolment,
    EntryAbsence,
    Holiday,
    LogbookEntry,
    MonitorAssignment,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Student,
    StudentRemark,
    Subject,
    TimetableSlot,
    TimetableVersion,
    UserAccount,
    WeekClose,
    WeekReopen,
)
from core.timetable.services import slots_of, version_in_force

TINY = Scale(districts=1, schools_per_district=2, classes_per_school=2, weeks=2, students_per_class=10, seed=7)


@pytest.fixture
def tiny(db, tmp_path):
    report = generate(db, TINY, pki_dir=tmp_path / "pki", progress=False)
    return db, DemoPKI.load(tmp_path / "pki").trust_store(), report


def summary(db):
    """Everything generated about the lessons, by names rather than ids (ids depend on the store)."""
    with db.reading() as s:
        classes = dict(s.execute(select(SchoolClass.id, SchoolClass.name)).all())
        schools = dict(s.execute(select(School.id, School.code)).all())
        staff = dict(s.execute(select(Staff.id, Staff.code)).all())
        subjects = dict(s.execute(select(Subject.id, Subject.code)).all())
        rows = s.execute(select(LogbookEntry.school_id, LogbookEntry.class_id, LogbookEntry.day,
                                LogbookEntry.period_no, LogbookEntry.subject_id, LogbookEntry.teacher_id,
                                LogbookEntry.status, LogbookEntry.signed_at, LogbookEntry.lesson_title)).all()
        students = sorted(s.scalars(select(Student.personal_id)))
        closes = sorted((classes[c], st.value, str(at)) for c, st, at in s.execute(
            select(WeekClose.class_id, WeekClose.status, WeekClose.closed_at)))
    entries = sorted((schools[a], classes[b], c, d, subjects[e], staff[f], g.value, str(h), i or "")
                     for a, b, c, d, e, f, g, h, i in rows)
    return entries, students, closes


def test_same_seed_same_data(tiny, tmp_path):
    db, _, report = tiny
    other = Database(make_engine(f"sqlite:///{tmp_path / 'again.db'}"))
    upgrade(other.engine)
    again = generate(other, TINY, pki_dir=tmp_path / "pki2", progress=False)
    first, second = summary(db), summary(other)
    assert len(first[0]) > 50
    assert first == second
    assert (report.entries, report.signed, report.statuses) == (again.entries, again.signed, again.statuses)


def test_report_counts_what_was_written(tiny):
    db, _, report = tiny
    with db.reading() as s:
        assert report.entries == s.scalar(select(func.count()).select_from(LogbookEntry))
        assert report.signed == s.scalar(select(func.count()).where(LogbookEntry.signature.is_not(None)))
        assert report.week_closes == s.scalar(select(func.count()).select_from(WeekClose))
        assert report.students == s.scalar(select(func.count()).select_from(Student)) == 2 * 2 * 10
        assert report.schools == 2 and report.classes == 4
    assert report.entries_per_second > 0 and report.seconds > 0


def test_personal_ids_are_valid_unique_and_fit_the_grade(tiny):
    db, _, _ = tiny
    with db.reading() as s:
        rows = s.execute(select(Student.personal_id, Student.birth_date, Student.sex, SchoolClass.grade)
                         .join(Enrolment, Enrolment.student_id == Student.id)
                         .join(SchoolClass, SchoolClass.id == Enrolment.class_id)).all()
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40
    for pid, birth, sex, grade in rows:
        validate_personal_id(pid, birth, sex.value)
        assert pid.startswith("079")
        assert birth.year in (2020 - grade, 2019 - grade)  # grade 1 of 2025-2026: born 2019


def test_timetables_are_complete_and_conflict_free(tiny):
    db, _, _ = tiny
    with db.reading() as s:
        versions = s.scalars(select(TimetableVersion)).all()
        for v in versions:
            assert v.effective_from.weekday() == 0 and v.created_at.weekday() == 5  # made at the weekend
            slots = slots_of(s, v.id)
            grades = dict(s.execute(select(SchoolClass.id, SchoolClass.grade)
                                    .where(SchoolClass.school_id == v.school_id)).all())
            per_class = Counter(x.class_id for x in slots)
            assert per_class == {c: curriculum.WEEKLY_TOTAL[g] for c, g in grades.items()}
            assert len({(x.teacher_id, x.weekday, x.period_no) for x in slots}) == len(slots)
            assert len({(x.class_id, x.weekday, x.period_no) for x in slots}) == len(slots)
        clash = s.execute(select(LogbookEntry.teacher_id, LogbookEntry.day, LogbookEntry.period_no)
                          .group_by(LogbookEntry.teacher_id, LogbookEntry.day, LogbookEntry.period_no)
                          .having(func.count() > 1)).all()
        primary_saturday = s.scalar(select(func.count()).select_from(LogbookEntry)
                                    .join(School, School.id == LogbookEntry.school_id)
                                    .where(School.level == SchoolLevel.PRIMARY,
                                           LogbookEntry.day == FIRST_MONDAY + dt.timedelta(days=5)))
    assert clash == []
    assert len(versions) == 3  # the first school changes its timetable from week 2
    assert primary_saturday == 0  # primary: two sessions a day, Monday to Friday


def test_entries_follow_the_timetable_in_force(tiny):
    db, _, _ = tiny
    with db.reading() as s:
        holidays = set(s.scalars(select(Holiday.day)))
        entries = s.scalars(select(LogbookEntry)).all()
        by_week = defaultdict(set)
        for e in entries:
            by_week[(e.school_id, e.week_id)].add((e.class_id, e.day.isoweekday(), e.period_no, e.subject_id,
                                                   e.scheduled_teacher_id))
            assert e.teacher_id == e.scheduled_teacher_id or e.is_substitute
        for (school_id, week_id), got in by_week.items():
            monday = s.get(SchoolWeek, week_id).monday
            version = version_in_force(s, school_id, monday)
            expected = {(x.class_id, x.weekday, x.period_no, x.subject_id, x.teacher_id)
                        for x in slots_of(s, version.id) if monday + dt.timedelta(days=x.weekday - 1) not in holidays}
            assert got == expected


def test_behaviour_mix_and_signing_times(tiny):
    db, _, _ = tiny
    with db.reading() as s:
        statuses = Counter(s.scalars(select(LogbookEntry.status)))
        rows = s.execute(select(LogbookEntry.status, LogbookEntry.signed_at, LogbookEntry.period_start,
                                LogbookEntry.period_end, LogbookEntry.signed_by, LogbookEntry.teacher_id,
                                LogbookEntry.lesson_title)).all()
    assert statuses[EntryStatus.ON_TIME] > statuses[EntryStatus.LATE] > 0
    assert statuses[EntryStatus.MISSED] > 0 and statuses[EntryStatus.PENDING] == 0
    grace = dt.timedelta(minutes=5)
    for status, signed_at, start, end, signed_by, teacher, title in rows:
        if status == EntryStatus.MISSED:
            assert signed_at is None and signed_by is None and title is None
            continue
        assert signed_by == teacher and title.startswith("Bài ")
        assert signed_at.date() == start.date()
        if status == EntryStatus.ON_TIME:
            assert start <= signed_at <= end + grace
        else:
            assert signed_at > end + grace


def test_entry_signatures_verify_over_the_services_bytes(tiny):
    db, trust, _ = tiny
    with db.reading() as s:
        signed = s.scalars(select(LogbookEntry.id).where(LogbookEntry.signature.is_not(None))
                           .order_by(LogbookEntry.id)).all()
        special = set(s.scalars(select(EntryAbsence.entry_id))) | set(s.scalars(select(StudentRemark.entry_id))) \
            | set(s.scalars(select(LogbookEntry.id).where(LogbookEntry.is_substitute.is_(True),
                                                         LogbookEntry.signature.is_not(None))))
        sample = {signed[i * len(signed) // 50] for i in range(50)} | set(sorted(special)[:10])
        assert len(sample) >= 50 and sample & special
        for entry in s.scalars(select(LogbookEntry).where(LogbookEntry.id.in_(sample))):
            data = entry_bytes(s, entry)
            assert sha256_hex(data) == entry.content_hash
            result = verify_detached(data, entry.signature, trust)
            assert result.valid, result.message
            assert result.signing_time == entry.signed_at


def check_closes(db, trust) -> Counter:
    """Every close is signed by the class's homeroom teacher (and, once closed, the principal)
    over the week summary rebuilt from the entries; on-time and reopen figures agree."""
    with db.reading() as s:
        closes = s.scalars(select(WeekClose)).all()
        for c in closes:
            klass, week = s.get(SchoolClass, c.class_id), s.get(SchoolWeek, c.week_id)
            code = s.scalar(select(School.code).where(School.id == c.school_id))
            entries = s.execute(select(LogbookEntry.id, LogbookEntry.status, LogbookEntry.content_hash,
                                       LogbookEntry.day)
                                .where(LogbookEntry.class_id == c.class_id, LogbookEntry.week_id == c.week_id)).all()
            data = week_document(school_code=code, class_name=klass.name, week_number=week.number,
                                 monday=week.monday, entries=[(i, st.value, h) for i, st, h, _ in entries])
            assert sha256_hex(data) == c.summary_hash
            assert EntryStatus.PENDING not in {e.status for e in entries}
            assert c.homeroom_signed_by == klass.homeroom_teacher_id
            assert c.homeroom_signed_at.date() > max(e.day for e in entries)
            assert verify_detached(data, c.homeroom_signature, trust).valid
            reopens = s.scalar(select(func.count()).where(WeekReopen.week_close_id == c.id))
            assert reopens == c.reopen_count
            if c.status == WeekCloseStatus.HOMEROOM_SIGNED:
                assert c.principal_signature is None and c.closed_on_time is None and c.reopen_count == 0
                continue
            assert verify_detached(data, c.principal_signature, trust).valid
            assert c.closed_at > c.homeroom_signed_at
            if c.status == WeekCloseStatus.REOPENED:
                assert c.reopen_count > 0
            else:
                assert c.closed_on_time == (c.reopen_count == 0 and c.closed_at <= close_deadline(week.monday))
    return Counter(c.status for c in closes)


def test_week_closes_are_signed_over_the_week_summary(tiny):
    db, trust, _ = tiny
    assert check_closes(db, trust)[WeekCloseStatus.CLOSED] > 0


def test_a_term_has_every_kind_of_week_close(db, tmp_path):
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=8, weeks=8, students_per_class=3,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    statuses = check_closes(db, DemoPKI.load(tmp_path / "pki").trust_store())
    with db.reading() as s:
        on_time = Counter(s.scalars(select(WeekClose.closed_on_time).where(WeekClose.status == WeekCloseStatus.CLOSED)))
        classes = s.scalar(select(func.count()).select_from(SchoolClass))
        reopened = s.scalar(select(func.count()).select_from(WeekReopen))
    assert statuses[WeekCloseStatus.CLOSED] > statuses[WeekCloseStatus.HOMEROOM_SIGNED] > 0
    assert statuses[WeekCloseStatus.REOPENED] > 0
    assert sum(statuses.values()) < classes * 8  # some class-weeks are still open
    assert on_time[True] > on_time[False] > 0
    assert reopened > 0


def test_substitutes_get_the_hours(db, tmp_path):
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=4, weeks=4, seed=3),
             pki_dir=tmp_path / "pki", progress=False)
    from core.access.authz import SYSTEM
    with db.reading() as s:
        subs = s.execute(select(LogbookEntry.teacher_id, LogbookEntry.scheduled_teacher_id, LogbookEntry.signed_by)
                         .where(LogbookEntry.is_substitute.is_(True), LogbookEntry.status == EntryStatus.ON_TIME)
                         .limit(1)).first()
        assert subs is not None
        teacher, scheduled, signer = subs
        assert teacher != scheduled and signer == teacher
        credited = s.scalar(select(func.count()).where(LogbookEntry.teacher_id == teacher,
                                                       LogbookEntry.status == EntryStatus.ON_TIME))
    hours = teaching_hours(db, SYSTEM, teacher, dt.date(2025, 9, 1), dt.date(2026, 6, 1))
    assert hours["counted"] == credited >= 1


def test_expired_and_revoked_certificates_cannot_sign(db, tmp_path):
    # The first school always has a certificate expiring in week 10 and one revoked in week 12.
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=2, weeks=13, students_per_class=3,
                       seed=3), pki_dir=tmp_path / "pki", progress=False)
    with db.reading() as s:
        certs = s.scalars(select(Certificate).where(Certificate.staff_id.is_not(None))).all()
        ends = {c.staff_id: min(c.not_after, c.revoked_at or c.not_after) for c in certs}
        signed = s.execute(select(LogbookEntry.signed_by, LogbookEntry.signed_at)
                           .where(LogbookEntry.signed_at.is_not(None))).all()
        assert all(at <= ends[who] for who, at in signed)
        unlucky = [c for c in certs if c.revoked_at or c.not_after < dt.datetime(2026, 1, 1)]
        assert {bool(c.revoked_at) for c in unlucky} == {True, False}
        for c in unlucky:
            end = ends[c.staff_id]
            later = Counter(s.scalars(select(LogbookEntry.status).where(LogbookEntry.teacher_id == c.staff_id,
                                                                       LogbookEntry.period_start > end)))
            assert later and set(later) == {EntryStatus.MISSED}
        revoked = {c.serial_hex for c in certs if c.revoked_at}
    assert revoked <= set(DemoPKI.load(tmp_path / "pki").revoked())


def test_periods_after_as_of_stay_pending(db, tmp_path):
    as_of = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(days=9), dt.time(12))  # Wednesday of week 2
    generate(db, TINY, pki_dir=tmp_path / "pki", progress=False, as_of=as_of)
    with db.reading() as s:
        rows = s.execute(select(LogbookEntry.status, LogbookEntry.day, LogbookEntry.signed_at)).all()
        week2 = s.scalar(select(SchoolWeek.id).where(SchoolWeek.number == 2))
        closes2 = s.scalar(select(func.count()).where(WeekClose.week_id == week2))
    pending = [day for st, day, _ in rows if st == EntryStatus.PENDING]
    assert pending and min(pending) >= as_of.date()
    assert all(day < as_of.date() for st, day, _ in rows if st == EntryStatus.MISSED)
    assert all(at <= as_of for _, _, at in rows if at is not None)
    assert any(day == as_of.date() and at is not None for _, day, at in rows)  # the morning is signed
    assert closes2 == 0


def test_accounts_monitors_and_audit(tiny):
    db, _, _ = tiny
    with db.reading() as s:
        schools = s.scalars(select(School.id)).all()
        monitored = set(s.scalars(select(MonitorAssignment.school_id)))
        users = {u.username: u for u in s.scalars(select(UserAccount))}
        principals = s.scalars(select(UserAccount).where(UserAccount.role == Role.PRINCIPAL)).all()
        teachers = s.scalar(select(func.count()).where(UserAccount.role == Role.TEACHER))
        staff_teaching = s.scalar(select(func.count(func.distinct(TimetableSlot.teacher_id))))
        events = s.scalar(select(func.count()).select_from(AuditEvent))
        chain = verify_chain(s)
    assert len(schools) - len(monitored) == 1 and schools[-1] not in monitored
    assert {"admin", "so.giamsat", "phantich", "phong.1", "ht.s0001", "gs.s0001"} <= set(users)
    assert users["admin"].role == Role.ADMINISTRATOR and users["phong.1"].district_id is not None
    assert len(principals) == 2 and all(p.staff_id and p.school_id for p in principals)
    assert teachers >= staff_teaching
    assert events == 1 + len(schools)  # one event per generation batch, not per row
    assert chain.ok


def test_demo_accounts_sign_in(tiny):
    from core.access.accounts import actor_for_token, sign_in
    from core.demo.synthetic import DEMO_PASSWORD
    db, _, _ = tiny
    token = sign_in(db, "so.giamsat", DEMO_PASSWORD)
    assert actor_for_token(db, token).role.value == "department_supervisor"


# ---------------------------------------------------------------- the curriculum (pure)
def test_curriculum_weekly_periods_match_the_table():
    assert [sum(curriculum.weekly_periods(g).values()) for g in range(1, 6)] == [25, 25, 28, 30, 30]
    assert all(sum(curriculum.weekly_periods(g).values()) == 29 for g in range(6, 13))
    yearly = [sum(s.periods_per_year.get(g, 0) for s in curriculum.subjects_for(SchoolLevel.PRIMARY))
              for g in range(1, 6)]
    assert yearly == [875, 875, 980, 1050, 1050]
    lower = sum(s.periods_per_year[6] for s in curriculum.subjects_for(SchoolLevel.LOWER_SECONDARY))
    assert lower == 1015
    for g in range(1, 13):
        assert all(n >= 1 for n in curriculum.weekly_periods(g).values())


def test_curriculum_codes_and_comment_only_subjects():
    specs = list(curriculum.CURRICULUM)
    assert len({s.code for s in specs}) == len(specs) and all(s.code.isascii() for s in specs)
    assert not any(s.comment_only for s in curriculum.subjects_for(SchoolLevel.PRIMARY))
    comment = {s.code for s in specs if s.comment_only}
    assert comment == {"CS-GDTC", "CS-NT", "CS-HDTN", "CS-GDDP", "PT-GDTC", "PT-HDTN", "PT-GDDP"}
    assert next(s for s in specs if s.code == "CS-NV").name == "Ngữ văn"
