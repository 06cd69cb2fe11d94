"""Assessing primary pupils (tiểu học): Thông tư 27/2020/TT-BGDĐT (Art. 7, 9.2.a, 13).
Ratings, not averages: subjects T/H/C, qualities and competences T/Đ/C, periodic tests
scored 0–10 in whole numbers. Levels are enums per dimension, never bare letters ("C" is
Chưa hoàn thành for a subject but Cần cố gắng for a quality).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping

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


def validate_test_score(value) -> int:
    """A periodic test score: a whole number from 0 to 10, no decimals (Art. 7.3)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(f"a primary test score is a whole number from 0 to 10, not {value!r}")
    return value


def year_result(subjects: Mapping[str, SubjectRating], qualities: Mapping[str, QualityRating],
                year_end_tests: Mapping[str, int]) -> YearResult:
    """Art. 9.2.a, tested from the top, the first level met wins:

    - Hoàn thành xuất sắc: every subject T, every quality and competence T, every year-end test ≥ 9;
    - Hoàn thành tốt: every subject T, every quality and competence T, every year-end test ≥ 7;
    - Hoàn thành: every subject T or H, every quality and competence T or Đ, every year-end test ≥ 5;
    - Chưa hoàn thành: otherwise.
    """
    scores = [validate_test_score(v) for v in year_end_tests.values()]
    all_t = all(r == SubjectRating.HOAN_THANH_TOT for r in subjects.values())
    all_tot = all(q == QualityRating.TOT for q in qualities.values())
    if all_t and all_tot and all(s >= 9 for s in scores):
        return YearResult.HOAN_THANH_XUAT_SAC
    if all_t and all_tot and all(s >= 7 for s in scores):
        return YearResult.HOAN_THANH_TOT
    if (all(r != SubjectRating.CHUA_HOAN_THANH for r in subjects.values())
            and all(q != QualityRating.CAN_CO_GANG for q in qualities.values()) and all(s >= 5 for s in scores)):
        return YearResult.HOAN_THANH
    return YearResult.CHUA_HOAN_THANH


def completes_grade(result: YearResult) -> bool:
    """Hoàn thành chương trình lớp học (Art. 11): any result but Chưa hoàn thành. A pupil who has
    not completed gets supplementary assessment; then the principal decides (not computed)."""
    return result != YearResult.CHUA_HOAN_THANH


def commendation(result: YearResult, nominated_exemplary: bool = False) -> str | None:
    """Khen thưởng (Art. 13.1): "Học sinh Xuất sắc" for Hoàn thành xuất sắc; "Học sinh Tiêu biểu
    hoàn thành tốt trong học tập và rèn luyện" for Hoàn thành tốt when the class collective
    nominated the pupil (a human decision, passed in)."""
    if result == YearResult.HOAN_THANH_XUAT_SAC:
        return "Học sinh Xuất sắc"
    if result == YearResult.HOAN_THANH_TOT and nominated_exemplary:
        return "Học sinh Tiêu biểu hoàn thành tốt trong học tập và rèn luyện"
    return None
