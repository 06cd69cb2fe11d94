"""The summer after a school year (kì nghỉ hè): summer conduct training (rèn luyện trong kì nghỉ
hè, Thông tư 22/2021/TT-BGDĐT Art. 13) and the summer re-assessment of subjects (kiểm tra,
đánh giá lại các môn học, Art. 14), their effect on the year's result and promotion (Art. 12)
and on a transcript already made.

- Art. 13: a student whose year conduct is Chưa đạt trains during the summer; if the tasks are
  done, the homeroom teacher proposes and the conduct of the year is re-assessed, and the
  re-assessed level **replaces** the year conduct for promotion.
- Art. 14: a student whose year conduct is Đạt or better and year learning Chưa đạt is
  re-assessed in every scored subject with a year average below 5.0 and every comment-only
  subject at Chưa đạt; each re-assessment result **replaces** that subject's year result and
  the learning level is computed again (with the Art. 9.3 adjustment).
- Order when both are due (our reading; the articles do not settle it): training first, and the
  subjects are re-assessed once the conduct is re-assessed at Đạt or better.

The transcript: the summer results are part of the year's record (the học bạ form of TT22 has
lines for them). A transcript prepared before them no longer tells the year: an issued one is
cancelled and re-issued (it never changes, :mod:`core.transcripts.rules.lifecycle`); a draft or
a homeroom-signed draft, never issued, is withdrawn and prepared again
(:func:`transcript_after_summer`).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.kernel.errors import InvalidAssessment
from core.kernel.vocabulary import TranscriptStatus
from core.transcripts.rules.tt22_2021 import (
    Level,
    Outcome,
    Promotion,
    by_subject,
    comment_result,
    learning_level,
    level,
    promotion,
    retest_subjects,
    score,
    subject_results,
)

ART_13, ART_14 = "TT22/2021 Art. 13", "TT22/2021 Art. 14"


def training_required(conduct) -> bool:
    """Art. 13.1: summer conduct training is due when the year's conduct is Chưa đạt."""
    return level(conduct, (("year conduct", "rèn luyện cả năm"),)) == Level.CHUA_DAT


def conduct_after_training(conduct, reassessed=None) -> Level:
    """The year's conduct for promotion (Art. 13.2): the re-assessed level after summer
    training when there is one, which replaces the year's; else the year's. Re-assessing a
    conduct that was not Chưa đạt is refused (no training was due)."""
    year = level(conduct, (("year conduct", "rèn luyện cả năm"),))
    if reassessed is None:
        return year
    if year != Level.CHUA_DAT:
        raise InvalidAssessment("conduct is re-assessed only after summer training, for a year conduct of Chưa đạt",
                                "chỉ đánh giá lại rèn luyện sau khi rèn luyện trong hè, khi rèn luyện cả năm "
                                "Chưa đạt", article=ART_13, value=reassessed,
                                field=(("re-assessed conduct", "rèn luyện đánh giá lại"),))
    return level(reassessed, (("re-assessed conduct", "rèn luyện đánh giá lại"),), article=ART_13)


def retest_value(subject: str, value, *, comment_only: bool):
    """One re-assessment result (Art. 14.2): a score on the scale of Art. 5, or Đạt / Chưa đạt."""
    field = (("summer re-assessment", "kiểm tra lại"),)
    return comment_result(value, field, subject=subject) if comment_only else score(value, field, subject=subject)


@dataclass(frozen=True)
class SummerResult:
    """The year after the summer: the conduct (Art. 13.2) and the year results of the subjects
    (re-assessed ones replaced, Art. 14.3), the learning level computed again, and the promotion
    decided again (Art. 12.1)."""

    conduct: Level
    scored: dict[str, Decimal]
    comments: dict[str, bool]
    learning: Level
    decision: Promotion
    replaced: tuple[str, ...]


def year_after_summer(conduct, scored: Mapping[str, Decimal], comments: Mapping[str, bool],
                      retest_results: Mapping[str, object], absent: int, *, reassessed_conduct=None,
                      summer_over: bool = False) -> SummerResult:
    """The year's result after the summer. ``conduct`` is the year's conduct before the summer,
    ``reassessed_conduct`` its re-assessment after training (Art. 13); ``retest_results`` the
    re-assessment of subjects (Art. 14), allowed only in the subjects of :func:`retest_subjects`
    of a student whose year learning is Chưa đạt and whose conduct (re-assessed) is Đạt or
    better. Once a summer result is in, a failure means repeating the grade — except a student
    whose conduct has just been re-assessed Đạt and whose subjects are still to be re-assessed
    (L5). ``summer_over``: nothing more will come (training not completed, re-assessment not
    taken), so whatever is not promoted repeats the grade."""
    conduct_now = conduct_after_training(conduct, reassessed_conduct)
    scored, comments = subject_results(scored, comments)
    results = by_subject(retest_results, ("re-assessment results", "kết quả kiểm tra lại"), ART_14)
    eligible = set(retest_subjects(scored, comments)) if learning_level(scored, comments) == Level.CHUA_DAT else set()
    for name, value in results.items():
        if name not in eligible or conduct_now == Level.CHUA_DAT:
            raise InvalidAssessment(
                "only a student with conduct Đạt or better and learning Chưa đạt is re-assessed, in the subjects "
                "below 5.0 or at Chưa đạt", "chỉ kiểm tra lại học sinh có rèn luyện từ Đạt và học tập Chưa đạt, ở các "
                "môn dưới 5,0 hoặc Chưa đạt", article=ART_14, value=value, subject=str(name),
                field=(("summer re-assessment", "kiểm tra lại"),))
    new_scored = {k: retest_value(k, results[k], comment_only=False) if k in results else v for k, v in scored.items()}
    new_comments = {k: retest_value(k, results[k], comment_only=True) if k in results else v
                    for k, v in comments.items()}
    learning = learning_level(new_scored, new_comments)
    decision = _after(promotion(conduct_now, learning, absent, new_scored, new_comments), results,
                      reassessed_conduct is not None or bool(results), summer_over)
    return SummerResult(conduct_now, new_scored, new_comments, learning, decision, tuple(sorted(results)))


def _after(decision: Promotion, results: Mapping, summer_results: bool, summer_over: bool) -> Promotion:
    if decision.outcome == Outcome.PROMOTED or not (summer_results or summer_over):
        return decision
    if not summer_over and decision.outcome == Outcome.SUMMER_RETEST and not set(decision.retest) <= set(results):
        return decision  # conduct now ≥ Đạt after training: the subjects are re-assessed next (L5)
    return Promotion(Outcome.NOT_PROMOTED, decision.reason)


def after_summer(conduct, scored: Mapping[str, Decimal], comments: Mapping[str, bool],
                 retest_results: Mapping[str, object], absent: int) -> Promotion:
    """Decide again after the summer (Art. 12–14), with ``conduct`` the year's conduct as it
    stands after any training: re-assessed results replace the year results of those subjects
    and the learning level is recomputed; a second failure means repeating the grade, unless
    the subjects are still to be re-assessed (L5). See :func:`year_after_summer`."""
    conduct = level(conduct, (("year conduct", "rèn luyện cả năm"),))
    if conduct == Level.CHUA_DAT:
        return Promotion(Outcome.NOT_PROMOTED, "kết quả rèn luyện sau rèn luyện hè Chưa đạt")
    result = year_after_summer(conduct, scored, comments, retest_results, absent)
    return _after(result.decision, retest_results, True, False)


class TranscriptAction(str, enum.Enum):
    """What a summer result does to the student's transcript of the year."""

    NONE = "none"                                  # none yet: it is prepared with the summer results
    REDRAFT = "redraft"                            # never issued: withdrawn and prepared again
    CANCEL_AND_REISSUE = "cancel_and_reissue"      # issued: cancelled and re-issued (it never changes)


def transcript_after_summer(status: TranscriptStatus | None) -> TranscriptAction:
    """A summer result changes the year's record, so the live transcript of the year must
    change: issued → cancelled and re-issued; draft or homeroom-signed → withdrawn and
    prepared again; none (or only cancelled ones) → nothing to do."""
    if status == TranscriptStatus.ISSUED:
        return TranscriptAction.CANCEL_AND_REISSUE
    if status in (TranscriptStatus.DRAFT, TranscriptStatus.HOMEROOM_SIGNED):
        return TranscriptAction.REDRAFT
    return TranscriptAction.NONE

