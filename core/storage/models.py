"""The record store: SQLAlchemy 2.0 typed models (the persistence layer).

Rules do not live here; they live in each context's ``rules`` package as pure functions, and
the enums they speak in live in :mod:`core.kernel.vocabulary`. These models
are the shape of the data that PostgreSQL (production) and SQLite (the embedded
default) hold. Every datetime column is naive Vietnam local time (see :mod:`core.kernel.clock`).
"""
from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.kernel.vocabulary import (
    CertificateKind,
    ChangeRequestStatus,
    EntryStatus,
    Ownership,
    Role,
    SchoolLevel,
    Sex,
    StaffRole,
    TranscriptStatus,
    WeekCloseStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A big integer primary key that stays INTEGER on SQLite (so it is the rowid there).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e],
                validate_strings=True)


# ---------------------------------------------------------------- organisation
class Department(Base):
    """Sở Giáo dục và Đào tạo: a province's or city's education department."""

    __tablename__ = "department"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    province_code: Mapped[str] = mapped_column(String(3))


class District(Base):
    """Phòng Giáo dục / area (cụm) under a department."""

    __tablename__ = "district"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class School(Base):
    """Trường: a school, with its own signing grace (default 5 minutes)."""

    __tablename__ = "school"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("district.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[SchoolLevel] = mapped_column(_enum(SchoolLevel))
    ownership: Mapped[Ownership] = mapped_column(_enum(Ownership), default=Ownership.PUBLIC)
    #: the school's signing grace after a period's end; it starts at the rule's
    #: ``core.logbook.rules.signing_window.DEFAULT_GRACE`` (set by whoever creates the school)
    signing_grace_seconds: Mapped[int] = mapped_column(Integer)
    lesson_rating_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    district: Mapped[District] = relationship()


class SchoolYear(Base):
    """Năm học: two terms (học kỳ I of 18 weeks, học kỳ II of 17 weeks)."""

    __tablename__ = "school_year"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(16))  # "2025-2026"
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    __table_args__ = (UniqueConstraint("department_id", "name"),)


class SchoolWeek(Base):
    """Tuần học: one of the 35 teaching weeks, Monday to Sunday, with its term."""

    __tablename__ = "school_week"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"), index=True)
    number: Mapped[int] = mapped_column(SmallInteger)
    term: Mapped[int] = mapped_column(SmallInteger)
    monday: Mapped[dt.date] = mapped_column(Date, index=True)
    __table_args__ = (UniqueConstraint("school_year_id", "number"),)


class Holiday(Base):
    """Ngày nghỉ: a day without lessons, department-wide or for one school."""

    __tablename__ = "holiday"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))


# ---------------------------------------------------------------- people
class Staff(Base):
    """Cán bộ, giáo viên, nhân viên: a member of staff."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffAssignment(Base):
    """A role a staff member holds at a school, from when to when (assignment history)."""

    __tablename__ = "staff_assignment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class Student(Base):
    """Học sinh, identified by the 12-digit personal identification number (số định danh cá nhân)."""

    __tablename__ = "student"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    personal_id: Mapped[str] = mapped_column(String(12), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(_enum(Sex))


class Enrolment(Base):
    """A student's membership of a class, from when to when (enrolment history)."""

    __tablename__ = "enrolment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


# ---------------------------------------------------------------- curriculum and classes
class Subject(Base):
    """Môn học / hoạt động giáo dục of the 2018 general curriculum, for one level."""

    __tablename__ = "subject"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[SchoolLevel] = mapped_column(_enum(SchoolLevel))
    comment_only: Mapped[bool] = mapped_column(Boolean, default=False)


class CurriculumLoad(Base):
    """Periods per year of a subject in a grade (chương trình GDPT 2018)."""

    __tablename__ = "curriculum_load"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"), index=True)
    grade: Mapped[int] = mapped_column(SmallInteger)
    periods_per_year: Mapped[int] = mapped_column(SmallInteger)
    __table_args__ = (UniqueConstraint("subject_id", "grade"),)


class SchoolClass(Base):
    """Lớp học: a class of one school year, with its homeroom teacher (GVCN)."""

    __tablename__ = "school_class"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"), index=True)
    grade: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(16))
    homeroom_teacher_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    __table_args__ = (UniqueConstraint("school_id", "school_year_id", "name"),)


class TeachingAssignment(Base):
    """Phân công giảng dạy: who teaches which subject to which class, from when to when."""

    __tablename__ = "teaching_assignment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class BellPeriod(Base):
    """Giờ vào tiết: start and end of a period number in a session, per school."""

    __tablename__ = "bell_period"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    session: Mapped[str] = mapped_column(String(12))  # "morning" (sáng) / "afternoon" (chiều)
    period_no: Mapped[int] = mapped_column(SmallInteger)  # 1..10 across the day
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    __table_args__ = (UniqueConstraint("school_id", "period_no"),)


# ---------------------------------------------------------------- timetable
class TimetableVersion(Base):
    """Thời khóa biểu: a school's timetable, in force from a Monday until the next version."""

    __tablename__ = "timetable_version"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    effective_from: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(String(400))
    __table_args__ = (UniqueConstraint("school_id", "effective_from"),)


class TimetableSlot(Base):
    """One lesson of a timetable version: class, weekday (1 = Monday), period, subject, teacher."""

    __tablename__ = "timetable_slot"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("timetable_version.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"))
    weekday: Mapped[int] = mapped_column(SmallInteger)
    period_no: Mapped[int] = mapped_column(SmallInteger)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    __table_args__ = (
        UniqueConstraint("version_id", "class_id", "weekday", "period_no", name="uq_slot_class"),
        UniqueConstraint("version_id", "teacher_id", "weekday", "period_no", name="uq_slot_teacher"),
    )


class TimetableChangeRequest(Base):
    """Đề nghị điều chỉnh TKB: made at the weekend, applies from the following Monday."""

    __tablename__ = "timetable_change_request"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime)
    applies_from: Mapped[dt.date] = mapped_column(Date)
    changes: Mapped[list] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ChangeRequestStatus] = mapped_column(_enum(ChangeRequestStatus),
                                                        default=ChangeRequestStatus.PENDING)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("timetable_version.id"))


# ---------------------------------------------------------------- the logbook
class LogbookEntry(Base):
    """Một tiết trong sổ đầu bài: one period of one class's logbook.

    ``teacher_id`` is who teaches and signs (a substitute when ``is_substitute``);
    ``scheduled_teacher_id`` is who the timetable named.

    On PostgreSQL the table is partitioned by school year and school (migration 0009,
    docs/partitioning.md): its primary key there is ``(id, day, school_id)`` and the
    references to it from absences, remarks and receipts are enforced by triggers.
    """

    __tablename__ = "logbook_entry"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"))
    week_id: Mapped[int] = mapped_column(ForeignKey("school_week.id"))
    day: Mapped[dt.date] = mapped_column(Date)
    period_no: Mapped[int] = mapped_column(SmallInteger)
    period_start: Mapped[dt.datetime] = mapped_column(DateTime)
    period_end: Mapped[dt.datetime] = mapped_column(DateTime)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    scheduled_teacher_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    is_substitute: Mapped[bool] = mapped_column(Boolean, default=False)
    lesson_title: Mapped[str | None] = mapped_column(String(400))
    curriculum_seq: Mapped[int | None] = mapped_column(SmallInteger)  # tiết theo PPCT
    class_remark: Mapped[str | None] = mapped_column(Text)
    class_rating: Mapped[str | None] = mapped_column(String(2))       # A / B / C / D
    status: Mapped[EntryStatus] = mapped_column(_enum(EntryStatus), default=EntryStatus.PENDING)
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        # a class is in one school: school_id adds nothing but the partition key PostgreSQL requires
        UniqueConstraint("class_id", "day", "period_no", "school_id", name="uq_entry_slot"),
        Index("ix_entry_school_week", "school_id", "week_id"),
        Index("ix_entry_teacher_week", "teacher_id", "week_id"),
        # today's unsigned periods (core.logbook.this_week.unsigned_today): one day, not the year
        Index("ix_entry_day_status", "day", "status"),
        # the missed and late periods, newest first (core.logbook.queries.missed_lessons): a page is
        # the index's last rows, not a sort of the newest day's 27,000 (0.6 s → 50 ms in a city)
        Index("ix_entry_not_on_time", "day", "period_no", "id",
              postgresql_where=text("status <> 'on_time'"), sqlite_where=text("status <> 'on_time'")),
        # the class-weeks whose last day is past (core.logbook.queries._class_weeks_over) and one
        # class-week's periods: an index-only scan, not every entry read with its signature
        Index("ix_entry_class_week", "class_id", "week_id", "day", postgresql_include=["school_id"]),
    )


class EntryAbsence(Base):
    """Học sinh vắng: a student absent from a period, with (P) or without (K) permission."""

    __tablename__ = "entry_absence"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("logbook_entry.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    excused: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (UniqueConstraint("entry_id", "student_id"),)


class StudentRemark(Base):
    """Nhận xét học sinh: a teacher's remark on one student in one period (feeds the transcript)."""

    __tablename__ = "student_remark"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("logbook_entry.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    term: Mapped[int] = mapped_column(SmallInteger)
    text: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_remark_student_term", "student_id", "school_year_id", "term"),)


class WeekClose(Base):
    """Chốt sổ tuần: the homeroom teacher's and the principal's signatures on a class-week."""

    __tablename__ = "week_close"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"))
    week_id: Mapped[int] = mapped_column(ForeignKey("school_week.id"), index=True)
    status: Mapped[WeekCloseStatus] = mapped_column(_enum(WeekCloseStatus), default=WeekCloseStatus.OPEN)
    homeroom_signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    homeroom_signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    homeroom_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    principal_signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    principal_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    summary_hash: Mapped[str | None] = mapped_column(String(64))
    # The printable week as a PDF carrying the PAdES signatures (homeroom certifies, principal
    # approves); NULL for weeks closed before documents existed or generated synthetically.
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    # Until when the document's newest archive timestamp can be validated (PAdES B-LTA); the
    # re-timestamping job renews it before then (core.signatures.renewal). NULL: not B-LTA.
    archive_valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    reopen_count: Mapped[int] = mapped_column(SmallInteger, default=0)
    __table_args__ = (UniqueConstraint("class_id", "week_id"),)


class PdfSigning(Base):
    """Ký số hai bước: a PDF signature prepared by the server for a signer whose key the server
    does not hold (their phone, a remote signing service), waiting for their signature. It
    keeps the prepared document's signed content (or, for a document the server already stores,
    what follows it) until completed, superseded or expired; a completed one keeps only the
    hashes of the answer and the result, for idempotent replays."""

    __tablename__ = "pdf_signing"
    signing_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, unguessable: the app holds it
    document_kind: Mapped[str] = mapped_column(String(32))  # week_close
    document_id: Mapped[int] = mapped_column(BigId)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    step: Mapped[str] = mapped_column(String(16))  # homeroom | principal
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"))
    mode: Mapped[str] = mapped_column(String(24))  # signed_attributes | cms | remote_csc
    # the document's state when prepared: completing on a changed week is refused
    base_reopen_count: Mapped[int] = mapped_column(SmallInteger)
    summary_hash: Mapped[str] = mapped_column(String(64))
    reserved_start: Mapped[int] = mapped_column(Integer)
    reserved_end: Mapped[int] = mapped_column(Integer)
    document_digest: Mapped[bytes] = mapped_column(LargeBinary)
    md_algorithm: Mapped[str] = mapped_column(String(16))
    signed_content: Mapped[bytes | None] = mapped_column(LargeBinary)
    base_sha256: Mapped[str | None] = mapped_column(String(64))
    tail: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))  # prepared | completed | superseded
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    prepare_key: Mapped[str] = mapped_column(String(100))
    answer_sha256: Mapped[str | None] = mapped_column(String(64))
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        UniqueConstraint("user_id", "prepare_key"),
        # at most one live signing per document and step: a newer prepare supersedes the older
        Index("ux_pdf_signing_live", "document_kind", "document_id", "step", unique=True,
              postgresql_where=text("status = 'prepared'"), sqlite_where=text("status = 'prepared'")),
    )


class WeekReopen(Base):
    """Mở lại sổ: a reopening of a closed class-week, with its mandatory reason."""

    __tablename__ = "week_reopen"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    week_close_id: Mapped[int] = mapped_column(ForeignKey("week_close.id"), index=True)
    reopened_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reopened_at: Mapped[dt.datetime] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- certificates
class Certificate(Base):
    """Chứng thư số: a registered signing certificate of a staff member or a school's seal."""

    __tablename__ = "certificate"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[CertificateKind] = mapped_column(_enum(CertificateKind))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    serial_hex: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(400))
    not_before: Mapped[dt.datetime] = mapped_column(DateTime)
    not_after: Mapped[dt.datetime] = mapped_column(DateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


# ---------------------------------------------------------------- users, scope and audit
class UserAccount(Base):
    """A person who signs in: supervisors, monitors, analysts, administrators and staff."""

    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("district.id"))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("school.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MonitorAssignment(Base):
    """A school monitor user assigned to a school, from when to when."""

    __tablename__ = "monitor_assignment"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime)
    unassigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class DepartmentThreshold(Base):
    """Ngưỡng cảnh báo: the department's thresholds for "behind this week" — a teacher below
    ``teacher_min_rate`` % on time or with more than ``teacher_max_unsigned`` unsigned / late
    periods, a school below ``school_min_rate`` % (see :mod:`core.logbook.this_week`)."""

    __tablename__ = "department_threshold"
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), primary_key=True)
    teacher_min_rate: Mapped[int] = mapped_column(SmallInteger)
    teacher_max_unsigned: Mapped[int] = mapped_column(SmallInteger)
    school_min_rate: Mapped[int] = mapped_column(SmallInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class AuditEvent(Base):
    """Nhật ký: one append-only, hash-chained audit event (see :mod:`core.access.audit`)."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chain: Mapped[int] = mapped_column(BigInteger)  # the school's id; 0 for events outside a school
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    school_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),)


class AuditHead(Base):
    """The head of one audit hash chain (one per school, so schools never wait on each
    other): locked while an event is appended."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


# ---------------------------------------------------------------- gradebook and transcripts


class SubjectResult(Base):
    """Sổ điểm: one student's results in one subject for a school year, entered by the subject
    teacher. Secondary: regular/mid/final scores per term (JSON of decimal strings) or comment
    results; primary: ratings and test scores. Averages are computed by core.rules."""

    __tablename__ = "subject_result"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    term1: Mapped[dict | None] = mapped_column(JSON)
    term2: Mapped[dict | None] = mapped_column(JSON)
    year_value: Mapped[str | None] = mapped_column(String(32))   # "7.8", "Đạt", "T", …
    comment: Mapped[str | None] = mapped_column(Text)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    #: the summer re-assessment's result (kiểm tra lại, TT22/2021 Art. 14): it replaces the year
    #: result for the year's learning level and promotion; the year result stays as entered
    summer_value: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (UniqueConstraint("student_id", "subject_id", "school_year_id"),)


class SubjectConfirmation(Base):
    """A subject teacher's signed confirmation of a class's results in their subject (xác nhận điểm)."""

    __tablename__ = "subject_confirmation"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id"))
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    teacher_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    confirmed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    results_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (UniqueConstraint("class_id", "subject_id", "school_year_id"),)


class StudentEvaluation(Base):
    """The homeroom teacher's part for one student and year: conduct per term (secondary),
    qualities and competences (primary), comments, absences, nomination."""

    __tablename__ = "student_evaluation"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    conduct_term1: Mapped[str | None] = mapped_column(String(16))
    conduct_term2: Mapped[str | None] = mapped_column(String(16))
    qualities: Mapped[dict | None] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
    absent_sessions: Mapped[int] = mapped_column(Integer, default=0)
    nominated: Mapped[bool] = mapped_column(Boolean, default=False)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    #: the year's conduct re-assessed after summer training (TT22/2021 Art. 13): it replaces
    #: the year's conduct for promotion
    conduct_summer: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (UniqueConstraint("student_id", "school_year_id"),)


class AssessmentDecision(Base):
    """A decision on how one student is assessed or promoted (quyết định của hiệu trưởng): an
    exemption from a practical part (TT22/2021 Art. 10), a subject assessed against an
    individual education plan (Art. 11), the principal's promotion decision (TT22 Art. 12,
    TT27/2020 Art. 11), a primary pupil's supplementary assessment (TT27 Art. 11). ``kind`` is a
    :class:`core.transcripts.rules.decisions.DecisionKind` value; ``terms`` "1", "2" or "1,2"."""

    __tablename__ = "assessment_decision"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"))
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subject.id"))
    terms: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(32))
    document_no: Mapped[str] = mapped_column(String(64))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    decided_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SigningDelegation(Base):
    """A written delegation to sign for the principal (văn bản giao ký thay hiệu trưởng,
    Nghị định 30/2020/NĐ-CP Art. 13): to a vice-principal of the school, for some acts
    (``acts``: comma-separated :class:`core.signatures.rules.delegation.SigningAct` values),
    from a first to a last day; revoked at ``revoked_at``. Kept for ever: a signature made
    under it is judged by it."""

    __tablename__ = "signing_delegation"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    delegate_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    document_no: Mapped[str] = mapped_column(String(64))
    signed_on: Mapped[dt.date] = mapped_column(Date)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    acts: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class Transcript(Base):
    """Học bạ số: one student's record for one school year, as a signed PDF. Once issued it
    never changes (database triggers refuse it); a wrong one is cancelled and a corrected
    version issued that points to it."""

    __tablename__ = "transcript"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("school_class.id"), index=True)
    school_year_id: Mapped[int] = mapped_column(ForeignKey("school_year.id"))
    version: Mapped[int] = mapped_column(SmallInteger, default=1)
    status: Mapped[TranscriptStatus] = mapped_column(_enum(TranscriptStatus), default=TranscriptStatus.DRAFT)
    verification_code: Mapped[str] = mapped_column(String(16), unique=True)
    content: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[bytes | None] = mapped_column(LargeBinary)
    homeroom_signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    principal_signed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    issued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("transcript.id"))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # Until when the issued document's newest archive timestamp can be validated (PAdES B-LTA);
    # the re-timestamping job renews it before then, appending a revision (core.signatures.renewal).
    archive_valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)
    # How long the document was when it was issued: renewals append to it, and what was issued is
    # its first ``issued_length`` bytes, for ever (what the checkpoints anchor).
    issued_length: Mapped[int | None] = mapped_column(Integer)


class ReceivedTranscript(Base):
    """A transcript received from another school in a verified transfer package (chuyển trường)."""

    __tablename__ = "received_transcript"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), index=True)
    receiving_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    from_school_code: Mapped[str] = mapped_column(String(16))
    school_year: Mapped[str] = mapped_column(String(16))
    verification_code: Mapped[str] = mapped_column(String(16))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    package_hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (UniqueConstraint("receiving_school_id", "verification_code"),)


class TranscriptVerification(Base):
    """The verification of an issued transcript's document (kết quả xác thực học bạ), computed
    once — the document never changes — and kept for the public check: its SHA-256 and length,
    each signature's result under the trust policy named by ``policy_key``, and until when that
    result holds (the earliest expiry of its signers' certificates). Status and revocation are
    never kept here: they are read at each check."""

    __tablename__ = "transcript_verification"
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcript.id"), primary_key=True, autoincrement=False)
    policy_key: Mapped[str] = mapped_column(String(32))
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    document_length: Mapped[int] = mapped_column(Integer)
    signatures: Mapped[list] = mapped_column(JSON)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ImportedPackage(Base):
    """The ledger of imported transcript packages (sổ gói hồ sơ đã nhận): a package, named by
    the id in its signed manifest, is imported once; importing it again changes nothing.
    ``package_sha256`` is the SHA-256 of its signed manifest (which binds every document's)."""

    __tablename__ = "imported_package"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    package_id: Mapped[str] = mapped_column(String(64), unique=True)
    receiving_school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    sender_code: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    package_sha256: Mapped[str] = mapped_column(String(64))
    transcripts: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime)
    imported_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class LoginSession(Base):
    """A signed-in session (phiên đăng nhập): only the SHA-256 of its token is stored."""

    __tablename__ = "login_session"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class CredentialLockout(Base):
    """Wrong passwords or PINs in a row (nhập sai liên tiếp) and the lock they earn, per user
    and credential (``password`` to sign in, ``pin`` for the server-held signing key)."""

    __tablename__ = "credential_lockout"
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True, autoincrement=False)
    credential: Mapped[str] = mapped_column(String(16), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SignInThrottle(Base):
    """Failed sign-ins counted per key (core.access.accounts.sign_in): a name typed from one
    client, one client whatever the name, one name from every client; and the clients a user
    signed in from before (``known``). The key is a SHA-256, so no name or address is stored."""

    __tablename__ = "sign_in_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LinkedIdentity(Base):
    """An account's identity at the department's identity provider (định danh liên kết, OIDC):
    the provider's issuer and the subject it names the person by. Signing in through the
    provider opens a session for the linked account; what that account may do is decided here,
    never by the provider's claims."""

    __tablename__ = "linked_identity"
    issuer: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime)


#: a receipt that is a leaf and not sealed yet (core.logbook.receipts)
_UNSEALED = "batch_id IS NULL AND leaf_hash IS NOT NULL"


class Submission(Base):
    """A signature received from a teacher's app (biên nhận): who sent which entry's signature,
    when the server received it, and under which idempotency key, so a retried request is
    answered from here and never signs or counts twice."""

    __tablename__ = "submission"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    idempotency_key: Mapped[str] = mapped_column(String(100))
    entry_id: Mapped[int] = mapped_column(ForeignKey("logbook_entry.id"), index=True)
    status: Mapped[EntryStatus] = mapped_column(_enum(EntryStatus))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime)
    signature_hash: Mapped[str] = mapped_column(String(64))
    # The receipt as a leaf of a sealed batch (core.logbook.receipts): what was signed and with
    # which certificate, the leaf's hash (written when the signature is settled), and where the
    # sealer put it (NULL until sealed, and for receipts kept before receipts were sealed).
    content_hash: Mapped[str | None] = mapped_column(String(64))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))
    leaf_hash: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("receipt_batch.id"))
    leaf_index: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (UniqueConstraint("user_id", "idempotency_key"), UniqueConstraint("batch_id", "leaf_index"),
                      # the receipts waiting for the sealer, oldest first, whatever the table's size
                      Index("ix_submission_unsealed", "id", postgresql_where=text(_UNSEALED),
                            sqlite_where=text(_UNSEALED)))


class ReceiptBatch(Base):
    """Lô biên nhận: a batch of the server's receipts, sealed (core.logbook.receipts). The
    statement (canonical JSON: batch id, size, Merkle root, the previous batch's hash, when
    sealed) as signed, the service seal's CMS signature over it and the RFC 3161 timestamp
    token over it; the other columns repeat the statement's fields for queries. Ids are the
    chain's order: 1, 2, 3, …"""

    __tablename__ = "receipt_batch"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[dt.datetime] = mapped_column(DateTime)
    statement: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    timestamp: Mapped[bytes | None] = mapped_column(LargeBinary)


class Notification(Base):
    """The notification outbox (hộp thư đi): reminders core queues; a delivery job sends them by
    e-mail (SMTP) when configured and records when."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("school.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
