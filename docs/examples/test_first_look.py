import smtplib

import pytest
from mailer import send_welcome

from pytest_smtpd import SMTPServer


def test_welcome_mail(smtpd: SMTPServer) -> None:
    send_welcome(host=smtpd.host, port=smtpd.port, to="alice@example.com")
    msg = smtpd.assert_sent(to="alice@example.com", subject="Welcome!")
    assert msg.text is not None
    assert "Hello Alice" in msg.text


def test_unknown_recipient_is_reported(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_welcome(host=smtpd.host, port=smtpd.port, to="bob@example.com")
    assert smtpd.messages == []
