"""The register of written delegations to sign for the principal (sổ văn bản giao ký thay
hiệu trưởng): the principal records one for a vice-principal, revokes it, and anyone who
checks a signature asks :func:`signing_authority` in what capacity its signer signed for the
principal at that moment. It serves every act a delegation covers (the transcripts' approval,
the logbook's weekly close): :func:`for_the_principal` before signing, :func:`check_for_the_principal`
when verifying. It sits with the signatures, below the logbook and the transcripts. The rule is :mod:`core.signatures.rules.delegation`; the roles come
from the staff assignments (:class:`~core.storage.models.StaffAssignment`)."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import Role, StaffRole
from core.signatures.rules import delegation as rule
from core.storage.db import Database
from core.storage.models import SigningDelegation, Staff, StaffAssignment


def roles_at(session: Session, school_id: int, day: dt.date) -> rule.RolesAt:
    """Who holds the principal's and the vice-principals' roles at the school on ``day``."""
    held = session.execute(select(StaffAssignment.staff_id, StaffAssignment.role).where(
        StaffAssignment.school_id == school_id,
        StaffAssignment.role.in_([StaffRole.PRINCIPAL, StaffRole.VICE_PRINCIPAL]),
        StaffAssignment.valid_from <= day,
        or_(StaffAssignment.valid_to.is_(None), StaffAssignment.valid_to >= day))).all()
    return rule.RolesAt(frozenset(s for s, r in held if r == StaffRole.PRINCIPAL),
                        frozenset(s for s, r in held if r == StaffRole.VICE_PRINCIPAL))


def _of(row: SigningDelegation) -> rule.Delegation:
    return rule.Delegation(row.school_id, row.principal_id, row.delegate_id, row.document_no, row.signed_on,
                           row.valid_from, row.valid_until, rule.acts_of(row.acts.split(",")), row.revoked_at, row.id)


def delegations_of(session: Session, school_id: int, delegate_id: int) -> list[rule.Delegation]:
    """Every delegation recorded for ``delegate_id`` at the school, revoked ones included."""
    return [_of(r) for r in session.scalars(select(SigningDelegation).where(
        SigningDelegation.school_id == school_id, SigningDelegation.delegate_id == delegate_id)
        .order_by(SigningDelegation.id))]


def signing_authority(session: Session, *, school_id: int, signer_id: int, at: dt.datetime,
                      act: rule.SigningAct | str = rule.SigningAct.TRANSCRIPT) -> rule.SigningAuthority:
    """In what capacity ``signer_id`` signed ``act`` for the principal of ``school_id`` at
    ``at`` (the signature's time): as the principal, under a written delegation valid then, or
    not at all — with the reason, in English and Vietnamese. The verification of a principal's
    signature calls this with the signer of record and the signing time."""
    return rule.signing_authority(school_id=school_id, signer_id=signer_id, act=act, at=at,
                                  roles=roles_at(session, school_id, at.date()),
                                  delegations=delegations_of(session, school_id, signer_id))


def for_the_principal(session: Session, actor: Actor, school_id: int, at: dt.datetime, act: rule.SigningAct,
                      permission: Permission) -> rule.SigningAuthority:
    """Who may sign ``act`` for the principal of ``school_id`` at ``at``: the principal in their
    own right (``permission``), or a vice-principal under a written delegation for ``act`` valid
    then (Nghị định 30/2020/NĐ-CP Art. 13); anyone else is refused, with the reason."""
    if actor.role != Role.VICE_PRINCIPAL:
        require(actor, permission, school_id)
        return rule.SigningAuthority(True, "principal", rule.PRINCIPAL_LABEL, None)
    require(actor, Permission.VIEW, school_id)
    found = signing_authority(session, school_id=school_id, signer_id=actor.staff_id, at=at, act=act)
    if not found.allowed:
        raise PermissionDenied(found.reason, message_vi=found.reason_vi)
    return found


def delegated_now(session: Session, actor: Actor, act: rule.SigningAct, at: dt.datetime) -> int | None:
    """The school where the vice-principal ``actor`` may sign ``act`` for the principal at ``at``, or None."""
    if actor.role != Role.VICE_PRINCIPAL or actor.staff_id is None:
        return None
    school_id = session.scalar(select(Staff.school_id).where(Staff.id == actor.staff_id))
    if school_id is None or not actor.sees_school(school_id):
        return None
    found = signing_authority(session, school_id=school_id, signer_id=actor.staff_id, at=at, act=act)
    return school_id if found.allowed else None


def check_for_the_principal(session: Session, result, holder: int | None, school_id: int,
                            act: rule.SigningAct | str, *, at: dt.datetime | None = None):
    """A signature for the principal (a :class:`~core.signatures.cms.Verification`): by the
    principal of record, or by a vice-principal under a written delegation for ``act`` valid at
    the signature's time, with a personal certificate registered to them
    (:func:`core.signatures.policy.check_person`); the report then says under which delegation.
    ``at``: the signing time the record holds, when the signature proves none (no timestamp)."""
    import dataclasses

    from core.signatures.policy import check_person

    when = at or result.signing_time
    if not result.valid or when is None or holder is None:
        return check_person(session, result, "principal", holder_staff_id=holder, school_id=school_id, at=at)
    authority = signing_authority(session, school_id=school_id, signer_id=holder, at=when, act=act)
    if authority.capacity != "delegated":
        return check_person(session, result, "principal", holder_staff_id=holder, school_id=school_id, at=at)
    checked = check_person(session, result, "delegate", holder_staff_id=holder, school_id=school_id, at=at)
    if not checked.valid:
        return checked
    d = authority.delegation
    return dataclasses.replace(
        checked, message=f"the signature is valid: signed for the principal under the written delegation "
                         f"{d.document_no} of {d.signed_on:%d/%m/%Y}",
        message_vi=f"Chữ ký hợp lệ: ký thay hiệu trưởng (KT.) theo văn bản giao ký thay số {d.document_no} "
                   f"ngày {d.signed_on:%d/%m/%Y}")


def _principal_school(session: Session, actor: Actor) -> int:
    school_id = session.scalar(select(Staff.school_id).where(Staff.id == actor.staff_id)) if actor.staff_id else None
    if actor.role != Role.PRINCIPAL or school_id is None:
        raise PermissionDenied("only the principal records or revokes a delegation to sign in their place",
                               message_vi="Chỉ hiệu trưởng được giao hoặc thu hồi việc ký thay")
    require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
    return school_id


def register_delegation(db: Database, actor: Actor, *, delegate_id: int, document_no: str, signed_on: dt.date,
                        valid_from: dt.date, valid_until: dt.date, acts=(rule.SigningAct.TRANSCRIPT,)) -> int:
    """The principal records a written delegation for a vice-principal of the school
    (:func:`core.signatures.rules.delegation.delegation` checks it); returns its id."""
    with db.transaction() as session:
        school_id = _principal_school(session, actor)
        if not isinstance(valid_from, dt.date) or not isinstance(signed_on, dt.date):
            raise RuleViolation("the delegation's dates are dates", message_vi="Ngày của văn bản phải là ngày tháng")
        d = rule.delegation(school_id=school_id, principal_id=actor.staff_id, delegate_id=delegate_id,
                            document_no=document_no, signed_on=signed_on, valid_from=valid_from,
                            valid_until=valid_until, acts=acts, roles_on_signing=roles_at(session, school_id, signed_on),
                            delegate_roles=roles_at(session, school_id, valid_from))
        row = SigningDelegation(school_id=school_id, principal_id=d.principal_id, delegate_id=d.delegate_id,
                                document_no=d.document_no, signed_on=d.signed_on, valid_from=d.valid_from,
                                valid_until=d.valid_until, acts=",".join(sorted(a.value for a in d.acts)),
                                recorded_at=clock.now())
        session.add(row)
        session.flush()
        audit.record(session, actor, "delegation.register", "signing_delegation", row.id, school_id=school_id,
                     after={"delegate": d.delegate_id, "document_no": d.document_no,
                            "from": d.valid_from, "until": d.valid_until, "acts": row.acts})
        return row.id


def revoke_delegation(db: Database, actor: Actor, delegation_id: int, reason: str,
                      at: dt.datetime | None = None) -> None:
    """The principal revokes a delegation (thu hồi): signatures from ``at`` on are not covered;
    those made before stay covered. The record stays."""
    at = at or clock.now()
    if not isinstance(reason, str) or not reason.strip():
        raise RuleViolation("a reason is required to revoke a delegation", message_vi="Cần ghi lí do thu hồi")
    with db.transaction() as session:
        school_id = _principal_school(session, actor)
        row = session.get(SigningDelegation, delegation_id)
        if row is None or row.school_id != school_id:
            raise NotFound(f"no delegation {delegation_id} at your school",
                           message_vi=f"Không có văn bản giao ký thay {delegation_id} tại trường của bạn")
        if row.revoked_at is not None:
            raise Conflict("the delegation is already revoked", message_vi="Văn bản giao ký thay đã bị thu hồi")
        row.revoked_at, row.revoke_reason = at, reason.strip()
        audit.record(session, actor, "delegation.revoke", "signing_delegation", row.id, school_id=school_id,
                     after={"revoked_at": at}, reason=reason.strip())


def delegation_register(db: Database, actor: Actor, school_id: int) -> pd.DataFrame:
    """The school's register of delegations for the console (sổ giao ký thay), newest first:
    the delegate, the document, the days, the acts, whether revoked — for whoever may view the
    school."""
    require(actor, Permission.VIEW, school_id)
    with db.reading() as session:
        rows = session.execute(
            select(SigningDelegation.id.label("delegation_id"), Staff.code.label("delegate_code"),
                   Staff.full_name.label("delegate"), SigningDelegation.document_no, SigningDelegation.signed_on,
                   SigningDelegation.valid_from, SigningDelegation.valid_until, SigningDelegation.acts,
                   SigningDelegation.revoked_at)
            .join(Staff, Staff.id == SigningDelegation.delegate_id)
            .where(SigningDelegation.school_id == school_id).order_by(SigningDelegation.id.desc())).all()
    return pd.DataFrame(rows, columns=["delegation_id", "delegate_code", "delegate", "document_no", "signed_on",
                                       "valid_from", "valid_until", "acts", "revoked_at"])


def vice_principals(db: Database, actor: Actor, school_id: int, day: dt.date | None = None) -> pd.DataFrame:
    """The school's vice-principals on ``day`` (today by default): who may receive a delegation."""
    require(actor, Permission.VIEW, school_id)
    day = day or clock.now().date()
    with db.reading() as session:
        ids = roles_at(session, school_id, day).vice_principals
        rows = session.execute(select(Staff.id.label("staff_id"), Staff.code, Staff.full_name)
                               .where(Staff.id.in_(ids)).order_by(Staff.code)).all() if ids else []
    return pd.DataFrame(rows, columns=["staff_id", "code", "full_name"])
