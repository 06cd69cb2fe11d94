"""The command line end to end on the embedded default, as a user runs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.test_admin import smtp_server  # noqa: F401 - the fixture


def run(args, cwd, env=None):
    """``sohoa ARGS`` with its data directory in ``cwd/var`` (the setting data_dir)."""
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "SOHOA_DATA_DIR": str(Path(cwd) / "var"), **(env or {}),
                               "PYTHONPATH": str(Path(__file__).parents[1])},
                          timeout=600)


def test_demo_then_report_on_the_embedded_default(tmp_path):
    env = {"SOHOA_DATABASE_URL": ""}
    done = run(["demo", "--districts", "1", "--schools-per-district", "2", "--classes-per-school", "2",
                "--weeks", "2", "--quiet", "--no-serve"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "var" / "sohoa.db").exists()
    assert "Báo cáo ký sổ đầu bài" in done.stdout and "Tổng / total" in done.stdout
    again = run(["report", "--week", "1"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert "tuần 1" in again.stdout


def test_unknown_user_is_a_clear_error(tmp_path):
    assert run(["init"], tmp_path, {"SOHOA_DATABASE_URL": ""}).returncode == 0
    done = run(["report", "--user", "nobody"], tmp_path, {"SOHOA_DATABASE_URL": ""})
    assert done.returncode == 1
    assert "no active user 'nobody'" in done.stderr and "Không có người dùng 'nobody'" in done.stderr


def test_retimestamp_counts_what_is_due_and_needs_a_timestamp_authority(tmp_path):
    env = {"SOHOA_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "SOHOA_TSA_URL": ""}
    done = run(["retimestamp", "--dry-run"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "due: transcript 0, week 0" in done.stdout
    refused = run(["retimestamp", "--quiet"], tmp_path, env)
    assert refused.returncode == 1
    assert "no timestamp authority" in refused.stderr and "Chưa có dịch vụ cấp dấu thời gian" in refused.stderr


@pytest.fixture(scope="module")
def ca_online(tmp_path_factory):
    """A demo PKI whose CA answers on loopback as `sohoa pki serve` does (OCSP, the issuing
    CA's CRL and the root's, timestamps)."""
    from core.signatures import DemoPKI
    from core.signatures.ltv_responder import LongTermResponder
    from core.signatures.responder import free_port

    port = free_port()
    pki = DemoPKI.create(tmp_path_factory.mktemp("cli-pki"), responder_url=f"http://127.0.0.1:{port}")
    responder = LongTermResponder(pki).start(port)
    yield pki
    responder.stop()


def test_a_cohort_pushed_to_the_city_and_returned_through_the_command_line(ca_online, tmp_path):
    """The city's round trip from the command line (docs/packages.md): school A pushes two
    students; the department returns the one admitted to B01 with its own seal; a principal may
    not return; B01 imports its package."""
    import zipfile

    from sqlalchemy import select

    from core.signatures import KeyStore
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import Department, Student
    from tests.services.test_transcripts import issue_all, with_seal
    from tests.world import build_world

    pki = ca_online
    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    w = with_seal(build_world(db, pki, KeyStore(pki.directory)))
    issue_all(w)
    with db.reading() as s:
        ids = [s.scalar(select(Student.personal_id).where(Student.id == w.ids[k])) for k in ("student0", "student1")]
        department = s.scalar(select(Department.code))
    db.engine.dispose()
    pki.issue_seal("sgd", "Sở GD&ĐT", identifier=f"MDV:{department}")
    env = {"SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(pki.directory), "SOHOA_SCHOOL_SEAL_PIN": "1234"}
    pushed, returned, admissions = tmp_path / "day-len.zip", tmp_path / "tra-ve.zip", tmp_path / "trung-tuyen.txt"
    done = run(["package", "export", "--user", "binh", "--school", "A01", "--students", ",".join(ids),
                "--purpose", "city-push", "--seal-key", str(pki.directory / "keys" / f"school-{w.ids['A']}.p12"),
                "--out", str(pushed)], tmp_path, env)
    assert done.returncode == 0, done.stderr
    admissions.write_text(f"{ids[0]}, B01\n", encoding="utf-8")

    def city_return(user):
        return run(["package", "city-return", "--user", user, "--admissions", str(admissions), "--seal-key",
                    str(pki.directory / "keys" / "sgd.p12"), "--out", str(returned), str(pushed)], tmp_path, env)

    refused = city_return("binh")
    assert refused.returncode == 1 and "lỗi:" in refused.stderr and not returned.exists()
    done = city_return("so")
    assert done.returncode == 0, done.stderr
    assert "B01 1" in done.stdout
    (tmp_path / "B01.zip").write_bytes(zipfile.ZipFile(returned).read("B01.zip"))
    imported = run(["package", "import", "--user", "dung", "--school", "B01", str(tmp_path / "B01.zip")], tmp_path, env)
    assert imported.returncode == 0, imported.stderr
    assert "Đã nhập 1 học bạ" in imported.stdout


def test_a_transfer_package_exported_and_imported_through_the_command_line(ca_online, tmp_path):
    """The operator's door to packages (docs/packages.md): the sending principal exports with
    the school's seal, addressed to the receiving school; only the addressee imports it, once;
    a teacher cannot export; an unknown student is named. Signed for real, verified with the
    trust anchors and the CA's revocation data."""
    from sqlalchemy import func, select

    from core.signatures import KeyStore
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import ReceivedTranscript, Student
    from tests.services.test_transcripts import issue_all, with_seal
    from tests.world import build_world

    pki = ca_online
    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    w = with_seal(build_world(db, pki, KeyStore(pki.directory)))
    issue_all(w)
    with db.reading() as s:
        personal_id = s.scalar(select(Student.personal_id).where(Student.id == w.ids["student0"]))
    db.engine.dispose()
    env = {"SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(pki.directory), "SOHOA_SCHOOL_SEAL_PIN": "1234"}
    seal_key = str(pki.directory / "keys" / f"school-{w.ids['A']}.p12")
    package = tmp_path / "chuyen-truong.zip"

    def export(user, students):
        return run(["package", "export", "--user", user, "--school", "A01", "--students", students, "--to", "B01",
                    "--seal-key", seal_key, "--out", str(package)], tmp_path, env)

    refused = export("lan", personal_id)
    assert refused.returncode == 1 and not package.exists()
    assert "error:" in refused.stderr and "lỗi:" in refused.stderr
    unknown = export("binh", "000000000000")
    assert unknown.returncode == 1 and "000000000000" in unknown.stderr and "Không có học sinh" in unknown.stderr
    done = export("binh", personal_id)
    assert done.returncode == 0, done.stderr
    assert package.stat().st_size > 10_000

    elsewhere = run(["package", "import", "--user", "binh", "--school", "A01", str(package)], tmp_path, env)
    assert elsewhere.returncode == 1, elsewhere.stdout
    imported = run(["package", "import", "--user", "dung", "--school", "B01", str(package)], tmp_path, env)
    assert imported.returncode == 0, imported.stderr
    assert "Đã nhập 1 học bạ từ A01" in imported.stdout and "imported 1 transcripts from A01" in imported.stdout
    again = run(["package", "import", "--user", "dung", "--school", "B01", str(package)], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert "đã được nhập" in again.stdout
    db = Database(make_engine(url))
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedTranscript)) == 1
    db.engine.dispose()


def test_a_subject_teacher_imports_a_gradebook_through_the_command_line(tmp_path):
    """`sohoa import grades`: a bad row is named and nothing stored (exit 2); the good file stores
    the class's results for the subject."""
    from sqlalchemy import func, select

    from core.demo.synthetic import Scale, generate
    from core.kernel.vocabulary import SchoolLevel
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import (
        Enrolment,
        School,
        SchoolClass,
        Student,
        Subject,
        SubjectResult,
        TeachingAssignment,
        UserAccount,
    )
    from core.transcripts.grade_import import COLUMNS
    from core.transcripts.gradebook import _periods
    from core.transcripts.rules.tt22_2021 import regular_assessments_per_term

    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=1, weeks=1, students_per_class=3,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    with db.reading() as s:
        school, klass, subject, user = s.execute(
            select(School, SchoolClass, Subject, UserAccount.username)
            .join(SchoolClass, SchoolClass.school_id == School.id)
            .join(TeachingAssignment, TeachingAssignment.class_id == SchoolClass.id)
            .join(Subject, Subject.id == TeachingAssignment.subject_id)
            .join(UserAccount, UserAccount.staff_id == TeachingAssignment.teacher_id)
            .where(School.level == SchoolLevel.LOWER_SECONDARY, Subject.comment_only.is_(False),
                   TeachingAssignment.valid_to.is_(None)).order_by(TeachingAssignment.id).limit(1)).one()
        n = regular_assessments_per_term(_periods(s, subject, klass.grade))
        pids = list(s.scalars(select(Student.personal_id).join(Enrolment, Enrolment.student_id == Student.id)
                              .where(Enrolment.class_id == klass.id).order_by(Student.id)))
    db.engine.dispose()
    regular = "; ".join(["8"] * n)
    rows = [f'{school.code},{klass.name},{subject.code},{pid},{term},"{regular}",7,9,'
            for pid in pids for term in (1, 2)]
    path = tmp_path / "so-diem.csv"
    env = {"SOHOA_DATABASE_URL": url}
    path.write_text("\n".join([",".join(COLUMNS), *rows[:-1], rows[-1].replace(",9,", ",9.25,")]) + "\n",
                    encoding="utf-8")
    refused = run(["import", "grades", str(path), "--user", user], tmp_path, env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"row {len(rows) + 1}" in refused.stderr and "9.25" in refused.stderr
    path.write_text("\n".join([",".join(COLUMNS), *rows]) + "\n", encoding="utf-8")
    done = run(["import", "grades", str(path), "--user", user], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert f"{len(rows)} rows imported" in done.stdout
    db = Database(make_engine(url))
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(SubjectResult)) == len(pids)
    db.engine.dispose()


def test_a_transcript_credential_issued_and_verified_through_the_command_line(ca_online, tmp_path):
    """`sohoa transcript credential issue|verify` (docs/transcript-data.md): the principal seals
    the credential of an issued transcript; a teacher cannot; the credential verifies under the
    trust anchors (exit 0), a changed one does not (exit 1)."""
    from sqlalchemy import select

    from core.signatures import KeyStore
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import Transcript
    from tests.services.test_transcripts import issue_all, with_seal
    from tests.world import build_world

    pki = ca_online
    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    w = with_seal(build_world(db, pki, KeyStore(pki.directory)))
    issue_all(w)
    with db.reading() as s:
        code = s.scalar(select(Transcript.verification_code).where(Transcript.status == "issued").limit(1))
    db.engine.dispose()
    env = {"SOHOA_DATABASE_URL": url, "SOHOA_PKI_DIR": str(pki.directory), "SOHOA_SCHOOL_SEAL_PIN": "1234"}
    seal_key = str(pki.directory / "keys" / f"school-{w.ids['A']}.p12")
    out = tmp_path / "hocba.vc.jwt"

    def issue(user):
        return run(["transcript", "credential", "issue", "--user", user, "--code", code, "--seal-key", seal_key,
                    "--out", str(out)], tmp_path, env)

    refused = issue("lan")
    assert refused.returncode == 1 and not out.exists() and "lỗi:" in refused.stderr
    done = issue("binh")
    assert done.returncode == 0, done.stderr
    verified = run(["transcript", "credential", "verify", str(out)], tmp_path, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "valid: the credential is valid" in verified.stdout and "PASSED" in verified.stdout and code in verified.stdout
    head, body, signature = out.read_text().strip().split(".")
    out.write_text(f"{head}.{body[:-4]}AAAA.{signature}")
    changed = run(["transcript", "credential", "verify", str(out)], tmp_path, env)
    assert changed.returncode == 1 and "FAILED" in changed.stdout, changed.stdout


def test_exports_through_the_command_line_within_the_users_rights(tmp_path, pki, keys):
    """`sohoa export national|oneroster` (docs/transcript-data.md): the principal's school's issued
    transcripts; an analyst is refused the national export (exit 1, both languages)."""
    import zipfile

    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from tests.services.test_transcripts import issue_all, with_seal
    from tests.world import build_world

    url = f"sqlite:///{tmp_path / 'record.db'}"
    db = Database(make_engine(url))
    upgrade(db.engine)
    issue_all(with_seal(build_world(db, pki, keys)))
    db.engine.dispose()
    env = {"SOHOA_DATABASE_URL": url}
    national, roster = tmp_path / "csdl.zip", tmp_path / "oneroster.zip"
    done = run(["export", "national", "--user", "binh", "--out", str(national)], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "transcripts 2" in done.stdout and "A01" in done.stdout
    assert sorted(zipfile.ZipFile(national).namelist()) == ["hocba.jsonl", "ketquamonhoc.csv", "manifest.json"]
    done = run(["export", "oneroster", "--user", "analyst", "--school", "A01", "--out", str(roster)], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "results 18" in done.stdout and "manifest.csv" in zipfile.ZipFile(roster).namelist()
    refused = run(["export", "national", "--user", "analyst", "--out", str(tmp_path / "no.zip")], tmp_path, env)
    assert refused.returncode == 1 and "error:" in refused.stderr and "lỗi:" in refused.stderr
    assert not (tmp_path / "no.zip").exists()


def test_the_monday_digest_and_the_alerts_from_the_command_line(tmp_path, smtp_server):
    inbox, port = smtp_server
    env = {"SOHOA_DATABASE_URL": "", "SOHOA_SMTP_HOST": "127.0.0.1", "SOHOA_SMTP_PORT": str(port)}
    done = run(["demo", "--districts", "1", "--schools-per-district", "2", "--classes-per-school", "2",
                "--weeks", "2", "--quiet", "--no-serve", "--transcript-classes", "0"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    sent = run(["digest", "--week", "2", "--to", "phong.1=pgd1@example.vn"], tmp_path, env)
    assert "digest → pgd1@example.vn" in sent.stdout and "digest(s) sent" in sent.stdout, sent.stderr
    assert any(rcpt == ["pgd1@example.vn"] and "Bản tin tuần 2" in mail["Subject"] for rcpt, mail in inbox.messages)
    alerts = run(["alerts", "--week", "2"], tmp_path, env)
    assert "alert(s) sent" in alerts.stdout, alerts.stderr


def test_init_and_setup_refuse_the_same_role_set_ups_alike(tmp_path):
    """``init --roles`` and ``setup --roles`` make one core call (core.storage.privileges.prepare_roles):
    the same refusals, in both languages, before anything is created."""
    setup = ["setup", "--department-code", "SGD01", "--department-name", "Sở", "--province", "001",
             "--school-year", "2025-2026", "--first-monday", "2025-09-08", "--one-time-password", "--roles"]
    unreachable = "postgresql://nobody@127.0.0.1:1/none"  # refused before any connection
    cases = [([], {"SOHOA_DATABASE_URL": ""}, "--roles is for PostgreSQL", "--roles chỉ dùng với PostgreSQL"),
             (["--database", unreachable], {}, "the owner and the runtime role must differ", "phải khác nhau"),
             (["--database", unreachable], {}, "is not a plain role name", "không phải tên vai trò hợp lệ")]
    for options, env, english, vietnamese in cases:
        roles = ["--owner", "same", "--runtime", "same"] if "differ" in english else \
            ["--owner", "Owner-1", "--runtime", "app"] if "plain" in english else []
        for command in (["init", "--roles"], setup):
            done = run([*options, *command, *roles], tmp_path, env)
            assert done.returncode == 1, (command, done.stdout, done.stderr)
            assert english in done.stderr and vietnamese in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "var" / "sohoa.db").exists()  # refused before the embedded database was made
