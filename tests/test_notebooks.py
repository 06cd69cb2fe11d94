"""The analysts' notebooks (notebooks/*.ipynb) run green, top to bottom, on a small seeded
dataset: each notebook's parameters cell is rewritten to point at the dataset, the notebook is
executed by nbclient in a kernel on this interpreter, and any cell error — a failed ``assert``
in a cell included, so a wrong figure fails here — fails the test. On the embedded default
(SQLite) and on PostgreSQL, like every database test.

The notebooks are kept without outputs (small diffs) and call only core: no SQL in a cell."""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from core.demo.notebook_data import seed
from core.storage.scratch import create_scratch_database, drop_scratch_database

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dataset(request, tmp_path_factory):
    """The notebooks' seeded dataset (core.demo.notebook_data.seed), once per database kind:
    (data directory, DATABASE_URL parameter)."""
    data_dir = tmp_path_factory.mktemp(f"notebook-data-{request.param}") / "data"
    if request.param == "sqlite":
        yield seed(data_dir), None
        return
    server = request.getfixturevalue("pg_server_url")
    url = create_scratch_database(server, "sohoa_nb")
    try:
        yield seed(data_dir, database_url=url), url
    finally:
        drop_scratch_database(server, url)


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
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()


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
    data_dir, database_url = dataset
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
    print("notebook timings (s):", timings)
    assert not failures, "\n\n".join(failures)
