"""Examples for "Simulating server errors"."""

import smtplib

import pytest
from mailer import send_welcome, send_with_retry

from pytest_smtpd import Ending, SMTPServer


def test_retry_succeeds_after_two_transient_failures(smtpd: SMTPServer) -> None:
    smtpd.on("MAIL").reply(451, "4.3.0 Try again later").times(2)
    attempts = send_with_retry(smtpd.host, smtpd.port, to="ops@example.com")
    assert attempts == 3
    smtpd.assert_sent(to="ops@example.com", subject="Daily report")


def test_retry_gives_up(smtpd: SMTPServer) -> None:
    smtpd.on("MAIL").reply(451, "4.3.0 Try again later")
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send_with_retry(smtpd.host, smtpd.port, to="ops@example.com")
    assert info.value.smtp_code == 451
    assert smtpd.messages == []


def test_permanent_failure_is_not_retried(smtpd: SMTPServer) -> None:
    smtpd.on("message").reply(554, "5.7.1 Rejected by policy")
    with pytest.raises(smtplib.SMTPDataError):
        send_with_retry(smtpd.host, smtpd.port, to="ops@example.com")
    assert len(smtpd.sessions) == 1


def test_dropped_connection(smtpd: SMTPServer) -> None:
    smtpd.on("DATA").disconnect()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send_welcome(smtpd.host, smtpd.port, to="carol@example.com")
    assert smtpd.sessions[0].ended == Ending.DISCONNECT


def test_slow_server_times_out(smtpd: SMTPServer) -> None:
    smtpd.on("MAIL").delay(5)
    client = smtplib.SMTP(smtpd.host, smtpd.port, timeout=0.2)
    try:
        # smtplib reports the socket timeout as a lost connection.
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            client.sendmail("a@example.com", ["b@example.com"], "Subject: slow\r\n\r\nhi\r\n")
    finally:
        client.close()
    assert smtpd.messages == []


def test_a_misspelt_rule_fails_at_once(smtpd: SMTPServer) -> None:
    with pytest.raises(ValueError, match=r"unknown event 'RCTP' \(did you mean 'RCPT'\?\)"):
        smtpd.on("RCTP", "bob@example.com")
    # An address in angle brackets means the address inside them.
    rule = smtpd.on("RCPT", "<bob@example.com>").reply(550, "5.1.1 No such user")
    assert rule.match == "bob@example.com"
