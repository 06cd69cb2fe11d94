"""Every error core raises carries a Vietnamese message (``message_vi``): the console, the API
and the CLI show it to people. This walks the source of ``core`` (AST), finds every place that
builds a :class:`core.kernel.errors.SohoaError` subclass (a ``raise X(...)`` or a helper that
returns one) and fails for any that passes no ``message_vi=``, unless the class builds its own
Vietnamese message (checked by building one here)."""
import ast
from pathlib import Path

import core
from core.kernel import errors

CORE = Path(core.__file__).parent
CLASSES = {name: cls for name, cls in vars(errors).items()
           if isinstance(cls, type) and issubclass(cls, errors.SohoaError)}


def _problem():
    from core.school.importer import ImportProblem

    return ImportProblem("lop.csv", 3, "name", "empty", "trống")


#: Classes whose constructor writes the Vietnamese message itself, with an example of each.
SELF_TRANSLATED = {
    "InvalidAssessment": lambda: errors.InvalidAssessment("score off the scale", "điểm ngoài thang 10",
                                                          article="Art. 7", value=11),
    "KeyAccessError": lambda: errors.KeyAccessError("wrong PIN"),
    "SignatureRejected": lambda: errors.SignatureRejected("HASH_FAILURE", "digest differs"),
    "ImportRejected": lambda: errors.ImportRejected([_problem()]),
}


def _constructions():
    """(file, line, class name, has message_vi) of every construction of a SohoaError subclass in core."""
    found = []
    for path in sorted(CORE.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in CLASSES:
                found.append((path.relative_to(CORE.parent), node.lineno, name,
                              any(k.arg == "message_vi" for k in node.keywords)))
    return found


def test_the_walk_finds_the_raise_sites():
    sites = _constructions()
    assert len(sites) > 150  # every module of core that refuses something
    assert {"NotFound", "RuleViolation", "PermissionDenied", "InvalidAssessment"} <= {s[2] for s in sites}


def test_every_error_core_raises_has_a_vietnamese_message():
    missing = [f"{path}:{line} {name}" for path, line, name, has_vi in _constructions()
               if not has_vi and name not in SELF_TRANSLATED]
    assert missing == [], "raised without message_vi=:\n" + "\n".join(missing)


def test_the_classes_that_translate_themselves_do():
    for name, make in SELF_TRANSLATED.items():
        err = make()
        assert type(err).__name__ == name
        assert err.message_vi and err.message_vi != err.message, name


def test_an_import_refusal_names_the_file_row_and_column_in_vietnamese():
    err = errors.ImportRejected([_problem(), _problem()])
    assert err.message_vi == "Tệp có lỗi, chưa nhập gì: lop.csv dòng 3, cột name: trống (và 1 lỗi khác)"
