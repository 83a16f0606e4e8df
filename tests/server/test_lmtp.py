"""LMTP (option ``lmtp``, RFC 2033) over real sockets: one reply per recipient after the content."""

from __future__ import annotations

import re
import smtplib
import time

import pytest
from server_support import RawClient, ReplyHook

from pytest_smtpd import Message, Reply, Session, SMTPServer

CONTENT = b"Subject: lmtp\r\n\r\nhi\r\n.\r\n"
THREE = ("alice@example.com", "bob@example.com", "carol@example.com")


def lmtp_transaction(client: RawClient, recipients: tuple[str, ...] = THREE) -> list[str]:
    """LHLO, MAIL, RCPT each, DATA and content pipelined; the replies after the content."""
    assert client.read_reply()[0].startswith("220 ")
    rcpts = b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients)
    client.send(b"LHLO client.example\r\nMAIL FROM:<sender@example.com>\r\n" + rcpts + b"DATA\r\n" + CONTENT)
    assert client.read_reply()[-1] == "250 DSN"
    assert client.read_reply() == ["250 2.1.0 OK"]
    for _ in recipients:
        assert client.read_reply() == ["250 2.1.5 OK"]
    assert client.read_reply()[0].startswith("354 ")
    return [client.read_line() for _ in recipients]


def test_smtplib_lmtp_delivers_to_one_recipient() -> None:
    with SMTPServer(lmtp=True) as server:
        with smtplib.LMTP(server.host, server.port) as client:
            refused = client.sendmail("a@example.com", ["b@example.com"], "Subject: via LMTP\r\n\r\nhi\r\n")
        assert refused == {}
        message = server.assert_sent(subject="via LMTP")
        assert message.recipients == ("b@example.com",)
        assert message.refused == {}
        assert server.sessions[0].greeting == "LHLO"


def test_each_recipient_gets_its_reply_and_only_the_refused_one_is_left_out() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", "bob@example.com").reply(452, "4.2.2 Mailbox full")
        with RawClient(server.address) as client:
            replies = lmtp_transaction(client)
        assert replies == ["250 2.0.0 OK: 21 octets queued", "452 4.2.2 Mailbox full", "250 2.0.0 OK: 21 octets queued"]
        [message] = server.messages
        assert message.recipients == ("alice@example.com", "carol@example.com")
        assert message.refused == {"bob@example.com": Reply(452, "4.2.2 Mailbox full")}
        assert [(r.recipient, r.reply.code) for r in server.refusals] == [("bob@example.com", 452)]
        with pytest.raises(AssertionError, match=r"bob@example\.com.*452 4\.2\.2 Mailbox full"):
            server.assert_sent(to="bob@example.com")


def test_no_message_is_recorded_when_every_recipient_is_refused() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message").reply(550, "5.1.1 No such user")
        with RawClient(server.address) as client:
            assert lmtp_transaction(client) == ["550 5.1.1 No such user"] * 3
        assert server.messages == []
        assert [r.recipient for r in server.refusals] == list(THREE)


def test_once_applies_to_one_recipient() -> None:
    with SMTPServer(lmtp=True) as server:
        rule = server.on("message").reply(451, "4.3.0 Try again").once()
        with RawClient(server.address) as client:
            replies = lmtp_transaction(client)
        assert [r[:3] for r in replies] == ["451", "250", "250"]
        assert rule.hits == 1
        assert server.messages[0].recipients == THREE[1:]


@pytest.mark.parametrize("match", ["<bob@example.com>", "BOB@example.com", re.compile(r"^bob@")])
def test_a_message_rule_is_matched_against_each_recipient(match: str | re.Pattern[str]) -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", match).reply(550, "5.1.1 No such user")
        with RawClient(server.address) as client:
            assert [r[:3] for r in lmtp_transaction(client)] == ["250", "550", "250"]


def test_a_predicate_gets_the_message() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", lambda m: m.subject == "lmtp").reply(554, "5.7.1 Rejected").once()
        with RawClient(server.address) as client:
            assert [r[:3] for r in lmtp_transaction(client)] == ["554", "250", "250"]


def test_a_disconnect_rule_closes_after_the_replies_before_it() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", "bob@example.com").disconnect()
        with RawClient(server.address) as client:
            assert client.read_reply()[0].startswith("220 ")
            client.send(b"LHLO c\r\nMAIL FROM:<s@example.com>\r\n")
            client.send(b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in THREE) + b"DATA\r\n" + CONTENT)
            rest = client.read_rest()
        assert rest.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 OK: 21 octets queued\r\n")
        assert server.messages[0].recipients == ("alice@example.com",)


def test_bdat_last_gets_one_reply_per_recipient() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", "carol@example.com").reply(550, "5.1.1 No such user")
        with RawClient(server.address) as client:
            assert client.read_reply()[0].startswith("220 ")
            client.command("LHLO client.example")
            client.command("MAIL FROM:<sender@example.com>")
            for r in THREE:
                client.command(f"RCPT TO:<{r}>")
            client.send(b"BDAT 4 LAST\r\nhi\r\n")
            replies = [client.read_line() for _ in THREE]
        assert [r[:3] for r in replies] == ["250", "250", "550"]
        assert server.messages[0].recipients == THREE[:2]


def test_helo_and_ehlo_are_refused() -> None:
    with SMTPServer(lmtp=True) as server, smtplib.SMTP(server.host, server.port) as client:
        assert client.ehlo() == (500, b"5.5.1 Error: this is an LMTP server; use LHLO")
        assert client.helo() == (500, b"5.5.1 Error: this is an LMTP server; use LHLO")


def test_message_refused_is_empty_in_smtp() -> None:
    with SMTPServer() as server:
        server.on("message", "bob@example.com").reply(452, "4.2.2 Mailbox full")
        with smtplib.SMTP(server.host, server.port) as client:
            client.sendmail("a@example.com", ["alice@example.com"], "Subject: smtp\r\n\r\nhi\r\n")
        assert server.messages[0].refused == {}


def test_a_predicate_that_raises_answers_each_recipient_451_and_is_kept() -> None:
    def broken(message: Message) -> bool:
        raise RuntimeError("predicate bug")

    with SMTPServer(lmtp=True) as server:
        server.on("message", broken).reply(554)
        with RawClient(server.address) as client:
            assert lmtp_transaction(client) == ["451 4.3.0 Internal server error"] * 3
        assert server.messages == []
        assert [(e.where, str(e.exception)) for e in server.errors] == [("rule match", "predicate bug")] * 3


def test_the_message_hook_decides_per_recipient_and_its_error_is_kept() -> None:
    asked: list[str | None] = []

    def per_recipient(session: Session, message: Message, reply: Reply, recipient: str | None) -> Reply | None:
        asked.append(recipient)
        if recipient == "bob@example.com":
            raise RuntimeError("hook bug")
        return Reply(250, "2.0.0 Delivered to " + str(recipient)) if recipient == "carol@example.com" else None

    with SMTPServer(lmtp=True) as server:
        hooks = ReplyHook(lambda session, command, reply: None)
        hooks.message = per_recipient
        server.hooks = hooks
        with RawClient(server.address) as client:
            replies = lmtp_transaction(client)
        assert replies == [
            "250 2.0.0 OK: 21 octets queued",
            "451 4.3.0 Internal server error",
            "250 2.0.0 Delivered to carol@example.com",
        ]
        assert asked == list(THREE)
        assert server.messages[0].recipients == ("alice@example.com", "carol@example.com")
        assert [e.where for e in server.errors] == ["hook"]


def test_delayed_recipients_are_answered_together_after_the_sum_of_the_delays() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", "alice@example.com").delay(0.1)
        server.on("message", "carol@example.com").delay(0.1).reply(452, "4.2.2 Mailbox full")
        with RawClient(server.address) as client:
            started = time.monotonic()
            replies = lmtp_transaction(client)
            elapsed = time.monotonic() - started
            # The session goes on after the delayed replies.
            client.send(b"NOOP\r\n")
            assert client.read_reply() == ["250 2.0.0 OK"]
        assert replies == ["250 2.0.0 OK: 21 octets queued"] * 2 + ["452 4.2.2 Mailbox full"]
        assert elapsed >= 0.2
        assert server.messages[0].recipients == ("alice@example.com", "bob@example.com")
