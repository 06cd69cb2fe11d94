"""Public verification of a transcript (tra cứu, xác thực học bạ): by its verification code or
its PDF, with no sign-in. Reports who signed in which role in the ETSI EN 319 102-1 vocabulary."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from core.kernel.vocabulary import CertificateKind, TranscriptStatus
from core.signatures.ltv import revision_prefixes
from core.signatures.pades import verify_pdf
from core.signatures.reports import SignatureReport, VerificationReport, authorised_for_role
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    Transcript,
)
from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD


@dataclass(frozen=True)
class TranscriptCheck:
    """What anyone holding a transcript or its code learns: whether it is genuine and current,
    who signed in which role, and nothing else personal."""

    found: bool
    current: bool
    status: str
    message: str
    report: VerificationReport | None = None
    replaced_by_code: str | None = None


def verify_transcript(db: Database, trust, *, code: str | None = None, pdf: bytes | None = None) -> TranscriptCheck:
    """Check a transcript by its verification code or its PDF (no sign-in)."""
    with db.reading() as session:
        row = None
        if code:
            row = session.scalar(select(Transcript).where(Transcript.verification_code == code.strip().upper()))
        elif pdf:
            # the stored document, or a copy of it taken before a renewal appended a revision
            # (PAdES B-LTA, core.signatures.renewal): the upload is one of its revisions
            for candidate in session.scalars(select(Transcript).where(
                    Transcript.document.is_not(None), func.length(Transcript.document) >= len(pdf),
                    func.substr(Transcript.document, 1, len(pdf)) == pdf)):
                if candidate.document == pdf or pdf in revision_prefixes(candidate.document):
                    row = candidate
                    break
        if row is None:
            if pdf:
                report = VerificationReport("document", [SignatureReport(f, v) for f, v in verify_pdf(pdf, trust)])
                return TranscriptCheck(False, False, "unknown",
                                       "Không tìm thấy học bạ này trong hệ thống (tài liệu đã bị thay đổi hoặc "
                                       "không do hệ thống cấp)", report)
            return TranscriptCheck(False, False, "unknown", "Không tìm thấy học bạ với mã này")
        if row.status not in (TranscriptStatus.ISSUED, TranscriptStatus.CANCELLED) or row.document is None:
            return TranscriptCheck(True, False, row.status.value, "Học bạ chưa được cấp")
        holders = {HOMEROOM_FIELD: ("homeroom", row.homeroom_signed_by),
                   PRINCIPAL_FIELD: ("principal", row.principal_signed_by), SEAL_FIELD: ("seal", None)}
        reports = []
        for field_name, result in verify_pdf(row.document, trust):
            role, staff_id = holders.get(field_name, ("unknown", None))
            if role == "seal":
                if result.valid:
                    owner = session.scalar(select(Certificate).where(Certificate.fingerprint ==
                                                                     result.signer_fingerprint))
                    if owner is None or owner.kind != CertificateKind.SEAL or owner.school_id != row.school_id:
                        result = type(result)("FAILED", "NOT_AUTHORISED_FOR_ROLE", result.signer_fingerprint,
                                              result.signer_subject, result.signing_time,
                                              "the seal is not the issuing school's")
            else:
                result = authorised_for_role(session, result, role, staff_id)
            reports.append(SignatureReport(role, result))
        report = VerificationReport(f"transcript {row.verification_code}", reports)
        if row.status == TranscriptStatus.CANCELLED:
            newer = session.scalar(select(Transcript.verification_code).where(Transcript.replaces_id == row.id))
            return TranscriptCheck(True, False, "cancelled", f"Học bạ đã bị hủy: {row.cancel_reason}", report, newer)
        return TranscriptCheck(True, report.valid, "issued",
                               "Học bạ hợp lệ, đang có hiệu lực" if report.valid else "Chữ ký không hợp lệ", report)
