"""The subject teacher's results through the API (sổ điểm), on SQLite and on PostgreSQL: the
app reads its class's sheet, enters the year's results, corrects one, is refused an impossible
value whole (nothing stored) and another teacher's subject, then confirms with a signature made
on the device over the sheet's bytes; the confirmation verifies PASSED through core's verifier
and freezes the results. Each refusal in both languages."""
import base64
import datetime as dt

import pytest
from sqlalchemy import func, select

from api.app import create_app
from core.demo.synthetic import Scale, generate
from core.kernel.vocabulary import SchoolLevel
from core.signatures import DemoPKI, KeyStore
from core.storage.models import AuditEvent, SchoolClass, SchoolYear, Staff, Subject, TeachingAssignment, UserAccount
from core.transcripts.gradebook import _periods
from core.transcripts.rules.tt22_2021 import regular_assessments_per_term
from core.transcripts.verification import verify_confirmations
from tests.api.test_api import AS_OF, login
from tests.conftest import committed_database, runtime_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tmp_path_factory):
    """The app as tests/api/test_api.py runs it (the runtime role on PostgreSQL), on a demo with
    a primary and a lower-secondary school."""
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("gradebook-api")
    with committed_database(request, root, "sohoa_gradebook_api") as db, runtime_database(db) as runtime:
        generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=1, weeks=1, students_per_class=4,
                           seed=5), pki_dir=root / "pki", progress=False, as_of=AS_OF)
        app = create_app(runtime, DemoPKI.load(root / "pki").trust_store(), pki_dir=root / "pki",
                         batch_window=0.001, token_cache_seconds=0)
        with TestClient(app) as client:
            client.db, client.keys, client.app_ = db, KeyStore(root / "pki"), app
            yield client


def _assignment(api):
    """A lower-secondary class, a scored subject its teacher teaches, the teacher's user name and
    staff id, the year, and how many regular assessments a term the subject needs."""
    with api.db.reading() as s:
        for ta, klass, subject in s.execute(
                select(TeachingAssignment, SchoolClass, Subject)
                .join(SchoolClass, SchoolClass.id == TeachingAssignment.class_id)
                .join(Subject, Subject.id == TeachingAssignment.subject_id)
                .where(TeachingAssignment.valid_to.is_(None), SchoolClass.grade >= 6,
                       Subject.comment_only.is_(False), Subject.level != SchoolLevel.PRIMARY)
                .order_by(TeachingAssignment.id)):
            user = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == ta.teacher_id))
            if user:
                regular = regular_assessments_per_term(_periods(s, subject, klass.grade))
                year = s.scalar(select(SchoolYear.id).where(SchoolYear.id == klass.school_year_id))
                return klass.id, subject.id, user, ta.teacher_id, year, regular
    pytest.fail("the demo has no lower-secondary scored subject with a teacher account")


def _term(regular: int, final: str = "8.5") -> dict:
    return {"regular": ["8", "7,5", "9", "6"][:regular] + ["8"] * max(0, regular - 4), "mid": "7", "final": final}


def test_a_teacher_enters_corrects_and_confirms_their_subjects_results(api):
    class_id, subject_id, user, staff_id, year_id, regular = _assignment(api)
    headers = login(api, user)
    url = f"/api/v1/classes/{class_id}/subjects/{subject_id}/results"
    sheet = api.get(url, params={"year_id": year_id}, headers=headers)
    assert sheet.status_code == 200, sheet.text
    students = [s["student_id"] for s in sheet.json()["students"]]
    assert students and sheet.json()["missing"] == students and sheet.json()["to_confirm"] is None

    # one impossible value refuses the whole request, and nothing is stored
    bad = {str(s): {"term1": _term(regular), "term2": _term(regular)} for s in students}
    bad[str(students[-1])]["term2"]["final"] = "10.5"
    r = api.put(url, json={"year_id": year_id, "results": bad}, headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert "10.5" in error["message"] and error["message_vi"] and error["code"] == "InvalidAssessment"
    assert api.get(url, params={"year_id": year_id}, headers=headers).json()["missing"] == students

    good = {str(s): {"term1": _term(regular), "term2": _term(regular)} for s in students}
    r = api.put(url, json={"year_id": year_id, "results": good, "comments": {str(students[0]): "Tiến bộ"}},
                headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["missing"] == [] and {s["comment"] for s in r.json()["students"]} >= {"Tiến bộ"}
    # a correction: the same request shape again, one final score changed
    good[str(students[0])]["term2"] = _term(regular, final="10")
    corrected = api.put(url, json={"year_id": year_id, "results": good}, headers=headers).json()
    first = next(s for s in corrected["students"] if s["student_id"] == students[0])
    assert first["term2"]["final"] == "10" and first["year_value"]

    # another teacher of the school is refused this subject; a teacher of another school does not see the class
    with api.db.reading() as s:
        school = s.scalar(select(SchoolClass.school_id).where(SchoolClass.id == class_id))
        colleague, stranger = (s.scalar(select(UserAccount.username).join(Staff, Staff.id == UserAccount.staff_id)
                                        .where(Staff.id != staff_id, UserAccount.role == "teacher", where)
                                        .order_by(UserAccount.id).limit(1))
                               for where in (Staff.school_id == school, Staff.school_id != school))
    r = api.put(url, json={"year_id": year_id, "results": good}, headers=login(api, colleague))
    assert r.status_code == 403 and r.json()["error"]["message_vi"]
    r = api.put(url, json={"year_id": year_id, "results": good}, headers=login(api, stranger))
    assert r.status_code == 404 and r.json()["error"]["message_vi"]

    # the device signs the sheet's bytes; a signature over other bytes is refused, nothing confirmed
    data = base64.b64decode(corrected["to_confirm"])
    signer = api.keys.signer_for(f"staff-{staff_id}")
    confirm = f"/api/v1/classes/{class_id}/subjects/{subject_id}/confirmation"
    wrong = base64.b64encode(signer.sign_detached(data + b" ", dt.datetime(2031, 1, 1))).decode()
    r = api.post(confirm, json={"year_id": year_id, "signature": wrong}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["message_vi"], r.text
    cms = base64.b64encode(signer.sign_detached(data, dt.datetime(2031, 1, 1))).decode()  # the phone's clock
    r = api.post(confirm, json={"year_id": year_id, "signature": cms}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["confirmed_at"] is not None
    report = verify_confirmations(api.db, api.app_.state.sohoa.trust, class_id, year_id)
    mine = [c for c in report.signatures if c.verification.signer_fingerprint == signer.fingerprint]
    assert mine and all(c.verification.indication == "PASSED" for c in mine), report
    # the app's retry of the same confirmation (its answer lost) is answered again, nothing written twice
    again = api.post(confirm, json={"year_id": year_id, "signature": cms}, headers=headers)
    assert again.status_code == 200 and again.json()["confirmed_at"] == r.json()["confirmed_at"], again.text
    # frozen: no more changes, no second, different confirmation
    assert api.put(url, json={"year_id": year_id, "results": good}, headers=headers).status_code == 409
    other = base64.b64encode(signer.sign_detached(data, dt.datetime(2031, 1, 2))).decode()
    assert api.post(confirm, json={"year_id": year_id, "signature": other}, headers=headers).status_code == 409
    with api.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "gradebook.confirm", AuditEvent.entity_id == f"{class_id}/{subject_id}")) == 1


def test_the_homeroom_teacher_enters_evaluations_and_sees_the_class_status(api):
    class_id, subject_id, user, staff_id, year_id, _ = _assignment(api)
    with api.db.reading() as s:
        homeroom_id = s.scalar(select(SchoolClass.homeroom_teacher_id).where(SchoolClass.id == class_id))
        homeroom = s.scalar(select(UserAccount.username).where(UserAccount.staff_id == homeroom_id))
        subjects = s.scalar(select(func.count(func.distinct(TeachingAssignment.subject_id)))
                            .where(TeachingAssignment.class_id == class_id))
    headers = login(api, homeroom)
    url = f"/api/v1/classes/{class_id}/transcript-status"
    status = api.get(url, params={"year_id": year_id}, headers=headers)
    assert status.status_code == 200, status.text
    body = status.json()
    students = [s["student_id"] for s in body["students"]]
    assert students and not any(s["evaluated"] for s in body["students"])
    assert 0 < len(body["unconfirmed_subjects"]) <= subjects  # the blocking step, in words
    assert all(s["transcript_status"] is None for s in body["students"])

    bad = {str(s): {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": 0} for s in students}
    bad[str(students[0])]["conduct_term2"] = "Xuất sắc"  # not a conduct level (TT22/2021 Art. 8)
    r = api.put(f"/api/v1/classes/{class_id}/evaluations", json={"year_id": year_id, "evaluations": bad},
                headers=headers)
    assert r.status_code == 422 and r.json()["error"]["message_vi"], r.text
    assert not any(s["evaluated"] for s in api.get(url, params={"year_id": year_id}, headers=headers)
                   .json()["students"])
    good = {str(s): {"conduct_term1": "Tốt", "conduct_term2": "Khá", "absent_sessions": 1, "comment": "Chăm ngoan"}
            for s in students}
    r = api.put(f"/api/v1/classes/{class_id}/evaluations", json={"year_id": year_id, "evaluations": good},
                headers=headers)
    assert r.status_code == 200, r.text
    assert all(s["evaluated"] for s in r.json()["students"])
    if homeroom != user:  # a subject teacher who is not the homeroom teacher cannot
        r = api.put(f"/api/v1/classes/{class_id}/evaluations", json={"year_id": year_id, "evaluations": good},
                    headers=login(api, user))
        assert r.status_code == 403 and r.json()["error"]["message_vi"]
