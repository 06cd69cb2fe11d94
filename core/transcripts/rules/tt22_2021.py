"""Assessing lower- and upper-secondary students (THCS, THPT): Thông tư 22/2021/TT-BGDĐT
(Art. 5, 8, 9, 12–15). Pure functions with exact decimal arithmetic: scores are
:class:`~decimal.Decimal`, rounded half up to one decimal ("làm tròn số"), never floats.

Ambiguities the text leaves open are named options, documented in ``docs/rules.md``:
:class:`AdjustmentReading` (Art. 9.3) and whether a comment-only subject can be the one
subject of that adjustment (``comment_subjects_count``).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ONE_DECIMAL = Decimal("0.1")
MAX_ABSENT_SESSIONS = 45


class Level(str, enum.Enum):
    """Mức đánh giá kết quả học tập / rèn luyện, best first."""

    TOT = "Tốt"
    KHA = "Khá"
    DAT = "Đạt"
    CHUA_DAT = "Chưa đạt"

    @property
    def rank(self) -> int:
        return list(Level).index(self)

    def one_up(self) -> "Level":
        return list(Level)[max(0, self.rank - 1)]


class AdjustmentReading(str, enum.Enum):
    """How Art. 9.3 finds "the level it would have had but for one subject" (Thông tư 22/2021/TT-BGDĐT, Art. 9.3):
    REMOVAL leaves the subject out entirely (also from the "at least 6" counts; the default,
    used by most implementations); REPAIR treats it as if it met every threshold."""

    REMOVAL = "removal"
    REPAIR = "repair"


class Title(str, enum.Enum):
    XUAT_SAC = "Học sinh Xuất sắc"
    GIOI = "Học sinh Giỏi"


def score(value) -> Decimal:
    """A score as an exact decimal (accepts '7.5', 7, Decimal); floats go through str()."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def round_score(value: Decimal) -> Decimal:
    """Round half up to one decimal (Art. 9.1: "lấy đến chữ số thập phân thứ nhất sau khi làm tròn số")."""
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def regular_assessments_per_term(periods_per_year: int) -> int:
    """Number of regular assessments (ĐĐGtx) per term, Art. 7: 35 periods a year or fewer → 2;
    more than 35 up to 70 → 3; more than 70 → 4."""
    if periods_per_year <= 35:
        return 2
    if periods_per_year <= 70:
        return 3
    return 4


def term_average(regular: Sequence, midterm, final) -> Decimal:
    """ĐTBmhk = (TĐĐGtx + 2 × ĐĐGgk + 3 × ĐĐGck) / (số ĐĐGtx + 5), rounded (Art. 9.1.b)."""
    regular = [score(x) for x in regular]
    if not regular:
        raise ValueError("a term average needs the regular assessments (ĐĐGtx)")
    total = sum(regular, Decimal(0)) + 2 * score(midterm) + 3 * score(final)
    return round_score(total / Decimal(len(regular) + 5))


def year_average(term1, term2) -> Decimal:
    """ĐTBmcn = (ĐTBmhkI + 2 × ĐTBmhkII) / 3 from the recorded (rounded) term averages (Art. 9.1.b)."""
    return round_score((score(term1) + 2 * score(term2)) / Decimal(3))


def comment_subject_term(assessments: Sequence[bool | None], required: int) -> bool:
    """A comment-only subject's term (Art. 9.1.a): Đạt only with every required assessment
    present and every one Đạt (``None`` = missing, without a make-up)."""
    done = [a for a in assessments if a is not None]
    return len(done) >= required and all(done)


def comment_subject_year(term2: bool) -> bool:
    """The year result of a comment-only subject is its term II result (Art. 9.1.a)."""
    return term2


def base_learning_level(scored: Mapping[str, Decimal], comments: Mapping[str, bool]) -> Level:
    """Learning result of a term or the year (Art. 9.2), from subject averages and comment results:

    - Tốt: every comment subject Đạt; every average ≥ 6.5 and at least 6 ≥ 8.0;
    - Khá: every comment subject Đạt; every average ≥ 5.0 and at least 6 ≥ 6.5;
    - Đạt: at most one comment subject Chưa đạt; at least 6 averages ≥ 5.0 and none < 3.5;
    - Chưa đạt: otherwise.
    """
    values = [score(v) for v in scored.values()]
    failed_comments = sum(1 for ok in comments.values() if not ok)

    def at_least(n: int, threshold: str) -> bool:
        return sum(1 for v in values if v >= Decimal(threshold)) >= n

    def all_at_least(threshold: str) -> bool:
        return all(v >= Decimal(threshold) for v in values)

    if failed_comments == 0 and all_at_least("6.5") and at_least(6, "8.0"):
        return Level.TOT
    if failed_comments == 0 and all_at_least("5.0") and at_least(6, "6.5"):
        return Level.KHA
    if failed_comments <= 1 and at_least(6, "5.0") and all_at_least("3.5"):
        return Level.DAT
    return Level.CHUA_DAT


def learning_level(scored: Mapping[str, Decimal], comments: Mapping[str, bool], *,
                   reading: AdjustmentReading = AdjustmentReading.REMOVAL,
                   comment_subjects_count: bool = True) -> Level:
    """The learning result with the single-subject adjustment of Art. 9.3: if the level is two
    or more levels below what it would be but for exactly one subject, it is raised to the
    adjacent level ("điều chỉnh lên mức liền kề")."""
    base = base_learning_level(scored, comments)
    culprits = []
    for name in scored:
        if reading == AdjustmentReading.REMOVAL:
            without = base_learning_level({k: v for k, v in scored.items() if k != name}, comments)
        else:
            without = base_learning_level({**scored, name: Decimal(10)}, comments)
        if without in (Level.TOT, Level.KHA) and base.rank - without.rank >= 2:
            culprits.append(name)
    if comment_subjects_count:
        for name in comments:
            if reading == AdjustmentReading.REMOVAL:
                without = base_learning_level(scored, {k: v for k, v in comments.items() if k != name})
            else:
                without = base_learning_level(scored, {**comments, name: True})
            if without in (Level.TOT, Level.KHA) and base.rank - without.rank >= 2:
                culprits.append(name)
    return base.one_up() if len(culprits) == 1 else base


_CONDUCT_YEAR = {  # (term I, term II) -> year (Art. 8.3; term II decides)
    (Level.TOT, Level.TOT): Level.TOT, (Level.KHA, Level.TOT): Level.TOT,
    (Level.DAT, Level.TOT): Level.KHA, (Level.CHUA_DAT, Level.TOT): Level.KHA,
    (Level.TOT, Level.KHA): Level.KHA, (Level.KHA, Level.KHA): Level.KHA, (Level.DAT, Level.KHA): Level.KHA,
    (Level.CHUA_DAT, Level.KHA): Level.DAT,
    (Level.TOT, Level.DAT): Level.KHA, (Level.KHA, Level.DAT): Level.DAT, (Level.DAT, Level.DAT): Level.DAT,
    (Level.CHUA_DAT, Level.DAT): Level.DAT,
}


def conduct_year(term1: Level, term2: Level) -> Level:
    """The year's conduct (kết quả rèn luyện cả năm) from the two terms (Art. 8.3)."""
    if term2 == Level.CHUA_DAT:
        return Level.CHUA_DAT
    return _CONDUCT_YEAR[(term1, term2)]


def title(conduct: Level, learning: Level, year_averages: Mapping[str, Decimal]) -> Title | None:
    """Khen thưởng (Art. 15): Xuất sắc = conduct Tốt, learning Tốt and at least 6 year averages
    ≥ 9.0; Giỏi = conduct Tốt and learning Tốt otherwise."""
    if conduct != Level.TOT or learning != Level.TOT:
        return None
    if sum(1 for v in year_averages.values() if score(v) >= Decimal("9.0")) >= 6:
        return Title.XUAT_SAC
    return Title.GIOI


def retest_subjects(scored: Mapping[str, Decimal], comments: Mapping[str, bool]) -> list[str]:
    """Subjects re-assessed in the summer (Art. 14): every scored subject with a year average
    below 5.0 and every comment subject at Chưa đạt."""
    return sorted([k for k, v in scored.items() if score(v) < Decimal("5.0")]
                  + [k for k, ok in comments.items() if not ok])


class Outcome(str, enum.Enum):
    PROMOTED = "Lên lớp"
    SUMMER_TRAINING = "Rèn luyện trong hè"
    SUMMER_RETEST = "Kiểm tra, đánh giá lại trong hè"
    NOT_PROMOTED = "Ở lại lớp"


@dataclass(frozen=True)
class Promotion:
    outcome: Outcome
    reason: str
    retest: tuple[str, ...] = ()


def promotion(conduct: Level, learning: Level, absent_sessions: int, scored: Mapping[str, Decimal] | None = None,
              comments: Mapping[str, bool] | None = None) -> Promotion:
    """Lên lớp (Art. 12.1) needs conduct ≥ Đạt, learning ≥ Đạt and at most 45 absent sessions
    (excused or not). More absences cannot be remedied. Conduct Chưa đạt → summer training
    first (Art. 13), and subjects are re-assessed only once conduct is re-assessed ≥ Đạt
    (our reading of Art. 13 and 14, which do not settle the order). Learning Chưa đạt with conduct ≥ Đạt → summer
    re-assessment of the subjects of :func:`retest_subjects` (Art. 14)."""
    if absent_sessions > MAX_ABSENT_SESSIONS:
        return Promotion(Outcome.NOT_PROMOTED, f"nghỉ {absent_sessions} buổi (quá {MAX_ABSENT_SESSIONS} buổi)")
    if conduct == Level.CHUA_DAT:
        return Promotion(Outcome.SUMMER_TRAINING, "kết quả rèn luyện cả năm Chưa đạt")
    if learning == Level.CHUA_DAT:
        subjects = tuple(retest_subjects(scored or {}, comments or {}))
        return Promotion(Outcome.SUMMER_RETEST, "kết quả học tập cả năm Chưa đạt", subjects)
    return Promotion(Outcome.PROMOTED, "đủ điều kiện lên lớp")


def after_summer(conduct: Level, scored: Mapping[str, Decimal], comments: Mapping[str, bool],
                 retest_results: Mapping[str, object], absent_sessions: int) -> Promotion:
    """Decide again after the summer: re-assessed results replace the year results of those
    subjects (Art. 14.3) and the learning level is recomputed; re-assessed conduct replaces the
    year conduct (Art. 13.2). A second failure means repeating the grade."""
    new_scored = {k: score(retest_results[k]) if k in retest_results else v for k, v in scored.items()}
    new_comments = {k: bool(retest_results[k]) if k in retest_results else v for k, v in comments.items()}
    learning = learning_level(new_scored, new_comments)
    decision = promotion(conduct, learning, absent_sessions, new_scored, new_comments)
    if decision.outcome == Outcome.PROMOTED:
        return decision
    if decision.outcome == Outcome.SUMMER_RETEST and not set(decision.retest) <= set(retest_results):
        return decision  # conduct now ≥ Đạt after training: the subjects are re-assessed next (L5)
    return Promotion(Outcome.NOT_PROMOTED, decision.reason)
