"""The gradebook services check every value of a request before they write: one impossible value
anywhere refuses the whole request with a clear error naming the student, the subject, the
assessment and the article, and nothing is stored — not the request's good rows, not a change
to earlier rows, not an audit event. On PostgreSQL and on the embedded default. Also: the
sessions the logbook records absent feed the promotion rule (TT22/2021 Art. 12)."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.access.authz import SYSTEM
from core.kernel.errors import InvalidAssessment, NotFound
from core.logbook.entries import generate_week
from core.storage.models import EntryAbsence, LogbookEntry, SchoolWeek, StudentEvaluation, SubjectResult, Transcript
from core.transcripts.gradebook import enter_evaluation, enter_subject_results
from core.transcripts.workflow import prepare_transcripts
from tests.services.transcripts_school import COMMENT, GOOD, SCORED, audits, count, full_class, year_of
from tests.world import MONDAY


@pytest.fixture
def school(world):
    return full_class(world)


def enter(w, code, results, comments=None):
    return enter_subject_results(w.db, w.actor({"TOAN": "lan", "NV": "minh", "TA": "ha", "GDTC": "ha"}.get(code, "lan")),
                                 w.ids["6A1"], w.ids[f"subj:{code}"], w.ids["year"], results, comments)


def two(w, bad, good=None):
    """A request for both students: the first good, the second with the bad data."""
    return {w.ids["student0"]: good or {"term1": GOOD, "term2": GOOD}, w.ids["student1"]: bad}


BAD_SCORED = [
    ("10.5 regular", {"term1": {**GOOD, "regular": ["8", "7.5", "10.5", "6"]}, "term2": GOOD}, "got 10.5 for Toán, "
     "term 1, regular 3, student", "TT22/2021 Art. 5"),
    ("-1 mid-term", {"term1": GOOD, "term2": {**GOOD, "mid": -1}}, "got -1 for Toán, term 2, mid-term",
     "TT22/2021 Art. 5"),
    ("6.95 final", {"term1": {**GOOD, "final": "6,95"}, "term2": GOOD}, "got 6,95 for Toán, term 1, end-of-term",
     "TT22/2021 Art. 5"),
    ("text for a score", {"term1": {**GOOD, "mid": "Chưa đạt"}, "term2": GOOD}, "got Chưa đạt", "TT22/2021 Art. 5"),
    ("None", {"term1": {**GOOD, "final": None}, "term2": GOOD}, "got no value", "TT22/2021 Art. 5"),
    ("NaN", {"term1": {**GOOD, "final": float("nan")}, "term2": GOOD}, "got nan", "TT22/2021 Art. 5"),
    ("missing term 2", {"term1": GOOD}, "term 2", "TT22/2021 Art. 7"),
    ("missing final", {"term1": {"regular": GOOD["regular"], "mid": "7"}, "term2": GOOD}, "final",
     "TT22/2021 Art. 7"),
    ("a typo in a key", {"term1": GOOD, "term 2": GOOD}, "got term 2", "TT22/2021 Art. 7"),
    ("three regular of four", {"term1": {**GOOD, "regular": ["8", "7", "9"]}, "term2": GOOD},
     "4 regular assessments are required per term; got 3", "TT22/2021 Art. 6"),
    ("a regular score missed", {"term1": {**GOOD, "regular": ["8", {"missed": True}, "9", "6"]}, "term2": GOOD},
     "regular 2", "TT22/2021 Art. 5"),
    ("not an object", ["8", "7"], "an object of named parts", "TT22/2021 Art. 7"),
]


@pytest.mark.parametrize("name,bad,says,article", BAD_SCORED, ids=[c[0] for c in BAD_SCORED])
def test_a_bad_score_anywhere_stores_nothing(school, name, bad, says, article):
    w = school
    with pytest.raises(InvalidAssessment) as caught:
        enter(w, "TOAN", two(w, bad), {w.ids["student0"]: "Tiến bộ"})
    err = caught.value
    assert says in err.message and err.article == article, err.message
    assert err.student == w.ids["student1"] and err.subject == "Toán" and err.message_vi.startswith(
        article.replace("Art.", "Điều"))
    assert count(w, SubjectResult) == 0 and audits(w, "gradebook.enter") == 0


def test_a_bad_request_leaves_earlier_results_as_they_were(school):
    w = school
    assert enter(w, "TOAN", two(w, {"term1": GOOD, "term2": GOOD})) == 2
    low = {"term1": {**GOOD, "regular": ["1", "1", "1", "1"]}, "term2": GOOD}
    with pytest.raises(InvalidAssessment):
        enter(w, "TOAN", two(w, {"term1": GOOD, "term2": {**GOOD, "mid": 11}}, good=low))
    with w.db.reading() as s:
        values = s.scalars(select(SubjectResult.year_value).order_by(SubjectResult.student_id)).all()
        stored = s.scalar(select(SubjectResult.term1).where(SubjectResult.student_id == w.ids["student0"]))
    assert values == ["7.8", "7.8"] and stored["regular"] == ["8", "7.5", "9", "6"]  # "7,5" kept as 7.5
    assert audits(w, "gradebook.enter") == 1


def test_a_comment_only_subject_reads_its_words(school):
    w = school
    ids = w.ids
    enter(w, "GDTC", {ids["student0"]: {"term1": COMMENT, "term2": COMMENT},
                      ids["student1"]: {"term1": COMMENT, "term2": ["Đạt", "Đạt", "Chưa đạt", {"missed": True}]}})
    with w.db.reading() as s:
        values = dict(s.execute(select(SubjectResult.student_id, SubjectResult.year_value)).all())
    assert values == {ids["student0"]: "Đạt", ids["student1"]: "Chưa đạt"}  # "Chưa đạt" never counts as Đạt


@pytest.mark.parametrize("bad,says", [
    ({"term1": COMMENT, "term2": {**COMMENT, "final": "Chua dat"}}, "got Chua dat"),
    ({"term1": COMMENT, "term2": {**COMMENT, "mid": 7.5}}, "Đạt or Chưa đạt"),
    ({"term1": COMMENT, "term2": ["Đạt", "Đạt", "Đạt"]}, "4 assessments a term"),
    ({"term1": COMMENT, "term2": None}, "term 2"),
])
def test_a_bad_comment_result_stores_nothing(school, bad, says):
    w = school
    with pytest.raises(InvalidAssessment, match=says) as caught:
        enter(w, "GDTC", two(w, bad, good={"term1": COMMENT, "term2": COMMENT}))
    assert caught.value.subject == "Giáo dục thể chất"
    assert count(w, SubjectResult) == 0 and audits(w, "gradebook.enter") == 0


def test_a_student_of_another_class_stores_nothing(school):
    w = school
    results = {w.ids["student0"]: {"term1": GOOD, "term2": GOOD}, w.ids["student2"]: {"term1": GOOD, "term2": GOOD}}
    with pytest.raises(NotFound, match="not in this class"):
        enter(w, "TOAN", results)
    with pytest.raises(InvalidAssessment, match="named by their id"):
        enter(w, "TOAN", {"student0": {"term1": GOOD, "term2": GOOD}})
    with pytest.raises(InvalidAssessment, match="comment is a text"):
        enter(w, "TOAN", two(w, {"term1": GOOD, "term2": GOOD}), {w.ids["student1"]: 42})
    assert count(w, SubjectResult) == 0


BAD_EVALUATIONS = [
    ("conduct Giỏi", {"conduct_term1": "Giỏi", "conduct_term2": "Tốt"}, "a level is Tốt, Khá, Đạt or Chưa đạt"),
    ("negative absences", {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": -3},
     "absences are a whole number of sessions"),
    ("absences as text", {"absent_sessions": "ba"}, "absences are a whole number"),
    ("a column name", {"id": 5}, "the parts are"),
    ("qualities in lower secondary", {"qualities": {}}, "the parts are"),
    ("a nomination in lower secondary", {"nominated": True}, "the parts are"),
]


@pytest.mark.parametrize("name,bad,says", BAD_EVALUATIONS, ids=[c[0] for c in BAD_EVALUATIONS])
def test_a_bad_evaluation_stores_nothing(school, name, bad, says):
    w = school
    good = {"conduct_term1": "Tốt", "conduct_term2": "Khá", "absent_sessions": 2}
    with pytest.raises(InvalidAssessment, match=says) as caught:
        enter_evaluation(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"],
                         {w.ids["student0"]: good, w.ids["student1"]: bad})
    assert caught.value.student == w.ids["student1"] and caught.value.message_vi
    assert count(w, StudentEvaluation) == 0 and audits(w, "gradebook.evaluate") == 0


def test_levels_are_stored_in_their_words(school):
    w = school
    enter_evaluation(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"],
                     {w.ids["student0"]: {"conduct_term1": "T", "conduct_term2": "khá"}})
    with w.db.reading() as s:
        row = s.scalar(select(StudentEvaluation))
    assert (row.conduct_term1, row.conduct_term2, row.absent_sessions) == ("Tốt", "Khá", 0)


# ---------------------------------------------------------------- absences from the logbook (Art. 12)
@pytest.fixture
def absent_year(school):
    return record_absences(school)


def record_absences(w):
    """23 school weeks of Mondays and Tuesdays (46 days; 6A1 has 3 periods a day): student 0
    absent from every period of all 46 days, student 1 from every period of 45 days and from 2
    of the 3 periods of the last one."""
    with w.db.transaction() as s:
        s.add_all([SchoolWeek(school_year_id=w.ids["year"], number=9 + i, term=1,
                              monday=MONDAY + dt.timedelta(weeks=3 + i)) for i in range(20)])
        s.flush()
        weeks = s.scalars(select(SchoolWeek.id).order_by(SchoolWeek.monday)).all()
    for week in weeks:
        generate_week(w.db, SYSTEM, w.ids["A"], week)
    with w.db.transaction() as s:
        entries = s.execute(select(LogbookEntry.id, LogbookEntry.day, LogbookEntry.period_no).where(
            LogbookEntry.class_id == w.ids["6A1"]).order_by(LogbookEntry.day, LogbookEntry.period_no)).all()
        days = sorted({d for _, d, _ in entries})
        assert len(days) == 46
        rows = [EntryAbsence(entry_id=e, student_id=w.ids["student0"], excused=n % 2 == 0)
                for n, (e, _, _) in enumerate(entries)]
        rows += [EntryAbsence(entry_id=e, student_id=w.ids["student1"], excused=True)
                 for e, d, p in entries if d != days[-1] or p < 3]
        s.add_all(rows)
    return w


def test_the_logbook_absences_feed_promotion(absent_year):
    w = absent_year
    ids = w.ids
    for code in SCORED:
        enter(w, code, {ids["student0"]: year_of(code), ids["student1"]: year_of(code)})
    # the homeroom teacher cannot write fewer sessions than the logbook records
    with pytest.raises(InvalidAssessment, match="the logbook records 46 sessions absent") as caught:
        enter_evaluation(w.db, w.actor("lan"), ids["6A1"], ids["year"],
                         {ids["student0"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": 10}})
    assert caught.value.article == "TT22/2021 Art. 12" and count(w, StudentEvaluation) == 0
    enter_evaluation(w.db, w.actor("lan"), ids["6A1"], ids["year"],
                     {ids["student0"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt"},
                      ids["student1"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt"}})
    prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    with w.db.reading() as s:
        contents = {t.student_id: dict(map(tuple, t.content["summary"])) for t in s.scalars(select(Transcript))}
    assert contents[ids["student0"]]["Số buổi nghỉ"] == "46"
    assert contents[ids["student0"]]["Lên lớp / rèn luyện hè / kiểm tra lại"] == "Ở lại lớp"
    assert contents[ids["student1"]]["Số buổi nghỉ"] == "45"           # a day absent from 2 of 3 periods: no session
    assert contents[ids["student1"]]["Lên lớp / rèn luyện hè / kiểm tra lại"] == "Lên lớp"


def test_absences_recorded_after_the_evaluation_still_count(school):
    """The homeroom teacher entered 3 sessions early in the year; the logbook then records 46:
    the transcript counts the larger, and the student repeats the grade."""
    w = school
    ids = w.ids
    for code in SCORED:
        enter(w, code, {ids["student0"]: year_of(code)})
    enter_evaluation(w.db, w.actor("lan"), ids["6A1"], ids["year"],
                     {ids["student0"]: {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": 3}})
    record_absences(w)
    [draft] = prepare_transcripts(w.db, w.actor("lan"), ids["6A1"], ids["year"])
    with w.db.reading() as s:
        summary = dict(map(tuple, s.get(Transcript, draft).content["summary"]))
    assert (summary["Số buổi nghỉ"], summary["Lên lớp / rèn luyện hè / kiểm tra lại"]) == ("46", "Ở lại lớp")
