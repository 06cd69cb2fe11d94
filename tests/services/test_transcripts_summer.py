"""The summer (TT22/2021 Art. 13, 14) and the principal's decisions (Art. 10–12) through the
services, on both databases: a student who fails two subjects is re-assessed in the summer, the
issued transcript is cancelled and re-issued with the new result (a draft is withdrawn and
prepared again); what may not be re-assessed stores nothing; an individual education plan takes
a subject out of the level; an exemption is recorded and shown."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.kernel.errors import InvalidAssessment, PermissionDenied, RuleViolation
from core.kernel.vocabulary import TranscriptStatus
from core.storage.models import AssessmentDecision, StudentEvaluation, SubjectResult, Transcript
from core.transcripts.gradebook import (
    confirm_subject,
    enter_evaluation,
    enter_subject_results,
    enter_summer_conduct,
    enter_summer_results,
    record_decision,
)
from core.transcripts.workflow import cancel_and_reissue, homeroom_sign, prepare_transcripts, principal_sign_batch
from tests.services.transcripts_school import COMMENT, LOW, SCORED, TEACHERS, audits, count, full_class, year_of

SUMMARY_OUTCOME = "Lên lớp / rèn luyện hè / kiểm tra lại"


@pytest.fixture
def school(world):
    return full_class(world)


def fill(w, *, low=("TOAN", "NV"), conduct=("Tốt", "Tốt"), plan=()):
    """Student 0 scores 3.0 in the ``low`` subjects (learning Chưa đạt: two below 3.5, so no
    one-subject adjustment), 7.8 elsewhere; student 1 7.8 everywhere (Khá); GDTC Đạt."""
    ids = w.ids
    for code in (*SCORED, "GDTC"):
        first = {"plan": "Đạt"} if code in plan else year_of(code, COMMENT if code == "GDTC" else
                                                             LOW if code in low else None)
        enter_subject_results(w.db, w.actor(TEACHERS[code]), ids["6A1"], ids[f"subj:{code}"], ids["year"],
                              {ids["student0"]: first,
                               ids["student1"]: year_of(code, COMMENT if code == "GDTC" else None)})
    enter_evaluation(w.db, w.actor("lan"), ids["6A1"], ids["year"],
                     {ids["student0"]: {"conduct_term1": conduct[0], "conduct_term2": conduct[1]},
                      ids["student1"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt"}})


def issue(w):
    for code in (*SCORED, "GDTC"):
        confirm_subject(w.db, w.actor(TEACHERS[code]), w.ids["6A1"], w.ids[f"subj:{code}"], w.ids["year"],
                        w.signer(TEACHERS[code]))
    drafts = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    for t in drafts:
        homeroom_sign(w.db, w.actor("lan"), t, w.signer("lan"))
    principal_sign_batch(w.db, w.actor("binh"), w.ids["A"], w.signer("binh"), w.seal, class_id=w.ids["6A1"])
    return drafts


def summary(w, transcript_id):
    with w.db.reading() as s:
        return dict(map(tuple, s.get(Transcript, transcript_id).content["summary"]))


def retest(w, code, results):
    return enter_summer_results(w.db, w.actor(TEACHERS[code]), w.ids["6A1"], w.ids[f"subj:{code}"], w.ids["year"],
                                results)


def test_a_summer_retest_re_issues_the_transcript(school):
    w = school
    ids = w.ids
    fill(w)
    drafts = issue(w)
    mine = drafts[0]
    assert summary(w, mine)[SUMMARY_OUTCOME] == "Kiểm tra, đánh giá lại trong hè"
    assert summary(w, mine)["Kết quả học tập cả năm"] == "Chưa đạt"
    effect = retest(w, "TOAN", {ids["student0"]: "5,0"})
    assert (effect.stored, effect.withdrawn, effect.to_reissue) == (1, [], [mine])
    retest(w, "NV", {ids["student0"]: "5.0"})
    new_id = cancel_and_reissue(w.db, w.actor("binh"), mine, "Kết quả kiểm tra lại trong hè")
    after = summary(w, new_id)
    assert after["Kết quả học tập sau kiểm tra lại"] == "Khá" and after[SUMMARY_OUTCOME] == "Lên lớp"
    assert after["Kết quả học tập cả năm"] == "Chưa đạt"          # the year's result stays on record
    with w.db.reading() as s:
        new = s.get(Transcript, new_id)
        lines = {x["code"]: x for x in new.content["subjects"]}
        old_status = s.get(Transcript, mine).status
    assert (lines["TOAN"]["year"], lines["TOAN"]["summer"], lines["NV"]["summer"]) == ("3.0", "5.0", "5.0")
    assert "summer" not in lines["TA"] and (old_status, new.version) == (TranscriptStatus.CANCELLED, 2)


def test_a_failed_retest_means_repeating_the_grade(school):
    w = school
    fill(w)
    drafts = issue(w)
    # 4.0 and 3.4: one below 5.0, one below 3.5 — Chưa đạt, and no single subject to adjust for
    # (with 6.0 instead of 4.0 the Art. 9.3 adjustment would raise it to Đạt)
    retest(w, "TOAN", {w.ids["student0"]: "4"})
    retest(w, "NV", {w.ids["student0"]: "3.4"})
    new_id = cancel_and_reissue(w.db, w.actor("binh"), drafts[0], "Kết quả kiểm tra lại trong hè")
    assert summary(w, new_id)[SUMMARY_OUTCOME] == "Ở lại lớp"


def test_a_summer_result_withdraws_a_draft_that_is_prepared_again(school):
    w = school
    ids = w.ids
    fill(w)
    drafts = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    effect = retest(w, "TOAN", {ids["student0"]: "5.5"})
    assert effect.withdrawn == [drafts[0]] and effect.to_reissue == [] and audits(w, "transcript.withdraw") == 1
    with w.db.reading() as s:
        assert s.get(Transcript, drafts[0]) is None
    again = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    assert len(again) == 1
    with w.db.reading() as s:
        lines = {x["code"]: x for x in s.get(Transcript, again[0]).content["subjects"]}
    assert lines["TOAN"]["summer"] == "5.5"


@pytest.mark.parametrize("code,who,value,says", [
    ("TA", "student0", "6.0", "in the subjects below 5.0"),           # 7.8: not re-assessed
    ("TOAN", "student1", "6.0", "in the subjects below 5.0"),         # a student at Khá: not re-assessed
    ("TOAN", "student0", "10.5", "10-point scale"),
    ("TOAN", "student0", None, "10-point scale"),
    ("GDTC", "student0", "Đạt", "in the subjects below 5.0"),         # a comment subject at Đạt
])
def test_what_may_not_be_re_assessed_stores_nothing(school, code, who, value, says):
    w = school
    fill(w)
    issue(w)
    with pytest.raises(InvalidAssessment, match=says) as caught:
        retest(w, code, {w.ids["student0"]: "5.0", w.ids[who]: value} if who != "student0" else {w.ids[who]: value})
    assert caught.value.student is not None and caught.value.message_vi
    assert count(w, SubjectResult, SubjectResult.summer_value.is_not(None)) == 0
    assert audits(w, "gradebook.summer_retest") == 0
    with w.db.reading() as s:
        assert {t.status for t in s.scalars(select(Transcript))} == {TranscriptStatus.ISSUED}


def test_summer_training_then_the_subjects(school):
    """L5: conduct and learning Chưa đạt → training first; the re-assessed conduct (Đạt) opens
    the subjects' re-assessment; the homeroom teacher enters only for a trained student."""
    w = school
    ids = w.ids
    fill(w, conduct=("Đạt", "Chưa đạt"))
    drafts = issue(w)
    assert summary(w, drafts[0])[SUMMARY_OUTCOME] == "Rèn luyện trong hè"
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 14"):          # train first
        retest(w, "TOAN", {ids["student0"]: "5.0"})
    with pytest.raises(InvalidAssessment, match="only after summer training"):  # student 1 was not trained
        enter_summer_conduct(w.db, w.actor("lan"), ids["6A1"], ids["year"], {ids["student1"]: "Tốt"})
    with pytest.raises(PermissionDenied):
        enter_summer_conduct(w.db, w.actor("minh"), ids["6A1"], ids["year"], {ids["student0"]: "Đạt"})
    assert count(w, StudentEvaluation, StudentEvaluation.conduct_summer.is_not(None)) == 0
    effect = enter_summer_conduct(w.db, w.actor("lan"), ids["6A1"], ids["year"], {ids["student0"]: "Đạt"})
    assert effect.to_reissue == [drafts[0]]
    retest(w, "TOAN", {ids["student0"]: "5.0"})
    retest(w, "NV", {ids["student0"]: "5.0"})
    new_id = cancel_and_reissue(w.db, w.actor("binh"), drafts[0], "Kết quả rèn luyện và kiểm tra lại trong hè")
    after = summary(w, new_id)
    assert after["Kết quả rèn luyện sau rèn luyện hè"] == "Đạt" and after[SUMMARY_OUTCOME] == "Lên lớp"


def test_primary_pupils_have_no_summer_re_assessment(school):
    w = school
    fill(w)
    with w.db.transaction() as s:
        from core.storage.models import SchoolClass
        s.get(SchoolClass, w.ids["6A1"]).grade = 5
    with pytest.raises(RuleViolation, match="supplementary assessment"):
        retest(w, "TOAN", {w.ids["student0"]: "5"})


# ---------------------------------------------------------------- the principal's decisions
ON = dt.date(2025, 9, 15)


def test_an_individual_plan_takes_the_subject_out_of_the_level(school):
    w = school
    ids = w.ids
    decide = dict(document_no="12/QĐ-THCS", decided_on=ON)
    with pytest.raises(PermissionDenied):            # a teacher does not decide
        record_decision(w.db, w.actor("lan"), ids["student0"], ids["year"], "individual_plan",
                        subject_id=ids["subj:TOAN"], **decide)
    with pytest.raises(InvalidAssessment, match="names its subject"):
        record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "individual_plan", **decide)
    with pytest.raises(InvalidAssessment, match="recorded with its number"):
        record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "individual_plan",
                        subject_id=ids["subj:TOAN"], document_no="", decided_on=ON)
    assert count(w, AssessmentDecision) == 0
    record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "individual_plan",
                    subject_id=ids["subj:TOAN"], **decide)
    # student 0's Toán is now assessed against the plan: a score shape is refused, nothing stored
    with pytest.raises(InvalidAssessment, match="the parts are plan"):
        enter_subject_results(w.db, w.actor("lan"), ids["6A1"], ids["subj:TOAN"], ids["year"],
                              {ids["student0"]: year_of("TOAN")})
    assert count(w, SubjectResult) == 0
    fill(w, low=(), plan=("TOAN",))
    drafts = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    with w.db.reading() as s:
        content = s.get(Transcript, drafts[0]).content
    lines = {x["code"]: x for x in content["subjects"]}
    assert lines["TOAN"]["individual_plan"] and lines["TOAN"]["year"] == "Đạt"
    assert dict(map(tuple, content["summary"]))["Kết quả học tập cả năm"] == "Khá"   # seven subjects at 7.8
    assert dict(map(tuple, content["summary"]))[SUMMARY_OUTCOME] == "Chờ hiệu trưởng quyết định"
    assert "12/QĐ-THCS" in content["notes"][0] and "Toán" in content["notes"][0]
    record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "promotion", outcome="Lên lớp",
                    document_no="30/QĐ-THCS", decided_on=dt.date(2026, 6, 1))
    new = cancel_and_reissue_draft(w, drafts[0])
    assert new[SUMMARY_OUTCOME] == "Lên lớp"


def cancel_and_reissue_draft(w, transcript_id):
    """A draft is not issued: the homeroom teacher prepares it again (delete, prepare)."""
    with w.db.transaction() as s:
        s.delete(s.get(Transcript, transcript_id))
    again = prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    return summary(w, again[0])


def test_a_practical_exemption_is_recorded_and_shown(school):
    w = school
    ids = w.ids
    with pytest.raises(InvalidAssessment, match="only the practical part") as caught:
        record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "practical_exemption",
                        subject_id=ids["subj:TOAN"], reason="tai nạn", document_no="8/QĐ", decided_on=ON, terms=[2])
    assert caught.value.student == ids["student0"] and count(w, AssessmentDecision) == 0
    with pytest.raises(InvalidAssessment, match="a decision is an exemption"):
        record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "holiday", document_no="8/QĐ",
                        decided_on=ON)
    record_decision(w.db, w.actor("binh"), ids["student0"], ids["year"], "practical_exemption",
                    subject_id=ids["subj:GDTC"], reason="tai nạn", document_no="8/QĐ", decided_on=ON, terms=[2])
    fill(w, low=())
    drafts = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    with w.db.reading() as s:
        content = s.get(Transcript, drafts[0]).content
    assert content["notes"] == ["Miễn học phần thực hành: Giáo dục thể chất, học kì 2 (quyết định số 8/QĐ, "
                                "ngày 15/09/2025)"]
    assert audits(w, "gradebook.decision") == 1
