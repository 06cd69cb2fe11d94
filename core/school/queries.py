"""Read models of the school's data: the schools in the caller's scope and their staff."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.access.authz import Actor, Permission, require
from core.storage.db import Database
from core.storage.models import (
    District,
    School,
    Staff,
)


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
