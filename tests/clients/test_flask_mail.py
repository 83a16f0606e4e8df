"""Flask-Mail in a Flask application, configured from the ``smtpd`` fixture."""

from __future__ import annotations

import smtplib

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("flask", reason="Flask is not installed (pip install -e '.[test]')")
pytest.importorskip("flask_mail", reason="Flask-Mail is not installed (pip install -e '.[test]')")

from flask import Flask, request
from flask_mail import Mail, Message

SUBJECT = "Grüße from Flask ✉"
BODY = "Dear Alice,\n.this line starts with a dot\n" + "x" * 998 + "\nBye\n"
HTML = "<p>Dear Alice,</p><p>your invoice is attached.</p>"
PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n content\n%%EOF\n"


def create_app(smtpd: SMTPServer) -> tuple[Flask, Mail]:
    """A small application that mails an invoice from a view."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        MAIL_SERVER=smtpd.host,
        MAIL_PORT=smtpd.port,
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER=("Billing", "billing@example.com"),
    )
    mail = Mail(app)

    @app.post("/invoice")
    def send_invoice() -> tuple[str, int]:
        recipients: list[str | tuple[str, str]] = list(request.form.getlist("to"))
        msg = Message(subject=SUBJECT, recipients=recipients, body=BODY, html=HTML)
        msg.attach("Rechnung-März.pdf", "application/pdf", PDF)
        mail.send(msg)
        return msg.msgId, 202

    return app, mail


def test_invoice_view_sends_a_multipart_message(smtpd: SMTPServer) -> None:
    app, mail = create_app(smtpd)
    with mail.record_messages() as outbox, app.test_client() as client:
        response = client.post("/invoice", data={"to": "alice@example.com"})
    assert response.status_code == 202
    assert len(outbox) == 1

    msg = smtpd.assert_sent(to="alice@example.com", subject=SUBJECT, attachment="Rechnung-März.pdf")
    assert msg.sender == "billing@example.com"
    assert msg.recipients == ("alice@example.com",)
    assert msg["From"] == "Billing <billing@example.com>"
    assert msg["To"] == "alice@example.com"
    assert msg["Message-ID"] == outbox[0].msgId == response.get_data(as_text=True)
    # The subject travelled as an RFC 2047 encoded word and decodes back.
    assert b"\r\nSubject: =?utf-8?" in msg.data
    # Dot transparency: the client doubled the dot, the server removed it again.
    assert b"\r\n.this line starts with a dot\r\n" in msg.data
    assert b"\r\n" + b"x" * 998 + b"\r\n" in msg.data
    assert msg.text == BODY
    assert msg.html == HTML
    (attachment,) = msg.attachments
    assert (attachment.filename, attachment.content_type, attachment.content) == (
        "Rechnung-März.pdf",
        "application/pdf",
        PDF,
    )
    assert msg.defects == []
    assert smtpd.violations == []
    assert smtpd.sessions[0].replies[-1].code == 221


def test_scripted_550_raises_through_flask_mail(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    app, _ = create_app(smtpd)
    # TESTING=True propagates the view's exception to the test client.
    with app.test_client() as client, pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        client.post("/invoice", data={"to": "nobody@example.com"})
    assert info.value.recipients == {"nobody@example.com": (550, b"5.1.1 No such user")}
    smtpd.assert_not_sent()
    # Flask-Mail still closed its connection with QUIT.
    assert smtpd.sessions[0].replies[-1].code == 221


def test_one_refused_recipient_of_two_is_not_reported(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    app, _ = create_app(smtpd)
    with app.test_client() as client:
        response = client.post("/invoice", data={"to": ["alice@example.com", "nobody@example.com"]})
    # smtplib returns the refused recipients instead of raising; Flask-Mail drops them.
    assert response.status_code == 202
    msg = smtpd.assert_sent(subject=SUBJECT)
    assert msg.recipients == ("alice@example.com",)
    assert "S: 550 5.1.1 No such user" in smtpd.transcript
