"""LMTP (RFC 2033), byte for byte: LHLO, no HELO/EHLO, one reply per recipient."""

from __future__ import annotations

import pytest
from smtp_core_driver import DATA_GO, EHLO_REPLY, MAIL, MAIL_OK, RCPT_OK, Driver

from pytest_smtpd.protocol import Effect, Event, MessageReceived, ProtocolConfig, Reply, State

LMTP = ProtocolConfig(lmtp=True)
LHLO = b"LHLO client.example\r\n"
# RFC 2033 §4.1: LHLO is answered as EHLO is.
LHLO_REPLY = EHLO_REPLY
RCPTS = b"RCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n"
QUEUED = b"250 2.0.0 OK: 4 octets queued\r\n"


def lhlo(config: ProtocolConfig = LMTP) -> Driver:
    driver = Driver(config)
    assert driver.feed(LHLO) == LHLO_REPLY
    return driver


def test_lhlo_is_answered_as_ehlo_is() -> None:
    driver = lhlo()
    assert driver.conn.greeting_verb == "LHLO"
    assert driver.conn.state is State.READY


def test_lmtp_always_offers_pipelining_and_enhanced_status_codes() -> None:
    # RFC 2033 §5: the LMTP server MUST support both.
    driver = Driver(ProtocolConfig(lmtp=True, extensions=frozenset({"8BITMIME"})))
    assert driver.feed(LHLO) == b"250-localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"


@pytest.mark.parametrize("verb", [b"HELO", b"EHLO", b"ehlo"])
def test_helo_and_ehlo_are_refused_in_lmtp(verb: bytes) -> None:
    driver = Driver(LMTP)
    assert driver.feed(verb + b" client.example\r\n") == b"500 5.5.1 Error: this is an LMTP server; use LHLO\r\n"
    assert driver.conn.state is State.INITIAL
    assert driver.feed(MAIL) == b"503 5.5.1 Error: send LHLO first\r\n"


def test_lhlo_is_not_a_command_in_smtp() -> None:
    driver = Driver(ProtocolConfig())
    assert driver.feed(LHLO) == b"500 5.5.2 Error: command not recognized\r\n"


@pytest.mark.parametrize(
    "content",
    [b"DATA\r\nhi\r\n.\r\n", b"BDAT 4 LAST\r\nhi\r\n"],
    ids=["DATA", "BDAT LAST"],
)
def test_one_reply_per_recipient_in_rcpt_order(content: bytes) -> None:
    seen: list[str] = []

    def decide(event: Event, default: Reply) -> Reply:
        if isinstance(event, MessageReceived):
            recipient = event.recipients[len(seen)]
            seen.append(recipient)
            return Reply(452, "4.2.2 Mailbox full") if recipient == "b@example.org" else default
        return default

    driver = lhlo()
    driver.decide = decide
    out = driver.feed(MAIL + RCPTS + content)
    go = DATA_GO if content.startswith(b"DATA") else b""
    assert out == MAIL_OK + RCPT_OK * 3 + go + QUEUED + b"452 4.2.2 Mailbox full\r\n" + QUEUED
    assert seen == ["a@example.org", "b@example.org", "c@example.org"]
    assert driver.conn.effect is Effect.MESSAGE
    assert driver.conn.state is State.READY


def test_every_recipient_refused_refuses_the_message() -> None:
    driver = lhlo()
    driver.decide = lambda e, d: Reply(550, "5.1.1 No such user") if isinstance(e, MessageReceived) else d
    out = driver.feed(MAIL + RCPTS + b"DATA\r\nhi\r\n.\r\n")
    assert out.endswith(DATA_GO + b"550 5.1.1 No such user\r\n" * 3)
    assert driver.conn.effect is Effect.MESSAGE_REFUSED


def test_too_large_a_message_gets_552_for_each_recipient() -> None:
    driver = Driver(ProtocolConfig(lmtp=True, size_limit=3))
    assert driver.feed(LHLO).startswith(b"250-localhost\r\n250-SIZE 3\r\n")
    out = driver.feed(MAIL + RCPTS + b"DATA\r\nhello\r\n.\r\n")
    assert out == MAIL_OK + RCPT_OK * 3 + DATA_GO + b"552 5.3.4 Message size exceeds fixed maximum message size\r\n" * 3


def test_a_recipient_refused_at_rcpt_gets_no_reply_after_the_content() -> None:
    driver = lhlo(ProtocolConfig(lmtp=True, max_recipients=2))
    out = driver.feed(MAIL + RCPTS + b"DATA\r\nhi\r\n.\r\n")
    assert out == MAIL_OK + RCPT_OK * 2 + b"452 4.5.3 Too many recipients\r\n" + DATA_GO + QUEUED * 2


def test_a_pipelined_transaction_is_answered_after_the_replies_in_order() -> None:
    driver = lhlo()
    second = b"MAIL FROM:<x@example.com>\r\nRCPT TO:<d@example.org>\r\nDATA\r\nyo\r\n.\r\n"
    out = driver.feed(MAIL + RCPTS + b"DATA\r\nhi\r\n.\r\n" + second + b"RSET\r\nQUIT\r\n")
    assert out == (
        MAIL_OK
        + RCPT_OK * 3
        + DATA_GO
        + QUEUED * 3
        + MAIL_OK
        + RCPT_OK
        + DATA_GO
        + QUEUED
        + b"250 2.0.0 OK\r\n"
        + b"221 2.0.0 Bye\r\n"
    )
    assert [m.recipients for m in driver.messages] == [("a@example.org", "b@example.org", "c@example.org")] * 3 + [
        ("d@example.org",)
    ]
    assert driver.conn.state is State.CLOSED
