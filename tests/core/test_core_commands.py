"""Commands, their replies and the session state table, byte for byte."""

from __future__ import annotations

import pytest
from smtp_core_driver import (
    BYE,
    DATA_GO,
    EHLO,
    EHLO_REPLY,
    GREETING,
    MAIL,
    MAIL_OK,
    RCPT,
    RCPT_OK,
    Driver,
    ehlo,
    run,
)

from pytest_smtpd.protocol import (
    Command,
    Connection,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    MessageReceived,
    ProtocolConfig,
    Reply,
    State,
)


def test_greeting_names_the_hostname() -> None:
    assert Driver().greeting == GREETING
    assert Driver(ProtocolConfig(hostname="mx.test")).greeting == b"220 mx.test ESMTP pytest-smtpd\r\n"


def test_helo_reply_and_state() -> None:
    driver = Driver()
    assert driver.feed(b"HELO client.example\r\n") == b"250 localhost\r\n"
    assert driver.conn.state is State.READY
    assert driver.conn.greeting_verb == "HELO"
    assert driver.conn.helo_name == "client.example"


def test_ehlo_reply_lists_default_extensions() -> None:
    driver = Driver()
    assert driver.feed(EHLO) == EHLO_REPLY
    assert driver.conn.greeting_verb == "EHLO"
    assert driver.conn.helo_name == "client.example"


def test_ehlo_lists_only_configured_extensions() -> None:
    config = ProtocolConfig(hostname="mx.test", size_limit=1000, extensions=frozenset({"size", "pipelining"}))
    assert run(EHLO, config=config) == b"250-mx.test\r\n250-SIZE 1000\r\n250 PIPELINING\r\n"


def test_ehlo_without_extensions_is_one_line() -> None:
    assert run(EHLO, config=ProtocolConfig(extensions=frozenset())) == b"250 localhost\r\n"


def test_binarymime_is_advertised_when_configured() -> None:
    config = ProtocolConfig(extensions=frozenset({"CHUNKING", "BINARYMIME"}))
    assert run(EHLO, config=config) == b"250-localhost\r\n250-CHUNKING\r\n250 BINARYMIME\r\n"


def test_unknown_extension_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match=r"unknown extension.*'XFOO'"):
        ProtocolConfig(extensions=frozenset({"XFOO"}))


@pytest.mark.parametrize("verb", [b"HELO", b"EHLO", b"helo", b"EhLo"])
def test_helo_without_domain_is_501(verb: bytes) -> None:
    assert run(verb + b"\r\n").startswith(b"501 Syntax: " + verb.upper() + b" hostname\r\n")


def test_full_transaction_after_ehlo() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, RCPT, b"DATA\r\n", b"Subject: hi\r\n\r\nbody\r\n.\r\n", b"QUIT\r\n")
    assert out == MAIL_OK + RCPT_OK + DATA_GO + b"250 2.0.0 OK: 21 octets queued\r\n" + BYE
    [message] = driver.messages
    assert message.sender == "alice@example.com"
    assert message.recipients == ("bob@example.org",)
    assert message.data == b"Subject: hi\r\n\r\nbody\r\n"
    assert message.size == 21
    assert driver.conn.state is State.CLOSED


def test_full_transaction_after_helo_has_enhanced_codes_but_on_helo() -> None:
    # RFC 2034 §4: enhanced codes "regardless of whether or not EHLO is employed",
    # except on the greeting and the replies to HELO and EHLO.
    out = run(b"HELO c\r\n", MAIL, RCPT, b"DATA\r\n", b"x\r\n.\r\n", b"NOOP\r\n", b"QUIT\r\n")
    assert out == (
        b"250 localhost\r\n" + MAIL_OK + RCPT_OK + DATA_GO + b"250 2.0.0 OK: 3 octets queued\r\n250 2.0.0 OK\r\n" + BYE
    )


def test_null_reverse_path_is_accepted() -> None:
    driver = ehlo()
    assert driver.feed(b"MAIL FROM:<>\r\n", RCPT, b"DATA\r\n", b"x\r\n.\r\n").startswith(MAIL_OK + RCPT_OK)
    assert driver.messages[0].sender == ""


@pytest.mark.parametrize(
    "line",
    [
        b"MAIL FROM:<alice@example.com>",
        b"mail from:<alice@example.com>",
        b"MAIL FROM: <alice@example.com>",
        b"MAIL FROM:<@relay.example:alice@example.com>",
        b'MAIL FROM:<"alice smith"@example.com>',
        b"MAIL FROM:<alice@[192.0.2.1]>",
    ],
)
def test_mail_accepted_forms(line: bytes) -> None:
    assert ehlo().feed(line + b"\r\n") == MAIL_OK


def test_source_route_is_dropped_from_the_address() -> None:
    driver = ehlo()
    driver.feed(b"MAIL FROM:<@relay.example:alice@example.com>\r\n")
    assert driver.events[-1] == Command(
        "MAIL",
        "FROM:<@relay.example:alice@example.com>",
        address="alice@example.com",
        line=b"MAIL FROM:<@relay.example:alice@example.com>",
    )


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"MAIL", b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        (b"MAIL TO:<a@b.example>", b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        (b"MAIL FROM:alice@example.com", b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        (b"MAIL FROM:<alice@example.com", b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        (b"MAIL FROM:<alice@example.com>SIZE=1", b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        (b"MAIL FROM:<alice>", b"501 5.1.7 Bad address syntax\r\n"),
        (b"MAIL FROM:<alice@@example.com>", b"501 5.1.7 Bad address syntax\r\n"),
        (b"MAIL FROM:<a..b@example.com>", b"501 5.1.7 Bad address syntax\r\n"),
        (b"MAIL FROM:<alice@-example.com>", b"501 5.1.7 Bad address syntax\r\n"),
        (b"MAIL FROM:<@relay.example>", b"501 5.5.4 Bad address syntax\r\n"),
        (b"MAIL FROM:<" + b"a" * 65 + b"@example.com>", b"501 5.1.7 Local part longer than 64 octets\r\n"),
        (b"MAIL FROM:<a@" + b"b" * 256 + b">", b"501 5.1.7 Domain longer than 255 octets\r\n"),
    ],
)
def test_mail_syntax_errors(line: bytes, reply: bytes) -> None:
    driver = ehlo()
    assert driver.feed(line + b"\r\n") == reply
    assert driver.conn.state is State.READY


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"RCPT", b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
        (b"RCPT FROM:<b@example.org>", b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
        (b"RCPT TO:<>", b"501 5.1.3 Bad address syntax\r\n"),
        (b"RCPT TO:<bob>", b"501 5.1.3 Bad address syntax\r\n"),
    ],
)
def test_rcpt_syntax_errors(line: bytes, reply: bytes) -> None:
    driver = ehlo()
    assert driver.feed(MAIL, line + b"\r\n") == MAIL_OK + reply
    assert driver.conn.state is State.MAIL


def test_rcpt_to_postmaster_without_domain_is_accepted() -> None:
    driver = ehlo()
    assert driver.feed(MAIL, b"RCPT TO:<Postmaster>\r\n") == MAIL_OK + RCPT_OK
    assert driver.events[-1] == Command("RCPT", "TO:<Postmaster>", address="Postmaster", line=b"RCPT TO:<Postmaster>")


def test_data_with_argument_is_501() -> None:
    driver = ehlo()
    assert driver.feed(MAIL, RCPT, b"DATA now\r\n") == MAIL_OK + RCPT_OK + b"501 5.5.4 Syntax: DATA\r\n"
    assert driver.conn.state is State.RCPT
    assert not driver.conn.in_data


def test_rset_ends_the_transaction() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, RCPT, b"RSET\r\n", RCPT)
    assert out == MAIL_OK + RCPT_OK + b"250 2.0.0 OK\r\n503 5.5.1 Error: need MAIL command\r\n"
    assert driver.conn.state is State.READY


def test_rset_with_argument_is_501() -> None:
    assert ehlo().feed(b"RSET all\r\n") == b"501 5.5.4 Syntax: RSET\r\n"


def test_rset_before_helo_keeps_initial_state() -> None:
    driver = Driver()
    assert driver.feed(b"RSET\r\n") == b"250 2.0.0 OK\r\n"
    assert driver.conn.state is State.INITIAL


def test_noop_in_every_state_keeps_the_transaction() -> None:
    driver = Driver()
    assert driver.feed(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
    driver.feed(EHLO)
    out = driver.feed(b"NOOP\r\n", MAIL, b"NOOP whatever\r\n", RCPT, b"NOOP\r\n")
    noop = b"250 2.0.0 OK\r\n"
    assert out == noop + MAIL_OK + noop + RCPT_OK + noop
    assert driver.conn.state is State.RCPT


def test_quit_closes_and_later_input_is_ignored() -> None:
    driver = ehlo()
    assert driver.feed(b"QUIT\r\nNOOP\r\n") == BYE
    assert driver.conn.state is State.CLOSED
    assert driver.feed(b"NOOP\r\n", b"") == b""
    assert driver.closed is None


def test_quit_before_helo() -> None:
    driver = Driver()
    assert driver.feed(b"QUIT\r\n") == BYE
    assert driver.conn.state is State.CLOSED


def test_vrfy_answers_252() -> None:
    assert ehlo().feed(b"VRFY alice\r\n") == b"252 2.1.5 Cannot VRFY user, but will accept message\r\n"


def test_vrfy_without_argument_is_501() -> None:
    assert ehlo().feed(b"VRFY\r\n") == b"501 5.5.4 Syntax: VRFY address\r\n"


def test_help_lists_commands() -> None:
    assert ehlo().feed(b"HELP\r\n") == (
        b"214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n"
    )


@pytest.mark.parametrize("line", [b"XYZZY", b"EXPN list", b"TURN", b"1MAIL FROM:<a@b.example>", b"", b"   "])
def test_unknown_command_is_500(line: bytes) -> None:
    driver = ehlo()
    assert driver.feed(line + b"\r\n", b"NOOP\r\n") == b"500 5.5.2 Error: command not recognized\r\n250 2.0.0 OK\r\n"
    assert driver.conn.state is State.READY


def test_unknown_command_before_ehlo_has_an_enhanced_code() -> None:
    assert run(b"XYZZY\r\n") == b"500 5.5.2 Error: command not recognized\r\n"


def test_verbs_are_case_insensitive() -> None:
    driver = Driver()
    out = driver.feed(
        b"ehlo client.example\r\n", b"mail from:<alice@example.com>\r\n", b"rcpt to:<bob@example.org>\r\n"
    )
    assert out == EHLO_REPLY + MAIL_OK + RCPT_OK
    assert [e.verb for e in driver.events if isinstance(e, Command)] == ["EHLO", "MAIL", "RCPT"]


def test_command_line_is_kept_raw() -> None:
    driver = ehlo()
    driver.feed(b"mail FROM:<alice@example.com>  \r\n")
    [_, (event, _)] = driver.answered
    assert event == Command(
        "MAIL",
        "FROM:<alice@example.com>",
        address="alice@example.com",
        line=b"mail FROM:<alice@example.com>  ",
    )


def test_nul_in_command_is_501_and_a_violation() -> None:
    driver = ehlo()
    assert driver.feed(b"NOOP \0\r\n") == b"501 5.5.2 Syntax error: bad octet\r\n"
    assert driver.kinds == ["bad-octet"]


def test_bare_cr_in_verb_is_500_and_a_violation() -> None:
    driver = ehlo()
    assert driver.feed(b"NO\rOP\r\n") == b"500 5.5.2 Error: command not recognized\r\n"
    assert driver.kinds == ["bad-octet"]


def test_command_ended_by_bare_lf_is_answered_and_recorded() -> None:
    driver = Driver()
    assert driver.feed(b"EHLO client.example\n", b"NOOP\n") == EHLO_REPLY + b"250 2.0.0 OK\r\n"
    assert driver.kinds == ["bare-lf", "bare-lf"]


# ------------------------------------------------------------ out of sequence


@pytest.mark.parametrize(
    ("before", "line", "reply"),
    [
        (b"", MAIL, b"503 5.5.1 Error: send HELO/EHLO first\r\n"),
        (EHLO, RCPT, b"503 5.5.1 Error: need MAIL command\r\n"),
        (EHLO, b"DATA\r\n", b"503 5.5.1 Error: need MAIL command\r\n"),
        (EHLO + MAIL, b"DATA\r\n", b"503 5.5.1 Error: need RCPT command\r\n"),
        (EHLO + MAIL, MAIL, b"503 5.5.1 Error: nested MAIL command\r\n"),
        (EHLO + MAIL + RCPT, MAIL, b"503 5.5.1 Error: nested MAIL command\r\n"),
        (b"", b"DATA\r\n", b"503 5.5.1 Error: need MAIL command\r\n"),
        (b"", RCPT, b"503 5.5.1 Error: need MAIL command\r\n"),
    ],
)
def test_out_of_sequence_is_503(before: bytes, line: bytes, reply: bytes) -> None:
    driver = Driver()
    if before:
        driver.feed(before)
    state = driver.conn.state
    assert driver.feed(line) == reply
    assert driver.conn.state is state
    assert driver.kinds == ["out-of-sequence"]


def test_data_after_only_refused_recipients_is_554() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, b"RCPT TO:<bob>\r\n", b"DATA\r\n")
    assert out == MAIL_OK + b"501 5.1.3 Bad address syntax\r\n" + b"554 5.5.1 Error: no valid recipients\r\n"
    assert driver.kinds == ["out-of-sequence"]


def test_helo_again_resets_the_transaction() -> None:
    driver = ehlo()
    out = driver.feed(MAIL, RCPT, b"HELO again.example\r\n", RCPT)
    assert out == MAIL_OK + RCPT_OK + b"250 localhost\r\n503 5.5.1 Error: need MAIL command\r\n"
    assert driver.conn.helo_name == "again.example"
    assert driver.conn.greeting_verb == "HELO"


# ------------------------------------------------------ enhanced status codes


def test_enhanced_codes_before_and_after_helo_and_ehlo_but_not_on_their_replies() -> None:
    # RFC 2034 §4: "regardless of whether or not EHLO is employed"; the
    # exceptions are the greeting and the replies to HELO and EHLO.
    driver = Driver()
    assert driver.greeting == b"220 localhost ESMTP pytest-smtpd\r\n"
    assert driver.feed(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"
    assert driver.feed(EHLO, b"NOOP\r\n") == EHLO_REPLY + b"250 2.0.0 OK\r\n"
    out = driver.feed(b"HELO client.example\r\n", b"NOOP\r\n", b"HELO\r\n", b"EHLO\r\n")
    assert out == b"250 localhost\r\n250 2.0.0 OK\r\n501 Syntax: HELO hostname\r\n501 Syntax: EHLO hostname\r\n"


def test_enhanced_codes_absent_when_not_advertised() -> None:
    config = ProtocolConfig(extensions=frozenset({"PIPELINING"}))
    assert run(EHLO, b"NOOP\r\n", config=config) == b"250-localhost\r\n250 PIPELINING\r\n250 OK\r\n"


def test_failed_ehlo_keeps_the_session_initial() -> None:
    driver = Driver(decide=lambda e, d: Reply(550, "no") if isinstance(e, Command) and e.verb == "EHLO" else d)
    assert driver.feed(EHLO, b"NOOP\r\n") == b"550 no\r\n250 2.0.0 OK\r\n"
    assert driver.conn.state is State.INITIAL


# --------------------------------------------------------- command line limit


def test_command_line_of_512_octets_is_accepted() -> None:
    line = b"NOOP " + b"x" * (512 - 7) + b"\r\n"
    assert len(line) == 512
    driver = ehlo()
    assert driver.feed(line) == b"250 2.0.0 OK\r\n"
    assert driver.kinds == []


def test_command_line_over_512_octets_is_500_and_the_session_goes_on() -> None:
    line = b"NOOP " + b"x" * (513 - 7) + b"\r\n"
    assert len(line) == 513
    driver = ehlo()
    assert driver.feed(line + b"NOOP\r\n") == b"500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n"
    assert driver.kinds == ["line-too-long"]
    assert driver.conn.state is State.READY


def test_long_command_line_in_many_pieces() -> None:
    driver = ehlo()
    driver.feed(MAIL)
    out = b"".join(driver.feed(b"RCPT TO:<" + b"a" * 97) for _ in range(50))
    assert out == b""
    assert len(driver.conn._buffer) < 512
    assert driver.feed(b">\r\n", RCPT) == b"500 5.5.6 Line too long\r\n" + RCPT_OK
    assert driver.kinds == ["line-too-long"]
    assert driver.conn.state is State.RCPT


def test_long_command_line_one_byte_at_a_time() -> None:
    driver = ehlo()
    data = b"NOOP " + b"y" * 2000 + b"\r\nNOOP\r\n"
    out = b"".join(driver.feed(data[i : i + 1]) for i in range(len(data)))
    assert out == b"500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n"


def test_overlong_line_ended_by_bare_lf() -> None:
    assert ehlo().feed(b"X" * 600 + b"\n" + b"NOOP\r\n") == b"500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n"


# ------------------------------------------------------------- max_recipients


def test_max_recipients_is_452() -> None:
    driver = ehlo(ProtocolConfig(max_recipients=2))
    out = driver.feed(MAIL, b"RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\nRCPT TO:<c@x.example>\r\n")
    assert out == MAIL_OK + RCPT_OK + RCPT_OK + b"452 4.5.3 Too many recipients\r\n"
    driver.feed(b"DATA\r\nx\r\n.\r\n")
    assert driver.messages[0].recipients == ("a@x.example", "b@x.example")


def test_refused_recipients_do_not_count_towards_the_limit() -> None:
    driver = ehlo(ProtocolConfig(max_recipients=1))
    out = driver.feed(MAIL, b"RCPT TO:<bad>\r\n", RCPT)
    assert out == MAIL_OK + b"501 5.1.3 Bad address syntax\r\n" + RCPT_OK


# ------------------------------------------------- the reply decides the effect


def test_refused_recipient_is_not_delivered() -> None:
    def decide(event: Event, default: Reply) -> Reply:
        if isinstance(event, Command) and event.address == "carol@example.org":
            return Reply(550, "5.1.1 No such user")
        return default

    driver = ehlo(decide=decide)
    out = driver.feed(MAIL, RCPT, b"RCPT TO:<carol@example.org>\r\n", b"DATA\r\nhi\r\n.\r\n")
    assert out == MAIL_OK + RCPT_OK + b"550 5.1.1 No such user\r\n" + DATA_GO + b"250 2.0.0 OK: 4 octets queued\r\n"
    assert driver.messages[0].recipients == ("bob@example.org",)


def test_recipient_beyond_the_limit_answered_250_is_delivered() -> None:
    def decide(event: Event, default: Reply) -> tuple[int, str]:
        if default.code == 452:
            return (250, "2.1.5 OK anyway")
        return (default.code, default.text)

    driver = ehlo(ProtocolConfig(max_recipients=1), decide=decide)
    out = driver.feed(MAIL, b"RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n", b"DATA\r\nx\r\n.\r\n")
    assert out == MAIL_OK + RCPT_OK + b"250 2.1.5 OK anyway\r\n" + DATA_GO + b"250 2.0.0 OK: 3 octets queued\r\n"
    assert driver.messages[0].recipients == ("a@x.example", "b@x.example")


def test_refused_mail_starts_no_transaction() -> None:
    driver = ehlo(decide=lambda e, d: Reply(451, "4.3.0 later") if isinstance(e, Command) and e.verb == "MAIL" else d)
    assert driver.feed(MAIL, RCPT) == b"451 4.3.0 later\r\n503 5.5.1 Error: need MAIL command\r\n"
    assert driver.conn.state is State.READY


def test_mail_before_helo_answered_250_takes_effect() -> None:
    driver = Driver(decide=lambda e, d: Reply(250, "fine") if d.code == 503 else d)
    assert driver.feed(MAIL, RCPT) == b"250 fine\r\n" + RCPT_OK
    assert driver.conn.state is State.RCPT


def test_data_refused_keeps_reading_commands() -> None:
    driver = ehlo(decide=lambda e, d: Reply(451, "4.3.0 not now") if d.code == 354 else d)
    out = driver.feed(MAIL, RCPT, b"DATA\r\n", b"RSET\r\n")
    assert out == MAIL_OK + RCPT_OK + b"451 4.3.0 not now\r\n250 2.0.0 OK\r\n"
    assert not driver.conn.in_data


def test_refused_message_is_not_delivered_and_the_transaction_ends() -> None:
    driver = ehlo(decide=lambda e, d: Reply(554, "5.7.1 spam") if isinstance(e, MessageReceived) else d)
    out = driver.feed(MAIL, RCPT, b"DATA\r\nx\r\n.\r\n", RCPT)
    assert out == MAIL_OK + RCPT_OK + DATA_GO + b"554 5.7.1 spam\r\n503 5.5.1 Error: need MAIL command\r\n"
    assert driver.messages == []
    assert driver.conn.state is State.READY


@pytest.mark.parametrize("verb", ["EHLO", "NOOP", "MAIL", "RCPT", "DATA"])
def test_421_to_any_command_closes(verb: str) -> None:
    def decide(event: Event, default: Reply) -> Reply:
        if isinstance(event, Command) and event.verb == verb:
            return Reply(421, "4.3.2 going away")
        return default

    driver = Driver(decide=decide)
    out = driver.feed(EHLO + b"NOOP\r\n" + MAIL + RCPT + b"DATA\r\n", b"x\r\n.\r\n", b"QUIT\r\n")
    assert out.endswith(b"421 4.3.2 going away\r\n")
    assert out.count(b"\r\n421 ") + out.startswith(b"421 ") == 1
    assert driver.conn.state is State.CLOSED
    assert driver.feed(b"NOOP\r\n", b"") == b""
    assert driver.closed is None


def test_421_to_the_message_closes_without_delivery() -> None:
    driver = ehlo(decide=lambda e, d: Reply(421, "4.3.2 bye") if isinstance(e, MessageReceived) else d)
    out = driver.feed(MAIL, RCPT, b"DATA\r\nx\r\n.\r\nNOOP\r\n")
    assert out == MAIL_OK + RCPT_OK + DATA_GO + b"421 4.3.2 bye\r\n"
    assert driver.conn.state is State.CLOSED
    assert driver.messages == []


def test_421_greeting_closes_at_once() -> None:
    driver = Driver(greeting=Reply(421, "busy"))
    assert driver.greeting == b"421 busy\r\n"
    assert driver.conn.state is State.CLOSED
    assert driver.feed(EHLO) == b""


def test_554_greeting_refuses_everything_but_quit() -> None:
    driver = Driver(greeting=Reply(554, "no service"))
    assert driver.greeting == b"554 no service\r\n"
    out = driver.feed(EHLO, b"HELO c\r\n", MAIL, b"NOOP\r\n", b"QUIT\r\n")
    # RFC 2034 §4: no enhanced code on a reply to HELO or EHLO.
    assert out == b"503 Error: no SMTP service here\r\n" * 2 + b"503 5.5.1 Error: no SMTP service here\r\n" * 2 + BYE
    assert driver.conn.state is State.CLOSED


def test_quit_answered_otherwise_keeps_the_session() -> None:
    driver = ehlo(decide=lambda e, d: Reply(250, "not yet") if d.code == 221 else d)
    assert driver.feed(b"QUIT\r\n", b"NOOP\r\n") == b"250 not yet\r\n250 2.0.0 OK\r\n"
    assert driver.conn.state is State.READY


# ---------------------------------------------------------- end of input


def test_connection_closed_between_commands() -> None:
    driver = ehlo()
    driver.feed(MAIL, b"")
    assert driver.closed == ConnectionClosed(in_data=False)
    assert driver.conn.state is State.CLOSED


def test_connection_closed_mid_data() -> None:
    driver = ehlo()
    assert driver.feed(MAIL, RCPT, b"DATA\r\nSubject: x\r\n\r\npartial", b"") == MAIL_OK + RCPT_OK + DATA_GO
    assert driver.closed == ConnectionClosed(in_data=True)
    assert driver.messages == []
    assert driver.conn.state is State.CLOSED


def test_connection_closed_mid_bdat_chunk() -> None:
    driver = ehlo()
    driver.feed(MAIL, RCPT, b"BDAT 100\r\nonly some", b"")
    assert driver.closed == ConnectionClosed(in_data=True)


def test_connection_closed_between_bdat_chunks() -> None:
    driver = ehlo()
    assert driver.feed(MAIL, RCPT, b"BDAT 3\r\nabc", b"") == MAIL_OK + RCPT_OK + b"250 2.0.0 3 octets received\r\n"
    assert driver.closed == ConnectionClosed(in_data=True)


def test_connection_closed_with_a_partial_command_is_not_answered() -> None:
    driver = ehlo()
    assert driver.feed(b"NOO", b"") == b""
    assert driver.closed == ConnectionClosed(in_data=False)


def test_complete_commands_before_end_of_input_are_answered() -> None:
    driver = ehlo()
    assert driver.feed(b"NOOP\r\nNOOP\r\n", b"") == b"250 2.0.0 OK\r\n" * 2
    assert driver.closed == ConnectionClosed(in_data=False)


def test_connection_closed_is_reported_once() -> None:
    conn = Connection()
    conn.send(conn.greeting())
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed(in_data=False)
    assert conn.next_event() is None


# ------------------------------------------------------------------- misuse


def test_next_event_before_answering_is_an_error() -> None:
    conn = Connection()
    conn.send(conn.greeting())
    conn.receive_data(b"NOOP\r\nNOOP\r\n")
    assert isinstance(conn.next_event(), Command)
    with pytest.raises(LocalProtocolError, match="answer"):
        conn.next_event()


def test_send_without_event_is_an_error() -> None:
    conn = Connection()
    conn.send(conn.greeting())
    with pytest.raises(LocalProtocolError, match="no event"):
        conn.send(Reply(250))


def test_default_reply_without_event_is_an_error() -> None:
    with pytest.raises(LocalProtocolError, match="no event"):
        Connection().default_reply()


def test_timeout_shutdown_and_error_replies() -> None:
    driver = Driver()
    assert driver.conn.timeout_reply() == Reply(421, "4.4.2 localhost Error: timeout exceeded")
    driver.feed(EHLO)
    assert driver.conn.timeout_reply() == Reply(421, "4.4.2 localhost Error: timeout exceeded")
    assert driver.conn.shutdown_reply() == Reply(421, "4.3.2 localhost Service shutting down")
    assert driver.conn.error_reply() == Reply(451, "4.3.0 Internal server error")
