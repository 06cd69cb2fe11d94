"""Assessing primary pupils (tiểu học): Thông tư 27/2020/TT-BGDĐT (Art. 7, 9.2.a, 11, 13).
Ratings, not averages: subjects T/H/C, qualities and competences T/Đ/C, periodic tests
scored 0–10 in whole numbers. Levels are enums per dimension, never bare letters ("C" is
Chưa hoàn thành for a subject but Cần cố gắng for a quality).

Every function refuses what the circular does not allow — a rating no article names, a score
of 8.5 or 11, a year-end test missing — with :class:`~core.kernel.errors.InvalidAssessment`
naming the article; values are read by :mod:`core.transcripts.rules.values`.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from core.kernel.errors import InvalidAssessment
from core.transcripts.rules.decisions import Decision, DecisionKind, decision_terms, promotion_decision
from core.transcripts.rules.values import parse_decimal, parse_label

ART_7, ART_9, ART_11 = "TT27/2020 Art. 7", "TT27/2020 Art. 9.2.a", "TT27/2020 Art. 11"

QUALITIES = ("yêu nước", "nhân ái", "chăm chỉ", "trung thực", "trách nhiệm")
COMPETENCES = ("tự chủ và tự học", "giao tiếp và hợp tác", "giải quyết vấn đề và sáng tạo", "ngôn ngữ",
               "tính toán", "khoa học", "công nghệ", "tin học", "thẩm mĩ", "thể chất")


class SubjectRating(str, enum.Enum):
    """Art. 7.1.a: mức đánh giá môn học, hoạt động giáo dục."""

    HOAN_THANH_TOT = "T"
    HOAN_THANH = "H"
    CHUA_HOAN_THANH = "C"


class QualityRating(str, enum.Enum):
    """Art. 7.2: mức đánh giá phẩm chất, năng lực."""

    TOT = "T"
    DAT = "Đ"
    CAN_CO_GANG = "C"


class YearResult(str, enum.Enum):
    """Art. 9.2.a: kết quả giáo dục cả năm."""

    HOAN_THANH_XUAT_SAC = "Hoàn thành xuất sắc"
    HOAN_THANH_TOT = "Hoàn thành tốt"
    HOAN_THANH = "Hoàn thành"
    CHUA_HOAN_THANH = "Chưa hoàn thành"


def subjects_with_tests(grade: int, *, mid_term: bool = False) -> tuple[str, ...]:
    """Subjects with a periodic test (Art. 7): at the end of term I and of the year Tiếng Việt,
    Toán, Ngoại ngữ 1, Lịch sử và Địa lí, Khoa học, Tin học và Công nghệ where the grade has
    them; in grades 4 and 5 also mid-term tests in Tiếng Việt and Toán."""
    if mid_term:
        return ("TH-TV", "TH-TOAN") if grade in (4, 5) else ()
    return {1: ("TH-TV", "TH-TOAN"), 2: ("TH-TV", "TH-TOAN"),
            3: ("TH-TV", "TH-TOAN", "TH-NN", "TH-TINCN")}.get(
        grade, ("TH-TV", "TH-TOAN", "TH-NN", "TH-LSDL", "TH-KH", "TH-TINCN"))


#: Ratings by code and by name (Art. 7.1.a and 7.2).
SUBJECT_NAMES = {**{r.value: r for r in SubjectRating}, "Hoàn thành tốt": SubjectRating.HOAN_THANH_TOT,
                 "Hoàn thành": SubjectRating.HOAN_THANH, "Chưa hoàn thành": SubjectRating.CHUA_HOAN_THANH}
QUALITY_NAMES = {**{q.value: q for q in QualityRating}, "Tốt": QualityRating.TOT, "Đạt": QualityRating.DAT,
                 "Cần cố gắng": QualityRating.CAN_CO_GANG}
RESULT_NAMES = {r.value: r for r in YearResult}


def _refuse(rule: tuple[str, str], value, article: str, field=(), subject=None):
    raise InvalidAssessment(rule[0], rule[1], article=article, value=value, field=field, subject=subject)


def subject_rating(value, subject: str | None = None) -> SubjectRating:
    """A subject's rating (Art. 7.1.a): T, H, C or their names; anything else is refused."""
    found = parse_label(value, SubjectRating, SUBJECT_NAMES)
    if found is None:
        _refuse(("a subject is rated Hoàn thành tốt (T), Hoàn thành (H) or Chưa hoàn thành (C)",
                 "môn học được đánh giá Hoàn thành tốt (T), Hoàn thành (H) hoặc Chưa hoàn thành (C)"),
                value, ART_7, (("rating", "mức đánh giá"),), subject)
    return found


def quality_rating(value, name: str | None = None) -> QualityRating:
    """A quality's or competence's rating (Art. 7.2): T, Đ, C or their names (C is Cần cố gắng)."""
    found = parse_label(value, QualityRating, QUALITY_NAMES)
    if found is None:
        _refuse(("a quality or competence is rated Tốt (T), Đạt (Đ) or Cần cố gắng (C)",
                 "phẩm chất, năng lực được đánh giá Tốt (T), Đạt (Đ) hoặc Cần cố gắng (C)"),
                value, ART_7, ((name or "quality", name or "phẩm chất, năng lực"),))
    return found


def year_result_of(value) -> YearResult:
    """A year result given back to a rule, by its words (Art. 9.2.a)."""
    found = parse_label(value, YearResult, RESULT_NAMES)
    if found is None:
        _refuse(("a year result is Hoàn thành xuất sắc, Hoàn thành tốt, Hoàn thành or Chưa hoàn thành",
                 "kết quả giáo dục là Hoàn thành xuất sắc, Hoàn thành tốt, Hoàn thành hoặc Chưa hoàn thành"),
                value, ART_9, (("year result", "kết quả cả năm"),))
    return found


def validate_test_score(value, subject: str | None = None) -> int:
    """A periodic test score: a whole number from 0 to 10, no decimals (Art. 7.3); "9" and 9
    are read, 8.5, "8,5", 11, −1, ``True`` and ``None`` refused."""
    number = parse_decimal(value)
    if number is None or not 0 <= number <= 10 or number != number.to_integral_value():
        _refuse(("a primary test score is a whole number from 0 to 10", "điểm bài kiểm tra định kì tiểu học là số "
                 "nguyên từ 0 đến 10, không cho điểm thập phân"), value, ART_7, (("test", "bài kiểm tra"),), subject)
    return int(number)


def _ratings(value, parse, what: tuple[str, str]) -> dict:
    if not isinstance(value, Mapping) or not value:
        _refuse((f"{what[0]} are given one by one, none missing", f"{what[1]} phải ghi đủ từng mục"), value, ART_9)
    return {k: parse(v, str(k)) for k, v in value.items()}


def year_result(subjects: Mapping[str, SubjectRating], qualities: Mapping[str, QualityRating],
                year_end_tests: Mapping[str, int], *, grade: int | None = None) -> YearResult:
    """Art. 9.2.a, tested from the top, the first level met wins:

    - Hoàn thành xuất sắc: every subject T, every quality and competence T, every year-end test ≥ 9;
    - Hoàn thành tốt: every subject T, every quality and competence T, every year-end test ≥ 7;
    - Hoàn thành: every subject T or H, every quality and competence T or Đ, every year-end test ≥ 5;
    - Chưa hoàn thành: otherwise.

    Every quality and competence is rated; a test is given only for a rated subject, at least
    one (Tiếng Việt and Toán are tested in every grade, Art. 7); with ``grade``, exactly the
    subjects of :func:`subjects_with_tests` among the rated ones have a score.
    """
    ratings = _ratings(subjects, subject_rating, ("subject ratings", "mức đánh giá các môn"))
    quality = _ratings(qualities, quality_rating, ("qualities and competences", "phẩm chất, năng lực"))
    missing = [n for n in (*QUALITIES, *COMPETENCES) if n not in quality]
    unknown = [n for n in quality if n not in QUALITIES and n not in COMPETENCES]
    if missing or unknown:
        _refuse(("every quality and competence of the curriculum is rated at year end, and only those",
                 "đánh giá đủ và đúng các phẩm chất, năng lực cuối năm"), (missing or unknown)[0], ART_9,
                (("qualities and competences", "phẩm chất, năng lực"),))
    if not isinstance(year_end_tests, Mapping) or not year_end_tests:
        _refuse(("the year-end test scores are required (Tiếng Việt and Toán at least)",
                 "cần điểm bài kiểm tra cuối năm (ít nhất Tiếng Việt và Toán)"), year_end_tests or None, ART_7,
                (("year-end tests", "bài kiểm tra cuối năm"),))
    scores = {k: validate_test_score(v, str(k)) for k, v in year_end_tests.items()}
    expected = set(scores) if grade is None else {c for c in subjects_with_tests(grade) if c in ratings}
    strays = sorted((set(scores) - set(ratings)) | (set(scores) - expected)) or sorted(expected - set(scores))
    if strays:
        _refuse(("a year-end test score is given for each tested subject of the grade, and only for those",
                 "điểm kiểm tra cuối năm có đủ và chỉ có ở các môn có bài kiểm tra của khối lớp"),
                scores.get(strays[0]), ART_7, (("year-end test", "bài kiểm tra cuối năm"),), strays[0])
    all_t = all(r == SubjectRating.HOAN_THANH_TOT for r in ratings.values())
    all_tot = all(q == QualityRating.TOT for q in quality.values())
    values = scores.values()
    if all_t and all_tot and all(s >= 9 for s in values):
        return YearResult.HOAN_THANH_XUAT_SAC
    if all_t and all_tot and all(s >= 7 for s in values):
        return YearResult.HOAN_THANH_TOT
    if (all(r != SubjectRating.CHUA_HOAN_THANH for r in ratings.values())
            and all(q != QualityRating.CAN_CO_GANG for q in quality.values()) and all(s >= 5 for s in values)):
        return YearResult.HOAN_THANH
    return YearResult.CHUA_HOAN_THANH


def completes_grade(result) -> bool:
    """Hoàn thành chương trình lớp học (Art. 11.1): any result but Chưa hoàn thành. A pupil who has
    not completed gets help and a supplementary assessment; then the principal decides
    (:func:`grade_outcome`)."""
    return year_result_of(result) != YearResult.CHUA_HOAN_THANH


def commendation(result, nominated_exemplary: bool = False) -> str | None:
    """Khen thưởng (Art. 13.1): "Học sinh Xuất sắc" for Hoàn thành xuất sắc; "Học sinh Tiêu biểu
    hoàn thành tốt trong học tập và rèn luyện" for Hoàn thành tốt when the class collective
    nominated the pupil (a human decision, passed in)."""
    result = year_result_of(result)
    if not isinstance(nominated_exemplary, bool):
        _refuse(("a nomination by the class is yes or no", "đề nghị của tập thể lớp là có hoặc không"),
                nominated_exemplary, "TT27/2020 Art. 13")
    if result == YearResult.HOAN_THANH_XUAT_SAC:
        return "Học sinh Xuất sắc"
    if result == YearResult.HOAN_THANH_TOT and nominated_exemplary:
        return "Học sinh Tiêu biểu hoàn thành tốt trong học tập và rèn luyện"
    return None


@dataclass(frozen=True)
class GradeOutcome:
    """Where a pupil stands at the end of the year (Art. 11): the grade completed (hoàn thành
    chương trình lớp học), primary school completed (grade 5, hoàn thành chương trình tiểu học),
    promoted (``None`` while the principal's decision is awaited), and why."""

    completes_grade: bool
    completes_primary: bool
    promoted: bool | None
    reason: str


def grade_outcome(grade: int, result, *, supplementary: Decision | None = None,
                  principal: Decision | None = None) -> GradeOutcome:
    """Art. 11: a pupil whose year result is HTXS, HTT or HT completes the grade; in grade 5
    that is the completion of primary school, written in the transcript ("Hoàn thành chương
    trình tiểu học"). A pupil who has not completed gets help and a supplementary assessment
    (đánh giá bổ sung, ``supplementary``: its outcome is a year result); completed then, the
    same. Still not completed: the principal decides "Lên lớp" or "Ở lại lớp" (``principal``);
    our reading for grade 5: that decision does not complete primary school (only completing
    grade 5 does) — the alternative, that "Lên lớp" completes it, is a one-line change.

    Examples: grade 5, Hoàn thành tốt → completes grade 5 and primary school; grade 3, Chưa
    hoàn thành, supplementary Hoàn thành → completes grade 3, promoted; grade 3, still Chưa
    hoàn thành, no decision → promoted ``None`` (awaiting the principal)."""
    if isinstance(grade, bool) or grade not in (1, 2, 3, 4, 5):
        _refuse(("a primary grade is 1 to 5", "khối lớp tiểu học từ 1 đến 5"), grade, ART_11)
    result = year_result_of(result)
    if supplementary is not None and result == YearResult.CHUA_HOAN_THANH:
        if supplementary.kind != DecisionKind.SUPPLEMENTARY:
            _refuse(("a supplementary assessment gives a year result", "đánh giá bổ sung cho kết quả cả năm"),
                    supplementary.kind.value, ART_11)
        result = year_result_of(supplementary.outcome)
    if result != YearResult.CHUA_HOAN_THANH:
        reason = f"kết quả giáo dục {result.value}"
        return GradeOutcome(True, grade == 5, True, reason)
    if principal is None:
        return GradeOutcome(False, False, None, "chờ hiệu trưởng xem xét, quyết định (chưa hoàn thành)")
    if principal.kind != DecisionKind.PROMOTION:
        _refuse(("the principal decides Lên lớp or Ở lại lớp", "hiệu trưởng quyết định Lên lớp hoặc Ở lại lớp"),
                principal.kind.value, ART_11)
    promoted = promotion_decision(principal.outcome)
    return GradeOutcome(False, False, promoted, f"quyết định của hiệu trưởng số {principal.document_no}")


def supplementary_assessment(outcome, *, decided_on, decided_by: int) -> Decision:
    """The teacher's supplementary assessment (đánh giá bổ sung, Art. 11.2) of a pupil who had
    not completed the grade, after the help planned for them: a year result."""
    result = year_result_of(outcome)
    decision_terms("đánh giá bổ sung", decided_on, decided_by, (2,), ART_11)
    return Decision(DecisionKind.SUPPLEMENTARY, "đánh giá bổ sung", decided_on, decided_by, terms=(2,),
                    outcome=result.value)
