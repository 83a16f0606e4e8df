"""The sans-IO SMTP protocol core: bytes in, events and replies out.

Nothing here touches a socket, a thread or pytest. A :class:`Connection` is fed
what the client sent with :meth:`Connection.receive_data`, hands out events with
:meth:`Connection.next_event` and turns the reply chosen for each event into
bytes with :meth:`Connection.send`. For every event it also proposes the reply a
well-behaved RFC 5321 server would give (:meth:`Connection.default_reply`); the
caller may answer with another one, and *that* reply decides the effect: a 2xx
(3xx for DATA) makes the command take effect, anything else does not.

Errors the protocol recovers from (500, 501, 503, 552, ...) are replies, not
exceptions. :class:`LocalProtocolError` is raised only when the core itself is
misused (answering when no event is pending, an invalid reply).

Session states, and which commands each one accepts (everything else gets
``503 5.5.1``), are the table :data:`ALLOWED`::

    INITIAL --HELO/EHLO--> READY --MAIL--> MAIL --RCPT--> RCPT --DATA--> DATA
                             ^                              |               |
                             +----- message reply / RSET ---+-----BDAT------+
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .extensions import AUTH_MECHANISMS, DEFAULT_EXTENSIONS, KNOWN_EXTENSIONS

if TYPE_CHECKING:
    from .auth import AuthExchange, AuthResult, Challenge

__all__ = [
    "ALLOWED",
    "AUTH_MECHANISMS",
    "CLIENT_ERROR_CODES",
    "COMMAND_LINE_LIMIT",
    "DEFAULT_EXTENSIONS",
    "ERROR_LIMIT",
    "KNOWN_EXTENSIONS",
    "LINE_EXTENSIONS",
    "TEXT_LINE_LIMIT",
    "AuthResponse",
    "Command",
    "Connection",
    "ConnectionClosed",
    "Event",
    "LocalProtocolError",
    "MessageReceived",
    "ProtocolConfig",
    "Reply",
    "State",
    "Violation",
]

#: RFC 5321 §4.5.3.1.4: "The maximum total length of a command line including
#: the command word and the <CRLF> is 512 octets. SMTP extensions may be used to
#: increase this limit." See :data:`LINE_EXTENSIONS`.
COMMAND_LINE_LIMIT: Final = 512
#: The octets that each extension in force adds to the limit of a verb's command
#: line, beyond :data:`COMMAND_LINE_LIMIT`. The reader takes in a line up to the
#: largest of these limits in force (it cannot know the verb before the line
#: ends); a line over its own verb's limit is then refused with ``500 5.5.6``.
LINE_EXTENSIONS: Final[Mapping[str, tuple[tuple[str, int], ...]]] = {
    "MAIL": (
        # RFC 1870 §3: "the maximum length of a MAIL FROM command line is
        # increased by 26 characters by the possible addition of the SIZE
        # keyword and value".
        ("SIZE", 26),
        # The longest BODY parameter accepted (RFC 6152, RFC 3030 §3).
        ("8BITMIME", len(" BODY=BINARYMIME")),
        # RFC 6531 §3.1: the SMTPUTF8 parameter adds 10 octets to MAIL.
        ("SMTPUTF8", 10),
        # RFC 3461 §4.3, §4.4: RET=FULL|HDRS and an ENVID of up to 100 characters.
        ("DSN", len(" RET=HDRS") + len(" ENVID=") + 100),
        # RFC 4954 §5: the AUTH parameter "extends the maximum line length of
        # the MAIL FROM command by 500 characters".
        ("AUTH", 500),
    ),
    "RCPT": (
        # RFC 3461 §4.1, §4.2: the longest NOTIFY list, and an ORCPT of up to
        # 500 characters; §5.1(b): a server MUST NOT refuse a RCPT for valid
        # NOTIFY or ORCPT parameters.
        ("DSN", len(" NOTIFY=SUCCESS,FAILURE,DELAY") + len(" ORCPT=") + 500),
    ),
}
#: RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets, CRLF included.
TEXT_LINE_LIMIT: Final = 1000
#: RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
REPLY_LINE_LIMIT: Final = 512

#: The core's own refusals of a client's mistake (syntax, sequence, parameters)
#: in a row after which it answers ``421 4.7.0`` and closes, like Postfix's
#: ``smtpd_hard_error_limit``. Any positive reply starts the count again.
ERROR_LIMIT: Final = 20
#: The codes counted towards :data:`ERROR_LIMIT` when the core proposed them and
#: they were sent unchanged. Scripted replies, limits (452, 552), policy (530,
#: 535, 538) and the server's own trouble (451) never count.
CLIENT_ERROR_CODES: Final = frozenset({500, 501, 502, 503, 504, 550, 553, 554, 555})

#: RFC 4954 §4: an AUTH response line may be up to 12288 octets.
AUTH_LINE_LIMIT: Final = 12288


class LocalProtocolError(Exception):
    """The core was used wrongly: a reply without a pending event, an invalid reply."""


class State(enum.Enum):
    """Where a session stands in RFC 5321's command sequence."""

    INITIAL = "initial"  #: greeted, no HELO/EHLO yet
    READY = "ready"  #: HELO/EHLO done, no mail transaction
    MAIL = "mail"  #: MAIL accepted, no recipient yet
    RCPT = "rcpt"  #: at least one recipient accepted
    DATA = "data"  #: receiving message content after 354
    BDAT = "bdat"  #: at least one BDAT chunk accepted, LAST not yet seen
    CLOSED = "closed"  #: QUIT answered, 421 sent, or the client went away

    # Members are singletons: hash them by identity, in C (Enum's own __hash__
    # is a Python call, paid on every command by the state table lookup).
    __hash__ = object.__hash__


_ANY: Final = frozenset({State.INITIAL, State.READY, State.MAIL, State.RCPT, State.BDAT})

#: The state table: the states in which each command is in sequence.
ALLOWED: Final[Mapping[str, frozenset[State]]] = {
    "HELO": _ANY,
    "EHLO": _ANY,
    "RSET": _ANY,
    "NOOP": _ANY,
    "QUIT": _ANY,
    "VRFY": _ANY,
    "HELP": _ANY,
    "MAIL": frozenset({State.READY}),
    "STARTTLS": frozenset({State.READY}),
    "AUTH": frozenset({State.READY}),
    "RCPT": frozenset({State.MAIL, State.RCPT}),
    "DATA": frozenset({State.RCPT}),
    "BDAT": frozenset({State.RCPT, State.BDAT}),
}


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: a three-digit code and its text.

    A text with newlines becomes a multi-line reply (``250-first``, ``250 last``).
    The text is sent exactly as given, enhanced status code included::

        Reply(550, "5.1.1 No such user")
    """

    code: int
    text: str = ""
    _lines: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        code, text = self.code, self.text
        if not isinstance(code, int) or isinstance(code, bool) or not 200 <= code <= 599:
            raise ValueError(f"an SMTP reply code is an int from 200 to 599, not {code!r}")
        if not isinstance(text, str):
            raise TypeError(f"reply text must be str, not {type(text).__name__}")
        if "\r" in text or "\0" in text:
            raise ValueError(f"reply text may not contain CR or NUL: {text!r}")
        # Rendered once: a reply is recorded and sent, often many times over.
        parts = text.split("\n")
        last = parts.pop()
        lines = [f"{code}-{part}" for part in parts]
        # RFC 4954 §8: continue-req = "334" SP [base64] CRLF -- the space stays
        # when the challenge is empty (PLAIN without an initial response).
        lines.append(f"{code} {last}" if last or code == 334 else f"{code}")
        wire = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        if len(wire) > REPLY_LINE_LIMIT:  # only then can a single line be too long
            for line in lines:
                if len(line.encode("utf-8")) + 2 > REPLY_LINE_LIMIT:
                    raise ValueError(
                        f"reply line longer than {REPLY_LINE_LIMIT - 6} octets (RFC 5321 §4.5.3.1.5): "
                        f"{line[4:44]!r}...; split it with newlines"
                    )
        object.__setattr__(self, "_lines", tuple(lines))
        object.__setattr__(self, "_wire", wire)

    @classmethod
    def coerce(cls, value: Reply | tuple[int, str]) -> Reply:
        """Accept a :class:`Reply` or a ``(code, text)`` tuple."""
        if isinstance(value, Reply):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise TypeError(f"expected a Reply or a (code, text) tuple, got {value!r}")

    @property
    def lines(self) -> tuple[str, ...]:
        """Each line as it goes on the wire, without CRLF."""
        return self._lines

    def to_bytes(self) -> bytes:
        """The reply as sent on the wire."""
        return self._wire

    @property
    def positive(self) -> bool:
        """True for 2xx and 3xx replies."""
        return self.code < 400

    def __str__(self) -> str:
        return "\n".join(self.lines)


#: The core's own replies, made once: most are the same few texts over and over.
_REPLIES: dict[tuple[int, str], Reply] = {}
_REPLIES_KEPT = 512
_GO_AHEAD = Reply(354, "End data with <CR><LF>.<CR><LF>")


def _reply(code: int, text: str) -> Reply:
    """``Reply(code, text)``, made once for texts that recur (greetings, EHLO replies)."""
    key = (code, text)
    reply = _REPLIES.get(key)
    if reply is None:
        reply = Reply(code, text)
        if len(_REPLIES) < _REPLIES_KEPT:
            _REPLIES[key] = reply
    return reply


@dataclass(frozen=True, slots=True)
class Command:
    """One command line from the client.

    ``verb`` is upper case; ``argument`` is the text after the verb; ``address``
    is the mailbox of MAIL and RCPT (``""`` for the null sender ``<>``), else None.
    ``params`` holds MAIL and RCPT's ESMTP parameters, keys upper case.
    ``line`` is the raw line as sent, without its line ending.
    """

    verb: str
    argument: str = ""
    address: str | None = None
    params: Mapping[str, str | None] = field(default_factory=dict)
    line: bytes = b""

    @property
    def main_argument(self) -> str:
        """What a rule's ``match`` is compared with: the address of MAIL and RCPT,
        the domain of HELO and EHLO, the mechanism of AUTH, else the argument."""
        if self.address is not None:
            return self.address
        if self.verb in ("HELO", "EHLO", "AUTH"):
            return self.argument.split(" ", 1)[0]
        return self.argument


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """The content of a message has arrived (after ``CRLF.CRLF`` or ``BDAT ... LAST``).

    ``data`` is the content after dot-unstuffing, exactly as sent. When the
    content was over ``size_limit`` it was counted, not kept: ``data`` is empty,
    ``size`` is the real size and the proposed reply is 552.
    """

    command: Command
    sender: str
    recipients: tuple[str, ...]
    mail_params: Mapping[str, str | None]
    rcpt_params: tuple[Mapping[str, str | None], ...]
    data: bytes
    size: int


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """A line the client sent during an AUTH exchange; its content stays in the core.

    It is answered with :meth:`Connection.default_reply` (the next 334
    challenge or the outcome); scripted rules apply to the AUTH command itself.
    """


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side; ``in_data`` when it vanished mid-message."""

    in_data: bool = False


Event = Command | MessageReceived | AuthResponse | ConnectionClosed


@dataclass(frozen=True, slots=True)
class Violation:
    """A client protocol violation, e.g. a bare LF in the message content.

    ``kind`` is one of ``bare-lf``, ``bare-cr``, ``line-too-long``, ``8bit-data``,
    ``non-ascii-address``, ``out-of-sequence``, ``bad-octet``, ``auth-before-tls``,
    ``bdat-size`` (a BDAT whose chunk size cannot be read: the connection is closed),
    ``proxy-header`` (a connection whose PROXY protocol header is not valid).
    """

    kind: str
    detail: str
    session_id: int = 0

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    """What the core needs to know about the server it speaks for."""

    hostname: str = "localhost"
    size_limit: int = 32 * 1024 * 1024
    max_recipients: int = 1000
    extensions: frozenset[str] = frozenset(DEFAULT_EXTENSIONS)
    #: Offer STARTTLS (the transport does the handshake).
    starttls: bool = False
    #: MAIL before TLS gets 530 5.7.0.
    tls_required: bool = False
    #: AUTH accounts, name -> password; None turns AUTH off.
    users: Mapping[str, str] | None = None
    auth_mechanisms: tuple[str, ...] = AUTH_MECHANISMS
    #: MAIL before AUTH gets 530 5.7.0.
    auth_required: bool = False
    #: AUTH only under TLS: 538 5.7.11 before it.
    auth_require_tls: bool = False

    def __post_init__(self) -> None:
        unknown = {e.upper() for e in self.extensions} - set(KNOWN_EXTENSIONS)
        if unknown:
            raise ValueError(
                f"unknown extension(s) {sorted(unknown)}; known: {', '.join(KNOWN_EXTENSIONS)} "
                "(STARTTLS and AUTH have options of their own)"
            )
        object.__setattr__(self, "extensions", frozenset(e.upper() for e in self.extensions))


class _Mode(enum.Enum):
    LINE = 1
    DATA = 2
    CHUNK = 3
    OVERLONG = 4  # discarding the rest of a command line over the limit


_VERB = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Non-ASCII is allowed (RFC 6531) and spelled as negated classes of ASCII:
# a range up to \U0010ffff takes milliseconds to compile, and import time counts.
_ATEXT = r"[^\x00-\x20\"(),.:;<>@\[\\\]\x7f]"  # RFC 5322 §3.2.3 atext
_QTEXT = r"[^\x00-\x1f\"\\\x7f]"  # RFC 5321 §4.1.2 qtextSMTP
_LET_DIG = r"[^\x00-\x2f:-@\[-`{-\x7f]"
_LDH = r"[^\x00-\x2c./:-@\[-`{-\x7f]"
_LABEL = rf"{_LET_DIG}(?:{_LDH}*{_LET_DIG})?"
_LOCAL = re.compile(rf'(?:{_ATEXT}+(?:\.{_ATEXT}+)*|"(?:{_QTEXT}|\\[\x20-\x7e])*")')
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[\x21-\x5a\x5e-\x7e]+\])")
_PARAM = re.compile(r"([A-Za-z0-9][A-Za-z0-9\-]*)(?:=([^\x00-\x20=\x7f]+))?")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
# RFC 6533 §3: with SMTPUTF8, an ORCPT of type utf-8 may hold UTF-8 as it is.
_UTF8_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2}|[^\x00-\x7f])*")
# RFC 3461 §4.2: addr-type is an RFC 822 atom: CHARs but specials, SPACE and CTLs.
_ADDR_TYPE = re.compile(r"[!#-'*+\-/-9=?A-Z^-~]+")
_NOTIFY: Final = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})

_MAIL_PARAMS: Final = {
    "SIZE": "SIZE",
    "BODY": "8BITMIME",
    "SMTPUTF8": "SMTPUTF8",
    "RET": "DSN",
    "ENVID": "DSN",
    "AUTH": "AUTH",
}
_RCPT_PARAMS: Final = {"NOTIFY": "DSN", "ORCPT": "DSN"}


@dataclass(slots=True)
class _Transaction:
    sender: str
    params: dict[str, str | None]
    smtputf8: bool
    body: str
    recipients: list[str] = field(default_factory=list)
    rcpt_params: list[dict[str, str | None]] = field(default_factory=list)
    rcpt_attempts: int = 0
    chunks: bytearray = field(default_factory=bytearray)
    chunk_size: int = 0  # total octets over all BDAT chunks, kept or not
    failed: bool = False  # a BDAT chunk was refused


class Connection:
    """One SMTP server session, as a state machine without I/O.

    Typical driving loop::

        conn = Connection(config)
        out = conn.send(conn.greeting())
        conn.receive_data(data)
        while (event := conn.next_event()) is not None:
            reply = decide(event, conn.default_reply())
            out += conn.send(reply)
    """

    def __init__(self, config: ProtocolConfig | None = None) -> None:
        self.config = config or ProtocolConfig()
        self.state = State.INITIAL
        #: "HELO" or "EHLO" once the client greeted, with ``helo_name``.
        self.greeting_verb: str | None = None
        self.helo_name: str | None = None
        self._buffer = bytearray()
        self._mode = _Mode.LINE
        self._eof = False
        self._closed_event_sent = False
        self._txn: _Transaction | None = None
        self._pending: Event | None = None
        self._default: Reply | None = None
        #: Violations noticed and not taken yet (see :meth:`take_violations`).
        self.pending_violations: list[Violation] = []
        # DATA mode: the content so far, prefixed by the CRLF that ended the DATA
        # line so that "CRLF.CRLF" and dot-stuffing need no special first line.
        self._data = bytearray()
        self._scan = 0
        self._stuffed = 0  # stuffed dots seen before _counted
        self._counted = 0
        self._data_size = 0  # octets seen, whether kept or counted only
        self._overflow = False
        self._survey = _Survey()
        self._chunk_command: Command | None = None
        self._chunk_left = 0
        self._chunk_last = False
        self._chunk_refused = False
        self._chunk_refusal: Reply | None = None
        self._chunk_mark = 0  # length of the kept content before the current chunk
        self._errors = 0  # client errors in a row, see ERROR_LIMIT
        self._greeted = False
        self._no_service = False
        #: True once TLS is in force (after STARTTLS, or from the start with implicit TLS).
        self.tls = False
        #: True between the 220 reply to STARTTLS and :meth:`tls_started`.
        self.starttls_pending = False
        #: The authenticated user and mechanism, once AUTH succeeded.
        self.auth_user: str | None = None
        self.auth_mechanism: str | None = None
        self._auth: AuthExchange | None = None  # an exchange waiting for the client's line
        self._auth_candidate: AuthExchange | None = None  # the AUTH command being answered
        self._auth_outcome: AuthResult | None = None
        # RFC 2034 §4: a server that supports the extension prefaces "almost all
        # response lines" with an enhanced code, "regardless of whether or not
        # EHLO is employed"; the exceptions are the greeting and the replies to
        # HELO and EHLO (see _helo).
        self._enhanced = "ENHANCEDSTATUSCODES" in self.config.extensions
        # The longest command line the reader takes in: see LINE_EXTENSIONS.
        self._read_limit = COMMAND_LINE_LIMIT
        # The framing of the input is lost (a BDAT without a readable size):
        # whatever the reply, the session ends once it is sent.
        self._close_after_reply = False

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes received from the client; ``b""`` means the client closed."""
        if not data:
            self._eof = True
            return
        if self._mode is _Mode.DATA and not self._overflow:
            self._data += data
        else:
            self._buffer += data

    def take_violations(self) -> list[Violation]:
        """The protocol violations noticed since the last call."""
        found, self.pending_violations = self.pending_violations, []
        return found

    @property
    def buffered(self) -> int:
        """Octets received and not parsed yet (the content so far while in DATA)."""
        return len(self._buffer) + len(self._data)

    @property
    def in_data(self) -> bool:
        """True while message content is being received (DATA or a BDAT chunk)."""
        return self._mode in (_Mode.DATA, _Mode.CHUNK)

    def next_event(self) -> Event | None:
        """The next event, or None when more data is needed.

        Each event must be answered with :meth:`send` before the next one.
        """
        if self._pending is not None:
            raise LocalProtocolError(f"answer {self._pending!r} with send() before asking for the next event")
        if self.state is State.CLOSED:
            return None
        if not self._buffer and self._mode is _Mode.LINE and not self._eof:
            return None  # the usual answer after each command: nothing more yet
        event = self._parse()
        if event is None and self._eof and not self._closed_event_sent:
            self._closed_event_sent = True
            in_data = self.in_data or self.state is State.BDAT
            self._abort_transaction()
            self.state = State.CLOSED
            return ConnectionClosed(in_data=in_data)
        return event

    def default_reply(self) -> Reply:
        """The reply this core proposes for the pending event."""
        if self._default is None:
            raise LocalProtocolError("no event is waiting for a reply")
        return self._default

    # ----------------------------------------------------------------- output

    @property
    def greeted(self) -> bool:
        """True once the greeting was sent."""
        return self._greeted

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
        self._read_limit = COMMAND_LINE_LIMIT
        self._abort_transaction()
        if self._greeted and self.state is not State.CLOSED:
            self.state = State.INITIAL

    def greeting(self) -> Reply:
        """The default greeting, RFC 5321 §4.2: ``220 <hostname> ESMTP``."""
        return _reply(220, f"{self.config.hostname} ESMTP pytest-smtpd")

    def send(self, reply: Reply | tuple[int, str]) -> bytes:
        """Answer the pending event (or the greeting) and return the bytes to send.

        The reply decides the effect: a positive reply makes the command take
        effect; 421 (and 221 to QUIT) closes the session.
        """
        if type(reply) is not Reply:
            reply = Reply.coerce(reply)
        event, default = self._pending, self._default
        self._pending = self._default = None
        if reply.code < 400:
            self._errors = 0
        elif reply == default and reply.code in CLIENT_ERROR_CODES:
            self._errors += 1
        if event is None:
            if self._greeted:
                raise LocalProtocolError("no event is waiting for a reply")
            self._greeted = True
            if reply.code == 421:
                self.state = State.CLOSED
            elif reply.code >= 400:
                # RFC 5321 §3.1: after a 554 greeting the server waits for QUIT
                # and answers 503 to anything else.
                self._no_service = True
            return reply.to_bytes()
        if isinstance(event, Command):
            self._apply(event, reply)
        elif isinstance(event, AuthResponse):
            self._auth_answered(reply)
        elif isinstance(event, MessageReceived):
            self._abort_transaction()
            if self.state is not State.CLOSED:
                self.state = State.READY
        if reply.code == 421 or self._close_after_reply:
            self._close_after_reply = False
            self._abort_transaction()
            self.state = State.CLOSED
        return reply.to_bytes()

    def timeout_reply(self) -> Reply:
        """The reply sent before closing an idle session (RFC 5321 §4.5.3.2)."""
        return self._r(421, "4.4.2", f"{self.config.hostname} Error: timeout exceeded")

    def shutdown_reply(self) -> Reply:
        """The reply sent to connected clients when the server stops."""
        return self._r(421, "4.3.2", f"{self.config.hostname} Service shutting down")

    def error_reply(self) -> Reply:
        """The reply sent when deciding a reply raised an exception."""
        return self._r(451, "4.3.0", "Internal server error")

    # ----------------------------------------------------------- internals

    def _r(self, code: int, enhanced: str, text: str) -> Reply:
        """A default reply, with its enhanced code when ENHANCEDSTATUSCODES is configured (RFC 2034 §4)."""
        return _reply(code, f"{enhanced} {text}" if self._enhanced else text)

    def _r_for(self, verb: str, code: int, enhanced: str, text: str) -> Reply:
        """A default reply to ``verb``: RFC 2034 §4, none to HELO or EHLO has an enhanced code."""
        if verb in ("HELO", "EHLO"):
            return _reply(code, text)
        return self._r(code, enhanced, text)

    def _emit(self, event: Event, default: Reply) -> Event:
        if default.code in CLIENT_ERROR_CODES and self._errors + 1 >= ERROR_LIMIT:
            # Postfix's smtpd_hard_error_limit: a client that keeps getting it
            # wrong is broken or probing. RFC 5321 §3.8: the server may close
            # the connection after a 421 reply. This error is the last one.
            default = self._r(421, "4.7.0", f"{self.config.hostname} Error: too many errors")
        self._pending = event
        self._default = default
        return event

    def _violation(self, kind: str, detail: str) -> None:
        self.pending_violations.append(Violation(kind, detail))

    def _abort_transaction(self) -> None:
        self._txn = None
        self._data = bytearray()
        self._overflow = False
        if self._mode is not _Mode.OVERLONG:
            self._mode = _Mode.LINE

    def _parse(self) -> Event | None:
        while True:
            if self._mode is _Mode.LINE:
                return self._parse_line()
            if self._mode is _Mode.DATA:
                return self._parse_data()
            if self._mode is _Mode.CHUNK:
                return self._parse_chunk()
            # OVERLONG: drop everything up to the next LF, then answer 500.
            end = self._buffer.find(b"\n")
            if end < 0:
                self._buffer.clear()
                return None
            del self._buffer[: end + 1]
            self._mode = _Mode.LINE
            return self._emit(
                Command("", "", line=b""),
                self._r(500, "5.5.6", "Line too long"),
            )

    def _parse_line(self) -> Event | None:
        buf = self._buffer
        end = buf.find(b"\n")
        limit = AUTH_LINE_LIMIT if self._auth is not None else self._read_limit
        if end < 0:
            if len(buf) >= limit:
                self._violation("line-too-long", f"command line over {limit} octets")
                buf.clear()
                self._mode = _Mode.OVERLONG
                return self._parse()
            return None
        crlf = end > 0 and buf[end - 1] == 13
        raw = bytes(buf[: end - 1] if crlf else buf[:end])
        del buf[: end + 1]
        if len(raw) + 2 > limit:
            # How an overlong line ends is not looked at: when it arrives in
            # pieces, its end is dropped unread (OVERLONG), and the violations
            # must not depend on how the input was split.
            self._violation("line-too-long", f"command line of {len(raw) + 2} octets")
            self._auth = None
            return self._emit(Command("", "", line=raw[:COMMAND_LINE_LIMIT]), self._r(500, "5.5.6", "Line too long"))
        if not crlf:
            self._violation("bare-lf", "command line ended by a bare LF")
        if self._auth is not None:
            return self._auth_step(raw)
        return self._command(raw)

    def _command(self, raw: bytes) -> Event | None:
        text = raw.decode("utf-8", "replace")
        verb, _, argument = text.partition(" ")
        argument = argument.strip(" ")
        if len(raw) + 2 > COMMAND_LINE_LIMIT and len(raw) + 2 > self._verb_limit(verb.upper()):
            # Within the reader's limit, over this verb's own (LINE_EXTENSIONS).
            self._violation("line-too-long", f"command line of {len(raw) + 2} octets")
            return self._emit(Command("", "", line=raw[:COMMAND_LINE_LIMIT]), self._r(500, "5.5.6", "Line too long"))
        if not _VERB.fullmatch(verb):
            cmd = Command(verb.upper(), argument, line=raw)
            if b"\0" in raw or b"\r" in raw:
                self._violation("bad-octet", "NUL or bare CR in a command line")
            return self._emit(cmd, self._r(500, "5.5.2", "Error: command not recognized"))
        verb = verb.upper()
        if b"\0" in raw or b"\r" in raw:
            self._violation("bad-octet", "NUL or bare CR in a command line")
            bad = self._r_for(verb, 501, "5.5.2", "Syntax error: bad octet")
            return self._emit(Command(verb, argument, line=raw), bad)
        handler = _HANDLERS.get(verb)
        if handler is None:
            return self._emit(Command(verb, argument, line=raw), self._r(500, "5.5.2", "Error: command not recognized"))
        cmd = Command(verb, argument, line=raw)
        if verb == "AUTH":
            # Refused or not, an AUTH line's initial response is a secret.
            cmd = _masked_auth(verb, argument, raw)
        if verb == "BDAT" and _chunk_header(argument)[0] is None:
            return self._unframed_bdat(cmd)
        if self._no_service and verb != "QUIT":
            refusal = self._r_for(verb, 503, "5.5.1", "Error: no SMTP service here")
        elif self.state not in ALLOWED[verb]:
            refusal = self._out_of_sequence(cmd)
        elif verb == "BDAT" and "CHUNKING" not in self._advertised():
            refusal = self._r(502, "5.5.1", "Error: BDAT not offered")
        else:
            return handler(self, verb, argument, raw)
        if verb == "BDAT":
            # RFC 3030 §2: "If a failure occurs after a BDAT command is received,
            # the receiver-SMTP MUST accept and discard the associated message
            # data before sending the appropriate 5XX or 4XX code." The refusal
            # is the reply to the whole BDAT, after its chunk.
            return self._start_chunk(cmd, refusal)
        return self._emit(cmd, refusal)

    def _verb_limit(self, verb: str) -> int:
        """The longest command line ``verb`` may have with the extensions in force."""
        extra = LINE_EXTENSIONS.get(verb)
        if not extra:
            return COMMAND_LINE_LIMIT
        advertised = self._advertised()
        return COMMAND_LINE_LIMIT + sum(octets for name, octets in extra if name in advertised)

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
        self._violation("bdat-size", f"BDAT without a chunk size: {cmd.argument[:64]!r}")
        self._close_after_reply = True
        return self._emit(cmd, self._r(501, "5.5.4", "Syntax: BDAT <size> [LAST]; no chunk size, closing connection"))

    def _out_of_sequence(self, cmd: Command) -> Reply:
        verb = cmd.verb
        if verb == "MAIL" and self.state is State.INITIAL:
            text = "Error: send HELO/EHLO first"
        elif verb == "MAIL":
            text = "Error: nested MAIL command"
        elif verb == "RCPT":
            text = "Error: need MAIL command"
        elif verb in ("DATA", "BDAT") and self.state is State.BDAT:
            text = "Error: DATA not allowed after BDAT"
        elif verb in ("DATA", "BDAT") and self._txn is not None and self._txn.rcpt_attempts:
            self._violation("out-of-sequence", f"{verb} with no accepted recipient")
            return self._r(554, "5.5.1", "Error: no valid recipients")
        elif verb in ("DATA", "BDAT") and self._txn is not None:
            text = "Error: need RCPT command"
        elif verb in ("AUTH", "STARTTLS") and self.state is State.INITIAL:
            text = "Error: send EHLO first"
        elif verb in ("AUTH", "STARTTLS"):
            text = f"Error: {verb} not allowed during a mail transaction"
        else:
            text = "Error: need MAIL command"
        self._violation("out-of-sequence", f"{verb} in state {self.state.value}")
        return self._r(503, "5.5.1", text)

    # Command handlers: parse and propose; effects happen in _apply().

    def _helo(self, verb: str, argument: str, raw: bytes) -> Event:
        cmd = Command(verb, argument, line=raw)
        domain = argument.split(" ", 1)[0]
        if not domain:
            return self._emit(cmd, self._r_for(verb, 501, "5.5.4", f"Syntax: {verb} hostname"))
        if verb == "HELO":
            return self._emit(cmd, _reply(250, self.config.hostname))
        lines = [self.config.hostname]
        ext = self.config.extensions
        if "SIZE" in ext:
            lines.append(f"SIZE {self.config.size_limit}")
        lines.extend(
            name
            for name in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN")
            if name in ext
        )
        lines.extend(self._extra_ehlo_lines())
        return self._emit(cmd, _reply(250, "\n".join(lines)))

    def _extra_ehlo_lines(self) -> list[str]:
        lines = []
        if self.config.starttls and not self.tls:
            lines.append("STARTTLS")
        if self._auth_offered():
            lines.append("AUTH " + " ".join(self.config.auth_mechanisms))
        return lines

    def _auth_offered(self) -> bool:
        """RFC 4954 §4 and RFC 3207: AUTH is offered only where it may be used."""
        config = self.config
        if not config.users or not config.auth_mechanisms:
            return False
        return self.tls or not (config.auth_require_tls or config.tls_required)

    def _simple(self, verb: str, argument: str, raw: bytes) -> Event:
        cmd = Command(verb, argument, line=raw)
        if verb == "NOOP":
            return self._emit(cmd, self._r(250, "2.0.0", "OK"))
        if verb == "RSET":
            if argument:
                return self._emit(cmd, self._r(501, "5.5.4", "Syntax: RSET"))
            return self._emit(cmd, self._r(250, "2.0.0", "OK"))
        if verb == "QUIT":
            return self._emit(cmd, self._r(221, "2.0.0", "Bye"))
        if verb == "HELP":
            return self._emit(
                cmd, self._r(214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP")
            )
        # VRFY: RFC 5321 §3.5.3, 252 when the server will not verify.
        if not argument:
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: VRFY address"))
        return self._emit(cmd, self._r(252, "2.1.5", "Cannot VRFY user, but will accept message"))

    def _parse_path(self, verb: str, argument: str, keyword: str) -> tuple[str | None, str, str]:
        """Split ``FROM:<addr> params``; returns (address or None, params text, error)."""
        if argument[: len(keyword)].upper() != keyword:
            return None, "", f"Syntax: {verb} {keyword}<address>"
        rest = argument[len(keyword) :].lstrip(" ")
        if not rest.startswith("<"):
            return None, "", f"Syntax: {verb} {keyword}<address>"
        close = _path_end(rest)
        if close < 0:
            return None, "", f"Syntax: {verb} {keyword}<address>"
        path, params = rest[1:close], rest[close + 1 :]
        if params and not params.startswith(" "):
            return None, "", f"Syntax: {verb} {keyword}<address>"
        if path.startswith("@"):
            # RFC 5321 §4.1.1.3 / §C: source routes are accepted and ignored.
            colon = path.find(":")
            if colon < 0:
                return None, "", "Bad address syntax"
            path = path[colon + 1 :]
        return path, params.strip(" "), ""

    def _check_address(self, address: str, allow_empty: bool) -> str:
        """Empty string when valid, else the reason."""
        if not address:
            return "" if allow_empty else "Bad address syntax"
        local, at, domain = address.rpartition("@")
        if not at:
            return "" if address.lower() == "postmaster" and not allow_empty else "Bad address syntax"
        if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
            return "Bad address syntax"
        if len(local.encode("utf-8")) > 64:
            return "Local part longer than 64 octets"
        if len(domain.encode("utf-8")) > 255:
            return "Domain longer than 255 octets"
        return ""

    def _parse_params(self, text: str, allowed: Mapping[str, str]) -> tuple[dict[str, str | None], Reply | None]:
        params: dict[str, str | None] = {}
        for item in text.split():
            match = _PARAM.fullmatch(item)
            if not match:
                return params, self._r(501, "5.5.4", "Syntax error in parameters")
            key, value = match.group(1).upper(), match.group(2)
            extension = allowed.get(key)
            if extension is None or extension not in self._advertised():
                # The name is cut so that the reply line stays within RFC 5321 §4.5.3.1.5.
                return params, self._r(555, "5.5.4", f"Unsupported parameter {key[:64]}")
            if key in params:
                # RFC 3461 §4.5, §5.1(a): a second RET or ENVID MUST get 501, a
                # repeated NOTIFY or ORCPT SHOULD. No extension here defines a
                # parameter that may repeat, so every repeat gets 501.
                return params, self._r(501, "5.5.4", f"Duplicate parameter {key}")
            params[key] = value
        return params, None

    def _advertised(self) -> frozenset[str]:
        """Extensions in force: those advertised, once the client used EHLO."""
        if self.greeting_verb != "EHLO":
            return frozenset()
        return self.config.extensions | frozenset(self._extra_extensions())

    def _extra_extensions(self) -> tuple[str, ...]:
        return ("AUTH",) if self._auth_offered() else ()

    def _starttls(self, verb: str, argument: str, raw: bytes) -> Event:
        cmd = Command(verb, argument, line=raw)
        if not self.config.starttls:
            return self._emit(cmd, self._r(502, "5.5.1", "Error: STARTTLS not offered"))
        if self.tls:
            return self._emit(cmd, self._r(503, "5.5.1", "Error: TLS already active"))
        if argument:
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: STARTTLS"))
        return self._emit(cmd, self._r(220, "2.0.0", "Ready to start TLS"))

    def _auth_cmd(self, verb: str, argument: str, raw: bytes) -> Event:
        parts = argument.split(" ")
        mechanism = parts[0].upper()
        initial = parts[1] if len(parts) > 1 else None
        cmd = _masked_auth(verb, argument, raw)
        config = self.config
        if not config.users:
            return self._emit(cmd, self._r(502, "5.5.1", "Error: AUTH not offered"))
        if self.auth_mechanism is not None:
            return self._emit(cmd, self._r(503, "5.5.1", "Error: already authenticated"))
        if not mechanism or len(parts) > 2:
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"))
        if not self.tls and config.starttls:
            self._violation("auth-before-tls", f"AUTH {mechanism} before STARTTLS")
        if not self.tls and (config.auth_require_tls or config.tls_required):
            # RFC 4954 §6: 538 when the mechanism requires an encrypted connection.
            return self._emit(cmd, self._r(538, "5.7.11", "Encryption required for requested authentication mechanism"))
        if mechanism not in config.auth_mechanisms:
            return self._emit(cmd, self._r(504, "5.5.4", "Unrecognized authentication type"))
        from .auth import AuthExchange  # only sessions that authenticate pay for hmac & co.

        exchange = AuthExchange(mechanism, config.users, config.hostname, initial)
        self._auth_candidate = exchange
        return self._emit(cmd, self._auth_reply(exchange.start()))

    def _auth_reply(self, outcome: Challenge | AuthResult) -> Reply:
        from .auth import Challenge

        if isinstance(outcome, Challenge):
            self._auth_outcome = None
            return Reply(334, outcome.text)
        self._auth_outcome = outcome
        if outcome.ok:
            return self._r(235, "2.7.0", "Authentication successful")
        if outcome.problem == "cancelled":
            return self._r(501, "5.7.0", "Authentication cancelled")
        if outcome.problem == "malformed":
            return self._r(501, "5.5.2", "Cannot decode response")
        return self._r(535, "5.7.8", "Authentication credentials invalid")

    def _auth_step(self, raw: bytes) -> Event:
        exchange = self._auth
        assert exchange is not None
        return self._emit(AuthResponse(), self._auth_reply(exchange.respond(raw.decode("utf-8", "replace").strip())))

    def _auth_answered(self, reply: Reply) -> None:
        """The effect of the reply to an AUTH command or to a step of its exchange."""
        exchange = self._auth or self._auth_candidate
        if reply.code == 334 and exchange is not None and self._auth_outcome is None:
            self._auth = exchange
            return
        if reply.code == 235 and exchange is not None:
            outcome = self._auth_outcome
            claimed = outcome.user if outcome is not None else exchange.claimed_user
            self.auth_user = claimed if claimed is not None else ""
            self.auth_mechanism = exchange.mechanism
        self._auth = None
        self._auth_candidate = None
        self._auth_outcome = None

    def _envelope(
        self, verb: str, argument: str, raw: bytes, keyword: str, allowed: Mapping[str, str]
    ) -> tuple[Command, Reply | None]:
        """MAIL or RCPT parsed: the command, and the refusal when its path or parameters are bad."""
        address, params_text, error = self._parse_path(verb, argument, keyword)
        if address is None:
            return Command(verb, argument, line=raw), self._r(501, "5.5.4", error)
        mail = keyword == "FROM:"
        reason = self._check_address(address, allow_empty=mail)
        if reason:
            # RFC 3463: X.1.7 bad sender's mailbox syntax, X.1.3 bad destination's.
            bad = self._r(501, "5.1.7" if mail else "5.1.3", reason)
            return Command(verb, argument, address=address, line=raw), bad
        params, bad_params = self._parse_params(params_text, allowed)
        return Command(verb, argument, address=address, params=params, line=raw), bad_params

    def _mail(self, verb: str, argument: str, raw: bytes) -> Event:
        if self.config.tls_required and not self.tls:
            cmd = Command(verb, argument, line=raw)
            return self._emit(cmd, self._r(530, "5.7.0", "Must issue a STARTTLS command first"))
        if self.config.auth_required and self.auth_mechanism is None:
            cmd = Command(verb, argument, line=raw)
            return self._emit(cmd, self._r(530, "5.7.0", "Authentication required"))
        cmd, bad = self._envelope(verb, argument, raw, "FROM:", _MAIL_PARAMS)
        if bad is not None:
            return self._emit(cmd, bad)
        address, params = cmd.address, cmd.params
        assert address is not None
        size = params.get("SIZE")
        if "SIZE" in params:
            if size is None or not (size.isascii() and size.isdigit()):
                return self._emit(cmd, self._r(501, "5.5.4", "Syntax: SIZE=<octets>"))
            if int(size) > self.config.size_limit:
                return self._emit(cmd, self._r(552, "5.3.4", "Message size exceeds fixed maximum message size"))
        body = (params.get("BODY") or "").upper() if "BODY" in params else "7BIT"
        if body not in ("7BIT", "8BITMIME") and not (body == "BINARYMIME" and "BINARYMIME" in self._advertised()):
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: BODY=7BIT|8BITMIME"))
        if "SMTPUTF8" in params and params["SMTPUTF8"] is not None:
            return self._emit(cmd, self._r(501, "5.5.4", "SMTPUTF8 takes no value"))
        if "RET" in params and (params["RET"] or "").upper() not in ("FULL", "HDRS"):
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: RET=FULL|HDRS"))
        if "ENVID" in params and not _XTEXT.fullmatch(params["ENVID"] or "-"):
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: ENVID=xtext"))
        if not address.isascii() and "SMTPUTF8" not in params:
            # RFC 6531 §3.5: a non-ASCII reverse-path without SMTPUTF8 is
            # refused with 550 at MAIL (553 at RCPT), enhanced code X.6.7.
            self._violation("non-ascii-address", f"MAIL FROM:<{address}> without SMTPUTF8")
            return self._emit(cmd, self._r(550, "5.6.7", "Non-ASCII address needs SMTPUTF8"))
        if not address.isascii() and not _is_utf8(raw):
            return self._emit(cmd, self._not_utf8("MAIL", "5.1.7"))
        return self._emit(cmd, self._r(250, "2.1.0", "OK"))

    def _rcpt(self, verb: str, argument: str, raw: bytes) -> Event:
        assert self._txn is not None
        cmd, bad = self._envelope(verb, argument, raw, "TO:", _RCPT_PARAMS)
        if bad is not None:
            return self._emit(cmd, bad)
        address, params = cmd.address, cmd.params
        assert address is not None
        if "NOTIFY" in params:
            # RFC 3461 §4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element;
            # an RFC 822 "#" list, where null elements are allowed (RFC 822 §2.7).
            values = {v.upper() for v in (params["NOTIFY"] or "").split(",") if v}
            if not values or not values <= _NOTIFY or ("NEVER" in values and len(values) > 1):
                return self._emit(cmd, self._r(501, "5.5.4", "Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY"))
        if "ORCPT" in params and not self._valid_orcpt(params["ORCPT"] or ""):
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: ORCPT=addr-type;xtext"))
        if not address.isascii() and not self._txn.smtputf8:
            self._violation("non-ascii-address", f"RCPT TO:<{address}> without SMTPUTF8")
            return self._emit(cmd, self._r(553, "5.6.7", "Non-ASCII address needs SMTPUTF8"))
        if not address.isascii() and not _is_utf8(raw):
            return self._emit(cmd, self._not_utf8("RCPT", "5.1.3"))
        if len(self._txn.recipients) >= self.config.max_recipients:
            return self._emit(cmd, self._r(452, "4.5.3", "Too many recipients"))
        return self._emit(cmd, self._r(250, "2.1.5", "OK"))

    def _valid_orcpt(self, value: str) -> bool:
        """RFC 3461 §4.2: ``original-recipient-address = addr-type ";" xtext``."""
        addr_type, semicolon, address = value.partition(";")
        if not semicolon or not _ADDR_TYPE.fullmatch(addr_type):
            return False
        if self._txn is not None and self._txn.smtputf8 and addr_type.lower() == "utf-8":
            return _UTF8_XTEXT.fullmatch(address) is not None
        return _XTEXT.fullmatch(address) is not None

    def _not_utf8(self, verb: str, enhanced: str) -> Reply:
        # RFC 6531 §3.3: with SMTPUTF8 an address is UTF-8; other octets are a syntax error.
        self._violation("bad-octet", f"{verb} address is not valid UTF-8")
        return self._r(501, enhanced, "Bad address syntax: not UTF-8")

    def _data_cmd(self, verb: str, argument: str, raw: bytes) -> Event:
        assert self._txn is not None
        cmd = Command(verb, argument, line=raw)
        if argument:
            return self._emit(cmd, self._r(501, "5.5.4", "Syntax: DATA"))
        if self._txn.body == "BINARYMIME":
            # RFC 3030 §3: BINARYMIME content goes by BDAT only.
            return self._emit(cmd, self._r(503, "5.5.1", "Error: BINARYMIME requires BDAT"))
        return self._emit(cmd, _GO_AHEAD)

    def _bdat(self, verb: str, argument: str, raw: bytes) -> Event | None:
        return self._start_chunk(Command(verb, argument, line=raw), None)

    def _start_chunk(self, cmd: Command, refusal: Reply | None) -> Event | None:
        """Read the chunk of a BDAT whose size is known; ``refusal`` answers it after its chunk."""
        size, last = _chunk_header(cmd.argument)
        assert size is not None
        if last is None and refusal is None:
            # RFC 3030 §2: the size is known, so the chunk is read and
            # discarded before the 501, and the session stays in step.
            refusal = self._r(501, "5.5.4", "Syntax: BDAT <size> [LAST]")
        self._chunk_command = cmd
        self._chunk_mark = len(self._txn.chunks) if self._txn is not None else 0
        self._chunk_left = size
        self._chunk_last = bool(last)
        self._chunk_refused = refusal is not None
        self._chunk_refusal = refusal
        self._mode = _Mode.CHUNK
        return self._parse()

    def _parse_chunk(self) -> Event | None:
        take = min(self._chunk_left, len(self._buffer))
        txn = self._txn
        if take:
            if not self._chunk_refused and txn is not None:
                if txn.chunk_size + take <= self.config.size_limit:
                    txn.chunks += self._buffer[:take]
                txn.chunk_size += take
            del self._buffer[:take]
            self._chunk_left -= take
        if self._chunk_left:
            return None
        self._mode = _Mode.LINE
        cmd = self._chunk_command
        assert cmd is not None
        if self._chunk_refused or txn is None:
            refusal = self._chunk_refusal or self._r(503, "5.5.1", "Error: need RCPT command")
            self._chunk_refusal = None
            return self._emit(cmd, refusal)
        over = txn.chunk_size > self.config.size_limit
        if txn.failed and not over:
            return self._emit(cmd, self._r(503, "5.5.1", "Error: an earlier BDAT failed; send RSET"))
        if not self._chunk_last:
            if over:
                return self._emit(cmd, self._r(552, "5.3.4", "Message size exceeds fixed maximum message size"))
            return self._emit(cmd, self._r(250, "2.0.0", f"{txn.chunk_size} octets received"))
        data = b"" if over else bytes(txn.chunks)
        txn.chunks = bytearray()
        return self._message(cmd, data, txn.chunk_size, over)

    def _parse_data(self) -> Event | None:
        if self._overflow:
            return self._count_data()
        data = self._data
        end = data.find(b"\r\n.\r\n", max(self._scan - 4, 0))
        if end < 0:
            self._scan = len(data)
            if len(data) - 4 <= self.config.size_limit:
                # All but the last four octets are content: check them now,
                # while the rest arrives, rather than all at the end.
                self._survey.scan(data, len(data) - 4)
                return None
            # With no end marker here, every "CRLF." wholly before the last two
            # octets starts a dot-stuffed line: count them, each once.
            self._stuffed += data.count(b"\r\n.", max(self._counted - 2, 0), len(data) - 2)
            self._counted = len(data) - 2
            if len(data) - 4 - self._stuffed > self.config.size_limit:
                # The content is surely over the limit whatever follows: from
                # now on count it and keep none of it, so memory stays bounded.
                self._overflow = True
                self._buffer = data
                self._data = bytearray()
                self._data_size = -2  # the CRLF of the DATA line, not content
                return self._count_data()
            return None
        survey = self._survey
        survey.scan(data, end + 2)
        rest = data[end + 5 :]
        del data[end + 2 :]
        self._buffer = rest
        if survey.stuffed:
            # RFC 5321 §4.5.2: "If the first character is a period and there are
            # other characters on the line, the first character is deleted."
            data = data.replace(b"\r\n.", b"\r\n")
        del data[:2]
        self._data = bytearray()
        content = bytes(data)
        if content and self._txn is not None:
            self._report_content(content, survey, self._txn)
        return self._end_data(content, oversized=len(data) > self.config.size_limit)

    def _count_data(self) -> Event | None:
        """Over ``size_limit``: count the unstuffed octets, keep only what a split end marker needs."""
        buf = self._buffer
        end = buf.find(b"\r\n.\r\n")
        if end < 0:
            drop = max(len(buf) - 4, 0)
            self._data_size += drop - buf.count(b"\r\n.", 0, drop + 2)
            del buf[:drop]
            return None
        self._data_size += end + 2 - buf.count(b"\r\n.", 0, end + 2)
        del buf[: end + 5]
        return self._end_data(b"", oversized=True)

    def _end_data(self, content: bytes, oversized: bool) -> Event:
        txn = self._txn
        assert txn is not None
        assert self._chunk_command is not None
        # What arrives before the message is answered is commands again.
        self._mode = _Mode.LINE
        size = self._data_size if oversized and not content else len(content)
        return self._message(self._chunk_command, b"" if oversized else content, size, oversized)

    def _report_content(self, content: bytes, survey: _Survey, txn: _Transaction) -> None:
        """Record bare CR/LF, overlong lines and undeclared 8-bit data, from the survey."""
        bare_lf = survey.lf != survey.crlf
        if bare_lf:
            self._violation("bare-lf", "bare LF in message content")
        if survey.cr != survey.crlf:
            self._violation("bare-cr", "bare CR in message content")
        # Lines end at CRLF only; the survey found a place where one might be too long.
        if (bare_lf or survey.maybe_long) and max(map(len, content.split(b"\r\n"))) > TEXT_LINE_LIMIT - 2:
            self._violation("line-too-long", f"message content line over {TEXT_LINE_LIMIT} octets")
        if txn.body == "7BIT" and not survey.ascii:
            self._violation("8bit-data", "8-bit message content without BODY=8BITMIME")

    def _message(self, cmd: Command, data: bytes, size: int, oversized: bool) -> Event:
        txn = self._txn
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
        if oversized:
            default = self._r(552, "5.3.4", "Message size exceeds fixed maximum message size")
        else:
            default = self._r(250, "2.0.0", f"OK: {size} octets queued")
        return self._emit(event, default)

    # Effects of a reply.

    def _apply(self, cmd: Command, reply: Reply) -> None:
        verb, ok = cmd.verb, 200 <= reply.code < 300
        if verb in ("HELO", "EHLO") and ok:
            self.greeting_verb = verb
            self.helo_name = cmd.main_argument
            self._abort_transaction()
            self.state = State.READY
            self._read_limit = max(map(self._verb_limit, LINE_EXTENSIONS))
        elif verb == "MAIL" and ok:
            params = dict(cmd.params)
            self._txn = _Transaction(
                sender=cmd.address if cmd.address is not None else cmd.argument,
                params=params,
                smtputf8="SMTPUTF8" in params,
                body=(params.get("BODY") or "7BIT").upper(),
            )
            self.state = State.MAIL
        elif verb == "RCPT" and self._txn is not None:
            self._txn.rcpt_attempts += 1
            if ok:
                self._txn.recipients.append(cmd.address if cmd.address is not None else cmd.argument)
                self._txn.rcpt_params.append(dict(cmd.params))
                self.state = State.RCPT
        elif verb == "DATA" and reply.code == 354 and self._txn is not None:
            self._mode = _Mode.DATA
            self._chunk_command = cmd
            # The content starts right after this line; what was pipelined
            # behind DATA is already in the buffer.
            self._data = bytearray(b"\r\n")
            self._data += self._buffer
            self._buffer = bytearray()
            self._scan = 0
            self._stuffed = self._counted = 0
            self._data_size = 0
            self._overflow = False
            self._survey = _Survey()
            self.state = State.DATA
        elif verb == "BDAT" and self._txn is not None:
            if not ok and self.state in (State.RCPT, State.BDAT):
                # RFC 3030 §2: "If a 5XX or 4XX code is received by the
                # sender-SMTP in response to a BDAT chunk, the transaction
                # should be considered failed": no chunk of it is kept, and
                # more chunks get 503 until RSET.
                del self._txn.chunks[self._chunk_mark :]
                self._txn.failed = True
            elif ok and not self._chunk_refused and self.state is State.RCPT and not self._chunk_last:
                self.state = State.BDAT
        elif verb == "RSET" and ok:
            self._abort_transaction()
            if self.state is not State.INITIAL:
                self.state = State.READY
        elif verb == "QUIT" and reply.code == 221:
            self._abort_transaction()
            self.state = State.CLOSED
        elif verb == "AUTH":
            self._auth_answered(reply)
        elif verb == "STARTTLS" and reply.code == 220:
            if self._buffer:
                # RFC 3207 §4.2 / CVE-2011-0411: plaintext pipelined behind
                # STARTTLS must not be taken as coming over TLS: drop it.
                self._violation("starttls-injection", f"{len(self._buffer)} octets pipelined after STARTTLS")
                self._buffer.clear()
            self.starttls_pending = True


class _Survey:
    """The content checks of DATA, made on the raw content a piece at a time as it arrives.

    The raw content is the CRLF ending the DATA line, the dot-stuffed lines and
    the end marker. Dot-unstuffing only removes dots, and the leading CRLF and
    the marker's CRLF are pairs, so the counts of CR, LF and CRLF, and whether
    all octets are ASCII, tell about the message content as well.

    Lines over the limit: a line of more than ``TEXT_LINE_LIMIT - 2`` octets
    spans at least ``TEXT_LINE_LIMIT - 1`` octets without an LF, which always
    cover one of the aligned windows of ``TEXT_LINE_LIMIT // 2`` octets. When no
    such window is free of LF (the usual case), no line is too long, found
    without splitting the content into a list of lines.
    """

    __slots__ = ("ascii", "cr", "crlf", "done", "lf", "maybe_long", "stuffed", "window")

    WIDTH = TEXT_LINE_LIMIT // 2

    def __init__(self) -> None:
        self.done = 0  # octets of the raw content scanned
        self.cr = self.lf = self.crlf = 0
        self.ascii = True
        self.stuffed = False  # a "CRLF." was seen: some line is dot-stuffed
        self.maybe_long = False
        self.window = 0  # start of the next aligned window to look at

    def scan(self, data: bytearray, limit: int) -> None:
        """Take in the raw content up to ``limit`` (exclusive)."""
        start = self.done
        if limit <= start:
            return
        self.done = limit
        self.cr += data.count(b"\r", start, limit)
        self.lf += data.count(b"\n", start, limit)
        # A pair or a "CRLF." across the previous limit is whole only now.
        self.crlf += data.count(b"\r\n", max(start - 1, 0), limit)
        if not self.stuffed and data.find(b"\r\n.", max(start - 2, 0), limit) >= 0:
            self.stuffed = True
        if self.ascii and not data[start:limit].isascii():
            self.ascii = False
        if not self.maybe_long:
            width, window, find = self.WIDTH, self.window, data.find
            while window + width <= limit:
                if find(b"\n", window, window + width) < 0:
                    self.maybe_long = True
                    break
                window += width
            self.window = window


def _chunk_header(argument: str) -> tuple[int | None, bool | None]:
    """RFC 3030 §2 ``bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]``: (chunk size,
    LAST); the size is None when it cannot be read, LAST is None when the rest is bad."""
    parts = argument.split()
    if not parts or not (parts[0].isascii() and parts[0].isdigit()):
        return None, None
    if len(parts) == 1:
        return int(parts[0]), False
    if len(parts) == 2 and parts[1].upper() == "LAST":
        return int(parts[0]), True
    return int(parts[0]), None


def _path_end(rest: str) -> int:
    """Where the ``>`` that closes the path opened by ``rest[0]`` is, or -1.

    RFC 5321 §4.1.2: a Quoted-string local part may hold ``>`` (qtextSMTP) and
    quoted pairs, so quoted text is skipped.
    """
    if '"' not in rest:
        return rest.find(">")
    quoted = False
    i, n = 1, len(rest)
    while i < n:
        char = rest[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ">":
            return i
        i += 1
    return -1


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _masked_auth(verb: str, argument: str, raw: bytes) -> Command:
    """The AUTH command as recorded: the initial response, a secret, is never kept."""
    mechanism, _, initial = argument.partition(" ")
    shown = f"{mechanism.upper()} ****" if initial else mechanism.upper()
    return Command(verb, shown, line=raw.split(b" ", 1)[0] + b" " + shown.encode())


_HANDLERS = {
    "HELO": Connection._helo,
    "EHLO": Connection._helo,
    "MAIL": Connection._mail,
    "RCPT": Connection._rcpt,
    "DATA": Connection._data_cmd,
    "BDAT": Connection._bdat,
    "RSET": Connection._simple,
    "NOOP": Connection._simple,
    "QUIT": Connection._simple,
    "VRFY": Connection._simple,
    "HELP": Connection._simple,
    "STARTTLS": Connection._starttls,
    "AUTH": Connection._auth_cmd,
}
