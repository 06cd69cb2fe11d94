"""One way to verify anything signed in the product (xác thực chữ ký): a logbook entry or a
class-week's closing document. The report uses the ETSI EN 319 102-1 vocabulary — PASSED,
INDETERMINATE, FAILED with a sub-indication — plus our own check that the signer holds the
role the signature stands for (``NOT_AUTHORISED_FOR_ROLE``). INDETERMINATE is never valid.
"""
from __future__ import annotations

from sqlalchemy import select

from core.access.authz import Actor, Permission, require
from core.kernel.errors import NotFound
from core.logbook.entries import entry_bytes, entry_for
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.signatures.cms import FAILED, INDETERMINATE, TrustStore, Verification, verify_detached
from core.signatures.pades import verify_pdf
from core.signatures.reports import SignatureReport, VerificationReport, authorised_for_role
from core.signatures.rules.validity import revoked_by
from core.storage.db import Database
from core.storage.models import Certificate, SchoolClass, WeekClose


def verify_entry_signature(db: Database, actor: Actor, entry_id: int, trust: TrustStore) -> VerificationReport:
    """A lesson entry: its CMS signature over the entry as stored now, signed by the teacher of
    the period, at the time the server recorded (signatures made before a revocation stay valid)."""
    with db.reading() as session:
        entry = entry_for(session, actor, entry_id)
        if actor.staff_id != entry.teacher_id:
            require(actor, Permission.VIEW, entry.school_id)
        if entry.signature is None:
            result = Verification(INDETERMINATE, "SIGNED_DATA_NOT_FOUND", None, None, None,
                                  f"entry {entry_id} is not signed ({entry.status.value})")
        else:
            result = verify_detached(entry_bytes(session, entry), entry.signature, trust)
            if result.valid and result.signing_time != entry.signed_at:
                result = Verification(FAILED, "SIG_CONSTRAINTS_FAILURE", result.signer_fingerprint,
                                      result.signer_subject, result.signing_time,
                                      "the signing time differs from the server's receipt")
            result = authorised_for_role(session, result, "teacher", entry.signed_by)
            if result.valid:
                revoked = session.scalar(select(Certificate.revoked_at).where(
                    Certificate.fingerprint == result.signer_fingerprint))
                if revoked_by(revoked, entry.signed_at):
                    result = Verification(FAILED, "REVOKED", result.signer_fingerprint, result.signer_subject,
                                          result.signing_time, f"the certificate was revoked on {revoked:%d/%m/%Y}")
        return VerificationReport(f"logbook entry {entry_id}", [SignatureReport("teacher", result)])


def verify_week_document(db: Database, actor: Actor, class_id: int, week_id: int,
                         trust: TrustStore) -> VerificationReport:
    """A closed class-week: the PAdES signatures of its PDF, the homeroom teacher's and the
    principal's, each checked against who held that role."""
    with db.reading() as session:
        klass = session.get(SchoolClass, class_id)
        row = session.scalar(select(WeekClose).where(WeekClose.class_id == class_id, WeekClose.week_id == week_id))
        if klass is None or row is None or not actor.sees_school(klass.school_id):
            raise NotFound(f"no closed class-week {class_id}/{week_id}")
        require(actor, Permission.VIEW, klass.school_id)
        if row.document is None:
            return VerificationReport(f"week {week_id} of class {klass.name}", [SignatureReport("homeroom", Verification(
                INDETERMINATE, "SIGNED_DATA_NOT_FOUND", None, None, None, "this week has no signed document"))])
        holders = {HOMEROOM_FIELD: ("homeroom", row.homeroom_signed_by),
                   PRINCIPAL_FIELD: ("principal", row.principal_signed_by)}
        reports = []
        for field, result in verify_pdf(row.document, trust):
            role, staff_id = holders.get(field, ("unknown", None))
            reports.append(SignatureReport(role, authorised_for_role(session, result, role, staff_id)))
        return VerificationReport(f"week {week_id} of class {klass.name}", reports)


def verify_document(pdf: bytes, trust: TrustStore) -> VerificationReport:
    """Any signed PDF someone holds (no sign-in needed): signatures only, no personal data."""
    return VerificationReport("document", [SignatureReport(field, result) for field, result in verify_pdf(pdf, trust)])


def verify(db: Database, actor: Actor, trust: TrustStore, *, entry_id: int | None = None,
           class_week: tuple[int, int] | None = None, pdf: bytes | None = None) -> VerificationReport:
    """The one entry point: verify a lesson entry, a closed class-week or any signed PDF."""
    if entry_id is not None:
        return verify_entry_signature(db, actor, entry_id, trust)
    if class_week is not None:
        return verify_week_document(db, actor, *class_week, trust)
    if pdf is not None:
        return verify_document(pdf, trust)
    raise ValueError("say what to verify: entry_id, class_week or pdf")
