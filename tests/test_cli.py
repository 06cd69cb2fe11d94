"""The command line end to end on the embedded default, as a user runs it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(Path(__file__).parents[1])},
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
