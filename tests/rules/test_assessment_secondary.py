"""TT22/2021 with every worked example of the rules (averages, levels, titles, promotion), plus threshold edges."""
from decimal import Decimal as D

import pytest

from core.transcripts.rules.tt22_2021 import (
    AdjustmentReading,
    Level,
    Missed,
    Outcome,
    Title,
    base_learning_level,
    comment_subject_term,
    comment_subject_year,
    conduct_year,
    learning_level,
    promotion,
    regular_assessments_per_term,
    retest_subjects,
    round_score,
    term_average,
    title,
    year_average,
)
from core.transcripts.rules.tt22_summer import after_summer

T, K, DA, CD = Level.TOT, Level.KHA, Level.DAT, Level.CHUA_DAT


@pytest.mark.parametrize("periods,count", [(35, 2), (34, 2), (36, 3), (52, 3), (70, 3), (71, 4), (105, 4), (140, 4)])
def test_regular_assessments_by_periods(periods, count):
    assert regular_assessments_per_term(periods) == count


@pytest.mark.parametrize("name,regular,mid,final,expected", [
    ("E1", ["8", "7.5", "9", "6"], "7", "8.5", "7.8"),
    ("E2", ["6", "7", "8"], "6.5", "7", "6.9"),
    ("E3", ["9", "10"], "8", "9", "8.9"),
    ("E4", ["6.0", "6.4", "6.4"], "6.5", "6.6", "6.5"),
    ("E5", ["6", "6", "6"], "7", "6", "6.3"),
    ("E6", ["3", "3", "3.4"], "3.5", "4", "3.6"),
    ("E7", ["4", "4", "4.6"], "4.5", "6", "5.0"),
    ("E8", ["5.9", "5.1", "4.9"], "6.2", "5.2", "5.5"),
    ("E9", ["8", "8", "8", "8.5"], "8", "8", "8.1"),
    ("E10", ["7.9", "8", "8"], "8", "8.1", "8.0"),
])
def test_term_average_worked_examples(name, regular, mid, final, expected):
    assert term_average(regular, mid, final) == D(expected), name


def test_floats_would_get_the_ties_wrong_and_we_do_not():
    assert round((6.0 + 6.4 + 6.4 + 2 * 6.5 + 3 * 6.6) / 8, 1) == 6.4  # binary floats get E4 wrong
    assert term_average([6.0, 6.4, 6.4], 6.5, 6.6) == D("6.5")  # even when given floats
    assert round_score(D("3.55")) == D("3.6") and round_score(D("3.549")) == D("3.5")


@pytest.mark.parametrize("name,hk1,hk2,expected", [
    ("Y1", "6.0", "7.0", "6.7"), ("Y2", "7.8", "8.1", "8.0"), ("Y3", "4.9", "5.0", "5.0"),
    ("Y4", "6.5", "6.4", "6.4"), ("Y5", "9.0", "8.9", "8.9"), ("Y6", "8.9", "9.0", "9.0"),
    ("Y7", "3.2", "3.6", "3.5"),
])
def test_year_average_worked_examples(name, hk1, hk2, expected):
    assert year_average(hk1, hk2) == D(expected), name


def subjects(*values):
    return {f"m{i}": D(str(v)) for i, v in enumerate(values)}


def comments(*flags):
    return {f"c{i}": f for i, f in enumerate(flags)}


OK4 = comments(True, True, True, True)
LEVEL_CASES = [
    ("F1", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 6.5, 7.0), OK4, T, T),
    ("F2", subjects(8.0, 8.5, 9.0, 8.2, 7.9, 8.1, 6.5, 7.0), OK4, K, K),
    ("F3", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 6.4, 7.0), OK4, K, K),
    ("F4", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 4.0, 7.0), OK4, DA, K),
    ("F5", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 3.4, 7.0), OK4, CD, DA),
    ("F6", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 7.5, 7.0), comments(True, True, True, False), DA, K),
    ("F7", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 7.5, 7.0), comments(True, True, False, False), CD, CD),
    ("F8", subjects(7.0, 6.5, 6.8, 7.2, 6.6, 6.9, 5.0, 5.5), OK4, K, K),
    ("F9", subjects(7.0, 6.5, 6.8, 7.2, 6.6, 6.9, 3.0, 5.5), OK4, CD, DA),
    ("F10", subjects(7.0, 6.5, 6.8, 7.2, 6.6, 6.9, 4.9, 5.5), OK4, DA, DA),
    ("F11", subjects(8.0, 8.5, 9.0, 8.2, 8.0, 8.1, 4.0, 4.5), OK4, DA, DA),
    ("F12", subjects(5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 3.5, 3.5), OK4, DA, DA),
    ("F13", subjects(5.0, 5.0, 5.0, 5.0, 5.0, 4.9, 3.5, 4.0), OK4, CD, CD),
    ("F14", subjects(8.0, 8.0, 8.0, 8.0, 8.0, 7.9, 4.0, 7.0), OK4, DA, DA),
    ("F15", subjects(*[6.4] * 8), OK4, DA, DA),
    ("F16", subjects(9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 3.4, 9.0), comments(True, True, True, False), CD, CD),
]


@pytest.mark.parametrize("name,scored,comm,base,adjusted", LEVEL_CASES)
def test_learning_level_worked_examples(name, scored, comm, base, adjusted):
    assert base_learning_level(scored, comm) == base, name
    assert learning_level(scored, comm) == adjusted, name


def test_f14_the_two_readings_differ():
    scored, comm = LEVEL_CASES[13][1], OK4
    assert learning_level(scored, comm, reading=AdjustmentReading.REMOVAL) == DA
    assert learning_level(scored, comm, reading=AdjustmentReading.REPAIR) == K


def test_f6_when_comment_subjects_cannot_be_the_one_subject():
    assert learning_level(LEVEL_CASES[5][1], LEVEL_CASES[5][2], comment_subjects_count=False) == DA


@pytest.mark.parametrize("low,level", [("6.5", T), ("6.4", K), ("5.0", K), ("4.9", DA)])
def test_thresholds_are_inclusive(low, level):
    assert base_learning_level(subjects(8, 8, 8, 8, 8, 8, 8, low), OK4) == level


def test_comment_subject_terms_and_year():
    hk1 = comment_subject_term([True, False, True, True], required=4)
    hk2 = comment_subject_term([True, True, True, True], required=4)
    assert (hk1, hk2, comment_subject_year(hk2)) == (False, True, True)
    assert comment_subject_term([True, True, Missed(), True], required=4) is False  # missed, no make-up
    assert comment_subject_term([True, True, Missed("Đạt"), True], required=4) is True  # made up


@pytest.mark.parametrize("hk1,hk2,year", [
    (T, T, T), (K, T, T), (DA, T, K), (CD, T, K), (T, K, K), (K, K, K), (DA, K, K), (CD, K, DA),
    (T, DA, K), (K, DA, DA), (DA, DA, DA), (CD, DA, DA), (T, CD, CD), (K, CD, CD), (DA, CD, CD), (CD, CD, CD),
])
def test_conduct_year_matrix(hk1, hk2, year):
    assert conduct_year(hk1, hk2) == year


def test_titles():
    nine = subjects(9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 8.0, 8.5)
    assert title(T, T, nine) == Title.XUAT_SAC                                      # X1
    assert title(T, T, subjects(9.0, 9.0, 9.0, 9.0, 9.0, 8.9, 8.0, 8.5)) == Title.GIOI  # X2
    assert title(K, T, nine) is None                                                 # X3
    assert title(T, learning_level(LEVEL_CASES[3][1], OK4), nine) is None            # X4: learning Khá


def test_promotion_worked_examples():
    assert promotion(DA, DA, 45).outcome == Outcome.PROMOTED                          # L1
    assert promotion(T, T, 46).outcome == Outcome.NOT_PROMOTED                        # L2
    l3 = subjects(7.0, 6.5, 6.0, 5.5, 5.0, 5.2, 4.8, 3.0)
    decision = promotion(T, learning_level(l3, OK4), 10, l3, OK4)                     # L3
    assert decision.outcome == Outcome.SUMMER_RETEST and decision.retest == ("m6", "m7")
    assert after_summer(T, l3, OK4, {"m6": "5.6", "m7": "4.0"}, 10).outcome == Outcome.PROMOTED
    assert after_summer(T, l3, OK4, {"m6": "5.6", "m7": "3.4"}, 10).outcome == Outcome.NOT_PROMOTED
    assert promotion(CD, K, 5).outcome == Outcome.SUMMER_TRAINING                      # L4
    l4 = subjects(7, 7, 7, 7, 7, 7, 7, 7)
    assert after_summer(DA, l4, OK4, {}, 5).outcome == Outcome.PROMOTED
    assert after_summer(CD, l4, OK4, {}, 5).outcome == Outcome.NOT_PROMOTED
    l5 = subjects(7.0, 6.5, 6.0, 5.5, 5.0, 5.2, 4.8, 3.0)                             # L5
    assert promotion(CD, CD, 5, l5, OK4).outcome == Outcome.SUMMER_TRAINING
    assert after_summer(DA, l5, OK4, {}, 5).outcome == Outcome.SUMMER_RETEST


def test_retest_lists_every_subject_below_5_and_every_failed_comment():
    assert retest_subjects(subjects(4.5, 3.2, 5.0), comments(True, False)) == ["c1", "m0", "m1"]
