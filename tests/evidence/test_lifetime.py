"""The actor *time* (THREATS.md: "transcripts carry the proofs they need to verify for life"):
certificates expire, a signer is revoked, CAs and timestamp authorities are replaced, and a
transcript issued in 2026 must still verify in 2045. Every clock of the process is moved (the
product's, pyHanko's, the demo CA's responder), the record store is PostgreSQL, the PKI and its
CRL/OCSP/TSA answer over HTTP on loopback, and the checks are the product's own verification
and pyHanko's long-term validation (``ades_lta_validation``) under the declared policy.

Timeline (VN-local): the CA from 2024 (root and issuing CA to 2048, TSA 1 to 2033-12-28); staff
certificates 2025 to 2027-12-31, the school's seal to 2028; 2026-05 a transcript issued and a
week closed (B-LTA); 2027-03-01 the principal's certificate revoked by the CA (the department's
registry not told); 2027-06 a second transcript issued with it; 2032 a successor CA, 2033 TSA 2
(to 2047); 2033-06 the re-timestamping job; 2045 every signer certificate expired."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from core.access.authz import SYSTEM
from core.kernel.errors import RuleViolation
from core.logbook.entries import generate_week
from core.logbook.verification import verify_week_document
from core.logbook.weekly_close import homeroom_sign_week, principal_close_week
from core.signatures import KeyStore
from core.signatures.ltv import validate_lta
from core.signatures.ltv_responder import LongTermResponder
from core.signatures.renewal import due, retimestamp
from core.signatures.responder import free_port
from core.storage.models import AuditEvent, Certificate, Transcript, WeekClose
from core.transcripts.verification import verify_transcript
from core.transcripts.workflow import homeroom_sign, prepare_transcripts, principal_sign_batch
from tests.evidence._lifetime import TimeMachine, document_timestamps, pyhanko_lta
from tests.services.test_transcripts import confirm_all, enter_all, with_seal
from tests.world import MONDAY, build_world

SATURDAY = MONDAY + dt.timedelta(days=5)
FIELDS = ("GVCN", "HieuTruong", "DauTruong")


@pytest.fixture
def travel():
    machine = TimeMachine()
    yield machine
    machine.stop()


@pytest.fixture
def online(pg_db, travel, tmp_path, monkeypatch):
    """A school world on PostgreSQL whose demo CA answers CRL, OCSP and timestamps on loopback,
    built on 2026-05-20; SOHOA_TSA_URL set, so issued documents are PAdES B-LTA."""
    from core.signatures import DemoPKI

    travel.go(dt.datetime(2026, 5, 20, 8, 0))
    port = free_port()
    pki = DemoPKI.create(tmp_path / "pki", responder_url=f"http://127.0.0.1:{port}")
    responder = LongTermResponder(pki).start(port)
    monkeypatch.setenv("SOHOA_TSA_URL", f"{pki.responder_url}/tsa")
    world = with_seal(build_world(pg_db, pki, KeyStore(pki.directory)))
    world.responder = responder
    yield world
    responder.stop()


def _document(w, transcript_id: int) -> bytes:
    with w.db.reading() as s:
        return s.scalar(select(Transcript.document).where(Transcript.id == transcript_id))


def _code(w, transcript_id: int) -> str:
    with w.db.reading() as s:
        return s.scalar(select(Transcript.verification_code).where(Transcript.id == transcript_id))


def _indications(check) -> dict[str, tuple[str, str | None]]:
    return {s.role: (s.verification.indication, s.verification.sub_indication) for s in check.report.signatures}


def test_a_transcript_issued_in_2026_verifies_in_2045_only_with_its_archive_timestamp_renewed(online, travel):
    w = online
    trust = w.pki.trust_store(check_revocation=True)
    # ---- 2026-05-20: results confirmed, both drafts prepared; A signed by the homeroom teacher; a week closed
    enter_all(w)
    confirm_all(w)
    a_id, b_id = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    homeroom_sign(w.db, w.actor("lan"), a_id, w.signer("lan"))
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    homeroom_sign_week(w.db, w.actor("lan"), w.ids["6A1"], w.ids["week1"], w.signer("lan"),
                       at=dt.datetime.combine(SATURDAY, dt.time(10)))
    principal_close_week(w.db, w.actor("binh"), w.ids["6A1"], w.ids["week1"], w.signer("binh"),
                         at=dt.datetime.combine(SATURDAY, dt.time(11)))
    # ---- 2026-05-25: the principal's batch issues A: B-LTA, one document timestamp by TSA 1
    travel.go(dt.datetime(2026, 5, 25, 9, 0))
    issued = principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal, class_id=w.ids["6A1"])
    assert issued.signed == [a_id]
    a_issued = _document(w, a_id)
    assert [tsa for _, tsa in document_timestamps(a_issued)] == ["Common Name: Sohoa Demo TSA, Organization: "
                                                                 "Sohoa Demo Trust, Country: VN"]
    check = verify_transcript(w.db, trust, code=_code(w, a_id))
    assert check.current and _indications(check) == {r: ("PASSED", None) for r in ("homeroom", "principal", "seal")}
    with w.db.reading() as s:
        a_until = s.scalar(select(Transcript.archive_valid_until).where(Transcript.id == a_id))
        week = s.scalar(select(WeekClose).where(WeekClose.class_id == w.ids["6A1"]))
    assert a_until == dt.datetime(2033, 12, 29, 0, 0) and week.archive_valid_until == a_until  # TSA 1's end, VN time
    assert document_timestamps(week.document)

    # ---- 2027-03-01: the CA revokes the principal's certificate (the department's registry is not told)
    binh = w.pki.revoked()  # (nothing revoked before)
    assert binh == {}
    with w.db.reading() as s:
        binh_serial = s.scalar(select(Certificate.serial_hex).where(Certificate.staff_id == w.ids["binh"]))
    w.pki.revoke(binh_serial, dt.datetime(2027, 3, 1, 8, 0))
    # ---- 2027-06-01: B is signed and issued with the revoked key; A, issued before, still verifies
    travel.go(dt.datetime(2027, 6, 1, 9, 0))
    homeroom_sign(w.db, w.actor("lan"), b_id, w.signer("lan"))
    assert principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal,
                                class_id=w.ids["6A1"]).signed == [b_id]
    assert verify_transcript(w.db, trust, code=_code(w, a_id)).current
    late = verify_transcript(w.db, trust, code=_code(w, b_id))
    assert not late.current and _indications(late)["principal"] == ("FAILED", "REVOKED")
    assert _indications(late)["homeroom"] == ("PASSED", None)

    # ---- 2032/2033: a successor CA and TSA 2, before TSA 1's certificate ends (2033-12-28)
    travel.go(dt.datetime(2032, 1, 5, 9, 0))
    w.pki.add_successor_ca("ca02", "Sohoa Demo Issuing CA 02", not_before=dt.datetime(2032, 1, 1))
    w.pki.add_tsa("tsa2", "ca02", "Sohoa Demo TSA 2", not_before=dt.datetime(2033, 1, 1),
                  not_after=dt.datetime(2047, 1, 1))
    w.responder.reload()
    # ---- 2033-06-01: the re-timestamping job finds A, B and the week due and renews them
    travel.go(dt.datetime(2033, 6, 1, 2, 0))
    assert due(w.db, SYSTEM) == {"transcript": [a_id, b_id], "week": [week.id]}
    report = retimestamp(w.db, SYSTEM, f"{w.pki.responder_url}/tsa")
    assert report.renewed == {"transcript": 2, "week": 1}
    assert due(w.db, SYSTEM) == {"transcript": [], "week": []}  # renewed until TSA 2's end: nothing left
    a_renewed = _document(w, a_id)
    assert a_renewed.startswith(a_issued) and len(a_renewed) > len(a_issued)  # it only grew
    assert [tsa.split(",")[0] for _, tsa in document_timestamps(a_renewed)] == [
        "Common Name: Sohoa Demo TSA", "Common Name: Sohoa Demo TSA 2"]
    with w.db.reading() as s:
        assert s.scalar(select(Transcript.archive_valid_until).where(Transcript.id == a_id)) == \
            dt.datetime(2047, 1, 1, 0, 0)
        audited = s.scalars(select(AuditEvent.action).where(AuditEvent.action == "document.retimestamp")).all()
    assert len(audited) == 2  # one per school and chunk, per kind

    # ---- 2045-06-01: every signer certificate has expired, TSA 1 too
    travel.go(dt.datetime(2045, 6, 1, 9, 0))
    check = verify_transcript(w.db, trust, code=_code(w, a_id))
    assert check.current, check.report.signatures
    assert _indications(check) == {r: ("PASSED", None) for r in ("homeroom", "principal", "seal")}
    signed = {s.role: s.verification.signing_time for s in check.report.signatures}
    assert signed["principal"].date() == dt.date(2026, 5, 25)  # proven by its timestamp, not "now"
    assert pyhanko_lta(a_renewed, trust) == {f: ("PASSED", "OK") for f in FIELDS}  # pyHanko agrees
    # without the renewal the same transcript no longer verifies
    not_renewed = dict(validate_lta(a_issued, trust, online=True))
    assert all(v.indication != "PASSED" for v in not_renewed.values()), not_renewed
    assert all(status != "PASSED" for status, _ in pyhanko_lta(a_issued, trust).values())
    # signed after its signer's revocation: still refused in 2045
    late = verify_transcript(w.db, trust, code=_code(w, b_id))
    assert not late.current and _indications(late)["principal"][0] != "PASSED"
    # the copy a holder downloaded in 2026 (before the renewal) is still found and checked
    upload = verify_transcript(w.db, trust, pdf=a_issued)
    assert upload.found and upload.current and upload.status == "issued"
    # the closed week too
    week_report = verify_week_document(w.db, w.actor("mon_a"), w.ids["6A1"], w.ids["week1"], trust)
    assert week_report.valid, [s.verification for s in week_report.signatures]


def test_without_a_successor_tsa_the_renewal_refuses_to_run(online, travel):
    """In 2033 with only TSA 1 (ending 2033-12-28) a renewal would add a timestamp that expires
    as soon: the job refuses and says what to do, in both languages."""
    w = online
    travel.go(dt.datetime(2033, 6, 1, 2, 0))
    with pytest.raises(RuleViolation, match="successor TSA") as refused:
        retimestamp(w.db, SYSTEM, f"{w.pki.responder_url}/tsa")
    assert "dịch vụ cấp dấu thời gian mới" in refused.value.message_vi


def test_a_homeroom_signature_revoked_before_issuance_is_sent_back_not_issued(online, travel):
    """The homeroom teacher leaves between her signature and the principal's batch: her
    certificate is revoked, the transcript goes back to draft (audited), to be signed again."""
    from core.signatures.certificates import revoke_certificate

    w = online
    enter_all(w)
    confirm_all(w)
    ids = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    for t in ids:
        homeroom_sign(w.db, w.actor("lan"), t, w.signer("lan"))
    travel.go(dt.datetime(2026, 5, 22, 8, 0))
    with w.db.reading() as s:
        cert_id = s.scalar(select(Certificate.id).where(Certificate.staff_id == w.ids["lan"]))
    revoke_certificate(w.db, w.actor("admin"), cert_id, "Giáo viên chuyển trường", at=dt.datetime(2026, 5, 22, 7, 0))
    travel.go(dt.datetime(2026, 5, 25, 9, 0))
    result = principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal, class_id=w.ids["6A1"])
    assert result.signed == [] and [t for t, _ in result.not_signed] == ids
    assert all("ký lại" in why for _, why in result.not_signed)
    with w.db.reading() as s:
        rows = s.scalars(select(Transcript).where(Transcript.id.in_(ids))).all()
        assert {r.status.value for r in rows} == {"draft"} and all(r.document is None for r in rows)
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "transcript.send_back")).all()) == 2


def test_a_revision_appended_by_the_database_administrator_is_detected(online, travel):
    """The record store lets an issued document grow (renewals append), so a DBA can append an
    incremental update that paints another grade over the page: the trigger lets it through,
    the verification reports every signature FAILED."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = online
    enter_all(w)
    confirm_all(w)
    ids = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    homeroom_sign(w.db, w.actor("lan"), ids[0], w.signer("lan"))
    principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal, class_id=w.ids["6A1"])
    trust = w.pki.trust_store(check_revocation=True)
    assert verify_transcript(w.db, trust, code=_code(w, ids[0])).current
    import io

    writer = IncrementalPdfFileWriter(io.BytesIO(_document(w, ids[0])))
    overlay = writer.add_object(generic.StreamObject(stream_data=b"q 1 1 1 rg 300 400 60 20 re f Q"))
    writer.add_stream_to_page(0, overlay)
    forged = io.BytesIO()
    writer.write(forged)
    with w.db.transaction() as s:  # as the DBA would: plain SQL, the trigger's rule met (it only appends)
        s.execute(text("UPDATE transcript SET document = :d WHERE id = :i"), {"d": forged.getvalue(), "i": ids[0]})
    check = verify_transcript(w.db, trust, code=_code(w, ids[0]))
    assert not check.current
    assert {s.verification.indication for s in check.report.signatures} == {"FAILED"}
