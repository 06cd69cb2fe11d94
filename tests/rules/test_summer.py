"""TT22/2021 Art. 12–14: summer conduct training and summer re-assessment, with the promotion
worked examples L3–L5, what may and may not be re-assessed, and what the summer does to a
transcript already made (re-issued if issued, prepared again if not)."""
from decimal import Decimal as D

import pytest

from core.kernel.errors import InvalidAssessment
from core.kernel.vocabulary import TranscriptStatus
from core.transcripts.rules.tt22_2021 import Level, Outcome, learning_level, promotion
from core.transcripts.rules.tt22_summer import (
    TranscriptAction,
    after_summer,
    conduct_after_training,
    training_required,
    transcript_after_summer,
    year_after_summer,
)

T, K, DA, CD = Level.TOT, Level.KHA, Level.DAT, Level.CHUA_DAT
L3 = {f"m{i}": D(v) for i, v in enumerate(["7.0", "6.5", "6.0", "5.5", "5.0", "5.2", "4.8", "3.0"])}
OK4 = {f"c{i}": True for i in range(4)}
L4 = {f"m{i}": D("7.0") for i in range(8)}


def test_l3_retest_replaces_the_year_results_and_decides_again():
    """L3: learning Chưa đạt (4.8 and 3.0) → the two subjects below 5.0 are re-assessed;
    5.6 and 4.0 → Đạt → promoted; 5.6 and 3.4 → Chưa đạt → repeats the grade."""
    assert promotion(T, learning_level(L3, OK4), 10, L3, OK4).retest == ("m6", "m7")
    passed = year_after_summer(T, L3, OK4, {"m6": "5,6", "m7": "4.0"}, 10)
    assert (passed.learning, passed.decision.outcome, passed.replaced) == (DA, Outcome.PROMOTED, ("m6", "m7"))
    assert passed.scored["m6"] == D("5.6") and passed.scored["m7"] == D("4.0")
    failed = year_after_summer(T, L3, OK4, {"m6": "5.6", "m7": "3.4"}, 10)
    assert (failed.learning, failed.decision.outcome) == (CD, Outcome.NOT_PROMOTED)
    # one of the two still to come: waiting, not failed
    waiting = year_after_summer(T, L3, OK4, {"m6": "5.6"}, 10)
    assert (waiting.decision.outcome, waiting.decision.retest) == (Outcome.SUMMER_RETEST, ("m7",))


def test_l4_training_and_the_re_assessed_conduct():
    """L4: conduct Chưa đạt, learning Khá → summer training; completed and re-assessed Đạt →
    promoted; not completed (nothing re-assessed, the summer over) → repeats the grade."""
    assert training_required(CD) and not training_required(DA)
    assert promotion(CD, K, 5).outcome == Outcome.SUMMER_TRAINING
    assert year_after_summer(CD, L4, OK4, {}, 5, reassessed_conduct="Đạt").decision.outcome == Outcome.PROMOTED
    assert year_after_summer(CD, L4, OK4, {}, 5).decision.outcome == Outcome.SUMMER_TRAINING   # summer not over
    assert year_after_summer(CD, L4, OK4, {}, 5, summer_over=True).decision.outcome == Outcome.NOT_PROMOTED
    assert after_summer(DA, L4, OK4, {}, 5).outcome == Outcome.PROMOTED
    assert after_summer(CD, L4, OK4, {}, 5).outcome == Outcome.NOT_PROMOTED


def test_l5_training_first_then_the_subjects():
    """L5 (our reading of the order): conduct and learning Chưa đạt → training first; conduct
    re-assessed Đạt → the subjects below 5.0 are re-assessed next; passed → promoted."""
    assert promotion(CD, CD, 5, L3, OK4).outcome == Outcome.SUMMER_TRAINING
    trained = year_after_summer(CD, L3, OK4, {}, 5, reassessed_conduct="Đạt")
    assert trained.decision.outcome == Outcome.SUMMER_RETEST and trained.decision.retest == ("m6", "m7")
    done = year_after_summer(CD, L3, OK4, {"m6": "5.0", "m7": "5.0"}, 5, reassessed_conduct="Đạt")
    assert (done.conduct, done.decision.outcome) == (DA, Outcome.PROMOTED)
    assert after_summer(DA, L3, OK4, {}, 5).outcome == Outcome.SUMMER_RETEST


def test_absences_over_45_are_not_remedied_by_the_summer():
    assert year_after_summer(T, L3, OK4, {"m6": "9", "m7": "9"}, 46).decision.outcome == Outcome.NOT_PROMOTED


@pytest.mark.parametrize("retests,why", [
    ({"m0": "8.0"}, "in the subjects below 5.0"),             # a 7.0 subject is not re-assessed
    ({"c0": "Đạt"}, "in the subjects below 5.0"),             # a comment subject at Đạt neither
    ({"m6": "10.5"}, "10-point scale"),                       # the re-assessment is a score like any
    ({"m6": "Đạt"}, "10-point scale"),
    ({"zz": "6.0"}, "in the subjects below 5.0"),
])
def test_what_may_not_be_re_assessed(retests, why):
    with pytest.raises(InvalidAssessment, match=why):
        year_after_summer(T, L3, OK4, retests, 10)


def test_a_student_who_is_not_chua_dat_is_not_re_assessed():
    f12 = {f"m{i}": D(v) for i, v in enumerate(["5.0"] * 6 + ["3.5", "3.5"])}   # F12: Đạt with two subjects < 5.0
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 14"):
        year_after_summer(T, f12, OK4, {"m6": "6.0"}, 3)
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 14"):     # conduct still Chưa đạt: train first
        year_after_summer(CD, L3, OK4, {"m6": "6.0"}, 3)


def test_conduct_is_re_assessed_only_after_training():
    assert conduct_after_training(CD, "Khá") == K and conduct_after_training(K) == K
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 13: conduct is re-assessed only after summer"):
        conduct_after_training(DA, "Tốt")
    with pytest.raises(InvalidAssessment, match="TT22/2021 Art. 13: a level is"):
        conduct_after_training(CD, "Giỏi")


@pytest.mark.parametrize("status,action", [
    (TranscriptStatus.ISSUED, TranscriptAction.CANCEL_AND_REISSUE),
    (TranscriptStatus.DRAFT, TranscriptAction.REDRAFT),
    (TranscriptStatus.HOMEROOM_SIGNED, TranscriptAction.REDRAFT),
    (TranscriptStatus.CANCELLED, TranscriptAction.NONE),
    (None, TranscriptAction.NONE),
])
def test_what_a_summer_result_does_to_the_transcript(status, action):
    assert transcript_after_summer(status) == action
