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


def pytest_configure(config: pytest.Config) -> None:
    # pytest-asyncio 0.23 closes a test's event loop as soon as the test returns, before asyncio has
    # finished closing a client's TLS transport (aiosmtplib's quit() starts the TLS shutdown), so the
    # transport is garbage-collected unclosed in some later test. That is the client's loop, never
    # this plugin's server (which uses no asyncio): ignore it there only. (On Python 3.10 the bare
    # socket is what gets collected, which no filter can tell from a leak: CI runs pytest 7.4 on 3.11.)
    if _old_pytest_asyncio():
        config.addinivalue_line(
            "filterwarnings",
            "ignore:Exception ignored in. <function _SelectorTransport.__del__:pytest.PytestUnraisableExceptionWarning",
        )
