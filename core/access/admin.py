"""Admin actions supervisors take from the console, each checked and audited in core:
assign or unassign a school monitor, and remind teachers of their unsigned periods through
the notification outbox (delivered by e-mail when SMTP is configured)."""
from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage

from sqlalchemy import and_, func, select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import NotFound, RuleViolation
from core.kernel.vocabulary import EntryStatus, Role
from core.storage.db import Database
from core.storage.models import LogbookEntry, MonitorAssignment, Notification, School, Staff, UserAccount


def assign_monitor(db: Database, actor: Actor, user_id: int, school_id: int) -> int:
    """Phân công giám sát: a school-monitor account watches a school from now on."""
    with db.transaction() as session:
        require(actor, Permission.ASSIGN_MONITOR, school_id)
        user = session.get(UserAccount, user_id)
        if user is None or user.role != Role.SCHOOL_MONITOR or not user.active:
            raise NotFound(f"no active school-monitor account {user_id}")
        if session.scalar(select(MonitorAssignment.id).where(
                MonitorAssignment.user_id == user_id, MonitorAssignment.school_id == school_id,
                MonitorAssignment.unassigned_at.is_(None))):
            raise RuleViolation(f"{user.username} already monitors this school")
        row = MonitorAssignment(user_id=user_id, school_id=school_id, assigned_at=clock.now())
        session.add(row)
        session.flush()
        audit.record(session, actor, "monitor.assign", "monitor_assignment", row.id, school_id=school_id,
                     after={"user": user.username})
        return row.id


def unassign_monitor(db: Database, actor: Actor, user_id: int, school_id: int, reason: str) -> None:
    with db.transaction() as session:
        require(actor, Permission.ASSIGN_MONITOR, school_id)
        row = session.scalar(select(MonitorAssignment).where(
            MonitorAssignment.user_id == user_id, MonitorAssignment.school_id == school_id,
            MonitorAssignment.unassigned_at.is_(None)))
        if row is None:
            raise NotFound("no such current assignment")
        row.unassigned_at = clock.now()
        audit.record(session, actor, "monitor.unassign", "monitor_assignment", row.id, school_id=school_id,
                     before={"assigned": True}, after={"assigned": False}, reason=reason)


def send_reminders(db: Database, actor: Actor, school_id: int, as_of: dt.datetime | None = None) -> int:
    """Queue one reminder per teacher of the school who has unsigned periods today or earlier
    this week that can still be signed (pending), or missed ones to explain."""
    as_of = as_of or clock.now()
    with db.transaction() as session:
        require(actor, Permission.VIEW, school_id)
        if actor.role not in (Role.ADMINISTRATOR, Role.DEPARTMENT_SUPERVISOR, Role.DISTRICT_SUPERVISOR,
                              Role.SCHOOL_MONITOR, Role.PRINCIPAL):
            raise RuleViolation("this role does not send reminders")
        E = LogbookEntry
        week_start = as_of.date() - dt.timedelta(days=as_of.weekday())
        rows = session.execute(select(E.teacher_id, func.count()).where(
            E.school_id == school_id, E.day >= week_start, E.day <= as_of.date(),
            and_(E.status.in_([EntryStatus.PENDING, EntryStatus.MISSED]))).group_by(E.teacher_id)).all()
        school = session.get(School, school_id)
        for teacher_id, count in rows:
            session.add(Notification(
                school_id=school_id, staff_id=teacher_id, kind="unsigned_periods",
                subject=f"[{school.code}] Nhắc ký sổ đầu bài: {count} tiết chưa ký",
                body=(f"Thầy/cô có {count} tiết trong tuần này chưa được ký số trên sổ đầu bài. "
                      "Tiết phải được ký trong giờ dạy và chậm nhất 5 phút sau khi kết thúc tiết."),
                created_at=as_of, created_by=actor.user_id))
        audit.record(session, actor, "reminders.queue", "school", school_id, school_id=school_id,
                     after={"teachers": len(rows)})
        return len(rows)


def deliver_outbox(db: Database, host: str | None = None, port: int | None = None, sender: str | None = None,
                   limit: int = 500) -> int:
    """Send queued notifications by SMTP (settings ``smtp_host``, ``smtp_port``, ``mail_from``); staff without
    an e-mail address keep theirs in the outbox with the reason. Returns how many were sent."""
    from core.kernel import settings

    configured = settings.current()
    host = host or configured.smtp_host
    if not host:
        return 0
    port = port or configured.smtp_port
    sender = sender or configured.mail_from
    sent = 0
    with db.transaction() as session:
        queued = session.execute(select(Notification, Staff.email).join(Staff, Staff.id == Notification.staff_id)
                                 .where(Notification.sent_at.is_(None), Notification.error.is_(None))
                                 .limit(limit)).all()
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            for note, email in queued:
                if not email:
                    note.error = "no e-mail address"
                    continue
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = sender, email, note.subject
                message.set_content(note.body)
                smtp.send_message(message)
                note.sent_at = clock.now()
                sent += 1
    return sent
