"""The class logbook (sổ đầu bài số): generating a week's entries from the timetable,
filling them in, substitutes, signing, verifying, missed periods and teaching hours."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, literal, or_, select, union_all, update
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock, formats
from core.kernel.documents import entry_document, sha256_hex
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus, WeekCloseStatus
from core.logbook.rules.receipts import receipt_evidence
from core.logbook.rules.signing_window import classify_signing, counts_as_teaching_hours, grace_cutoff, is_missed
from core.signatures.certificates import registered_certificate
from core.storage.bulk import allocate_ids, among, bulk_insert
from core.storage.db import Database, is_postgres
from core.storage.models import (
    BellPeriod,
    Enrolment,
    EntryAbsence,
    Holiday,
    LogbookEntry,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Student,
    StudentRemark,
    Subject,
    Submission,
    WeekClose,
)
from core.storage.statements import rows
from core.timetable.rules.calendar import school_days
from core.timetable.services import SlotSpec, slots_of, version_in_force

LESSON_RATINGS = ("A", "B", "C", "D")


# ------------------------------------------------------------------ generating a week
def plan_week_entries(*, school_id: int, week_id: int, monday: dt.date, slots: Iterable[SlotSpec],
                      bells: dict[int, tuple[dt.time, dt.time]], holidays: set[dt.date]) -> list[dict]:
    """The entry rows of one week from the timetable in force (pure: no I/O).

    One row per slot and school day; holidays are left out. Rows have no id yet.
    """
    days = {d.isoweekday(): d for d in school_days(monday, holidays, days_per_week=7)}
    rows = []
    for s in slots:
        day = days.get(s.weekday)
        if day is None:
            continue
        start, end = bells[s.period_no]
        rows.append({
            "school_id": school_id, "class_id": s.class_id, "week_id": week_id, "day": day,
            "period_no": s.period_no, "period_start": dt.datetime.combine(day, start),
            "period_end": dt.datetime.combine(day, end), "subject_id": s.subject_id,
            "scheduled_teacher_id": s.teacher_id, "teacher_id": s.teacher_id, "is_substitute": False,
            "status": EntryStatus.PENDING,
        })
    return rows


def holidays_for(session: Session, school_id: int, school_year_id: int) -> set[dt.date]:
    return set(session.scalars(select(Holiday.day).where(
        Holiday.school_year_id == school_year_id,
        or_(Holiday.school_id.is_(None), Holiday.school_id == school_id))))


def bells_for(session: Session, school_id: int) -> dict[int, tuple[dt.time, dt.time]]:
    return {p: (s, e) for p, s, e in session.execute(
        select(BellPeriod.period_no, BellPeriod.start_time, BellPeriod.end_time)
        .where(BellPeriod.school_id == school_id))}


def generate_week_in(session: Session, actor: Actor, school_id: int, week_id: int) -> int:
    """Create the week's entries for every class of the school (skipping any that exist)."""
    require(actor, Permission.PUBLISH_TIMETABLE, school_id)
    week = session.get(SchoolWeek, week_id)
    if week is None:
        raise NotFound(f"no school week {week_id}", message_vi=f"Không có tuần học {week_id}")
    version = version_in_force(session, school_id, week.monday)
    if version is None:
        raise RuleViolation(f"school {school_id} has no timetable in force on {week.monday:%d/%m/%Y}",
                            message_vi=f"Trường {school_id} chưa có thời khóa biểu áp dụng ngày {week.monday:%d/%m/%Y}")
    rows = plan_week_entries(school_id=school_id, week_id=week.id, monday=week.monday,
                             slots=slots_of(session, version.id), bells=bells_for(session, school_id),
                             holidays=holidays_for(session, school_id, week.school_year_id))
    existing = set(session.execute(select(LogbookEntry.class_id, LogbookEntry.day, LogbookEntry.period_no)
                                   .where(LogbookEntry.school_id == school_id,
                                          LogbookEntry.week_id == week.id)).all())
    rows = [r for r in rows if (r["class_id"], r["day"], r["period_no"]) not in existing]
    for row, new_id in zip(rows, allocate_ids(session, LogbookEntry, len(rows))):
        row["id"] = new_id
    bulk_insert(session, LogbookEntry, rows)
    audit.record(session, actor, "logbook.generate_week", "school_week", week.id, school_id=school_id,
                 after={"entries": len(rows), "timetable_version": version.id})
    return len(rows)


def generate_week(db: Database, actor: Actor, school_id: int, week_id: int) -> int:
    """Generate one school's logbook week from the timetable version in force that week."""
    with db.transaction() as session:
        return generate_week_in(session, actor, school_id, week_id)


# ------------------------------------------------------------------ reading entries
def entry_for(session: Session, actor: Actor, entry_id: int, *, lock: bool = False) -> LogbookEntry:
    query = select(LogbookEntry).where(LogbookEntry.id == entry_id)
    entry = session.scalar(query.with_for_update() if lock else query)
    if entry is None or not actor.sees_school(entry.school_id):
        # Same answer for "absent" and "not yours": a monitor learns nothing about other schools.
        raise NotFound(f"no logbook entry {entry_id}", message_vi=f"Không có tiết học {entry_id} trong sổ đầu bài")
    return entry


def week_status(session: Session, class_id: int, week_id: int) -> WeekCloseStatus:
    status = session.scalar(select(WeekClose.status).where(WeekClose.class_id == class_id,
                                                           WeekClose.week_id == week_id))
    return status or WeekCloseStatus.OPEN


def _require_week_editable(session: Session, entry: LogbookEntry) -> None:
    status = week_status(session, entry.class_id, entry.week_id)
    if status in (WeekCloseStatus.HOMEROOM_SIGNED, WeekCloseStatus.CLOSED):
        raise RuleViolation(f"the week of entry {entry.id} is closed ({status.value}); it is read-only",
                            message_vi="Sổ tuần đã chốt, không thể chỉnh sửa")


def entry_bytes(session: Session, entry: LogbookEntry) -> bytes:
    """The canonical bytes of an entry as it is now (what its signature must cover)."""
    return entries_bytes(session, [entry])[entry.id]


#: what an entry's canonical bytes name, by the entry's column holding the key
_NAMED = ((School, School.code, "school_id"), (SchoolClass, SchoolClass.name, "class_id"),
          (Subject, Subject.code, "subject_id"), (Staff, Staff.code, "teacher_id"))


@functools.cache
def _bytes_queries(postgres: bool):
    """The three statements of :func:`entries_bytes`, built once; on PostgreSQL each has one text
    whatever the batch's size (prepared once, planned once: :func:`core.storage.bulk.among`)."""
    # the names, looked up by primary key from what the entries hold (one round trip; a join
    # through the partitioned logbook let the planner hash whole staff tables)
    names = union_all(*[select(literal(n).label("kind"), model.id, column.label("value"))
                        .where(among(model.id, f"k{n}", postgres=postgres))
                        for n, (model, column, _attr) in enumerate(_NAMED)])

    def marks(model, value):
        """(entry, student's personal ID, ``value``) of the entries' rows, in the order written."""
        return (select(model.entry_id, Student.personal_id, value).join(Student, Student.id == model.student_id)
                .where(among(model.entry_id, "ids", postgres=postgres)).order_by(model.id))
    return names, marks(EntryAbsence, EntryAbsence.excused), marks(StudentRemark, StudentRemark.text)


def entries_bytes(session: Session, entries: list) -> dict[int, bytes]:
    """:func:`entry_bytes` of many entries (ORM objects or rows with the entry's columns) with
    three queries in all (the signing API's batches)."""
    names_query, absences_query, remarks_query = _bytes_queries(is_postgres(session.bind))
    ids = [e.id for e in entries]
    names: dict[tuple[int, int], str] = {(kind, key): value for kind, key, value in rows(
        session, names_query, {f"k{n}": list({getattr(e, attr) for e in entries}) for n, (_m, _c, attr) in enumerate(_NAMED)})}

    def grouped(query) -> dict[int, list]:
        out: dict[int, list] = {}
        for entry_id, pid, v in rows(session, query, {"ids": ids}):
            out.setdefault(entry_id, []).append((pid, v))
        return out

    absences, remarks = grouped(absences_query), grouped(remarks_query)
    out = {}
    for entry in entries:
        school_code, class_name, subject_code, teacher_code = (names[(n, getattr(entry, attr))]
                                                               for n, (_m, _c, attr) in enumerate(_NAMED))
        out[entry.id] = entry_document(
            entry_id=entry.id, school_code=school_code, class_name=class_name, day=entry.day,
            period_no=entry.period_no, subject_code=subject_code, teacher_code=teacher_code,
            is_substitute=entry.is_substitute, lesson_title=entry.lesson_title,
            curriculum_seq=entry.curriculum_seq, class_remark=entry.class_remark,
            class_rating=entry.class_rating, absences=absences.get(entry.id, []), remarks=remarks.get(entry.id, []))
    return out


# ------------------------------------------------------------------ filling in
@dataclass(frozen=True)
class EntryContent:
    """What a teacher writes for a period: lesson title (tên bài), curriculum sequence (tiết PPCT),
    absent students {student_id: excused}, remark on the class, remarks on students, rating."""

    lesson_title: str
    curriculum_seq: int | None = None
    absences: dict[int, bool] | None = None
    class_remark: str | None = None
    student_remarks: dict[int, str] | None = None
    class_rating: str | None = None


def _own_pending_entry(session: Session, actor: Actor, entry_id: int, permission: Permission) -> LogbookEntry:
    """The acting teacher's own period, still unsigned, in a week that is not closed (locked)."""
    entry = entry_for(session, actor, entry_id, lock=True)
    require(actor, permission, entry.school_id)
    if entry.teacher_id != actor.staff_id:
        raise PermissionDenied(f"entry {entry_id} is not yours: another teacher teaches that period",
                               message_vi="Bạn không phải giáo viên dạy tiết này")
    if entry.status != EntryStatus.PENDING:
        raise RuleViolation(f"entry {entry_id} is already {entry.status.value}; it can no longer change",
                            message_vi="Tiết học đã được ký hoặc đã quá hạn, không thể thay đổi")
    _require_week_editable(session, entry)
    return entry


def fill_entry(db: Database, actor: Actor, entry_id: int, content: EntryContent) -> None:
    """The teacher of the period records its content (before signing; never after)."""
    with db.transaction() as session:
        entry = _own_pending_entry(session, actor, entry_id, Permission.EDIT_ENTRY)
        school = session.get(School, entry.school_id)
        if content.class_rating is not None:
            if not school.lesson_rating_enabled:
                raise RuleViolation(f"school {school.code} does not rate lessons",
                                    message_vi=f"Trường {school.code} không xếp loại tiết học")
            if content.class_rating not in LESSON_RATINGS:
                raise RuleViolation(f"lesson rating must be one of {', '.join(LESSON_RATINGS)}",
                                    message_vi=f"Xếp loại tiết học phải là một trong: {', '.join(LESSON_RATINGS)}")
        if not content.lesson_title or not content.lesson_title.strip():
            raise RuleViolation("the lesson title is required", message_vi="Phải ghi tên bài dạy")
        students = set((content.absences or {}) | (content.student_remarks or {}))
        enrolled = set(session.scalars(select(Enrolment.student_id).where(
            Enrolment.class_id == entry.class_id, Enrolment.student_id.in_(students),
            Enrolment.valid_from <= entry.day,
            or_(Enrolment.valid_to.is_(None), Enrolment.valid_to >= entry.day)))) if students else set()
        if students - enrolled:
            raise RuleViolation(f"students {sorted(students - enrolled)} are not in this class on {entry.day}",
                                message_vi=f"Học sinh {sorted(students - enrolled)} không thuộc lớp này "
                                           f"ngày {entry.day:%d/%m/%Y}")
        entry.lesson_title, entry.curriculum_seq = content.lesson_title.strip(), content.curriculum_seq
        entry.class_remark, entry.class_rating = content.class_remark, content.class_rating
        session.query(EntryAbsence).filter(EntryAbsence.entry_id == entry.id).delete()
        session.query(StudentRemark).filter(StudentRemark.entry_id == entry.id).delete()
        week = session.get(SchoolWeek, entry.week_id)
        session.add_all([EntryAbsence(entry_id=entry.id, student_id=s, excused=bool(ex))
                         for s, ex in (content.absences or {}).items()])
        session.add_all([StudentRemark(entry_id=entry.id, student_id=s, text=t, term=week.term,
                                       school_year_id=week.school_year_id)
                         for s, t in (content.student_remarks or {}).items()])
        audit.record(session, actor, "entry.fill", "logbook_entry", entry.id, school_id=entry.school_id,
                     after={"lesson_title": entry.lesson_title, "absences": len(content.absences or {}),
                            "remarks": len(content.student_remarks or {})})


def record_substitute(db: Database, actor: Actor, entry_id: int, substitute_id: int, reason: str) -> None:
    """Dạy thay: the school records who teaches a period instead; the substitute signs it and
    is credited with its hours."""
    with db.transaction() as session:
        entry = entry_for(session, actor, entry_id, lock=True)
        require(actor, Permission.RECORD_SUBSTITUTE, entry.school_id)
        if entry.status != EntryStatus.PENDING:
            raise RuleViolation(f"entry {entry_id} is already {entry.status.value}",
                                message_vi=f"Tiết {entry_id} đã ở tình trạng "
                                           f"\"{formats.status(entry.status)}\", không đổi người dạy được")
        _require_week_editable(session, entry)
        sub = session.get(Staff, substitute_id)
        if sub is None or sub.school_id != entry.school_id or not sub.active:
            raise NotFound(f"staff {substitute_id} is not an active teacher of this school",
                           message_vi=f"Cán bộ {substitute_id} không phải giáo viên đang công tác tại trường này")
        busy = session.scalar(select(LogbookEntry.id).where(
            LogbookEntry.teacher_id == substitute_id, LogbookEntry.day == entry.day,
            LogbookEntry.period_no == entry.period_no, LogbookEntry.id != entry.id))
        if busy:
            raise RuleViolation(f"{sub.full_name} already teaches entry {busy} in that period",
                                message_vi=f"{sub.full_name} đã dạy tiết {busy} vào giờ đó")
        before = {"teacher_id": entry.teacher_id}
        entry.teacher_id, entry.is_substitute = substitute_id, substitute_id != entry.scheduled_teacher_id
        audit.record(session, actor, "entry.substitute", "logbook_entry", entry.id, school_id=entry.school_id,
                     before=before, after={"teacher_id": substitute_id}, reason=reason)


# ------------------------------------------------------------------ signing
@dataclass(frozen=True)
class SigningResult:
    entry_id: int
    status: EntryStatus
    signed_at: dt.datetime
    counts_as_teaching_hours: bool


def sign_entry(db: Database, actor: Actor, entry_id: int, signer, at: dt.datetime | None = None) -> SigningResult:
    """The teacher signs a period. The server's receipt time ``at`` decides on time or late
    (:func:`core.logbook.rules.signing_window.classify_signing`); a late signature is kept and
    recorded as LATE but does not count as teaching hours."""
    at = at or clock.now()
    with db.transaction() as session:
        entry = _own_pending_entry(session, actor, entry_id, Permission.SIGN_ENTRY)
        grace = dt.timedelta(seconds=session.scalar(
            select(School.signing_grace_seconds).where(School.id == entry.school_id)))
        status = classify_signing(at, entry.period_start, entry.period_end, grace)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        data = entry_bytes(session, entry)
        entry.signature = signer.sign_detached(data, at)
        entry.content_hash = sha256_hex(data)
        entry.signed_at, entry.signed_by, entry.status = at, actor.staff_id, status
        # the server's receipt of its decision, a leaf for the sealer (core.logbook.receipts), as
        # for a signature an app submits
        session.add(Submission(user_id=actor.user_id, idempotency_key=f"sign_entry:{entry.id}", entry_id=entry.id,
                               status=status, received_at=at, **receipt_evidence(
                                   entry_id=entry.id, status=status.value, received_at=at, signature=entry.signature,
                                   content_hash=entry.content_hash, signer_fingerprint=signer.fingerprint)))
        audit.record(session, actor, "entry.sign", "logbook_entry", entry.id, school_id=entry.school_id,
                     after={"status": status.value, "signed_at": at})
        return SigningResult(entry.id, status, at, counts_as_teaching_hours(status))


# ------------------------------------------------------------------ the end of the day
def mark_missed(db: Database, actor: Actor, as_of: dt.datetime | None = None) -> int:
    """Every entry still unsigned after its day is MISSED (run nightly; idempotent)."""
    as_of = as_of or clock.now()
    require(actor, Permission.PUBLISH_TIMETABLE)
    with db.transaction() as session:
        query = update(LogbookEntry).where(LogbookEntry.status == EntryStatus.PENDING,
                                           is_missed(LogbookEntry.status, LogbookEntry.day, as_of.date(),
                                                     LogbookEntry.period_end, grace_cutoff(as_of)),
                                           actor.school_filter(LogbookEntry.school_id))
        count = session.execute(query.values(status=EntryStatus.MISSED)).rowcount
        audit.record(session, actor, "logbook.mark_missed", "logbook_entry", None,
                     after={"missed": count, "as_of": as_of})
        return count


def teaching_hours(db: Database, actor: Actor, teacher_id: int, start: dt.date, end: dt.date) -> dict[str, int]:
    """A teacher's periods between two dates: taught (scheduled to them or as substitute),
    counted as teaching hours (signed on time), and lost (late or missed)."""
    with db.reading() as session:
        school_id = session.scalar(select(Staff.school_id).where(Staff.id == teacher_id))
        if school_id is None:
            raise NotFound(f"no staff {teacher_id}", message_vi=f"Không có cán bộ {teacher_id}")
        if actor.staff_id != teacher_id:
            require(actor, Permission.VIEW, school_id)
        rows = dict(session.execute(
            select(LogbookEntry.status, func.count()).where(
                LogbookEntry.teacher_id == teacher_id, and_(LogbookEntry.day >= start, LogbookEntry.day <= end))
            .group_by(LogbookEntry.status)).all())
        counted = rows.get(EntryStatus.ON_TIME, 0)
        lost = rows.get(EntryStatus.LATE, 0) + rows.get(EntryStatus.MISSED, 0)
        return {"periods": sum(rows.values()), "counted": counted, "lost": lost,
                "pending": rows.get(EntryStatus.PENDING, 0)}


# ------------------------------------------------------------------ for teachers' apps
def teacher_week(db: Database, actor: Actor, monday: dt.date) -> list[dict]:
    """The signed-in teacher's periods in the week starting ``monday`` (the app's timetable),
    with each period's signing deadline (end + the school's grace)."""
    if actor.staff_id is None:
        raise PermissionDenied("only staff have a timetable", message_vi="Chỉ giáo viên có thời khóa biểu")
    with db.reading() as session:
        rows = session.execute(
            select(LogbookEntry, SchoolClass.name, Subject.name, School.signing_grace_seconds)
            .join(SchoolClass, SchoolClass.id == LogbookEntry.class_id).join(Subject, Subject.id == LogbookEntry.subject_id)
            .join(School, School.id == LogbookEntry.school_id)
            .where(LogbookEntry.teacher_id == actor.staff_id, LogbookEntry.day >= monday,
                   LogbookEntry.day < monday + dt.timedelta(days=7))
            .order_by(LogbookEntry.day, LogbookEntry.period_no)).all()
        return [{"entry_id": e.id, "day": e.day, "period_no": e.period_no, "class_name": class_name,
                 "subject": subject, "period_start": e.period_start, "period_end": e.period_end,
                 "signing_deadline": e.period_end + dt.timedelta(seconds=grace), "status": e.status.value,
                 "is_substitute": e.is_substitute, "lesson_title": e.lesson_title}
                for e, class_name, subject, grace in rows]


def entry_for_signing(db: Database, actor: Actor, entry_id: int) -> dict:
    """One of the teacher's periods with exactly the bytes their signature must cover."""
    with db.reading() as session:
        entry = entry_for(session, actor, entry_id)
        if entry.teacher_id != actor.staff_id:
            raise PermissionDenied(f"entry {entry_id} is not yours: another teacher teaches that period",
                                   message_vi="Bạn không phải giáo viên dạy tiết này")
        data = entry_bytes(session, entry)
        return {"entry_id": entry.id, "day": entry.day, "period_no": entry.period_no, "status": entry.status.value,
                "lesson_title": entry.lesson_title, "curriculum_seq": entry.curriculum_seq,
                "class_remark": entry.class_remark, "class_rating": entry.class_rating,
                "period_end": entry.period_end, "signed_at": entry.signed_at,
                "canonical_bytes": data, "sha256": sha256_hex(data)}
