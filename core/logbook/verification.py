"""One way to verify anything signed in the product (xác thực chữ ký): a logbook entry or a
class-week's closing document. The report uses the ETSI EN 319 102-1 vocabulary — PASSED,
INDETERMINATE, FAILED with a sub-indication — plus our own check that the signer holds the
role the signature stands for (``NOT_AUTHORISED_FOR_ROLE``). INDETERMINATE is never valid.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.authz import Actor, Permission, require
from core.kernel.errors import NotFound
from core.logbook.entries import _entry_for, entry_bytes
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.signatures.cms import FAILED, INDETERMINATE, PASSED, TrustStore, Verification, verify_detached
from core.signatures.pades import verify_pdf
from core.signatures.rules.validity import revoked_by
from core.storage.db import Database
from core.storage.models import Certificate, SchoolClass, WeekClose

ROLE_VI = {"teacher": "Giáo viên dạy", "homeroom": "Giáo viên chủ nhiệm", "principal": "Hiệu trưởng"}


@dataclass(frozen=True)
class SignatureReport:
    role: str                 # teacher / homeroom / principal
    verification: Verification


@dataclass(frozen=True)
class VerificationReport:
    target: str
    signatures: list[SignatureReport]

    @property
    def indication(self) -> str:
        """FAILED if any signature failed, INDETERMINATE if any is undecided, else PASSED."""
        found = {s.verification.indication for s in self.signatures} or {INDETERMINATE}
        return FAILED if FAILED in found else INDETERMINATE if INDETERMINATE in found else PASSED

    @property
    def valid(self) -> bool:
        return self.indication == PASSED

    @property
    def sub_indication(self) -> str | None:
        """The sub-indication of the first signature that did not pass."""
        return next((s.verification.sub_indication for s in self.signatures if not s.verification.valid), None)


def _authorised(session: Session, result: Verification, role: str, staff_id: int | None) -> Verification:
    """Keep a PASSED only if the certificate is registered to the person holding ``role``."""
    if not result.valid:
        return result
    owner = session.scalar(select(Certificate.staff_id).where(Certificate.fingerprint == result.signer_fingerprint))
    if owner is None or owner != staff_id:
        return Verification(FAILED, "NOT_AUTHORISED_FOR_ROLE", result.signer_fingerprint, result.signer_subject,
                            result.signing_time, f"the signer is not the {role} of record")
    return result


def verify_entry_signature(db: Database, actor: Actor, entry_id: int, trust: TrustStore) -> VerificationReport:
    """A lesson entry: its CMS signature over the entry as stored now, signed by the teacher of
    the period, at the time the server recorded (signatures made before a revocation stay valid)."""
    with db.reading() as session:
        entry = _entry_for(session, actor, entry_id)
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
            result = _authorised(session, result, "teacher", entry.signed_by)
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
            reports.append(SignatureReport(role, _authorised(session, result, role, staff_id)))
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
