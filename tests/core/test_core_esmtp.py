"""ESMTP parameters of MAIL and RCPT: SMTPUTF8, DSN, unknown ones."""

from __future__ import annotations

import pytest
from smtp_core_driver import MAIL, MAIL_OK, RCPT, RCPT_OK, Driver, ehlo

from pytest_smtpd.protocol import Command, ProtocolConfig

NON_ASCII = b"553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n"


def test_non_ascii_sender_without_smtputf8_is_550() -> None:
    # RFC 6531 §3.5: 550 for MAIL (553 is the reply to RCPT), enhanced code X.6.7.
    driver = ehlo()
    assert driver.feed("MAIL FROM:<jörg@example.com>\r\n".encode(), RCPT) == b"550" + NON_ASCII[3:] + (
        b"503 5.5.1 Error: need MAIL command\r\n"
    )
    assert driver.kinds == ["non-ascii-address", "out-of-sequence"]


def test_non_ascii_recipient_without_smtputf8_is_553() -> None:
    driver = ehlo()
    assert driver.feed(MAIL, "RCPT TO:<用户@例子.广告>\r\n".encode()) == MAIL_OK + NON_ASCII
    assert driver.kinds == ["non-ascii-address"]


def test_smtputf8_allows_non_ascii_addresses() -> None:
    driver = ehlo()
    out = driver.feed(
        "MAIL FROM:<jörg@exämple.com> SMTPUTF8 BODY=8BITMIME\r\n".encode(),
        "RCPT TO:<用户@例子.广告>\r\n".encode(),
        "DATA\r\nSubject: grüße\r\n.\r\n".encode(),
    )
    assert out.startswith(MAIL_OK + RCPT_OK)
    [message] = driver.messages
    assert message.sender == "jörg@exämple.com"
    assert message.recipients == ("用户@例子.广告",)
    assert message.mail_params == {"SMTPUTF8": None, "BODY": "8BITMIME"}
    assert driver.kinds == []


def test_smtputf8_addresses_must_be_valid_utf8() -> None:
    driver = ehlo()
    out = driver.feed(
        b"MAIL FROM:<j\xf6rg@example.com> SMTPUTF8\r\n",  # Latin-1, not UTF-8
        "MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".encode(),
        b"RCPT TO:<\xff\xfe@example.com>\r\n",
        "RCPT TO:<用户@例子.广告>\r\n".encode(),
    )
    assert out == (
        b"501 5.1.7 Bad address syntax: not UTF-8\r\n"
        + MAIL_OK
        + b"501 5.1.3 Bad address syntax: not UTF-8\r\n"
        + RCPT_OK
    )
    assert driver.kinds == ["bad-octet", "bad-octet"]


def test_smtputf8_with_a_value_is_501() -> None:
    assert ehlo().feed(b"MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n") == b"501 5.5.4 SMTPUTF8 takes no value\r\n"


def test_smtputf8_not_offered_is_555() -> None:
    driver = ehlo(ProtocolConfig(extensions=frozenset({"8BITMIME"})))
    assert driver.feed(b"MAIL FROM:<a@b.example> SMTPUTF8\r\n") == b"555 Unsupported parameter SMTPUTF8\r\n"


def test_dsn_parameters_are_parsed() -> None:
    driver = ehlo()
    out = driver.feed(
        b"MAIL FROM:<a@b.example> RET=HDRS ENVID=QQ314159+2B1\r\n",
        b"RCPT TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.example\r\n",
        b"RCPT TO:<e@f.example> notify=never\r\n",
        b"DATA\r\nx\r\n.\r\n",
    )
    assert out.startswith(MAIL_OK + RCPT_OK + RCPT_OK)
    [message] = driver.messages
    assert message.mail_params == {"RET": "HDRS", "ENVID": "QQ314159+2B1"}
    assert message.rcpt_params == (
        {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;c@d.example"},
        {"NOTIFY": "never"},
    )


def test_rcpt_event_carries_its_params() -> None:
    driver = ehlo()
    driver.feed(MAIL, b"RCPT TO:<c@d.example> NOTIFY=DELAY\r\n")
    assert driver.events[-1] == Command(
        "RCPT",
        "TO:<c@d.example> NOTIFY=DELAY",
        address="c@d.example",
        params={"NOTIFY": "DELAY"},
        line=b"RCPT TO:<c@d.example> NOTIFY=DELAY",
    )


@pytest.mark.parametrize(
    ("param", "reply"),
    [
        (b"RET=ALL", b"501 5.5.4 Syntax: RET=FULL|HDRS\r\n"),
        (b"RET", b"501 5.5.4 Syntax: RET=FULL|HDRS\r\n"),
        (b"ENVID=a+zz", b"501 5.5.4 Syntax: ENVID=xtext\r\n"),
        (b"SIZE=1=2", b"501 5.5.4 Syntax error in parameters\r\n"),
        (b"-X", b"501 5.5.4 Syntax error in parameters\r\n"),
    ],
)
def test_bad_mail_params_are_501(param: bytes, reply: bytes) -> None:
    assert ehlo().feed(b"MAIL FROM:<a@b.example> " + param + b"\r\n") == reply


@pytest.mark.parametrize(
    ("param", "reply"),
    [
        (b"NOTIFY=NEVER,SUCCESS", b"501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY\r\n"),
        (b"NOTIFY=SOMETIMES", b"501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY\r\n"),
        (b"NOTIFY", b"501 5.5.4 Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY\r\n"),
        (b"ORCPT=c@d.example", b"501 5.5.4 Syntax: ORCPT=addr-type;xtext\r\n"),
    ],
)
def test_bad_rcpt_params_are_501(param: bytes, reply: bytes) -> None:
    driver = ehlo()
    assert driver.feed(MAIL, b"RCPT TO:<c@d.example> " + param + b"\r\n") == MAIL_OK + reply


def test_unknown_mail_param_is_555() -> None:
    driver = ehlo()
    assert driver.feed(b"MAIL FROM:<a@b.example> XFOO=1\r\n", RCPT) == (
        b"555 5.5.4 Unsupported parameter XFOO\r\n503 5.5.1 Error: need MAIL command\r\n"
    )


def test_mail_param_on_rcpt_is_555() -> None:
    assert ehlo().feed(MAIL, b"RCPT TO:<c@d.example> SIZE=10\r\n") == MAIL_OK + (
        b"555 5.5.4 Unsupported parameter SIZE\r\n"
    )


def test_auth_param_is_refused_without_auth() -> None:
    assert ehlo().feed(b"MAIL FROM:<a@b.example> AUTH=<>\r\n") == b"555 5.5.4 Unsupported parameter AUTH\r\n"


def test_dsn_not_offered_is_555() -> None:
    driver = ehlo(ProtocolConfig(extensions=frozenset({"ENHANCEDSTATUSCODES"})))
    assert driver.feed(b"MAIL FROM:<a@b.example> RET=FULL\r\n") == b"555 5.5.4 Unsupported parameter RET\r\n"


@pytest.mark.parametrize("param", [b"SIZE=10", b"BODY=8BITMIME", b"SMTPUTF8", b"RET=FULL", b"ENVID=x"])
def test_params_are_not_honoured_after_helo(param: bytes) -> None:
    driver = Driver()
    driver.feed(b"HELO client.example\r\n")
    name = param.split(b"=")[0]
    assert (
        driver.feed(b"MAIL FROM:<a@b.example> " + param + b"\r\n")
        == b"555 5.5.4 Unsupported parameter " + name + b"\r\n"
    )


def test_rcpt_params_are_not_honoured_after_helo() -> None:
    driver = Driver()
    driver.feed(b"HELO client.example\r\n", MAIL)
    assert driver.feed(b"RCPT TO:<c@d.example> NOTIFY=NEVER\r\n") == b"555 5.5.4 Unsupported parameter NOTIFY\r\n"


def test_long_unknown_param_name_gets_a_valid_reply() -> None:
    line = b"MAIL FROM:<> " + b"X" * 497 + b"\r\n"
    assert len(line) == 512
    out = ehlo().feed(line)
    assert out == b"555 5.5.4 Unsupported parameter " + b"X" * 64 + b"\r\n"


def test_param_names_are_case_insensitive() -> None:
    driver = ehlo()
    driver.feed(b"MAIL FROM:<a@b.example> size=5 body=8bitmime\r\n")
    assert driver.events[-1] == Command(
        "MAIL",
        "FROM:<a@b.example> size=5 body=8bitmime",
        address="a@b.example",
        params={"SIZE": "5", "BODY": "8bitmime"},
        line=b"MAIL FROM:<a@b.example> size=5 body=8bitmime",
    )
