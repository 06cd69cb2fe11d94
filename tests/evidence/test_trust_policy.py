"""The holder of any certificate from a trusted CA (THREATS.md: "a forged transcript or transfer
package" with "a valid certificate, the product's formats") and the replayer of a genuine
package, on PostgreSQL: a signature counts only for the role its certificate is bound to, at
that school, at that time; a package imports only at its addressee, only once, and its archive
is bounded before anything is inflated. Each refusal is asserted with its reason in both
languages, and nothing is recorded."""
from __future__ import annotations

import datetime as dt
import io
import time
import tracemalloc
import zipfile

import pytest
from sqlalchemy import func, select

from core.kernel.errors import PackageRejected
from core.kernel.vocabulary import CertificateKind, SchoolLevel
from core.signatures import DemoPKI, KeyStore
from core.signatures.pades import verify_pdf
from core.signatures.policy import as_policy
from core.storage.models import AuditEvent, Certificate, ImportedPackage, ReceivedTranscript, School, Transcript
from core.transcripts.transfer import export_package, import_package
from core.transcripts.verification import judge_transcript
from tests.evidence._trust import bomb, content_for, forge_package, forge_transcript, stranger, trust_of
from tests.services.test_transcripts import issue_all, with_seal
from tests.world import build_world


@pytest.fixture(scope="module")
def vgca(tmp_path_factory):
    """A second CA the department trusts: the Government's (VGCA), which issues public bodies' seals."""
    return DemoPKI.create(tmp_path_factory.mktemp("vgca"), root_name="Demo VGCA Root", issuing_name="Demo VGCA 01")


@pytest.fixture
def trust(pki, vgca):
    return trust_of(pki, vgca)


@pytest.fixture
def issued(pg_db, pki, keys):
    """School A (A01) with its seal registered and 6A1's two transcripts issued; school B (B01)."""
    w = with_seal(build_world(pg_db, pki, keys))
    w.drafts, _ = issue_all(w)
    with w.db.reading() as s:
        w.issued = {t.verification_code: t.document for t in s.scalars(select(Transcript).where(
            Transcript.id.in_(w.drafts)).order_by(Transcript.id))}
    return w


def nothing_recorded(w) -> bool:
    with w.db.reading() as s:
        return (s.scalar(select(func.count()).select_from(ReceivedTranscript)) == 0
                and s.scalar(select(func.count()).select_from(ImportedPackage)) == 0)


def refused(w, package, trust, *, at: str = "B", actor: str = "dung") -> PackageRejected:
    with pytest.raises(PackageRejected) as caught:
        import_package(w.db, w.actor(actor), w.ids[at], package, trust)
    err = caught.value
    assert err.message and err.message_vi and err.message != err.message_vi   # both languages
    assert nothing_recorded(w)
    return err


def genuine_items(w, code, pdf):
    import hashlib
    return [{"personal_id": "079213000000", "full_name": "Học sinh 0", "birth_date": "2013-05-01", "sex": "M",
             "school_year": "2025-2026", "verification_code": code, "version": 1,
             "sha256": hashlib.sha256(pdf).hexdigest()}]


@pytest.mark.parametrize("who", ["personal, licensed CA", "personal, VGCA", "organisation of another unit",
                                 "organisation claiming school A's identifier"])
def test_a_package_sealed_by_a_ca_trusted_stranger_is_refused(issued, pki, vgca, trust, who):
    """School A's genuine issued transcript, wrapped in a package naming A as its sender but
    sealed by someone the CAs vouch for and school A never registered."""
    signer = {"personal, licensed CA": lambda: stranger(pki),
              "personal, VGCA": lambda: stranger(vgca),
              "organisation of another unit": lambda: stranger(vgca, "Công ty X", seal_of="X99"),
              "organisation claiming school A's identifier": lambda: stranger(vgca, "THCS Trần Văn Ơn",
                                                                              seal_of="A01")}[who]()
    code, pdf = next(iter(issued.issued.items()))
    package = forge_package(signer, sender="A01", addressee="B01", documents={code: pdf},
                            items=genuine_items(issued, code, pdf))
    err = refused(issued, package, trust)
    assert "con dấu" in err.message_vi.lower() and "NOT_AUTHORISED_FOR_ROLE" in err.message
    # the same package sealed by school A's own seal is accepted: the refusal is the signer's
    genuine = forge_package(issued.seal, sender="A01", addressee="B01", documents={code: pdf},
                            items=genuine_items(issued, code, pdf))
    assert import_package(issued.db, issued.actor("dung"), issued.ids["B"], genuine, trust).imported == 1


@pytest.fixture
def hanoi(pki, vgca):
    """A school of another province (HN001), not in this system's registry: its seal from VGCA
    carries its identifier; its people hold personal certificates of a licensed CA."""
    owner = f"hn001-{id(pki)}"
    vgca.issue_seal(owner, "THCS Hà Nội", identifier="MDV:HN001")
    for role in ("gvcn", "ht"):
        pki.issue_personal(f"{owner}-{role}", f"Giáo viên Hà Nội {role}")
    return {"seal": KeyStore(vgca.directory).signer_for(owner),
            "homeroom": KeyStore(pki.directory).signer_for(f"{owner}-gvcn"),
            "principal": KeyStore(pki.directory).signer_for(f"{owner}-ht")}


def hanoi_package(hanoi, pdf, code="HN2345678A", seal=None):
    return forge_package(seal or hanoi["seal"], sender="HN001", addressee="B01", documents={code: pdf})


def test_another_provinces_school_is_trusted_by_its_ca_bound_seal(issued, hanoi, trust):
    """The positive control for the attacks below: a genuine transfer from another province."""
    pdf = forge_transcript(content_for("THCS Hà Nội"), "HN2345678A", hanoi["homeroom"], hanoi["principal"],
                           hanoi["seal"])
    outcome = import_package(issued.db, issued.actor("dung"), issued.ids["B"], hanoi_package(hanoi, pdf), trust)
    assert (outcome.imported, outcome.already_imported) == (1, False)


@pytest.mark.parametrize("forgery", ["seal of another unit", "personal key as the seal", "no seal at all",
                                     "teacher of another school"])
def test_a_transcript_signed_by_ca_trusted_strangers_is_refused(issued, pki, vgca, hanoi, trust, forgery):
    """A genuine sender's package carrying a transcript whose signatures a stranger made."""
    homeroom, principal, seal = hanoi["homeroom"], hanoi["principal"], hanoi["seal"]
    if forgery == "seal of another unit":
        seal = stranger(vgca, "Công ty X", seal_of="X99")
    elif forgery == "personal key as the seal":
        seal = stranger(pki)
    elif forgery == "teacher of another school":
        homeroom = issued.signer("lan")                   # registered in this system, at school A01
    content = content_for("THCS Hà Nội")
    if forgery == "no seal at all":
        from core.signatures.pades import sign_pdf
        from core.transcripts.pdf import SIGNATURE_FIELDS, render_transcript
        pdf = render_transcript(content, "HN2345678A", "http://127.0.0.1/verify?code=HN2345678A")
        pdf = sign_pdf(pdf, homeroom, "GVCN", certify=True, reason="r", new_fields=SIGNATURE_FIELDS)
        pdf = sign_pdf(pdf, principal, "HieuTruong", certify=False, reason="r")
    else:
        pdf = forge_transcript(content, "HN2345678A", homeroom, principal, seal)
    err = refused(issued, hanoi_package(hanoi, pdf), trust)
    assert "HN2345678A" in err.message and "không được ký hợp lệ" in err.message_vi
    expected = {"seal of another unit": "mã định danh", "personal key as the seal": "chứng thư số tổ chức",
                "no seal at all": "Thiếu chữ ký", "teacher of another school": "đơn vị khác"}[forgery]
    assert expected in err.message_vi


def test_a_document_this_system_did_not_issue_is_refused_even_under_the_schools_own_seal(issued, pki, trust):
    """An insider with school A's seal sends a transcript of A that the system never issued
    (drawn, signed by strangers, a genuine-looking code): refused as not A's issued document."""
    pdf = forge_transcript(content_for("THCS Trần Văn Ơn"), "ZZ2345678Z", stranger(pki), stranger(pki), issued.seal)
    err = refused(issued, forge_package(issued.seal, sender="A01", addressee="B01", documents={"ZZ2345678Z": pdf}),
                  trust)
    assert "ZZ2345678Z" in err.message_vi and "không phải học bạ đang có hiệu lực" in err.message_vi


def test_a_transcript_signed_by_another_schools_people_is_not_school_as(issued, trust):
    """School B's homeroom teacher, principal and seal sign a PDF that claims to be school A's
    record: every signature verifies against the CA, and none counts for school A."""
    w = issued
    seal_b = w.pki.issue_seal(f"school-{w.ids['B']}-{id(w)}", "THCS Colette", identifier="MDV:B01")
    with w.db.transaction() as s:
        s.add(Certificate(kind=CertificateKind.SEAL, school_id=w.ids["B"], fingerprint=seal_b.fingerprint,
                          serial_hex=seal_b.serial_hex, subject=seal_b.subject, not_before=seal_b.not_before,
                          not_after=seal_b.not_after, der=seal_b.cert_der))
    pdf = forge_transcript(content_for("THCS Trần Văn Ơn"), "QQ2345678Q", w.signer("khoa"), w.signer("dung"),
                           w.keys.signer_for(seal_b.owner_key))
    results = verify_pdf(pdf, trust)
    assert all(r.valid for _, r in results)                          # merely CA-trusted: all PASSED
    with w.db.reading() as s:
        report = judge_transcript(s, as_policy(trust), results, school_code="A01", school_id=w.ids["A"],
                                  homeroom_id=w.ids["lan"], principal_id=w.ids["binh"], target="forged")
    assert not report.valid
    assert [(r.role, r.verification.indication, r.verification.sub_indication) for r in report.signatures] == [
        ("homeroom", "FAILED", "NOT_AUTHORISED_FOR_ROLE"), ("principal", "FAILED", "NOT_AUTHORISED_FOR_ROLE"),
        ("seal", "FAILED", "NOT_AUTHORISED_FOR_ROLE")]
    assert all("đơn vị khác (B01)" in r.verification.message_vi for r in report.signatures)


def add_school_c(w) -> int:
    with w.db.transaction() as s:
        c = School(district_id=w.ids["q3"], code="C01", name="THCS Lê Lợi", level=SchoolLevel.LOWER_SECONDARY,
                   signing_grace_seconds=300, lesson_rating_enabled=True)
        s.add(c)
        s.flush()
        return c.id


def test_a_package_replayed_to_another_school_is_refused(issued, trust):
    package = export_package(issued.db, issued.actor("binh"), issued.ids["A"], issued.seal,
                             student_ids=[issued.ids["student0"]], to="B01")
    issued.ids["C"] = add_school_c(issued)
    err = refused(issued, package, trust, at="C", actor="admin")
    assert "addressed to B01, not to C01" in err.message and "gửi cho đơn vị B01" in err.message_vi
    err = refused(issued, package, trust, at="A", actor="binh")          # nor back at the sender
    assert "not to A01" in err.message
    # rewriting the addressee breaks the seal over the manifest
    files = {n: zipfile.ZipFile(io.BytesIO(package)).read(n) for n in zipfile.ZipFile(io.BytesIO(package)).namelist()}
    files["manifest.json"] = files["manifest.json"].replace(b'"addressee": "B01"', b'"addressee": "C01"')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    err = refused(issued, out.getvalue(), trust, at="C", actor="admin")
    assert "HASH_FAILURE" in err.message
    assert import_package(issued.db, issued.actor("dung"), issued.ids["B"], package, trust).imported == 1


def test_importing_twice_is_a_no_op_that_says_so(issued, trust):
    package = export_package(issued.db, issued.actor("binh"), issued.ids["A"], issued.seal,
                             student_ids=[issued.ids["student0"], issued.ids["student1"]], to="B01")
    first = import_package(issued.db, issued.actor("dung"), issued.ids["B"], package, trust)
    assert (first.imported, first.already_imported) == (2, False)
    rezipped = io.BytesIO()  # the same package, zipped again (other bytes, same signed manifest)
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(rezipped, "w", zipfile.ZIP_STORED) as dst:
        for name in reversed(src.namelist()):
            dst.writestr(name, src.read(name))
    for again in (package, rezipped.getvalue()):
        outcome = import_package(issued.db, issued.actor("dung"), issued.ids["B"], again, trust,
                                 at=dt.datetime(2026, 9, 1, 8, 0))
        assert (outcome.imported, outcome.already_imported) == (0, True)
        assert outcome.imported_at == first.imported_at                          # when it was imported
        assert "đã được nhập" in outcome.message_vi and "already imported" in outcome.message
    with issued.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedTranscript)) == 2
        assert s.scalar(select(func.count()).select_from(ImportedPackage)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "package.import.transfer")) == 1   # one event, not three


def _peak_while(call):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        call()
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, elapsed


def test_a_zip_bomb_is_refused_without_inflating_it(issued, trust):
    manifest = b'{"format": "sohoa.transcript-package/2", "items": [{"verification_code": "AAAAAAAAAA"}]}'
    members = {"manifest.json": manifest, "manifest.p7s": b"0"}
    honest = bomb(members, "transcripts/AAAAAAAAAA.pdf", 256 * 2**20)            # 256 MB of zeros, declared
    lying = bomb(members, "transcripts/AAAAAAAAAA.pdf", 256 * 2**20, declared_size=400_000)  # claims 400 kB
    assert len(honest) < 2**20 and len(lying) < 2**20                            # under 1 MB on the wire
    for package, reason in ((honest, "refused unread"), (lying, "declared size")):
        caught = []

        def attempt(package=package):
            with pytest.raises(PackageRejected) as err:
                import_package(issued.db, issued.actor("dung"), issued.ids["B"], package, trust)
            caught.append(err.value)
        peak, elapsed = _peak_while(attempt)
        assert reason in caught[0].message and caught[0].message_vi
        assert peak < 8 * 2**20, f"{peak} bytes allocated: the bomb was inflated"   # 256 MB never held
        assert elapsed < 2.0
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as zf:
        for n in range(5000):
            zf.writestr(f"x{n}", b"")
    err = refused(issued, many.getvalue(), trust)
    assert "5000 members" in err.message and "5000 tệp" in err.message_vi


def test_a_confirmation_counts_only_from_the_subjects_teacher_of_the_class(issued, pki, trust):
    """The first signatures of a transcript: each subject teacher confirms the class's results.
    A database administrator swaps the Toán confirmation for one signed by another registered
    teacher of the school (not 6A1's Toán teacher), then for one signed by a CA-trusted stranger
    in the name of the real teacher: neither counts."""
    from sqlalchemy import text, update

    from core.storage.models import SubjectConfirmation
    from core.transcripts.gradebook import confirmation_bytes
    from core.transcripts.verification import verify_confirmations

    w, ids = issued, issued.ids
    report = verify_confirmations(w.db, trust, ids["6A1"], ids["year"])
    assert report.valid and [s.role for s in report.signatures] == ["subject_teacher"] * 3
    with w.db.reading() as s:
        data = confirmation_bytes(s, ids["6A1"], ids["subj:TOAN"], ids["year"])
        toan = s.scalar(select(SubjectConfirmation).where(SubjectConfirmation.class_id == ids["6A1"],
                                                          SubjectConfirmation.subject_id == ids["subj:TOAN"]))

    def swap(signer, teacher):
        with w.db.transaction() as s:
            s.execute(text("SET LOCAL session_replication_role = replica"))   # as the superuser would
            s.execute(update(SubjectConfirmation).where(SubjectConfirmation.id == toan.id).values(
                signature=signer.sign_detached(data, toan.confirmed_at), teacher_id=ids[teacher]))
        found = verify_confirmations(w.db, trust, ids["6A1"], ids["year"])
        bad = [s.verification for s in found.signatures if not s.verification.valid]
        assert not found.valid and len(bad) == 1 and bad[0].sub_indication == "NOT_AUTHORISED_FOR_ROLE"
        return bad[0].message_vi

    assert "không giữ vai trò giáo viên bộ môn" in swap(w.signer("minh"), "minh")
    assert "chưa được đăng ký" in swap(stranger(pki, "Nguyễn Thị Lan"), "lan")
