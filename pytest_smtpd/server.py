"""The in-thread SMTP server's public face: life cycle, records, scripting, assertions.

:class:`SMTPServer` is what a test holds. It owns an
:class:`~pytest_smtpd.engine.Engine` (the thread, the sockets, TLS and the
reply pipeline), a :class:`~pytest_smtpd.records.Recorder` the engine writes to
and a :class:`~pytest_smtpd.rules.RuleBook` the engine reads; it holds no socket
code of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .engine import Engine, ServerHooks, listen_backlog
from .errors import ConfigurationError, ServerThreadError
from .filters import check_filters, describe_mismatch, describe_problems, match_message
from .options import Options
from .protocol import Violation
from .records import Message, Observer, Record, Recorder, Refusal, ServerError, Session, Transcript
from .rules import Matcher, Rule, RuleBook

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

__all__ = ["SMTPServer", "ServerHooks", "listen_backlog"]

_T = TypeVar("_T")
#: How many transcript lines a failed ``wait_until`` shows.
_TAIL_LINES = 20


class SMTPServer:
    """An SMTP server on loopback, in a background thread, recording everything.

    ::

        with SMTPServer() as server:
            smtplib.SMTP(*server.address).sendmail("a@example.com", ["b@example.com"], "Subject: hi\\r\\n\\r\\nhello")
            server.assert_sent(to="b@example.com", subject="hi")

    Options are the same everywhere (see :class:`~pytest_smtpd.options.Options`);
    an unknown one raises :class:`~pytest_smtpd.errors.ConfigurationError`.
    """

    def __init__(self, **options: Any) -> None:
        self._setup(Options.build(options, where="SMTPServer()") if options else _default_options())

    def _setup(self, opts: Options) -> None:
        self.options = opts
        self._recorder = Recorder(keep=opts.keep)
        self._rules = RuleBook()
        self._ssl_context: ssl.SSLContext | None = None
        if opts.tls:
            if opts.ssl_context is not None:
                self._ssl_context = opts.ssl_context
            else:
                from . import tls

                self._ssl_context = tls.server_context(opts.certificate)
        self._client_context: ssl.SSLContext | None = None
        self._engine = Engine(opts, self._recorder, self._rules, self._ssl_context)
        # start_on_demand(): not launched until the port is first read.
        self._deferred = False
        self._launch_lock = threading.Lock()

    @property
    def hooks(self) -> ServerHooks | None:
        """What the server asks before replying (set by the pytest plugin); None outside pytest."""
        return self._engine.hooks

    @hooks.setter
    def hooks(self, hooks: ServerHooks | None) -> None:
        self._engine.hooks = hooks

    # Life cycle -------------------------------------------------------------------

    @classmethod
    def from_options(cls, options: Options) -> SMTPServer:
        """A server built from an :class:`Options` object (used by the plugin)."""
        server = cls.__new__(cls)
        server._setup(options)
        return server

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._engine.running or self._deferred

    def start(self) -> SMTPServer:
        """Bind, listen and start the server thread. Returns the server."""
        self._check_stopped()
        self._engine.listen()
        self._engine.launch()
        return self

    def start_on_demand(self) -> SMTPServer:
        """Start serving when first asked where: the server thread starts when
        :attr:`port` or :attr:`address` is first read. Returns the server.

        A client cannot connect to an ephemeral port before it learns the port,
        so a server nobody talks to costs no thread: the ``smtpd`` fixtures
        start their servers this way. On the default host, ``127.0.0.1``, the
        socket is bound at that first read too (an ephemeral loopback port
        cannot be refused for want of the address); on another host it is bound
        now, so that a wrong address fails here. With a fixed ``port`` the
        server starts at once, as with :meth:`start`.
        """
        self._check_stopped()
        options = self.options
        if options.port == 0 and options.host == "127.0.0.1":
            self._deferred = True
            return self
        self._engine.listen()
        if options.port:
            self._engine.launch()
        else:
            self._deferred = True
        return self

    def _check_stopped(self) -> None:
        if self.running:
            raise RuntimeError("this SMTPServer is already running")

    def _launch_deferred(self) -> None:
        with self._launch_lock:
            if self._deferred:
                engine = self._engine
                if engine.listener is None:
                    engine.listen()
                engine.launch()
                self._deferred = False

    def stop(self) -> None:
        """Stop serving: answer connected clients 421, close every socket, join the thread.

        Safe to call twice, and from a hook running in the server thread.
        """
        if self._deferred:
            with self._launch_lock:
                if self._deferred:  # never launched: nobody could have connected
                    self._deferred = False
                    self._engine.close_listener()
                    return
        self._engine.stop()

    def __enter__(self) -> SMTPServer:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        host, port = self._engine.address
        where = f"{host}:(port on first use)" if self._deferred and self._engine.listener is None else f"{host}:{port}"
        return f"<SMTPServer {where} {state}, {len(self.messages)} message(s)>"

    # Where it listens -----------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address it listens on, e.g. ``"127.0.0.1"``."""
        return self._engine.address[0]

    @property
    def port(self) -> int:
        """The port it listens on (the ephemeral one picked when ``port=0``)."""
        if self._deferred:
            self._launch_deferred()
        return self._engine.address[1]

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, for ``smtplib.SMTP(*smtpd.address)``."""
        if self._deferred:
            self._launch_deferred()
        return self._engine.address

    @property
    def client_ssl_context(self) -> ssl.SSLContext:
        """An ``ssl.SSLContext`` that trusts this server's test certificate (hostname checks on)."""
        self._check_test_ca("client_ssl_context")
        if self._client_context is None:
            from . import tls

            self._client_context = tls.client_context()
        return self._client_context

    @property
    def ca_file(self) -> str:
        """Path of the test CA's certificate (PEM), for clients configured by file or environment."""
        self._check_test_ca("ca_file")
        from . import tls

        return tls.ca_file()

    def _check_test_ca(self, name: str) -> None:
        if self.options.ssl_context is not None:
            raise ConfigurationError(
                f"{name} is for the test CA; this server uses the ssl_context you passed: trust its CA instead"
            )
        if not self.options.tls:
            from . import tls

            tls.require_trustme()

    # Records ---------------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        """Accepted messages, in order of acceptance (a snapshot)."""
        return self._recorder.messages

    @property
    def sessions(self) -> list[Session]:
        """One :class:`Session` per connection, in order of connection (snapshots)."""
        return self._recorder.sessions

    @property
    def transcript(self) -> Transcript:
        """Every line both ways; ``str()`` renders it as ``S: ...`` / ``C: ...`` lines."""
        return self._recorder.transcript

    @property
    def violations(self) -> list[Violation]:
        """Client protocol violations seen so far."""
        return self._recorder.violations

    @property
    def errors(self) -> list[ServerError]:
        """Exceptions raised in the server thread (each was answered 451 4.3.0)."""
        return self._recorder.errors

    def subscribe(self, observer: Observer, kinds: Iterable[type] | None = None) -> Callable[[], None]:
        """Call ``observer`` with each record from now on; returns the function that unsubscribes it.

        A record is a :class:`~pytest_smtpd.records.TranscriptLine` (each command,
        client line, line of a reply, and a message's content), an accepted
        :class:`Message` (handed over before its 2xx reply), a
        :class:`~pytest_smtpd.protocol.Violation`, a
        :class:`~pytest_smtpd.records.ServerError`, a :class:`Session` that
        ended, or a :class:`~pytest_smtpd.records.Refusal`. The observer runs on the server thread, in the order of
        recording, so it must be quick (hand the record to another thread to do
        real work); an exception it raises is kept in :attr:`errors`.
        ``kinds`` narrows it to some of these classes (``kinds=(Message,)``):
        records nobody asked for cost the server nothing.
        """
        return self._recorder.subscribe(observer, kinds)

    def session(self, session_id: int) -> Session:
        """The :class:`Session` with this id, as it stands now.

        Raises ``LookupError`` when it is not kept (cleared, or dropped under ``keep``).
        """
        return self._recorder.session(session_id)

    @property
    def refusals(self) -> list[Refusal]:
        """Each recipient refused at RCPT and each message refused at DATA or
        BDAT (when it had recipients) or after its content (a 4xx or 5xx
        reply, scripted or not), in order."""
        return self._recorder.refusals

    @property
    def rules(self) -> list[Rule]:
        """The scripted rules, in the order they were made."""
        return self._rules.rules

    def clear(self) -> None:
        """Forget records and scripted rules. Errors from the server thread are kept."""
        self._recorder.clear(keep_errors=True)
        self._rules.clear()

    def reset(self) -> None:
        """Forget everything, errors included (the session-scoped fixture calls it between tests)."""
        self._recorder.clear()
        self._rules.clear()

    # Scripting -----------------------------------------------------------------

    def on(self, event: str, match: Matcher | None = None) -> Rule:
        """Script a reply: ``smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")``.

        ``event`` is a command verb, ``"connect"`` (the greeting) or ``"message"``
        (the final reply after the content). ``match`` is compared with the
        command's main argument (the address for MAIL and RCPT, the domain for
        HELO/EHLO, the mechanism for AUTH): a string (equality, any case), a
        compiled regex (``search``) or a predicate given the
        :class:`~pytest_smtpd.protocol.Command` (the :class:`Message` for
        ``"message"``, the client's IP address for ``"connect"``).
        Rules are tried in the order made; the first live match wins.

        ``event`` is checked: a misspelt one raises ``ValueError`` naming the
        nearest known event. An address written ``"<bob@example.com>"`` means
        the address inside the brackets.
        """
        __tracebackhide__ = True
        return self._rules.add(event, match)

    # Assertions --------------------------------------------------------------------
    # Every helper a test calls sets __tracebackhide__: a failure shows the
    # test's own line and the message, not this file.

    def _matching(self, filters: dict[str, object]) -> tuple[list[Message], list[Message]]:
        __tracebackhide__ = True
        check_filters(filters)
        messages = self.messages
        return messages, [m for m in messages if match_message(m, filters)]

    def _mismatch(self, messages: list[Message], filters: dict[str, object], found: int, wanted: str) -> str:
        return describe_mismatch(messages, filters, found, wanted, self.refusals)

    def assert_sent(self, **filters: object) -> Message:
        """Exactly one accepted message matches ``filters``; return it.

        Filters: ``sender``, ``to`` (any envelope recipient), ``cc``, ``bcc``,
        ``subject``, ``text``, ``html``, ``link`` (any of ``Message.links``),
        ``headers`` (a mapping), ``attachment`` (a filename); each a string, a
        compiled regex or a predicate. Strings: addresses are equal in any case;
        subject, header values and filenames are equal; text, html and a link
        contain the string. A failure lists every message, how the nearest
        differ, and what was refused.
        """
        __tracebackhide__ = True
        messages, found = self._matching(filters)
        if len(found) != 1:
            raise AssertionError(self._mismatch(messages, filters, len(found), "exactly 1"))
        return found[0]

    def assert_not_sent(self, **filters: object) -> None:
        """No accepted message matches ``filters``."""
        __tracebackhide__ = True
        messages, found = self._matching(filters)
        if found:
            raise AssertionError(self._mismatch(messages, filters, len(found), "no"))

    def assert_count(self, count: int, **filters: object) -> list[Message]:
        """Exactly ``count`` accepted messages match ``filters``; return them."""
        __tracebackhide__ = True
        messages, found = self._matching(filters)
        if len(found) != count:
            raise AssertionError(self._mismatch(messages, filters, len(found), f"exactly {count}"))
        return found

    def assert_no_violations(self) -> None:
        """No client protocol violation was seen."""
        __tracebackhide__ = True
        found = self.violations
        if found:
            raise AssertionError(describe_violations(found))

    def assert_well_formed(self) -> None:
        """Every accepted message is well formed: fail listing each message that
        is not (its number, sender and subject) with its
        :attr:`~pytest_smtpd.Message.problems`."""
        __tracebackhide__ = True
        messages = self.messages
        report = describe_problems(enumerate(messages, 1), len(messages))
        if report:
            raise AssertionError(report)

    # Waiting -----------------------------------------------------------------------

    @property
    def _stopped(self) -> bool:
        return self._engine.stopping or not self.running

    def wait_for(self, count: int = 1, timeout: float = 5.0, **filters: object) -> list[Message]:
        """Block until ``count`` messages matching ``filters`` were accepted; return them.

        Wakes on each accepted message (no polling). Fails like ``assert_sent``
        when ``timeout`` seconds pass first.
        """
        __tracebackhide__ = True
        check_filters(filters)
        deadline = time.monotonic() + timeout
        found: list[Message] = []
        seen = 0
        while True:
            fresh, total = self._recorder.messages_since(seen)
            if total < seen:  # cleared meanwhile
                found = []
            found.extend(m for m in fresh if match_message(m, filters))
            seen = total
            if len(found) >= count:
                return found
            if not self.running:
                raise AssertionError(
                    "the server is stopped, so no more messages can arrive: "
                    + self._mismatch(self.messages, filters, len(found), f"at least {count}")
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s: "
                    + self._mismatch(self.messages, filters, len(found), f"at least {count}")
                )
            self._wait_for_change(seen, remaining)

    def _wait_for_change(self, seen: int, timeout: float) -> None:
        recorder = self._recorder
        recorder.wait(lambda: recorder.accepted != seen or self._engine.stopping, timeout)

    async def wait_for_async(self, count: int = 1, timeout: float = 5.0, **filters: object) -> list[Message]:
        """``wait_for`` for async tests: yields to the event loop while waiting."""
        __tracebackhide__ = True
        check_filters(filters)
        found: list[Message] = []

        def enough(server: SMTPServer) -> bool:
            found[:] = [m for m in server.messages if match_message(m, filters)]
            return len(found) >= count

        try:
            await self._wait_async(enough, timeout, Message)
        except AssertionError:
            why = (
                "the server is stopped, so no more messages can arrive"
                if self._stopped
                else f"timed out after {timeout}s"
            )
            raise AssertionError(
                f"{why}: " + self._mismatch(self.messages, filters, len(found), f"at least {count}")
            ) from None
        return found

    def wait_until(self, predicate: Callable[[SMTPServer], _T], timeout: float = 5.0) -> _T:
        """Block until ``predicate(server)`` is truthy; return its value.

        The predicate is re-checked whenever anything is recorded (a line of
        the transcript, a message, a violation, a session's change or end): no
        polling. It runs in the calling thread and may read every property. On
        timeout, or at once on a stopped server, an ``AssertionError`` with the
        end of the transcript; an exception from the predicate propagates. ::

            smtpd.wait_until(lambda s: s.violations)
            smtpd.wait_until(lambda s: all(not session.active for session in s.sessions))
        """
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        with self._recorder.watch() as watch:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if self._stopped or remaining <= 0:
                    raise AssertionError(self._unmet(predicate, value, timeout))
                watch.wait(remaining)

    async def wait_until_async(self, predicate: Callable[[SMTPServer], _T], timeout: float = 5.0) -> _T:
        """``wait_until`` for async tests: yields to the event loop while waiting."""
        __tracebackhide__ = True
        return await self._wait_async(predicate, timeout, None)

    async def _wait_async(self, predicate: Callable[[SMTPServer], _T], timeout: float, only: type | None) -> _T:
        """Re-check ``predicate`` after each record (of type ``only``, when given)."""
        __tracebackhide__ = True
        import asyncio

        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def notify(record: Record) -> None:
            if only is None or isinstance(record, only):
                try:
                    loop.call_soon_threadsafe(changed.set)
                except RuntimeError:  # the loop closed after the wait ended
                    pass

        unsubscribe = self._recorder.subscribe(notify)
        try:
            deadline = loop.time() + timeout
            while True:
                changed.clear()
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - loop.time()
                if self._stopped or remaining <= 0:
                    raise AssertionError(self._unmet(predicate, value, timeout))
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass
        finally:
            unsubscribe()

    def _unmet(self, predicate: Callable[[SMTPServer], object], value: object, timeout: float) -> str:
        name = getattr(predicate, "__name__", repr(predicate))
        why = "the server is stopped" if self._stopped else f"timed out after {timeout}s"
        lines = self.transcript.render_lines()
        tail = lines[-_TAIL_LINES:]
        shown = "The transcript:" if len(tail) == len(lines) else f"The transcript's last {len(tail)} lines:"
        return f"wait_until({name}): {why}; the predicate's last value was {value!r}.\n" + (
            f"{shown}\n" + "\n".join(tail) if tail else "Nothing was recorded."
        )

    def raise_errors(self, errors: Sequence[ServerError] | None = None, when: str = "") -> None:
        """Raise :class:`ServerThreadError` (from the first) if the server thread raised.

        ``errors`` narrows it to some of :attr:`errors`; ``when`` is added to the message.
        """
        __tracebackhide__ = True
        errors = self.errors if errors is None else errors
        if not errors:
            return
        summary = "\n".join(f"  {e.where}: {type(e.exception).__name__}: {e.exception}" for e in errors)
        raise ServerThreadError(
            f"{len(errors)} exception(s) in the SMTP server thread{' ' + when if when else ''}"
            f" (the client got 451 4.3.0):\n{summary}"
        ) from errors[0].exception


_DEFAULT_OPTIONS: list[Options] = []


def describe_violations(found: Sequence[Violation]) -> str:
    """The text of a failed ``assert_no_violations`` (and of ``strict``)."""
    lines = "\n".join(f"  {v}" for v in found)
    return f"{len(found)} client protocol violation(s):\n{lines}"


def _default_options() -> Options:
    """The defaults, built and checked once (options are immutable)."""
    if not _DEFAULT_OPTIONS:
        _DEFAULT_OPTIONS.append(Options.build({}))
    return _DEFAULT_OPTIONS[0]
