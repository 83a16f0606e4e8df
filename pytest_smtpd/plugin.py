"""The pytest face of pytest-smtpd: fixtures, the ``smtpd`` marker, ini options,
hook specifications and the transcript report section.

Options for a server come from, highest first: ``smtpd_factory(**kwargs)``, the
``@pytest.mark.smtpd(**options)`` marker, the ``pytest_smtpd_options`` hook,
the ``smtpd_<option>`` ini keys, and the built-in defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from . import _distribution, hookspec
from .option_names import OPTION_NAMES

if TYPE_CHECKING:
    from .options import Options
    from .protocol import Command, Reply
    from .records import Message, ServerError, Session
    from .server import SMTPServer

__all__ = ["SMTPServerFactory"]

_SERVERS = pytest.StashKey[list["SMTPServer"]]()
_REPORTED = pytest.StashKey[set[int]]()
_SESSION_REPORTED = pytest.StashKey[set[int]]()
_SESSION_SERVER = pytest.StashKey["SMTPServer"]()
# Options are imported on first use: a session that starts no server never builds them.
_INI: pytest.StashKey[tuple[dict[str, Any], Options]] = pytest.StashKey()
_BUILT: pytest.StashKey[dict[Hashable, Options]] = pytest.StashKey()
_BUILT_KEPT = 256

SMTPServerFactory = Callable[..., "SMTPServer"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    for name in OPTION_NAMES:
        if name == "ssl_context":
            continue
        parser.addini(f"smtpd_{name}", f"pytest-smtpd: default for the '{name}' server option", default=None)
    parser.addini(
        "smtpd_report",
        "pytest-smtpd: add the SMTP transcript to the report of a failed test (default true)",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "smtpd(**options): options for the servers of the smtpd and smtpd_factory fixtures "
        f"({', '.join(OPTION_NAMES)})",
    )
    _distribution.warn_about_other_distribution(config)
    for name in ("smtpd", "smtpdfix", "smtpdfix.plugin"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None and "smtpdfix" in getattr(plugin, "__name__", ""):
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    "pytest-smtpd and smtpdfix are both installed, and both define a fixture named "
                    "'smtpd': which one a test gets depends on plugin load order. Uninstall one, or "
                    "disable smtpdfix with '-p no:smtpd -p pytest_smtpd' ('-p no:smtpd' alone "
                    "disables pytest-smtpd too)."
                ),
                stacklevel=2,
            )
            break


def _ini_options(config: pytest.Config) -> tuple[dict[str, Any], Options]:
    """The ini layer, read and checked once per run: as values, and built."""
    cached = config.stash.get(_INI, None)
    if cached is None:
        from .options import Options, parse_ini

        values: dict[str, Any] = {}
        for name in OPTION_NAMES:
            if name == "ssl_context":
                continue
            raw = config.getini(f"smtpd_{name}")
            if raw is not None and raw != "":
                values[name] = parse_ini(name, raw if isinstance(raw, str) else " ".join(map(str, raw)))
        cached = config.stash[_INI] = (values, Options.build(values, where="ini file"))
    return cached


def _options_for(item: pytest.Item, overrides: Mapping[str, Any], ihook: Any) -> Options:
    ini, ini_options = _ini_options(item.config)
    hooked: dict[str, Any] = {}
    options_hook = ihook.pytest_smtpd_options
    if options_hook.get_hookimpls():
        for result in reversed(options_hook(item=item)):
            if result:
                hooked.update(result)
    marker: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers("smtpd"))):  # closest marker wins
        if mark.args:
            raise pytest.UsageError(
                f"@pytest.mark.smtpd takes keyword options only, got positional {mark.args!r}; "
                f"valid options: {', '.join(OPTION_NAMES)}"
            )
        marker.update(mark.kwargs)
    if not (hooked or marker or overrides):
        return ini_options  # the common case: nothing per test
    from .options import Options

    key: Hashable | None
    try:  # the same marker on many tests: build (and check) its options once
        key = tuple(frozenset((n, type(v), v) for n, v in layer.items()) for layer in (hooked, marker, overrides))
    except TypeError:  # an unhashable value, e.g. users={...}: build every time
        key = None
    cache = item.config.stash.setdefault(_BUILT, {})
    built = cache.get(key) if key is not None else None
    if built is None:
        for where, layer in (("pytest_smtpd_options hook", hooked), ("@pytest.mark.smtpd", marker)):
            if layer:
                Options.build(layer, where=where)  # name the layer in the error
        built = Options.build(ini, hooked, marker, overrides, where="smtpd_factory()")
        if key is not None and len(cache) < _BUILT_KEPT:
            cache[key] = built
    return built


class _ItemHooks:
    """The server's hooks, routed through one test item's ``ihook``."""

    def __init__(self, ihook: Any) -> None:
        self._ihook = ihook
        self.reply: Callable[[Session, Command, Reply], Reply | tuple[int, str] | None] | None = None
        self.message: Callable[[Session, Message, Reply], Reply | tuple[int, str] | None] | None = None
        self.session_ended: Callable[[Session], None] | None = None
        if ihook.pytest_smtpd_reply.get_hookimpls():
            self.reply = self._reply
        if ihook.pytest_smtpd_message.get_hookimpls():
            self.message = self._message
        if ihook.pytest_smtpd_session_ended.get_hookimpls():
            self.session_ended = self._session_ended

    def _reply(self, session: Session, command: Command, reply: Reply) -> Reply | tuple[int, str] | None:
        result: Reply | tuple[int, str] | None = self._ihook.pytest_smtpd_reply(
            session=session, command=command, reply=reply
        )
        return result

    def _message(self, session: Session, message: Message, reply: Reply) -> Reply | tuple[int, str] | None:
        result: Reply | tuple[int, str] | None = self._ihook.pytest_smtpd_message(
            session=session, message=message, reply=reply
        )
        return result

    def _session_ended(self, session: Session) -> None:
        self._ihook.pytest_smtpd_session_ended(session=session)


def _start(item: pytest.Item, overrides: Mapping[str, Any]) -> SMTPServer:
    from .server import SMTPServer

    ihook = item.ihook  # looked up once: each access searches the conftests
    server = SMTPServer.from_options(_options_for(item, overrides, ihook))
    server.hooks = _ItemHooks(ihook)
    # Started when the test first reads the port: an unused fixture costs no thread.
    server.start_on_demand()
    started = ihook.pytest_smtpd_server_started
    if started.get_hookimpls():
        started(server=server)
    return server


def _track(item: pytest.Item, server: SMTPServer) -> None:
    item.stash.setdefault(_SERVERS, []).append(server)


def _raise_late(server: SMTPServer, reported: set[int], when: str) -> None:
    """Fail for errors of the session server that no test has reported yet."""
    late = [e for e in server.errors if id(e) not in reported]
    reported.update(id(e) for e in late)
    server.raise_errors(late, when)


def _check(item: pytest.Item) -> None:
    """Fail for server-thread errors and, with ``strict``, violations not yet reported."""
    reported = item.stash.setdefault(_REPORTED, set())
    for server in item.stash.get(_SERVERS, []):
        errors = [e for e in server.errors if id(e) not in reported]
        if errors:
            reported.update(id(e) for e in errors)
            server.raise_errors(errors)
        if server.options.strict:
            found = [v for v in server.violations if id(v) not in reported]
            if found:
                reported.update(id(v) for v in found)
                server.assert_no_violations()


@pytest.fixture
def smtpd_factory(request: pytest.FixtureRequest) -> Generator[SMTPServerFactory, None, None]:
    """Make started servers: ``smtpd_factory(**options) -> SMTPServer``; all are stopped at teardown."""
    made: list[SMTPServer] = []
    item = request.node
    assert isinstance(item, pytest.Item)

    def factory(**options: Any) -> SMTPServer:
        server = _start(item, options)
        made.append(server)
        _track(item, server)
        return server

    yield factory
    for server in made:
        server.stop()
    _check(item)


@pytest.fixture
def smtpd(request: pytest.FixtureRequest) -> Generator[SMTPServer, None, None]:
    """A started :class:`~pytest_smtpd.SMTPServer` on loopback, fresh for this test.

    Its thread (and, on the default host, its socket) starts when the test first
    reads ``port`` or ``address``: see :meth:`~pytest_smtpd.SMTPServer.start_on_demand`.
    """
    item = request.node
    assert isinstance(item, pytest.Item)
    server = _start(item, {})
    _track(item, server)
    yield server
    server.stop()
    _check(item)


@pytest.fixture(scope="session")
def smtpd_session(request: pytest.FixtureRequest) -> Generator[SMTPServer, None, None]:
    """One server for the whole session (stable host and port), for applications
    that read their SMTP address once at start-up. Its records and rules are
    cleared before each test that uses it; it takes the ini options only (the
    marker and the ``pytest_smtpd_options`` hook are per test)."""
    from .server import SMTPServer

    server = SMTPServer.from_options(_ini_options(request.config)[1])
    server.start()
    request.config.stash[_SESSION_SERVER] = server
    yield server
    del request.config.stash[_SESSION_SERVER]
    server.stop()
    _raise_late(server, request.config.stash.get(_SESSION_REPORTED, set()), "after the last test that used it")


def _uses_session_server(item: pytest.Item) -> bool:
    return "smtpd_session" in getattr(item, "fixturenames", ())


# The session server is cleared by hooks rather than an autouse fixture, so
# tests that never use it pay nothing for it.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    if not _uses_session_server(item):
        return (yield)
    config = item.config
    server = config.stash.get(_SESSION_SERVER, None)
    late: list[ServerError] = []
    if server is not None:
        # Before this test's fixtures run: what they script or send is kept.
        previous = config.stash.get(_SESSION_REPORTED, set())
        late = [e for e in server.errors if id(e) not in previous]
        server.reset()
    config.stash[_SESSION_REPORTED] = item.stash.setdefault(_REPORTED, set())
    result = yield
    server = config.stash[_SESSION_SERVER]
    server.hooks = _ItemHooks(item.ihook)
    _track(item, server)
    server.raise_errors(late, "between the tests that used it")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    if _uses_session_server(item) and _SESSION_SERVER in item.config.stash:
        _check(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    result = yield
    if _SERVERS in item.stash:
        _check(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    servers = item.stash.get(_SERVERS, None)
    if servers and report.failed and item.config.getini("smtpd_report"):
        for server in servers:
            text = str(server.transcript)
            errors = server.errors
            if errors:
                text += "\n\nErrors in the server thread:\n" + "\n".join(e.format() for e in errors)
            if text:
                name = "smtpd transcript" if len(servers) == 1 else f"smtpd transcript ({server.host}:{server.port})"
                report.sections.append((f"Captured {name} {call.when}", text))
    if servers is not None and call.when == "teardown":
        # The test is over: let its servers and their records go, rather than
        # keep every test's server alive (and scanned by the GC) to the end.
        del item.stash[_SERVERS]
    return report
