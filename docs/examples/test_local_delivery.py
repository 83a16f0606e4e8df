"""Examples for "LMTP"."""

import smtplib
import socket

import pytest

from pytest_smtpd import Reply, SMTPServer


@pytest.mark.smtpd(lmtp=True)
def test_smtplib_lmtp_delivers(smtpd: SMTPServer) -> None:
    with smtplib.LMTP(smtpd.host, smtpd.port) as client:
        client.sendmail("app@example.com", ["alice@example.com"], "Subject: hi\r\n\r\nhello\r\n")
    assert smtpd.sessions[0].greeting == "LHLO"
    smtpd.assert_sent(to="alice@example.com", subject="hi")


def deliver(address: tuple[str, int], recipients: list[str]) -> list[str]:
    """A tiny LMTP client: the reply lines after the content, one per recipient."""
    with socket.create_connection(address, timeout=10) as sock, sock.makefile("rwb") as f:
        rcpts = "".join(f"RCPT TO:<{r}>\r\n" for r in recipients)
        f.write(f"LHLO app\r\nMAIL FROM:<app@example.com>\r\n{rcpts}DATA\r\n".encode())
        f.write(b"Subject: news\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        f.flush()
        lines = [line.decode().rstrip() for line in f]  # pipelined: every reply, then the close
    # Greeting, LHLO, MAIL, the RCPTs and 354 come first; QUIT's 221 last.
    start = 1 + next(i for i, line in enumerate(lines) if line.startswith("354"))
    return lines[start:-1]


@pytest.mark.smtpd(lmtp=True)
def test_a_full_mailbox_refuses_only_its_recipient(smtpd: SMTPServer) -> None:
    smtpd.on("message", "bob@example.com").reply(452, "4.2.2 Mailbox full")

    replies = deliver(smtpd.address, ["alice@example.com", "bob@example.com"])

    assert [line[:3] for line in replies] == ["250", "452"]  # one per recipient, in RCPT order
    message = smtpd.assert_sent(subject="news")
    assert message.recipients == ("alice@example.com",)
    assert message.refused == {"bob@example.com": Reply(452, "4.2.2 Mailbox full")}
