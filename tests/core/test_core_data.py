"""DATA: dot transparency, the end-of-data marker, limits and violations."""

from __future__ import annotations

import pytest
from smtp_core_driver import DATA_GO, EHLO, MAIL, MAIL_OK, RCPT, RCPT_OK, Driver, ehlo

from pytest_smtpd.protocol import (
    TEXT_LINE_LIMIT,
    Command,
    Connection,
    MessageReceived,
    ProtocolConfig,
    Reply,
    State,
)

START = MAIL + RCPT + b"DATA\r\n"
STARTED = MAIL_OK + RCPT_OK + DATA_GO


def deliver(content: bytes, config: ProtocolConfig | None = None, mail: bytes = MAIL) -> Driver:
    """Send one message whose content (dot-stuffed, terminator included) is ``content``."""
    driver = ehlo(config)
    driver.feed(mail + RCPT + b"DATA\r\n", content)
    return driver


def queued(size: int) -> bytes:
    return b"250 2.0.0 OK: %d octets queued\r\n" % size


def test_empty_message() -> None:
    driver = ehlo()
    assert driver.feed(START + b".\r\n") == STARTED + queued(0)
    assert driver.messages[0].data == b""
    assert driver.messages[0].size == 0


def test_message_event_carries_the_envelope() -> None:
    driver = deliver(b"Subject: x\r\n\r\nhello\r\n.\r\n")
    [(event, reply)] = [(e, r) for e, r in driver.answered if isinstance(e, MessageReceived)]
    assert event == MessageReceived(
        command=Command("DATA", "", line=b"DATA"),
        sender="alice@example.com",
        recipients=("bob@example.org",),
        mail_params={},
        rcpt_params=({},),
        data=b"Subject: x\r\n\r\nhello\r\n",
        size=21,
    )
    assert reply == Reply(250, "2.0.0 OK: 21 octets queued")
    assert driver.conn.state is State.READY
    assert not driver.conn.in_data


def test_two_messages_in_one_session() -> None:
    driver = ehlo()
    out = driver.feed(START + b"one\r\n.\r\n" + START + b"two\r\n.\r\n")
    assert out == STARTED + queued(5) + STARTED + queued(5)
    assert [m.data for m in driver.messages] == [b"one\r\n", b"two\r\n"]


def test_in_data_while_receiving_content() -> None:
    driver = ehlo()
    driver.feed(START, b"partial")
    assert driver.conn.in_data
    assert driver.conn.state is State.DATA


def test_commands_inside_data_are_content() -> None:
    driver = deliver(b"QUIT\r\nRSET\r\nMAIL FROM:<x@y.example>\r\n.\r\n")
    assert driver.messages[0].data == b"QUIT\r\nRSET\r\nMAIL FROM:<x@y.example>\r\n"
    assert driver.conn.state is State.READY


# ------------------------------------------------ RFC 5321 §4.5.2 transparency


@pytest.mark.parametrize(
    ("sent", "data"),
    [
        (b"..\r\n", b".\r\n"),
        (b"...\r\n", b"..\r\n"),
        (b"..foo\r\n", b".foo\r\n"),
        (b".foo\r\n", b"foo\r\n"),
        (b"a\r\n..\r\nb\r\n", b"a\r\n.\r\nb\r\n"),
        (b"a\r\n..\r\n..\r\n", b"a\r\n.\r\n.\r\n"),
        (b"a.\r\nb..\r\n", b"a.\r\nb..\r\n"),
        (b"..\r\n.x\r\n...y\r\n", b".\r\nx\r\n..y\r\n"),
    ],
)
def test_leading_dot_is_removed(sent: bytes, data: bytes) -> None:
    driver = deliver(sent + b".\r\n")
    assert driver.messages[0].data == data
    assert driver.messages[0].size == len(data)


@pytest.mark.parametrize(
    ("sent", "data"),
    [
        (b"a\n.\nb", b"a\n.\nb"),
        (b"a\r.\rb", b"a\r.\rb"),
        (b"a\n.\r\nb", b"a\n.\r\nb"),
        (b"a\r\n.\nb", b"a\r\n\nb"),
        (b"a\r\n.\rb", b"a\r\n\rb"),
        (b"a\n..\nb", b"a\n..\nb"),
        (b"a\r\r\n.\r\r\nb", b"a\r\r\n\r\r\nb"),
    ],
)
def test_only_crlf_dot_crlf_ends_data(sent: bytes, data: bytes) -> None:
    driver = ehlo()
    smuggled = b"\r\nMAIL FROM:<evil@example.com>\r\n"
    out = driver.feed(START + sent + smuggled + b".\r\n")
    assert out == STARTED + queued(len(data) + len(smuggled))
    [message] = driver.messages
    assert message.data == data + smuggled
    assert message.sender == "alice@example.com"


def test_bare_lf_is_kept_and_recorded() -> None:
    driver = deliver(b"a\nb\r\n.\r\n")
    assert driver.messages[0].data == b"a\nb\r\n"
    assert driver.kinds == ["bare-lf"]


def test_bare_cr_is_kept_and_recorded() -> None:
    driver = deliver(b"a\rb\r\n.\r\n")
    assert driver.messages[0].data == b"a\rb\r\n"
    assert driver.kinds == ["bare-cr"]


def test_clean_content_records_no_violation() -> None:
    driver = deliver(b"Subject: ok\r\n\r\n" + b"x" * 998 + b"\r\n.\r\n")
    assert driver.kinds == []


def test_line_over_1000_octets_is_kept_and_recorded() -> None:
    line = b"x" * (TEXT_LINE_LIMIT - 1)
    driver = deliver(b"short\r\n" + line + b"\r\nend\r\n.\r\n")
    assert driver.messages[0].data == b"short\r\n" + line + b"\r\nend\r\n"
    assert driver.kinds == ["line-too-long"]


def test_last_line_without_crlf_counts_for_the_limit() -> None:
    driver = deliver(b"x" * TEXT_LINE_LIMIT + b"\r\n.\r\n")
    assert driver.kinds == ["line-too-long"]


# ------------------------------------------------------------------ 8BITMIME


def test_8bit_content_without_body_param_is_a_violation() -> None:
    driver = deliver("Subject: café\r\n\r\n.\r\n".encode())
    assert driver.messages[0].data == "Subject: café\r\n\r\n".encode()
    assert driver.kinds == ["8bit-data"]


def test_8bit_content_with_body_7bit_is_a_violation() -> None:
    driver = deliver(b"\xff\r\n.\r\n", mail=b"MAIL FROM:<alice@example.com> BODY=7BIT\r\n")
    assert driver.kinds == ["8bit-data"]


@pytest.mark.parametrize("body", [b"8BITMIME", b"8bitmime"])
def test_8bit_content_with_body_8bitmime(body: bytes) -> None:
    driver = deliver(b"\xff\xfe\x80\r\n.\r\n", mail=b"MAIL FROM:<alice@example.com> BODY=" + body + b"\r\n")
    [message] = driver.messages
    assert message.data == b"\xff\xfe\x80\r\n"
    assert message.mail_params == {"BODY": body.decode()}
    assert driver.kinds == []


@pytest.mark.parametrize("body", [b"BODY=BINARYMIME", b"BODY=9BIT", b"BODY"])
def test_unknown_body_is_501(body: bytes) -> None:
    assert ehlo().feed(b"MAIL FROM:<a@b.example> " + body + b"\r\n") == b"501 5.5.4 Syntax: BODY=7BIT|8BITMIME\r\n"


def test_body_param_after_helo_is_555() -> None:
    driver = Driver()
    driver.feed(b"HELO c\r\n")
    assert driver.feed(b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n") == b"555 5.5.4 Unsupported parameter BODY\r\n"


# ---------------------------------------------------------------------- SIZE


def test_size_param_within_limit() -> None:
    driver = ehlo(ProtocolConfig(size_limit=100))
    assert driver.feed(b"MAIL FROM:<a@b.example> SIZE=100\r\n") == MAIL_OK
    assert driver.events[-1] == Command(
        "MAIL",
        "FROM:<a@b.example> SIZE=100",
        address="a@b.example",
        params={"SIZE": "100"},
        line=b"MAIL FROM:<a@b.example> SIZE=100",
    )


def test_size_param_over_limit_is_552() -> None:
    driver = ehlo(ProtocolConfig(size_limit=100))
    out = driver.feed(b"MAIL FROM:<a@b.example> SIZE=101\r\n", RCPT)
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n503 5.5.1 Error: need MAIL command\r\n"
    assert driver.conn.state is State.READY


@pytest.mark.parametrize("value", [b"SIZE", b"SIZE=", b"SIZE=abc", b"SIZE=-1", b"SIZE=1e3", "SIZE=²".encode()])
def test_bad_size_param_is_501(value: bytes) -> None:
    out = ehlo().feed(b"MAIL FROM:<a@b.example> " + value + b"\r\n", b"NOOP\r\n")
    assert out.startswith(b"501 5.5.4 ")
    assert out.endswith(b"\r\n250 2.0.0 OK\r\n")


def test_size_param_not_offered_is_555() -> None:
    driver = ehlo(ProtocolConfig(extensions=frozenset({"PIPELINING"})))
    assert driver.feed(b"MAIL FROM:<a@b.example> SIZE=10\r\n") == b"555 Unsupported parameter SIZE\r\n"


def test_content_at_the_limit_is_accepted() -> None:
    content = b"x" * 8 + b"\r\n"
    driver = deliver(content + b".\r\n", ProtocolConfig(size_limit=10))
    assert driver.messages[0].data == content


def test_content_over_the_limit_is_552_and_not_kept() -> None:
    config = ProtocolConfig(size_limit=10)
    driver = ehlo(config)
    out = driver.feed(START, b"x" * 9 + b"\r\n.\r\nNOOP\r\n")
    assert out == STARTED + b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
    [(event, _)] = [(e, r) for e, r in driver.answered if isinstance(e, MessageReceived)]
    assert event.data == b""
    assert event.size == 11
    assert driver.messages == []


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 4096])
def test_oversized_content_is_counted_in_bounded_memory(chunk_size: int) -> None:
    config = ProtocolConfig(size_limit=1000)
    driver = ehlo(config)
    driver.feed(START)
    content = (b"y" * 98 + b"\r\n") * 50
    peak = 0
    for i in range(0, len(content), chunk_size):
        assert driver.feed(content[i : i + chunk_size]) == b""
        peak = max(peak, driver.conn.buffered)
    assert peak <= config.size_limit + TEXT_LINE_LIMIT + chunk_size
    out = driver.feed(b".\r\n", b"NOOP\r\n")
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
    [(event, _)] = [(e, r) for e, r in driver.answered if isinstance(e, MessageReceived)]
    assert event.data == b""
    assert event.size == len(content)


def test_oversized_size_counts_dot_stuffing_once() -> None:
    config = ProtocolConfig(size_limit=100)
    driver = ehlo(config)
    driver.feed(START)
    for _ in range(100):
        driver.feed(b"..x\r\n")
    driver.feed(b".\r\n")
    [(event, reply)] = [(e, r) for e, r in driver.answered if isinstance(e, MessageReceived)]
    assert reply.code == 552
    assert event.size == 400


def test_dot_stuffing_does_not_count_towards_the_limit() -> None:
    # 5332 octets on the wire, 3999 after unstuffing: under a 4000 limit
    config = ProtocolConfig(size_limit=4000)
    content = b"..\r\n" * 1333
    for pieces in ([content], [content[i : i + 64] for i in range(0, len(content), 64)]):
        driver = ehlo(config)
        out = driver.feed(START, *pieces, b".\r\n")
        assert out == STARTED + queued(3999)
        assert driver.messages[0].data == b".\r\n" * 1333


def test_size_limit_applies_after_unstuffing_at_the_edge() -> None:
    driver = deliver(b"..\r\n" * 3 + b".\r\n", ProtocolConfig(size_limit=9))
    assert driver.messages[0].data == b".\r\n" * 3


# --------------------------------------------------- input while a reply waits


def test_input_arriving_before_the_message_is_answered_is_kept() -> None:
    conn = Connection()
    conn.send(conn.greeting())
    conn.receive_data(EHLO + START + b"hi\r\n.\r\n")
    while not isinstance(event := conn.next_event(), MessageReceived):
        assert event is not None
        conn.send(conn.default_reply())
    conn.receive_data(b"NOOP\r\n")
    assert conn.send(conn.default_reply()) == queued(4)
    assert conn.next_event() == Command("NOOP", "", line=b"NOOP")


def test_input_arriving_before_an_oversized_message_is_answered_is_kept() -> None:
    conn = Connection(ProtocolConfig(size_limit=10))
    conn.send(conn.greeting())
    conn.receive_data(EHLO + START)
    for _ in range(4):
        assert isinstance(conn.next_event(), Command)
        conn.send(conn.default_reply())
    for _ in range(50):
        conn.receive_data(b"x" * 98 + b"\r\n")
        assert conn.next_event() is None
    conn.receive_data(b".\r\n")
    assert isinstance(conn.next_event(), MessageReceived)
    conn.receive_data(b"NOOP\r\n")
    assert conn.send(conn.default_reply()).startswith(b"552 ")
    assert conn.next_event() == Command("NOOP", "", line=b"NOOP")


def test_content_pipelined_behind_a_pending_data_command() -> None:
    conn = Connection()
    conn.send(conn.greeting())
    conn.receive_data(EHLO + MAIL + RCPT + b"DATA\r\n")
    for _ in range(4):
        assert isinstance(conn.next_event(), Command)
        if conn.default_reply().code == 354:
            conn.receive_data(b"body\r\n.\r\n")
        conn.send(conn.default_reply())
    event = conn.next_event()
    assert isinstance(event, MessageReceived)
    assert event.data == b"body\r\n"
