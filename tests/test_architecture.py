"""The shape of the code: import direction, no request objects below web, no work at import time.

Import direction is checked by import-linter (contracts in pyproject.toml, ``[tool.importlinter]``);
what import-linter cannot express (a name imported from flask, calls at module level, file names)
is checked here on the syntax tree.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "tenants", "domain", "web", "worker")
SKIP_DIRS = {".venv", "var", "node_modules", "__pycache__", "build", "dist"}


def python_files(*packages: str) -> list[Path]:
    files = []
    for package in packages:
        files.extend(path for path in (ROOT / package).rglob("*.py") if not SKIP_DIRS & set(path.parts))
    return sorted(files)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- import-linter ----------------------------------------------------------------------------------


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    assert lint_imports.exists(), "import-linter is not installed (pip install -e '.[test]')"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout, result.stdout


# --- no Flask request-bound objects in domain/ and tenants/ ---------------------------------------------

REQUEST_BOUND = {"request", "session", "g"}


def request_object_uses(tree: ast.Module) -> list[str]:
    """``from flask import request`` (or session, g), ``flask.request`` and the like."""
    found = []
    flask_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {"flask", "flask.globals", "flask.wrappers"}:
            found.extend(f"line {node.lineno}: from {node.module} import {a.name}"
                         for a in node.names if a.name in REQUEST_BOUND | {"Request", "*"})
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "flask" or alias.name.startswith("flask."):
                    if alias.name in {"flask.request", "flask.globals"}:
                        found.append(f"line {node.lineno}: import {alias.name}")
                    flask_aliases.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in REQUEST_BOUND
                and isinstance(node.value, ast.Name) and node.value.id in flask_aliases):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", python_files("domain", "tenants"), ids=relative)
def test_no_request_objects_below_web(path):
    assert request_object_uses(parse(path)) == []


def test_request_check_catches_the_forms_it_should():
    for source in ("from flask import request", "from flask import g as flask_g",
                   "import flask\nflask.request.args", "import flask as f\nf.session['x']",
                   "from flask.globals import request"):
        assert request_object_uses(ast.parse(source)), source
    assert request_object_uses(ast.parse("from flask import current_app\nimport flask\nflask.abort")) == []


# --- no work at import time ------------------------------------------------------------------------------

# Calls that build apps, engines, workers or touch servers; only worker/main.py may make them at
# module level (it is the declared Celery entry point: ``celery -A worker.main``).
HEAVY_CALLS = {
    "create_app", "create_engine", "Celery", "celery_init_app", "load_settings", "migrate", "upgrade",
    "seed_demo", "create_all", "from_url", "connect", "run",
}
IMPORT_TIME_ENTRY_POINTS = {"worker/main.py"}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def import_time_calls(tree: ast.Module) -> list[str]:
    """Heavy calls that run when the module is imported (module and class bodies, decorators,
    default arguments), not those inside function bodies."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for part in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
                if part is not None:
                    visit(part)
            return  # the body runs only when called
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            return  # `if __name__ == "__main__":` runs only as a script
        if isinstance(node, ast.Call) and _called_name(node) in HEAVY_CALLS:
            found.append(f"line {node.lineno}: {_called_name(node)}(...)")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _is_main_guard(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


@pytest.mark.parametrize(
    "path", [p for p in python_files(*PACKAGES) if relative(p) not in IMPORT_TIME_ENTRY_POINTS], ids=relative
)
def test_no_work_at_import_time(path):
    assert import_time_calls(parse(path)) == []


def test_entry_point_is_the_only_module_building_the_app_at_import():
    assert import_time_calls(parse(ROOT / "worker/main.py")), "worker/main.py should build the app"


def test_import_time_check_catches_module_level_work():
    bad = """
from sqlalchemy import create_engine
engine = create_engine("postgresql://x")
app = create_app()
class Holder:
    celery = Celery("x")
@decorate(create_app())
def view(x=load_settings({})):
    pass
"""
    assert len(import_time_calls(ast.parse(bad))) == 5
    good = """
def factory():
    return create_app()
class Thing:
    def method(self):
        return create_engine("x")
if __name__ == "__main__":
    run()
"""
    assert import_time_calls(ast.parse(good)) == []


# --- no junk-drawer modules --------------------------------------------------------------------------------

JUNK_DRAWER_NAMES = {"utils.py", "helpers.py", "common.py", "misc.py"}


def test_no_junk_drawer_modules():
    offenders = []
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIP_DIRS or any(part.startswith(".") for part in parts):
            continue
        if path.name in JUNK_DRAWER_NAMES:
            offenders.append(relative(path))
    assert offenders == [], "name modules after what they do, not utils/helpers/common/misc"


def test_every_package_module_parses():
    # Parse errors would make the checks above vacuous for that file.
    files = python_files(*PACKAGES)
    assert len(files) > 20
    for path in files:
        parse(path)
