"""A trust store of several anchors (a licensed CA under NEAC and the government CA, VGCA), each
issuer with its own revocation source: a signature from either verifies, a revocation published
by one CA's CRL is seen for its certificates only, an issuer without a source is never "valid",
and a root the store does not hold is not trusted."""
import datetime as dt

import pytest

from core.signatures import DemoPKI, KeyStore, TrustStore, verify_detached
from core.signatures.cms import Anchor
from core.signatures.pades import verify_pdf
from core.signatures.responder import Responder, free_port

WHEN = dt.datetime(2025, 10, 1, 8)


@pytest.fixture(scope="module")
def two_cas(tmp_path_factory):
    """'VNPT' (with a live CRL) and 'VGCA' (offline), each with one certificate issued."""
    port = free_port()
    vnpt = DemoPKI.create(tmp_path_factory.mktemp("vnpt"), root_name="Demo NEAC Root", issuing_name="Demo VNPT-CA",
                          responder_url=f"http://127.0.0.1:{port}")
    vgca = DemoPKI.create(tmp_path_factory.mktemp("vgca"), root_name="Demo VGCA Root", issuing_name="Demo VGCA 01")
    teacher = vnpt.issue_personal("teacher", "Nguyễn Thị Lan")
    seal = vgca.issue_seal("seal", "THCS Trần Văn Ơn", identifier="MDV:A01")
    responder = Responder(vnpt).start(port)
    yield vnpt, vgca, teacher, seal
    responder.stop()


def signer(pki, owner):
    return KeyStore(pki.directory).signer_for(owner)


def test_both_anchors_verify_and_a_foreign_root_does_not(two_cas, tmp_path):
    vnpt, vgca, _, _ = two_cas
    trust = TrustStore(anchors=[vnpt.anchor("VNPT"), vgca.anchor("VGCA")])
    for pki, owner in ((vnpt, "teacher"), (vgca, "seal")):
        report = verify_detached(b"x", signer(pki, owner).sign_detached(b"x", WHEN), trust)
        assert report.valid, report
    stranger = DemoPKI.create(tmp_path, root_name="Untrusted Root")
    stranger.issue_personal("s", "Kẻ lạ")
    report = verify_detached(b"x", signer(stranger, "s").sign_detached(b"x", WHEN), trust)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "NO_CERTIFICATE_CHAIN_FOUND")
    assert trust.anchor_of(trust.chain(two_cas[3].cert_der)).name == "VGCA"


def test_each_issuer_has_its_own_revocation_source(two_cas):
    vnpt, vgca, teacher, _ = two_cas
    checked = TrustStore(anchors=[vnpt.anchor("VNPT", check_revocation=True), vgca.anchor("VGCA")])
    before = signer(vnpt, "teacher").sign_detached(b"x", WHEN)
    after = signer(vnpt, "teacher").sign_detached(b"x", WHEN + dt.timedelta(days=40))
    vnpt.revoke(teacher.serial_hex, WHEN + dt.timedelta(days=30))
    assert verify_detached(b"x", before, checked).valid           # signed before the revocation
    late = verify_detached(b"x", after, checked)
    assert (late.indication, late.sub_indication) == ("FAILED", "REVOKED")
    # VGCA's anchor is not checked (no source configured for it at all): its seal still verifies
    assert verify_detached(b"x", signer(vgca, "seal").sign_detached(b"x", WHEN), checked).valid
    # a VGCA anchor that must be checked but names no source for its issuer: never "valid"
    strict = TrustStore(anchors=[vnpt.anchor("VNPT", check_revocation=True),
                                 Anchor("VGCA", vgca.anchor().root, (vgca.issuing_der,), revocation={})])
    report = verify_detached(b"x", signer(vgca, "seal").sign_detached(b"x", WHEN), strict)
    assert (report.indication, report.sub_indication) == ("INDETERMINATE", "TRY_LATER")


def test_the_older_single_anchor_form_still_works(two_cas):
    vnpt, vgca, _, _ = two_cas
    trust = TrustStore(roots=[vgca.anchor().root], intermediates=[vgca.issuing_der])
    assert verify_detached(b"x", signer(vgca, "seal").sign_detached(b"x", WHEN), trust).valid
    assert trust.anchor_of(trust.chain(two_cas[3].cert_der)) is None   # no anchor, so no seal policies
    assert not verify_detached(b"x", signer(vnpt, "teacher").sign_detached(b"x", WHEN), trust).valid


def test_a_pdf_verifies_against_several_anchors_and_reports_the_certificate(two_cas):
    from core.signatures.pades import sign_pdf
    from core.transcripts.pdf import render_transcript
    vnpt, vgca, _, seal = two_cas
    content = {"student": {"full_name": "Học sinh", "sex": "M", "birth_date": "2013-05-01",
                           "personal_id": "079213000001"}, "year": "2025-2026", "class": "6A1", "school": "THCS",
               "version": 1, "level_name": "Trung học cơ sở", "grade": 6, "subjects": [], "summary": [],
               "comment": ""}
    pdf = render_transcript(content, "ABCDEFGHJK", "http://127.0.0.1/verify?code=ABCDEFGHJK")
    pdf = sign_pdf(pdf, signer(vgca, "seal"), "DauTruong", certify=False, reason="r",
                   new_fields=[("DauTruong", (400, 40, 560, 120))])
    [(field, result)] = verify_pdf(pdf, TrustStore(anchors=[vnpt.anchor("VNPT"), vgca.anchor("VGCA")]))
    assert field == "DauTruong" and result.valid and result.certificate == seal.cert_der
    [(_, alone)] = verify_pdf(pdf, vnpt.trust_store())
    assert not alone.valid
