"""Timetable services: publish a version, request a change at the weekend, decide on it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import MalformedInput, NotFound, RuleViolation
from core.kernel.vocabulary import ChangeRequestStatus
from core.storage.bulk import bulk_insert
from core.storage.db import Database
from core.storage.models import (
    BellPeriod,
    SchoolClass,
    Staff,
    Subject,
    TimetableChangeRequest,
    TimetableSlot,
    TimetableVersion,
)
from core.timetable.rules.slots import Lesson, change_request_applies_from, require_monday, require_no_conflicts


@dataclass(frozen=True)
class SlotSpec:
    """One lesson to put in a timetable (ids)."""

    class_id: int
    weekday: int
    period_no: int
    subject_id: int
    teacher_id: int


def version_in_force(session: Session, school_id: int, day: dt.date) -> TimetableVersion | None:
    """The timetable version of ``school_id`` in force on ``day`` (latest effective_from <= day)."""
    return session.scalar(
        select(TimetableVersion)
        .where(TimetableVersion.school_id == school_id, TimetableVersion.effective_from <= day)
        .order_by(TimetableVersion.effective_from.desc()).limit(1))


def slots_of(session: Session, version_id: int) -> list[SlotSpec]:
    rows = session.execute(select(TimetableSlot.class_id, TimetableSlot.weekday, TimetableSlot.period_no,
                                  TimetableSlot.subject_id, TimetableSlot.teacher_id)
                           .where(TimetableSlot.version_id == version_id)).all()
    return [SlotSpec(*r) for r in rows]


def describe_lessons(session: Session, school_id: int, slots: list[SlotSpec]) -> list[Lesson]:
    """Turn id slots into named lessons (for conflict messages), checking every id belongs
    to the school."""
    classes = dict(session.execute(select(SchoolClass.id, SchoolClass.name)
                                   .where(SchoolClass.school_id == school_id)).all())
    teachers = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.school_id == school_id)).all())
    subject_ids = {s.subject_id for s in slots}
    subjects = dict(session.execute(select(Subject.id, Subject.name).where(Subject.id.in_(subject_ids))).all())
    periods = set(session.scalars(select(BellPeriod.period_no).where(BellPeriod.school_id == school_id)))
    lessons = []
    for s in slots:
        if s.class_id not in classes:
            raise NotFound(f"class {s.class_id} is not a class of school {school_id}",
                           message_vi=f"Lớp {s.class_id} không phải lớp của trường {school_id}")
        if s.teacher_id not in teachers:
            raise NotFound(f"teacher {s.teacher_id} is not on the staff of school {school_id}",
                           message_vi=f"Giáo viên {s.teacher_id} không thuộc biên chế trường {school_id}")
        if s.subject_id not in subjects:
            raise NotFound(f"unknown subject {s.subject_id}", message_vi=f"Không có môn học {s.subject_id}")
        if s.period_no not in periods:
            raise RuleViolation(f"period {s.period_no} is not in the bell schedule of school {school_id}",
                                message_vi=f"Tiết {s.period_no} không có trong lịch chuông của trường {school_id}")
        if not 1 <= s.weekday <= 7:
            raise RuleViolation(f"weekday {s.weekday} must be 1 (Monday) to 7 (Sunday)",
                                message_vi=f"Thứ {s.weekday} phải từ 1 (thứ Hai) đến 7 (Chủ nhật)")
        lessons.append(Lesson(classes[s.class_id], teachers[s.teacher_id], s.weekday, s.period_no,
                              subjects[s.subject_id], class_key=s.class_id, teacher_key=s.teacher_id))
    return lessons


def _write_version(session: Session, school_id: int, effective_from: dt.date, slots: list[SlotSpec],
                   note: str | None) -> TimetableVersion:
    version = session.scalar(select(TimetableVersion).where(
        TimetableVersion.school_id == school_id, TimetableVersion.effective_from == effective_from))
    if version is None:
        version = TimetableVersion(school_id=school_id, effective_from=effective_from,
                                   created_at=clock.now(), note=note)
        session.add(version)
        session.flush()
    else:
        session.execute(delete(TimetableSlot).where(TimetableSlot.version_id == version.id))
        version.note = note
    bulk_insert(session, TimetableSlot, [
        {"version_id": version.id, "class_id": s.class_id, "weekday": s.weekday, "period_no": s.period_no,
         "subject_id": s.subject_id, "teacher_id": s.teacher_id} for s in slots])
    return version


def publish_timetable_in(session: Session, actor: Actor, school_id: int, effective_from: dt.date,
                         slots: list[SlotSpec], note: str | None = None) -> int:
    """:func:`publish_timetable` inside the caller's transaction (used by the importer)."""
    require(actor, Permission.PUBLISH_TIMETABLE, school_id)
    require_monday(effective_from)
    require_no_conflicts(describe_lessons(session, school_id, slots))
    version = _write_version(session, school_id, effective_from, slots, note)
    audit.record(session, actor, "timetable.publish", "timetable_version", version.id, school_id=school_id,
                 after={"effective_from": effective_from, "slots": len(slots)})
    return version.id


def publish_timetable(db: Database, actor: Actor, school_id: int, effective_from: dt.date,
                      slots: list[SlotSpec], note: str | None = None) -> int:
    """Publish a school's whole timetable, in force from the Monday ``effective_from``.
    Conflicts (a teacher or a class twice in one slot) are refused naming both lessons."""
    with db.transaction() as session:
        return publish_timetable_in(session, actor, school_id, effective_from, slots, note)


@dataclass(frozen=True)
class SlotChange:
    """One change to a timetable slot (đề nghị đổi tiết): the slot ``(class_id, weekday,
    period_no)`` is removed, or given the new ``subject_id`` and ``teacher_id``."""

    class_id: int
    weekday: int
    period_no: int
    remove: bool = False
    subject_id: int | None = None
    teacher_id: int | None = None

    def as_dict(self) -> dict:
        """The form stored in the request and its audit event."""
        keys = SLOT + (("remove",) if self.remove else ASSIGNMENT)
        return {k: getattr(self, k) for k in keys}


#: the fields naming a slot, and those giving it a lesson
SLOT, ASSIGNMENT = ("class_id", "weekday", "period_no"), ("subject_id", "teacher_id")


def _whole_number(value) -> int | None:
    """``value`` as an int when it is one (``"3"`` too) that fits the record store's 64-bit
    ids, else ``None``: ``True``, ``2.5``, ``"x"`` and ``2**70`` are not."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -2**63 < value < 2**63 else None


def parse_changes(changes: list) -> list[SlotChange]:
    """Check the shape of a change request's changes, naming the first bad one (1-based):
    each is an object with whole-number ``class_id``, ``weekday`` and ``period_no``, and
    either ``"remove": true`` or whole-number ``subject_id`` and ``teacher_id``."""
    if not isinstance(changes, list) or not changes:
        raise RuleViolation("a change request needs at least one change",
                            message_vi="Đề nghị đổi thời khóa biểu cần ít nhất một thay đổi")
    parsed = []
    for n, change in enumerate(changes, start=1):
        def bad(why: str, why_vi: str):
            return MalformedInput(f"change {n}: {why}", message_vi=f"Thay đổi thứ {n} không hợp lệ: {why_vi}")
        if not isinstance(change, dict):
            raise bad("must be an object", "phải là một đối tượng JSON")
        remove = change.get("remove", False)
        if not isinstance(remove, bool):
            raise bad("'remove' must be true or false", "'remove' phải là true hoặc false")
        needed = SLOT + (() if remove else ASSIGNMENT)
        values = {}
        for key in needed:
            value = _whole_number(change.get(key))
            if value is None and key in change:
                raise bad(f"'{key}' must be a whole number", f"'{key}' phải là số nguyên")
            if value is None:
                raise bad(f"'{key}' is missing", f"thiếu '{key}'")
            values[key] = value
        unknown = sorted(map(str, set(change) - {f.name for f in fields(SlotChange)}))
        if unknown:
            raise bad(f"unknown field(s) {', '.join(unknown)}", f"trường không xác định {', '.join(unknown)}")
        parsed.append(SlotChange(remove=remove, **values))
    return parsed


def _apply_changes(base: list[SlotSpec], changes: list[SlotChange]) -> list[SlotSpec]:
    """The slots of ``base`` with ``changes`` applied in order."""
    slots = {(s.class_id, s.weekday, s.period_no): s for s in base}
    for change in changes:
        key = (change.class_id, change.weekday, change.period_no)
        if change.remove:
            slots.pop(key, None)
        else:
            slots[key] = SlotSpec(*key, change.subject_id, change.teacher_id)
    return list(slots.values())


def request_change(db: Database, actor: Actor, school_id: int, changes: list[dict], reason: str = "",
                   at: dt.datetime | None = None) -> int:
    """A teacher asks to change next week's timetable. Accepted only on Saturday or Sunday
    (the server's clock decides); it applies from the following Monday."""
    at = at or clock.now()
    require(actor, Permission.REQUEST_TIMETABLE_CHANGE, school_id)
    applies_from = change_request_applies_from(at)
    parsed = parse_changes(changes)
    changes = [c.as_dict() for c in parsed]
    with db.transaction() as session:
        base = version_in_force(session, school_id, applies_from)
        proposed = _apply_changes(slots_of(session, base.id) if base else [], parsed)
        require_no_conflicts(describe_lessons(session, school_id, proposed))
        req = TimetableChangeRequest(school_id=school_id, requested_by=actor.user_id, requested_at=at,
                                     applies_from=applies_from, changes=changes, reason=reason)
        session.add(req)
        session.flush()
        audit.record(session, actor, "timetable.request_change", "timetable_change_request", req.id,
                     school_id=school_id, after={"applies_from": applies_from, "changes": changes}, reason=reason)
        return req.id


def decide_change(db: Database, actor: Actor, request_id: int, approve: bool, note: str = "",
                  at: dt.datetime | None = None) -> int | None:
    """Approve (publishing a version from the request's Monday) or reject a change request.
    Returns the new version id when approved."""
    at = at or clock.now()
    with db.transaction() as session:
        req = session.get(TimetableChangeRequest, request_id)
        if req is None:
            raise NotFound(f"no timetable change request {request_id}",
                           message_vi=f"Không có đề nghị đổi thời khóa biểu {request_id}")
        require(actor, Permission.DECIDE_TIMETABLE_CHANGE, req.school_id)
        if req.status != ChangeRequestStatus.PENDING:
            raise RuleViolation(f"change request {request_id} was already {req.status.value}",
                                message_vi=f"Đề nghị đổi thời khóa biểu {request_id} đã được quyết định")
        if at.date() >= req.applies_from:
            raise RuleViolation(f"change request {request_id} was for the week of {req.applies_from:%d/%m/%Y}; "
                                "it can no longer be decided",
                                message_vi=f"Đề nghị đổi thời khóa biểu {request_id} áp dụng từ tuần "
                                           f"{req.applies_from:%d/%m/%Y}; không còn quyết định được nữa")
        before = {"status": req.status.value}
        req.decided_by, req.decided_at, req.decision_note = actor.user_id, at, note
        version_id = None
        if approve:
            base = version_in_force(session, req.school_id, req.applies_from)
            slots = _apply_changes(slots_of(session, base.id) if base else [], parse_changes(req.changes))
            require_no_conflicts(describe_lessons(session, req.school_id, slots))
            version_id = _write_version(session, req.school_id, req.applies_from, slots,
                                        f"change request {req.id}").id
            req.status, req.version_id = ChangeRequestStatus.APPROVED, version_id
        else:
            req.status = ChangeRequestStatus.REJECTED
        audit.record(session, actor, "timetable.decide_change", "timetable_change_request", req.id,
                     school_id=req.school_id, before=before,
                     after={"status": req.status.value, "version_id": version_id}, reason=note)
        return version_id
