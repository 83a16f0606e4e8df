"""Suite-wide set-up that keeps one configuration valid on every pytest this plugin supports."""

from __future__ import annotations

from importlib import metadata

import pytest


def _old_pytest_asyncio() -> bool:
    """pytest-asyncio before 0.24: the newest there is for pytest 7.4."""
    try:
        version = metadata.version("pytest-asyncio")
    except metadata.PackageNotFoundError:
        return False
    return tuple(int(part) for part in version.split(".")[:2]) < (0, 24)


def pytest_addoption(parser: pytest.Parser) -> None:
    # pyproject.toml sets asyncio_default_fixture_loop_scope, which pytest-asyncio 0.24 and newer
    # require (they warn when it is unset). pytest-asyncio 0.23 does not know the key, and
    # --strict-config rejects an unknown key: declare it there (0.23 runs fixtures in the test's loop).
    if _old_pytest_asyncio():
        parser.addini("asyncio_default_fixture_loop_scope", "ignored: pytest-asyncio before 0.24 has no such option")
