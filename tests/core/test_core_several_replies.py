"""Several replies for one event: the contract LMTP (RFC 2033 §4.2) builds on.

With ``reply_per_recipient`` the reply after the content is one per recipient,
in RCPT order; every other event, and every event in SMTP, takes one."""

from __future__ import annotations

import pytest
from smtp_core_driver import DATA_GO, MAIL, MAIL_OK, RCPT_OK, ehlo

from pytest_smtpd.protocol import (
    Connection,
    Effect,
    LocalProtocolError,
    MessageReceived,
    ProtocolConfig,
    Reply,
    State,
)

PER_RECIPIENT = ProtocolConfig(reply_per_recipient=True)
OK = Reply(250, "2.1.5 delivered")
NO = Reply(550, "5.1.1 mailbox full")


def at_content_end(
    config: ProtocolConfig, recipients: int = 3, bdat: bool = False
) -> tuple[Connection, MessageReceived]:
    driver = ehlo(config)
    rcpts = b"".join(b"RCPT TO:<r%d@example.org>\r\n" % i for i in range(recipients))
    out = driver.feed(MAIL + rcpts + (b"" if bdat else b"DATA\r\n"))
    assert out == MAIL_OK + RCPT_OK * recipients + (b"" if bdat else DATA_GO)
    conn = driver.conn
    conn.receive_data(b"BDAT 4 LAST\r\nhi\r\n" if bdat else b"hi\r\n.\r\n")
    event = conn.next_event()
    assert isinstance(event, MessageReceived)
    return conn, event


@pytest.mark.parametrize("bdat", [False, True])
def test_one_reply_per_recipient_in_rcpt_order(bdat: bool) -> None:
    conn, event = at_content_end(PER_RECIPIENT, bdat=bdat)
    assert event.recipients == ("r0@example.org", "r1@example.org", "r2@example.org")
    assert conn.replies_due == 3
    assert conn.default_replies() == (conn.default_reply(),) * 3
    assert conn.send(OK) == b"250 2.1.5 delivered\r\n"
    assert (conn.replies_due, conn.effect, conn.state) == (2, Effect.NONE, State.RCPT if bdat else State.DATA)
    with pytest.raises(LocalProtocolError, match="before asking for the next event"):
        conn.next_event()
    assert conn.send(NO) == b"550 5.1.1 mailbox full\r\n"
    assert conn.replies_due == 1
    assert conn.send(OK) == b"250 2.1.5 delivered\r\n"
    # The last reply takes effect: accepted, as one recipient at least got 2xx.
    assert (conn.replies_due, conn.effect, conn.state) == (0, Effect.MESSAGE, State.READY)
    assert conn.transaction is None
    conn.receive_data(MAIL)
    assert conn.next_event() is not None
    assert conn.replies_due == 1


def test_every_recipient_refused_refuses_the_message() -> None:
    conn, _ = at_content_end(PER_RECIPIENT, recipients=2)
    conn.send(NO)
    conn.send(Reply(452, "4.2.2 over quota"))
    assert (conn.effect, conn.state) == (Effect.MESSAGE_REFUSED, State.READY)


def test_a_421_among_them_closes_after_the_last() -> None:
    conn, _ = at_content_end(PER_RECIPIENT, recipients=2)
    conn.send(Reply(421, "4.3.2 going down"))
    assert conn.state is State.DATA  # the other recipient still gets its reply
    conn.send(OK)
    assert (conn.effect, conn.state) == (Effect.CLOSE, State.CLOSED)


def test_smtp_takes_one_reply_for_the_message() -> None:
    conn, event = at_content_end(ProtocolConfig())
    assert len(event.recipients) == 3
    assert conn.replies_due == 1
    assert conn.default_replies() == (Reply(250, "2.0.0 OK: 4 octets queued"),)
    conn.send(conn.default_reply())
    assert (conn.replies_due, conn.effect) == (0, Effect.MESSAGE)


def test_other_events_take_one_reply_with_per_recipient_replies() -> None:
    driver = ehlo(PER_RECIPIENT)
    driver.conn.receive_data(MAIL)
    assert driver.conn.next_event() is not None
    assert driver.conn.replies_due == 1
    driver.conn.send(driver.conn.default_reply())
    assert driver.conn.replies_due == 0
    with pytest.raises(LocalProtocolError):
        driver.conn.default_replies()
