"""Certificate lifecycle (vòng đời chứng thư số): register a staff member's or a school's
certificate, revoke it (a teacher who leaves), and the coverage figures supervisors watch
(Hà Nội: 27,533 of 29,093 primary staff with a certificate, 94.64 %, Hà Nội pilot review 2024).

A certificate is *valid* at a moment when it is registered, inside its validity period
and not revoked at or before that moment (Nghị định 23/2025/NĐ-CP: "chứng thư chữ ký số có
hiệu lực" = not expired, not suspended, not revoked, Art. 3).
"""
from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
from asn1crypto import x509 as asn1_x509
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import CertificateNotRegistered, NotFound, RuleViolation
from core.kernel.paging import PAGE
from core.kernel.vocabulary import CertificateKind
from core.signatures.rules import validity
from core.storage.db import Database
from core.storage.models import Certificate, District, School, Staff

EXPIRY_WARNING = dt.timedelta(days=30)


def _describe(der: bytes) -> dict:
    cert = asn1_x509.Certificate.load(der)
    validity = cert["tbs_certificate"]["validity"]
    return {
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "serial_hex": format(cert.serial_number, "x"),
        "subject": cert.subject.human_friendly,
        "not_before": clock.from_utc(validity["not_before"].native),
        "not_after": clock.from_utc(validity["not_after"].native),
    }


def register_certificate(db: Database, actor: Actor, der: bytes, *, staff_id: int | None = None,
                         school_id: int | None = None) -> int:
    """Register a personal certificate (``staff_id``) or a school's seal (``school_id`` only)."""
    info = _describe(der)
    with db.transaction() as session:
        if staff_id is not None:
            staff = session.get(Staff, staff_id)
            if staff is None:
                raise NotFound(f"no staff {staff_id}", message_vi=f"Không có cán bộ {staff_id}")
            school_id, kind = staff.school_id, CertificateKind.PERSONAL
        elif school_id is not None:
            kind = CertificateKind.SEAL
        else:
            raise RuleViolation("a certificate belongs to a staff member or to a school",
                                message_vi="Chứng thư số phải thuộc về một cán bộ hoặc một trường")
        require(actor, Permission.MANAGE_CERTIFICATES, school_id)
        if session.scalar(select(Certificate.id).where(Certificate.fingerprint == info["fingerprint"])):
            raise RuleViolation(f"certificate {info['serial_hex']} is already registered",
                                message_vi=f"Chứng thư số {info['serial_hex']} đã được đăng ký")
        cert = Certificate(kind=kind, staff_id=staff_id, school_id=school_id, der=der, **info)
        session.add(cert)
        session.flush()
        audit.record(session, actor, "certificate.register", "certificate", cert.id, school_id=school_id,
                     after={"kind": kind.value, "staff_id": staff_id, "serial": info["serial_hex"],
                            "not_after": info["not_after"]})
        return cert.id


def revoke_certificate(db: Database, actor: Actor, certificate_id: int, reason: str,
                       at: dt.datetime | None = None) -> None:
    """Revoke a certificate from ``at`` on (e.g. a teacher who leaves). Signatures made before
    stay valid: their signing time is the server's receipt time, recorded with them."""
    at = at or clock.now()
    if not reason or not reason.strip():
        raise RuleViolation("a reason is required to revoke a certificate",
                            message_vi="Cần ghi lý do thu hồi chứng thư số")
    with db.transaction() as session:
        cert = session.get(Certificate, certificate_id)
        if cert is None or not actor.sees_school(cert.school_id):
            raise NotFound(f"no certificate {certificate_id}", message_vi=f"Không có chứng thư số {certificate_id}")
        require(actor, Permission.MANAGE_CERTIFICATES, cert.school_id)
        if cert.revoked_at is not None:
            raise RuleViolation(f"certificate {cert.serial_hex} was already revoked on {cert.revoked_at:%d/%m/%Y}",
                                message_vi=f"Chứng thư số {cert.serial_hex} đã bị thu hồi ngày "
                                           f"{cert.revoked_at:%d/%m/%Y}")
        cert.revoked_at = at
        audit.record(session, actor, "certificate.revoke", "certificate", cert.id, school_id=cert.school_id,
                     before={"revoked_at": None}, after={"revoked_at": at}, reason=reason.strip())


def valid_at(at: dt.datetime):
    """SQL condition: the certificate is usable at ``at``."""
    return validity.valid_at(Certificate.not_before, Certificate.not_after, Certificate.revoked_at, at)


def coverage(db: Database, actor: Actor, level: str = "school", at: dt.datetime | None = None) -> pd.DataFrame:
    """Active staff with a valid personal certificate, and those expiring within 30 days,
    per school or district (tỉ lệ giáo viên có chứng thư số)."""
    require(actor, Permission.VIEW)
    at = at or clock.now()
    soon = at + EXPIRY_WARNING
    valid_cert = (select(Certificate.staff_id.label("staff_id"), func.max(Certificate.not_after).label("until"))
                  .where(Certificate.kind == CertificateKind.PERSONAL, valid_at(at))
                  .group_by(Certificate.staff_id).subquery())
    keys = ([School.id.label("school_id"), School.code.label("school_code"), School.name.label("school_name")]
            if level == "school" else [District.id.label("district_id"), District.name.label("district_name")])
    stmt = (select(*keys, func.count(Staff.id).label("staff"),
                   func.sum(case((valid_cert.c.staff_id.is_not(None), 1), else_=0)).label("with_valid_certificate"),
                   func.sum(case((valid_cert.c.until <= soon, 1), else_=0)).label("expiring_30_days"))
            .select_from(Staff).join(School, School.id == Staff.school_id)
            .join(District, District.id == School.district_id)
            .outerjoin(valid_cert, valid_cert.c.staff_id == Staff.id)
            .where(Staff.active.is_(True), actor.school_filter(Staff.school_id)).group_by(*keys))
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    for col in ("staff", "with_valid_certificate", "expiring_30_days"):
        frame[col] = frame[col].fillna(0).astype("int64")
    frame["coverage_rate"] = (frame["with_valid_certificate"] / frame["staff"].where(frame["staff"] > 0)).round(4)
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
        stmt = stmt.where(validity.valid_at(Certificate.not_before, Certificate.not_after, Certificate.revoked_at, now))
    if expiring_within_days is not None:
        stmt = stmt.where(Certificate.not_after <= now + dt.timedelta(days=expiring_within_days),
                          Certificate.not_after >= now, Certificate.revoked_at.is_(None))
    stmt = stmt.order_by(Certificate.not_after, Certificate.id).limit(page_size).offset(page * page_size)
    with db.reading() as session:
        frame = pd.read_sql(stmt, session.connection())
    frame["kind"] = frame["kind"].map(lambda k: "Con dấu" if k in ("seal", CertificateKind.SEAL) else "Cá nhân")
    return frame


def registered_certificate(session: Session, staff_id: int, fingerprint: str, at: dt.datetime) -> Certificate:
    """The staff member's registered certificate with this fingerprint, valid and unrevoked at ``at``."""
    cert = session.scalar(select(Certificate).where(Certificate.fingerprint == fingerprint))
    if cert is None or cert.staff_id != staff_id:
        raise CertificateNotRegistered("the signing certificate is not registered to this teacher",
                               message_vi="Chứng thư số không thuộc giáo viên này")
    problem = validity.validity_problem(cert.not_before, cert.not_after, cert.revoked_at, at)
    if problem:
        raise RuleViolation(f"the signing {problem[1][4:]}", message_vi=problem[2])
    return cert
