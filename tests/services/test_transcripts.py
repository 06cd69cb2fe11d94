"""Transcripts: gradebook by the right people, the signing workflow in order, batch signing,
issued records immutable in the database, cancel and re-issue, online verification."""
import datetime as dt

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from core.kernel.errors import (
    CertificateNotRegistered,
    InvalidAssessment,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from core.kernel.vocabulary import CertificateKind, TranscriptStatus
from core.storage.models import AuditEvent, Certificate, CurriculumLoad, TeachingAssignment, Transcript
from core.transcripts.figures import issuance_figures
from core.transcripts.gradebook import confirm_subject, draft_comments, enter_evaluation, enter_subject_results
from core.transcripts.verification import verify_transcript
from core.transcripts.workflow import cancel_and_reissue, homeroom_sign, prepare_transcripts, principal_sign_batch

S = {"regular": ["8", "7.5", "9", "6"], "mid": "7", "final": "8.5"}   # E1: 7.8


@pytest.fixture
def school(world):
    return with_seal(world)


def with_seal(w):
    """The world with 6A1's subjects assigned and school A's seal (con dấu số) registered."""
    ids = w.ids
    with w.db.transaction() as s:
        for code, teacher in (("TOAN", "lan"), ("NV", "minh"), ("TA", "ha")):
            s.add(TeachingAssignment(class_id=ids["6A1"], subject_id=ids[f"subj:{code}"], teacher_id=ids[teacher],
                                     valid_from=dt.date(2025, 9, 1)))
            s.add(CurriculumLoad(subject_id=ids[f"subj:{code}"], grade=6, periods_per_year=140))
        seal = w.pki.issue_seal(f"school-{ids['A']}", "THCS Trần Văn Ơn")
        s.add(Certificate(kind=CertificateKind.SEAL, school_id=ids["A"], fingerprint=seal.fingerprint,
                          serial_hex=seal.serial_hex, subject=seal.subject, not_before=seal.not_before,
                          not_after=seal.not_after, der=seal.cert_der))
    w.seal = w.keys.signer_for(f"school-{ids['A']}")
    return w


def enter_all(w):
    ids = w.ids
    for code, teacher in (("TOAN", "lan"), ("NV", "minh"), ("TA", "ha")):
        enter_subject_results(w.db, w.actor(teacher), ids["6A1"], ids[f"subj:{code}"], ids["year"],
                              {ids["student0"]: {"term1": S, "term2": S}, ids["student1"]: {"term1": S, "term2": S}},
                              {ids["student0"]: "Tiến bộ tốt"})
    enter_evaluation(w.db, w.actor("lan"), ids["6A1"], ids["year"],
                     {ids["student0"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": 2,
                                        "comment": "Chăm ngoan"},
                      ids["student1"]: {"conduct_term1": "Khá", "conduct_term2": "Tốt", "absent_sessions": 0}})


def confirm_all(w, skip=()):
    for code, teacher in (("TOAN", "lan"), ("NV", "minh"), ("TA", "ha")):
        if code not in skip:
            confirm_subject(w.db, w.actor(teacher), w.ids["6A1"], w.ids[f"subj:{code}"], w.ids["year"],
                            w.signer(teacher))


def issue_all(w):
    enter_all(w)
    confirm_all(w)
    ids = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    for t in ids:
        homeroom_sign(w.db, w.actor("lan"), t, w.signer("lan"))
    result = principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal, class_id=w.ids["6A1"])
    return ids, result


def test_only_the_subject_teacher_enters_and_confirms(school):
    ids = school.ids
    with pytest.raises(PermissionDenied, match="teacher of this subject"):
        enter_subject_results(school.db, school.actor("minh"), ids["6A1"], ids["subj:TOAN"], ids["year"],
                              {ids["student0"]: {"term1": S, "term2": S}})
    with pytest.raises(PermissionDenied):
        enter_evaluation(school.db, school.actor("minh"), ids["6A1"], ids["year"], {ids["student0"]: {}})
    with pytest.raises(InvalidAssessment, match="4 regular assessments are required"):
        enter_subject_results(school.db, school.actor("lan"), ids["6A1"], ids["subj:TOAN"], ids["year"],
                              {ids["student0"]: {"term1": {**S, "regular": ["8"]}, "term2": S}})
    enter_all(school)
    confirm_all(school, skip=("NV", "TA"))
    with pytest.raises(RuleViolation, match="confirmed and signed"):
        enter_subject_results(school.db, school.actor("lan"), ids["6A1"], ids["subj:TOAN"], ids["year"],
                              {ids["student0"]: {"term1": S, "term2": S}})


def test_out_of_order_signing_is_refused(school):
    enter_all(school)
    confirm_all(school, skip=("TA",))
    drafts = prepare_transcripts(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"])
    with pytest.raises(RuleViolation, match="Tiếng Anh"):
        homeroom_sign(school.db, school.actor("lan"), drafts[0], school.signer("lan"))
    batch = principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"), school.seal)
    assert batch.signed == [] and {reason for _, reason in batch.not_signed} == {
        "chưa có chữ ký của giáo viên chủ nhiệm"}
    with pytest.raises(PermissionDenied):
        homeroom_sign(school.db, school.actor("minh"), drafts[0], school.signer("minh"))


def test_batch_issues_and_the_record_verifies(school):
    seen = []
    enter_all(school)
    confirm_all(school)
    drafts = prepare_transcripts(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"])
    homeroom_sign(school.db, school.actor("lan"), drafts[0], school.signer("lan"))
    with pytest.raises(PermissionDenied):
        principal_sign_batch(school.db, school.actor("lan"), school.ids["A"], school.signer("lan"), school.seal)
    with pytest.raises(CertificateNotRegistered, match="seal"):
        principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"),
                             school.signer("binh"))
    batch = principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"),
                                 school.seal, progress=lambda n, total: seen.append((n, total)))
    assert batch.signed == [drafts[0]] and [t for t, _ in batch.not_signed] == [drafts[1]]
    assert seen == [(1, 2), (2, 2)]
    with school.db.reading() as s:
        row = s.get(Transcript, drafts[0])
        code, content = row.verification_code, row.content
    assert row.status == TranscriptStatus.ISSUED
    assert [x["year"] for x in content["subjects"]] == ["7.8", "7.8", "7.8"]
    assert content["subjects"][0]["term1"] == "7.8"
    check = verify_transcript(school.db, school.pki.trust_store(), code=code)
    assert check.current and check.status == "issued", check.report
    assert [s.role for s in check.report.signatures] == ["homeroom", "principal", "seal"]
    assert "personal_id" not in str(check)  # the public answer carries no personal data


def test_issued_transcripts_cannot_change_even_in_the_database(school):
    drafts, _ = issue_all(school)
    with pytest.raises(DBAPIError, match="cannot be changed"):
        with school.db.transaction() as s:
            s.execute(update(Transcript).where(Transcript.id == drafts[0]).values(content={"forged": True}))
    with pytest.raises(DBAPIError, match="cannot be deleted"):
        with school.db.transaction() as s:
            s.execute(text("DELETE FROM transcript WHERE id = :i"), {"i": drafts[0]})


def test_cancel_and_reissue_links_versions(school, trust):
    drafts, _ = issue_all(school)
    with pytest.raises(RuleViolation, match="reason"):
        cancel_and_reissue(school.db, school.actor("binh"), drafts[0], "")
    with pytest.raises((PermissionDenied, NotFound)):
        cancel_and_reissue(school.db, school.actor("lan"), drafts[0], "sai điểm")
    new_id = cancel_and_reissue(school.db, school.actor("binh"), drafts[0], "Sai điểm môn Toán")
    with school.db.reading() as s:
        old, new = s.get(Transcript, drafts[0]), s.get(Transcript, new_id)
        old_code = old.verification_code
    assert (old.status, new.status, new.replaces_id, new.version) == (TranscriptStatus.CANCELLED,
                                                                      TranscriptStatus.DRAFT, old.id, 2)
    check = verify_transcript(school.db, trust, code=old_code)
    assert not check.current and check.status == "cancelled" and check.verdict == "cancelled"
    assert "Sai điểm" not in str(check)              # the school's reason is not for the public
    assert check.replaced_by_code == new.verification_code and new.verification_code in check.message
    with pytest.raises(DBAPIError):  # a cancelled record is frozen too
        with school.db.transaction() as s:
            s.execute(update(Transcript).where(Transcript.id == old.id).values(status="issued"))


def test_tampered_or_unknown_documents(school, trust):
    drafts, _ = issue_all(school)
    with school.db.reading() as s:
        pdf = s.get(Transcript, drafts[0]).document
    assert verify_transcript(school.db, trust, pdf=pdf).current
    bad = bytearray(pdf)
    bad[len(pdf) // 3] ^= 1
    check = verify_transcript(school.db, trust, pdf=bytes(bad))
    assert check.verdict == "altered" and check.matches is False and not check.current
    assert check.report.indication == "FAILED"
    assert not verify_transcript(school.db, trust, code="NOSUCHCODE").found


def test_draft_comments_from_the_logbook_and_figures(school):
    from core.access.authz import SYSTEM
    from core.logbook.entries import EntryContent, fill_entry, generate_week
    from tests.world import MONDAY
    generate_week(school.db, SYSTEM, school.ids["A"], school.ids["week1"])
    fill_entry(school.db, school.actor("lan"), school.entry("6A1", MONDAY, 1),
               EntryContent(lesson_title="Bài 1", student_remarks={school.ids["student0"]: "Em làm bài tốt"}))
    drafts = draft_comments(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"], term=1)
    assert drafts == {school.ids["student0"]: "Em làm bài tốt"}
    enter_all(school)
    confirm_all(school)
    drafts = prepare_transcripts(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"])
    df = issuance_figures(school.db, school.actor("so"), "grade", as_of=dt.date(2026, 8, 1)).set_index("school_code")
    assert df.loc["A01", ["students", "drafts", "issued"]].tolist() == [2, 2, 0]
    assert df.loc["A01", "deadline"] == dt.date(2026, 7, 31) and bool(df.loc["A01", "overdue"]) is True
    for t in drafts:
        homeroom_sign(school.db, school.actor("lan"), t, school.signer("lan"))
    principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"), school.seal)
    df = issuance_figures(school.db, school.actor("so"), "grade", as_of=dt.date(2026, 8, 1)).set_index("school_code")
    assert df.loc["A01", ["students", "issued", "drafts", "cancelled", "issued_rate"]].tolist() == [2, 2, 0, 0, 1.0]
    assert bool(df.loc["A01", "overdue"]) is False
    assert issuance_figures(school.db, school.actor("mon_b"), "school").empty  # other school: nothing


def test_confirming_twice_is_refused_clearly(school):
    enter_all(school)
    confirm_all(school)
    with pytest.raises(RuleViolation, match="already confirmed"):
        confirm_subject(school.db, school.actor("lan"), school.ids["6A1"], school.ids["subj:TOAN"],
                        school.ids["year"], school.signer("lan"))


class Crash(Exception):
    pass


def _crash():
    raise Crash("killed")


class CrashingSigner:
    """The principal's key, stopping at its n-th PDF signature (a batch killed midway): ``stop``
    runs there, by default raising :class:`Crash` (tests/killable_jobs.py waits to be killed)."""

    def __init__(self, signer, fail_at, stop=_crash):
        self._signer, self.calls, self.fail_at, self.stop = signer, 0, fail_at, stop

    def __getattr__(self, name):
        return getattr(self._signer, name)

    def sign_pades_digest(self, digest):
        self.calls += 1
        if self.calls == self.fail_at:
            self.stop()
        return self._signer.sign_pades_digest(digest)


def test_a_batch_stopped_midway_resumes_without_issuing_twice(school, monkeypatch):
    from core.transcripts import workflow

    monkeypatch.setattr(workflow, "CHUNK", 1)
    enter_all(school)
    confirm_all(school)
    drafts = prepare_transcripts(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"])
    workflow.homeroom_sign_class(school.db, school.actor("lan"), school.ids["6A1"], school.ids["year"],
                            school.signer("lan"))
    crashing = CrashingSigner(school.signer("binh"), fail_at=2)
    with pytest.raises(Crash):
        principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], crashing, school.seal)
    with school.db.reading() as s:
        states = [s.get(Transcript, t).status for t in drafts]
        assert states == [TranscriptStatus.ISSUED, TranscriptStatus.HOMEROOM_SIGNED]  # nothing half-done
        first_document = s.get(Transcript, drafts[0]).document
    again = principal_sign_batch(school.db, school.actor("binh"), school.ids["A"], school.signer("binh"),
                                 school.seal)
    assert again.signed == [drafts[1]] and again.not_signed == []
    with school.db.reading() as s:
        assert s.get(Transcript, drafts[0]).document == first_document  # not signed a second time
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "transcript.issue")).all()
    assert sorted(i for e in events for i in e.after["ids"]) == drafts  # each issued once, audited once
