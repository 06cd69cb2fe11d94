"""The whole chain through the API, to the student's wallet: a teacher's app enters every
subject's results, each subject teacher confirms with a signature made on the device, the
homeroom teacher enters the evaluations; the homeroom teacher and the principal sign (in core,
as the console does: those signatures are made with the USB token); the transcript is issued;
the principal gets its Verifiable Credential sealed by the school; anyone verifies it (no
sign-in) under the trust policy. A changed credential, one sealed by a teacher's key or by
another school's seal, and the credential of a transcript cancelled since, are each refused."""
import base64
import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from api.app import create_app
from core.access.accounts import API, actor_for_token
from core.demo.synthetic import Scale, generate
from core.signatures import DemoPKI, KeyStore
from core.signatures.jose import sign_compact
from core.storage.models import (
    AuditEvent,
    SchoolClass,
    Staff,
    Subject,
    TeachingAssignment,
    Transcript,
    UserAccount,
)
from core.transcripts.data import data_of_pdf
from core.transcripts.gradebook import _periods
from core.transcripts.rules.tt22_2021 import regular_assessments_per_term
from core.transcripts.workflow import cancel_and_reissue, homeroom_sign_class, prepare_transcripts, principal_sign_batch
from tests.api.test_api import AS_OF, login
from tests.conftest import committed_database, runtime_database


@pytest.fixture(scope="module", params=["postgresql"])
def api(request, tmp_path_factory):
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("credential-api")
    with committed_database(request, root, "sohoa_credential_api") as db, runtime_database(db) as runtime:
        generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=1, weeks=1, students_per_class=3,
                           seed=7), pki_dir=root / "pki", progress=False, as_of=AS_OF)
        app = create_app(runtime, DemoPKI.load(root / "pki").trust_store(), pki_dir=root / "pki",
                         batch_window=0.001, token_cache_seconds=0)
        with TestClient(app) as client:
            client.db, client.keys = db, KeyStore(root / "pki")
            yield client


def _payload(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _with_payload(token: str, payload: dict) -> str:
    head, _, signature = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False).encode()).decode().rstrip("=")
    return f"{head}.{body}.{signature}"


def _user(s, staff_id: int) -> str:
    return s.scalar(select(UserAccount.username).where(UserAccount.staff_id == staff_id))


def _enter_and_confirm_every_subject(api, klass) -> None:
    """Each subject teacher's app: the sheet, the results (one request), the confirmation signed on the device."""
    with api.db.reading() as s:
        taught = [(subject, ta.teacher_id, _user(s, ta.teacher_id),
                   None if subject.comment_only else regular_assessments_per_term(_periods(s, subject, klass.grade)))
                  for ta, subject in s.execute(select(TeachingAssignment, Subject)
                                               .join(Subject, Subject.id == TeachingAssignment.subject_id)
                                               .where(TeachingAssignment.class_id == klass.id,
                                                      TeachingAssignment.valid_to.is_(None))
                                               .order_by(Subject.code))]
    assert len(taught) >= 8
    for subject, teacher_id, user, regular in taught:
        headers = login(api, user)
        url = f"/api/v1/classes/{klass.id}/subjects/{subject.id}/results"
        students = [s["student_id"] for s in api.get(url, params={"year_id": klass.school_year_id},
                                                     headers=headers).json()["students"]]
        term = ["Đạt"] * 4 if regular is None else {"regular": ["8", "7,5", "9", "6"][:regular] + ["8"] * max(
            0, regular - 4), "mid": "7", "final": "8.5"}
        sheet = api.put(url, json={"year_id": klass.school_year_id, "results": {
            str(st): {"term1": term, "term2": term} for st in students}}, headers=headers)
        assert sheet.status_code == 200 and sheet.json()["missing"] == [], sheet.text
        signer = api.keys.signer_for(f"staff-{teacher_id}")
        cms = signer.sign_detached(base64.b64decode(sheet.json()["to_confirm"]), dt.datetime(2031, 1, 1))
        r = api.post(f"/api/v1/classes/{klass.id}/subjects/{subject.id}/confirmation",
                     json={"year_id": klass.school_year_id, "signature": base64.b64encode(cms).decode()},
                     headers=headers)
        assert r.status_code == 200, r.text


def test_grades_to_a_verified_credential(api):
    with api.db.reading() as s:
        klass = s.scalar(select(SchoolClass).where(SchoolClass.grade >= 6).order_by(SchoolClass.id).limit(1))
        homeroom = _user(s, klass.homeroom_teacher_id)
        principal_id, principal = s.execute(
            select(Staff.id, UserAccount.username).join(UserAccount, UserAccount.staff_id == Staff.id)
            .where(Staff.school_id == klass.school_id, UserAccount.role == "principal")).first()
        other_school = s.scalar(select(SchoolClass.school_id).where(SchoolClass.school_id != klass.school_id).limit(1))
    year_id = klass.school_year_id
    _enter_and_confirm_every_subject(api, klass)
    headers = login(api, homeroom)
    students = [s["student_id"] for s in api.get(f"/api/v1/classes/{klass.id}/transcript-status",
                                                 params={"year_id": year_id}, headers=headers).json()["students"]]
    r = api.put(f"/api/v1/classes/{klass.id}/evaluations", json={"year_id": year_id, "evaluations": {
        str(st): {"conduct_term1": "Tốt", "conduct_term2": "Tốt", "absent_sessions": 1, "comment": "Chăm ngoan"}
        for st in students}}, headers=headers)
    assert r.status_code == 200 and r.json()["unconfirmed_subjects"] == [], r.text

    # the homeroom teacher and the principal sign with their tokens (the console's steps, in core)
    homeroom_actor = actor_for_token(api.db, headers["Authorization"].split()[1], kind=API)
    principal_headers = login(api, principal)
    principal_actor = actor_for_token(api.db, principal_headers["Authorization"].split()[1], kind=API)
    drafts = prepare_transcripts(api.db, homeroom_actor, klass.id, year_id)
    assert len(drafts) == len(students)
    assert homeroom_sign_class(api.db, homeroom_actor, klass.id, year_id,
                               api.keys.signer_for(f"staff-{klass.homeroom_teacher_id}")).signed == drafts
    issued = principal_sign_batch(api.db, principal_actor, klass.school_id, api.keys.signer_for(
        f"staff-{principal_id}"), api.keys.signer_for(f"school-{klass.school_id}"), class_id=klass.id)
    assert issued.signed == drafts, issued.not_signed
    status = api.get(f"/api/v1/classes/{klass.id}/transcript-status", params={"year_id": year_id},
                     headers=headers).json()
    assert {s["transcript_status"] for s in status["students"]} == {"issued"}

    # the credential: the principal, with the school seal's PIN; the homeroom teacher may not; a wrong PIN opens nothing
    url = f"/api/v1/transcripts/{drafts[0]}/credential"
    assert api.post(url, json={"pin": "1234"}, headers=headers).status_code == 403
    wrong = api.post(url, json={"pin": "0000"}, headers=principal_headers)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "KeyNotOpened", wrong.text
    r = api.post(url, json={"pin": "1234"}, headers=principal_headers)
    assert r.status_code == 200, r.text
    token, code = r.json()["credential"], r.json()["verification_code"]
    assert r.json()["media_type"] == "application/vc+jwt"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "vc+jwt" and header["alg"] == "ES256" and header["x5c"]
    vc = _payload(token)
    assert vc["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert vc["type"] == ["VerifiableCredential", "HocBaCredential"] and vc["validFrom"].endswith("+07:00")
    with api.db.reading() as s:
        row = s.get(Transcript, drafts[0])
        principal_school = s.scalar(select(Staff.school_id).where(Staff.id == principal_id))
        carried = data_of_pdf(row.document)
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "transcript.credential", AuditEvent.entity_id == str(row.id))) == 1
    assert code == row.verification_code and principal_school == klass.school_id
    assert {k: v for k, v in vc["credentialSubject"].items() if k != "type"} == carried  # what the PDF carries

    # anyone verifies it, without signing in
    check = api.post("/api/v1/credentials/verification", json={"credential": token})
    assert check.status_code == 200, check.text
    body = check.json()
    assert body["valid"] and body["verdict"] == "valid" and body["seal"]["indication"] == "PASSED", body
    assert body["code"] == code and body["status"] == "issued" and "sodinhdanhcanhan" not in check.text

    # a changed score: the seal's signature fails
    changed = json.loads(json.dumps(vc))
    changed["credentialSubject"]["ketquamonhoc"][0]["diemhk1"] = "9.9"
    body = api.post("/api/v1/credentials/verification", json={"credential": _with_payload(token, changed)}).json()
    assert not body["valid"] and body["verdict"] == "altered" and body["seal"]["indication"] == "FAILED", body
    assert body["seal"]["sub_indication"] == "SIG_CRYPTO_FAILURE"

    # the same credential sealed by a teacher's personal key, or by another school's seal: not the issuer's seal
    payload = json.dumps(vc, ensure_ascii=False).encode()
    for key in (f"staff-{klass.homeroom_teacher_id}", f"school-{other_school}"):
        forged = sign_compact(payload, api.keys.signer_for(key), {"typ": "vc+jwt", "cty": "vc"})
        body = api.post("/api/v1/credentials/verification", json={"credential": forged}).json()
        assert not body["valid"] and body["verdict"] == "not_authorised", body
        assert body["seal"]["indication"] == "FAILED" and body["seal"]["sub_indication"] == "NOT_AUTHORISED_FOR_ROLE"
    for junk in ("not a credential", token.split(".")[0] + ".e30." + token.split(".")[2]):
        body = api.post("/api/v1/credentials/verification", json={"credential": junk}).json()
        assert not body["valid"] and body["verdict"] in ("malformed", "altered"), body

    # cancelled since: the credential still verifies as the school's, but is no longer current
    cancel_and_reissue(api.db, principal_actor, drafts[0], "Sai điểm môn Toán")
    body = api.post("/api/v1/credentials/verification", json={"credential": token}).json()
    assert not body["valid"] and body["verdict"] == "cancelled" and body["status"] == "cancelled", body
    assert "Sai điểm" not in str(body)
    # a cancelled transcript has no credential
    assert api.post(url, json={"pin": "1234"}, headers=principal_headers).status_code == 409
