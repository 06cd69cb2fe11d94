"""TT22/2021 Art. 5–7 and 12 with worked examples: how many assessments a term (Art. 6), a missed
periodic assessment with or without its make-up test (Art. 7), comment-only terms, the sessions
absent counted from the logbook (Art. 12), and the Art. 9.3 reading for a student with only six
scored subjects. Examples marked "constructed" are ours, built on the article's words; the
others are from the texts or their official restatements."""
from decimal import Decimal as D

import pytest

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.tt22_2021 import (
    AbsenceReading,
    AdjustmentReading,
    Level,
    Missed,
    base_learning_level,
    comment_subject_year,
    comment_term,
    learning_level,
    periodic_comment,
    periodic_score,
    regular_assessments_per_term,
    scored_term,
    sessions_absent,
)

E1 = {"regular": ["8", "7.5", "9", "6"], "mid": "7", "final": "8.5"}   # ĐTBmhk 7.8


@pytest.mark.parametrize("name,periods,comment_only,count", [
    ("Toán THCS", 140, False, 4), ("Ngoại ngữ 1", 105, False, 4), ("Công nghệ 8", 52, False, 3),
    ("Vật lí THPT", 70, False, 3), ("GDCD", 35, False, 2), ("GDQP-AN", 35, False, 2),
    ("GDTC (comments)", 70, True, 2), ("HĐTN-HN (comments)", 105, True, 2),
])
def test_regular_assessments_by_yearly_periods(name, periods, comment_only, count):
    """Art. 6.2: 35 periods or fewer → 2; more than 35 up to 70 → 3; more than 70 → 4; a
    comment-only subject → 2 whatever its periods (the derived table of the 2018 curriculum)."""
    assert regular_assessments_per_term(periods, comment_only=comment_only) == count, name


def test_the_required_number_is_enforced():
    assert scored_term(E1, 4) == D("7.8")
    with pytest.raises(InvalidAssessment, match="4 regular assessments are required per term; got 3"):
        scored_term({**E1, "regular": E1["regular"][:3]}, 4)
    with pytest.raises(InvalidAssessment, match="got 5"):
        scored_term({**E1, "regular": [*E1["regular"], "8"]}, 4)


@pytest.mark.parametrize("name,mid,final,expected", [
    # constructed on E1: the make-up test counts as the assessment it replaces
    ("mid made up at 7", Missed("7"), "8.5", "7.8"),
    ("mid made up, given as submitted", {"missed": True, "makeup": "7,0"}, "8.5", "7.8"),
    # no make-up: 0 for that assessment — (30.5 + 2·0 + 3·8.5) / 9 = 56 / 9 = 6.22… → 6.2
    ("mid missed, no make-up", Missed(), "8.5", "6.2"),
    # (30.5 + 2·7 + 3·0) / 9 = 44.5 / 9 = 4.94… → 4.9: the end-of-term weighs triple
    ("final missed, no make-up", "7", {"missed": True}, "4.9"),
])
def test_a_missed_periodic_assessment_and_its_make_up(name, mid, final, expected):
    assert scored_term({**E1, "mid": mid, "final": final}, 4) == D(expected), name


def test_a_make_up_score_is_checked_like_any_score():
    with pytest.raises(InvalidAssessment, match=r"got 10.5 for mid-term, make-up"):
        scored_term({**E1, "mid": Missed("10.5")}, 4)
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 7"):
        periodic_score({"missed": True, "score": "7"})          # a misspelt make-up is not ignored
    assert periodic_score("6,5") == D("6.5") and periodic_comment(Missed("Đạt")) is True


def test_comment_only_terms():
    """Art. 9.1.a with the example of the regulation's restatements: term I TX Đ, TX CĐ, GK Đ,
    CK Đ → Chưa đạt; term II all Đ → Đạt; the year is term II: Đạt."""
    term1 = comment_term({"regular": ["Đạt", "Chưa đạt"], "mid": "Đạt", "final": "Đạt"})
    term2 = comment_term(["Đ", "Đ", "Đ", "Đ"])
    assert (term1, term2, comment_subject_year(term2)) == (False, True, True)
    # constructed: a missed end-of-term assessment without make-up makes the term Chưa đạt (Art. 7)
    assert comment_term({"regular": ["Đạt", "Đạt"], "mid": "Đạt", "final": Missed()}) is False
    assert comment_term({"regular": ["Đạt", "Đạt"], "mid": "Đạt", "final": Missed("Đạt")}) is True
    with pytest.raises(InvalidAssessment, match="4 assessments a term: 2 regular, 1 mid-term, 1 end-of-term"):
        comment_term([True, True, True])
    with pytest.raises(InvalidAssessment, match="2 regular assessments are required"):
        comment_term({"regular": ["Đạt"], "mid": "Đạt", "final": "Đạt"})


def test_sessions_absent_from_the_logbook():
    """Art. 12.1.c (constructed): absent from 5 of 5 periods on Monday, 2 of 5 on Tuesday, 4 of
    4 on Wednesday → 2 sessions (the default, a whole session) or 3 (any period)."""
    days = [(5, 5), (5, 2), (4, 4)]
    assert sessions_absent(days) == 2
    assert sessions_absent(days, reading=AbsenceReading.ANY_PERIOD) == 3
    assert sessions_absent([]) == 0
    for bad in ([(5, 6)], [(5, 0)], [("5", 5)]):
        with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 12"):
            sessions_absent(bad)


SIX = {"m0": "8.0", "m1": "8.0", "m2": "8.0", "m3": "8.0", "m4": "8.0", "m5": "4.0"}


def test_art_9_3_for_a_student_with_only_six_scored_subjects():
    """Constructed (fixture F17): six scored subjects 8.0 ×5 and 4.0, comments Đ. Base level:
    only five subjects ≥ 5.0 → Chưa đạt. Removal reading (default): without the 4.0 subject five
    remain, and "at least 6" fails at every level → no adjustment, Chưa đạt. Repair reading: the
    subject as if it met the thresholds → Tốt, three levels above → adjusted to Đạt."""
    comments = {"c0": True, "c1": True}
    assert base_learning_level(SIX, comments) == Level.CHUA_DAT
    assert learning_level(SIX, comments) == Level.CHUA_DAT
    assert learning_level(SIX, comments, reading=AdjustmentReading.REPAIR) == Level.DAT
