"""Who may see and do what: authorization lives here, in core, not in the UI.

Every service takes an :class:`Actor` (the signed-in user, resolved from the database)
and checks it with :func:`require`; every query that returns school data is filtered by
:meth:`Actor.school_filter`. A school monitor sees only the schools assigned to them,
whatever filter they pass.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from core.kernel.errors import NotFound, PermissionDenied
from core.kernel.vocabulary import Role
from core.storage.models import District, MonitorAssignment, School, Staff, UserAccount


class Permission(str, enum.Enum):
    VIEW = "view"                                  # read compliance, logbooks, audit of scope
    SIGN_ENTRY = "sign_entry"                      # a teacher signs their own periods
    EDIT_ENTRY = "edit_entry"
    HOMEROOM_SIGN_WEEK = "homeroom_sign_week"
    CLOSE_WEEK = "close_week"
    REOPEN_WEEK = "reopen_week"
    PUBLISH_TIMETABLE = "publish_timetable"
    REQUEST_TIMETABLE_CHANGE = "request_timetable_change"
    DECIDE_TIMETABLE_CHANGE = "decide_timetable_change"
    RECORD_SUBSTITUTE = "record_substitute"
    IMPORT_DATA = "import_data"
    ASSIGN_MONITOR = "assign_monitor"
    MANAGE_CERTIFICATES = "manage_certificates"
    VIEW_AUDIT = "view_audit"
    ISSUE_TRANSCRIPT = "issue_transcript"      # the principal's approval and batch signing
    CANCEL_TRANSCRIPT = "cancel_transcript"    # hủy và cấp lại
    SET_THRESHOLDS = "set_thresholds"          # the department's "behind this week" thresholds
    MANAGE_ACCOUNTS = "manage_accounts"        # deactivate an account (installation-wide: administrators only)


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission) - {P.SIGN_ENTRY, P.HOMEROOM_SIGN_WEEK, P.CLOSE_WEEK,
                                                  P.ISSUE_TRANSCRIPT},
    Role.DEPARTMENT_SUPERVISOR: frozenset({P.VIEW, P.REOPEN_WEEK, P.ASSIGN_MONITOR, P.VIEW_AUDIT,
                                           P.IMPORT_DATA, P.MANAGE_CERTIFICATES, P.SET_THRESHOLDS}),
    Role.DISTRICT_SUPERVISOR: frozenset({P.VIEW, P.REOPEN_WEEK, P.ASSIGN_MONITOR, P.VIEW_AUDIT}),
    Role.SCHOOL_MONITOR: frozenset({P.VIEW, P.VIEW_AUDIT}),
    Role.PRINCIPAL: frozenset({P.VIEW, P.CLOSE_WEEK, P.REOPEN_WEEK, P.PUBLISH_TIMETABLE,
                               P.DECIDE_TIMETABLE_CHANGE, P.RECORD_SUBSTITUTE, P.IMPORT_DATA,
                               P.VIEW_AUDIT, P.SIGN_ENTRY, P.EDIT_ENTRY, P.HOMEROOM_SIGN_WEEK,
                               P.REQUEST_TIMETABLE_CHANGE, P.ISSUE_TRANSCRIPT, P.CANCEL_TRANSCRIPT}),
    Role.VICE_PRINCIPAL: frozenset({P.VIEW, P.PUBLISH_TIMETABLE, P.DECIDE_TIMETABLE_CHANGE,
                                    P.RECORD_SUBSTITUTE, P.SIGN_ENTRY, P.EDIT_ENTRY,
                                    P.HOMEROOM_SIGN_WEEK, P.REQUEST_TIMETABLE_CHANGE}),
    Role.CLERK: frozenset({P.VIEW, P.RECORD_SUBSTITUTE, P.IMPORT_DATA}),
    Role.TEACHER: frozenset({P.SIGN_ENTRY, P.EDIT_ENTRY, P.HOMEROOM_SIGN_WEEK,
                             P.REQUEST_TIMETABLE_CHANGE}),
    Role.ANALYST: frozenset({P.VIEW}),
}


@dataclass(frozen=True)
class Actor:
    """The acting user with the set of schools in their scope (``None`` = every school)."""

    user_id: int | None
    username: str
    role: Role
    school_ids: frozenset[int] | None
    staff_id: int | None = None
    department_id: int | None = None
    district_id: int | None = None

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, frozenset())

    def sees_school(self, school_id: int) -> bool:
        return self.school_ids is None or school_id in self.school_ids

    def school_filter(self, column):
        """A SQL condition restricting ``column`` (a school id column) to this actor's scope."""
        if self.school_ids is None:
            return true()
        return column.in_(sorted(self.school_ids))


#: The system itself (data generation, scheduled jobs). Never handed to a signed-in user.
SYSTEM = Actor(user_id=None, username="system", role=Role.ADMINISTRATOR, school_ids=None)


def require(actor: Actor, permission: Permission, school_id: int | None = None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` holds ``permission`` (on ``school_id``)."""
    if not actor.may(permission):
        raise PermissionDenied(f"{actor.username} ({actor.role.value}) may not {permission.value}",
                               message_vi="Bạn không có quyền thực hiện thao tác này")
    if school_id is not None and not actor.sees_school(school_id):
        raise PermissionDenied(f"{actor.username} has no access to school {school_id}",
                               message_vi="Bạn không có quyền truy cập dữ liệu của trường này")


def require_school_visible(actor: Actor, school_id: int) -> None:
    """Deny as not-found-or-forbidden: a monitor learns nothing about other schools."""
    if not actor.sees_school(school_id):
        raise PermissionDenied(f"{actor.username} has no access to school {school_id}",
                               message_vi="Bạn không có quyền truy cập dữ liệu của trường này")


def actor_for(session: Session, user_id: int) -> Actor:
    """Resolve a user account into an :class:`Actor` with its current scope."""
    user = session.get(UserAccount, user_id)
    if user is None or not user.active:
        raise NotFound(f"no active user {user_id}", message_vi=f"Không có người dùng {user_id} đang hoạt động")
    return resolve_actor(session, user)


def actor_by_username(session: Session, username: str) -> Actor:
    user = session.scalar(select(UserAccount).where(UserAccount.username == username))
    if user is None or not user.active:
        raise NotFound(f"no active user {username!r}",
                       message_vi=f"Không có người dùng {username!r} đang hoạt động")
    return resolve_actor(session, user)


def resolve_actor(session: Session, user: UserAccount, *, staff_school_id: int | None = None) -> Actor:
    """The :class:`Actor` of an (active) user account (or a row of its columns) with its current
    scope; a staff member's school may be passed when the caller already read it."""
    role = user.role
    if role == Role.ADMINISTRATOR:
        schools = None
    elif role in (Role.DEPARTMENT_SUPERVISOR, Role.ANALYST):
        schools = _ids(session, select(School.id).join(District, District.id == School.district_id)
                       .where(District.department_id == user.department_id))
    elif role == Role.DISTRICT_SUPERVISOR:
        schools = _ids(session, select(School.id).where(School.district_id == user.district_id))
    elif role == Role.SCHOOL_MONITOR:
        schools = _ids(session, select(MonitorAssignment.school_id).where(
            MonitorAssignment.user_id == user.id, MonitorAssignment.unassigned_at.is_(None)))
    else:  # staff roles: their own school
        school_id = user.school_id or staff_school_id
        if school_id is None and user.staff_id is not None:
            school_id = session.scalar(select(Staff.school_id).where(Staff.id == user.staff_id))
        schools = frozenset({school_id}) if school_id is not None else frozenset()
    return Actor(user_id=user.id, username=user.username, role=role, school_ids=schools,
                 staff_id=user.staff_id, department_id=user.department_id, district_id=user.district_id)


def _ids(session: Session, query) -> frozenset[int]:
    return frozenset(session.scalars(query))
