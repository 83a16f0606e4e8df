"""STYLE.md's layers: what each module never imports, directly or through the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "pytest_smtpd"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

_SANS_IO = {"socket", "threading", "selectors", "ssl", "pytest", "_pytest", "pluggy"}
# The core never reaches up into the layers that drive it.
_ABOVE_CORE = {f"{PACKAGE}.{name}" for name in ("records", "server", "plugin", "cli", "rules", "filters", "options")}
# What drives the records: the engine, the façade over it, the plugin and the CLI.
_DRIVERS = {f"{PACKAGE}.{name}" for name in ("engine", "server", "plugin", "cli")}
# Nothing below the plugin imports pytest.
_PYTEST = {"pytest", "_pytest"}
NEVER_IMPORTS = {
    "protocol": _SANS_IO | _ABOVE_CORE,
    "extensions": _SANS_IO | _ABOVE_CORE,
    "proxy": _SANS_IO | _ABOVE_CORE,
    # A Message is a value: it reads its session through what the recorder hands it.
    "message": {"socket", f"{PACKAGE}.records"} | _PYTEST | _DRIVERS,
    "records": {"socket"} | _PYTEST | _DRIVERS,
    "content": {"socket"} | _PYTEST | _DRIVERS,
    "rules": {"socket"} | _PYTEST | _DRIVERS,
    "filters": {"socket"} | _PYTEST | _DRIVERS,
    "options": {"socket"} | _PYTEST | _DRIVERS,
    # The engine serves; the assertions and the public face sit above it.
    "engine": _PYTEST | {f"{PACKAGE}.{name}" for name in ("server", "plugin", "cli", "filters")},
    "server": _PYTEST | {f"{PACKAGE}.plugin", f"{PACKAGE}.cli"},
}

#: The protocol package's own layers, lowest first: a module imports only from
#: layers below its own (so there are no cycles, and the connection is on top).
CORE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"_config", "_events", "_state"}),
    frozenset({"_replies"}),
    frozenset({"_readers", "_auth"}),
    frozenset({"_commands"}),
    frozenset({"_connection"}),
    frozenset({"__init__"}),
)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_path(module: str) -> Path:
    """The file of a package module named relative to the package (``protocol._state``)."""
    path = PACKAGE_DIR.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _package_of(module: str) -> list[str]:
    """The package a module's relative imports start from, as parts below ``pytest_smtpd``."""
    parts = module.split(".")
    return parts if module_path(module).name == "__init__.py" else parts[:-1]


def runtime_imports(source: str, module: str = "") -> set[str]:
    """Modules imported when the code of ``module`` runs: top-level names for outside
    modules, dotted ``pytest_smtpd.x.y`` names for the package's own."""
    found: set[str] = set()
    package = _package_of(module) if module else []

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
                base = ".".join([PACKAGE, *package[: len(package) - node.level + 1]])
                if node.module:
                    found.add(f"{base}.{node.module}")
                else:
                    found.update(f"{base}.{alias.name}" for alias in node.names)
            elif node.module is not None:
                parts = node.module.split(".")
                found.add(node.module if parts[0] == PACKAGE else parts[0])
        for inner in ast.iter_child_nodes(node):
            visit(inner)

    visit(ast.parse(source))
    return found


def import_chains(module: str) -> dict[str, list[str]]:
    """Every module reachable from ``module`` (outside modules by top-level name, the
    package's own as ``pytest_smtpd.x``), with the chain of package modules that imports it."""
    chains: dict[str, list[str]] = {}
    todo = [[module]]
    seen = {module}
    while todo:
        chain = todo.pop()
        path = module_path(chain[-1])
        if not path.exists():
            continue
        for name in sorted(runtime_imports(path.read_text(encoding="utf-8"), chain[-1])):
            if name.startswith(PACKAGE + "."):
                parts = name.split(".")[1:]
                # Importing a.b runs a's __init__ first.
                for depth in range(1, len(parts) + 1):
                    inner = ".".join(parts[:depth])
                    chains.setdefault(f"{PACKAGE}.{inner}", [*chain, inner])
                    if inner not in seen and module_path(inner).exists():
                        seen.add(inner)
                        todo.append([*chain, inner])
            else:
                chains.setdefault(name, [*chain, name])
    return chains


@pytest.mark.parametrize("module", sorted(NEVER_IMPORTS))
def test_layer_never_imports(module: str) -> None:
    assert module_path(module).exists()
    chains = import_chains(module)
    bad = {name: " -> ".join(chain) for name, chain in chains.items() if name in NEVER_IMPORTS[module]}
    assert bad == {}


def _core_modules() -> list[str]:
    return sorted(path.stem for path in (PACKAGE_DIR / "protocol").glob("*.py"))


def test_every_core_module_has_a_layer() -> None:
    assert _core_modules() == sorted(set().union(*CORE_LAYERS))


@pytest.mark.parametrize("name", _core_modules())
def test_core_modules_import_only_lower_layers(name: str) -> None:
    layer = next(i for i, members in enumerate(CORE_LAYERS) if name in members)
    below = set().union(*CORE_LAYERS[:layer])
    module = "protocol" if name == "__init__" else f"protocol.{name}"
    imports = runtime_imports(module_path(module).read_text(encoding="utf-8"), module)
    inner = {i.split(".")[2] for i in imports if i.startswith(f"{PACKAGE}.protocol.")}
    outer = {i for i in imports if i.startswith(PACKAGE + ".") and not i.startswith(f"{PACKAGE}.protocol")}
    assert inner <= below, f"protocol/{name}.py imports {sorted(inner - below)}, not below its layer"
    # Outside the package, the core uses only the names of what it implements.
    assert outer <= {f"{PACKAGE}.extensions"}


def test_extensions_import_nothing_of_the_package() -> None:
    # Reading the options (at pytest start-up) must not import the core.
    imports = runtime_imports(module_path("extensions").read_text(encoding="utf-8"), "extensions")
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


def test_relative_imports_resolve_from_the_importing_package() -> None:
    source = "from ._state import State\nfrom ..extensions import KNOWN_EXTENSIONS\nfrom . import _auth\n"
    assert runtime_imports(source, "protocol._connection") == {
        "pytest_smtpd.protocol._state",
        "pytest_smtpd.extensions",
        "pytest_smtpd.protocol._auth",
    }
    assert runtime_imports("from ._config import X\n", "protocol") == {"pytest_smtpd.protocol._config"}


def test_chains_follow_the_package() -> None:
    chains = import_chains("server")
    assert chains["socket"] == ["server", "engine", "socket"]
    assert chains["pytest_smtpd.protocol._connection"][:3] == ["server", "protocol", "protocol._connection"]
    assert "protocol" not in chains
    assert all(chain[0] == "server" for chain in chains.values())


def test_the_facade_holds_no_socket_code() -> None:
    # SMTPServer reaches sockets, selectors and TLS only through its engine.
    imports = runtime_imports(module_path("server").read_text(encoding="utf-8"), "server")
    assert imports & {"socket", "selectors", "ssl", "heapq"} == set()
    assert f"{PACKAGE}.engine" in imports
