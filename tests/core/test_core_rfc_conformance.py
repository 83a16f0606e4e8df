"""Where the RFCs leave a server no choice: command line limits raised by extensions,
DSN parameter syntax, quoted local parts, and the codes of enhanced replies."""

from __future__ import annotations

import pytest
from smtp_core_driver import DATA_GO, MAIL, MAIL_OK, RCPT, RCPT_OK, Driver, ehlo

from pytest_smtpd.protocol import COMMAND_LINE_LIMIT, Command, ProtocolConfig

TOO_LONG = b"500 5.5.6 Line too long\r\n"
NOOP_OK = b"250 2.0.0 OK\r\n"
#: RFC 5321 §4.5.3.1.4 raised by RFC 1870 (SIZE, 26), the longest BODY (16),
#: RFC 6531 (SMTPUTF8, 10) and RFC 3461 (RET=HDRS 9, ENVID= and 100 characters).
MAIL_LIMIT = COMMAND_LINE_LIMIT + 26 + 16 + 10 + 9 + 7 + 100
#: RFC 3461 §4.1, §4.2: the longest NOTIFY list and ORCPT= with 500 characters.
RCPT_LIMIT = COMMAND_LINE_LIMIT + 29 + 7 + 500


def padded(prefix: bytes, total: int, suffix: bytes = b"", fill: bytes = b"x") -> bytes:
    """``prefix`` + filler + ``suffix`` + CRLF, ``total`` octets in all."""
    return prefix + fill * (total - len(prefix) - len(suffix) - 2) + suffix + b"\r\n"


# ------------------------------------------------------- command line limits


def test_rcpt_with_long_address_and_dsn_parameters_is_accepted() -> None:
    # RFC 3461 §5.1(b): a server MUST NOT refuse RCPT for valid NOTIFY/ORCPT.
    address = b"l" * 64 + b"@" + b"d" * 180
    assert len(address) == 245
    line = b"RCPT TO:<%s> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;%s\r\n" % (address, address)
    assert len(line) == 539
    driver = ehlo()
    out = driver.feed(MAIL, line, b"DATA\r\n", b"x\r\n.\r\n")
    assert out == MAIL_OK + RCPT_OK + DATA_GO + b"250 2.0.0 OK: 3 octets queued\r\n"
    [message] = driver.messages
    assert message.rcpt_params == ({"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;" + address.decode()},)
    assert driver.kinds == []


def test_rcpt_line_at_its_limit_is_accepted_one_more_octet_is_500() -> None:
    prefix = b"RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;"
    driver = ehlo()
    out = driver.feed(MAIL, padded(prefix, RCPT_LIMIT), padded(prefix, RCPT_LIMIT + 1), b"NOOP\r\n")
    assert out == MAIL_OK + RCPT_OK + TOO_LONG + NOOP_OK
    assert driver.kinds == ["line-too-long"]


def test_mail_line_at_its_limit_is_accepted_one_more_octet_is_500() -> None:
    prefix = b"MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID="
    driver = ehlo()
    out = driver.feed(padded(prefix, MAIL_LIMIT + 1), padded(prefix, MAIL_LIMIT), b"NOOP\r\n")
    assert out == TOO_LONG + MAIL_OK + NOOP_OK
    assert driver.kinds == ["line-too-long"]


def test_auth_raises_the_mail_limit_by_500() -> None:
    # RFC 4954 §5: the AUTH parameter "extends the maximum line length of the
    # MAIL FROM command by 500 characters".
    driver = ehlo(ProtocolConfig(users={"u": "p"}))
    prefix = b"MAIL FROM:<a@example.org> AUTH=<"
    out = driver.feed(padded(prefix, MAIL_LIMIT + 501, b">"), padded(prefix, MAIL_LIMIT + 500, b">"))
    assert out == TOO_LONG + MAIL_OK


@pytest.mark.parametrize("verb", [b"NOOP ", b"VRFY ", b"HELO ", b"XYZZY "])
def test_other_verbs_keep_512_after_ehlo(verb: bytes) -> None:
    driver = ehlo()
    assert driver.feed(padded(verb, COMMAND_LINE_LIMIT + 1), b"NOOP\r\n") == TOO_LONG + NOOP_OK
    assert driver.kinds == ["line-too-long"]


def test_the_limits_are_512_after_helo() -> None:
    driver = Driver()
    driver.feed(b"HELO client.example\r\n")
    out = driver.feed(padded(b"MAIL FROM:<a@example.org> XA=", COMMAND_LINE_LIMIT + 1), MAIL)
    assert out == TOO_LONG + MAIL_OK


def test_the_limits_follow_the_extensions_configured() -> None:
    driver = ehlo(ProtocolConfig(extensions=frozenset({"ENHANCEDSTATUSCODES", "SIZE"})))
    prefix = b"MAIL FROM:<a@example.org> SIZE="
    lines = (padded(prefix, COMMAND_LINE_LIMIT + n, fill=b"9") for n in (27, 26))
    out = driver.feed(*lines)
    assert out == TOO_LONG + b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"


def test_a_long_rcpt_arriving_byte_by_byte_is_accepted() -> None:
    line = padded(b"RCPT TO:<bob@example.org> ORCPT=rfc822;", RCPT_LIMIT)
    driver = ehlo()
    driver.feed(MAIL)
    out = b"".join(driver.feed(line[i : i + 1]) for i in range(len(line)))
    assert out == RCPT_OK


def test_memory_stays_bounded_by_the_largest_limit() -> None:
    driver = ehlo(ProtocolConfig(users={"u": "p"}))
    for _ in range(20):
        assert driver.feed(b"RCPT TO:<" + b"a" * 500) == b""
        assert len(driver.conn._buffer) < MAIL_LIMIT + 500
    assert driver.feed(b">\r\n", b"NOOP\r\n") == TOO_LONG + NOOP_OK
    assert driver.kinds == ["line-too-long"]


# --------------------------------------------------------- duplicate parameters


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (b"MAIL FROM:<a@example.org> RET=FULL RET=HDRS", b"RET"),
        (b"MAIL FROM:<a@example.org> ENVID=x RET=FULL ENVID=y", b"ENVID"),
        (b"MAIL FROM:<a@example.org> SIZE=1 SIZE=2", b"SIZE"),
        (b"MAIL FROM:<a@example.org> BODY=7BIT body=8BITMIME", b"BODY"),
    ],
)
def test_repeated_mail_parameter_is_501(line: bytes, name: bytes) -> None:
    # RFC 3461 §4.5, §5.1(a): more than one RET or ENVID MUST get 501.
    driver = ehlo()
    assert driver.feed(line + b"\r\n", RCPT) == b"501 5.5.4 Duplicate parameter " + name + b"\r\n" + (
        b"503 5.5.1 Error: need MAIL command\r\n"
    )


@pytest.mark.parametrize(
    ("params", "name"),
    [(b"NOTIFY=NEVER NOTIFY=NEVER", b"NOTIFY"), (b"ORCPT=rfc822;a@b.example ORCPT=rfc822;c@d.example", b"ORCPT")],
)
def test_repeated_rcpt_parameter_is_501(params: bytes, name: bytes) -> None:
    driver = ehlo()
    out = driver.feed(MAIL, b"RCPT TO:<bob@example.org> " + params + b"\r\n", b"DATA\r\n")
    assert out == MAIL_OK + b"501 5.5.4 Duplicate parameter " + name + b"\r\n" + (
        b"554 5.5.1 Error: no valid recipients\r\n"
    )


# ------------------------------------------------------------------ ORCPT, NOTIFY

ORCPT_BAD = b"501 5.5.4 Syntax: ORCPT=addr-type;xtext\r\n"
NOTIFY_BAD = b"501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY\r\n"


@pytest.mark.parametrize(
    "value",
    [
        b"rfc822;a+zz@example.com",  # "+" starts a hexchar: two upper-case hex digits
        b"rfc822;a+2b@example.com",
        b";alice@example.com",  # addr-type is an atom: at least one character
        b"rfc822",
        b"rf(c;alice@example.com",
        b"rfc.822;alice@example.com",
        "utf-8;jörg@example.com".encode(),  # UTF-8 only with SMTPUTF8
    ],
)
def test_bad_orcpt_is_501(value: bytes) -> None:
    # RFC 3461 §4.2: original-recipient-address = addr-type ";" xtext.
    assert ehlo().feed(MAIL, b"RCPT TO:<bob@example.org> ORCPT=" + value + b"\r\n") == MAIL_OK + ORCPT_BAD


@pytest.mark.parametrize("value", [b"rfc822;a+2Bb@example.com", b"RFC822;bob@example.org", b"x-local;~!#$", b"rfc822;"])
def test_valid_orcpt_is_accepted(value: bytes) -> None:
    assert ehlo().feed(MAIL, b"RCPT TO:<bob@example.org> ORCPT=" + value + b"\r\n") == MAIL_OK + RCPT_OK


def test_utf8_orcpt_with_smtputf8() -> None:
    # RFC 6533 §3: with SMTPUTF8, an ORCPT of type utf-8 may carry UTF-8 as it is.
    driver = ehlo()
    out = driver.feed(
        b"MAIL FROM:<a@example.org> SMTPUTF8\r\n", "RCPT TO:<b@example.org> ORCPT=utf-8;jörg@example.com\r\n".encode()
    )
    assert out == MAIL_OK + RCPT_OK


@pytest.mark.parametrize(
    ("value", "stored"),
    [(b"SUCCESS,,FAILURE", "SUCCESS,,FAILURE"), (b"SUCCESS,", "SUCCESS,"), (b",never", ",never"), (b"DELAY", "DELAY")],
)
def test_notify_list_may_hold_null_elements(value: bytes, stored: str) -> None:
    # RFC 3461 §4.1 uses RFC 822 "#" lists, in which null elements are allowed (RFC 822 §2.7).
    driver = ehlo()
    assert driver.feed(MAIL, b"RCPT TO:<bob@example.org> NOTIFY=" + value + b"\r\n") == MAIL_OK + RCPT_OK
    [*_, (event, _)] = driver.answered
    assert isinstance(event, Command)
    assert event.params == {"NOTIFY": stored}


@pytest.mark.parametrize("value", [b",", b",,", b"NEVER,SUCCESS", b"SUCCESS,SOMETIMES"])
def test_bad_notify_is_501(value: bytes) -> None:
    assert ehlo().feed(MAIL, b"RCPT TO:<bob@example.org> NOTIFY=" + value + b"\r\n") == MAIL_OK + NOTIFY_BAD


# -------------------------------------------------------- quoted local parts


@pytest.mark.parametrize(
    ("line", "address"),
    [
        (b'MAIL FROM:<"a>b"@example.org>', '"a>b"@example.org'),
        (b'MAIL FROM:<"a\\">b"@example.org> SIZE=10', '"a\\">b"@example.org'),
        (b'MAIL FROM:<@relay.example:"x>y"@example.org>', '"x>y"@example.org'),
    ],
)
def test_quoted_local_part_may_hold_a_closing_bracket(line: bytes, address: str) -> None:
    # RFC 5321 §4.1.2: qtextSMTP is %d32-33 / %d35-91 / %d93-126, ">" included.
    driver = ehlo()
    assert driver.feed(line + b"\r\n", b'RCPT TO:<"c>d"@example.org>\r\n') == MAIL_OK + RCPT_OK
    mail, rcpt = driver.events[-2:]
    assert isinstance(mail, Command)
    assert isinstance(rcpt, Command)
    assert (mail.address, rcpt.address) == (address, '"c>d"@example.org')


@pytest.mark.parametrize("line", [b'MAIL FROM:<"a>b@example.org>', b'MAIL FROM:<"a>b"@example.org', b"MAIL FROM:<a>b>"])
def test_unclosed_quote_or_path_is_501(line: bytes) -> None:
    out = ehlo().feed(line + b"\r\n")
    assert out.startswith(b"501 5.")
