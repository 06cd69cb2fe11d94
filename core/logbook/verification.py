"""One way to verify anything signed in the product (xác thực chữ ký): a logbook entry (with
the server's sealed receipt of its signing) or a class-week's closing (its signed summary
against the entries as they are now, and its document). The report uses the ETSI EN 319 102-1
vocabulary — PASSED, INDETERMINATE, FAILED with a sub-indication — plus our own check that the
signer holds the role the signature stands for (``NOT_AUTHORISED_FOR_ROLE``). INDETERMINATE is
never valid.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from core.access.authz import Actor, Permission, require
from core.kernel.documents import sha256_hex
from core.kernel.errors import NotFound
from core.logbook.entries import entry_bytes, entry_for
from core.logbook.receipts import check_entry_receipt
from core.logbook.week_pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD
from core.logbook.weekly_close import week_bytes
from core.signatures.cms import FAILED, INDETERMINATE, TrustStore, Verification, verify_detached
from core.signatures.delegations import check_for_the_principal
from core.signatures.pades import verify_pdf
from core.signatures.reports import SignatureReport, VerificationReport, authorised_for_role
from core.signatures.rules.validity import revoked_by
from core.storage.db import Database
from core.storage.models import Certificate, SchoolClass, SchoolWeek, WeekClose


def verify_entry_signature(db: Database, actor: Actor, entry_id: int, trust: TrustStore) -> VerificationReport:
    """A lesson entry: its teacher's CMS signature over the entry as stored now, judged at the
    time the *server* attests — its sealed receipt's time (the signature's own signing-time is
    the phone's clock, never trusted: :func:`core.signatures.cms.verify_detached` ``at=``) —
    signed by the teacher of the period (signatures made before a revocation stay valid); and
    the entry against that receipt (:func:`core.logbook.receipts.check_entry_receipt`): a status,
    receipt time, content, signature or signer in the database that the sealed receipt does not
    back is FAILED — the record was changed after the server decided."""
    with db.reading() as session:
        entry = entry_for(session, actor, entry_id)
        if actor.staff_id != entry.teacher_id:
            require(actor, Permission.VIEW, entry.school_id)
        data = entry_bytes(session, entry)
        receipt = check_entry_receipt(session, entry, trust, sha256_hex(data))
        when = receipt.received_at or entry.signed_at  # the attested receipt time, else the one recorded
        if entry.signature is None:
            result = Verification(INDETERMINATE, "SIGNED_DATA_NOT_FOUND", None, None, None,
                                  f"entry {entry_id} is not signed ({entry.status.value})")
        elif when is None:
            result = Verification(INDETERMINATE, "SIG_CONSTRAINTS_FAILURE", None, None, None,
                                  "the server recorded no receipt time for this signature")
        else:
            result = verify_detached(data, entry.signature, trust, at=when)
            result = authorised_for_role(session, result, "teacher", entry.signed_by)
            if result.valid:
                revoked = session.scalar(select(Certificate.revoked_at).where(
                    Certificate.fingerprint == result.signer_fingerprint))
                if revoked_by(revoked, when):
                    result = Verification(FAILED, "REVOKED", result.signer_fingerprint, result.signer_subject,
                                          result.signing_time, f"the certificate was revoked on {revoked:%d/%m/%Y}")
        reports = [SignatureReport("teacher", result)]
        if receipt.verification is not None:
            reports.append(SignatureReport("receipt", receipt.verification))
        return VerificationReport(f"logbook entry {entry_id}", reports)


def _authorised(session, result: Verification, role: str, staff_id: int | None, school_id: int,
                closed_at: dt.datetime | None = None) -> Verification:
    """A week's signature held to its role: the close is the principal's, or a vice-principal's
    under a written delegation for the weekly close valid when the server recorded the close
    (:func:`core.signatures.delegations.check_for_the_principal`, as for transcripts)."""
    if role == "principal":
        return check_for_the_principal(session, result, staff_id, school_id, "week_close", at=closed_at)
    return authorised_for_role(session, result, role, staff_id)


def verify_week_document(db: Database, actor: Actor, class_id: int, week_id: int,
                         trust: TrustStore) -> VerificationReport:
    """A closed class-week: the signed summary (the list of its periods, their statuses and
    content hashes) recomputed from the entries *as they are now* and checked against the
    homeroom teacher's and the principal's CMS signatures over it — a week whose entries changed
    after it was signed is FAILED —, and the PAdES signatures of its PDF when it has one; each
    signature checked against who held that role, at the time the server recorded."""
    with db.reading() as session:
        klass = session.get(SchoolClass, class_id)
        row = session.scalar(select(WeekClose).where(WeekClose.class_id == class_id, WeekClose.week_id == week_id))
        if klass is None or row is None or not actor.sees_school(klass.school_id):
            raise NotFound(f"no closed class-week {class_id}/{week_id}",
                           message_vi=f"Không có lớp - tuần đã chốt {class_id}/{week_id}")
        require(actor, Permission.VIEW, klass.school_id)
        target = f"week {week_id} of class {klass.name}"
        if row.homeroom_signature is None and row.document is None:
            return VerificationReport(target, [SignatureReport("homeroom", Verification(
                INDETERMINATE, "SIGNED_DATA_NOT_FOUND", None, None, None, "this week has no signed document"))])
        reports = []
        if row.document is not None:  # first: its revocation data is fetched as close as can be to its timestamps
            holders = {HOMEROOM_FIELD: ("homeroom", row.homeroom_signed_by),
                       PRINCIPAL_FIELD: ("principal", row.principal_signed_by)}
            for field, result in verify_pdf(row.document, trust):
                role, staff_id = holders.get(field, ("unknown", None))
                reports.append(SignatureReport(role, _authorised(session, result, role, staff_id, klass.school_id,
                                                                 row.closed_at)))
        summary = week_bytes(session, klass, session.get(SchoolWeek, week_id))
        signed = [(role, signature, at, staff_id) for role, signature, at, staff_id in (
            ("homeroom", row.homeroom_signature, row.homeroom_signed_at, row.homeroom_signed_by),
            ("principal", row.principal_signature, row.closed_at, row.principal_signed_by)) if signature is not None]
        summaries = []
        for role, signature, at, staff_id in signed:
            result = verify_detached(summary, signature, trust, at=at)
            if result.sub_indication == "HASH_FAILURE":
                result = Verification(FAILED, "HASH_FAILURE", result.signer_fingerprint, result.signer_subject,
                                      result.signing_time, "the week's entries changed after it was signed: the "
                                      "summary rebuilt from them is not what was signed")
            summaries.append((role, _authorised(session, result, role, staff_id, klass.school_id, row.closed_at)))
        if row.document is None:  # closed with CMS signatures over the summary only
            return VerificationReport(target, [SignatureReport(role, result) for role, result in summaries])
        reports += [SignatureReport(f"{role}_summary", result) for role, result in summaries]
        return VerificationReport(target, reports)


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
