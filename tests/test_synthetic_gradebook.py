"""Generated gradebooks and transcripts, end to end through the services: a primary class
(TT27 ratings and tests) and a secondary class (TT22 averages) issued and verified, schools
stopped at their steps with the right blocking step, expired certificates renewed on request."""
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.access.authz import SYSTEM, Actor
from core.demo.gradebook import generate_transcripts
from core.demo.synthetic import Scale, generate
from core.kernel.errors import NotFound
from core.kernel.vocabulary import Role, TranscriptStatus
from core.signatures import DemoPKI
from core.storage.models import School, SchoolClass, SubjectConfirmation, Transcript
from core.transcripts.figures import blocking_steps, issuance_figures
from core.transcripts.rules import tt22_2021 as tt22
from core.transcripts.rules import tt27_2020 as tt27
from core.transcripts.verification import verify_transcript

# school 0 is primary, 1 lower secondary; one class each (the lowest grade: 1A1 and 6A1)
TWO = Scale(districts=1, schools_per_district=2, classes_per_school=1, weeks=0, students_per_class=6, seed=5)


@pytest.fixture
def issued(db, tmp_path):
    generate(db, TWO, pki_dir=tmp_path / "pki", progress=False)
    report = generate_transcripts(db, pki_dir=tmp_path / "pki", classes_per_school=1, stages=("issued",),
                                  renew_certificates=True)
    return db, report, DemoPKI.load(tmp_path / "pki").trust_store()


def test_primary_and_secondary_transcripts_issued_and_verified(issued):
    db, report, trust = issued
    assert report.statuses == {"issued": 12} and report.classes == 2
    with db.reading() as s:
        rows = s.execute(select(Transcript, SchoolClass.grade).join(SchoolClass)).all()
    levels = set()
    for row, grade in rows:
        content = row.content
        summary = dict(content["summary"])
        if grade <= 5:
            levels.add("primary")
            ratings = {x["code"]: tt27.SubjectRating(x["year"]) for x in content["subjects"]}
            assert set(ratings) >= {"TH-TV", "TH-TOAN"}
            # the stored result is the rule's result on the stored ratings (no test scores ≥ the threshold faked)
            assert summary["Kết quả giáo dục cả năm"] in {r.value for r in tt27.YearResult}
            if any(r == tt27.SubjectRating.CHUA_HOAN_THANH for r in ratings.values()):
                assert summary["Kết quả giáo dục cả năm"] == tt27.YearResult.CHUA_HOAN_THANH.value
        else:
            levels.add("secondary")
            scored = {x["code"]: Decimal(x["year"]) for x in content["subjects"] if not x["comment_only"]}
            for x in content["subjects"]:
                if not x["comment_only"]:  # the year average is (term I + 2 × term II) / 3, rounded
                    assert Decimal(x["year"]) == tt22.year_average(Decimal(x["term1"]), Decimal(x["term2"]))
            comments = {x["code"]: x["year"] == "Đạt" for x in content["subjects"] if x["comment_only"]}
            assert summary["Kết quả học tập cả năm"] == tt22.learning_level(scored, comments).value
        check = verify_transcript(db, trust, code=row.verification_code)
        assert check.current and [r.role for r in check.report.signatures] == ["homeroom", "principal", "seal"]
    assert levels == {"primary", "secondary"}


def test_every_subject_teacher_confirmed_before_the_homeroom_signature(issued):
    db, _, _ = issued
    with db.reading() as s:
        confirmations = s.scalar(select(func.count()).select_from(SubjectConfirmation))
        first_confirmed = s.scalar(select(func.max(SubjectConfirmation.confirmed_at)))
        assert confirmations >= 2 * 5 and first_confirmed is not None
    figures = issuance_figures(db, SYSTEM, "school")
    assert list(figures["issued"]) == [6, 6] and list(figures["confirmed"]) == [6, 6]
    rows, total = blocking_steps(db, SYSTEM)
    assert total == 0 and rows.empty


def test_schools_stop_at_their_step_and_say_who_blocks(db, tmp_path):
    generate(db, Scale(districts=1, schools_per_district=3, classes_per_school=1, weeks=0, students_per_class=4,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    report = generate_transcripts(db, pki_dir=tmp_path / "pki", classes_per_school=1,
                                  stages=("entered", "homeroom_signed", "confirmed"), renew_certificates=True)
    assert report.statuses == {"homeroom_signed": 4, "draft": 4}
    rows, total = blocking_steps(db, SYSTEM)
    assert total == 3
    steps = dict(zip(rows["school_code"], rows["step"]))
    assert steps == {"S0001": "Giáo viên bộ môn xác nhận điểm", "S0002": "Hiệu trưởng ký và đóng dấu",
                     "S0003": "Giáo viên chủ nhiệm ký"}
    waiting = rows.set_index("school_code")["waiting_on"]
    assert "(" in waiting["S0001"]  # "Subject (Teacher name)"
    with db.reading() as s:
        second = s.scalar(select(School.id).where(School.code == "S0002"))
    monitor = Actor(user_id=None, username="gs", role=Role.SCHOOL_MONITOR, school_ids=frozenset({second}))
    rows, total = blocking_steps(db, monitor)
    assert total == 1 and list(rows["school_code"]) == ["S0002"]
    with pytest.raises(NotFound):
        blocking_steps(db, monitor, school_id=second + 1)


def test_an_expired_certificate_blocks_until_renewed(db, tmp_path):
    generate(db, Scale(districts=1, schools_per_district=1, classes_per_school=1, weeks=0, students_per_class=3,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    blocked = generate_transcripts(db, pki_dir=tmp_path / "pki", classes_per_school=1, stages=("issued",))
    renewed = generate_transcripts(db, pki_dir=tmp_path / "pki", classes_per_school=1, stages=("issued",),
                                   fill=False, renew_certificates=True)
    if blocked.blocked:  # the generator expired a certificate of someone teaching this class
        assert blocked.statuses.get("issued", 0) == 0 and renewed.renewed >= 1
    assert renewed.statuses == {"issued": 3}
    with db.reading() as s:
        assert s.scalar(select(func.count()).where(Transcript.status == TranscriptStatus.ISSUED)) == 3
