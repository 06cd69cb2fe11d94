"""TT27/2020 with every worked example of the year result (P1–P10), plus edges."""
import pytest

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.tt27_2020 import (
    COMPETENCES,
    QUALITIES,
    QualityRating,
    SubjectRating,
    YearResult,
    commendation,
    completes_grade,
    subjects_with_tests,
    validate_test_score,
    year_result,
)

T_SUBJ = ["TV", "TOAN", "NN", "LSDL", "KH", "TINCN", "DD", "GDTC", "AN", "MT", "HDTN"]
TESTED = ["TV", "TOAN", "NN", "LSDL", "KH", "TINCN"]
ST, SH, SC = SubjectRating.HOAN_THANH_TOT, SubjectRating.HOAN_THANH, SubjectRating.CHUA_HOAN_THANH
QT, QD, QC = QualityRating.TOT, QualityRating.DAT, QualityRating.CAN_CO_GANG


def ratings(default=ST, **overrides):
    return {s: overrides.get(s, default) for s in T_SUBJ}


def qualities(default=QT, **overrides):
    names = [*QUALITIES, *COMPETENCES]
    return {n: overrides.get(n.replace(" ", "_"), default) for n in names}


def scores_of(*scores):
    return dict(zip(TESTED, scores))


HTXS, HTT, HT, CHT = (YearResult.HOAN_THANH_XUAT_SAC, YearResult.HOAN_THANH_TOT, YearResult.HOAN_THANH,
                      YearResult.CHUA_HOAN_THANH)


@pytest.mark.parametrize("name,subj,qual,scores,expected", [
    ("P1", ratings(), qualities(), scores_of(10, 9, 10, 9, 9, 10), HTXS),
    ("P2", ratings(), qualities(), scores_of(10, 8, 10, 9, 9, 10), HTT),
    ("P3", ratings(AN=SH), qualities(), scores_of(10, 10, 10, 10, 10, 10), HT),
    ("P4", ratings(), qualities(ngôn_ngữ=QD), scores_of(10, 10, 10, 10, 10, 10), HT),
    ("P5", ratings(), qualities(), scores_of(7, 7, 7, 7, 7, 7), HTT),
    ("P6", ratings(), qualities(), scores_of(10, 6, 10, 10, 10, 10), HT),
    ("P7", ratings(), qualities(), scores_of(10, 4, 10, 10, 10, 10), CHT),
    ("P8", ratings(KH=SC), qualities(), scores_of(10, 10, 10, 10, 10, 10), CHT),
    ("P9", ratings(SH), qualities(chăm_chỉ=QC), scores_of(8, 8, 8, 8, 8, 8), CHT),
    ("P10", ratings(), qualities(), {"TV": 9, "TOAN": 9}, HTXS),
])
def test_year_result_worked_examples(name, subj, qual, scores, expected):
    assert year_result(subj, qual, scores) == expected, name


@pytest.mark.parametrize("score,expected", [(9, HTXS), (8, HTT), (7, HTT), (6, HT), (5, HT), (4, CHT)])
def test_score_thresholds(score, expected):
    assert year_result(ratings(), qualities(), scores_of(10, 10, 10, 10, 10, score)) == expected


def test_scores_are_whole_numbers_0_to_10():
    assert validate_test_score(0) == 0 and validate_test_score(10) == 10 and validate_test_score("9") == 9
    for bad in (11, -1, 8.5, "8,5", True, None, float("nan"), "chín"):
        with pytest.raises(InvalidAssessment, match="TT27/2020 Art. 7: a primary test score is a whole number"):
            validate_test_score(bad)


def test_commendation_and_completion():
    assert commendation(HTXS) == "Học sinh Xuất sắc"
    assert commendation(HTT) is None
    assert commendation(HTT, nominated_exemplary=True).startswith("Học sinh Tiêu biểu")
    assert completes_grade(HT) and not completes_grade(CHT)


def test_which_tests_exist():
    assert subjects_with_tests(2) == ("TH-TV", "TH-TOAN")
    assert len(subjects_with_tests(4)) == 6 and subjects_with_tests(4, mid_term=True) == ("TH-TV", "TH-TOAN")
    assert subjects_with_tests(3, mid_term=True) == ()
