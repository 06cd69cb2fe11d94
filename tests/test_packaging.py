"""Packaging: pyproject.toml is the single source of the dependencies, and environment.yml
(the conda environment) lists exactly the same packages with the same version bounds — the
runtime dependencies and the ``dev`` extra, under their conda-forge names, or from pip in
its ``pip:`` section — and nothing else. The extras we ask of a dependency must be ones it
declares (pip only warns about an unknown one), and the license is a PEP 639 expression."""
from __future__ import annotations

import re
import tomllib
import warnings
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]

#: PyPI requirement (name with its extras) → conda-forge package, where they differ.
CONDA_NAMES = {
    "duckdb": "python-duckdb",
    "uvicorn[standard]": "uvicorn-standard",   # conda-forge packages the extra as its own package
    "psycopg[binary]": "psycopg",              # the wheel's bundled libpq; conda-forge links its own
    "prometheus-client": "prometheus_client",  # conda-forge keeps the underscore
}
#: What environment.yml lists besides the project's dependencies.
ENVIRONMENT_ITSELF = {"python", "pip"}
PIP_PROJECT = "-e .[dev]"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _project_requirements(project: dict) -> list[Requirement]:
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def parse_environment(text: str) -> tuple[dict[str, SpecifierSet], list[str]]:
    """environment.yml's conda packages (name → version bounds) and its pip lines, as written.
    The file is flat YAML (lists of strings); anything else in its ``dependencies`` fails."""
    conda: dict[str, SpecifierSet] = {}
    pip: list[str] = []
    section = None
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if not line.startswith(" "):
            section = line.rstrip(":")
            continue
        if section != "dependencies":
            continue
        item = re.fullmatch(r"(\s*)- (.+)", line)
        assert item, f"environment.yml: not a list item: {raw!r}"
        indent, value = len(item.group(1)), item.group(2).strip()
        if indent == 2 and value == "pip:":
            continue
        if indent == 2:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", value)
            assert match, f"environment.yml: not a conda package spec: {value!r}"
            name = match.group(1).lower()
            assert name not in conda, f"environment.yml: {name} listed twice"
            conda[name] = SpecifierSet(match.group(2).replace(" ", ""))
        else:
            pip.append(value)
    return conda, pip


def drift(pyproject: dict, environment: str) -> list[str]:
    """Every difference between pyproject.toml's dependencies (runtime and dev) and
    environment.yml, as readable lines; empty when they agree."""
    project = pyproject["project"]
    conda, pip_lines = parse_environment(environment)
    problems: list[str] = []
    if conda.pop("python", None) != SpecifierSet(project["requires-python"]):
        problems.append(f"python: environment.yml must say python{project['requires-python']} (requires-python)")
    conda.pop("pip", None)
    if PIP_PROJECT not in pip_lines:
        problems.append(f"the pip section must install the project itself: {PIP_PROJECT}")
    pip = {}
    for line in pip_lines:
        if line != PIP_PROJECT:
            req = Requirement(line)
            pip[canonicalize_name(req.name)] = req
    for req in _project_requirements(project):
        key = canonicalize_name(req.name)
        written = f"{req.name}[{','.join(sorted(req.extras))}]" if req.extras else req.name
        if key in pip:
            got = pip.pop(key)
            if got.extras != req.extras or got.specifier != req.specifier:
                problems.append(f"{req}: the pip section says {got}")
            continue
        conda_name = CONDA_NAMES.get(written.lower(), CONDA_NAMES.get(key, key))
        if req.extras and written.lower() not in CONDA_NAMES:
            problems.append(f"{req}: extras need the pip section (or a conda package named in CONDA_NAMES)")
        if conda_name not in conda:
            problems.append(f"{req}: missing from environment.yml (as {conda_name})")
            continue
        got_spec = conda.pop(conda_name)
        if got_spec != req.specifier:
            problems.append(f"{req}: environment.yml says {conda_name}{got_spec or ' (no bounds)'}")
    problems += [f"{name}{spec}: in environment.yml, not in pyproject.toml" for name, spec in conda.items()]
    problems += [f"{req}: in environment.yml's pip section, not in pyproject.toml" for req in pip.values()]
    return problems


def test_environment_yml_lists_exactly_the_dependencies_of_pyproject():
    problems = drift(_pyproject(), (ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert not problems, "environment.yml drifted from pyproject.toml:\n" + "\n".join(problems)


@pytest.mark.parametrize("edit, expected", [
    (lambda env: env.replace("  - psutil>=5.9\n", ""), "psutil>=5.9: missing"),
    (lambda env: env.replace("  - pandas>=2.2\n", "  - pandas>=2.1\n"), "environment.yml says pandas>=2.1"),
    (lambda env: env.replace("  - pip\n", "  - pip\n  - requests>=2\n"), "requests>=2: in environment.yml, not in"),
    (lambda env: env.replace("pyhanko[pkcs11,opentype]", "pyhanko[pkcs11]"), "the pip section says pyhanko[pkcs11]"),
    (lambda env: env.replace("      - rl_accel>=0.9\n", ""), "rl_accel>=0.9: missing"),
    (lambda env: env.replace("  - python-duckdb>=1.1\n", "  - duckdb>=1.1\n"), "as python-duckdb"),
    (lambda env: env.replace("  - python>=3.11\n", "  - python>=3.10\n"), "python: environment.yml must say"),
])
def test_a_drift_is_caught(edit, expected):
    """The comparison fails on each kind of drift: a package dropped, other bounds, one
    too many, other extras, a conda name taken for the PyPI one, another Python."""
    environment = (ROOT / "environment.yml").read_text(encoding="utf-8")
    edited = edit(environment)
    assert edited != environment, "the edit must change the file (update this test with environment.yml)"
    problems = drift(_pyproject(), edited)
    assert any(expected in p for p in problems), problems


def test_a_new_dependency_in_pyproject_must_be_added_to_environment_yml():
    pyproject = _pyproject()
    pyproject["project"]["optional-dependencies"]["dev"].append("ruff>=0.6")
    problems = drift(pyproject, (ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert problems == ["ruff>=0.6: missing from environment.yml (as ruff)"]


def test_the_extras_we_ask_for_are_declared_by_the_installed_packages():
    """pip only warns ("does not provide the extra") and installs without it."""
    unknown = []
    for req in _project_requirements(_pyproject()["project"]):
        if not req.extras:
            continue
        try:
            declared = {canonicalize_name(e) for e in metadata(req.name).get_all("Provides-Extra") or []}
        except PackageNotFoundError:
            unknown.append(f"{req.name} is not installed")
            continue
        unknown += [f"{req.name}[{e}]" for e in req.extras if canonicalize_name(e) not in declared]
    assert not unknown, f"extras the packages do not declare: {unknown}"


def test_the_license_is_a_spdx_expression_and_the_build_backend_understands_it():
    pyproject = _pyproject()
    assert isinstance(pyproject["project"]["license"], str), "PEP 639: a string, not the deprecated table"
    backend = Requirement(next(r for r in pyproject["build-system"]["requires"] if r.startswith("setuptools")))
    assert "77" in backend.specifier and "76.1" not in backend.specifier, \
        "setuptools reads a license expression from 77.0 on"


def _warn_from(module: str, message: str, category: type[Warning] = UserWarning) -> list:
    """Issue ``message`` as if ``module`` raised it, under the test run's filters; the warnings
    that came through (an error filter raises instead)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module, registry={})
    return seen


@pytest.mark.parametrize("module", ["core.logbook.entries", "api.app", "dashboards.common", "tests.world", "core"])
def test_a_warning_from_our_code_fails_the_test(module):
    with pytest.raises(UserWarning):
        _warn_from(module, "something to fix")
    with pytest.raises(DeprecationWarning):
        _warn_from(module, "a deprecated call", DeprecationWarning)


def test_third_party_warnings_stay_warnings_and_the_listed_ones_are_ignored():
    assert len(_warn_from("somelib.module", "a third-party deprecation", DeprecationWarning)) == 1
    assert len(_warn_from("coreutils", "not our package", UserWarning)) == 1
    assert _warn_from("bokeh.models.sources", "The inplace keyword in DataFrame.reset_index is deprecated",
                      DeprecationWarning) == []
    assert _warn_from("pyhanko.sign.signers.pdf_cms", "DSA is deprecated and support will be removed") == []
    assert _warn_from("fastapi.testclient", "Using `httpx` with `starlette.testclient` is deprecated; install") == []


def test_pytest_is_strict():
    options = _pyproject()["tool"]["pytest"]["ini_options"]
    assert options["xfail_strict"] is True and "--strict-markers" in options["addopts"]
