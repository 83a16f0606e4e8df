"""PIPELINING (RFC 2920): the replies do not depend on how the input was split."""

from __future__ import annotations

import pytest
from smtp_core_driver import BYE, DATA_GO, EHLO, EHLO_REPLY, MAIL_OK, RCPT_OK, Driver

from pytest_smtpd.protocol import MessageReceived

SESSION = (
    EHLO
    + b"MAIL FROM:<alice@example.com> SIZE=64\r\n"
    + b"RCPT TO:<bob@example.org>\r\n"
    + b"RCPT TO:<carol@example.org> NOTIFY=NEVER\r\n"
    + b"DATA\r\n"
    + b"Subject: pipelined\r\n\r\n..dot\r\nbare\nlf\r\n.\r\n"
    + b"QUIT\r\n"
)
CONTENT = b"Subject: pipelined\r\n\r\n.dot\r\nbare\nlf\r\n"
EXPECTED = (
    EHLO_REPLY + MAIL_OK + RCPT_OK + RCPT_OK + DATA_GO + b"250 2.0.0 OK: %d octets queued\r\n" % len(CONTENT) + BYE
)

BDAT_SESSION = (
    EHLO
    + b"MAIL FROM:<alice@example.com>\r\n"
    + b"RCPT TO:<bob@example.org>\r\n"
    + b"BDAT 7\r\n\r\n.\r\n\r\nBDAT 3 LAST\r\nend"
    + b"QUIT\r\n"
)
BDAT_EXPECTED = (
    EHLO_REPLY + MAIL_OK + RCPT_OK + b"250 2.0.0 7 octets received\r\n250 2.0.0 OK: 10 octets queued\r\n" + BYE
)


def outcome(*pieces: bytes) -> tuple[bytes, list[MessageReceived], list[str]]:
    driver = Driver()
    out = driver.feed(*pieces)
    return out, driver.messages, driver.kinds


def test_whole_session_in_one_write() -> None:
    out, [message], kinds = outcome(SESSION)
    assert out == EXPECTED
    assert message.data == CONTENT
    assert message.recipients == ("bob@example.org", "carol@example.org")
    assert message.mail_params == {"SIZE": "64"}
    assert message.rcpt_params == ({}, {"NOTIFY": "NEVER"})
    assert kinds == ["bare-lf"]


@pytest.mark.parametrize("cut", range(1, len(SESSION)))
def test_session_split_in_two_anywhere(cut: int) -> None:
    out, messages, kinds = outcome(SESSION[:cut], SESSION[cut:])
    assert out == EXPECTED
    assert [m.data for m in messages] == [CONTENT]
    assert kinds == ["bare-lf"]


def test_session_one_byte_at_a_time() -> None:
    out, messages, kinds = outcome(*(SESSION[i : i + 1] for i in range(len(SESSION))))
    assert out == EXPECTED
    assert [m.data for m in messages] == [CONTENT]
    assert kinds == ["bare-lf"]


def test_bdat_session_in_one_write() -> None:
    out, [message], _ = outcome(BDAT_SESSION)
    assert out == BDAT_EXPECTED
    assert message.data == b"\r\n.\r\n\r\nend"


@pytest.mark.parametrize("cut", range(1, len(BDAT_SESSION)))
def test_bdat_session_split_in_two_anywhere(cut: int) -> None:
    out, messages, _ = outcome(BDAT_SESSION[:cut], BDAT_SESSION[cut:])
    assert out == BDAT_EXPECTED
    assert [m.data for m in messages] == [b"\r\n.\r\n\r\nend"]


def test_bdat_session_one_byte_at_a_time() -> None:
    out, messages, _ = outcome(*(BDAT_SESSION[i : i + 1] for i in range(len(BDAT_SESSION))))
    assert out == BDAT_EXPECTED
    assert [m.data for m in messages] == [b"\r\n.\r\n\r\nend"]


def test_pipelined_errors_are_answered_in_order() -> None:
    out, messages, _ = outcome(
        EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x>\r\nRCPT TO:<c@d.example>\r\nBOGUS\r\nDATA\r\nhi\r\n.\r\n"
    )
    assert out == (
        EHLO_REPLY
        + MAIL_OK
        + b"501 5.1.3 Bad address syntax\r\n"
        + RCPT_OK
        + b"500 5.5.2 Error: command not recognized\r\n"
        + DATA_GO
        + b"250 2.0.0 OK: 4 octets queued\r\n"
    )
    assert [m.recipients for m in messages] == [("c@d.example",)]


def test_content_after_refused_data_is_read_as_commands() -> None:
    out, messages, _ = outcome(EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
    assert out == (
        EHLO_REPLY
        + MAIL_OK
        + b"501 5.1.3 Bad address syntax\r\n"
        + b"554 5.5.1 Error: no valid recipients\r\n"
        + b"500 5.5.2 Error: command not recognized\r\n" * 2
        + BYE
    )
    assert messages == []


def test_two_transactions_in_one_write() -> None:
    txn = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n%s\r\n.\r\n"
    out, messages, _ = outcome(EHLO + txn % b"one" + txn % b"two" + b"QUIT\r\n")
    queued = b"250 2.0.0 OK: 5 octets queued\r\n"
    assert out == EHLO_REPLY + (MAIL_OK + RCPT_OK + DATA_GO + queued) * 2 + BYE
    assert [m.data for m in messages] == [b"one\r\n", b"two\r\n"]
