"""Scripted replies (``server.on(...)``) seen by smtplib and by a raw socket."""

from __future__ import annotations

import re
import smtplib
import socket
import threading
import time

import pytest
from server_support import RawClient, ended_sessions

from pytest_smtpd import Command, Ending, Message, ServerThreadError, SMTPServer

SENDER = "alice@example.com"
DATA = b"Subject: scripted\r\n\r\nbody\r\n"


def test_550_on_one_of_three_recipients() -> None:
    with SMTPServer() as server:
        rule = server.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
        with smtplib.SMTP(*server.address) as client:
            refused = client.sendmail(SENDER, ["alice@example.org", "bob@example.com", "carol@example.org"], DATA)

        assert refused == {"bob@example.com": (550, b"5.1.1 No such user")}
        [message] = server.messages
        assert message.recipients == ("alice@example.org", "carol@example.org")
        assert rule.hits == 1
        assert "S: 550 5.1.1 No such user" in server.transcript.render_lines()


def test_string_match_on_an_address_ignores_case() -> None:
    with SMTPServer() as server:
        server.on("RCPT", "Bob@Example.COM").reply(550, "5.1.1 No such user")
        with smtplib.SMTP(*server.address) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail(SENDER, ["bob@example.com"], DATA)

        assert info.value.recipients == {"bob@example.com": (550, b"5.1.1 No such user")}
        assert server.messages == []


def test_451_on_mail_once_then_the_retry_succeeds() -> None:
    with SMTPServer() as server:
        rule = server.on("MAIL").reply(451, "4.3.0 Try again later").once()
        with smtplib.SMTP(*server.address) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as info:
                client.sendmail(SENDER, ["bob@example.com"], DATA)
            assert info.value.smtp_code == 451
            assert info.value.smtp_error == b"4.3.0 Try again later"
            assert server.messages == []

            assert client.sendmail(SENDER, ["bob@example.com"], DATA) == {}

        assert len(server.messages) == 1
        assert not rule.live
        assert rule.hits == 1


def test_421_greeting_refuses_the_connection() -> None:
    with SMTPServer() as server:
        server.on("connect").reply(421, "4.3.2 Go away")

        with pytest.raises(smtplib.SMTPConnectError) as info:
            smtplib.SMTP(*server.address)

        assert info.value.smtp_code == 421
        assert info.value.smtp_error == b"4.3.2 Go away"
        [session] = server.sessions
        assert session.ended is Ending.SERVER_CLOSED
        assert session.commands == ()


def test_connect_rule_matches_the_client_address() -> None:
    with SMTPServer() as server:
        server.on("connect", "192.0.2.1").reply(554, "5.7.1 Not you")
        with smtplib.SMTP(*server.address) as client:
            assert client.noop()[0] == 250
        assert server.sessions[0].replies[0].code == 220


def test_421_to_mail_closes_the_connection() -> None:
    with SMTPServer() as server:
        server.on("MAIL").reply(421, "4.7.0 Too busy")
        client = smtplib.SMTP(*server.address)
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail(SENDER, ["bob@example.com"], DATA)

        assert info.value.smtp_code == 421
        assert client.sock is None  # smtplib closes on 421
        assert server.sessions[0].ended is Ending.SERVER_CLOSED
        assert server.messages == []


def test_554_to_the_message_records_nothing() -> None:
    with SMTPServer() as server:
        server.on("message").reply(554, "5.7.1 Rejected as spam")
        with smtplib.SMTP(*server.address) as client:
            with pytest.raises(smtplib.SMTPDataError) as info:
                client.sendmail(SENDER, ["bob@example.com"], DATA)
            assert info.value.smtp_code == 554
            assert info.value.smtp_error == b"5.7.1 Rejected as spam"

            assert server.messages == []
            assert server.sessions[0].messages == ()
            assert "C: Subject: scripted" in server.transcript.render_lines()


def test_disconnect_on_data() -> None:
    with SMTPServer() as server:
        server.on("DATA").disconnect()
        client = smtplib.SMTP(*server.address)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail(SENDER, ["bob@example.com"], DATA)

        [session] = server.sessions
        assert session.ended is Ending.DISCONNECT
        assert [c.verb for c in session.commands] == ["EHLO", "MAIL", "RCPT", "DATA"]
        assert [r.code for r in session.replies] == [220, 250, 250, 250]
        assert server.messages == []


def test_disconnect_after_the_message_content() -> None:
    with SMTPServer() as server:
        server.on("message").disconnect()
        client = smtplib.SMTP(*server.address)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail(SENDER, ["bob@example.com"], DATA)

        assert server.messages == []
        [session] = server.sessions
        assert session.ended is Ending.DISCONNECT
        assert session.replies[-1].code == 354


def test_delay_beyond_the_client_timeout() -> None:
    with SMTPServer() as server:
        server.on("MAIL").delay(30)
        client = smtplib.SMTP(*server.address, timeout=10)
        client.ehlo()
        assert client.sock is not None
        client.sock.settimeout(0.3)

        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out") as info:
            client.mail(SENDER)

        # smtplib turns the socket timeout into a disconnect and closes the socket.
        assert isinstance(info.value.__context__, socket.timeout)
        assert client.sock is None
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
        assert server.messages == []


def test_stop_is_not_held_up_by_a_pending_delay() -> None:
    arrived = threading.Event()

    def note(command: Command) -> bool:
        arrived.set()
        return True

    with SMTPServer() as server, RawClient(server.address) as client:
        server.on("RCPT", note).delay(60)
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")
        client.send(b"RCPT TO:<bob@example.com>\r\n")
        assert arrived.wait(10)

        started = time.monotonic()
        server.stop()

        assert time.monotonic() - started < 2.0
        assert client.read_reply() == ["421 4.3.2 localhost Service shutting down"]
        assert client.read_rest() == b""
        assert "C: RCPT TO:<bob@example.com>" in server.transcript.render_lines()
        assert server.sessions[0].ended is Ending.SERVER_CLOSED


def test_client_closing_during_a_delay_is_not_busy_waited_on() -> None:
    arrived = threading.Event()

    def note(command: Command) -> bool:
        arrived.set()
        return True

    with SMTPServer() as server:
        server.on("MAIL", note).delay(0.5)
        with RawClient(server.address) as client:
            client.greet()
            client.send(b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n")
            assert arrived.wait(10)
            client.sock.shutdown(socket.SHUT_WR)
            cpu = time.process_time()

            # A half-closed client still gets the replies to what it sent.
            assert client.read_reply() == ["250 2.1.0 OK"]
            assert client.read_reply() == ["250 2.1.5 OK"]
            assert client.read_rest() == b""

            assert time.process_time() - cpu < 0.25
        assert server.sessions[0].ended is Ending.CLIENT_CLOSED


def test_delay_then_the_normal_reply() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        server.on("RCPT").delay(0.2).once()
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")
        started = time.monotonic()

        assert client.command("RCPT TO:<bob@example.com>") == ["250 2.1.5 OK"]

        assert time.monotonic() - started >= 0.2
        assert client.command("RCPT TO:<carol@example.com>") == ["250 2.1.5 OK"]


def test_delay_then_a_scripted_reply() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        server.on("RCPT").delay(0.1).reply(452, "4.2.2 Mailbox full")
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")

        assert client.command("RCPT TO:<bob@example.com>") == ["452 4.2.2 Mailbox full"]


def test_ehlo_502_makes_smtplib_fall_back_to_helo() -> None:
    with SMTPServer() as server:
        server.on("EHLO").reply(502, "5.5.1 Not implemented")
        with smtplib.SMTP(*server.address) as client:
            assert client.sendmail(SENDER, ["bob@example.com"], DATA) == {}
            assert not client.does_esmtp

        [session] = server.sessions
        assert session.greeting == "HELO"
        assert [c.verb for c in session.commands] == ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT"]
        assert len(server.messages) == 1


def test_times_then_normal_service() -> None:
    with SMTPServer() as server:
        rule = server.on("RCPT").reply(452, "4.2.2 Mailbox full").times(2)
        with smtplib.SMTP(*server.address) as client:
            for _ in range(2):
                with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
                    client.sendmail(SENDER, ["bob@example.com"], DATA)
                assert info.value.recipients == {"bob@example.com": (452, b"4.2.2 Mailbox full")}
            assert client.sendmail(SENDER, ["bob@example.com"], DATA) == {}

        assert rule.hits == 2
        assert not rule.live
        assert len(server.messages) == 1


def test_regex_match() -> None:
    with SMTPServer() as server:
        server.on("RCPT", re.compile(r"@blocked\.example$")).reply(550, "5.7.1 Blocked domain")
        with smtplib.SMTP(*server.address) as client:
            refused = client.sendmail(SENDER, ["a@blocked.example", "b@example.com", "c@blocked.example.org"], DATA)

        assert refused == {"a@blocked.example": (550, b"5.7.1 Blocked domain")}
        assert server.messages[0].recipients == ("b@example.com", "c@blocked.example.org")


def test_predicate_match_on_a_command() -> None:
    seen: list[Command] = []

    def big(command: Command) -> bool:
        seen.append(command)
        return int(command.params.get("SIZE") or 0) > 100

    with SMTPServer() as server:
        server.on("MAIL", big).reply(552, "5.3.4 Too big for you")
        with smtplib.SMTP(*server.address) as client:
            assert client.sendmail(SENDER, ["bob@example.com"], DATA) == {}
            with pytest.raises(smtplib.SMTPSenderRefused) as info:
                client.sendmail(SENDER, ["bob@example.com"], DATA + b"x" * 200 + b"\r\n")
            assert info.value.smtp_code == 552

        assert [c.verb for c in seen] == ["MAIL", "MAIL"]
        assert seen[0].address == SENDER
        assert len(server.messages) == 1


def test_predicate_match_on_a_message() -> None:
    def spam(message: Message) -> bool:
        return "FREE" in (message.subject or "")

    with SMTPServer() as server:
        server.on("message", spam).reply(554, "5.7.1 Spam")
        with smtplib.SMTP(*server.address) as client:
            with pytest.raises(smtplib.SMTPDataError):
                client.sendmail(SENDER, ["bob@example.com"], b"Subject: FREE money\r\n\r\nbuy\r\n")
            assert client.sendmail(SENDER, ["bob@example.com"], b"Subject: minutes\r\n\r\nhello\r\n") == {}

        [message] = server.messages
        assert message.subject == "minutes"


def test_multi_line_scripted_reply() -> None:
    with SMTPServer() as server:
        server.on("EHLO").reply(250, "mx.example greets you\nSIZE 1000\nAUTH PLAIN")
        with smtplib.SMTP(*server.address) as client:
            code, text = client.ehlo()
            assert code == 250
            assert text == b"mx.example greets you\nSIZE 1000\nAUTH PLAIN"
            assert client.esmtp_features["size"] == "1000"
            assert client.esmtp_features["auth"] == " PLAIN"

        assert "S: 250-mx.example greets you" in server.transcript.render_lines()
        assert "S: 250-SIZE 1000" in server.transcript.render_lines()
        assert "S: 250 AUTH PLAIN" in server.transcript.render_lines()


def test_multi_line_scripted_reply_on_a_raw_socket() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        server.on("RCPT").reply(550, "5.1.1 No such user\n5.1.1 Try bob@example.org")
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")

        assert client.command("RCPT TO:<bob@example.com>") == [
            "550-5.1.1 No such user",
            "550 5.1.1 Try bob@example.org",
        ]


def test_raising_predicate_answers_451_and_is_raised_later() -> None:
    problem = RuntimeError("predicate failed")

    def broken(command: Command) -> bool:
        raise problem

    with SMTPServer() as server:
        server.on("RCPT", broken).reply(550, "5.1.1 No such user")
        with smtplib.SMTP(*server.address) as client:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
                client.sendmail(SENDER, ["bob@example.com"], DATA)
            assert info.value.recipients == {"bob@example.com": (451, b"4.3.0 Internal server error")}
            assert client.noop()[0] == 250  # the session goes on

        [error] = server.errors
        assert error.exception is problem
        assert error.session_id == server.sessions[0].id
        assert "predicate failed" in error.format()
        with pytest.raises(ServerThreadError, match="predicate failed") as raised:
            server.raise_errors()
        assert raised.value.__cause__ is problem
        assert server.messages == []


def test_raise_errors_is_quiet_without_errors() -> None:
    with SMTPServer() as server:
        with smtplib.SMTP(*server.address) as client:
            client.sendmail(SENDER, ["bob@example.com"], DATA)
        server.raise_errors()
        assert server.errors == []


def test_clear_forgets_rules_and_records() -> None:
    with SMTPServer() as server:
        server.on("RCPT").reply(550, "5.1.1 No such user")
        with smtplib.SMTP(*server.address) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(SENDER, ["bob@example.com"], DATA)
        ended_sessions(server, 1)

        server.clear()

        assert server.rules == []
        assert server.sessions == []
        assert len(server.transcript) == 0
        with smtplib.SMTP(*server.address) as client:
            assert client.sendmail(SENDER, ["bob@example.com"], DATA) == {}
        assert len(server.messages) == 1


# Events and matches that a typo would make silently useless ----------------------------


@pytest.mark.parametrize(
    ("event", "nearest"),
    [("RCTP", "RCPT"), ("mesage", "message"), ("EHOL", "EHLO"), ("conect", "connect"), ("STARTTSL", "STARTTLS")],
)
def test_a_misspelt_event_names_the_nearest(event: str, nearest: str) -> None:
    server = SMTPServer()
    with pytest.raises(ValueError, match=re.escape(f"unknown event {event!r} (did you mean {nearest!r}?)")):
        server.on(event, "bob@example.com")
    assert server.rules == []


def test_an_unknown_event_lists_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        SMTPServer().on("SEND")
    assert str(info.value) == (
        "unknown event 'SEND': an event is a command verb (EHLO, HELO, MAIL, RCPT, DATA, BDAT, RSET, VRFY, "
        "EXPN, HELP, NOOP, QUIT, STARTTLS, AUTH, LHLO, or a private X... verb), 'connect' (the greeting) "
        "or 'message' (the reply after the content)"
    )


def test_every_verb_the_core_dispatches_is_a_known_event() -> None:
    from pytest_smtpd.protocol import ALLOWED
    from pytest_smtpd.rules import VERBS

    assert set(ALLOWED) <= set(VERBS)


@pytest.mark.parametrize(
    ("event", "canonical"),
    [("rcpt", "RCPT"), ("Message", "message"), ("CONNECT", "connect"), ("lhlo", "LHLO"), ("XCLIENT", "XCLIENT")],
)
def test_events_are_case_insensitive_and_x_verbs_allowed(event: str, canonical: str) -> None:
    assert SMTPServer().on(event).event == canonical


def test_a_private_x_verb_rule_applies() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        server.on("XPING").reply(250, "pong")
        client.greet()
        assert client.command("XPING") == ["250 pong"]
        assert client.command("XPONG")[0].startswith("500")


@pytest.mark.parametrize("event", ["MAIL", "RCPT"])
def test_an_address_in_angle_brackets_matches_the_address(event: str) -> None:
    with SMTPServer() as server:
        rule = server.on(event, "<Bob@example.com>").reply(550, "5.1.1 No such user")
        assert rule.match == "Bob@example.com"
        sender, recipient = ("bob@example.com", SENDER) if event == "MAIL" else (SENDER, "bob@example.com")
        with smtplib.SMTP(*server.address) as client, pytest.raises(smtplib.SMTPException):
            client.sendmail(sender, [recipient], DATA)
        assert rule.hits == 1
        assert server.messages == []


def test_a_message_rule_in_angle_brackets_matches_the_recipient() -> None:
    with SMTPServer() as server:
        rule = server.on("message", "<bob@example.com>").reply(554, "5.7.1 Refused")
        with smtplib.SMTP(*server.address) as client, pytest.raises(smtplib.SMTPDataError):
            client.sendmail(SENDER, ["bob@example.com"], DATA)
        assert rule.hits == 1


def test_angle_brackets_are_kept_where_the_match_is_no_address() -> None:
    assert SMTPServer().on("HELO", "<x>").match == "<x>"
