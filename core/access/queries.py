"""Read models of access: the audit trail, filtered and paged in the database, and the school
monitors' accounts and assignments, scoped to the caller."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import func, or_, select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel.paging import PAGE
from core.kernel.vocabulary import (
    Role,
)
from core.storage.db import Database
from core.storage.models import (
    AuditEvent,
    MonitorAssignment,
    School,
    Staff,
    UserAccount,
)


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


def account_list(db: Database, actor: Actor, *, search: str | None = None, active: bool | None = True,
                 page_size: int = 50) -> pd.DataFrame:
    """Accounts for the deactivation form (needs the right to manage accounts): user name,
    name, role and school (the account's own, else its staff member's), filtered by a piece of
    the user name or the name (case-insensitive), ``active`` ones by default, at most
    ``page_size`` of them (a city has tens of thousands of teachers: the form searches)."""
    require(actor, Permission.MANAGE_ACCOUNTS)
    school_id = func.coalesce(UserAccount.school_id, Staff.school_id)
    stmt = (select(UserAccount.id, UserAccount.username, UserAccount.display_name, UserAccount.role,
                   UserAccount.active, School.code.label("school_code"), School.name.label("school_name"))
            .outerjoin(Staff, Staff.id == UserAccount.staff_id)
            .outerjoin(School, School.id == school_id)
            .where(or_(school_id.is_(None), actor.school_filter(school_id))))
    if active is not None:
        stmt = stmt.where(UserAccount.active.is_(active))
    if search and search.strip():
        needle = f"%{search.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(UserAccount.username).like(needle),
                              func.lower(UserAccount.display_name).like(needle)))
    stmt = stmt.order_by(UserAccount.username).limit(page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["role"] = [getattr(r, "value", r) for r in frame["role"]]
    return frame
