"""The register of written delegations to sign for the principal, on both databases: the
principal records one for a vice-principal, :func:`signing_authority` answers in what capacity
a signer signed at a moment, a revocation ends it from then on, and what the rule refuses stores
nothing."""
import datetime as dt

import pytest

from core.kernel.errors import Conflict, PermissionDenied, RuleViolation
from core.signatures.delegations import register_delegation, revoke_delegation, signing_authority
from core.signatures.rules.delegation import DELEGATED_LABEL
from core.storage.models import SigningDelegation, StaffAssignment
from tests.services.transcripts_school import audits, count, full_class

SIGNED, FROM, UNTIL = dt.date(2026, 5, 20), dt.date(2026, 5, 25), dt.date(2026, 6, 15)
AT = dt.datetime(2026, 5, 30, 15, 0)


@pytest.fixture
def school(world):
    return full_class(world)


def register(w, who="binh", **changes):
    given = {"delegate_id": w.ids["phuc"], "document_no": "09/QĐ-THCS", "signed_on": SIGNED, "valid_from": FROM,
             "valid_until": UNTIL, "acts": ["transcript"], **changes}
    return register_delegation(w.db, w.actor(who), **given)


def authority(w, signer, at=AT, act="transcript"):
    with w.db.reading() as s:
        return signing_authority(s, school_id=w.ids["A"], signer_id=w.ids[signer], at=at, act=act)


def test_the_vice_principal_signs_for_the_principal_under_a_recorded_delegation(school):
    w = school
    assert not authority(w, "phuc").allowed                       # nothing recorded yet
    assert authority(w, "binh").capacity == "principal"
    delegation_id = register(w)
    granted = authority(w, "phuc")
    assert (granted.allowed, granted.capacity, granted.label) == (True, "delegated", DELEGATED_LABEL)
    assert granted.delegation.document_no == "09/QĐ-THCS" and granted.delegation.id == delegation_id
    assert not authority(w, "phuc", act="week_close").allowed      # limited in content
    assert not authority(w, "phuc", at=dt.datetime(2026, 6, 16, 7, 0)).allowed   # limited in time
    assert not authority(w, "lan").allowed                         # a teacher never signs for the principal
    revoke_delegation(w.db, w.actor("binh"), delegation_id, "Hiệu trưởng đã trở lại", at=dt.datetime(2026, 6, 1, 8, 0))
    assert authority(w, "phuc").allowed                            # signed before the revocation: still covered
    refused = authority(w, "phuc", at=dt.datetime(2026, 6, 1, 8, 0))
    assert not refused.allowed and "revoked" in refused.reason and refused.reason_vi
    with pytest.raises(Conflict):
        revoke_delegation(w.db, w.actor("binh"), delegation_id, "again")
    assert audits(w, "delegation.register") == 1 and audits(w, "delegation.revoke") == 1


def test_the_delegation_lapses_with_its_givers_role(school):
    w = school
    register(w)
    with w.db.transaction() as s:
        row = s.query(StaffAssignment).filter_by(staff_id=w.ids["binh"]).one()
        row.valid_to = dt.date(2026, 5, 29)
    refused = authority(w, "phuc")
    assert not refused.allowed and "no longer holds the role" in refused.reason


@pytest.mark.parametrize("who,changes,error,why", [
    ("phuc", {}, PermissionDenied, "only the principal"),                      # a delegate does not delegate
    ("lan", {}, PermissionDenied, "only the principal"),
    ("binh", {"delegate_id": "lan"}, RuleViolation, "only a vice-principal"),
    ("binh", {"valid_until": dt.date(2026, 5, 24)}, RuleViolation, "limited in time"),
    ("binh", {"valid_from": dt.date(2026, 5, 19)}, RuleViolation, "before the day it was written"),
    ("binh", {"document_no": ""}, RuleViolation, "with its number"),
    ("binh", {"acts": ["all"]}, RuleViolation, "not something the principal signs"),
])
def test_what_cannot_be_recorded_stores_nothing(school, who, changes, error, why):
    w = school
    if changes.get("delegate_id") == "lan":
        changes = {**changes, "delegate_id": w.ids["lan"]}
    with pytest.raises(error, match=why):
        register(w, who, **changes)
    assert count(w, SigningDelegation) == 0 and audits(w, "delegation.register") == 0


def test_the_vice_principal_issues_under_a_delegation_and_the_transcript_verifies(school, trust):
    """Signing for the principal end to end: refused without a delegation, issued under one,
    and the issued transcript verifies PASSED with the principal's signature reported as made
    under that delegation; still PASSED after the delegation is revoked (it was valid when the
    signature was made); a teacher never signs for the principal."""
    from core.kernel import clock
    from core.kernel.vocabulary import CertificateKind, TranscriptStatus
    from core.storage.models import Certificate, Transcript
    from core.transcripts.gradebook import confirm_subject
    from core.transcripts.verification import verify_transcript
    from core.transcripts.workflow import homeroom_sign, prepare_transcripts, principal_sign_batch
    from tests.services.test_transcripts_summer import fill
    from tests.services.transcripts_school import TEACHERS

    w = school
    ids = w.ids
    with w.db.transaction() as s:
        cred = w.pki.issue_personal(f"staff-{ids['phuc']}", "Hồ Văn Phúc", not_before=dt.datetime(2025, 1, 1),
                                    not_after=dt.datetime(2027, 12, 31))
        s.add(Certificate(kind=CertificateKind.PERSONAL, staff_id=ids["phuc"], school_id=ids["A"],
                          fingerprint=cred.fingerprint, serial_hex=cred.serial_hex, subject=cred.subject,
                          not_before=cred.not_before, not_after=cred.not_after, der=cred.cert_der))
    fill(w, low=())
    for code in TEACHERS:
        confirm_subject(w.db, w.actor(TEACHERS[code]), ids["6A1"], ids[f"subj:{code}"], ids["year"],
                        w.signer(TEACHERS[code]))
    drafts = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    for t in drafts:
        homeroom_sign(w.db, w.actor("lan"), t, w.signer("lan"))

    def sign(who):
        return principal_sign_batch(w.db, w.actor(who), ids["A"], w.signer(who), w.seal, class_id=ids["6A1"])

    with pytest.raises(PermissionDenied, match="no written delegation"):
        sign("phuc")
    with pytest.raises(PermissionDenied):
        sign("lan")
    today = clock.now().date()
    delegation_id = register(w, signed_on=today, valid_from=today, valid_until=today + dt.timedelta(days=30))
    assert sorted(sign("phuc").signed) == sorted(drafts)
    with w.db.reading() as s:
        rows = s.query(Transcript).filter(Transcript.id.in_(drafts)).all()
        assert {(r.status, r.principal_signed_by) for r in rows} == {(TranscriptStatus.ISSUED, ids["phuc"])}
        code = rows[0].verification_code
    check = verify_transcript(w.db, trust, code=code)
    principal = next(r.verification for r in check.report.signatures if r.role == "principal")
    assert check.current and principal.indication == "PASSED", principal
    assert "09/QĐ-THCS" in principal.message and "ký thay" in principal.message_vi
    revoke_delegation(w.db, w.actor("binh"), delegation_id, "Hiệu trưởng đã trở lại",
                      at=clock.now() + dt.timedelta(minutes=1))
    again = verify_transcript(w.db, w.pki.trust_store(), code=code)
    assert again.current and {r.role: r.verification.indication for r in again.report.signatures} == \
        {"homeroom": "PASSED", "principal": "PASSED", "seal": "PASSED"}
