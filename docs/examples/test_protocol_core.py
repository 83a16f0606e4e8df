"""Driving the sans-IO protocol core by hand: bytes in, events and replies out."""

from pytest_smtpd.protocol import Command, Connection, Effect, MessageReceived, ProtocolConfig, Reply, State


def test_the_transport_loop() -> None:
    conn = Connection(ProtocolConfig(hostname="mx.example"))
    out = conn.send(conn.greeting())  # the greeting is the first reply
    assert out == b"220 mx.example ESMTP pytest-smtpd\r\n"

    # A client may pipeline (RFC 2920): events come out one at a time.
    conn.receive_data(b"HELO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\n")
    effects = []
    while (event := conn.next_event()) is not None:
        assert isinstance(event, Command)
        out = conn.send(conn.default_reply())  # or any reply: the one sent decides
        effects.append((event.verb, out, conn.effect))
    assert effects == [
        ("HELO", b"250 mx.example\r\n", Effect.GREETED),
        ("MAIL", b"250 2.1.0 OK\r\n", Effect.TRANSACTION),
        ("RCPT", b"250 2.1.5 OK\r\n", Effect.RECIPIENT),
    ]
    assert (conn.helo_name, conn.state) == ("client.example", State.RCPT)

    conn.receive_data(b"DATA\r\n")
    assert conn.next_event() == Command("DATA", line=b"DATA")
    conn.send(conn.default_reply())  # 354: what follows is content
    conn.receive_data(b"Subject: hi\r\n\r\n..dotted\r\n.\r\n")
    message = conn.next_event()
    assert isinstance(message, MessageReceived)
    assert message.data == b"Subject: hi\r\n\r\n.dotted\r\n"  # dot-unstuffed
    conn.send(Reply(554, "5.7.1 Rejected by the test"))  # a scripted refusal takes no effect
    assert (conn.effect, conn.state) == (Effect.MESSAGE_REFUSED, State.READY)


def test_one_reply_per_recipient() -> None:
    conn = Connection(ProtocolConfig(reply_per_recipient=True))
    conn.send(conn.greeting())
    conn.receive_data(b"EHLO c\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n")
    while conn.next_event() is not None:
        conn.send(conn.default_reply())
    conn.receive_data(b"BDAT 4 LAST\r\nhi\r\n")
    message = conn.next_event()
    assert isinstance(message, MessageReceived)
    replies = {"b@x.example": Reply(250, "2.1.5 OK"), "c@x.example": Reply(552, "5.2.2 Mailbox full")}
    assert conn.replies_due == len(message.recipients) == 2
    out = b"".join(conn.send(replies[recipient]) for recipient in message.recipients)
    assert out == b"250 2.1.5 OK\r\n552 5.2.2 Mailbox full\r\n"
    assert conn.effect is Effect.MESSAGE  # one recipient at least took it
