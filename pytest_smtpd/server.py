"""The in-thread SMTP server: sockets, one background thread, timeouts.

The server drives one :class:`~pytest_smtpd.protocol.Connection` per client
from a ``selectors`` loop in a single thread. For every event it asks, in order,
the test's rules, the hooks and the protocol core for the reply; it records the
command (and an accepted message) before the reply's bytes go out.

``stop()`` wakes the loop through a socket pair (no polling), answers every
connected client ``421`` without waiting, closes every socket and joins the
thread: it returns in milliseconds whatever the clients are doing.
"""

from __future__ import annotations

import errno
import heapq
import itertools
import re
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import ConfigurationError, ServerThreadError, StartError
from .filters import check_filters, describe_mismatch, describe_problems, match_message
from .options import Options
from .protocol import (
    TEXT_LINE_LIMIT,
    AuthResponse,
    Command,
    Connection,
    ConnectionClosed,
    Effect,
    Event,
    LocalProtocolError,
    MessageReceived,
    ProtocolConfig,
    Reply,
    State,
    Violation,
)
from .proxy import BadProxyHeader, ProxyHeaderReader
from .records import Ending, Message, Observer, Record, Recorder, Refusal, ServerError, Session, Transcript
from .rules import Matcher, Rule, RuleBook

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

__all__ = ["SMTPServer", "ServerHooks"]

_T = TypeVar("_T")
_BRACKETED = re.compile(r"<([^<>]*)>")
#: How many transcript lines a failed ``wait_until`` shows.
_TAIL_LINES = 20

#: Reads go into one buffer per server; 64 KiB stays below malloc's mmap threshold.
_RECV_SIZE = 64 * 1024
#: Stop reading from a client whose unsent replies exceed this (it is not reading them).
_OUTPUT_HIGH_WATER = 1024 * 1024
#: While a reply is delayed, stop reading once the core holds this much unparsed input.
_INPUT_HIGH_WATER = 1024 * 1024
_NEVER = float("inf")
# The effects the server acts on, as module globals: a member looked up on its
# Enum class costs a metaclass __getattr__ hook (Python 3.11) on every reply.
_MESSAGE, _GREETED, _AUTHENTICATED, _STARTTLS = Effect.MESSAGE, Effect.GREETED, Effect.AUTHENTICATED, Effect.STARTTLS
#: The effects that end the session once the reply is sent, and how it ended.
_ENDINGS = {Effect.QUIT: Ending.QUIT, Effect.CLOSE: Ending.SERVER_CLOSED}
#: Seconds to stop accepting after accept() failed for want of descriptors or memory.
_ACCEPT_RETRY = 0.1


class ServerHooks(Protocol):
    """What the server calls out to (the pytest plugin implements it with ``ihook``).

    An attribute may be None when nobody listens, which saves building snapshots.
    """

    reply: Callable[[Session, Command, Reply], Reply | tuple[int, str] | None] | None
    #: ``(session, message, reply, recipient)``; ``recipient`` is None but in LMTP.
    message: Callable[[Session, Message, Reply, str | None], Reply | tuple[int, str] | None] | None
    session_ended: Callable[[Session], None] | None


class _Client:
    __slots__ = (
        "closing",
        "core",
        "deadline",
        "eof",
        "events",
        "handshaking",
        "out",
        "partial",
        "paused",
        "peer",
        "proxy",
        "sid",
        "sock",
        "tls",
        "tls_in",
        "tls_out",
    )

    def __init__(self, sock: socket.socket, core: Connection, sid: int, peer: tuple[str, int]):
        self.sock = sock
        self.core = core
        self.sid = sid
        self.peer = peer
        self.deadline = _NEVER
        self.out = bytearray()
        self.partial = 0  # content octets since the idle timer last restarted
        self.paused = False  # a delayed reply is pending
        self.closing: Ending | None = None  # close once ``out`` is sent
        self.eof = False  # the client shut down its sending side
        self.tls: ssl.SSLObject | None = None
        self.tls_in: ssl.MemoryBIO | None = None
        self.tls_out: ssl.MemoryBIO | None = None
        self.handshaking = False
        self.events = selectors.EVENT_READ  # 0: not registered with the selector
        self.proxy: ProxyHeaderReader | None = None  # reading a PROXY header: no greeting yet


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
        #: Set by the pytest plugin; None outside pytest.
        self.hooks: ServerHooks | None = None
        self._recorder = Recorder(keep=opts.keep)
        self._rules = RuleBook()
        self._config: ProtocolConfig = opts.protocol_config
        self._ssl_context: ssl.SSLContext | None = None
        if opts.tls:
            if opts.ssl_context is not None:
                self._ssl_context = opts.ssl_context
            else:
                from . import tls

                self._ssl_context = tls.server_context(opts.certificate)
        self._client_context: ssl.SSLContext | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        # start_on_demand(): listening, the thread not started until the port is read.
        self._deferred = False
        self._launch_lock = threading.Lock()
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._stopping = False
        self._clients: dict[int, _Client] = {}
        # (when, order, the client it is for or None for the server's own, callback)
        self._timers: list[tuple[float, int, _Client | None, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._check_at = _NEVER  # no client's timeout runs out before this
        self._address: tuple[str, int] = (self.options.host, self.options.port)
        # Made by the server thread when it starts, off the caller's path.
        self._read_buffer = bytearray()
        self._read_view = memoryview(self._read_buffer)

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
        return self._thread is not None or self._deferred

    def start(self) -> SMTPServer:
        """Bind, listen and start the server thread. Returns the server."""
        self._check_stopped()
        self._listen()
        self._launch()
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
        self._listen()
        if options.port:
            self._launch()
        else:
            self._deferred = True
        return self

    def _check_stopped(self) -> None:
        if self.running:
            raise RuntimeError("this SMTPServer is already running")

    def _listen(self) -> None:
        host, port = self.options.host, self.options.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(listen_backlog())
            listener.setblocking(False)
        except OSError as exc:
            listener.close()
            raise StartError(_bind_advice(exc, host, port)) from exc
        self._address = (host, listener.getsockname()[1])
        self._listener = listener

    def _launch(self) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._stopping = False
        self._check_at = _NEVER
        host, port = self._address
        self._thread = threading.Thread(target=self._run, name=f"pytest-smtpd {host}:{port}", daemon=True)
        self._thread.start()

    def _launch_deferred(self) -> None:
        with self._launch_lock:
            if self._deferred:
                if self._listener is None:
                    self._listen()
                self._launch()
                self._deferred = False

    def stop(self) -> None:
        """Stop serving: answer connected clients 421, close every socket, join the thread.

        Safe to call twice, and from a hook running in the server thread.
        """
        if self._deferred:
            with self._launch_lock:
                if self._deferred:  # never launched: nobody could have connected
                    self._deferred = False
                    if self._listener is not None:
                        self._listener.close()
                        self._listener = None
                    return
        thread = self._thread
        if thread is None:
            return
        self._stopping = True
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\0")
            except OSError:  # pragma: no cover - the pair is ours; only a closed pair fails
                pass
        if threading.current_thread() is thread:
            return
        thread.join()
        self._thread = None

    def __enter__(self) -> SMTPServer:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        host, port = self._address
        where = f"{host}:(port on first use)" if self._deferred and self._listener is None else f"{host}:{port}"
        return f"<SMTPServer {where} {state}, {len(self.messages)} message(s)>"

    # Where it listens -----------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address it listens on, e.g. ``"127.0.0.1"``."""
        return self._address[0]

    @property
    def port(self) -> int:
        """The port it listens on (the ephemeral one picked when ``port=0``)."""
        if self._deferred:
            self._launch_deferred()
        return self._address[1]

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, for ``smtplib.SMTP(*smtpd.address)``."""
        if self._deferred:
            self._launch_deferred()
        return self._address

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
        """Each recipient refused at RCPT and each message refused after its
        content (a 4xx or 5xx reply, scripted or not), in order."""
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
        return self._stopping or not self.running

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
        recorder.wait(lambda: recorder.accepted != seen or self._stopping, timeout)

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

    # The server thread -----------------------------------------------------------

    def _run(self) -> None:
        listener, wake = self._listener, self._wake_r
        assert listener is not None
        assert wake is not None
        try:
            if self._stopping:  # stopped before this thread first ran: nothing to serve
                return
            self._read_buffer = bytearray(_RECV_SIZE)
            self._read_view = memoryview(self._read_buffer)
            selector = self._selector = selectors.DefaultSelector()
            selector.register(listener, selectors.EVENT_READ, None)
            selector.register(wake, selectors.EVENT_READ, None)
            while not self._stopping:
                for key, mask in selector.select(self._tick()):
                    client = key.data
                    if client is None:
                        if key.fileobj is listener:
                            self._accept(listener)
                        # else: the wake-up pair; the loop condition decides
                        continue
                    try:
                        if mask & selectors.EVENT_WRITE:
                            self._flush(client)
                        if mask & selectors.EVENT_READ and client.sock.fileno() >= 0:
                            self._read(client)
                    except Exception as exc:  # never let one client kill the server
                        self._error(exc, client.sid, "server")
                        self._close(client, Ending.ERROR)
        except Exception as exc:  # pragma: no cover - a bug in the loop itself
            self._error(exc, None, "server loop")
        finally:
            self._shutdown()

    def _tick(self) -> float | None:
        """Fire the delays and timeouts that are due; return how long the loop may sleep."""
        now = time.monotonic()
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, client, callback = heapq.heappop(timers)
            if client is None or client.sid in self._clients:
                callback()
        if now >= self._check_at:
            self._expire(now)
        due = min(self._check_at, timers[0][0]) if timers else self._check_at
        return None if due == _NEVER else max(0.0, due - now)

    def _expire(self, now: float) -> None:
        """Close the clients whose timeout ran out; find when the next one can."""
        self._check_at = _NEVER
        for client in list(self._clients.values()):
            if client.paused or client.closing is not None:
                continue
            if client.deadline > now:
                self._check_at = min(self._check_at, client.deadline)
                continue
            if not client.handshaking and client.proxy is None:
                # Mid-handshake a plaintext reply would only garble it; before
                # the PROXY header there was no greeting, so no reply either.
                reply = client.core.timeout_reply()
                self._recorder.record_reply(client.sid, reply)
                self._queue(client, reply.to_bytes())
            self._close_after_flush(client, Ending.TIMEOUT)

    def _arm(self, client: _Client) -> None:
        """Restart the client's timeout: a whole command or content record arrived."""
        deadline = client.deadline = time.monotonic() + self.options.timeout
        # Deadlines only move later, so the loop checks them all only once the
        # earliest one it knows of is due (not on every wake-up).
        if deadline < self._check_at:
            self._check_at = deadline

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the client gave up before it was accepted
                continue
            except OSError as exc:
                # Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS): the
                # connection waits in the backlog, and the listener stays
                # readable. Stop watching it for a moment rather than spin on it
                # (and record this once per pause, not once per spin).
                self._error(exc, None, "accept")
                self._pause_accepting(listener)
                return
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not TCP
                pass
            peer = (str(addr[0]), int(addr[1]))
            sid = self._recorder.open_session(peer)
            client = _Client(sock, Connection(self._config), sid, peer)
            self._arm(client)
            self._clients[sid] = client
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ, client)
            if self.options.proxy_protocol:
                # The greeting waits for the header (``_read_proxy_header``).
                client.proxy = ProxyHeaderReader()
                self._recorder.record_proxy(sid, peer)
            else:
                self._open(client)
            self._flush(client)

    def _open(self, client: _Client) -> None:
        """Start the conversation: the TLS handshake or the greeting."""
        if self.options.implicit_tls:
            # RFC 8314 §3.3: TLS first; the greeting comes after the handshake.
            self._start_tls(client)
        else:
            self._handle(client, None)

    def _read_proxy_header(self, client: _Client, data: memoryview) -> bytes | None:
        """Feed the PROXY header reader; once the header is whole, open the
        conversation and return the octets after it. None while waiting, or
        when the connection was closed.

        The header comes first even with implicit TLS (a proxy sends it in
        the clear before relaying the handshake). PROXY protocol §2: "The
        receiver MUST NOT start processing the connection before it receives a
        complete and valid PROXY protocol header": no greeting, and no reply
        to a bad header.
        """
        reader = client.proxy
        assert reader is not None
        result = reader.receive_data(data) if data else None
        if result is None:
            if client.eof:  # gone before a whole header: nothing it sent was wrong
                self._close(client, Ending.CLIENT_CLOSED)
            return None
        if isinstance(result, BadProxyHeader):
            self._recorder.record_violations(client.sid, [Violation("proxy-header", result.detail)])
            self._discard_input(client)
            self._close(client, Ending.ERROR)
            return None
        client.proxy = None
        named = result.client
        if named is not None:
            client.peer = named
        self._recorder.record_proxy_header(client.sid, client.peer, result.tlvs)
        self._arm(client)
        self._open(client)
        return reader.rest

    def _pause_accepting(self, listener: socket.socket) -> None:
        selector = self._selector
        assert selector is not None
        selector.unregister(listener)

        def resume() -> None:
            selector.register(listener, selectors.EVENT_READ, None)

        heapq.heappush(self._timers, (time.monotonic() + _ACCEPT_RETRY, next(self._timer_seq), None, resume))

    def _read(self, client: _Client) -> None:
        # Into one buffer reused for every read: a fresh bytes object of
        # _RECV_SIZE per recv() costs more than the recv itself for short commands.
        buffer = self._read_buffer
        try:
            received = client.sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client, Ending.CLIENT_CLOSED)
            return
        raw = self._read_view[:received]
        data: bytes | memoryview = raw
        # At EOF the socket stays readable: stop watching it (``_flush``), or a
        # client closing during a delay would spin the loop until the delay ends.
        client.eof = not received
        if client.proxy is not None:
            rest = self._read_proxy_header(client, raw)
            if rest is None or client.closing is not None or client.sid not in self._clients:
                return
            if not rest and not client.eof:
                self._flush(client)
                return
            # Sent behind the header, before the greeting: read as if pipelined
            # right after the greeting (what a client that does not wait sends).
            received = len(rest)
            buffer[:received] = rest
            raw = data = self._read_view[:received]
        if client.tls is not None:
            plain = self._tls_receive(client, raw)
            if plain is None:
                return
            if not plain and not client.eof:
                self._flush(client)
                return
            data = plain
        core = client.core
        if core.in_data and data:
            # RFC 5321 §4.5.3.2.5: in the content the timeout is per data
            # block, taken here as a record as Postfix's
            # smtpd_per_record_deadline does: a line, or 1000 octets of it.
            client.partial += len(data)
            has_lf = buffer.find(b"\n", 0, received) >= 0 if data is raw else b"\n" in data
            if client.partial >= TEXT_LINE_LIMIT or has_lf:
                client.partial = 0
                self._arm(client)
        core.receive_data(data)
        self._pump(client)

    # TLS over memory BIOs: the socket stays non-blocking and in the one loop.

    def _start_tls(self, client: _Client) -> None:
        assert self._ssl_context is not None
        import ssl

        client.tls_in, client.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        client.tls = self._ssl_context.wrap_bio(client.tls_in, client.tls_out, server_side=True)
        client.handshaking = True

    def _tls_receive(self, client: _Client, data: memoryview) -> bytes | None:
        """Decrypt what arrived; None when the connection was closed meanwhile."""
        import ssl

        tls, tls_in, tls_out = client.tls, client.tls_in, client.tls_out
        assert tls is not None
        assert tls_in is not None
        assert tls_out is not None
        if data:
            tls_in.write(data)
        else:
            tls_in.write_eof()
        if client.handshaking:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                client.out += tls_out.read()
                if client.eof:
                    self._close(client, Ending.CLIENT_CLOSED)
                    return None
                return b""
            except (ssl.SSLError, OSError) as exc:
                # The client's failure, not the server's: a violation, not an error.
                self._recorder.record_violations(client.sid, [Violation("tls-handshake", str(exc))])
                client.out += tls_out.read()
                self._send_now(client)
                self._close(client, Ending.ERROR)
                return None
            client.handshaking = False
            self._arm(client)  # a whole record too
            client.out += tls_out.read()
            cipher = tls.cipher()
            self._recorder.record_tls(client.sid, tls.version(), cipher[0] if cipher else None)
            client.core.tls_started()
            if self.options.implicit_tls and not client.core.greeted:
                self._handle(client, None)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = tls.read(_RECV_SIZE)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                client.eof = True
                break
            except (ssl.SSLError, OSError) as exc:
                self._recorder.record_violations(client.sid, [Violation("tls", str(exc))])
                self._close(client, Ending.ERROR)
                return None
            if not chunk:
                client.eof = True
                break
            chunks.append(chunk)
        client.out += tls_out.read()
        return b"".join(chunks)

    def _queue(self, client: _Client, data: bytes) -> None:
        """Queue plaintext for the client, encrypted once TLS is up."""
        tls = client.tls
        if tls is not None and not client.handshaking:
            tls.write(data)
            assert client.tls_out is not None
            client.out += client.tls_out.read()
        else:
            client.out += data

    def _pump(self, client: _Client) -> None:
        """Answer every complete command or message the client has sent."""
        core, clients, sid = client.core, self._clients, client.sid
        while not client.paused and client.closing is None and sid in clients:
            try:
                event = core.next_event()
            except LocalProtocolError as exc:  # pragma: no cover - a bug in the server
                self._error(exc, sid, "protocol core")
                self._close(client, Ending.ERROR)
                return
            if core.pending_violations:
                self._recorder.record_violations(sid, core.take_violations())
            if event is None:
                break
            if type(event) is ConnectionClosed:
                # A client that only shut down its sending side still reads the
                # replies to what it sent (those queued after a delay, say).
                self._send_now(client)
                self._close(client, Ending.CLIENT_CLOSED)
                return
            self._handle(client, event)
        if sid in clients:
            self._flush(client)

    def _handle(self, client: _Client, event: Event | None) -> None:
        """Record the event, find the rule for it, and reply now or after its delay."""
        __tracebackhide__ = True  # a hook's or predicate's error shows the user's code
        rec = self._recorder
        if type(event) is AuthResponse:
            # A step of an AUTH exchange: masked in the records, answered by the core.
            rec.record_client_line(client.sid, "****")
            self._answer(client, event, None, client.core.default_reply())
            return
        message: Message | None = None
        rule: Rule | None = None
        try:
            if type(event) is Command:
                rec.record_command(client.sid, event)
                rule = self._rules.find_command(event.verb, event) if event.verb else None
            elif event is None:
                rule = self._rules.find_connect(client.peer[0])
            elif type(event) is MessageReceived:
                bdat = event.command.verb == "BDAT"
                if bdat:
                    rec.record_command(client.sid, event.command)
                rec.record_content(client.sid, event.data, "(end of BDAT content)" if bdat else ".")
                message = Message(
                    sender=event.sender,
                    recipients=event.recipients,
                    data=event.data,
                    mail_params=event.mail_params,
                    rcpt_params=event.rcpt_params,
                    session_id=client.sid,
                    received_at=time.time(),
                    _recorder=rec,
                )
                if bdat:
                    rule = self._rules.find_command("BDAT", event.command)
                if self._config.lmtp:
                    self._lmtp_message(client, event, message, rule)
                    return
                rule = rule or self._rules.find_message(message)
        except Exception as exc:
            self._error(exc, client.sid, "rule match")
            self._answer(client, event, message, client.core.error_reply())
            return
        hooks = self.hooks
        if rule is None and (hooks is None or (hooks.reply is None and hooks.message is None)):
            # The common case, nothing scripted: the core's own reply.
            core = client.core
            self._answer(client, event, message, core.default_reply() if event is not None else core.greeting())
            return
        if rule is not None and rule.delay_seconds > 0:
            client.paused = True
            when = time.monotonic() + rule.delay_seconds
            heapq.heappush(
                self._timers,
                (when, next(self._timer_seq), client, lambda: self._resume(client, event, message, rule)),
            )
            return
        self._finish(client, event, message, rule)

    def _resume(self, client: _Client, event: Event | None, message: Message | None, rule: Rule | None) -> None:
        self._resume_with(client, lambda: self._finish(client, event, message, rule))

    def _resume_with(self, client: _Client, finish: Callable[[], None]) -> None:
        client.paused = False
        self._arm(client)
        finish()
        if client.sid in self._clients:
            self._pump(client)

    def _lmtp_message(self, client: _Client, event: MessageReceived, message: Message, rule: Rule | None) -> None:
        """RFC 2033 §4.2: after the content, one reply for each recipient accepted
        at RCPT, in RCPT order, each decided on its own: a ``"message"`` rule
        matching that recipient (a BDAT rule for the LAST chunk answers every
        recipient), else the hook with ``recipient``, else the core's proposal.

        All replies are decided first; with delays, they go out together after
        the sum of the delays of the rules applied. A rule's ``disconnect()``
        closes the connection at its recipient's turn, after the replies before it.
        """
        __tracebackhide__ = True
        core, hooks = client.core, self.hooks
        default = core.default_reply()
        decided: list[tuple[str, Reply | None]] = []  # None: disconnect instead
        delay = 0.0
        for recipient in event.recipients:
            reply: Reply | None = None
            try:
                found = rule or self._rules.find_message(message, recipient)
            except Exception as exc:
                self._error(exc, client.sid, "rule match")
                decided.append((recipient, core.error_reply()))
                continue
            if found is not None:
                delay += found.delay_seconds
                if found.disconnects:
                    decided.append((recipient, None))
                    break
                reply = found.action
            if reply is None and hooks is not None and hooks.message is not None:
                try:
                    answer = hooks.message(self._recorder.session(client.sid), message, default, recipient)
                    reply = None if answer is None else Reply.coerce(answer)
                except Exception as exc:
                    self._error(exc, client.sid, "hook")
                    reply = core.error_reply()
            decided.append((recipient, reply or default))
        if delay > 0:
            client.paused = True
            heapq.heappush(
                self._timers,
                (
                    time.monotonic() + delay,
                    next(self._timer_seq),
                    client,
                    lambda: self._resume_with(client, lambda: self._lmtp_answer(client, event, message, decided)),
                ),
            )
            return
        self._lmtp_answer(client, event, message, decided)

    def _lmtp_answer(
        self, client: _Client, event: MessageReceived, message: Message, decided: list[tuple[str, Reply | None]]
    ) -> None:
        """Record the message once, with the recipients that got 2xx (before the
        first reply goes out), then each refusal and reply in RCPT order."""
        rec = self._recorder
        accepted = [i for i, (_, reply) in enumerate(decided) if reply is not None and reply.code // 100 == 2]
        if accepted:
            refused = {r: reply for r, reply in decided if reply is not None and reply.code // 100 != 2}
            params = message.rcpt_params
            rec.record_message(
                replace(
                    message,
                    recipients=tuple(decided[i][0] for i in accepted),
                    rcpt_params=tuple(params[i] for i in accepted) if len(params) == len(decided) else params,
                    refused=refused,
                )
            )
        for recipient, reply in decided:
            if reply is None:
                self._close_after_flush(client, Ending.DISCONNECT)
                return
            if reply.code >= 400:
                rec.record_refusal(Refusal(client.sid, message.sender, recipient, (), reply))
            # The message is recorded: _answer records the replies and acts on the effect.
            self._answer(client, event, None, reply)

    def _finish(self, client: _Client, event: Event | None, message: Message | None, rule: Rule | None) -> None:
        """Decide the reply: the rule's, else a hook's, else the core's."""
        __tracebackhide__ = True
        if rule is not None and rule.disconnects:
            self._close_after_flush(client, Ending.DISCONNECT)
            return
        reply: Reply | None = rule.action if rule is not None else None
        if reply is None:
            try:
                reply = self._ask_hooks(client, event, message)
            except Exception as exc:
                self._error(exc, client.sid, "hook")
                reply = client.core.error_reply()
        self._answer(client, event, message, reply)

    def _default(self, client: _Client, event: Event | None) -> Reply:
        return client.core.greeting() if event is None else client.core.default_reply()

    def _ask_hooks(self, client: _Client, event: Event | None, message: Message | None) -> Reply:
        __tracebackhide__ = True
        default = self._default(client, event)
        hooks = self.hooks
        if hooks is None:
            return default
        answer: Reply | tuple[int, str] | None = None
        if message is not None:
            if hooks.message is not None:
                answer = hooks.message(self._recorder.session(client.sid), message, default, None)
        elif hooks.reply is not None:
            command = event if isinstance(event, Command) else Command("CONNECT", client.peer[0])
            answer = hooks.reply(self._recorder.session(client.sid), command, default)
        return default if answer is None else Reply.coerce(answer)

    def _answer(self, client: _Client, event: Event | None, message: Message | None, reply: Reply) -> None:
        """Send the reply through the core and record what it made happen (the
        message first, then the reply), then queue the reply's bytes."""
        rec = self._recorder
        core = client.core
        # RFC 5321 §4.5.3.2.7: the timeout runs while the server awaits the next
        # command, and only a whole command restarts it: a client trickling
        # in a line byte by byte (slowloris) is cut off like an idle one.
        self._arm(client)
        client.partial = 0
        if reply.code >= 400:
            self._record_refusal(client, event, message, reply)  # with the sender as it stood
        data = core.send(reply)
        effect = core.effect
        if effect is _MESSAGE:
            if message is not None:  # in LMTP the message was recorded before the first reply
                rec.record_message(message)
        elif effect is _GREETED:
            assert core.greeting_verb is not None
            rec.record_greeting(client.sid, core.greeting_verb, core.helo_name)
        elif effect is _AUTHENTICATED:
            rec.record_auth(client.sid, core.auth_user, core.auth_mechanism)
        rec.record_reply(client.sid, reply)
        self._queue(client, data)
        if effect in _ENDINGS:
            self._close_after_flush(client, _ENDINGS[effect])
        elif effect is _STARTTLS:
            # RFC 3207 §4.2: the handshake starts right after the 220; the core
            # has dropped whatever plaintext the client pipelined behind STARTTLS.
            self._start_tls(client)

    def _record_refusal(self, client: _Client, event: Event | None, message: Message | None, reply: Reply) -> None:
        """Record a recipient or a message that a 4xx/5xx reply refused."""
        if message is not None:
            refusal = Refusal(client.sid, message.sender, None, message.recipients, reply)
        elif isinstance(event, Command) and event.verb == "RCPT":
            core = client.core
            in_transaction = core.state is State.MAIL or core.state is State.RCPT
            recipient = event.address
            if recipient is None:  # refused before it was parsed (out of sequence, say)
                bracketed = _BRACKETED.search(event.argument)
                recipient = bracketed.group(1) if bracketed else event.argument
            refusal = Refusal(client.sid, core.sender if in_transaction else None, recipient, (), reply)
        else:
            return
        self._recorder.record_refusal(refusal)

    def _flush(self, client: _Client) -> None:
        if client.out:
            try:
                sent = client.sock.send(client.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(client, Ending.CLIENT_CLOSED)
                return
            del client.out[:sent]
        if client.closing is not None and not client.out:
            self._close(client, client.closing)
            return
        wanted = 0
        if (
            client.closing is None
            and not client.eof
            and len(client.out) < _OUTPUT_HIGH_WATER
            and not (client.paused and client.core.buffered >= _INPUT_HIGH_WATER)
        ):
            wanted |= selectors.EVENT_READ
        if client.out:
            wanted |= selectors.EVENT_WRITE
        if wanted != client.events:
            selector = self._selector
            assert selector is not None
            if not wanted:
                selector.unregister(client.sock)
            elif not client.events:
                selector.register(client.sock, wanted, client)
            else:
                selector.modify(client.sock, wanted, client)
            client.events = wanted

    def _send_now(self, client: _Client) -> None:
        """Send what is queued, as far as the socket takes it without blocking."""
        if client.out:
            try:
                client.sock.send(client.out)
            except OSError:
                pass

    def _discard_input(self, client: _Client) -> None:
        """Read (and drop) what the client sent that was not read yet, a bounded amount:
        closing a socket with unread input resets the connection (RST), and the
        client could lose the last reply."""
        for _ in range(16):
            try:
                if not client.sock.recv(_RECV_SIZE):
                    return
            except OSError:
                return

    def _close_after_flush(self, client: _Client, how: Ending) -> None:
        client.closing = how
        # Record before reply: the session has ended when the client reads the last reply.
        self._end_session(client, how)
        self._flush(client)

    def _close(self, client: _Client, how: Ending) -> None:
        if self._clients.pop(client.sid, None) is None:
            return
        assert self._selector is not None
        if client.events:
            self._selector.unregister(client.sock)
        self._end_session(client, how)
        client.sock.close()

    def _end_session(self, client: _Client, how: Ending) -> None:
        """Record how the session ended (the first call wins) and tell the hook."""
        __tracebackhide__ = True
        tell = self.hooks.session_ended if self.hooks is not None else None
        session = self._recorder.end_session(client.sid, how, snapshot=tell is not None)
        if session is not None and tell is not None:
            try:
                tell(session)
            except Exception as exc:
                self._error(exc, client.sid, "pytest_smtpd_session_ended hook")

    def _error(self, exc: BaseException, sid: int | None, where: str) -> None:
        self._recorder.record_error(ServerError(exc, sid, where))

    def _shutdown(self) -> None:
        for client in list(self._clients.values()):
            if client.closing is None:
                if not client.handshaking and client.proxy is None:
                    reply = client.core.shutdown_reply()
                    self._recorder.record_reply(client.sid, reply)
                    self._queue(client, reply.to_bytes())
                self._end_session(client, Ending.SERVER_CLOSED)
            self._send_now(client)
            self._discard_input(client)
            self._close(client, client.closing or Ending.SERVER_CLOSED)
        self._timers.clear()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()
        self._listener = self._wake_r = self._wake_w = None
        self._selector = None
        self._recorder.wake()


_DEFAULT_OPTIONS: list[Options] = []
_BACKLOG: list[int] = []


def listen_backlog() -> int:
    """The listen(2) backlog for every server: the system's maximum.

    A burst of connections beyond the backlog has its handshakes dropped, and
    each client retries after about a second. Linux caps the backlog at
    ``net.core.somaxconn``, which may be above Python's ``socket.SOMAXCONN``.
    """
    if not _BACKLOG:
        try:
            with open("/proc/sys/net/core/somaxconn", encoding="ascii") as file:
                backlog = int(file.read().strip())
        except (OSError, ValueError):
            backlog = socket.SOMAXCONN
        _BACKLOG.append(max(backlog, socket.SOMAXCONN))
    return _BACKLOG[0]


def describe_violations(found: Sequence[Violation]) -> str:
    """The text of a failed ``assert_no_violations`` (and of ``strict``)."""
    lines = "\n".join(f"  {v}" for v in found)
    return f"{len(found)} client protocol violation(s):\n{lines}"


def _default_options() -> Options:
    """The defaults, built and checked once (options are immutable)."""
    if not _DEFAULT_OPTIONS:
        _DEFAULT_OPTIONS.append(Options.build({}))
    return _DEFAULT_OPTIONS[0]


def _bind_advice(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {host}:{port}: the port is in use. "
            "Use port=0 for a free port, or stop what listens there."
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {host}:{port}: ports below 1024 need root. Use port=0 or a port above 1023."
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return f"cannot listen on {host}: not an address of this machine. Use host='127.0.0.1' or host='::1'."
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
