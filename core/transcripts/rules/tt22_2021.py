"""Assessing lower- and upper-secondary students (THCS, THPT): Thông tư 22/2021/TT-BGDĐT
(Art. 5–9, 12, 15). Pure functions with exact decimal arithmetic: scores are
:class:`~decimal.Decimal`, rounded half up to one decimal ("làm tròn số"), never floats.

Every function refuses what the circular does not allow — a score of 10.5, −1 or 6.95, a level
no article names, negative absences, a missing result — with
:class:`~core.kernel.errors.InvalidAssessment` naming the article, never by computing with it
and never with a ``KeyError`` or a ``decimal.InvalidOperation``. Values are read by
:mod:`core.transcripts.rules.values` ("7,5" and "7.5" alike).

Ambiguities the text leaves open are named options, documented in ``docs/rules.md``:
:class:`AdjustmentReading` (Art. 9.3), whether a comment-only subject can be the one subject of
that adjustment (``comment_subjects_count``) and :class:`AbsenceReading` (Art. 12).
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.values import parse_decimal, parse_label

ONE_DECIMAL = Decimal("0.1")
MAX_ABSENT_SESSIONS = 45
ART_5, ART_6, ART_7, ART_8 = "TT22/2021 Art. 5", "TT22/2021 Art. 6", "TT22/2021 Art. 7", "TT22/2021 Art. 8"
ART_9_1, ART_9_2, ART_12, ART_14 = "TT22/2021 Art. 9.1", "TT22/2021 Art. 9.2", "TT22/2021 Art. 12", "TT22/2021 Art. 14"
Field = tuple[tuple[str, str], ...]

SCALE = ("a score is on a 10-point scale with at most one decimal",
         "điểm đánh giá theo thang điểm 10, là số nguyên hoặc số thập phân lấy đến một chữ số thập phân")
AVERAGE = ("an average is on the 10-point scale, rounded to one decimal",
           "điểm trung bình môn theo thang điểm 10, làm tròn đến một chữ số thập phân")
COMMENT = ("a subject assessed by comments is Đạt or Chưa đạt",
           "môn học đánh giá bằng nhận xét chỉ có mức Đạt hoặc Chưa đạt")
LEVEL = ("a level is Tốt, Khá, Đạt or Chưa đạt", "mức đánh giá là Tốt, Khá, Đạt hoặc Chưa đạt")


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


#: A level by its name or by its code in the national data dictionary (T, K, Đ, CĐ).
LEVEL_NAMES = {**{lv.value: lv for lv in Level}, "T": Level.TOT, "K": Level.KHA, "Đ": Level.DAT,
               "CĐ": Level.CHUA_DAT}
#: A comment-only subject's result by its name or code (Art. 5.1: Đạt, Chưa đạt).
COMMENT_NAMES = {"Đạt": True, "Đ": True, "Chưa đạt": False, "CĐ": False}


class AdjustmentReading(str, enum.Enum):
    """How Art. 9.3 finds "the level it would have had but for one subject" (Thông tư 22/2021/TT-BGDĐT, Art. 9.3):
    REMOVAL leaves the subject out entirely (also from the "at least 6" counts; the default,
    used by most implementations); REPAIR treats it as if it met every threshold."""

    REMOVAL = "removal"
    REPAIR = "repair"


class AbsenceReading(str, enum.Enum):
    """What makes a session (buổi) absent for Art. 12.1.c, read from the logbook's periods:
    WHOLE_SESSION (the default) — absent from every period of the class that day;
    ANY_PERIOD — absent from at least one of them."""

    WHOLE_SESSION = "whole_session"
    ANY_PERIOD = "any_period"


class Title(str, enum.Enum):
    XUAT_SAC = "Học sinh Xuất sắc"
    GIOI = "Học sinh Giỏi"


# ---------------------------------------------------------------- Art. 5: what a value may be
def _refuse(rule: tuple[str, str], value, article: str, field: Field = (), subject: str | None = None):
    raise InvalidAssessment(rule[0], rule[1], article=article, value=value, field=field, subject=subject)


class _Comment(enum.Enum):
    PASS = True
    FAIL = False


_COMMENT_LABELS = {name: _Comment(result) for name, result in COMMENT_NAMES.items()}


def score(value, field: Field = (), *, article: str = ART_5, subject: str | None = None) -> Decimal:
    """A score (điểm đánh giá) as an exact decimal (Art. 5.2: a 10-point scale; "số nguyên hoặc
    số thập phân được lấy đến chữ số thập phân thứ nhất"): "7,5", "7.5", 7.5 and 7 are read;
    10.5, −1, 6.95, "", ``None``, NaN and "bảy" are refused."""
    number = parse_decimal(value)
    if number is None or not Decimal(0) <= number <= Decimal(10) or number != number.quantize(ONE_DECIMAL):
        _refuse(SCALE if article == ART_5 else AVERAGE, value, article, field, subject)
    return number


def average(value, field: Field = (), *, subject: str | None = None) -> Decimal:
    """A subject's term or year average (ĐTBmhk, ĐTBmcn) given to a rule: on the same scale,
    one decimal (Art. 9.1)."""
    return score(value, field, article=ART_9_1, subject=subject)


def comment_result(value, field: Field = (), *, subject: str | None = None) -> bool:
    """A comment-only subject's result (Art. 5.1): ``True`` for Đạt, ``False`` for Chưa đạt,
    given as a boolean or as "Đạt"/"Đ"/"Chưa đạt"/"CĐ". Any other text — and ``None`` — is
    refused (the text "Chưa đạt" is never read as a true value)."""
    if isinstance(value, bool):
        return value
    found = parse_label(value, _Comment, _COMMENT_LABELS)
    if found is None:
        _refuse(COMMENT, value, ART_5, field, subject)
    return found.value


def level(value, field: Field = (), *, article: str = ART_8) -> Level:
    """A level (mức đánh giá) of conduct (Art. 8) or learning (Art. 9): the enum, its name or its
    code; anything else is refused."""
    found = parse_label(value, Level, LEVEL_NAMES)
    if found is None:
        _refuse(LEVEL, value, article, field)
    return found


def absent_sessions(value, field: Field = (("absences", "số buổi nghỉ"),)) -> int:
    """The number of sessions absent in the school year (Art. 12.1.c): a whole number, 0 or more."""
    number = parse_decimal(value)
    if number is None or number < 0 or number != number.to_integral_value():
        _refuse(("absences are a whole number of sessions, 0 or more",
                 "số buổi nghỉ học là số nguyên, không âm"), value, ART_12, field)
    return int(number)


def by_subject(value, what: tuple[str, str], article: str) -> Mapping:
    """``value`` if it is a mapping subject → result, else refused (a list or a text is not)."""
    if not isinstance(value, Mapping):
        _refuse((f"{what[0]} are given subject by subject", f"{what[1]} phải ghi theo từng môn"), value, article)
    return value


def round_score(value: Decimal) -> Decimal:
    """Round half up to one decimal (Art. 9.1: "lấy đến chữ số thập phân thứ nhất sau khi làm tròn số")."""
    return value.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------- Art. 6 and 7: how many assessments
#: Comment-only subjects: 2 regular assessments a term whatever their periods (Art. 6.2.a).
COMMENT_REGULAR_PER_TERM = 2
#: Per term, one mid-term (ĐĐGgk) and one end-of-term (ĐĐGck) assessment for every subject (Art. 7).
PERIODIC_PER_TERM = 2


def regular_assessments_per_term(periods_per_year: int, *, comment_only: bool = False) -> int:
    """Number of regular assessments (ĐĐGtx) per term (Art. 6.2): a comment-only subject 2; a
    scored subject by its periods a year — 35 or fewer → 2, more than 35 up to 70 → 3, more
    than 70 → 4. Examples: Toán THCS 140 → 4; Công nghệ grade 8, 52 → 3; GDQP-AN 35 → 2."""
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int) or periods_per_year < 1:
        _refuse(("a subject's periods a year is a whole number, 1 or more",
                 "số tiết/năm học của môn là số nguyên dương"), periods_per_year, ART_6)
    if comment_only:
        return COMMENT_REGULAR_PER_TERM
    if periods_per_year <= 35:
        return 2
    if periods_per_year <= 70:
        return 3
    return 4


@dataclass(frozen=True)
class Missed:
    """A periodic assessment the student did not take (Art. 7): ``makeup`` is the result of the
    make-up test (kiểm tra, đánh giá bù), or ``None`` when there was none — then the assessment
    counts 0 (scored subjects) or Chưa đạt (comment-only subjects). In submitted data:
    ``{"missed": true, "makeup": "6,5"}`` or ``{"missed": true}``."""

    makeup: object = None


def missed(value) -> Missed | None:
    """``value`` as a :class:`Missed` assessment, or ``None`` when it is a result."""
    if isinstance(value, Missed):
        return value
    if isinstance(value, Mapping):
        if value.get("missed") is not True or set(value) - {"missed", "makeup"}:
            _refuse(("a missed assessment is written {\"missed\": true} with its \"makeup\" result if any",
                     "bài vắng ghi {\"missed\": true}, kèm \"makeup\" là kết quả kiểm tra bù nếu có"), value, ART_7)
        return Missed(value.get("makeup"))
    return None


_MAKEUP = (("make-up", "kiểm tra bù"),)


def periodic_score(value, field: Field = ()) -> Decimal:
    """The score of a mid-term or end-of-term assessment (Art. 7): its score; if missed, the
    make-up test's score; missed without a make-up, 0. Examples: "6,5" → 6.5;
    ``Missed("7")`` → 7; ``Missed()`` → 0."""
    gap = missed(value)
    if gap is None:
        return score(value, field)
    return Decimal(0) if gap.makeup is None else score(gap.makeup, field + _MAKEUP)


def periodic_comment(value, field: Field = ()) -> bool:
    """A comment-only subject's periodic assessment (Art. 7): its result; if missed, the
    make-up's; missed without a make-up, Chưa đạt."""
    gap = missed(value)
    if gap is None:
        return comment_result(value, field)
    return False if gap.makeup is None else comment_result(gap.makeup, field + _MAKEUP)


def _regular(values, required: int | None, field: Field) -> list:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        _refuse(("the regular assessments are a list", "các lần đánh giá thường xuyên phải là một danh sách"),
                values, ART_6, field + (("regular", "ĐĐGtx"),))
    if required is not None and len(values) != required:
        _refuse((f"{required} regular assessments are required per term", f"mỗi học kì cần đúng {required} ĐĐGtx"),
                len(values), ART_6, field + (("number of regular assessments", "số ĐĐGtx"),))
    return list(values)


def _term_part(data, key: str, field: Field):
    if not isinstance(data, Mapping) or key not in data:
        _refuse(("a term's results are {\"regular\": [...], \"mid\": …, \"final\": …}",
                 "kết quả học kì gồm {\"regular\": [...], \"mid\": …, \"final\": …}"),
                None if not isinstance(data, Mapping) else data.get(key), ART_7, field + ((key, key),))
    return data[key]


def scored_term(data, required_regular: int | None = None, field: Field = ()) -> Decimal:
    """One term of a scored subject from ``{"regular": [...], "mid": x, "final": y}``: the
    required number of regular assessments (Art. 6), one mid-term and one end-of-term,
    each possibly missed (Art. 7), averaged by Art. 9.1.b."""
    regular = _regular(_term_part(data, "regular", field), required_regular, field)
    mid = periodic_score(_term_part(data, "mid", field), field + (("mid-term", "ĐĐGgk"),))
    final = periodic_score(_term_part(data, "final", field), field + (("end-of-term", "ĐĐGck"),))
    return term_average(regular, mid, final, field)


def comment_term(data, field: Field = ()) -> bool:
    """One term of a comment-only subject (Art. 6, 7, 9.1.a): 2 regular assessments, one
    mid-term and one end-of-term — as ``{"regular": [a, b], "mid": c, "final": d}`` or the
    list ``[a, b, c, d]`` in that order — each Đạt or Chưa đạt, the periodic ones possibly
    missed; Đạt only when all four are Đạt."""
    if isinstance(data, Mapping):
        regular = _regular(_term_part(data, "regular", field), COMMENT_REGULAR_PER_TERM, field)
        results = [comment_result(v, field + ((f"regular {i}", f"ĐĐGtx {i}"),)) for i, v in enumerate(regular, 1)]
        results.append(periodic_comment(_term_part(data, "mid", field), field + (("mid-term", "ĐĐGgk"),)))
        results.append(periodic_comment(_term_part(data, "final", field), field + (("end-of-term", "ĐĐGck"),)))
        return all(results)
    values = _regular(data, None, field)
    required = COMMENT_REGULAR_PER_TERM + PERIODIC_PER_TERM
    if len(values) != required:
        _refuse((f"a comment-only subject has {required} assessments a term: {COMMENT_REGULAR_PER_TERM} regular, "
                 f"1 mid-term, 1 end-of-term", f"môn đánh giá bằng nhận xét có {required} lần đánh giá mỗi học kì: "
                 f"{COMMENT_REGULAR_PER_TERM} ĐĐGtx, 1 giữa kì, 1 cuối kì"), len(values), ART_6,
                field + (("number of assessments", "số lần đánh giá"),))
    return comment_subject_term(values, required, field)


# ---------------------------------------------------------------- Art. 9: averages and levels
def term_average(regular: Sequence, midterm, final, field: Field = ()) -> Decimal:
    """ĐTBmhk = (TĐĐGtx + 2 × ĐĐGgk + 3 × ĐĐGck) / (số ĐĐGtx + 5), rounded (Art. 9.1.b); every
    score on the scale of Art. 5."""
    regular = [score(x, field + ((f"regular {i}", f"ĐĐGtx {i}"),))
               for i, x in enumerate(_regular(regular, None, field), 1)]
    if not regular:
        _refuse(("a term average needs the regular assessments (ĐĐGtx)", "điểm trung bình học kì cần các ĐĐGtx"),
                [], ART_6, field + (("regular", "ĐĐGtx"),))
    mid = score(midterm, field + (("mid-term", "ĐĐGgk"),))
    end = score(final, field + (("end-of-term", "ĐĐGck"),))
    total = sum(regular, Decimal(0)) + 2 * mid + 3 * end
    return round_score(total / Decimal(len(regular) + 5))


def year_average(term1, term2) -> Decimal:
    """ĐTBmcn = (ĐTBmhkI + 2 × ĐTBmhkII) / 3 from the recorded (rounded) term averages (Art. 9.1.b)."""
    first = average(term1, (("term 1 average", "ĐTBmhk I"),))
    second = average(term2, (("term 2 average", "ĐTBmhk II"),))
    return round_score((first + 2 * second) / Decimal(3))


def comment_subject_term(assessments: Sequence, required: int, field: Field = ()) -> bool:
    """A comment-only subject's term (Art. 9.1.a): Đạt only with every required assessment
    taken and every one Đạt. Each item is Đạt/Chưa đạt (see :func:`comment_result`) or a
    :class:`Missed` assessment, which counts by its make-up or is Chưa đạt without one; exactly
    ``required`` items."""
    items = _regular(assessments, required, field)
    return all(periodic_comment(a, field + ((f"assessment {i}", f"lần {i}"),)) for i, a in enumerate(items, 1))


def comment_subject_year(term2) -> bool:
    """The year result of a comment-only subject is its term II result (Art. 9.1.a)."""
    return comment_result(term2, (("term 2", "học kì II"),))


def subject_results(scored, comments) -> tuple[dict[str, Decimal], dict[str, bool]]:
    """Subject averages and comment results as the level rules read them, each checked
    (Art. 5, 9.1); refused with the subject named."""
    scored = {k: average(v, subject=str(k)) for k, v in by_subject(scored, ("averages", "điểm trung bình"),
                                                                  ART_9_2).items()}
    comments = {k: comment_result(v, subject=str(k)) for k, v in by_subject(comments, ("comment results",
                                                                                      "kết quả nhận xét"),
                                                                          ART_9_2).items()}
    return scored, comments


def _base(values: Sequence[Decimal], failed_comments: int) -> Level:
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


def base_learning_level(scored: Mapping[str, Decimal], comments: Mapping[str, bool]) -> Level:
    """Learning result of a term or the year (Art. 9.2), from subject averages and comment results:

    - Tốt: every comment subject Đạt; every average ≥ 6.5 and at least 6 ≥ 8.0;
    - Khá: every comment subject Đạt; every average ≥ 5.0 and at least 6 ≥ 6.5;
    - Đạt: at most one comment subject Chưa đạt; at least 6 averages ≥ 5.0 and none < 3.5;
    - Chưa đạt: otherwise.
    """
    scored, comments = subject_results(scored, comments)
    return _base(list(scored.values()), sum(1 for ok in comments.values() if not ok))


def learning_level(scored: Mapping[str, Decimal], comments: Mapping[str, bool], *,
                   reading: AdjustmentReading = AdjustmentReading.REMOVAL,
                   comment_subjects_count: bool = True) -> Level:
    """The learning result with the single-subject adjustment of Art. 9.3: if the level is two
    or more levels below what it would be but for exactly one subject, it is raised to the
    adjacent level ("điều chỉnh lên mức liền kề")."""
    scored, comments = subject_results(scored, comments)
    failed = sum(1 for ok in comments.values() if not ok)
    base = _base(list(scored.values()), failed)
    culprits = []
    for name in scored:
        if reading == AdjustmentReading.REMOVAL:
            without = _base([v for k, v in scored.items() if k != name], failed)
        else:
            without = _base([Decimal(10) if k == name else v for k, v in scored.items()], failed)
        if without in (Level.TOT, Level.KHA) and base.rank - without.rank >= 2:
            culprits.append(name)
    if comment_subjects_count:
        for name, ok in comments.items():
            # removed or repaired, a Chưa đạt comment subject no longer counts as failed
            without = _base(list(scored.values()), failed - (0 if ok else 1))
            if without in (Level.TOT, Level.KHA) and base.rank - without.rank >= 2:
                culprits.append(name)
    return base.one_up() if len(culprits) == 1 else base


# ---------------------------------------------------------------- Art. 8: conduct
_CONDUCT_YEAR = {  # (term I, term II) -> year (Art. 8.3; term II decides)
    (Level.TOT, Level.TOT): Level.TOT, (Level.KHA, Level.TOT): Level.TOT,
    (Level.DAT, Level.TOT): Level.KHA, (Level.CHUA_DAT, Level.TOT): Level.KHA,
    (Level.TOT, Level.KHA): Level.KHA, (Level.KHA, Level.KHA): Level.KHA, (Level.DAT, Level.KHA): Level.KHA,
    (Level.CHUA_DAT, Level.KHA): Level.DAT,
    (Level.TOT, Level.DAT): Level.KHA, (Level.KHA, Level.DAT): Level.DAT, (Level.DAT, Level.DAT): Level.DAT,
    (Level.CHUA_DAT, Level.DAT): Level.DAT,
}


def conduct_year(term1, term2) -> Level:
    """The year's conduct (kết quả rèn luyện cả năm) from the two terms (Art. 8.3)."""
    first = level(term1, (("conduct, term 1", "rèn luyện học kì I"),))
    second = level(term2, (("conduct, term 2", "rèn luyện học kì II"),))
    if second == Level.CHUA_DAT:
        return Level.CHUA_DAT
    return _CONDUCT_YEAR[(first, second)]


# ---------------------------------------------------------------- Art. 15: titles
def title(conduct, learning, year_averages: Mapping[str, Decimal]) -> Title | None:
    """Khen thưởng (Art. 15): Xuất sắc = conduct Tốt, learning Tốt and at least 6 year averages
    ≥ 9.0; Giỏi = conduct Tốt and learning Tốt otherwise."""
    conduct = level(conduct, (("year conduct", "rèn luyện cả năm"),))
    learning = level(learning, (("year learning", "học tập cả năm"),), article=ART_9_2)
    averages = [average(v, subject=str(k)) for k, v in by_subject(year_averages, ("averages", "điểm trung bình"),
                                                                 ART_9_2).items()]
    if conduct != Level.TOT or learning != Level.TOT:
        return None
    if sum(1 for v in averages if v >= Decimal("9.0")) >= 6:
        return Title.XUAT_SAC
    return Title.GIOI


# ---------------------------------------------------------------- Art. 12–14: promotion
def retest_subjects(scored: Mapping[str, Decimal], comments: Mapping[str, bool]) -> list[str]:
    """Subjects re-assessed in the summer (Art. 14): every scored subject with a year average
    below 5.0 and every comment subject at Chưa đạt."""
    scored, comments = subject_results(scored, comments)
    return sorted([k for k, v in scored.items() if v < Decimal("5.0")] + [k for k, ok in comments.items() if not ok])


def sessions_absent(days: Iterable[tuple[int, int]], *, reading: AbsenceReading = AbsenceReading.WHOLE_SESSION) -> int:
    """Sessions (buổi) absent in the school year from the logbook (Art. 12.1.c: counted on the
    plan of one session a day, excused or not, continuous or not). ``days`` gives, for each day
    the student was recorded absent at least once, ``(periods of the class that day, periods
    absent)``. Constructed example: absent from 5 of 5 periods on Monday, 2 of 5 on Tuesday,
    4 of 4 on Wednesday → 2 sessions (WHOLE_SESSION) or 3 (ANY_PERIOD)."""
    count = 0
    for periods, absent in days:
        if not (isinstance(periods, int) and isinstance(absent, int) and 0 < absent <= periods):
            _refuse(("a day's absent periods are between 1 and the periods of that day",
                     "số tiết vắng trong ngày từ 1 đến số tiết của ngày"), (periods, absent), ART_12)
        if reading == AbsenceReading.ANY_PERIOD or absent == periods:
            count += 1
    return count


class Outcome(str, enum.Enum):
    PROMOTED = "Lên lớp"
    AWAITING_DECISION = "Chờ hiệu trưởng quyết định"
    SUMMER_TRAINING = "Rèn luyện trong hè"
    SUMMER_RETEST = "Kiểm tra, đánh giá lại trong hè"
    NOT_PROMOTED = "Ở lại lớp"


@dataclass(frozen=True)
class Promotion:
    outcome: Outcome
    reason: str
    retest: tuple[str, ...] = ()


def promotion(conduct, learning, absent: int, scored: Mapping[str, Decimal] | None = None,
              comments: Mapping[str, bool] | None = None) -> Promotion:
    """Lên lớp (Art. 12.1) needs conduct ≥ Đạt, learning ≥ Đạt and at most 45 absent sessions
    (excused or not). More absences cannot be remedied. Conduct Chưa đạt → summer training
    first (Art. 13), and subjects are re-assessed only once conduct is re-assessed ≥ Đạt
    (our reading of Art. 13 and 14, which do not settle the order). Learning Chưa đạt with conduct ≥ Đạt → summer
    re-assessment of the subjects of :func:`retest_subjects` (Art. 14)."""
    conduct = level(conduct, (("year conduct", "rèn luyện cả năm"),))
    learning = level(learning, (("year learning", "học tập cả năm"),), article=ART_9_2)
    absent = absent_sessions(absent)
    if absent > MAX_ABSENT_SESSIONS:
        return Promotion(Outcome.NOT_PROMOTED, f"nghỉ {absent} buổi (quá {MAX_ABSENT_SESSIONS} buổi)")
    if conduct == Level.CHUA_DAT:
        return Promotion(Outcome.SUMMER_TRAINING, "kết quả rèn luyện cả năm Chưa đạt")
    if learning == Level.CHUA_DAT:
        subjects = tuple(retest_subjects(scored or {}, comments or {}))
        return Promotion(Outcome.SUMMER_RETEST, "kết quả học tập cả năm Chưa đạt", subjects)
    return Promotion(Outcome.PROMOTED, "đủ điều kiện lên lớp")

