"""TT27/2020 Art. 11: completing the grade, completing primary school in grade 5 (written in the
transcript as "Hoàn thành chương trình tiểu học"), the supplementary assessment after help, and
the principal's decision for a pupil who still has not completed. Examples constructed on the
article's words."""
import datetime as dt

import pytest

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.decisions import principal_promotion
from core.transcripts.rules.tt27_2020 import YearResult, grade_outcome, supplementary_assessment

ON = dt.date(2026, 6, 10)
HT, CHT = YearResult.HOAN_THANH, YearResult.CHUA_HOAN_THANH


@pytest.mark.parametrize("grade,result,grade_done,primary_done", [
    (5, YearResult.HOAN_THANH_XUAT_SAC, True, True),
    (5, YearResult.HOAN_THANH_TOT, True, True),
    (5, "Hoàn thành", True, True),
    (4, YearResult.HOAN_THANH_TOT, True, False),     # completing grade 4 is not completing primary school
    (5, CHT, False, False),
])
def test_completing_the_grade_and_primary_school(grade, result, grade_done, primary_done):
    outcome = grade_outcome(grade, result)
    assert (outcome.completes_grade, outcome.completes_primary) == (grade_done, primary_done)


def test_the_supplementary_assessment_after_help():
    helped = supplementary_assessment("Hoàn thành", decided_on=ON, decided_by=3)
    outcome = grade_outcome(5, CHT, supplementary=helped)
    assert (outcome.completes_grade, outcome.completes_primary, outcome.promoted) == (True, True, True)
    still = supplementary_assessment(CHT, decided_on=ON, decided_by=3)
    assert grade_outcome(3, CHT, supplementary=still).promoted is None          # awaiting the principal


def test_the_principal_decides_for_a_pupil_who_has_not_completed():
    stay = principal_promotion("Ở lại lớp", document_no="40/QĐ-TH", decided_on=ON, decided_by=9)
    up = principal_promotion("Lên lớp", document_no="41/QĐ-TH", decided_on=ON, decided_by=9)
    assert grade_outcome(3, CHT, principal=stay).promoted is False
    assert grade_outcome(3, CHT, principal=up).promoted is True
    # our reading for grade 5: the principal's decision does not complete primary school
    grade5 = grade_outcome(5, CHT, principal=up)
    assert (grade5.completes_grade, grade5.completes_primary, grade5.promoted) == (False, False, True)
    assert "41/QĐ-TH" in grade5.reason


@pytest.mark.parametrize("grade,result", [(6, HT), (0, HT), (True, HT), (5, "Đạt"), (5, None)])
def test_impossible_grades_and_results_are_refused(grade, result):
    with pytest.raises(InvalidAssessment, match="TT27/2020"):
        grade_outcome(grade, result)


def test_a_supplementary_assessment_gives_a_year_result():
    with pytest.raises(InvalidAssessment, match="a year result is"):
        supplementary_assessment("Tốt", decided_on=ON, decided_by=3)
