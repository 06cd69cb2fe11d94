"""Read models of the timetable: change requests waiting for a decision, paged."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.paging import PAGE
from core.kernel.vocabulary import (
    ChangeRequestStatus,
)
from core.storage.db import Database
from core.storage.models import (
    School,
    SchoolClass,
    Staff,
    Subject,
    TimetableChangeRequest,
    UserAccount,
)
from core.timetable.rules.calendar import WEEKDAYS


def pending_change_requests(db: Database, actor: Actor, *, school_id: int | None = None, page: int = 0,
                            page_size: int = PAGE) -> pd.DataFrame:
    """Timetable change requests still waiting for a decision (and still decidable: their
    Monday has not come), for the people who decide them, with the changes in words."""
    require(actor, Permission.DECIDE_TIMETABLE_CHANGE)
    R = TimetableChangeRequest
    stmt = (select(R.id.label("request_id"), School.name.label("school_name"), R.school_id,
                   UserAccount.display_name.label("requested_by"), R.requested_at, R.applies_from, R.reason,
                   R.changes)
            .join(School, School.id == R.school_id).join(UserAccount, UserAccount.id == R.requested_by)
            .where(actor.school_filter(R.school_id), R.status == ChangeRequestStatus.PENDING,
                   R.applies_from > clock.now().date()))
    if school_id is not None:
        stmt = stmt.where(R.school_id == school_id)
    stmt = stmt.order_by(R.applies_from, R.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        rows = session.execute(stmt).mappings().all()
        class_ids = {int(c["class_id"]) for r in rows for c in r["changes"]}
        staff_ids = {int(c["teacher_id"]) for r in rows for c in r["changes"] if not c.get("remove")}
        subject_ids = {int(c["subject_id"]) for r in rows for c in r["changes"] if not c.get("remove")}
        classes = dict(session.execute(select(SchoolClass.id, SchoolClass.name)
                                       .where(SchoolClass.id.in_(class_ids))).all()) if class_ids else {}
        staff = dict(session.execute(select(Staff.id, Staff.full_name)
                                     .where(Staff.id.in_(staff_ids))).all()) if staff_ids else {}
        subjects = dict(session.execute(select(Subject.id, Subject.name)
                                        .where(Subject.id.in_(subject_ids))).all()) if subject_ids else {}

    def words(change: dict) -> str:
        where = (f"{classes.get(int(change['class_id']), change['class_id'])} "
                 f"{WEEKDAYS.get(int(change['weekday']), change['weekday'])} tiết {change['period_no']}")
        if change.get("remove"):
            return f"{where}: bỏ tiết"
        return (f"{where}: {subjects.get(int(change['subject_id']), change['subject_id'])} — "
                f"{staff.get(int(change['teacher_id']), change['teacher_id'])}")

    frame = pd.DataFrame([{**{k: v for k, v in r.items() if k != "changes"},
                           "changes": "; ".join(words(c) for c in r["changes"])} for r in rows],
                         columns=["request_id", "school_name", "school_id", "requested_by", "requested_at",
                                  "applies_from", "reason", "changes"])
    return frame
