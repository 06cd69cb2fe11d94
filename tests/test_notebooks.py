"""The analysts' notebooks (notebooks/*.ipynb) run green, top to bottom, on a small seeded
dataset and on the demo database that ``sohoa demo`` builds: each notebook's parameters cell is
rewritten to point at the dataset, the notebook is executed by nbclient in a kernel on this
interpreter, and any cell error — a failed ``assert`` in a cell included, so a wrong figure
fails here — fails the test. The seeded dataset on the embedded default (SQLite) and on
PostgreSQL, like every database test; the demo as ``sohoa demo`` builds it (var/sohoa.db).

The notebooks are kept without outputs (small diffs) and call only core: no SQL in a cell."""
from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from core.access.authz import actor_by_username
from core.demo.notebook_data import open_database, seed, transcript_codes
from core.storage.scratch import create_scratch_database, drop_scratch_database

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_getting_started.ipynb", "02_signing_compliance.ipynb", "03_missed_lessons_hours.ipynb",
         "04_transcript_issuance.ipynb", "05_verify_transcript.ipynb"]
CELL_TIMEOUT = 120   # seconds per cell; the whole notebook takes a few seconds
KERNEL = "sohoa-notebook-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _parameters_cell(nb) -> nbformat.NotebookNode:
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "one cell tagged 'parameters'"
    return tagged[0]


def test_the_notebooks_are_there_clean_and_call_only_core():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0] is _parameters_cell(nb), f"{name}: the parameters cell comes first"
        for name_ in ("DATA_DIR", "DATABASE_URL", "USERNAME"):
            assert re.search(rf"^{name_} = ", code[0].source, re.M), f"{name}: parameter {name_}"
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: outputs not cleared"
        source = "\n".join(c.source for c in code)
        assert "assert " in source, f"{name}: cells check what they show"
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\s", source), f"{name}: SQL in a cell"
        assert not re.search(r"import (sqlalchemy|duckdb|psycopg|sqlite3)|from (sqlalchemy|duckdb|psycopg)",
                             source), f"{name}: the notebooks reach the data through core only"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernelspec that starts ipykernel on *this* interpreter (the venv the tests run in),
    whatever other 'python3' kernels the machine has."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL).mkdir()
    (root / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sohoa (tests)", "language": "python"}))
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


#: A small demo, built as a user would: ``sohoa demo`` in an empty directory (var/sohoa.db, var/pki).
DEMO = ["demo", "--districts", "1", "--schools-per-district", "2", "--classes-per-school", "2", "--weeks", "2",
        "--quiet", "--no-serve"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "demo"])
def dataset(request, tmp_path_factory):
    """The data the notebooks run on, as (kind, data directory, DATABASE_URL parameter): the
    notebooks' seeded dataset (core.demo.notebook_data.seed) on SQLite and on PostgreSQL, and
    the embedded demo database that ``sohoa demo`` builds, with DATA_DIR pointing at its var/."""
    if request.param == "demo":
        work = tmp_path_factory.mktemp("notebook-demo")
        env = {k: v for k, v in os.environ.items() if k != "SOHOA_DATABASE_URL"}  # the embedded default
        env["SOHOA_DATA_DIR"] = str(work / "var")
        built = subprocess.run([sys.executable, "-m", "core.cli", *DEMO], cwd=work, env=env, capture_output=True,
                               text=True, timeout=600)
        assert built.returncode == 0, built.stderr[-3000:]
        assert (work / "var" / "sohoa.db").is_file() and (work / "var" / "pki").is_dir()
        yield "demo", work / "var", None
        return
    data_dir = tmp_path_factory.mktemp(f"notebook-data-{request.param}") / "data"
    if request.param == "sqlite":
        yield "seeded", seed(data_dir), None
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_scratch_database(server, "sohoa_nb")
    try:
        yield "seeded", seed(data_dir, database_url=url), url
    finally:
        drop_scratch_database(server, url)


def _issued_in_scope(data_dir: Path, database_url: str | None) -> int:
    """How many issued transcripts the analyst sees: notebook 05 verifies one when there is one."""
    db = open_database(data_dir, database_url)
    try:
        with db.reading() as session:
            analyst = actor_by_username(session, "phantich")
        return len(transcript_codes(db, analyst, limit=1000))
    finally:
        db.engine.dispose()


def _text_outputs(nb) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def _pointed_at(name: str, data_dir: Path, database_url: str | None) -> nbformat.NotebookNode:
    """The notebook with its parameters cell's values replaced (the other parameters kept)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = _parameters_cell(nb)
    values = {"DATA_DIR": repr(str(data_dir)), "DATABASE_URL": repr(database_url), "USERNAME": repr("phantich")}
    lines, seen = [], set()
    for line in cell.source.splitlines():
        match = re.match(r"^(\w+) = ", line)
        if match and match.group(1) in values:
            seen.add(match.group(1))
            line = f"{match.group(1)} = {values[match.group(1)]}"
        lines.append(line)
    assert seen == set(values), f"{name}: parameters {set(values) - seen} not found"
    cell.source = "\n".join(lines)
    return nb


def _execute(nb, kernel_specs) -> None:
    for attempt in (1, 2):
        km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
        try:
            NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                           resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            return
        except RuntimeError as err:
            # the kernel never started: jupyter_client picks its TCP ports free, then the kernel
            # binds them, and another process of the run may take one in between ("Address
            # already in use"); no cell ran, so start a new kernel once
            if attempt == 2 or "Kernel died before replying to kernel_info" not in str(err):
                raise
        finally:
            _collect()


def _collect() -> None:
    """nbclient leaves its kernel client's zmq sockets to the garbage collector, which would find
    them (and their ResourceWarning) inside whichever test of this worker runs next: collect
    them here, where they were made."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_a_notebook_seeds_its_own_dataset_on_first_use(tmp_path, kernel_specs):
    """What an analyst meets first: the default DATA_DIR is empty, and the setup cell builds the
    dataset from inside the kernel (whose running event loop the PDF signing must not meet)."""
    nb = _pointed_at(NAMES[0], tmp_path / "fresh", None)
    code = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = code[:2] + [nbformat.v4.new_code_cell(
        'assert (DATA_DIR / "codes.json").exists() and (DATA_DIR / "pki").is_dir()\n'
        'assert me.username == "phantich" and me.school_ids')]
    _execute(nb, kernel_specs)
    codes = json.loads((tmp_path / "fresh" / "codes.json").read_text())
    assert codes["statuses"]["issued"] and (tmp_path / "fresh" / codes["pdf"]).is_file()


def test_the_notebooks_run_green(dataset, kernel_specs):
    kind, data_dir, database_url = dataset
    if kind == "demo":
        demo_db = (data_dir / "sohoa.db").stat().st_ino
    issued = _issued_in_scope(data_dir, database_url)
    if kind == "seeded":
        assert issued, "the seeded dataset has issued transcripts for notebook 05 to verify"
    failures, timings = [], {}
    for name in NAMES:
        nb = _pointed_at(name, data_dir, database_url)
        started = time.perf_counter()
        try:
            _execute(nb, kernel_specs)
        except CellExecutionError as err:
            failures.append(f"{name}:\n{ANSI.sub('', str(err))[-3000:]}")
        timings[name] = round(time.perf_counter() - started, 1)
        # every code cell ran (none skipped), and the plots were drawn
        ran = [c for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
        if not failures or not failures[-1].startswith(name):
            assert len(ran) == sum(c.cell_type == "code" for c in nb.cells), name
            assert any("image/png" in o.get("data", {}) for c in ran for o in c.outputs), f"{name}: no plot"
            if name == "05_verify_transcript.ipynb":
                # verified by code, by PDF and tampered when something is issued in scope; else said so
                text = _text_outputs(nb)
                assert ("HASH_FAILURE" in text and "PASSED" in text) == bool(issued), text[-2000:]
                assert ("No transcript is issued in your scope yet" in text) == (not issued), text[-2000:]
    print("notebook timings (s):", timings)
    assert not failures, "\n\n".join(failures)
    if kind == "demo":  # the notebooks read the demo where it is, and never replace it with a seeded dataset
        assert (data_dir / "sohoa.db").stat().st_ino == demo_db and not (data_dir / "codes.json").exists()
