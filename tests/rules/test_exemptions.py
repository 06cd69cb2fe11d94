"""TT22/2021 Art. 10 (exemption from the practical part of GDTC and GDQP-AN) and Art. 11–12
(students with disabilities assessed against their individual education plan; promotion by the
principal's decision), each resting on a recorded decision. Examples are constructed on the
articles' words."""
import datetime as dt
from decimal import Decimal as D

import pytest

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.decisions import DecisionKind, principal_promotion
from core.transcripts.rules.tt22_2021 import Level, Outcome
from core.transcripts.rules.tt22_exemptions import (
    assessments_with_exemption,
    individual_plan,
    learning_level_with_plan,
    plan_result,
    practical_exemption,
    promotion_with_plan,
)

ON = dt.date(2026, 1, 20)


@pytest.mark.parametrize("code,name", [("PT-QPAN", "Giáo dục quốc phòng và an ninh"),
                                       ("CS-GDTC", "Giáo dục thể chất"), ("X-1", "Giáo dục  thể chất")])
def test_the_practical_part_of_gdtc_and_gdqp_an_can_be_exempted(code, name):
    """A grade-10 student with a broken arm, exempted from practice in term 2 by decision
    15/QĐ-THPT: granted, with the number of assessments unchanged (theory replaces practice)."""
    d = practical_exemption(code, name, reason="tai nạn", document_no="15/QĐ-THPT", decided_on=ON, decided_by=7,
                            terms=[2])
    assert (d.kind, d.terms, d.reason, d.document_no) == (DecisionKind.PRACTICAL_EXEMPTION, (2,), "tai nạn",
                                                          "15/QĐ-THPT")
    assert assessments_with_exemption(4, True) == (4, "lí thuyết")
    assert assessments_with_exemption(4, False) == (4, "thực hành và lí thuyết")


@pytest.mark.parametrize("code,name,reason,terms,number,why", [
    ("CS-TOAN", "Toán", "tai nạn", (1,), "1/QĐ", "only the practical part of Giáo dục thể chất"),
    ("CS-NT", "Nghệ thuật", "ốm đau", (1,), "1/QĐ", "only the practical part"),
    ("CS-GDTC", "Giáo dục thể chất", "lười", (1,), "1/QĐ", "illness, disability or an accident"),
    ("CS-GDTC", "Giáo dục thể chất", "ốm đau", (3,), "1/QĐ", "term 1, term 2 or both"),
    ("CS-GDTC", "Giáo dục thể chất", "ốm đau", (), "1/QĐ", "term 1, term 2 or both"),
    ("CS-GDTC", "Giáo dục thể chất", "ốm đau", (1,), "  ", "recorded with its number"),
])
def test_what_cannot_be_exempted(code, name, reason, terms, number, why):
    with pytest.raises(InvalidAssessment, match=why):
        practical_exemption(code, name, reason=reason, document_no=number, decided_on=ON, decided_by=7, terms=terms)


def test_subjects_on_the_individual_plan_are_left_out_of_the_level():
    """8 scored subjects at 7.0 (Khá), two on the plan → Khá on the six left; four on the plan →
    fewer than 6 scored subjects left → no level (data dictionary: cokhuyettatkhongdanhgia)."""
    scored = {f"m{i}": D("7.0") for i in range(8)}
    comments = {"c0": True, "c1": True}
    assert learning_level_with_plan(scored, comments, {"m6", "m7"}) == Level.KHA
    assert learning_level_with_plan(scored, comments, {"m4", "m5", "m6", "m7"}) is None
    # a subject the student cannot follow does not pull the level down: 2.0 in it, on the plan
    weak = {**scored, "m7": D("2.0")}
    assert learning_level_with_plan(weak, comments, set()) == Level.DAT   # Chưa đạt, raised one level (Art. 9.3)
    assert learning_level_with_plan(weak, comments, {"m7"}) == Level.KHA
    # a comment subject on the plan is left out too
    assert learning_level_with_plan(scored, {"c0": False, "c1": True}, {"c0"}) == Level.KHA
    assert plan_result("Đạt", "Toán") is True
    with pytest.raises(InvalidAssessment, match="Đạt or Chưa đạt"):
        plan_result("7.5", "Toán")
    d = individual_plan("CS-TOAN", "Toán", document_no="3/QĐ-KHGDCN", decided_on=ON, decided_by=7)
    assert d.kind == DecisionKind.INDIVIDUAL_PLAN and d.terms == (1, 2)


def test_the_promotion_of_a_student_with_a_plan_is_the_principals_decision():
    assert promotion_with_plan(None).outcome == Outcome.AWAITING_DECISION
    up = principal_promotion("lên lớp", document_no="20/QĐ", decided_on=ON, decided_by=7)
    assert up.outcome == "Lên lớp" and promotion_with_plan(up).outcome == Outcome.PROMOTED
    stay = principal_promotion("Ở lại lớp", document_no="21/QĐ", decided_on=ON, decided_by=7)
    assert promotion_with_plan(stay).outcome == Outcome.NOT_PROMOTED and "21/QĐ" in promotion_with_plan(stay).reason
    with pytest.raises(InvalidAssessment, match="Lên lớp or Ở lại lớp"):
        principal_promotion("Lên lớp có điều kiện", document_no="22/QĐ", decided_on=ON, decided_by=7)
    with pytest.raises(InvalidAssessment, match="the decision's date is a date"):
        principal_promotion("Lên lớp", document_no="22/QĐ", decided_on="2026-06-01", decided_by=7)
