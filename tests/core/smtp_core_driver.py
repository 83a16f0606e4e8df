"""Drives a protocol :class:`Connection` the way a transport does, without sockets."""

from __future__ import annotations

from collections.abc import Callable

from pytest_smtpd.protocol import (
    Connection,
    ConnectionClosed,
    Event,
    MessageReceived,
    ProtocolConfig,
    Reply,
    Violation,
)

Decide = Callable[[Event, Reply], "Reply | tuple[int, str]"]

GREETING = b"220 localhost ESMTP pytest-smtpd\r\n"
EHLO = b"EHLO client.example\r\n"
EHLO_REPLY = (
    b"250-localhost\r\n"
    b"250-SIZE 33554432\r\n"
    b"250-PIPELINING\r\n"
    b"250-8BITMIME\r\n"
    b"250-SMTPUTF8\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-CHUNKING\r\n"
    b"250 DSN\r\n"
)
MAIL = b"MAIL FROM:<alice@example.com>\r\n"
RCPT = b"RCPT TO:<bob@example.org>\r\n"
MAIL_OK = b"250 2.1.0 OK\r\n"
RCPT_OK = b"250 2.1.5 OK\r\n"
DATA_GO = b"354 End data with <CR><LF>.<CR><LF>\r\n"
BYE = b"221 2.0.0 Bye\r\n"


class Driver:
    """Greets, feeds bytes, answers every event and collects what went out.

    ``decide(event, default)`` picks the reply to send; by default the core's own.
    """

    def __init__(
        self,
        config: ProtocolConfig | None = None,
        *,
        greeting: Reply | None = None,
        decide: Decide | None = None,
    ) -> None:
        self.conn = Connection(config)
        self.decide = decide
        self.answered: list[tuple[Event, Reply]] = []
        self.sent: list[bytes] = []
        self.closed: ConnectionClosed | None = None
        self.violations: list[Violation] = []
        self.greeting = self.conn.send(greeting if greeting is not None else self.conn.greeting())

    def feed(self, *chunks: bytes) -> bytes:
        """Feed each chunk in turn (``b""`` is end of input); the reply bytes sent."""
        out = bytearray()
        for chunk in chunks:
            self.conn.receive_data(chunk)
            out += self.pump()
        return bytes(out)

    def pump(self) -> bytes:
        """Answer every event the core has ready."""
        out = bytearray()
        while (event := self.conn.next_event()) is not None:
            if isinstance(event, ConnectionClosed):
                self.closed = event
                break
            while self.conn.replies_due:  # one per recipient after LMTP content
                default = self.conn.default_reply()
                reply = Reply.coerce(self.decide(event, default)) if self.decide is not None else default
                self.answered.append((event, reply))
                self.sent.append(self.conn.send(reply))
                out += self.sent[-1]
        self.violations += self.conn.take_violations()
        return bytes(out)

    @property
    def kinds(self) -> list[str]:
        """The kinds of the violations seen so far."""
        return [v.kind for v in self.violations]

    @property
    def messages(self) -> list[MessageReceived]:
        """Messages whose final reply was 2xx."""
        return [e for e, r in self.answered if isinstance(e, MessageReceived) and 200 <= r.code < 300]

    @property
    def events(self) -> list[Event]:
        """Every answered event, in order."""
        return [e for e, _ in self.answered]


def run(*chunks: bytes, config: ProtocolConfig | None = None, decide: Decide | None = None) -> bytes:
    """The reply bytes after the greeting for a session fed ``chunks``."""
    return Driver(config, decide=decide).feed(*chunks)


def ehlo(config: ProtocolConfig | None = None, decide: Decide | None = None) -> Driver:
    """A driver whose client already sent EHLO."""
    driver = Driver(config, decide=decide)
    driver.feed(EHLO)
    return driver
