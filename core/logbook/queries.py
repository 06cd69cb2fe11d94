"""Read models for the console and notebooks: paged lists aggregated or filtered in the
database and scoped to the caller (never whole tables to the browser)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.vocabulary import (
    CertificateKind,
    ChangeRequestStatus,
    EntryStatus,
    Role,
    TranscriptStatus,
    WeekCloseStatus,
)
from core.storage.db import Database
from core.storage.models import (
    AuditEvent,
    Certificate,
    District,
    LogbookEntry,
    MonitorAssignment,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Student,
    Subject,
    TimetableChangeRequest,
    Transcript,
    UserAccount,
    WeekClose,
)

PAGE = 50


def missed_lessons(db: Database, actor: Actor, *, school_id: int | None = None, week_id: int | None = None,
                   include_late: bool = True, page: int = 0, page_size: int = PAGE,
                   as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Unsigned (missed) and late periods with the teaching hour each one cost, newest first."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    statuses = [EntryStatus.MISSED] + ([EntryStatus.LATE] if include_late else [])
    unsigned_past = and_(E.status == EntryStatus.PENDING, E.day < as_of.date())
    stmt = (select(E.id.label("entry_id"), School.name.label("school_name"), SchoolClass.name.label("class_name"),
                   E.day, E.period_no, Subject.name.label("subject"), Staff.full_name.label("teacher"),
                   E.status, E.signed_at, E.period_end)
            .join(School, School.id == E.school_id).join(SchoolClass, SchoolClass.id == E.class_id)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), or_(E.status.in_(statuses), unsigned_past)))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    if week_id is not None:
        stmt = stmt.where(E.week_id == week_id)
    stmt = stmt.order_by(E.day.desc(), E.period_no, E.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: "Ký trễ" if s in ("late", EntryStatus.LATE) else "Không ký")
    frame["minutes_late"] = ((pd.to_datetime(frame["signed_at"]) - pd.to_datetime(frame["period_end"]))
                             .dt.total_seconds() / 60).round(1)
    frame["hours_lost"] = 1
    return frame.drop(columns=["period_end"])


def week_closing(db: Database, actor: Actor, *, school_id: int | None = None, page: int = 0,
                 page_size: int = PAGE) -> pd.DataFrame:
    """Class-weeks and their closing state: open, closed on time, closed late, reopened."""
    require(actor, Permission.VIEW)
    E, W = LogbookEntry, SchoolWeek
    weeks = (select(E.class_id.label("cid"), E.week_id.label("wid")).where(actor.school_filter(E.school_id))
             .group_by(E.class_id, E.week_id).having(func.max(E.day) < clock.now().date()))
    if school_id is not None:
        weeks = weeks.where(E.school_id == school_id)
    weeks = weeks.subquery()
    stmt = (select(weeks.c.cid.label("class_id"), weeks.c.wid.label("week_id"), School.name.label("school_name"),
                   SchoolClass.name.label("class_name"), W.number.label("week"),
                   W.monday, WeekClose.status, WeekClose.closed_on_time, WeekClose.closed_at, WeekClose.reopen_count)
            .select_from(weeks).join(SchoolClass, SchoolClass.id == weeks.c.cid)
            .join(School, School.id == SchoolClass.school_id).join(W, W.id == weeks.c.wid)
            .outerjoin(WeekClose, and_(WeekClose.class_id == weeks.c.cid, WeekClose.week_id == weeks.c.wid))
            .order_by(W.number.desc(), School.name, SchoolClass.name).limit(page_size).offset(page * page_size))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())

    def state(row):
        if row["status"] in (WeekCloseStatus.CLOSED.value, WeekCloseStatus.CLOSED):
            label = "Đã chốt đúng hạn" if row["closed_on_time"] else "Đã chốt trễ"
            return label + (" (đã mở lại)" if row["reopen_count"] else "")
        if row["status"] in (WeekCloseStatus.REOPENED.value, WeekCloseStatus.REOPENED):
            return "Đang mở lại"
        return "Chưa chốt"
    frame["state"] = frame.apply(state, axis=1) if not frame.empty else []
    return frame


def certificate_list(db: Database, actor: Actor, *, expiring_within_days: int | None = None,
                     school_id: int | None = None, active_only: bool = False,
                     page: int = 0, page_size: int = PAGE) -> pd.DataFrame:
    """Registered certificates in scope, soonest expiry first; ``active_only`` leaves out the
    revoked and expired ones (what can still be revoked)."""
    require(actor, Permission.VIEW)
    now = clock.now()
    stmt = (select(Certificate.id, School.name.label("school_name"), Staff.full_name.label("holder"),
                   Certificate.kind, Certificate.serial_hex, Certificate.not_after, Certificate.revoked_at)
            .join(School, School.id == Certificate.school_id).outerjoin(Staff, Staff.id == Certificate.staff_id)
            .where(actor.school_filter(Certificate.school_id)))
    if school_id is not None:
        stmt = stmt.where(Certificate.school_id == school_id)
    if active_only:
        stmt = stmt.where(Certificate.revoked_at.is_(None), Certificate.not_after >= now)
    if expiring_within_days is not None:
        stmt = stmt.where(Certificate.not_after <= now + dt.timedelta(days=expiring_within_days),
                          Certificate.not_after >= now, Certificate.revoked_at.is_(None))
    stmt = stmt.order_by(Certificate.not_after, Certificate.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["kind"] = frame["kind"].map(lambda k: "Con dấu" if k in ("seal", CertificateKind.SEAL) else "Cá nhân")
    return frame


def audit_trail(db: Database, actor: Actor, *, action: str | None = None, user: str | None = None,
                school_id: int | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
                page: int = 0, page_size: int = PAGE, check_chain: bool = True,
                ) -> tuple[pd.DataFrame, audit.ChainReport | None]:
    """Who did what, newest first, in the caller's scope, filtered by action (prefix), user name
    (exact), school and date range (inclusive days); with the hash-chain check for the
    department level (administrators and department supervisors), who see every chain.
    ``school_id`` outside the caller's scope gives nothing (core intersects, never widens)."""
    require(actor, Permission.VIEW_AUDIT)
    stmt = select(AuditEvent.id, AuditEvent.at, AuditEvent.actor_name, AuditEvent.action, AuditEvent.entity,
                  AuditEvent.entity_id, AuditEvent.school_id, AuditEvent.reason)
    if actor.school_ids is not None:
        stmt = stmt.where(AuditEvent.school_id.in_(sorted(actor.school_ids)))
    if action:
        stmt = stmt.where(AuditEvent.action.like(f"{action}%"))
    if user:
        stmt = stmt.where(AuditEvent.actor_name == user.strip())
    if school_id is not None:
        stmt = stmt.where(AuditEvent.school_id == school_id)
    if date_from is not None:
        stmt = stmt.where(AuditEvent.at >= dt.datetime.combine(date_from, dt.time.min))
    if date_to is not None:
        stmt = stmt.where(AuditEvent.at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
        whole = check_chain and actor.role in (Role.ADMINISTRATOR, Role.DEPARTMENT_SUPERVISOR)
        chain = audit.verify_chain(session) if whole else None
    return frame, chain


def audit_actions(db: Database, actor: Actor) -> list[str]:
    """The distinct actions in the caller's audit scope (the action filter's choices)."""
    require(actor, Permission.VIEW_AUDIT)
    stmt = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if actor.school_ids is not None:
        stmt = stmt.where(AuditEvent.school_id.in_(sorted(actor.school_ids)))
    with db.reading() as session:
        return list(session.scalars(stmt))


def monitor_accounts(db: Database, actor: Actor) -> pd.DataFrame:
    """School-monitor accounts, for the assignment form (needs the right to assign)."""
    require(actor, Permission.ASSIGN_MONITOR)
    stmt = (select(UserAccount.id, UserAccount.username, UserAccount.display_name)
            .where(UserAccount.role == Role.SCHOOL_MONITOR, UserAccount.active.is_(True),
                   or_(UserAccount.school_id.is_(None), actor.school_filter(UserAccount.school_id)))
            .order_by(UserAccount.username))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def signing_heatmap(db: Database, actor: Actor, *, school_id: int | None = None,
                    as_of: dt.datetime | None = None) -> pd.DataFrame:
    """On-time signing rate by weekday × period (aggregated in the database)."""
    require(actor, Permission.VIEW)
    as_of = as_of or clock.now()
    E = LogbookEntry
    weekday = func.extract("dow", E.day) if db.is_postgres else func.strftime("%w", E.day)
    decided = or_(E.status != EntryStatus.PENDING, E.day < as_of.date())
    stmt = (select(weekday.label("weekday"), E.period_no, func.count().label("periods"),
                   func.sum(case((E.status == EntryStatus.ON_TIME, 1), else_=0)).label("on_time"))
            .where(actor.school_filter(E.school_id), decided).group_by(weekday, E.period_no))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["weekday"] = frame["weekday"].astype(int).map(lambda d: 8 if d == 0 else d + 1)  # Thứ 2..Chủ nhật (8)
    frame["on_time_rate"] = (frame["on_time"] / frame["periods"]).round(4)
    return frame


def class_week_entries(db: Database, actor: Actor, class_id: int, week_id: int) -> pd.DataFrame:
    """The lesson entries of one class-week with their signature status (the drill-down's last step)."""
    require(actor, Permission.VIEW)
    E = LogbookEntry
    stmt = (select(E.id.label("entry_id"), E.day, E.period_no, Subject.name.label("subject"),
                   Staff.full_name.label("teacher"), E.lesson_title, E.status, E.signed_at)
            .join(Subject, Subject.id == E.subject_id).join(Staff, Staff.id == E.teacher_id)
            .where(actor.school_filter(E.school_id), E.class_id == class_id, E.week_id == week_id)
            .order_by(E.day, E.period_no))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def late_signing_distribution(db: Database, actor: Actor, *, school_id: int | None = None,
                              week_id: int | None = None, bucket_minutes: int = 1) -> pd.DataFrame:
    """How long after the period's end the late entries were signed: the number of LATE
    entries per bucket of whole minutes after ``period_end`` (``minutes_after_end`` is the
    bucket's lower edge), aggregated in the database and scoped to the caller. ``school_id``
    and ``week_id`` narrow it; a school outside the caller's scope gives nothing."""
    require(actor, Permission.VIEW)
    width = int(bucket_minutes)
    if width < 1:
        raise ValueError("bucket_minutes must be at least 1")
    E = LogbookEntry
    if db.is_postgres:
        seconds = cast(func.floor(func.extract("epoch", E.signed_at - E.period_end)), Integer)
    else:  # SQLite: whole seconds since the epoch of both naive local times
        seconds = cast(func.strftime("%s", E.signed_at), Integer) - cast(func.strftime("%s", E.period_end), Integer)
    # Integer literals (not bound parameters) so that the SELECT and GROUP BY expressions are
    # textually equal on PostgreSQL's server-side binding.
    bucket = (seconds // literal_column(str(60 * width), Integer)) * literal_column(str(width), Integer)
    stmt = (select(bucket.label("minutes_after_end"), func.count().label("entries"))
            .where(actor.school_filter(E.school_id), E.status == EntryStatus.LATE, E.signed_at.is_not(None))
            .group_by(bucket).order_by(bucket))
    if school_id is not None:
        stmt = stmt.where(E.school_id == school_id)
    if week_id is not None:
        stmt = stmt.where(E.week_id == week_id)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    return frame.astype({"minutes_after_end": "int64", "entries": "int64"})


def schools_in_scope(db: Database, actor: Actor) -> pd.DataFrame:
    """The schools the caller may see (id, code, name, district), for pickers."""
    require(actor, Permission.VIEW)
    stmt = (select(School.id.label("school_id"), School.code.label("school_code"), School.name.label("school_name"),
                   District.name.label("district_name"))
            .join(District, District.id == School.district_id).where(actor.school_filter(School.id))
            .order_by(School.code))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def staff_list(db: Database, actor: Actor, school_id: int, *, active_only: bool = True) -> pd.DataFrame:
    """The staff of one school in the caller's scope (id, code, name), for handover and
    certificate forms."""
    require(actor, Permission.VIEW, school_id)
    stmt = select(Staff.id.label("staff_id"), Staff.code, Staff.full_name).where(Staff.school_id == school_id)
    if active_only:
        stmt = stmt.where(Staff.active.is_(True))
    with db.reading() as session:
        return pd.read_sql(stmt.order_by(Staff.code), session.connection())


WEEKDAYS = {1: "Thứ Hai", 2: "Thứ Ba", 3: "Thứ Tư", 4: "Thứ Năm", 5: "Thứ Sáu", 6: "Thứ Bảy", 7: "Chủ nhật"}


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


TRANSCRIPT_STATUS_VI = {"draft": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                        "cancelled": "Đã hủy"}


def transcript_list(db: Database, actor: Actor, *, school_id: int | None = None,
                    status: TranscriptStatus | None = None, search: str | None = None, page: int = 0,
                    page_size: int = PAGE) -> pd.DataFrame:
    """Transcripts in scope (newest version first per class), filtered by status and by a
    verification code or a student's name, paged in the database."""
    require(actor, Permission.VIEW)
    T = Transcript
    stmt = (select(T.id.label("transcript_id"), T.verification_code.label("code"),
                   Student.full_name.label("student"), SchoolClass.name.label("class_name"),
                   School.name.label("school_name"), T.status, T.version, T.issued_at)
            .join(Student, Student.id == T.student_id).join(SchoolClass, SchoolClass.id == T.class_id)
            .join(School, School.id == T.school_id).where(actor.school_filter(T.school_id)))
    if school_id is not None:
        stmt = stmt.where(T.school_id == school_id)
    if status is not None:
        stmt = stmt.where(T.status == status)
    if search and search.strip():
        term = search.strip()
        stmt = stmt.where(or_(T.verification_code == term.upper(), Student.full_name.like(f"%{term}%")))
    stmt = stmt.order_by(School.code, SchoolClass.name, Student.full_name, T.version.desc()) \
        .limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["status"] = frame["status"].map(lambda s: TRANSCRIPT_STATUS_VI.get(getattr(s, "value", s), s))
    return frame


def transcript_classes(db: Database, actor: Actor, school_id: int) -> pd.DataFrame:
    """Per class of a school: how many transcripts are drafts, signed by the homeroom teacher
    (waiting for the principal) and issued; for the principal's batch-signing form."""
    require(actor, Permission.VIEW, school_id)
    T = Transcript

    def n(status):
        return func.sum(case((T.status == status, 1), else_=0))
    stmt = (select(SchoolClass.id.label("class_id"), SchoolClass.name.label("class_name"), SchoolClass.grade,
                   n(TranscriptStatus.DRAFT).label("drafts"),
                   n(TranscriptStatus.HOMEROOM_SIGNED).label("homeroom_signed"),
                   n(TranscriptStatus.ISSUED).label("issued"))
            .join(T, T.class_id == SchoolClass.id).where(SchoolClass.school_id == school_id)
            .group_by(SchoolClass.id, SchoolClass.name, SchoolClass.grade)
            .order_by(SchoolClass.grade, SchoolClass.name))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    for col in ("drafts", "homeroom_signed", "issued"):
        frame[col] = frame[col].fillna(0).astype("int64")
    return frame


def weeks_in_scope(db: Database, actor: Actor) -> pd.DataFrame:
    """The school weeks that have logbook entries in the caller's scope (week filters)."""
    require(actor, Permission.VIEW)
    E, W = LogbookEntry, SchoolWeek
    used = select(E.week_id).where(actor.school_filter(E.school_id)).distinct()
    stmt = select(W.id.label("week_id"), W.number, W.monday).where(W.id.in_(used)).order_by(W.monday)
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())


def monitor_assignments(db: Database, actor: Actor) -> pd.DataFrame:
    """Current monitor assignments in the caller's scope (for the unassign form)."""
    require(actor, Permission.ASSIGN_MONITOR)
    stmt = (select(MonitorAssignment.user_id, UserAccount.username, UserAccount.display_name,
                   MonitorAssignment.school_id, School.code.label("school_code"), School.name.label("school_name"),
                   MonitorAssignment.assigned_at)
            .join(UserAccount, UserAccount.id == MonitorAssignment.user_id)
            .join(School, School.id == MonitorAssignment.school_id)
            .where(MonitorAssignment.unassigned_at.is_(None), actor.school_filter(MonitorAssignment.school_id))
            .order_by(School.code, UserAccount.username))
    with db.reading() as session:
        return pd.read_sql(stmt, session.connection())
