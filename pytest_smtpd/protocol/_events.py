"""The events the core hands out, and the violations it notices."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Violation:
    """A client protocol violation, e.g. a bare LF in the message content.

    ``kind`` is one of ``bare-lf``, ``bare-cr``, ``line-too-long``, ``8bit-data``,
    ``non-ascii-address``, ``out-of-sequence``, ``bad-octet``, ``auth-before-tls``,
    ``bdat-size`` (a BDAT whose chunk size cannot be read: the connection is closed).
    """

    kind: str
    detail: str
    session_id: int = 0

    def __str__(self) -> str:
        return f"session {self.session_id}: {self.kind}: {self.detail}"
