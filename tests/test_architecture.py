"""The house rules: layers import downward only, no import cycles, a small public API, and
modules readable in one sitting."""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_synthloss

PACKAGE = Path(pytest_synthloss.__file__).parent
ROOT = PACKAGE.parent
LAYERS = ("core", "checks", "emulation", "exports", "plugin", "cli")


def _type_checking_names() -> set[str]:
    tree = _parse(PACKAGE / "__init__.py")
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                names.update(alias.asname or alias.name for alias in stmt.names)
    return names


def test_public_api_is_small_and_its_lists_agree() -> None:
    exports = pytest_synthloss._EXPORTS
    assert sorted(pytest_synthloss.__all__) == sorted(exports)
    assert _type_checking_names() == set(exports)
    assert len(exports) <= 36  # 35 + recorded_curve (issue 18)
    for name, module in exports.items():
        defined = getattr(importlib.import_module(f"pytest_synthloss.{module}"), name)
        assert getattr(pytest_synthloss, name) is defined, name


def test_unknown_public_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'sparkline'"):
        pytest_synthloss.sparkline  # noqa: B018  # moved to pytest_synthloss.core.sparklines


def test_the_package_is_its_layers() -> None:
    subpackages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert subpackages == sorted(LAYERS)
    assert modules == ["__init__.py", "__main__.py"]


def test_modules_are_readable_in_one_sitting() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 420
    }
    assert long == {}


def _parse(path: Path) -> ast.Module:
    """``ast.parse``, tried again on CPython 3.11's spurious "AST constructor recursion depth
    mismatch" (gh-106905, fixed in 3.11.8 and 3.12.1): its AST state is shared between
    threads, so a thread a previous test left running (an HTTP server, say) can trip it.
    In random test order (pytest-randomly) that happens now and then."""
    text = path.read_text()
    for _ in range(4):
        try:
            return ast.parse(text)
        except SystemError:  # pragma: no cover - the interpreter bug above
            continue
    return ast.parse(text)


def _runtime_import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, function-local imports included and
    ``if TYPE_CHECKING:`` blocks left out."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        tree = _parse(path)
        skipped = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for stmt in node.body
            for child in ast.walk(stmt)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {t for t in targets if t.startswith("pytest_synthloss.")}
    known = set(graph)
    return {m: {t for t in ts if t in known and t != m} for m, ts in graph.items()}


def test_no_import_cycle_between_modules() -> None:
    graph = _runtime_import_graph()
    assert len(graph) > 40
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


def test_layers_import_downward_only() -> None:
    rank = {"core": 0, "checks": 1, "emulation": 2, "exports": 2, "plugin": 3, "cli": 3}
    wrong = []
    for module, targets in _runtime_import_graph().items():
        parts = module.split(".")
        if len(parts) < 3:
            continue
        for target in targets:
            here, there = parts[1], target.split(".")[1]
            if there != here and (there not in rank or rank[there] >= rank[here]):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_import_linter_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout
