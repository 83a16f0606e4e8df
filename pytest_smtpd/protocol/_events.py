"""The events the core hands out, and the violations it notices."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field


class LocalProtocolError(Exception):
    """The core was used wrongly: a reply without a pending event, an invalid reply."""


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


class ViolationKind(str, enum.Enum):
    """The kinds of :class:`Violation`; ``Violation.kind`` is the value, a plain string."""

    #: A bare LF: a command line or a line of content ended by LF alone.
    BARE_LF = "bare-lf"
    #: A CR not followed by LF in message content.
    BARE_CR = "bare-cr"
    #: A command line over its limit, or a content line over 1000 octets (RFC 5321 §4.5.3.1).
    LINE_TOO_LONG = "line-too-long"
    #: 8-bit message content without ``BODY=8BITMIME`` (RFC 6152).
    EIGHT_BIT_DATA = "8bit-data"
    #: A non-ASCII address without ``SMTPUTF8`` (RFC 6531 §3.5).
    NON_ASCII_ADDRESS = "non-ascii-address"
    #: A command its state does not allow.
    OUT_OF_SEQUENCE = "out-of-sequence"
    #: NUL or a bare CR in a command line, or an address that is not UTF-8.
    BAD_OCTET = "bad-octet"
    #: AUTH before STARTTLS where TLS is offered.
    AUTH_BEFORE_TLS = "auth-before-tls"
    #: A BDAT whose chunk size cannot be read: the connection is closed.
    BDAT_SIZE = "bdat-size"
    #: Plaintext pipelined behind STARTTLS (RFC 3207 §4.2): dropped.
    STARTTLS_INJECTION = "starttls-injection"
    #: The transport's own: a failed TLS handshake, and TLS errors after it.
    TLS_HANDSHAKE = "tls-handshake"
    TLS = "tls"
    #: The transport's own: a connection whose PROXY protocol header is not valid.
    PROXY_HEADER = "proxy-header"


@dataclass(frozen=True, slots=True)
class Violation:
    """A client protocol violation, e.g. a bare LF in the message content.

    ``kind`` is the value of one of the :class:`ViolationKind` members (``bare-lf``,
    ``line-too-long``, ``out-of-sequence``, ...), a plain string.
    """

    kind: str
    detail: str
    session_id: int = 0

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.kind}: {self.detail}"
