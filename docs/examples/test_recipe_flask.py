"""Recipe: an app factory that reads its mail settings from the app's config (the Flask pattern).

The application code is plain smtplib so that the example runs without Flask; with
Flask and Flask-Mail the fixture is the same: pass ``MAIL_SERVER`` and ``MAIL_PORT``
to ``create_app`` (and ``MAIL_SUPPRESS_SEND=False``, since Flask-Mail does not send
when ``TESTING`` is on).
"""

import smtplib
from collections.abc import Mapping
from email.message import EmailMessage

import pytest

from pytest_smtpd import SMTPServer


class App:
    def __init__(self, config: Mapping[str, object]) -> None:
        self.config = dict(config)

    def send_mail(self, to: str, subject: str, body: str) -> None:
        msg = EmailMessage()
        msg["From"] = str(self.config["MAIL_DEFAULT_SENDER"])
        msg["To"] = to
        msg["Subject"] = subject
        msg.set_content(body)
        host, port = self.config["MAIL_SERVER"], self.config["MAIL_PORT"]
        assert isinstance(host, str)
        assert isinstance(port, int)
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.send_message(msg)

    def contact_form(self, name: str, message: str) -> str:
        """What the POST /contact view does."""
        self.send_mail("support@example.com", f"Contact form: {name}", message)
        return "Thanks, we will get back to you."


def create_app(test_config: Mapping[str, object] | None = None) -> App:
    config: dict[str, object] = {
        "MAIL_SERVER": "smtp.example.com",
        "MAIL_PORT": 587,
        "MAIL_DEFAULT_SENDER": "web@example.com",
    }
    config.update(test_config or {})
    return App(config)


@pytest.fixture
def app(smtpd: SMTPServer) -> App:
    return create_app({"TESTING": True, "MAIL_SERVER": smtpd.host, "MAIL_PORT": smtpd.port})


def test_contact_form(app: App, smtpd: SMTPServer) -> None:
    assert app.contact_form("Alice", "Where is my order?") == "Thanks, we will get back to you."
    msg = smtpd.assert_sent(sender="web@example.com", to="support@example.com", subject="Contact form: Alice")
    assert msg.text == "Where is my order?\n"
