"""The domain's vocabulary (từ vựng): the states and kinds that rules, services and the record
store all speak in. Plain enums, no persistence: a rule imports them without loading SQLAlchemy.
Their values are what the record store keeps (see :mod:`core.storage.models`)."""
from __future__ import annotations

import enum


class SchoolLevel(str, enum.Enum):
    """Cấp học: primary (tiểu học), lower secondary (THCS), upper secondary (THPT), multi-level."""

    PRIMARY = "primary"
    LOWER_SECONDARY = "lower_secondary"
    UPPER_SECONDARY = "upper_secondary"
    MULTI_LEVEL = "multi_level"


class Ownership(str, enum.Enum):
    """Loại hình: công lập (public) or tư thục (private)."""

    PUBLIC = "public"
    PRIVATE = "private"


class StaffRole(str, enum.Enum):
    """Roles a staff member holds at a school (chức vụ)."""

    TEACHER = "teacher"                      # giáo viên bộ môn
    HOMEROOM_TEACHER = "homeroom_teacher"    # giáo viên chủ nhiệm
    PRINCIPAL = "principal"                  # hiệu trưởng
    VICE_PRINCIPAL = "vice_principal"        # phó hiệu trưởng
    SCHOOL_MONITOR = "school_monitor"        # cán bộ theo dõi sổ đầu bài
    CLERK = "clerk"                          # văn thư / giáo vụ


class Role(str, enum.Enum):
    """Roles of a user account of the product (who signs in)."""

    DEPARTMENT_SUPERVISOR = "department_supervisor"  # Sở GD&ĐT
    DISTRICT_SUPERVISOR = "district_supervisor"      # Phòng / cụm
    SCHOOL_MONITOR = "school_monitor"
    PRINCIPAL = "principal"
    VICE_PRINCIPAL = "vice_principal"
    CLERK = "clerk"
    TEACHER = "teacher"
    ANALYST = "analyst"
    ADMINISTRATOR = "administrator"


class Sex(str, enum.Enum):
    MALE = "M"
    FEMALE = "F"


class EntryStatus(str, enum.Enum):
    """State of a logbook entry's signature (see :mod:`core.logbook.rules.signing_window`)."""

    PENDING = "pending"    # not signed yet, day not over
    ON_TIME = "on_time"    # signed inside [start, end + grace]
    LATE = "late"          # signed after end + grace, same day: recorded, not counted
    MISSED = "missed"      # never signed by the end of its day


class WeekCloseStatus(str, enum.Enum):
    """State of a class-week of the logbook (chốt sổ tuần)."""

    OPEN = "open"
    HOMEROOM_SIGNED = "homeroom_signed"
    CLOSED = "closed"
    REOPENED = "reopened"


class ChangeRequestStatus(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class CertificateKind(str, enum.Enum):
    PERSONAL = "personal"  # chứng thư số cá nhân
    SEAL = "seal"          # chứng thư số của tổ chức (con dấu)


class TranscriptStatus(str, enum.Enum):
    """Where a học bạ stands in its signing workflow (issued: never changed; cancel and re-issue)."""

    DRAFT = "draft"
    HOMEROOM_SIGNED = "homeroom_signed"
    ISSUED = "issued"              # principal and school seal signed: immutable
    CANCELLED = "cancelled"        # hủy: replaced by a corrected version
