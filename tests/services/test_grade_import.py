"""A subject teacher's gradebook imported from a file (nhập điểm từ tệp), on both databases:
every bad row is listed with its row and reason in both languages and nothing is stored; a good
file stores the results the rules compute; another teacher's subject is refused."""
import datetime as dt

import pytest
from sqlalchemy import select

from core.kernel.errors import ImportRejected
from core.storage.models import Student, SubjectResult
from core.transcripts.grade_import import COLUMNS, import_grades
from tests.services.transcripts_school import count, full_class

HEADER = ",".join(COLUMNS)


@pytest.fixture
def school(world):
    return full_class(world)


def _pid(w, key):
    with w.db.reading() as s:
        return s.scalar(select(Student.personal_id).where(Student.id == w.ids[key]))


def _write(tmp_path, rows, name="diem.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_bad_gradebook_lists_every_row_and_stores_nothing_then_a_good_one_is_stored(school, tmp_path):
    w = school
    s0, s1 = _pid(w, "student0"), _pid(w, "student1")
    good = [f'A01,6A1,TOAN,{s0},1,"8; 7,5; 9; 6",7,8.5,Tiến bộ', f'A01,6A1,TOAN,{s0},2,"8; 7,5; 9; 6",7,8.5,',
            f'A01,6A1,TOAN,{s1},1,"8; 8; 8; 8",8,8,', f'A01,6A1,TOAN,{s1},2,"8; 8; 8; 8",8,8,']
    bad = [*good[:3], f'A01,6A1,TOAN,{s1},2,"8; 8; 8; 8",8,10.5,',       # row 5: a score above 10
           'A01,6A1,TOAN,079999999999,1,"8; 8; 8; 8",8,8,',                 # row 6: not in the class
           f'A01,6A1,TOAN,{s0},3,"8; 8; 8; 8",8,8,']                         # row 7: no term 3
    with pytest.raises(ImportRejected) as refused:
        import_grades(w.db, w.actor("lan"), _write(tmp_path, bad))
    rows = {p.row: p.reason for p in refused.value.problems}
    rows_vi = {p.row: p.reason_vi for p in refused.value.problems}
    assert set(rows) == {5, 6, 7}, rows
    assert "10.5" in rows[5] and "10.5" in rows_vi[5]          # the rule's reason, in English and in Vietnamese
    assert rows_vi[5] != rows[5] and "Điều" in rows_vi[5]
    assert "079999999999" in rows[6] and "term" in rows[7]
    assert rows_vi[6] == "lớp 6A1 không có học sinh 079999999999" and "học kì" in rows_vi[7]
    assert count(w, SubjectResult) == 0

    result = import_grades(w.db, w.actor("lan"), _write(tmp_path, good))
    assert result.created == {"class_subjects": 1, "results": 2}
    with w.db.reading() as s:
        values = dict(s.execute(select(SubjectResult.student_id, SubjectResult.year_value)).all())
        comment = s.scalar(select(SubjectResult.comment).where(SubjectResult.student_id == w.ids["student0"]))
    assert values == {w.ids["student0"]: "7.8", w.ids["student1"]: "8.0"} and comment == "Tiến bộ"


def test_another_teachers_subject_is_refused_whole(school, tmp_path):
    w = school
    s0 = _pid(w, "student0")
    rows = [f'A01,6A1,NV,{s0},1,"8; 7,5; 9; 6",7,8.5,', f'A01,6A1,NV,{s0},2,"8; 7,5; 9; 6",7,8.5,']
    with pytest.raises(ImportRejected) as refused:
        import_grades(w.db, w.actor("lan"), _write(tmp_path, rows))   # Ngữ văn is Minh's
    assert any("only the class's teacher of this subject" in p.reason for p in refused.value.problems)
    assert count(w, SubjectResult) == 0


def _primary_class(w):
    """School A's 6A2 made a grade-5 class (5A2, Minh's, students 2 and 3) with Toán (a year-end
    test in grade 5) and Đạo đức (none), both taught by Minh (TT27/2020 Art. 7)."""
    from core.kernel.vocabulary import SchoolLevel
    from core.storage.models import SchoolClass, Subject, TeachingAssignment

    with w.db.transaction() as s:
        klass = s.get(SchoolClass, w.ids["6A2"])
        klass.grade, klass.name = 5, "5A2"
        for code, name in (("TH-TOAN", "Toán"), ("TH-DD", "Đạo đức")):
            subject = Subject(code=code, name=name, level=SchoolLevel.PRIMARY, comment_only=False)
            s.add(subject)
            s.flush()
            w.ids[f"subj:{code}"] = subject.id
            s.add(TeachingAssignment(class_id=klass.id, subject_id=subject.id, teacher_id=w.ids["minh"],
                                     valid_from=dt.date(2025, 9, 1)))
    return w


def test_a_primary_gradebook_is_one_row_per_subject_for_the_year(world, tmp_path):
    """TT27/2020 Art. 7: a rating (T/H/C or its name) and, for a subject with a periodic test, the
    year-end test score, a whole number 0-10. Each wrong row is listed, nothing is stored."""
    w = _primary_class(world)
    s2, s3 = _pid(w, "student2"), _pid(w, "student3")
    good = [f"A01,5A2,TH-TOAN,{s2},year,,,,Tiến bộ,T,9", f"A01,5A2,TH-TOAN,{s3},cả năm,,,,,Hoàn thành,7",
            f"A01,5A2,TH-DD,{s2},year,,,,,T,", f"A01,5A2,TH-DD,{s3},year,,,,,H,"]
    bad = [good[0],
           f"A01,5A2,TH-DD,{s2},year,,,,,T,9",          # row 3: Đạo đức has no periodic test
           f"A01,5A2,TH-DD,{s3},1,,,,,H,",              # row 4: a primary row is the year's
           f'A01,5A2,TH-TOAN,{s2},year,"8; 9",7,8,,T,9',  # row 5: scores per term
           f"A01,5A2,TH-DD,{s3},year,,,,,Giỏi,",        # row 6: not a rating
           f"A01,5A2,TH-TOAN,{s3},year,,,,,H,8.5"]      # row 7: a test score with a decimal
    with pytest.raises(ImportRejected) as refused:
        import_grades(w.db, w.actor("minh"), _write(tmp_path, bad))
    rows = {}
    for p in refused.value.problems:
        rows.setdefault(p.row, []).append((p.column, p.reason))
    assert set(rows) == {3, 4, 5, 6, 7}, rows
    assert "no periodic test" in str(rows[3]) and "primary row is the year" in str(rows[4])
    assert {c for c, _ in rows[5]} == {"regular", "mid", "final"} and "Giỏi" in str(rows[6])
    assert "8.5" in str(rows[7]) and "whole number" in str(rows[7])
    assert count(w, SubjectResult) == 0

    result = import_grades(w.db, w.actor("minh"), _write(tmp_path, good))
    assert result.created == {"class_subjects": 2, "results": 4}
    with w.db.reading() as s:
        stored = {(r.student_id, r.subject_id): (r.year_value, (r.term2 or {}).get("test"))
                  for r in s.scalars(select(SubjectResult))}
    ids = w.ids
    assert stored == {(ids["student2"], ids["subj:TH-TOAN"]): ("T", 9), (ids["student3"], ids["subj:TH-TOAN"]): ("H", 7),
                      (ids["student2"], ids["subj:TH-DD"]): ("T", None), (ids["student3"], ids["subj:TH-DD"]): ("H", None)}


def test_a_secondary_row_with_a_rating_is_refused(school, tmp_path):
    s0 = _pid(school, "student0")
    rows = [f'A01,6A1,TOAN,{s0},1,"8; 7,5; 9; 6",7,8.5,,T,', f'A01,6A1,TOAN,{s0},2,"8; 7,5; 9; 6",7,,,,']
    with pytest.raises(ImportRejected) as refused:
        import_grades(school.db, school.actor("lan"), _write(tmp_path, rows))
    assert {(p.row, p.column) for p in refused.value.problems} == {(2, "rating"), (3, "final")}
    assert count(school, SubjectResult) == 0
