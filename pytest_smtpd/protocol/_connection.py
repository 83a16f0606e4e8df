"""The connection: the small loop that ties the pieces together.

It frames command lines, hands each to its verb's parse-and-propose function
(``_commands``), picks the content reader (``_readers``) when a reply starts
the content, runs the AUTH exchange (``_auth``), and after each reply looks the
change up in the state table (``_state.TRANSITIONS``) and applies its effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from . import _commands as verbs
from ._config import AUTH_LINE_LIMIT, CLIENT_ERROR_CODES, COMMAND_LINE_LIMIT, ERROR_LIMIT, ProtocolConfig
from ._events import (
    AuthResponse,
    Command,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    MessageReceived,
    Violation,
    ViolationKind,
)
from ._readers import ChunkReader, DataReader
from ._replies import REPLIES, Reply, _reply
from ._state import (
    AUTH_RESPONSE,
    BDAT_REFUSED,
    CONTENT_END,
    GREETING,
    LMTP_ALLOWED,
    SMTP_ALLOWED,
    Effect,
    State,
    Transaction,
    transition,
)

if TYPE_CHECKING:
    from ._auth import AuthExchange

# Module globals: a member looked up on its Enum class costs a metaclass
# __getattr__ hook on every access (Python 3.11), and these are on the read path.
_CONNECTED: Final = State.CONNECTED
_CLOSED: Final = State.CLOSED
_NONE: Final = Effect.NONE
_AUTH_RESPONSE: Final = AuthResponse()
#: TRANSITIONS looked up by exact reply code: one dict lookup per reply.
_LOOKED_UP: dict[tuple[State, str, int], tuple[State, Effect]] = {}
_LOOKUPS_KEPT: Final = 4096


class Connection:
    """One SMTP server session, as a state machine without I/O.

    Typical driving loop::

        conn = Connection(config)
        out = conn.send(conn.greeting())
        conn.receive_data(data)
        while (event := conn.next_event()) is not None:
            while conn.replies_due:
                out += conn.send(decide(event, conn.default_reply()))

    See the package docstring for the contract.
    """

    def __init__(self, config: ProtocolConfig | None = None) -> None:
        self.config = config or ProtocolConfig()
        #: Where the session stands (see :data:`TRANSITIONS`).
        self.state = State.CONNECTED
        #: What the last reply sent made happen (see :class:`Effect`).
        self.effect = Effect.NONE
        #: "HELO" or "EHLO" ("LHLO" in LMTP) once the client greeted, with ``helo_name``.
        self.greeting_verb: str | None = None
        self.helo_name: str | None = None
        #: True once TLS is in force (after STARTTLS, or from the start with implicit TLS).
        self.tls = False
        #: True between the 220 reply to STARTTLS and :meth:`tls_started`.
        self.starttls_pending = False
        #: The authenticated user and mechanism, once AUTH succeeded.
        self.auth_user: str | None = None
        self.auth_mechanism: str | None = None
        #: The mail transaction under way, from MAIL to the reply after its content.
        self.transaction: Transaction | None = None
        #: Violations noticed and not taken yet (see :meth:`take_violations`).
        self.pending_violations: list[Violation] = []
        # RFC 2034 §4: a server that supports the extension prefaces "almost all
        # response lines" with an enhanced code, "regardless of whether or not
        # EHLO is employed"; the exceptions are the greeting and the replies to
        # HELO and EHLO (see Replies.to).
        self.replies = REPLIES["ENHANCEDSTATUSCODES" in self.config.extensions]
        # The verbs of the protocol spoken and their preconditions.
        self._allowed = LMTP_ALLOWED if self.config.lmtp else SMTP_ALLOWED
        #: The extensions in force (after EHLO), kept up to date by the effects.
        self.advertised: frozenset[str] = frozenset()
        self._buffer = bytearray()
        self._eof = False
        self._closed_event_sent = False
        # The content reader in use; None while reading command lines.
        self._reader: DataReader | ChunkReader | None = None
        # The BDAT chunk last read, while its reply is pending.
        self._chunk: ChunkReader | None = None
        # Dropping the rest of a command line over the limit, up to its LF.
        self._overlong = False
        # The longest command line the reader takes in: see LINE_EXTENSIONS.
        self._read_limit = COMMAND_LINE_LIMIT
        # The event waiting for its replies: the table's name for it, the
        # proposal, how many replies it takes and those sent so far.
        self._pending: Event | None = None
        self._key = GREETING
        self._default: Reply | None = None
        self._due = 1
        self._answers: list[Reply] = []
        self._errors = 0  # client errors in a row, see ERROR_LIMIT
        self._auth: AuthExchange | None = None  # an exchange waiting for the client's line
        self._auth_candidate: AuthExchange | None = None  # the AUTH command being answered
        # The framing of the input is lost (a BDAT without a readable size):
        # whatever the reply, the session ends once it is sent.
        self._close_after_reply = False

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes received from the client; ``b""`` means the client closed."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    def take_violations(self) -> list[Violation]:
        """The protocol violations noticed since the last call."""
        found, self.pending_violations = self.pending_violations, []
        return found

    @property
    def buffered(self) -> int:
        """Octets received and not parsed yet (the content so far while in DATA)."""
        return len(self._buffer)

    @property
    def in_data(self) -> bool:
        """True while message content is being received (DATA or a BDAT chunk)."""
        return self._reader is not None

    @property
    def greeted(self) -> bool:
        """True once the greeting was sent."""
        return self.state is not State.CONNECTED

    @property
    def sender(self) -> str | None:
        """The sender of the mail transaction under way, if any."""
        txn = self.transaction
        return txn.sender if txn is not None else None

    def next_event(self) -> Event | None:
        """The next event, or None when more data is needed (or before the greeting).

        Each event must be answered with :meth:`send` (:attr:`replies_due` times)
        before the next one.
        """
        if self._pending is not None:
            raise LocalProtocolError(f"answer {self._pending!r} with send() before asking for the next event")
        state = self.state
        if state is _CLOSED or state is _CONNECTED:
            return None
        reader = self._reader
        if reader is None:
            if not self._buffer and not self._eof:
                return None  # the usual answer after each command: nothing more yet
            event = self._discard_overlong() if self._overlong else self._line()
        elif reader.read(self._buffer):
            event = self._content_read(reader)
        else:
            event = None
        if event is None and self._eof and not self._closed_event_sent:
            self._closed_event_sent = True
            in_data = self._reader is not None or self.state is State.BDAT
            self._abort_transaction()
            self.state = _CLOSED
            return ConnectionClosed(in_data=in_data)
        return event

    @property
    def replies_due(self) -> int:
        """How many more replies the pending event takes (0 when none is pending)."""
        if self._default is None:
            return 0
        return self._due - len(self._answers)

    def default_reply(self) -> Reply:
        """The reply this core proposes for the pending event (for the next reply due)."""
        if self._default is None:
            raise LocalProtocolError("no event is waiting for a reply")
        return self._default

    def default_replies(self) -> tuple[Reply, ...]:
        """The replies this core proposes for the pending event, one per reply due."""
        return (self.default_reply(),) * self.replies_due

    # ----------------------------------------------------------------- output

    def greeting(self) -> Reply:
        """The default greeting, RFC 5321 §4.2: ``220 <hostname> ESMTP``."""
        return _reply(220, f"{self.config.hostname} ESMTP pytest-smtpd")

    def send(self, reply: Reply | tuple[int, str]) -> bytes:
        """Answer the pending event (or, first of all, send the greeting) and return
        the bytes to send.

        The reply decides the effect (:attr:`effect`): a positive reply makes the
        command take effect; 421 (and 221 to QUIT) closes the session. An event
        that takes several replies takes effect with its last one.
        """
        if type(reply) is not Reply:
            reply = Reply.coerce(reply)
        code = reply.code
        if code < 400:
            self._errors = 0
        elif code in CLIENT_ERROR_CODES and reply == self._default:
            self._errors += 1
        event = self._pending
        if event is None:
            if self.state is not State.CONNECTED:
                raise LocalProtocolError("no event is waiting for a reply")
        elif self._due > 1:
            answers = self._answers
            answers.append(reply)
            if len(answers) < self._due:
                self.effect = _NONE
                return reply.to_bytes()
            # The table is looked up with the best of the replies (a message
            # is accepted when any recipient was); a 421 among them closes.
            codes = [answer.code for answer in answers]
            code = 421 if 421 in codes else min(codes)
            self._answers = []
            self._due = 1
        self._pending = self._default = None
        key = (self.state, self._key, code)
        found = _LOOKED_UP.get(key)
        if found is None:
            found = transition(*key)
            if len(_LOOKED_UP) < _LOOKUPS_KEPT:
                _LOOKED_UP[key] = found
        self.state, effect = found
        if effect is not _NONE:
            _EFFECTS[effect](self, event)
        if code == 421 or self._close_after_reply:
            # RFC 5321 §3.8: the server may close the connection after a 421.
            self._close_after_reply = False
            self._abort_transaction()
            self.state = _CLOSED
            effect = Effect.CLOSE
        self.effect = effect
        return reply.to_bytes()

    def tls_started(self) -> None:
        """The transport finished the TLS handshake.

        RFC 3207 §4.2: the session starts over: the client must EHLO again, and
        nothing learnt before (HELO name, AUTH, a transaction) is kept.
        """
        self.tls = True
        self.starttls_pending = False
        self.greeting_verb = None
        self.helo_name = None
        self.auth_user = None
        self.auth_mechanism = None
        self._auth = None
        self.advertised = frozenset()
        self._read_limit = COMMAND_LINE_LIMIT
        self._abort_transaction()
        if self.state is not State.CONNECTED and self.state is not _CLOSED:
            self.state = State.INITIAL

    def timeout_reply(self) -> Reply:
        """The reply sent before closing an idle session (RFC 5321 §4.5.3.2)."""
        return self.replies(421, "4.4.2", f"{self.config.hostname} Error: timeout exceeded")

    def shutdown_reply(self) -> Reply:
        """The reply sent to connected clients when the server stops."""
        return self.replies(421, "4.3.2", f"{self.config.hostname} Service shutting down")

    def error_reply(self) -> Reply:
        """The reply sent when deciding a reply raised an exception."""
        return self.replies(451, "4.3.0", "Internal server error")

    # ----------------------------------------------------------- reading

    def _emit(self, event: Event, default: Reply, key: str) -> Event:
        if default.code in CLIENT_ERROR_CODES and self._errors + 1 >= ERROR_LIMIT:
            # Postfix's smtpd_hard_error_limit: a client that keeps getting it
            # wrong is broken or probing. RFC 5321 §3.8: the server may close
            # the connection after a 421 reply. This error is the last one.
            default = self.replies(421, "4.7.0", f"{self.config.hostname} Error: too many errors")
        self._pending = event
        self._default = default
        self._key = key
        return event

    def _violation(self, kind: ViolationKind, detail: str) -> None:
        self.pending_violations.append(Violation(kind.value, detail))

    def _abort_transaction(self) -> None:
        self.transaction = None
        self._reader = None

    def _content_read(self, reader: DataReader | ChunkReader) -> Event:
        """The reader has all of its content: the message, or the reply to its BDAT."""
        self._reader = None  # what arrives before the reply is commands again
        if type(reader) is DataReader:
            self._buffer = reader.rest
            if reader.violations:
                self.pending_violations += reader.violations
            return self._message(reader.command, reader.content, reader.size, reader.oversized)
        assert type(reader) is ChunkReader
        return self._chunk_read(reader)

    def _discard_overlong(self) -> Event | None:
        """Drop everything up to the next LF, then answer 500."""
        buf = self._buffer
        end = buf.find(b"\n")
        if end < 0:
            buf.clear()
            return None
        del buf[: end + 1]
        self._overlong = False
        return self._emit(Command("", "", line=b""), self.replies(500, "5.5.6", "Line too long"), "")

    def _line(self) -> Event | None:
        buf = self._buffer
        end = buf.find(b"\n")
        limit = AUTH_LINE_LIMIT if self._auth is not None else self._read_limit
        if end < 0:
            if len(buf) >= limit:
                self._violation(ViolationKind.LINE_TOO_LONG, f"command line over {limit} octets")
                buf.clear()
                self._overlong = True
                return self._discard_overlong()
            return None
        crlf = end > 0 and buf[end - 1] == 13
        raw = bytes(buf[: end - 1] if crlf else buf[:end])
        del buf[: end + 1]
        if len(raw) + 2 > limit:
            # How an overlong line ends is not looked at: when it arrives in
            # pieces, its end is dropped unread, and the violations must not
            # depend on how the input was split.
            self._auth = None
            return self._too_long(raw)
        if not crlf:
            self._violation(ViolationKind.BARE_LF, "command line ended by a bare LF")
        if self._auth is not None:
            exchange = self._auth
            reply = exchange.reply(exchange.respond(raw.decode("utf-8", "replace").strip()), self.replies)
            return self._emit(_AUTH_RESPONSE, reply, AUTH_RESPONSE)
        return self._command(raw)

    def _too_long(self, raw: bytes) -> Event:
        self._violation(ViolationKind.LINE_TOO_LONG, f"command line of {len(raw) + 2} octets")
        return self._emit(
            Command("", "", line=raw[:COMMAND_LINE_LIMIT]), self.replies(500, "5.5.6", "Line too long"), ""
        )

    def _command(self, raw: bytes) -> Event | None:
        text = raw.decode("utf-8", "replace")
        word, _, argument = text.partition(" ")
        argument = argument.strip(" ")
        verb = word.upper()
        length = len(raw) + 2
        if length > COMMAND_LINE_LIMIT and length > verbs.verb_limit(self.advertised, verb):
            # Within the reader's limit, over this verb's own (LINE_EXTENSIONS).
            return self._too_long(raw)
        bad_octet = b"\0" in raw or b"\r" in raw
        # A verb of ours is ASCII: "ma\u0131l".upper() is "MAIL" too.
        allowed = self._allowed.get(verb) if word.isascii() else None
        if allowed is None:
            if self.config.lmtp and (verb == "HELO" or verb == "EHLO") and not bad_octet:
                # RFC 2033 §4.1: "The HELO and EHLO commands of ESMTP are not
                # present in LMTP"; the client must use LHLO.
                refusal = self.replies(500, "5.5.1", "Error: this is an LMTP server; use LHLO")
                return self._emit(Command(verb, argument, line=raw), refusal, "")
            # Not a verb of ours (its name in any case matches, so it is a word).
            if bad_octet:
                self._violation(ViolationKind.BAD_OCTET, "NUL or bare CR in a command line")
                if verbs._VERB.fullmatch(word):
                    bad = self.replies(501, "5.5.2", "Syntax error: bad octet")
                    return self._emit(Command(verb, argument, line=raw), bad, "")
            # Not in the table either: "" keeps the lookups of its replies bounded.
            return self._emit(
                Command(verb, argument, line=raw), self.replies(500, "5.5.2", "Error: command not recognized"), ""
            )
        if bad_octet:
            self._violation(ViolationKind.BAD_OCTET, "NUL or bare CR in a command line")
            bad = self.replies.to(verb, 501, "5.5.2", "Syntax error: bad octet")
            return self._emit(
                verbs.masked_auth(verb, argument, raw) if verb == "AUTH" else Command(verb, argument, line=raw),
                bad,
                verb,
            )
        if verb == "BDAT":
            return self._bdat(Command(verb, argument, line=raw), allowed)
        if self.state not in allowed:
            refusal, found = verbs.out_of_sequence(self, verb)
            if found is not None:
                self.pending_violations.append(found)
            cmd = verbs.masked_auth(verb, argument, raw) if verb == "AUTH" else Command(verb, argument, line=raw)
            return self._emit(cmd, refusal, verb)
        if verb == "AUTH":
            cmd, reply, found, exchange = verbs.auth(self, verb, argument, raw)
            self._auth_candidate = exchange
        else:
            cmd, reply, found = verbs.VERBS[verb](self, verb, argument, raw)
        if found is not None:
            self.pending_violations.append(found)
        return self._emit(cmd, reply, verb)

    def _bdat(self, cmd: Command, allowed: frozenset[State]) -> Event | None:
        """Start reading a BDAT chunk (RFC 3030 §2), refused or not."""
        size, last = verbs.chunk_header(cmd.argument)
        if size is None:
            return self._unframed_bdat(cmd)
        refusal: Reply | None = None
        if self.state not in allowed:
            refusal, found = verbs.out_of_sequence(self, "BDAT")
            if found is not None:
                self.pending_violations.append(found)
        elif "CHUNKING" not in self.advertised:
            refusal = self.replies(502, "5.5.1", "Error: BDAT not offered")
        elif last is None:
            # RFC 3030 §2: the size is known, so the chunk is read and
            # discarded before the 501, and the session stays in step.
            refusal = self.replies(501, "5.5.4", "Syntax: BDAT <size> [LAST]")
        # RFC 3030 §2: "If a failure occurs after a BDAT command is received,
        # the receiver-SMTP MUST accept and discard the associated message
        # data before sending the appropriate 5XX or 4XX code." The refusal
        # is the reply to the whole BDAT, after its chunk.
        reader = self._reader = ChunkReader(cmd, size, bool(last), refusal, self.transaction, self.config.size_limit)
        return self._content_read(reader) if reader.read(self._buffer) else None

    def _unframed_bdat(self, cmd: Command) -> Event:
        """A BDAT whose chunk size cannot be read: the end of its chunk is unknowable.

        RFC 3030 §2 has the receiver discard a refused chunk, which needs its
        size; without one, whatever follows could be chunk data, and no byte of
        a chunk may ever be taken as a command (the injection SMTP smuggling
        is made of). So: 501 and close. RFC 5321 §3.8 allows a server to close
        outside "normal operational circumstances (see Section 7.8)", and §7.8
        names closing after 5yz replies as a server's defence; 501 is the
        reply §4.2.3 gives for bad arguments (521, RFC 7504, is for a host that
        accepts no mail at all, and 421 would invite the same command again).
        """
        self._violation(ViolationKind.BDAT_SIZE, f"BDAT without a chunk size: {cmd.argument[:64]!r}")
        self._close_after_reply = True
        reply = self.replies(501, "5.5.4", "Syntax: BDAT <size> [LAST]; no chunk size, closing connection")
        return self._emit(cmd, reply, BDAT_REFUSED)

    def _chunk_read(self, reader: ChunkReader) -> Event:
        """A whole chunk is in: propose the reply to its BDAT, or end the message."""
        self._chunk = reader
        cmd, txn, r = reader.command, reader.transaction, self.replies
        if reader.refusal is not None or txn is None:
            return self._emit(cmd, reader.refusal or r(503, "5.5.1", "Error: need RCPT command"), BDAT_REFUSED)
        over = txn.chunk_size > self.config.size_limit
        if txn.failed and not over:
            return self._emit(
                cmd,
                r(503, "5.5.1", "Error: an earlier BDAT failed; send RSET"),
                BDAT_REFUSED if reader.last else "BDAT",
            )
        if not reader.last:
            if over:
                return self._emit(cmd, r(552, "5.3.4", "Message size exceeds fixed maximum message size"), "BDAT")
            return self._emit(cmd, r(250, "2.0.0", f"{txn.chunk_size} octets received"), "BDAT")
        data = b"" if over else bytes(txn.chunks)
        txn.chunks = bytearray()
        return self._message(cmd, data, txn.chunk_size, over)

    def _message(self, cmd: Command, data: bytes, size: int, oversized: bool) -> Event:
        txn = self.transaction
        assert txn is not None
        event = MessageReceived(
            command=cmd,
            sender=txn.sender,
            recipients=tuple(txn.recipients),
            mail_params=txn.params,
            rcpt_params=tuple(txn.rcpt_params),
            data=data,
            size=size,
        )
        r = self.replies
        if oversized:
            default = r(552, "5.3.4", "Message size exceeds fixed maximum message size")
        else:
            default = r(250, "2.0.0", f"OK: {size} octets queued")
        self._emit(event, default, CONTENT_END)
        if self.config.reply_per_recipient and event.recipients:
            self._due = len(event.recipients)
        return event

    # ------------------------------------------------------------ effects

    def _greeted(self, event: Event | None) -> None:
        assert isinstance(event, Command)
        self.greeting_verb = event.verb
        self.helo_name = event.main_argument
        self._abort_transaction()
        self.advertised = verbs.advertised(self.config, event.verb, self.tls)
        self._read_limit = verbs.read_limit(self.advertised)

    def _reset(self, event: Event | None) -> None:
        self._abort_transaction()

    def _transaction(self, event: Event | None) -> None:
        assert isinstance(event, Command)
        params = dict(event.params)
        self.transaction = Transaction(
            sender=event.address if event.address is not None else event.argument,
            params=params,
            smtputf8="SMTPUTF8" in params,
            body=(params.get("BODY") or "7BIT").upper(),
        )

    def _recipient(self, event: Event | None) -> None:
        assert isinstance(event, Command)
        txn = self.transaction
        assert txn is not None
        txn.rcpt_attempts += 1
        txn.recipients.append(event.address if event.address is not None else event.argument)
        txn.rcpt_params.append(dict(event.params))

    def _recipient_refused(self, event: Event | None) -> None:
        txn = self.transaction
        assert txn is not None
        txn.rcpt_attempts += 1

    def _content(self, event: Event | None) -> None:
        assert isinstance(event, Command)
        txn = self.transaction
        assert txn is not None
        # The content starts right after this line; what was pipelined behind
        # DATA is already in the buffer.
        data = bytearray(b"\r\n")
        data += self._buffer
        self._buffer = data
        self._reader = DataReader(event, self.config.size_limit, seven_bit=txn.body == "7BIT")

    def _chunk_failed(self, event: Event | None) -> None:
        # RFC 3030 §2: "If a 5XX or 4XX code is received by the sender-SMTP in
        # response to a BDAT chunk, the transaction should be considered
        # failed": no chunk of it is kept, and more chunks get 503 until RSET.
        txn, chunk = self.transaction, self._chunk
        assert txn is not None  # the table has FAILED in RCPT and BDAT only
        if chunk is not None:
            del txn.chunks[chunk.mark :]
        txn.failed = True

    def _message_done(self, event: Event | None) -> None:
        self._abort_transaction()

    def _auth_challenge(self, event: Event | None) -> None:
        exchange = self._auth or self._auth_candidate
        if exchange is not None and exchange.outcome is None:
            self._auth = exchange
            self._auth_candidate = None
            return
        self._auth_ended(event)

    def _authenticated(self, event: Event | None) -> None:
        exchange = self._auth or self._auth_candidate
        if exchange is not None:
            outcome = exchange.outcome
            claimed = outcome.user if outcome is not None else exchange.claimed_user
            self.auth_user = claimed if claimed is not None else ""
            self.auth_mechanism = exchange.mechanism
        self._auth_ended(event)

    def _auth_ended(self, event: Event | None) -> None:
        self._auth = None
        self._auth_candidate = None

    def _starttls(self, event: Event | None) -> None:
        if self._buffer:
            # RFC 3207 §4.2 / CVE-2011-0411: plaintext pipelined behind
            # STARTTLS must not be taken as coming over TLS: drop it.
            self._violation(ViolationKind.STARTTLS_INJECTION, f"{len(self._buffer)} octets pipelined after STARTTLS")
            self._buffer.clear()
        self.starttls_pending = True

    def _quit(self, event: Event | None) -> None:
        self._abort_transaction()

    def _nothing(self, event: Event | None) -> None:
        pass


#: How the connection applies each effect of :data:`TRANSITIONS`.
_EFFECTS: Final[dict[Effect, Callable[[Connection, Event | None], None]]] = {
    Effect.NO_SERVICE: Connection._nothing,
    Effect.GREETED: Connection._greeted,
    Effect.RESET: Connection._reset,
    Effect.TRANSACTION: Connection._transaction,
    Effect.RECIPIENT: Connection._recipient,
    Effect.RECIPIENT_REFUSED: Connection._recipient_refused,
    Effect.CONTENT: Connection._content,
    Effect.CHUNK: Connection._nothing,
    Effect.FAILED: Connection._chunk_failed,
    Effect.MESSAGE: Connection._message_done,
    Effect.MESSAGE_REFUSED: Connection._message_done,
    Effect.AUTH_CHALLENGE: Connection._auth_challenge,
    Effect.AUTHENTICATED: Connection._authenticated,
    Effect.AUTH_ENDED: Connection._auth_ended,
    Effect.STARTTLS: Connection._starttls,
    Effect.QUIT: Connection._quit,
}
