"""The layering holds: the import-linter contracts (.importlinter) are kept, every rule module
imports only the kernel (and its own rules package), the notebooks reach core only through its
services, and docs/architecture.md draws the contexts in the contracts' order."""
from __future__ import annotations

import ast
import configparser
import json
import re
import sys
from pathlib import Path

from importlinter import api as importlinter_api
from importlinter.application import use_cases

ROOT = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)


def test_the_import_contracts_are_kept(monkeypatch):
    monkeypatch.chdir(ROOT)
    config = importlinter_api.read_configuration(str(ROOT / ".importlinter"))
    assert len(config["contracts_options"]) >= 6
    assert use_cases.lint_imports(config_filename=str(ROOT / ".importlinter"), cache_dir=None, no_logo=True) is True


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_rules_import_only_the_kernel():
    rule_files = sorted(ROOT.glob("core/*/rules/*.py"))
    assert len(rule_files) >= 10
    for path in rule_files:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for name in _imports(path):
            top = name.split(".")[0]
            if top in STDLIB or top == "__future__":
                continue
            assert name.startswith(("core.kernel.", package + ".")) or name in ("core.kernel", package), \
                f"{path.relative_to(ROOT)} imports {name}: a rule imports only the kernel"


def test_the_notebooks_reach_core_only_through_its_services():
    forbidden = re.compile(r"^(core\.storage\.(models|bulk|statements|partitioning)|core\.migrations|sqlalchemy|"
                           r"psycopg|duckdb)")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        for cell in cells:
            source = "".join(cell["source"])
            for name in _imports_of_source(source):
                assert not forbidden.match(name), f"{path.name} imports {name}"


def _imports_of_source(source: str) -> set[str]:
    tree = ast.parse("\n".join(line for line in source.splitlines() if not line.startswith(("%", "!"))))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_architecture_document_draws_the_contracts_layers_in_order():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = [line.strip() for line in config["importlinter:contract:contexts"]["layers"].splitlines() if line.strip()]
    doc = (ROOT / "docs" / "architecture.md").read_text()
    diagram = doc[doc.index("```mermaid"):doc.index("```", doc.index("```mermaid") + 3)]
    positions = []
    for layer in layers:
        for module in (m.strip() for m in layer.split("|")):
            name = module.removeprefix("core.")
            assert f"{name}[" in diagram or f"{name}(" in diagram, f"{module} is not in the diagram"
            positions.append((layers.index(layer), diagram.index(f"{name}[") if f"{name}[" in diagram
                              else diagram.index(f"{name}(")))
    # drawn top-down in the layers' order
    ordered = [pos for _, pos in sorted(positions)]
    assert ordered == sorted(ordered), "docs/architecture.md lists the contexts in another order than .importlinter"
