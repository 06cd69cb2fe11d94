"""The weekly close signed for the principal (ký thay, Nghị định 30/2020/NĐ-CP Art. 13): a
vice-principal closes a class-week only under a written delegation for the weekly close, valid
at that moment; the close says so (its PDF's reason, the audit event), and its verification
holds the signature to the delegation at the signing time, like a transcript's approval. On
both databases, signed for real."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.access.authz import SYSTEM
from core.kernel.errors import PermissionDenied
from core.kernel.vocabulary import CertificateKind, WeekCloseStatus
from core.logbook.entries import generate_week
from core.logbook.verification import verify_week_document
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week, weeks_to_close
from core.signatures.delegations import register_delegation, revoke_delegation
from core.signatures.pades import verify_pdf
from core.storage.models import AuditEvent, Certificate, WeekClose
from tests.services.transcripts_school import full_class
from tests.world import MONDAY

SATURDAY = dt.datetime.combine(MONDAY + dt.timedelta(days=5), dt.time(10))
CLOSING = SATURDAY + dt.timedelta(hours=1)


@pytest.fixture
def school(world):
    w = full_class(world)   # school A with its principal (binh) and vice-principal (phuc) on record
    ids = w.ids
    with w.db.transaction() as s:
        cred = w.pki.issue_personal(f"staff-{ids['phuc']}", "Hồ Văn Phúc", not_before=dt.datetime(2025, 1, 1),
                                    not_after=dt.datetime(2027, 12, 31))
        s.add(Certificate(kind=CertificateKind.PERSONAL, staff_id=ids["phuc"], school_id=ids["A"],
                          fingerprint=cred.fingerprint, serial_hex=cred.serial_hex, subject=cred.subject,
                          not_before=cred.not_before, not_after=cred.not_after, der=cred.cert_der))
    generate_week(w.db, SYSTEM, ids["A"], ids["week1"])
    homeroom_sign_week(w.db, w.actor("lan"), ids["6A1"], ids["week1"], w.signer("lan"), at=SATURDAY)
    return w


def _delegate(w, acts, **dates):
    given = {"signed_on": MONDAY - dt.timedelta(days=3), "valid_from": MONDAY, "valid_until": MONDAY +
             dt.timedelta(days=13), **dates}
    return register_delegation(w.db, w.actor("binh"), delegate_id=w.ids["phuc"], document_no="15/QĐ-THCS",
                               acts=acts, **given)


def _close(w, at=CLOSING):
    return principal_close_week(w.db, w.actor("phuc"), w.ids["6A1"], w.ids["week1"], w.signer("phuc"), at=at)


def test_a_vice_principal_closes_the_week_only_under_a_delegation_for_it(school):
    w = school
    with pytest.raises(PermissionDenied) as refused:   # no delegation at all
        _close(w)
    assert refused.value.message_vi
    _delegate(w, ["transcript"])                        # a delegation for the transcripts only
    with pytest.raises(PermissionDenied):
        _close(w)
    assert [x["your_step"] for x in weeks_to_close(w.db, w.actor("phuc"), MONDAY, at=CLOSING)] == []
    delegation = _delegate(w, ["week_close"], signed_on=MONDAY, valid_from=MONDAY + dt.timedelta(days=1))
    steps = {x["class_name"]: x["your_step"] for x in weeks_to_close(w.db, w.actor("phuc"), MONDAY, at=CLOSING)}
    assert steps["6A1"] == "close"                      # the school's weeks, as for the principal
    with pytest.raises(PermissionDenied):               # outside the delegation's days
        _close(w, at=dt.datetime.combine(MONDAY + dt.timedelta(days=14), dt.time(8)))
    assert _close(w) == WeekCloseStatus.CLOSED

    with w.db.reading() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == w.ids["6A1"], WeekClose.week_id == w.ids["week1"]))
        assert row.principal_signed_by == w.ids["phuc"]
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "week.close"))
        assert event.after["for_the_principal"]["document_no"] == "15/QĐ-THCS"
    fields = verify_pdf(row.document, w.pki.trust_store())
    assert [v.indication for _, v in fields] == ["PASSED", "PASSED"]

    # verified like a transcript's approval: the delegate, under the delegation, at the signing time
    report = verify_week_document(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.pki.trust_store())
    principal = [r for r in report.signatures if r.role in ("principal", "principal_summary")]
    assert len(principal) == 2 and all(r.verification.indication == "PASSED" for r in principal), \
        [(r.role, r.verification.sub_indication, r.verification.message, r.verification.signing_time) for r in principal]
    assert all("15/QĐ-THCS" in r.verification.message and "KT." in r.verification.message_vi for r in principal)
    # revoked afterwards: the close made before stays valid
    revoke_delegation(w.db, w.actor("binh"), delegation, "Hiệu trưởng đã trở lại", at=CLOSING + dt.timedelta(days=1))
    again = verify_week_document(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.pki.trust_store())
    assert all(r.verification.indication == "PASSED" for r in again.signatures), again


def test_a_close_recorded_for_a_vice_principal_without_a_delegation_fails_verification(school):
    """A close whose signer of record is the vice-principal but no delegation covered it (e.g.
    written straight into the record store): the principal's role is refused at verification."""
    w = school
    _delegate(w, ["week_close"])
    _close(w)
    with w.db.transaction() as s:   # the delegation vanishes from the register (an insider's edit)
        from core.storage.models import SigningDelegation

        s.query(SigningDelegation).delete()
    report = verify_week_document(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.pki.trust_store())
    principal = [r for r in report.signatures if r.role in ("principal", "principal_summary")]
    assert principal and all(r.verification.indication == "FAILED" and
                             r.verification.sub_indication == "NOT_AUTHORISED_FOR_ROLE" for r in principal), report
