"""STYLE.md's layers: what each module never imports, directly or through the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "pytest_smtpd"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

_SANS_IO = {"socket", "threading", "selectors", "ssl", "pytest", "_pytest", "pluggy"}
NEVER_IMPORTS = {
    "protocol": _SANS_IO,
    "auth": _SANS_IO,
    "extensions": _SANS_IO,
    "proxy": _SANS_IO,
    "records": {"socket", "pytest", "_pytest"},
    "content": {"socket", "pytest", "_pytest"},
    "rules": {"socket"},
    "filters": {"socket", "pytest", "_pytest"},
    "server": {"pytest", "_pytest"},
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(source: str) -> set[str]:
    """Modules imported when the code runs: top-level names, and ``pytest_smtpd.x`` for the package's own."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                found.add(name if name.startswith(PACKAGE + ".") else name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.module:
                    found.add(f"{PACKAGE}.{node.module.split('.')[0]}")
                else:
                    found.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
            elif node.module is not None:
                parts = node.module.split(".")
                found.add(".".join(parts[:2]) if parts[0] == PACKAGE else parts[0])
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(ast.parse(source))
    return found


def import_chains(module: str) -> dict[str, list[str]]:
    """Every outside module reachable from ``module``, with the chain of package modules that imports it."""
    chains: dict[str, list[str]] = {}
    todo = [[module]]
    seen = {module}
    while todo:
        chain = todo.pop()
        path = PACKAGE_DIR / f"{chain[-1]}.py"
        if not path.exists():
            continue
        for name in sorted(runtime_imports(path.read_text(encoding="utf-8"))):
            if name.startswith(PACKAGE + "."):
                inner = name.split(".", 1)[1]
                if inner not in seen:
                    seen.add(inner)
                    todo.append([*chain, inner])
            else:
                chains.setdefault(name, [*chain, name])
    return chains


@pytest.mark.parametrize("module", sorted(NEVER_IMPORTS))
def test_layer_never_imports(module: str) -> None:
    assert (PACKAGE_DIR / f"{module}.py").exists()
    chains = import_chains(module)
    bad = {name: " -> ".join(chain) for name, chain in chains.items() if name in NEVER_IMPORTS[module]}
    assert bad == {}


def test_protocol_core_stands_alone() -> None:
    # The core is protocol.py plus the SASL mechanisms it drives (auth.py) and
    # the names of what it implements (extensions.py).
    imports = runtime_imports((PACKAGE_DIR / "protocol.py").read_text(encoding="utf-8"))
    assert {name for name in imports if name.startswith(PACKAGE)} <= {f"{PACKAGE}.auth", f"{PACKAGE}.extensions"}
    imports = runtime_imports((PACKAGE_DIR / "auth.py").read_text(encoding="utf-8"))
    assert not {name for name in imports if name.startswith(PACKAGE)}


def test_import_walker_sees_runtime_imports_only() -> None:
    source = (
        "import os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from . import records\n"
        "from .protocol import Reply\n"
        "from pytest_smtpd.rules import Rule\n"
        "if TYPE_CHECKING:\n"
        "    import ssl\n"
        "else:\n"
        "    import selectors\n"
        "def later():\n"
        "    import socket\n"
    )
    assert runtime_imports(source) == {
        "os",
        "typing",
        "pytest_smtpd.records",
        "pytest_smtpd.protocol",
        "pytest_smtpd.rules",
        "selectors",
        "socket",
    }


def test_chains_follow_the_package() -> None:
    chains = import_chains("server")
    assert chains["socket"] == ["server", "socket"]
    assert "protocol" not in chains
    assert all(chain[0] == "server" for chain in chains.values())
