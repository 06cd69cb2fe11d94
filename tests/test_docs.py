"""The docs cite the regulations themselves (the circular or decree and its article, the
HCMC Department's rules as reported in the press), never a file outside the repository: no
``regulations.md`` section, no ``seeds/`` file, no "seed 00x", no ``../shared/`` path. Every
Markdown file and every notebook cell is checked; the one exception is the table at the end
of docs/rules.md that maps those old citations to the legal texts."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "var", "node_modules", ".pytest_cache", ".hypothesis", "build", "dist"}
#: Citations of files that are not in the repository.
OUTSIDE = re.compile(r"regulations\.md|\bseeds?/|\bseeds? 00\d|\.\./shared\b|\bregulations §?\d", re.IGNORECASE)
#: docs/rules.md ends with the table of the old citations and their legal sources.
SOURCES_HEADING = "## Sources: the old citations and the legal texts they stand for"


def markdown_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.md")
                  if not SKIP_DIRS & set(p.relative_to(ROOT).parts) and not p.parent.name.endswith(".egg-info"))


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def outside_citations(text: str) -> list[str]:
    """The lines of ``text`` that cite a file outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


def _checked_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path == ROOT / "docs" / "rules.md":
        assert text.count(SOURCES_HEADING) == 1, "docs/rules.md keeps its sources table, once"
        head, _, table = text.partition(SOURCES_HEADING)
        assert "\n## " not in table, "the sources table is the last section of docs/rules.md"
        return head
    return text


def test_the_markdown_files_and_notebooks_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert {"README.md", "docs/rules.md", "docs/architecture.md", "notebooks/README.md"} <= names
    assert len(notebooks()) == 5


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_markdown_cites_the_regulations_not_files_outside_the_repository(path):
    found = outside_citations(_checked_text(path))
    assert not found, f"{path.relative_to(ROOT)} cites files outside the repository: {found}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebooks_cite_the_regulations_not_files_outside_the_repository(path):
    nb = nbformat.read(path, as_version=4)
    found = [f"cell {i}: {line}" for i, cell in enumerate(nb.cells) for line in outside_citations(cell.source)]
    assert not found, f"{path.name} cites files outside the repository: {found}"


@pytest.mark.parametrize("text", [
    "the signing window (regulations.md 4.3)",
    "as described in `../shared/regulations.md`:",
    "Teachers sign from an app (seed 000)",
    "HCMC deadlines (seeds 004)",
    "see /work/shared/seeds/000_0d52a3f39edcc7b9.txt",
    "# late means after end + 5:00 (regulations 4.3)",
    "Regulations.MD §2.9",
])
def test_an_outside_citation_is_caught(text):
    assert outside_citations(f"some text\n{text}\nmore text") == [text.strip()]


@pytest.mark.parametrize("text", [
    "Thông tư 22/2021/TT-BGDĐT, Art. 9.2",
    "Nghị định 23/2025/NĐ-CP, Art. 3.3",
    "`core/*/rules/` | the regulations as small pure functions, each citing its source",
    "the demo's seed (--seed 2025) and the seeded dataset",
])
def test_a_legal_citation_passes(text):
    assert outside_citations(text) == []


def test_the_python_code_cites_the_regulations_not_files_outside_the_repository():
    """Docstrings and comments are docs too: no Python file of ours cites the research notes or
    a seed article (docs/rules.md's sources table says what each old citation stood for)."""
    found = []
    for folder in ("core", "api", "dashboards", "tests", "benchmarks", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            found += [f"{path.relative_to(ROOT)}: {line}" for line in outside_citations(path.read_text(encoding="utf-8"))]
    assert not found, f"Python files citing files outside the repository: {found}"
