"""Admin actions supervisors take from the console, each checked and audited in core:
assign or unassign a school monitor, and remind teachers of their unsigned periods through
the notification outbox (delivered by e-mail when SMTP is configured)."""
from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage

import pandas as pd
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
            raise NotFound(f"no active school-monitor account {user_id}",
                           message_vi=f"Không có tài khoản giám sát trường {user_id} đang hoạt động")
        if session.scalar(select(MonitorAssignment.id).where(
                MonitorAssignment.user_id == user_id, MonitorAssignment.school_id == school_id,
                MonitorAssignment.unassigned_at.is_(None))):
            raise RuleViolation(f"{user.username} already monitors this school",
                                message_vi=f"{user.username} đã được phân công giám sát trường này")
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
            raise NotFound("no such current assignment", message_vi="Không có phân công giám sát này (hoặc đã thôi)")
        row.unassigned_at = clock.now()
        audit.record(session, actor, "monitor.unassign", "monitor_assignment", row.id, school_id=school_id,
                     before={"assigned": True}, after={"assigned": False}, reason=reason)


#: The roles that remind teachers of their unsigned periods.
REMINDER_ROLES = frozenset({Role.ADMINISTRATOR, Role.DEPARTMENT_SUPERVISOR, Role.DISTRICT_SUPERVISOR,
                            Role.SCHOOL_MONITOR, Role.PRINCIPAL})


def sends_reminders(actor: Actor) -> bool:
    """Whether the actor's role reminds teachers (the console shows the card only then)."""
    return actor.role in REMINDER_ROLES


def _reminded(session, school_id: int, as_of: dt.datetime) -> list[tuple[int, int]]:
    """(teacher id, unsigned periods) of the teachers a reminder goes to: unsigned periods today
    or earlier this week (pending or missed)."""
    E = LogbookEntry
    week_start = as_of.date() - dt.timedelta(days=as_of.weekday())
    return session.execute(select(E.teacher_id, func.count()).where(
        E.school_id == school_id, E.day >= week_start, E.day <= as_of.date(),
        and_(E.status.in_([EntryStatus.PENDING, EntryStatus.MISSED]))).group_by(E.teacher_id)
        .order_by(E.teacher_id)).all()


def reminder_recipients(db: Database, actor: Actor, school_id: int,
                        as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Who a reminder would go to now, before it is sent: ``teacher_id``, ``teacher``, ``email``
    (empty: it will wait in the outbox) and ``periods`` unsigned."""
    as_of = as_of or clock.now()
    require(actor, Permission.VIEW, school_id)
    with db.reading() as session:
        counts = dict(_reminded(session, school_id, as_of))
        staff = session.execute(select(Staff.id, Staff.full_name, Staff.email)
                                .where(Staff.id.in_(list(counts)))).all() if counts else []
    frame = pd.DataFrame([(sid, name, email or "", counts[sid]) for sid, name, email in staff],
                         columns=["teacher_id", "teacher", "email", "periods"])
    return frame.sort_values(["periods", "teacher"], ascending=[False, True]).reset_index(drop=True)


#: The outbox's delivery errors in words.
DELIVERY_ERRORS_VI = {"no e-mail address": "không có địa chỉ email"}


def reminder_status(db: Database, actor: Actor, school_id: int, *, limit: int = 200) -> pd.DataFrame:
    """The school's reminders, newest first, with their delivery status in words: ``teacher``,
    ``subject``, ``created_at``, ``delivery`` (Đã gửi lúc …, Chờ gửi, Không gửi được: …)."""
    require(actor, Permission.VIEW, school_id)
    with db.reading() as session:
        rows = session.execute(
            select(Staff.full_name, Notification.subject, Notification.created_at, Notification.sent_at,
                   Notification.error).join(Staff, Staff.id == Notification.staff_id)
            .where(Notification.school_id == school_id).order_by(Notification.id.desc()).limit(limit)).all()

    def delivery(sent_at, error) -> str:
        if sent_at is not None:
            return f"Đã gửi lúc {sent_at:%H:%M %d/%m/%Y}"
        if error:
            return f"Không gửi được: {DELIVERY_ERRORS_VI.get(error, error)}"
        return "Chờ gửi (hộp thư đi)"
    return pd.DataFrame([(name, subject, created, delivery(sent, error)) for name, subject, created, sent, error
                         in rows], columns=["teacher", "subject", "created_at", "delivery"])


def send_reminders(db: Database, actor: Actor, school_id: int, as_of: dt.datetime | None = None) -> int:
    """Queue one reminder per teacher of the school who has unsigned periods today or earlier
    this week that can still be signed (pending), or missed ones to explain."""
    as_of = as_of or clock.now()
    with db.transaction() as session:
        require(actor, Permission.VIEW, school_id)
        if not sends_reminders(actor):
            raise RuleViolation("this role does not send reminders", message_vi="Vai trò của bạn không gửi nhắc nhở")
        rows = _reminded(session, school_id, as_of)
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
