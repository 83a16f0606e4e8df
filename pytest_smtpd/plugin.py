"""The pytest face of pytest-smtpd: fixtures, the ``smtpd`` marker, ini options,
hook specifications and the transcript report section.

Options for a server come from, highest first: ``smtpd_factory(**kwargs)``, the
``@pytest.mark.smtpd(**options)`` marker, the ``pytest_smtpd_options`` hook,
the ``smtpd_<option>`` ini keys, and the built-in defaults.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import _distribution, hookspec
from .option_names import OPTION_NAMES

if TYPE_CHECKING:
    from .options import Options
    from .protocol import Command, Reply, Violation
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
#: Set on a test item when one of its reports failed: its servers are saved at teardown.
_FAILED = pytest.StashKey[bool]()
#: Where failed tests' mail goes (``--smtpd-save-dir``, ``smtpd_save_dir``), or None; read once.
_SAVE_DIR = pytest.StashKey["Path | None"]()

SMTPServerFactory = Callable[..., "SMTPServer"]


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


#: Every ini key the plugin registers; any other ``smtpd_*`` key is a typo.
INI_NAMES: list[str] = []


def _addini(parser: pytest.Parser, name: str, help: str, **kwargs: Any) -> None:
    parser.addini(name, help, **kwargs)
    if name not in INI_NAMES:
        INI_NAMES.append(name)


def pytest_addoption(parser: pytest.Parser) -> None:
    for name in OPTION_NAMES:
        if name == "ssl_context":
            continue
        _addini(parser, f"smtpd_{name}", f"pytest-smtpd: default for the '{name}' server option", default=None)
    _addini(
        parser,
        "smtpd_report",
        "pytest-smtpd: add the SMTP transcript to the report of a failed test (default true)",
        type="bool",
        default=True,
    )
    save_help = (
        "pytest-smtpd: for each failed test that used a server, write its messages (1.eml, 2.eml, ...) and "
        "its transcript.txt under DIR/<test id>/"
    )
    parser.getgroup("smtpd", "pytest-smtpd").addoption(
        "--smtpd-save-dir", dest="smtpd_save_dir", metavar="DIR", default=None, help=save_help
    )
    _addini(parser, "smtpd_save_dir", save_help + " (relative to the ini file)", default=None)


def _check_ini_keys(config: pytest.Config) -> None:
    """An ``smtpd_*`` key the plugin does not know is a usage error, as every
    unknown key is under ``--strict-config``: a typo would otherwise leave the
    suite running with the defaults, behind a warning."""
    # pytest 9 deprecates the public Config.inicfg (reading it warns); the keys are the same.
    keys = getattr(config, "_inicfg", None)
    if keys is None:  # pragma: no cover - pytest < 9
        keys = config.inicfg
    unknown = sorted(key for key in keys if key.startswith("smtpd_") and key not in INI_NAMES)
    if unknown:
        from .errors import did_you_mean

        named = ", ".join(f"{key}{did_you_mean(key, INI_NAMES)}" for key in unknown)
        raise pytest.UsageError(
            f"unknown pytest-smtpd ini option{'s' if len(unknown) > 1 else ''} {named}; valid: {', '.join(INI_NAMES)}"
        )


def pytest_configure(config: pytest.Config) -> None:
    _check_ini_keys(config)
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
    __tracebackhide__ = True
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
    __tracebackhide__ = True
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
        self.message: Callable[[Session, Message, Reply, str | None], Reply | tuple[int, str] | None] | None = None
        self.session_ended: Callable[[Session], None] | None = None
        if ihook.pytest_smtpd_reply.get_hookimpls():
            self.reply = self._reply
        if ihook.pytest_smtpd_message.get_hookimpls():
            self.message = self._message
        if ihook.pytest_smtpd_session_ended.get_hookimpls():
            self.session_ended = self._session_ended

    def _reply(self, session: Session, command: Command, reply: Reply) -> Reply | tuple[int, str] | None:
        __tracebackhide__ = True
        result: Reply | tuple[int, str] | None = self._ihook.pytest_smtpd_reply(
            session=session, command=command, reply=reply
        )
        return result

    def _message(
        self, session: Session, message: Message, reply: Reply, recipient: str | None
    ) -> Reply | tuple[int, str] | None:
        __tracebackhide__ = True
        result: Reply | tuple[int, str] | None = self._ihook.pytest_smtpd_message(
            session=session, message=message, reply=reply, recipient=recipient
        )
        return result

    def _session_ended(self, session: Session) -> None:
        __tracebackhide__ = True
        self._ihook.pytest_smtpd_session_ended(session=session)


def _start(item: pytest.Item, overrides: Mapping[str, Any]) -> SMTPServer:
    __tracebackhide__ = True
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
    __tracebackhide__ = True
    late = [e for e in server.errors if id(e) not in reported]
    reported.update(id(e) for e in late)
    server.raise_errors(late, when)


def _check(item: pytest.Item) -> None:
    """Fail for server-thread errors and, with ``strict``, violations not yet
    reported; with ``check_content``, for problems of messages not yet checked."""
    __tracebackhide__ = True
    reported = item.stash.setdefault(_REPORTED, set())
    for server in item.stash.get(_SERVERS, []):
        errors = [e for e in server.errors if id(e) not in reported]
        if errors:
            reported.update(id(e) for e in errors)
            server.raise_errors(errors)
        if server.options.strict:
            found = [v for v in server.violations if id(v) not in reported and not _provoked(server, v)]
            if found:
                reported.update(id(v) for v in found)
                from .server import describe_violations

                raise AssertionError(describe_violations(found))
        if server.options.check_content:
            from .filters import describe_problems

            messages = server.messages
            unchecked = [(n, m) for n, m in enumerate(messages, 1) if id(m) not in reported]
            reported.update(id(m) for _, m in unchecked)
            problems = describe_problems(unchecked, len(messages))
            if problems:
                raise AssertionError(f"check_content: {problems}")


def _provoked(server: SMTPServer, violation: Violation) -> bool:
    """A failed handshake is what a test serving a bad ``certificate`` is after,
    not a client's protocol error: ``strict`` lets it pass."""
    return violation.kind == "tls-handshake" and server.options.certificate != "trusted"


@pytest.fixture
def smtpd_factory(request: pytest.FixtureRequest) -> Generator[SMTPServerFactory, None, None]:
    """Make started servers: ``smtpd_factory(**options) -> SMTPServer``; all are stopped at teardown."""
    made: list[SMTPServer] = []
    item = request.node
    assert isinstance(item, pytest.Item)

    def factory(**options: Any) -> SMTPServer:
        __tracebackhide__ = True
        server = _start(item, options)
        made.append(server)
        _track(item, server)
        return server

    yield factory
    __tracebackhide__ = True
    for server in made:
        server.stop()
    _check(item)


@pytest.fixture
def smtpd(request: pytest.FixtureRequest) -> Generator[SMTPServer, None, None]:
    """A started :class:`~pytest_smtpd.SMTPServer` on loopback, fresh for this test.

    Its thread (and, on the default host, its socket) starts when the test first
    reads ``port`` or ``address``: see :meth:`~pytest_smtpd.SMTPServer.start_on_demand`.
    """
    __tracebackhide__ = True
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

    __tracebackhide__ = True
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
    __tracebackhide__ = True  # a set-up error, ours or not, points at its own source
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
    __tracebackhide__ = True
    result = yield
    if _uses_session_server(item) and _SESSION_SERVER in item.config.stash:
        _check(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    __tracebackhide__ = True
    result = yield
    if _SERVERS in item.stash:
        _check(item)
    return result


def _label(server: SMTPServer, servers: list[SMTPServer]) -> str:
    """The report section's name for one of a test's servers: its ``hostname``
    when that was given and tells it apart, else where it listens."""
    if len(servers) == 1:
        return "smtpd transcript"
    hostnames = [s.options.hostname for s in servers]
    hostname = server.options.hostname
    if "hostname" in server.options._explicit and hostnames.count(hostname) == 1:
        return f"smtpd transcript ({hostname})"
    return f"smtpd transcript ({server.host}:{server.port})"


def _format_error(error: ServerError) -> str:
    """A server-thread exception with its traceback, without the plugin's own
    frames and pluggy's when it came from the user's code (a hook, a predicate):
    the report then points at that code. A bug of the plugin keeps every frame."""
    import os
    import traceback

    import pluggy

    exc = error.exception
    te = traceback.TracebackException.from_exception(exc)
    ours = (os.path.dirname(__file__), os.path.dirname(pluggy.__file__))
    stack = [frame for frame in te.stack if not frame.filename.startswith(ours)]
    if stack and te.stack and not te.stack[-1].filename.startswith(ours):
        te.stack = traceback.StackSummary.from_list(stack)
    return "".join(te.format())


def _report(server: SMTPServer, saved: str = "") -> str:
    """The report section of one server: its parts, each left out when empty."""
    from .filters import summary

    messages = server.messages
    parts = [saved]
    if messages:
        parts.append(
            f"Accepted messages ({len(messages)}):\n"
            + "\n".join(f"  #{n} {summary(message)}" for n, message in enumerate(messages, 1))
        )
    parts.append(str(server.transcript))
    unused = [rule for rule in server.rules if not rule.hits]
    if unused:
        parts.append("Rules that never applied:\n" + "\n".join(f"  {rule} never matched" for rule in unused))
    errors = server.errors
    if errors:
        parts.append("Errors in the server thread:\n" + "\n".join(_format_error(e) for e in errors))
    return "\n\n".join(part for part in parts if part)


def _save_dir(config: pytest.Config) -> Path | None:
    """``--smtpd-save-dir`` (relative to where pytest was started), else ini
    ``smtpd_save_dir`` (relative to the ini file), else None."""
    if _SAVE_DIR not in config.stash:
        option = config.getoption("smtpd_save_dir")
        ini = config.getini("smtpd_save_dir")
        if option:
            found: Path | None = config.invocation_params.dir / option
        elif ini:
            found = (config.inipath.parent if config.inipath else config.rootpath) / str(ini).strip()
        else:
            found = None
        config.stash[_SAVE_DIR] = found
    return config.stash[_SAVE_DIR]


#: The characters a test id keeps in its folder name; every other one becomes ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_\[\]]")
#: Folder names are cut to this length (and end with a hash of the whole id) to stay
#: within the 255 octets file systems allow.
_NAME_KEPT = 200


def _folder_name(nodeid: str) -> str:
    """The folder of a test under the save dir: its node id with every character
    but letters, digits, ``.``, ``-``, ``_``, ``[`` and ``]`` replaced by ``_``."""
    name = _UNSAFE.sub("_", nodeid)
    if name.strip(".") == "":  # "", "." and ".." are no folders of their own
        name = name.replace(".", "_") or "_"
    if len(name) > _NAME_KEPT:
        import hashlib

        name = f"{name[: _NAME_KEPT - 13]}-{hashlib.sha256(nodeid.encode()).hexdigest()[:12]}"
    return name


def _save(item: pytest.Item, servers: Sequence[SMTPServer], root: Path) -> dict[int, str]:
    """Write each server's messages and transcript under ``root/<test id>/``
    (one ``server-N`` folder each when there are several), replacing what an
    earlier run left there. Returns, per server, the line that names its folder."""
    import shutil

    folder = root / _folder_name(item.nodeid)
    shown: dict[int, str] = {}
    try:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        elif folder.exists() or folder.is_symlink():
            folder.unlink()
        for n, server in enumerate(servers, 1):
            where = folder / f"server-{n}" if len(servers) > 1 else folder
            where.mkdir(parents=True)
            messages = server.messages
            for number, message in enumerate(messages, 1):
                (where / f"{number}.eml").write_bytes(message.data)
            (where / "transcript.txt").write_text(str(server.transcript) + "\n", encoding="utf-8")
            shown[id(server)] = f"Saved {len(messages)} message(s) and the transcript in {where}{os.sep}"
    except OSError as exc:
        # A full disk or a read-only folder must not hide the test's own failure.
        for server in servers:
            shown.setdefault(id(server), f"Could not save the mail of this test in {folder}: {exc}")
    return shown


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    servers = item.stash.get(_SERVERS, None)
    saved: dict[int, str] = {}
    if servers:
        if report.failed:
            item.stash[_FAILED] = True
        # Saved when a phase fails, and again at teardown (mail sent by fixtures
        # as they finish is kept too): the folder holds the test's last state.
        root = _save_dir(item.config) if item.stash.get(_FAILED, False) else None
        if root is not None and (report.failed or call.when == "teardown"):
            saved = _save(item, servers, root)
    if servers and report.failed and item.config.getini("smtpd_report"):
        for server in servers:
            text = _report(server, saved.get(id(server), ""))
            if text:
                report.sections.append((f"Captured {_label(server, servers)} {call.when}", text))
    if servers is not None and call.when == "teardown":
        # The test is over: let its servers and their records go, rather than
        # keep every test's server alive (and scanned by the GC) to the end.
        del item.stash[_SERVERS]
    return report
