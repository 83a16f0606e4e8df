"""Examples for "Outside pytest": SMTPServer in unittest and in a plain script."""

import smtplib
import unittest

from mailer import send_welcome

from pytest_smtpd import SMTPServer


class WelcomeMailTest(unittest.TestCase):
    def setUp(self) -> None:
        self.server = SMTPServer().start()
        self.addCleanup(self.server.stop)

    def test_welcome_mail(self) -> None:
        send_welcome(self.server.host, self.server.port, to="dave@example.com")
        msg = self.server.assert_sent(to="dave@example.com", subject="Welcome!")
        assert "Hello Dave" in (msg.text or "")


def test_in_a_script() -> None:
    with SMTPServer() as server:
        with smtplib.SMTP(*server.address) as client:
            client.sendmail("a@example.com", ["b@example.com"], "Subject: hi\r\n\r\nhello\r\n")
        print(server.transcript)
        assert "C: QUIT" in str(server.transcript)
    assert not server.running
