"""The 2018 general education curriculum (Chương trình giáo dục phổ thông 2018, Thông tư
32/2018/TT-BGDĐT): subjects and educational activities per level, with periods per year
per grade (Thông tư 32/2018/TT-BGDĐT, the 2018 curriculum: the primary table is verified; the lower and upper secondary
figures are the curriculum's listed ones, not re-verified). Amendments (TT13/2022,
TT17/2025) changed details not modelled here. 35 teaching weeks a year.

Codes are ASCII with a level prefix (TH- tiểu học, CS- THCS, PT- THPT) because the same
subject exists at several levels and a subject code is unique; names keep their diacritics.

Secondary subjects assessed by comments only (đánh giá bằng nhận xét, TT22/2021 Art. 5):
Giáo dục thể chất, Nghệ thuật / Âm nhạc / Mĩ thuật, Hoạt động trải nghiệm – hướng nghiệp,
Nội dung giáo dục của địa phương.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.kernel.vocabulary import SchoolLevel

WEEKS_PER_YEAR = 35


@dataclass(frozen=True)
class SubjectSpec:
    code: str
    name: str
    level: SchoolLevel
    comment_only: bool
    periods_per_year: dict[int, int]


P, L, U = SchoolLevel.PRIMARY, SchoolLevel.LOWER_SECONDARY, SchoolLevel.UPPER_SECONDARY


def _g(*pairs):
    return dict(pairs)


CURRICULUM: tuple[SubjectSpec, ...] = (
    # Tiểu học (grades 1-5): 875 / 875 / 980 / 1,050 / 1,050 periods a year.
    SubjectSpec("TH-TV", "Tiếng Việt", P, False, _g((1, 420), (2, 350), (3, 245), (4, 245), (5, 245))),
    SubjectSpec("TH-TOAN", "Toán", P, False, _g((1, 105), (2, 175), (3, 175), (4, 175), (5, 175))),
    SubjectSpec("TH-NN", "Ngoại ngữ 1 (Tiếng Anh)", P, False, _g((3, 140), (4, 140), (5, 140))),
    SubjectSpec("TH-DD", "Đạo đức", P, False, _g((1, 35), (2, 35), (3, 35), (4, 35), (5, 35))),
    SubjectSpec("TH-TNXH", "Tự nhiên và Xã hội", P, False, _g((1, 70), (2, 70), (3, 70))),
    SubjectSpec("TH-LSDL", "Lịch sử và Địa lí", P, False, _g((4, 70), (5, 70))),
    SubjectSpec("TH-KH", "Khoa học", P, False, _g((4, 70), (5, 70))),
    SubjectSpec("TH-TINCN", "Tin học và Công nghệ", P, False, _g((3, 70), (4, 70), (5, 70))),
    SubjectSpec("TH-GDTC", "Giáo dục thể chất", P, False, _g((1, 70), (2, 70), (3, 70), (4, 70), (5, 70))),
    SubjectSpec("TH-NT", "Nghệ thuật (Âm nhạc, Mĩ thuật)", P, False,
                _g((1, 70), (2, 70), (3, 70), (4, 70), (5, 70))),
    SubjectSpec("TH-HDTN", "Hoạt động trải nghiệm", P, False, _g((1, 105), (2, 105), (3, 105), (4, 105), (5, 105))),
    # Trung học cơ sở (grades 6-9): about 1,015 periods a year, 29 a week.
    SubjectSpec("CS-NV", "Ngữ văn", L, False, _g((6, 140), (7, 140), (8, 140), (9, 140))),
    SubjectSpec("CS-TOAN", "Toán", L, False, _g((6, 140), (7, 140), (8, 140), (9, 140))),
    SubjectSpec("CS-NN", "Ngoại ngữ 1 (Tiếng Anh)", L, False, _g((6, 105), (7, 105), (8, 105), (9, 105))),
    SubjectSpec("CS-GDCD", "Giáo dục công dân", L, False, _g((6, 35), (7, 35), (8, 35), (9, 35))),
    SubjectSpec("CS-LSDL", "Lịch sử và Địa lí", L, False, _g((6, 105), (7, 105), (8, 105), (9, 105))),
    SubjectSpec("CS-KHTN", "Khoa học tự nhiên", L, False, _g((6, 140), (7, 140), (8, 140), (9, 140))),
    SubjectSpec("CS-CN", "Công nghệ", L, False, _g((6, 35), (7, 35), (8, 52), (9, 52))),
    SubjectSpec("CS-TIN", "Tin học", L, False, _g((6, 35), (7, 35), (8, 35), (9, 35))),
    SubjectSpec("CS-GDTC", "Giáo dục thể chất", L, True, _g((6, 70), (7, 70), (8, 70), (9, 70))),
    SubjectSpec("CS-NT", "Nghệ thuật", L, True, _g((6, 70), (7, 70), (8, 70), (9, 70))),
    SubjectSpec("CS-HDTN", "Hoạt động trải nghiệm, hướng nghiệp", L, True, _g((6, 105), (7, 105), (8, 105), (9, 105))),
    SubjectSpec("CS-GDDP", "Nội dung giáo dục của địa phương", L, True, _g((6, 35), (7, 35), (8, 35), (9, 35))),
    # Trung học phổ thông (grades 10-12): about 1,000 periods a year; four electives shown.
    SubjectSpec("PT-NV", "Ngữ văn", U, False, _g((10, 105), (11, 105), (12, 105))),
    SubjectSpec("PT-TOAN", "Toán", U, False, _g((10, 105), (11, 105), (12, 105))),
    SubjectSpec("PT-NN", "Ngoại ngữ 1 (Tiếng Anh)", U, False, _g((10, 105), (11, 105), (12, 105))),
    SubjectSpec("PT-LS", "Lịch sử", U, False, _g((10, 52), (11, 52), (12, 52))),
    SubjectSpec("PT-GDTC", "Giáo dục thể chất", U, True, _g((10, 70), (11, 70), (12, 70))),
    SubjectSpec("PT-QPAN", "Giáo dục quốc phòng và an ninh", U, False, _g((10, 35), (11, 35), (12, 35))),
    SubjectSpec("PT-HDTN", "Hoạt động trải nghiệm, hướng nghiệp", U, True, _g((10, 105), (11, 105), (12, 105))),
    SubjectSpec("PT-GDDP", "Nội dung giáo dục của địa phương", U, True, _g((10, 35), (11, 35), (12, 35))),
    SubjectSpec("PT-LI", "Vật lí", U, False, _g((10, 70), (11, 70), (12, 70))),
    SubjectSpec("PT-HOA", "Hóa học", U, False, _g((10, 70), (11, 70), (12, 70))),
    SubjectSpec("PT-SINH", "Sinh học", U, False, _g((10, 70), (11, 70), (12, 70))),
    SubjectSpec("PT-TIN", "Tin học", U, False, _g((10, 70), (11, 70), (12, 70))),
    SubjectSpec("PT-CD", "Cụm chuyên đề học tập", U, False, _g((10, 105), (11, 105), (12, 105))),
)

#: Periods per week the timetable targets for each grade (Thông tư 32/2018/TT-BGDĐT).
WEEKLY_TOTAL = {1: 25, 2: 25, 3: 28, 4: 30, 5: 30, 6: 29, 7: 29, 8: 29, 9: 29, 10: 29, 11: 29, 12: 29}


def level_of_grade(grade: int) -> SchoolLevel:
    return P if grade <= 5 else L if grade <= 9 else U


def grades_of(level: SchoolLevel) -> list[int]:
    return {P: [1, 2, 3, 4, 5], L: [6, 7, 8, 9], U: [10, 11, 12]}[level]


def subjects_for(level: SchoolLevel) -> list[SubjectSpec]:
    return [s for s in CURRICULUM if s.level == level]


def weekly_periods(grade: int) -> dict[str, int]:
    """Periods a week per subject code for ``grade``: yearly periods / 35, rounded by largest
    remainder so that the week adds up to :data:`WEEKLY_TOTAL`."""
    yearly = {s.code: s.periods_per_year[grade] for s in subjects_for(level_of_grade(grade))
              if grade in s.periods_per_year}
    exact = {code: n / WEEKS_PER_YEAR for code, n in yearly.items()}
    week = {code: max(1, int(x)) for code, x in exact.items()}
    target = WEEKLY_TOTAL[grade]
    by_remainder = sorted(exact, key=lambda c: exact[c] - int(exact[c]), reverse=True)
    i = 0
    while sum(week.values()) < target:
        week[by_remainder[i % len(by_remainder)]] += 1
        i += 1
    while sum(week.values()) > target:
        code = max(week, key=lambda c: week[c] - exact[c])
        week[code] -= 1
    return week
