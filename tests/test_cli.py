"""The command line end to end on the embedded default, as a user runs it."""
import os
import subprocess
import sys
from pathlib import Path


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
