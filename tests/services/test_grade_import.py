"""A subject teacher's gradebook imported from a file (nhập điểm từ tệp), on both databases:
every bad row is listed with its row and reason in both languages and nothing is stored; a good
file stores the results the rules compute; another teacher's subject is refused."""
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
    assert set(rows) == {5, 6, 7}, rows
    assert "10.5" in rows[5] and " / " in rows[5]             # the rule's reason, English / Vietnamese
    assert "079999999999" in rows[6] and "term" in rows[7]
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
