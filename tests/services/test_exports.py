"""Exports of the issued transcripts (docs/transcript-data.md): the national education
database's (JSON Lines and CSV with a manifest) and OneRoster 1.2 CSV, each within the caller's
rights and audited. Worked on the world's school A after its class 6A1's transcripts are issued:
2 students, 3 subjects (TOAN, NV, TA), 7.8 in every term."""
import csv
import hashlib
import io
import json
import zipfile

import jsonschema
import pytest
from sqlalchemy import func, select

from core.kernel.errors import NotFound, PermissionDenied
from core.storage.models import AuditEvent, Transcript
from core.transcripts.data import schema, transcript_data
from core.transcripts.exports import HEADERS, ONEROSTER_FILES, national_export, oneroster_export
from tests.services.test_transcripts import issue_all, with_seal


@pytest.fixture
def issued(world):
    school = with_seal(world)
    issue_all(school)
    return school


def _files(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _audits(w, action: str) -> int:
    with w.db.reading() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


def test_the_national_export_holds_each_issued_transcript_as_the_record_gives_it(issued):
    export = national_export(issued.db, issued.actor("binh"))
    files = _files(export.archive)
    assert sorted(files) == ["hocba.jsonl", "ketquamonhoc.csv", "manifest.json"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"] == {"transcripts": 2, "subject_results": 6} == export.counts
    assert manifest["truong"] == ["A01"] and manifest["schema"] == "1.0"
    assert all(hashlib.sha256(files[n]).hexdigest() == h for n, h in manifest["files"].items())
    lines = [json.loads(line) for line in files["hocba.jsonl"].decode().splitlines()]
    with issued.db.reading() as s:
        records = {t.verification_code: t for t in s.scalars(select(Transcript).where(Transcript.status == "issued"))}
        for line in lines:
            record = records[line["madinhdanhhocba"]]
            issuance = line.pop("caphocba")
            assert issuance["trangthai"] == "dacap" and issuance["bampdf"] == hashlib.sha256(record.document).hexdigest()
            assert line == transcript_data(record.content, record.verification_code, record.content_hash)
            jsonschema.validate(line, schema())
    results = _rows(files["ketquamonhoc.csv"])
    assert len(results) == 6 and {r["diemhk1"] for r in results} == {"7.8"} and {r["matruong"] for r in results} == {
        "A01"}
    assert _audits(issued, "export.national") == 1


def test_the_national_export_is_for_those_who_keep_the_schools_data_within_their_scope(issued):
    for user in ("lan", "analyst", "mon_a"):  # a teacher, an analyst, a monitor: no
        with pytest.raises(PermissionDenied) as refused:
            national_export(issued.db, issued.actor(user))
        assert refused.value.message_vi
    with pytest.raises(NotFound):  # the other school's principal does not see school A
        national_export(issued.db, issued.actor("dung"), school_code="A01")
    assert national_export(issued.db, issued.actor("dung")).counts["transcripts"] == 0  # B has issued none
    assert national_export(issued.db, issued.actor("so")).counts["transcripts"] == 2  # the department: all
    assert _audits(issued, "export.national") >= 2


def test_oneroster_export_is_a_consistent_bulk_set(issued):
    export = oneroster_export(issued.db, issued.actor("binh"), school_code="A01")
    files = _files(export.archive)
    manifest = {r["propertyName"]: r["value"] for r in _rows(files["manifest.csv"])}
    assert manifest["oneroster.version"] == "1.2" and manifest["manifest.version"] == "1.0"
    assert {k.removeprefix("file.") for k in manifest if k.startswith("file.")} == set(ONEROSTER_FILES)
    written = {k.removeprefix("file.") for k, v in manifest.items() if v == "bulk"}
    assert {n.removesuffix(".csv") for n in files if n != "manifest.csv"} == written
    tables = {name: _rows(files[f"{name}.csv"]) for name in written}
    for name, rows in tables.items():
        assert files[f"{name}.csv"].decode().splitlines()[0].split(",") == HEADERS[name]
        assert len({r["sourcedId"] for r in rows}) == len(rows), name  # sourcedIds unique
    ids = {name: {r["sourcedId"] for r in rows} for name, rows in tables.items()}
    orgs = ids["orgs"]
    # every reference points at a row of the export
    assert all(r["parentSourcedId"] in orgs | {""} for r in tables["orgs"])
    assert all(r["courseSourcedId"] in ids["courses"] and r["schoolSourcedId"] in orgs and
               set(r["termSourcedIds"].split(",")) <= ids["academicSessions"] for r in tables["classes"])
    assert all(r["classSourcedId"] in ids["classes"] and r["userSourcedId"] in ids["users"] and
               r["schoolSourcedId"] in orgs for r in tables["enrollments"])
    assert all(r["userSourcedId"] in ids["users"] and r["orgSourcedId"] in orgs for r in tables["roles"])
    assert all(r["classSourcedId"] in ids["classes"] and r["categorySourcedId"] in ids["categories"]
               for r in tables["lineItems"])
    assert all(r["lineItemSourcedId"] in ids["lineItems"] and r["studentSourcedId"] in ids["users"]
               for r in tables["results"])
    # the worked example: 2 students × 3 subjects × (term 1, term 2, year) results of 7.8
    assert len(tables["results"]) == 18 and {r["score"] for r in tables["results"]} == {"7.8"}
    assert {r["role"] for r in tables["enrollments"]} == {"teacher", "student"}
    assert sum(r["role"] == "student" for r in tables["enrollments"]) == 6
    assert {r["role"] for r in tables["roles"]} >= {"student", "teacher", "administrator"}
    # the principal may import data: the names are there; never a personal ID
    students = [r for r in tables["users"] if r["sourcedId"].startswith("user-student-")]
    assert len(students) == 4 and all(not r["givenName"].startswith("HS") for r in students)  # A's 2 classes
    with issued.db.reading() as s:
        personal_ids = set(s.scalars(select(Transcript.content["student"]["personal_id"].as_string())))
    assert personal_ids and not any(p in files[n].decode() for p in personal_ids for n in files)
    assert _audits(issued, "export.oneroster") == 1


def test_oneroster_for_an_analyst_carries_no_names_and_a_teacher_gets_none(issued):
    files = _files(oneroster_export(issued.db, issued.actor("analyst")).archive)
    users = _rows(files["users.csv"])
    assert users and all(r["givenName"].startswith(("HS", "GV")) and r["email"] == "" for r in users)
    assert len(_rows(files["results.csv"])) == 18
    with pytest.raises(PermissionDenied):
        oneroster_export(issued.db, issued.actor("lan"))
    # a monitor of school B sees none of school A
    assert oneroster_export(issued.db, issued.actor("mon_b")).counts["results"] == 0
