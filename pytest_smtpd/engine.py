"""The engine behind :class:`~pytest_smtpd.SMTPServer`: the thread, the sockets, the replies.

One :class:`Engine` per server owns the listening socket, one background
thread running a ``selectors`` loop, and per client a
:class:`~pytest_smtpd.protocol.Connection` (the protocol core), its socket and,
once started, TLS over memory BIOs (the socket stays non-blocking and in the one
loop). For every event the core reports, the reply pipeline asks, in order, the
test's rules, the hooks and the core for the reply; it records the command (and
an accepted message) before the reply's bytes go out, then acts on the reply's
effect (the message recorded, TLS started, the session ended).

``stop()`` wakes the loop through a socket pair (no polling), answers every
connected client ``421`` without waiting, closes every socket and joins the
thread: it returns in milliseconds whatever the clients are doing.

The façade, :class:`~pytest_smtpd.SMTPServer`, holds the public face (life
cycle, records, scripting, assertions, waiting) and no socket code; it shares
the :class:`~pytest_smtpd.records.Recorder` and the
:class:`~pytest_smtpd.rules.RuleBook` with the engine.
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
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from .errors import StartError
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
    Reply,
    State,
    Violation,
)
from .proxy import BadProxyHeader, ProxyHeaderReader
from .records import Ending, Message, Recorder, Refusal, ServerError, Session

if TYPE_CHECKING:
    import ssl

    from .options import Options
    from .rules import Rule, RuleBook

__all__ = ["Engine", "ServerHooks", "listen_backlog"]

_BRACKETED = re.compile(r"<([^<>]*)>")
#: Reads go into one buffer per server; 64 KiB stays below malloc's mmap threshold.
_RECV_SIZE = 64 * 1024
#: Stop reading from a client whose unsent replies exceed this (it is not reading them).
_OUTPUT_HIGH_WATER = 1024 * 1024
#: While a reply is delayed, stop reading once the core holds this much unparsed input.
_INPUT_HIGH_WATER = 1024 * 1024
_NEVER = float("inf")
# The effects the engine acts on, as module globals: a member looked up on its
# Enum class costs a metaclass __getattr__ hook (Python 3.11) on every reply.
_MESSAGE, _GREETED, _AUTHENTICATED, _STARTTLS = Effect.MESSAGE, Effect.GREETED, Effect.AUTHENTICATED, Effect.STARTTLS
#: The effects that end the session once the reply is sent, and how it ended.
_ENDINGS = {Effect.QUIT: Ending.QUIT, Effect.CLOSE: Ending.SERVER_CLOSED}
#: Seconds to stop accepting after accept() failed for want of descriptors or memory.
_ACCEPT_RETRY = 0.1


class ServerHooks(Protocol):
    """What the engine calls out to (the pytest plugin implements it with ``ihook``).

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


class Engine:
    """Serves one listening socket from one thread; see the module's docstring."""

    def __init__(
        self, options: Options, recorder: Recorder, rules: RuleBook, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.options = options
        #: Set by the pytest plugin (through the façade); None outside pytest.
        self.hooks: ServerHooks | None = None
        self._recorder = recorder
        self._rules = rules
        self._config = options.protocol_config
        self._ssl_context = ssl_context
        self.listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        #: True from ``stop()`` until the thread is gone.
        self.stopping = False
        self._clients: dict[int, _Client] = {}
        # (when, order, the client it is for or None for the engine's own, callback)
        self._timers: list[tuple[float, int, _Client | None, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._check_at = _NEVER  # no client's timeout runs out before this
        #: Where it listens: the options' until bound, then the bound port.
        self.address: tuple[str, int] = (options.host, options.port)
        # Made by the server thread when it starts, off the caller's path.
        self._read_buffer = bytearray()
        self._read_view = memoryview(self._read_buffer)

    # Life cycle (the caller's thread) ------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`launch` until :meth:`stop` has joined the thread."""
        return self._thread is not None

    def listen(self) -> None:
        """Bind and listen; :class:`~pytest_smtpd.errors.StartError` says what to change."""
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
        self.address = (host, listener.getsockname()[1])
        self.listener = listener

    def close_listener(self) -> None:
        """Close the listening socket of an engine that was never launched."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def launch(self) -> None:
        """Start the server thread on the listening socket."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.stopping = False
        self._check_at = _NEVER
        host, port = self.address
        self._thread = threading.Thread(target=self._run, name=f"pytest-smtpd {host}:{port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Wake the loop to shut down, and join the thread (unless called from it)."""
        thread = self._thread
        if thread is None:
            return
        self.stopping = True
        if self._wake_w is not None:
            try:
                self._wake_w.send(b"\0")
            except OSError:  # pragma: no cover - the pair is ours; only a closed pair fails
                pass
        if threading.current_thread() is thread:
            return
        thread.join()
        self._thread = None

    # The server thread ---------------------------------------------------------------

    def _run(self) -> None:
        listener, wake = self.listener, self._wake_r
        assert listener is not None
        assert wake is not None
        try:
            if self.stopping:  # stopped before this thread first ran: nothing to serve
                return
            self._read_buffer = bytearray(_RECV_SIZE)
            self._read_view = memoryview(self._read_buffer)
            selector = self._selector = selectors.DefaultSelector()
            selector.register(listener, selectors.EVENT_READ, None)
            selector.register(wake, selectors.EVENT_READ, None)
            while not self.stopping:
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
        rules = self._rules
        if type(event) is Command and not rules.scripted:
            hooks = self.hooks
            if hooks is None or hooks.reply is None:
                # The common case, nothing scripted: the core's own reply, and the
                # command recorded with it.
                self._answer(client, event, None, client.core.default_reply(), event)
                return
        try:
            if type(event) is Command:
                rec.record_command(client.sid, event)
                rule = rules.find_command(event.verb, event) if event.verb else None
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
                    _session=rec.session_source(client.sid),
                )
                if bdat:
                    rule = rules.find_command("BDAT", event.command)
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

    def _answer(
        self,
        client: _Client,
        event: Event | None,
        message: Message | None,
        reply: Reply,
        command: Command | None = None,
    ) -> None:
        """Send the reply through the core and record what it made happen (the
        message first, then the reply), then queue the reply's bytes.

        ``command``, when given, is recorded here too, with the reply (one
        recording instead of two: the path of every command nothing scripted).
        """
        rec = self._recorder
        core = client.core
        # RFC 5321 §4.5.3.2.7: the timeout runs while the server awaits the next
        # command, and only a whole command restarts it: a client trickling
        # in a line byte by byte (slowloris) is cut off like an idle one.
        self._arm(client)
        client.partial = 0
        if reply.code >= 400:
            if command is not None:  # recorded before the refusal it led to
                rec.record_command(client.sid, command)
                command = None
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
        if command is None:
            rec.record_reply(client.sid, reply)
        else:
            rec.record_exchange(client.sid, command, reply)
        if client.tls is None:  # _queue, inline for the plaintext case
            client.out += data
        else:
            self._queue(client, data)
        if effect in _ENDINGS:
            self._close_after_flush(client, _ENDINGS[effect])
        elif effect is _STARTTLS:
            # RFC 3207 §4.2: the handshake starts right after the 220; the core
            # has dropped whatever plaintext the client pipelined behind STARTTLS.
            self._start_tls(client)

    def _record_refusal(self, client: _Client, event: Event | None, message: Message | None, reply: Reply) -> None:
        """Record a recipient or a message that a 4xx/5xx reply refused: at RCPT,
        after the content, or at DATA or BDAT (before the content) when the
        transaction had recipients."""
        if message is not None:
            refusal = Refusal(client.sid, message.sender, None, message.recipients, reply)
        elif isinstance(event, Command) and (event.verb == "DATA" or event.verb == "BDAT"):
            txn = client.core.transaction
            if txn is None or not txn.recipients:  # nothing to refuse: out of sequence, say
                return
            refusal = Refusal(client.sid, txn.sender, None, tuple(txn.recipients), reply)
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
        for sock in (self.listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        if self._selector is not None:
            self._selector.close()
        self.listener = self._wake_r = self._wake_w = None
        self._selector = None
        self._recorder.wake()


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
