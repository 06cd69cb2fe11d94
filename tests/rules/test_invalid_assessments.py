"""Every rule refuses what the regulation does not allow, as an independent check of the rules
would try it: impossible scores, levels and ratings no article names, negative absences, missing
results, values of the wrong type. Each is a clear error — :class:`InvalidAssessment` (or
:class:`InvalidPersonalId`) naming the article and the value, in English and Vietnamese — never
a computation with the value and never a ``KeyError``, ``TypeError``, ``AttributeError`` or
``decimal.InvalidOperation``."""
import datetime as dt
from decimal import Decimal as D

import pytest

from core.kernel.errors import InvalidAssessment, InvalidPersonalId, MalformedInput
from core.school.rules.personal_id import validate_personal_id
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27
from core.transcripts.rules.values import parse_decimal

REGULAR = ["8", "7.5", "9", "6"]                      # E1
GOOD = {f"m{i}": D("8.0") for i in range(8)}
OK4 = {f"c{i}": True for i in range(4)}
NAN = float("nan")


def refused(call, *, article, value=None):
    """``call`` raises InvalidAssessment naming ``article`` (and ``value`` when given), with a
    Vietnamese message that names the article too."""
    with pytest.raises(InvalidAssessment) as caught:
        call()
    err = caught.value
    assert isinstance(err, MalformedInput) and err.status == 422
    assert err.article == article and err.message.startswith(article), err.message
    assert err.message_vi.startswith(article.replace("Art.", "Điều")), err.message_vi
    assert "got" in err.message and "nhận được" in err.message_vi
    if value is not None:
        assert err.value == value or (err.value != err.value and value != value), (err.value, value)
    return err


# ---------------------------------------------------------------- Art. 5: the scale and the precision
@pytest.mark.parametrize("bad", [D("10.5"), "10.5", 10.5, -1, "-1", D("6.95"), 6.95, "6,95", "11"])
def test_a_score_off_the_scale_or_with_two_decimals_never_enters_an_average(bad):
    refused(lambda: tt22.term_average([bad, *REGULAR[1:]], "7", "8.5"), article="TT22/2021 Art. 5", value=bad)
    refused(lambda: tt22.term_average(REGULAR, bad, "8.5"), article="TT22/2021 Art. 5", value=bad)
    refused(lambda: tt22.term_average(REGULAR, "7", bad), article="TT22/2021 Art. 5", value=bad)


def test_the_message_names_the_assessment():
    err = refused(lambda: tt22.term_average(["8", "7.5", "10.5", "6"], "7", "8.5"), article="TT22/2021 Art. 5")
    assert err.message.startswith("TT22/2021 Art. 5: a score is on a 10-point scale with at most one decimal; "
                                  "got 10.5 for regular 3"), err.message
    located = err.located(student=12, subject="Toán", field=(("term 1", "học kì I"),))
    assert "got 10.5 for Toán, term 1, regular 3, student 12" in located.message
    assert "ở môn Toán, học kì I, ĐĐGtx 3, học sinh 12" in located.message_vi
    assert (located.student, located.subject, located.field, located.value) == (12, "Toán", "term 1, regular 3",
                                                                                 "10.5")


@pytest.mark.parametrize("bad", [None, NAN, float("inf"), "", "  ", "bảy", "7,5,1", "1e1", True, [7], {"x": 1},
                                 D("NaN"), dt.date(2025, 1, 1)])
def test_values_of_any_kind_are_a_clear_error_not_a_crash(bad):
    refused(lambda: tt22.term_average(REGULAR, bad, "8.5"), article="TT22/2021 Art. 5")
    refused(lambda: tt22.year_average(bad, "7.0"), article="TT22/2021 Art. 9.1")


def test_the_vietnamese_decimal_comma_is_read():
    assert parse_decimal("7,5") == parse_decimal("7.5") == D("7.5")
    assert tt22.term_average(["8", "7,5", "9", "6"], "7", "8,5") == D("7.8")      # E1 with commas
    assert tt22.year_average("4,9", "5,0") == D("5.0")                             # Y3
    assert parse_decimal(" 8 ") == 8 and parse_decimal(-0.0) == 0 and parse_decimal(True) is None


def test_a_term_average_of_11_makes_no_level_and_no_title():
    eleven = {**GOOD, "m0": D("11")}
    refused(lambda: tt22.base_learning_level(eleven, OK4), article="TT22/2021 Art. 9.1", value=D("11"))
    refused(lambda: tt22.learning_level(eleven, OK4), article="TT22/2021 Art. 9.1")
    refused(lambda: tt22.title(tt22.Level.TOT, tt22.Level.TOT, {**eleven, **{f"x{i}": "9.0" for i in range(6)}}),
            article="TT22/2021 Art. 9.1")
    refused(lambda: tt22.retest_subjects({"m0": "-0.5"}, {}), article="TT22/2021 Art. 9.1")


def test_a_comment_only_result_given_as_text_counts_as_itself():
    assert tt22.comment_result("Chưa đạt") is False and tt22.comment_result("CĐ") is False
    assert tt22.comment_result("Đạt") is True and tt22.comment_result("đạt") is True
    decomposed = "Chưa đạt".encode().decode()  # the same text ...
    import unicodedata
    assert tt22.comment_result(unicodedata.normalize("NFD", decomposed)) is False  # ... as some keyboards send it
    # "Chưa đạt" as the comment subject's result: Chưa đạt, and the level falls with it (F6 → Đạt base)
    f6 = {"m0": "8.0", "m1": "8.5", "m2": "9.0", "m3": "8.2", "m4": "8.0", "m5": "8.1", "m6": "7.5", "m7": "7.0"}
    assert tt22.base_learning_level(f6, {"c0": "Đạt", "c1": "Đạt", "c2": "Đạt", "c3": "Chưa đạt"}) == tt22.Level.DAT
    assert tt22.comment_subject_year("Chưa đạt") is False
    assert tt22.comment_subject_term(["Đạt", "Đạt", "Chưa đạt", "Đạt"], required=4) is False


@pytest.mark.parametrize("bad", ["Chua dat", "Dat", "Tốt", "Pass", 1, 0, None, "", NAN])
def test_a_comment_result_no_article_names_is_refused(bad):
    refused(lambda: tt22.comment_result(bad), article="TT22/2021 Art. 5", value=bad)
    refused(lambda: tt22.base_learning_level(GOOD, {**OK4, "c0": bad}), article="TT22/2021 Art. 5", value=bad)


@pytest.mark.parametrize("bad", ["Giỏi", "Xuất sắc", "A", "", None, 3, True])
def test_a_level_no_article_names_is_refused(bad):
    refused(lambda: tt22.conduct_year(bad, "Tốt"), article="TT22/2021 Art. 8", value=bad)
    refused(lambda: tt22.promotion(bad, "Đạt", 3), article="TT22/2021 Art. 8", value=bad)
    refused(lambda: tt22.promotion("Đạt", bad, 3), article="TT22/2021 Art. 9.2", value=bad)


def test_levels_are_read_by_name_and_code():
    assert tt22.conduct_year("Khá", "T") == tt22.Level.TOT and tt22.conduct_year("CĐ", "Đ") == tt22.Level.DAT


@pytest.mark.parametrize("bad", [-1, -46, "-3", 2.5, "nhiều", None, True])
def test_negative_or_broken_absences_never_promote(bad):
    refused(lambda: tt22.promotion("Tốt", "Tốt", bad), article="TT22/2021 Art. 12", value=bad)


def test_missing_terms_and_wrong_shapes_are_named():
    refused(lambda: tt22.scored_term({"regular": REGULAR, "mid": "7"}, 4), article="TT22/2021 Art. 7")
    refused(lambda: tt22.scored_term({"regular": "8", "mid": "7", "final": "8"}, 4), article="TT22/2021 Art. 6")
    refused(lambda: tt22.scored_term(None, 4), article="TT22/2021 Art. 7")
    refused(lambda: tt22.scored_term({"regular": REGULAR[:3], "mid": "7", "final": "8"}, 4),
            article="TT22/2021 Art. 6", value=3)
    refused(lambda: tt22.base_learning_level([8, 8, 8], OK4), article="TT22/2021 Art. 9.2")
    refused(lambda: tt22.term_average([], "7", "8"), article="TT22/2021 Art. 6")
    refused(lambda: tt22.regular_assessments_per_term(0), article="TT22/2021 Art. 6")
    refused(lambda: tt22.periodic_score({"missed": "yes"}), article="TT22/2021 Art. 7")


# ---------------------------------------------------------------- TT27
SUBJ = {s: "T" for s in ("TV", "TOAN", "NN", "LSDL", "KH", "TINCN", "DD", "GDTC", "AN", "MT", "HDTN")}
QUAL = {n: "T" for n in (*tt27.QUALITIES, *tt27.COMPETENCES)}
TESTS = {s: 10 for s in ("TV", "TOAN", "NN", "LSDL", "KH", "TINCN")}


@pytest.mark.parametrize("bad", ["X", "A", "Tốt", "", None, 1, "Hoàn thành xuất sắc"])
def test_an_unknown_tt27_rating_never_counts_as_completed(bad):
    refused(lambda: tt27.year_result({**SUBJ, "AN": bad}, QUAL, TESTS), article="TT27/2020 Art. 7", value=bad)


@pytest.mark.parametrize("bad", ["H", "X", "Khá", None])
def test_an_unknown_quality_rating_is_refused(bad):
    refused(lambda: tt27.year_result(SUBJ, {**QUAL, "trung thực": bad}, TESTS), article="TT27/2020 Art. 7",
            value=bad)


def test_no_year_end_tests_is_never_hoan_thanh_xuat_sac():
    refused(lambda: tt27.year_result(SUBJ, QUAL, {}), article="TT27/2020 Art. 7")
    refused(lambda: tt27.year_result(SUBJ, QUAL, None), article="TT27/2020 Art. 7")
    # with the grade: every tested subject of grade 4 needs its score, and only those have one
    codes = {c: "T" for c in ("TH-TV", "TH-TOAN", "TH-NN", "TH-LSDL", "TH-KH", "TH-TINCN", "TH-DD", "TH-GDTC")}
    tests = {c: 10 for c in tt27.subjects_with_tests(4)}
    assert tt27.year_result(codes, QUAL, tests, grade=4) == tt27.YearResult.HOAN_THANH_XUAT_SAC
    err = refused(lambda: tt27.year_result(codes, QUAL, {k: v for k, v in tests.items() if k != "TH-KH"}, grade=4),
                  article="TT27/2020 Art. 7")
    assert err.subject == "TH-KH"
    refused(lambda: tt27.year_result(codes, QUAL, {**tests, "TH-DD": 9}, grade=4), article="TT27/2020 Art. 7",
            value=9)
    refused(lambda: tt27.year_result(SUBJ, QUAL, {**TESTS, "ZZ": 9}), article="TT27/2020 Art. 7")  # an unrated subject


def test_missing_or_unknown_qualities_are_refused():
    refused(lambda: tt27.year_result(SUBJ, {}, TESTS), article="TT27/2020 Art. 9.2.a")
    refused(lambda: tt27.year_result(SUBJ, {k: v for k, v in QUAL.items() if k != "nhân ái"}, TESTS),
            article="TT27/2020 Art. 9.2.a", value="nhân ái")
    refused(lambda: tt27.year_result(SUBJ, {**QUAL, "sáng tạo": "T"}, TESTS), article="TT27/2020 Art. 9.2.a",
            value="sáng tạo")
    refused(lambda: tt27.year_result([], QUAL, TESTS), article="TT27/2020 Art. 9.2.a")


def test_tt27_ratings_are_read_by_name_and_code():
    named = {**SUBJ, "AN": "Hoàn thành"}
    assert tt27.year_result(named, QUAL, TESTS) == tt27.YearResult.HOAN_THANH
    refused(lambda: tt27.commendation("Xuất sắc"), article="TT27/2020 Art. 9.2.a", value="Xuất sắc")
    refused(lambda: tt27.commendation(tt27.YearResult.HOAN_THANH_TOT, "có"), article="TT27/2020 Art. 13")


# ---------------------------------------------------------------- the personal ID
@pytest.mark.parametrize("born,why", [
    (dt.date(2030, 3, 14), "in the future"),
    (None, "must be a date"), ("2018-03-14", "must be a date"), (2018, "must be a date"),
])
def test_a_personal_id_is_not_valid_for_an_impossible_birth(born, why):
    with pytest.raises(InvalidPersonalId, match=why) as caught:
        validate_personal_id("079230000123" if born == dt.date(2030, 3, 14) else "079218000123", born, "M",
                             today=dt.date(2026, 12, 1))
    assert caught.value.message_vi != caught.value.message


@pytest.mark.parametrize("sex", ["X", "", None, 1, "Nam"])
def test_a_personal_id_needs_a_known_sex(sex):
    with pytest.raises(InvalidPersonalId, match="sex must be M or F"):
        validate_personal_id("079218000123", dt.date(2018, 3, 14), sex)


def test_a_personal_id_of_the_wrong_type_is_a_clear_error():
    for number in (None, 79218000123, b"079218000123"):
        with pytest.raises(InvalidPersonalId, match="exactly 12 digits"):
            validate_personal_id(number, dt.date(2018, 3, 14), "M")
    assert validate_personal_id("079218000123", dt.date(2018, 3, 14), "M", today=dt.date(2018, 3, 14))
