"""Certificate lifecycle and signatures you can trust: revocation before / after signing,
expired and foreign keys refused, the weekly PDF signed by the right people, tampering
reported, coverage figures."""
import datetime as dt

import pytest
from sqlalchemy import select, update

from core.access.authz import SYSTEM
from core.kernel.errors import PermissionDenied, RuleViolation
from core.logbook.entries import generate_week, sign_entry
from core.logbook.receipts import seal_all
from core.logbook.verification import verify_document, verify_entry_signature, verify_week_document
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week
from core.signatures import DemoPKI, KeyStore
from core.signatures.certificates import coverage, register_certificate, revoke_certificate
from core.signatures.ltv_responder import LongTermResponder
from core.signatures.responder import free_port
from core.signatures.service import SEAL_OWNER, ServiceSeal
from core.storage.models import Certificate, WeekClose
from tests.evidence._receipts import service_seal_of
from tests.world import MONDAY, build_world

SATURDAY = MONDAY + dt.timedelta(days=5)


@pytest.fixture(scope="module")
def online_pki(tmp_path_factory):
    """A PKI whose certificates point at a live CRL/OCSP/TSA responder on 127.0.0.1 (closed weeks
    are PAdES B-LTA: it serves the root's CRL too)."""
    port = free_port()
    pki = DemoPKI.create(tmp_path_factory.mktemp("online"), responder_url=f"http://127.0.0.1:{port}")
    service_seal_of(pki)
    responder = LongTermResponder(pki).start(port)
    yield pki
    responder.stop()


@pytest.fixture
def w(db, online_pki, monkeypatch):
    monkeypatch.setenv("SOHOA_TSA_URL", f"{online_pki.responder_url}/tsa")
    world = build_world(db, online_pki, KeyStore(online_pki.directory))
    generate_week(db, SYSTEM, world.ids["A"], world.ids["week1"])
    return world


def seal(w, pki):
    """What the API's sealer does every second: the server's receipts sealed (core.logbook.receipts)."""
    seal_all(w.db, ServiceSeal(KeyStore(pki.directory).signer_for(SEAL_OWNER), f"{pki.responder_url}/tsa"))


def at(day, h, m):
    return dt.datetime.combine(day, dt.time(h, m))


def cert_id(w, staff):
    with w.db.reading() as s:
        return s.scalar(select(Certificate.id).where(Certificate.staff_id == w.ids[staff]))


def test_revoked_after_signing_stays_valid_and_later_signing_is_refused(w, online_pki):
    trust = online_pki.trust_store(check_revocation=True)
    entry = w.entry("6A1", MONDAY, 1)
    sign_entry(w.db, w.actor("lan"), entry, w.signer("lan"), at=at(MONDAY, 7, 30))
    seal(w, online_pki)
    revoke_certificate(w.db, w.actor("admin"), cert_id(w, "lan"), "Giáo viên nghỉ việc", at=at(MONDAY, 12, 0))
    report = verify_entry_signature(w.db, w.actor("so"), entry, trust)
    assert report.valid, report.signatures
    with pytest.raises(RuleViolation, match="revoked"):
        sign_entry(w.db, w.actor("lan"), w.entry("6A1", MONDAY + dt.timedelta(days=1), 1), w.signer("lan"),
                   at=at(MONDAY + dt.timedelta(days=1), 7, 30))


def test_revoked_before_signing_is_reported_failed(w, online_pki):
    """A signature that reached the database anyway (e.g. imported) is caught at verification."""
    entry = w.entry("6A1", MONDAY, 1)
    sign_entry(w.db, w.actor("lan"), entry, w.signer("lan"), at=at(MONDAY, 7, 30))
    with w.db.transaction() as s:
        s.execute(update(Certificate).where(Certificate.staff_id == w.ids["lan"]).values(revoked_at=at(MONDAY, 7, 0)))
    report = verify_entry_signature(w.db, w.actor("so"), entry, online_pki.trust_store())
    assert (report.indication, report.sub_indication) == ("FAILED", "REVOKED")


def test_ca_revocation_is_seen_through_the_crl(tmp_path):
    port = free_port()
    pki = DemoPKI.create(tmp_path, responder_url=f"http://127.0.0.1:{port}")
    cred = pki.issue_personal("ha", "Lê Thu Hà")
    responder = LongTermResponder(pki).start(port)
    try:
        signer = KeyStore(tmp_path).signer_for("ha")
        before = signer.sign_detached(b"x", dt.datetime(2025, 10, 1, 8))
        after = signer.sign_detached(b"x", dt.datetime(2025, 11, 5, 8))
        pki.revoke(cred.serial_hex, dt.datetime(2025, 11, 1))
        from core.signatures import verify_detached
        trust = pki.trust_store(check_revocation=True)
        assert verify_detached(b"x", before, trust).valid
        late = verify_detached(b"x", after, trust)
        assert (late.indication, late.sub_indication) == ("FAILED", "REVOKED")
    finally:
        responder.stop()
    offline = pki.trust_store(check_revocation=True)  # responder gone: no CRL, never "valid"
    report = verify_detached(b"x", before, offline)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "TRY_LATER")


def test_expired_certificate_cannot_sign(w, online_pki):
    cred = online_pki.issue_personal("minh-old", "Trần Văn Minh", not_before=dt.datetime(2024, 1, 1),
                                     not_after=dt.datetime(2025, 6, 30))
    register_certificate(w.db, w.actor("admin"), cred.cert_der, staff_id=w.ids["minh"])
    old = KeyStore(online_pki.directory).signer_for("minh-old")
    with pytest.raises(RuleViolation, match="not valid at"):
        sign_entry(w.db, w.actor("minh"), w.entry("6A1", MONDAY, 2), old, at=at(MONDAY, 8, 0))


def test_weekly_pdf_signed_by_homeroom_then_principal(w, online_pki):
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"), at=at(SATURDAY, 10, 0))
    principal_close_week(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.signer("binh"),
                         at=at(SATURDAY, 11, 0))
    trust = online_pki.trust_store(check_revocation=True)
    report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], trust)
    assert report.valid, [s.verification for s in report.signatures]
    assert [s.role for s in report.signatures] == ["homeroom", "principal", "homeroom_summary", "principal_summary"]
    with w.db.reading() as s:
        pdf = s.scalar(select(WeekClose.document).where(WeekClose.class_id == w.ids["6A1"]))
    assert pdf.startswith(b"%PDF") and b"/DocMDP" in pdf
    # one changed byte inside the signed range is reported, for both signatures
    tampered = bytearray(pdf)
    tampered[len(pdf) // 4] ^= 0x01
    bad = verify_document(bytes(tampered), trust)
    assert bad.indication == "FAILED" and bad.sub_indication == "HASH_FAILURE"


def test_week_signed_by_someone_else_is_notauthorised_for_role(w, online_pki):
    """Lan's key used where the principal must sign: the PDF is intact but the role check fails."""
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"), at=at(SATURDAY, 10, 0))
    from core.logbook.week_pdf import PRINCIPAL_FIELD
    from core.signatures.pades import sign_pdf
    with w.db.transaction() as s:
        row = s.scalar(select(WeekClose).where(WeekClose.class_id == w.ids["6A1"]))
        row.document = sign_pdf(row.document, w.signer("minh"), PRINCIPAL_FIELD, certify=False, reason="giả mạo")
        row.principal_signed_by = w.ids["binh"]
    report = verify_week_document(w.db, w.actor("so"), w.ids["6A1"], w.ids["week1"], online_pki.trust_store())
    principal = [s for s in report.signatures if s.role == "principal"][0].verification
    assert (principal.indication, principal.sub_indication) == ("FAILED", "NOT_AUTHORISED_FOR_ROLE")
    assert not report.valid


def test_unknown_ca_pdf_is_indeterminate(w, online_pki, tmp_path):
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"), at=at(SATURDAY, 10, 0))
    with w.db.reading() as s:
        pdf = s.scalar(select(WeekClose.document))
    other = DemoPKI.create(tmp_path / "other", root_name="Other Root", issuing_name="Other CA")
    report = verify_document(pdf, other.trust_store())
    assert report.indication == "INDETERMINATE" and not report.valid


def test_register_and_revoke_are_permissioned_and_audited(w, online_pki):
    cred = online_pki.issue_personal("ha-2", "Lê Thu Hà")
    with pytest.raises(PermissionDenied):
        register_certificate(w.db, w.actor("mon_a"), cred.cert_der, staff_id=w.ids["ha"])
    new = register_certificate(w.db, w.actor("admin"), cred.cert_der, staff_id=w.ids["ha"])
    with pytest.raises(RuleViolation, match="already registered"):
        register_certificate(w.db, w.actor("admin"), cred.cert_der, staff_id=w.ids["ha"])
    with pytest.raises(RuleViolation, match="reason"):
        revoke_certificate(w.db, w.actor("admin"), new, " ")
    revoke_certificate(w.db, w.actor("admin"), new, "Mất token")
    from core.storage.models import AuditEvent
    with w.db.reading() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "certificate")))
    assert actions == ["certificate.register", "certificate.revoke"]


def test_coverage_figures(w):
    now = dt.datetime(2027, 12, 10)  # the world's certificates end on 2027-12-31: all expire within 30 days
    df = coverage(w.db, w.actor("so"), "school", at=now).set_index("school_code")
    assert df.loc["A01", ["staff", "with_valid_certificate", "expiring_30_days"]].tolist() == [4, 4, 4]
    revoke_certificate(w.db, w.actor("admin"), cert_id(w, "ha"), "Nghỉ việc", at=dt.datetime(2026, 1, 1))
    df = coverage(w.db, w.actor("mon_a"), "school", at=dt.datetime(2026, 6, 1)).set_index("school_code")
    assert list(df.index) == ["A01"]  # a monitor sees their school only
    assert df.loc["A01", ["with_valid_certificate", "expiring_30_days"]].tolist() == [3, 0]
    assert df.loc["A01", "coverage_rate"] == 0.75


def test_one_entry_point_verifies_entries_weeks_and_documents(w, online_pki):
    from core.logbook.verification import verify
    trust = online_pki.trust_store()
    entry = w.entry("6A1", MONDAY, 1)
    sign_entry(w.db, w.actor("lan"), entry, w.signer("lan"), at=at(MONDAY, 7, 30))
    seal(w, online_pki)
    assert verify(w.db, w.actor("so"), trust, entry_id=entry).valid
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"), at=at(SATURDAY, 10, 0))
    assert verify(w.db, w.actor("so"), trust, class_week=(w.ids["6A1"], w.ids["week1"])).valid
    with w.db.reading() as s:
        pdf = s.scalar(select(WeekClose.document))
    assert verify(w.db, w.actor("so"), trust, pdf=pdf).valid
    with pytest.raises(ValueError):
        verify(w.db, w.actor("so"), trust)
