"""The import rules of docs/ARCHITECTURE.md, checked on the source: a layer that reaches into another fails here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = {"node", "central"}
SHELL = {"service", "appshell"}  # the shared server shell (renamed appshell/)
WEB = {"flask", "flask_wtf", "werkzeug", "waitress", "click"}


def imported(package: str) -> dict[str, set[str]]:
    """For each module of the package, the top-level names of what it imports (relative imports resolved)."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(package if node.level else (node.module or "").split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["domain", "protocol"])
def test_the_rules_and_the_wire_import_no_app_no_shell_and_no_flask(package):
    for module, names in imported(package).items():
        assert not names & (APPS | SHELL | WEB), module
    other = {"domain": "protocol", "protocol": "domain"}[package]
    assert not any(other in names for names in imported(package).values())


@pytest.mark.parametrize("package, other", [("node", "central"), ("central", "node")])
def test_node_and_central_never_import_each_other(package, other):
    for module, names in imported(package).items():
        assert other not in names, module


def test_the_shared_shell_imports_neither_app():
    package = next(name for name in sorted(SHELL) if (ROOT / name).is_dir())
    modules = imported(package)
    assert modules  # the walk found the shell's modules
    for module, names in modules.items():
        assert not names & APPS, module


def test_the_walk_sees_real_imports():
    assert {"domain", "protocol", "flask"} <= set().union(*imported("node").values())
