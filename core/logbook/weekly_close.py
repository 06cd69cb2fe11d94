"""Closing a class's logbook week (chốt sổ tuần): the homeroom teacher signs, then the
principal closes; a closed week is read-only; reopening is an audited admin action."""
from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import sha256_hex, week_document
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus, Role, WeekCloseStatus
from core.logbook.entries import holidays_for
from core.logbook.rules.weekly_close import (
    close_deadline,
    require_homeroom_step,
    require_principal_step,
    require_reopen,
    require_week_over,
)
from core.logbook.week_pdf import HOMEROOM_BOX, HOMEROOM_FIELD, PRINCIPAL_BOX, PRINCIPAL_FIELD, WeekRow, render_week
from core.signatures.certificates import registered_certificate
from core.signatures.ltv import sign_document
from core.storage.db import Database
from core.storage.models import (
    EntryAbsence,
    LogbookEntry,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Student,
    Subject,
    UserAccount,
    WeekClose,
    WeekReopen,
)
from core.timetable.rules.calendar import school_days


def _class_week(session: Session, actor: Actor, class_id: int, week_id: int) -> tuple[SchoolClass, SchoolWeek]:
    klass = session.get(SchoolClass, class_id)
    week = session.get(SchoolWeek, week_id)
    if (klass is None or week is None or week.school_year_id != klass.school_year_id
            or not actor.sees_school(klass.school_id)):
        raise NotFound(f"no class-week {class_id}/{week_id}", message_vi="Không tìm thấy sổ tuần của lớp này")
    return klass, week


def _close_row(session: Session, klass: SchoolClass, week: SchoolWeek) -> WeekClose:
    row = session.scalar(select(WeekClose).where(WeekClose.class_id == klass.id, WeekClose.week_id == week.id)
                         .with_for_update())
    if row is None:
        row = WeekClose(school_id=klass.school_id, class_id=klass.id, week_id=week.id,
                        status=WeekCloseStatus.OPEN, reopen_count=0)
        session.add(row)
        session.flush()
    return row


def last_school_day(session: Session, klass: SchoolClass, week: SchoolWeek) -> dt.date:
    """The class's last day with lessons that week (else the last non-holiday weekday)."""
    last = session.scalar(select(func.max(LogbookEntry.day)).where(
        LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id))
    if last is not None:
        return last
    days = school_days(week.monday, holidays_for(session, klass.school_id, week.school_year_id))
    return days[-1] if days else week.monday


def _week_bytes(session: Session, klass: SchoolClass, week: SchoolWeek) -> bytes:
    school_code = session.scalar(select(School.code).where(School.id == klass.school_id))
    entries = session.execute(select(LogbookEntry.id, LogbookEntry.status, LogbookEntry.content_hash)
                              .where(LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id)).all()
    return week_document(school_code=school_code, class_name=klass.name, week_number=week.number,
                         monday=week.monday, entries=[(i, s.value, h) for i, s, h in entries])


def tsa_url() -> str | None:
    """The timestamp authority for PDF signatures (``SOHOA_TSA_URL``); without one the
    signatures are PAdES B-B and their time is the server's receipt, recorded alongside."""
    return os.environ.get("SOHOA_TSA_URL") or None


#: Both signature fields, created by the homeroom teacher's certifying signature (so it covers
#: them); the principal later signs the second one.
WEEK_FIELDS = [(HOMEROOM_FIELD, HOMEROOM_BOX), (PRINCIPAL_FIELD, PRINCIPAL_BOX)]


def _week_pdf(session: Session, klass: SchoolClass, week: SchoolWeek) -> bytes:
    """Render the class-week as the printable logbook page (its signature fields are added by
    the homeroom teacher's signature, :data:`WEEK_FIELDS`)."""
    school = session.get(School, klass.school_id)
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.school_id == klass.school_id)).all())
    subjects = dict(session.execute(select(Subject.id, Subject.name)).all())
    principal = session.scalar(select(UserAccount.staff_id).where(
        UserAccount.school_id == klass.school_id, UserAccount.role == Role.PRINCIPAL))
    entries = session.scalars(select(LogbookEntry).where(LogbookEntry.class_id == klass.id,
                                                         LogbookEntry.week_id == week.id)).all()
    absent: dict[int, list[str]] = {}
    for entry_id, student, excused in session.execute(
            select(EntryAbsence.entry_id, Student.full_name, EntryAbsence.excused)
            .join(Student, Student.id == EntryAbsence.student_id)
            .where(EntryAbsence.entry_id.in_([e.id for e in entries]))):
        absent.setdefault(entry_id, []).append(f"{student} ({'P' if excused else 'K'})")
    rows = [WeekRow(day=e.day, period_no=e.period_no, subject=subjects.get(e.subject_id, ""),
                    teacher=names.get(e.teacher_id, ""), substitute=e.is_substitute, lesson_title=e.lesson_title or "",
                    curriculum_seq=e.curriculum_seq, absent=", ".join(absent.get(e.id, [])),
                    remark=e.class_remark or "", rating=e.class_rating or "", status=e.status.value,
                    signed_at=e.signed_at) for e in entries]
    return render_week(school=school.name, class_name=klass.name, week_number=week.number, monday=week.monday,
                       homeroom=names.get(klass.homeroom_teacher_id, ""), principal=names.get(principal, ""), rows=rows)


#: The step a user takes next on a class-week (``your_step`` in :func:`weeks_to_close`).
HOMEROOM_STEP, CLOSE_STEP = "homeroom_signature", "close"


def _is_principal(actor: Actor) -> bool:
    """Whoever closes weeks: the permission ``CLOSE_WEEK``, the principal's alone."""
    return actor.may(Permission.CLOSE_WEEK)


def _describe(session: Session, actor: Actor, pairs: list[tuple[SchoolClass, SchoolWeek]],
              at: dt.datetime) -> list[dict]:
    """Each class-week's close status as the app shows it (a few queries for all of them)."""
    if not pairs:
        return []
    class_ids = sorted({k.id for k, _ in pairs})
    week_ids = sorted({w.id for _, w in pairs})
    closes = {(r.class_id, r.week_id): r for r in session.scalars(select(WeekClose).where(
        WeekClose.class_id.in_(class_ids), WeekClose.week_id.in_(week_ids)))}
    counts: dict[tuple[int, int], dict[str, int]] = {}
    last_day: dict[tuple[int, int], dt.date] = {}
    for class_id, week_id, status, n, last in session.execute(
            select(LogbookEntry.class_id, LogbookEntry.week_id, LogbookEntry.status, func.count(),
                   func.max(LogbookEntry.day))
            .where(LogbookEntry.class_id.in_(class_ids), LogbookEntry.week_id.in_(week_ids))
            .group_by(LogbookEntry.class_id, LogbookEntry.week_id, LogbookEntry.status)):
        counts.setdefault((class_id, week_id), {})[status.value] = n
        last_day[(class_id, week_id)] = max(last, last_day.get((class_id, week_id), last))
    homeroom_ids = {k.homeroom_teacher_id for k, _ in pairs if k.homeroom_teacher_id is not None}
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.id.in_(sorted(homeroom_ids))))
                 .all()) if homeroom_ids else {}
    principal = _is_principal(actor)
    out = []
    for klass, week in pairs:
        key = (klass.id, week.id)
        row = closes.get(key)
        status = row.status if row is not None else WeekCloseStatus.OPEN
        last = last_day.get(key) or last_school_day(session, klass, week)
        homeroom = (klass.homeroom_teacher_id is not None and klass.homeroom_teacher_id == actor.staff_id
                    and actor.may(Permission.HOMEROOM_SIGN_WEEK))
        step = HOMEROOM_STEP if homeroom and status in (WeekCloseStatus.OPEN, WeekCloseStatus.REOPENED) \
            else CLOSE_STEP if principal and status == WeekCloseStatus.HOMEROOM_SIGNED else None
        found = counts.get(key, {})
        out.append({
            "class_id": klass.id, "class_name": klass.name, "grade": klass.grade,
            "homeroom_teacher": names.get(klass.homeroom_teacher_id),
            "week_id": week.id, "week_number": week.number, "monday": week.monday,
            "last_school_day": last, "week_over": at.date() > last, "deadline": close_deadline(week.monday),
            "status": status.value, "summary_hash": row.summary_hash if row is not None else None,
            "counts": {s.value: found.get(s.value, 0) for s in (EntryStatus.ON_TIME, EntryStatus.LATE,
                                                                  EntryStatus.MISSED, EntryStatus.PENDING)},
            "homeroom_signed_at": row.homeroom_signed_at if row is not None else None,
            "closed_at": row.closed_at if row is not None else None,
            "closed_on_time": row.closed_on_time if row is not None else None,
            "reopen_count": row.reopen_count if row is not None else 0,
            "your_step": step,
        })
    return out


def weeks_to_close(db: Database, actor: Actor, monday: dt.date, at: dt.datetime | None = None) -> list[dict]:
    """The class-weeks starting ``monday`` that the signed-in user closes (the app's list):
    for a principal every class of their school, for anyone else the classes they are the
    homeroom teacher (GVCN) of — possibly none. Each comes with its close status, summary
    hash, the counts of its periods by status, its last school day, whether the week is over,
    the on-time deadline and ``your_step`` (``homeroom_signature``, ``close`` or ``None``)."""
    at = at or clock.now()
    if not (actor.may(Permission.HOMEROOM_SIGN_WEEK) or actor.may(Permission.CLOSE_WEEK)):
        raise PermissionDenied(f"{actor.username} ({actor.role.value}) neither signs nor closes weeks",
                               message_vi="Chỉ giáo viên chủ nhiệm và hiệu trưởng chốt sổ tuần")
    with db.reading() as session:
        query = (select(SchoolClass, SchoolWeek)
                 .join(SchoolWeek, SchoolWeek.school_year_id == SchoolClass.school_year_id)
                 .where(SchoolWeek.monday == monday, actor.school_filter(SchoolClass.school_id)))
        if not _is_principal(actor):
            if actor.staff_id is None:
                return []
            query = query.where(SchoolClass.homeroom_teacher_id == actor.staff_id)
        pairs = [tuple(p) for p in session.execute(query.order_by(SchoolClass.grade, SchoolClass.name,
                                                                   SchoolClass.id))]
        return _describe(session, actor, pairs, at)


def class_week_close(db: Database, actor: Actor, class_id: int, week_id: int,
                     at: dt.datetime | None = None) -> dict:
    """One class-week's close status, in the shape of :func:`weeks_to_close`, for its
    homeroom teacher or anyone who may view the school (another school's class: not found)."""
    at = at or clock.now()
    with db.reading() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        if actor.staff_id is None or actor.staff_id != klass.homeroom_teacher_id:
            require(actor, Permission.VIEW, klass.school_id)
        return _describe(session, actor, [(klass, week)], at)[0]


def homeroom_sign_week(db: Database, actor: Actor, class_id: int, week_id: int, signer,
                       at: dt.datetime | None = None) -> WeekCloseStatus:
    """Step 1: the class's homeroom teacher (GVCN) signs the week, after its last school day.
    Unsigned periods of the week become MISSED first, so the signed summary is final."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.HOMEROOM_SIGN_WEEK, klass.school_id)
        if klass.homeroom_teacher_id is None or klass.homeroom_teacher_id != actor.staff_id:
            raise PermissionDenied(f"only the homeroom teacher of {klass.name} signs its week",
                                   message_vi="Chỉ giáo viên chủ nhiệm của lớp được ký sổ tuần")
        row = _close_row(session, klass, week)
        require_homeroom_step(row.status)
        require_week_over(last_school_day(session, klass, week), at)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        session.execute(update(LogbookEntry).where(
            LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id,
            LogbookEntry.status == EntryStatus.PENDING).values(status=EntryStatus.MISSED))
        data = _week_bytes(session, klass, week)
        before = {"status": row.status.value}
        row.homeroom_signature = signer.sign_detached(data, at)
        row.homeroom_signed_by, row.homeroom_signed_at = actor.staff_id, at
        row.summary_hash, row.status = sha256_hex(data), WeekCloseStatus.HOMEROOM_SIGNED
        row.document, _ = sign_document(_week_pdf(session, klass, week), signer, HOMEROOM_FIELD, certify=True,
                                        reason="Giáo viên chủ nhiệm ký sổ đầu bài tuần", finish=False,
                                        new_fields=WEEK_FIELDS, at=at)
        audit.record(session, actor, "week.homeroom_sign", "week_close", row.id, school_id=klass.school_id,
                     before=before, after={"status": row.status.value, "class": klass.name, "week": week.number})
        return row.status


def principal_close_week(db: Database, actor: Actor, class_id: int, week_id: int, signer,
                         at: dt.datetime | None = None) -> WeekCloseStatus:
    """Step 2: the principal signs and closes the week; from now on it is read-only."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.CLOSE_WEEK, klass.school_id)
        row = _close_row(session, klass, week)
        require_principal_step(row.status)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        data = _week_bytes(session, klass, week)
        if sha256_hex(data) != row.summary_hash:
            raise RuleViolation("the week changed after the homeroom teacher signed it; it must be signed again")
        row.principal_signature = signer.sign_detached(data, at)
        if row.document is not None:
            row.document, row.archive_valid_until = sign_document(  # closed: B-LTA with a TSA
                row.document, signer, PRINCIPAL_FIELD, certify=False, reason="Hiệu trưởng chốt sổ đầu bài tuần",
                finish=True, at=at)
        row.principal_signed_by, row.closed_at, row.status = actor.staff_id, at, WeekCloseStatus.CLOSED
        row.closed_on_time = row.reopen_count == 0 and at <= close_deadline(week.monday)
        audit.record(session, actor, "week.close", "week_close", row.id, school_id=klass.school_id,
                     before={"status": WeekCloseStatus.HOMEROOM_SIGNED.value},
                     after={"status": row.status.value, "on_time": row.closed_on_time,
                            "class": klass.name, "week": week.number})
        return row.status


def reopen_week(db: Database, actor: Actor, class_id: int, week_id: int, reason: str,
                at: dt.datetime | None = None) -> WeekCloseStatus:
    """Admin action: reopen a closed week (authorised roles only, reason mandatory, audited).
    Signed entries stay signed; the week must be signed and closed again."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.REOPEN_WEEK, klass.school_id)
        row = _close_row(session, klass, week)
        require_reopen(row.status, reason)
        session.add(WeekReopen(week_close_id=row.id, reopened_by=actor.user_id, reopened_at=at,
                               reason=reason.strip()))
        row.status, row.reopen_count = WeekCloseStatus.REOPENED, row.reopen_count + 1
        audit.record(session, actor, "week.reopen", "week_close", row.id, school_id=klass.school_id,
                     before={"status": WeekCloseStatus.CLOSED.value},
                     after={"status": row.status.value, "class": klass.name, "week": week.number},
                     reason=reason.strip())
        return row.status
