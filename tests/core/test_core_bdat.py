"""CHUNKING and BDAT (RFC 3030)."""

from __future__ import annotations

import pytest
from smtp_core_driver import EHLO, MAIL, MAIL_OK, RCPT, RCPT_OK, Driver, ehlo

from pytest_smtpd.protocol import Command, MessageReceived, ProtocolConfig, Reply, State

START = MAIL + RCPT
STARTED = MAIL_OK + RCPT_OK


def received(total: int) -> bytes:
    return b"250 2.0.0 %d octets received\r\n" % total


def queued(size: int) -> bytes:
    return b"250 2.0.0 OK: %d octets queued\r\n" % size


def test_single_chunk_last() -> None:
    driver = ehlo()
    assert driver.feed(START, b"BDAT 12 LAST\r\nSubject: x\r\n") == STARTED + queued(12)
    [message] = driver.messages
    assert message.data == b"Subject: x\r\n"
    assert message.command == Command("BDAT", "12 LAST", line=b"BDAT 12 LAST")
    assert driver.conn.state is State.READY


def test_several_chunks() -> None:
    driver = ehlo()
    out = driver.feed(START, b"BDAT 3\r\nabc", b"BDAT 2\r\nde", b"BDAT 1 last\r\nf")
    assert out == STARTED + received(3) + received(5) + queued(6)
    assert driver.messages[0].data == b"abcdef"
    assert driver.messages[0].size == 6


def test_bdat_state_between_chunks() -> None:
    driver = ehlo()
    driver.feed(START, b"BDAT 3\r\nab")
    assert driver.conn.in_data
    driver.feed(b"c")
    assert not driver.conn.in_data
    assert driver.conn.state is State.BDAT


def test_bdat_zero_last_ends_the_message() -> None:
    driver = ehlo()
    out = driver.feed(START, b"BDAT 4\r\nabcd", b"BDAT 0 LAST\r\n")
    assert out == STARTED + received(4) + queued(4)
    assert driver.messages[0].data == b"abcd"


def test_bdat_zero_last_alone_is_an_empty_message() -> None:
    driver = ehlo()
    assert driver.feed(START, b"BDAT 0 LAST\r\n") == STARTED + queued(0)
    assert driver.messages[0].data == b""


def test_chunk_content_is_kept_verbatim() -> None:
    content = b"a\r\n.\r\n..b\r\nc\nd\re\x00\xff" + bytes(range(256))
    driver = ehlo()
    out = driver.feed(START, b"BDAT %d LAST\r\n" % len(content) + content + b"NOOP\r\n")
    assert out == STARTED + queued(len(content)) + b"250 2.0.0 OK\r\n"
    assert driver.messages[0].data == content


def test_chunk_arriving_one_byte_at_a_time() -> None:
    driver = ehlo()
    driver.feed(START)
    data = b"BDAT 10 LAST\r\n0123456789QUIT\r\n"
    out = b"".join(driver.feed(data[i : i + 1]) for i in range(len(data)))
    assert out == queued(10) + b"221 2.0.0 Bye\r\n"
    assert driver.messages[0].data == b"0123456789"


def test_data_after_bdat_is_503() -> None:
    driver = ehlo()
    out = driver.feed(START, b"BDAT 2\r\nab", b"DATA\r\n", b"BDAT 1 LAST\r\nc")
    assert out == STARTED + received(2) + b"503 5.5.1 Error: DATA not allowed after BDAT\r\n" + queued(3)
    assert driver.messages[0].data == b"abc"


def test_bdat_without_rcpt_consumes_the_chunk_then_503() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, b"BDAT 10\r\nNOOP\r\nXX\r\n", b"NOOP\r\n")
    assert out == MAIL_OK + b"503 5.5.1 Error: need RCPT command\r\n" + b"250 2.0.0 OK\r\n"
    assert driver.kinds == ["out-of-sequence"]
    assert driver.conn.state is State.MAIL


def test_bdat_without_mail_consumes_the_chunk_then_503() -> None:
    driver = ehlo()
    out = driver.feed(b"BDAT 6 LAST\r\nRSET\r\n", b"NOOP\r\n")
    assert out == b"503 5.5.1 Error: need MAIL command\r\n250 2.0.0 OK\r\n"


def test_bdat_after_refused_recipients_is_554() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, b"RCPT TO:<x>\r\n", b"BDAT 4 LAST\r\nRSET", b"NOOP\r\n")
    assert out == MAIL_OK + b"501 5.1.3 Bad address syntax\r\n554 5.5.1 Error: no valid recipients\r\n250 2.0.0 OK\r\n"


def test_bdat_not_advertised_is_502_after_the_chunk() -> None:
    driver = ehlo(ProtocolConfig(extensions=frozenset({"PIPELINING", "ENHANCEDSTATUSCODES"})))
    out = driver.feed(START, b"BDAT 6\r\nNOOP\r\n", b"NOOP\r\n")
    assert out == STARTED + b"502 5.5.1 Error: BDAT not offered\r\n250 2.0.0 OK\r\n"
    assert driver.conn.state is State.RCPT


def test_bdat_after_helo_is_502() -> None:
    driver = Driver()
    out = driver.feed(b"HELO c\r\n", START, b"BDAT 4 LAST\r\nabcd", b"NOOP\r\n")
    assert out == b"250 localhost\r\n" + STARTED + b"502 5.5.1 Error: BDAT not offered\r\n250 2.0.0 OK\r\n"
    assert driver.messages == []


SYNTAX = b"501 5.5.4 Syntax: BDAT <size> [LAST]\r\n"
UNFRAMED = b"501 5.5.4 Syntax: BDAT <size> [LAST]; no chunk size, closing connection\r\n"
#: A chunk that, read as commands, would be a whole transaction from another sender.
INJECTED = b"RSET\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nforged\r\n.\r\n"


@pytest.mark.parametrize("line", [b"BDAT 5 FINAL", b"BDAT 1 NOW", b"BDAT 1 LAST MORE", b"BDAT 0 LAST LAST"])
def test_bdat_syntax_error_with_a_size_discards_the_chunk_then_501(line: bytes) -> None:
    # RFC 3030 §2: "If a failure occurs after a BDAT command is received, the
    # receiver-SMTP MUST accept and discard the associated message data before
    # sending the appropriate 5XX or 4XX code."
    size = int(line.split()[1])
    driver = ehlo()
    out = driver.feed(START, line + b"\r\n" + b"NOOP\r\n"[:size], b"NOOP\r\n")
    assert out == STARTED + SYNTAX + b"250 2.0.0 OK\r\n"
    assert driver.conn.state is State.RCPT
    assert driver.messages == []


def test_bdat_syntax_error_chunk_holding_commands_is_never_executed() -> None:
    driver = ehlo()
    wire = b"BDAT %d FINAL\r\n" % len(INJECTED) + INJECTED
    out = driver.feed(START, wire, b"BDAT 1 LAST\r\nx", b"RSET\r\n", START, b"BDAT 2 LAST\r\nok")
    # The failed transaction takes no more chunks (RFC 3030 §2) until RSET.
    assert out == STARTED + SYNTAX + b"503 5.5.1 Error: an earlier BDAT failed; send RSET\r\n" + (
        b"250 2.0.0 OK\r\n" + STARTED + queued(2)
    )
    assert [(m.sender, m.data) for m in driver.messages] == [("alice@example.com", b"ok")]
    assert [e.verb for e in driver.events if isinstance(e, Command)].count("MAIL") == 2


@pytest.mark.parametrize(
    "line",
    [b"BDAT", b"BDAT x", b"BDAT -5", b"BDAT 1x LAST", b"BDAT +5", b"BDAT LAST", "BDAT ²".encode(), "BDAT ٣".encode()],
)
def test_bdat_without_a_readable_size_is_501_and_closes(line: bytes) -> None:
    # The end of the chunk is unknowable: nothing after this line may be read
    # as a command (it could be chunk data), so the session ends.
    driver = ehlo()
    out = driver.feed(START, line + b"\r\n" + INJECTED, b"QUIT\r\n")
    assert out == STARTED + UNFRAMED
    assert driver.conn.state is State.CLOSED
    assert driver.messages == []
    assert driver.kinds == ["bdat-size"]


@pytest.mark.parametrize("before", [b"", EHLO, EHLO + MAIL, b"HELO c\r\n" + START])
def test_bdat_without_a_size_closes_in_any_state(before: bytes) -> None:
    answered_before = Driver().feed(before)
    driver = Driver()
    out = driver.feed(before + b"BDAT abc\r\n" + INJECTED)
    assert out == answered_before + UNFRAMED
    assert driver.conn.state is State.CLOSED
    assert driver.messages == []


def test_bdat_without_a_size_closes_whatever_the_reply() -> None:
    driver = ehlo(decide=lambda e, d: Reply(250, "2.0.0 fine") if isinstance(e, Command) and e.verb == "BDAT" else d)
    assert driver.feed(START, b"BDAT\r\n" + INJECTED) == STARTED + b"250 2.0.0 fine\r\n"
    assert driver.conn.state is State.CLOSED
    assert driver.messages == []


def test_chunks_over_the_size_limit_are_discarded_then_552() -> None:
    driver = ehlo(ProtocolConfig(size_limit=4))
    too_big = b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    out = driver.feed(START, b"BDAT 5\r\n12345", b"BDAT %d LAST\r\n" % len(INJECTED) + INJECTED, b"NOOP\r\n")
    assert out == STARTED + too_big + too_big + b"250 2.0.0 OK\r\n"
    assert driver.messages == []
    assert [e.verb for e in driver.events if isinstance(e, Command)] == ["EHLO", "MAIL", "RCPT", "BDAT", "NOOP"]


def test_bdat_over_size_limit() -> None:
    config = ProtocolConfig(size_limit=10)
    driver = ehlo(config)
    too_big = b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    out = driver.feed(START, b"BDAT 8\r\n12345678", b"BDAT 8\r\n12345678", b"BDAT 0 LAST\r\n", b"NOOP\r\n")
    assert out == STARTED + received(8) + too_big + too_big + b"250 2.0.0 OK\r\n"
    [(event, _)] = [(e, r) for e, r in driver.answered if isinstance(e, MessageReceived)]
    assert event.data == b""
    assert event.size == 16
    assert driver.messages == []


def test_bdat_huge_chunk_is_not_kept() -> None:
    config = ProtocolConfig(size_limit=100)
    driver = ehlo(config)
    driver.feed(START, b"BDAT 100000 LAST\r\n")
    for _ in range(99):
        assert driver.feed(b"z" * 1000) == b""
        assert len(driver.conn._buffer) == 0
        txn = driver.conn.transaction
        assert txn is not None
        assert len(txn.chunks) <= config.size_limit
    out = driver.feed(b"z" * 1000 + b"NOOP\r\n")
    assert out == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"


def test_bdat_with_body_binarymime() -> None:
    config = ProtocolConfig(extensions=frozenset({"8BITMIME", "CHUNKING", "BINARYMIME", "ENHANCEDSTATUSCODES"}))
    driver = ehlo(config)
    out = driver.feed(b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", RCPT, b"DATA\r\n", b"BDAT 2 LAST\r\n\x00\xff")
    assert out == STARTED + b"503 5.5.1 Error: BINARYMIME requires BDAT\r\n" + queued(2)
    assert driver.messages[0].data == b"\x00\xff"
    assert driver.messages[0].mail_params == {"BODY": "BINARYMIME"}
    assert driver.kinds == []


def test_refused_chunk_fails_the_transaction_until_rset() -> None:
    def decide(event: object, default: Reply) -> Reply:
        if isinstance(event, Command) and event.verb == "BDAT" and event.argument == "2":
            return Reply(451, "4.3.0 try again")
        return default

    driver = ehlo(decide=decide)
    out = driver.feed(START, b"BDAT 2\r\nab", b"BDAT 1 LAST\r\nc", b"RSET\r\n", START, b"BDAT 1 LAST\r\nd")
    # RFC 3030 §2: no chunk may follow a refused one; the transaction is over.
    assert out == STARTED + b"451 4.3.0 try again\r\n" + (
        b"503 5.5.1 Error: an earlier BDAT failed; send RSET\r\n"
    ) + b"250 2.0.0 OK\r\n" + STARTED + queued(1)
    assert [m.data for m in driver.messages] == [b"d"]


def test_refused_last_chunk_is_not_delivered() -> None:
    driver = ehlo(decide=lambda e, d: Reply(550, "5.7.1 no") if isinstance(e, MessageReceived) else d)
    assert driver.feed(START, b"BDAT 1 LAST\r\nx", RCPT) == STARTED + b"550 5.7.1 no\r\n" + (
        b"503 5.5.1 Error: need MAIL command\r\n"
    )
    assert driver.messages == []


def test_bdat_pipelined_with_everything() -> None:
    driver = Driver()
    out = driver.feed(EHLO + START + b"BDAT 5\r\nhelloBDAT 6 LAST\r\n world" + b"QUIT\r\n")
    assert out.endswith(STARTED + received(5) + queued(11) + b"221 2.0.0 Bye\r\n")
    assert driver.messages[0].data == b"hello world"


def test_a_refused_chunk_is_never_part_of_the_message() -> None:
    # RFC 3030 §2: the chunk of a refused BDAT is read and discarded; a
    # scripted 250 to that BDAT does not bring it back.
    def decide(event: object, default: Reply) -> Reply:
        if isinstance(event, Command) and event.argument == "5 NOW":
            return Reply(250, "2.0.0 scripted")
        return default

    driver = ehlo(decide=decide)
    driver.feed(START, b"BDAT 5 NOW\r\nEVIL!", b"BDAT 3 LAST\r\nok\n")
    assert [(m.data, m.size) for m in driver.messages] == [(b"ok\n", 3)]
