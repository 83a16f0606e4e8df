"""Links, problems and the normalized text of mail that real senders put on the
wire: smtplib with ``email``, Django's SMTP backend, Flask-Mail,
``logging.handlers.SMTPHandler`` and aiosmtplib, each with its defaults."""

from __future__ import annotations

import logging
import logging.handlers
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest

from pytest_smtpd import Message, SMTPServer

RESET = "https://app.example.com/reset/MQ/c4t-0ken?next=/account&lang=de"
TEXT = f"Hello Alice,\n\nset a new password here: {RESET}.\n\nIf it was not you, ignore this mail.\n"
HTML = f'<p>Hello Alice,</p><p><a href="{RESET.replace("&", "&amp;")}">Set a new password</a></p>'


def reset_mail(date: str | None = None, msgid: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "App <noreply@app.example.com>"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Reset your password"
    msg["Date"] = date or formatdate(localtime=True)
    msg["Message-ID"] = msgid or make_msgid(domain="app.example.com")
    msg.set_content(TEXT)
    msg.add_alternative(HTML, subtype="html")
    return msg


def sent_twice(smtpd: SMTPServer) -> tuple[Message, Message]:
    first, second = smtpd.messages
    assert first.data != second.data  # another Date, Message-ID and boundary
    return first, second


def test_smtplib_with_email_message(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(*smtpd.address, timeout=10) as client:
        client.send_message(reset_mail())
        client.send_message(reset_mail(date="Mon, 01 Jan 2024 00:00:00 +0000", msgid="<other@app.example.com>"))
    first, second = sent_twice(smtpd)
    assert first.problems == []
    assert first.links == [RESET]  # the text's link, then the same href once
    assert first.link("/reset/") == RESET
    assert first.normalized() == second.normalized()
    assert "Date: <date>" in first.normalized()


def test_smtplib_sendmail_of_a_bare_string_lacks_the_headers(smtpd: SMTPServer) -> None:
    # The shortest smtplib example there is: what spam filters and RFC 5322 object to.
    with smtplib.SMTP(*smtpd.address, timeout=10) as client:
        client.sendmail("app@example.com", ["alice@example.com"], "Subject: Hi\r\n\r\nHello\r\n")
    (msg,) = smtpd.messages
    assert [problem.kind for problem in msg.problems] == ["missing-date", "missing-from", "missing-message-id"]


def test_aiosmtplib(smtpd: SMTPServer) -> None:
    aiosmtplib = pytest.importorskip("aiosmtplib")
    import asyncio

    async def send() -> None:
        await aiosmtplib.send(reset_mail(), hostname=smtpd.host, port=smtpd.port, timeout=10)
        await aiosmtplib.send(reset_mail(), hostname=smtpd.host, port=smtpd.port, timeout=10)

    asyncio.run(send())
    first, second = sent_twice(smtpd)
    assert first.problems == []
    assert first.links == [RESET]
    assert first.normalized() == second.normalized()


def test_smtp_handler_sends_no_message_id(smtpd: SMTPServer) -> None:
    handler = logging.handlers.SMTPHandler(
        mailhost=smtpd.address,
        fromaddr="alerts@example.com",
        toaddrs=["oncall@example.com", "ops@example.com"],
        subject="Application error",
        timeout=10,
    )
    logger = logging.getLogger("content.alerts")
    logger.addHandler(handler)
    try:
        logger.error("payment service unreachable, see https://status.example.com/incidents/42")
    finally:
        logger.removeHandler(handler)
        handler.close()
    (msg,) = smtpd.messages
    # SMTPHandler builds its EmailMessage with From, To, Subject and Date only.
    # Message-ID is a SHOULD (RFC 5322 §3.6.4) that some receivers enforce:
    # a real defect of the mail, reported as such.
    assert [problem.kind for problem in msg.problems] == ["missing-message-id"]
    assert msg.links == ["https://status.example.com/incidents/42"]
    assert "\nDate: <date>\n" in msg.normalized()


django = pytest.importorskip("django", reason="Django is not installed (pip install -e '.[test]')")

from django.core import mail as django_mail  # noqa: E402
from django_mailer import smtp_backend  # noqa: E402


def test_django_email_message_and_alternatives(smtpd: SMTPServer) -> None:
    connection = smtp_backend(host=smtpd.host, port=smtpd.port, timeout=10)
    plain = django_mail.EmailMessage(
        "Welcome", "Thanks for signing up.\n", "App <noreply@app.example.com>", ["alice@example.com"]
    )
    with_html = django_mail.EmailMultiAlternatives(
        "Reset your password", TEXT, "noreply@app.example.com", ["alice@example.com"], cc=["audit@example.com"]
    )
    with_html.attach_alternative(HTML, "text/html")
    with_html.attach("terms.pdf", b"%PDF-1.4 terms", "application/pdf")
    assert connection.send_messages([plain, with_html, with_html]) == 3

    welcome, reset, again = smtpd.messages
    assert welcome.problems == []
    assert reset.problems == []
    assert reset.links == [RESET]
    assert reset.normalized() == again.normalized()
    assert "[application/pdf, filename 'terms.pdf', 14 octets]" in reset.normalized()


def test_flask_mail(smtpd: SMTPServer) -> None:
    pytest.importorskip("flask_mail")
    from flask import Flask
    from flask_mail import Mail
    from flask_mail import Message as FlaskMessage

    app = Flask(__name__)
    app.config.update(MAIL_SERVER=smtpd.host, MAIL_PORT=smtpd.port, MAIL_DEFAULT_SENDER="noreply@app.example.com")
    mail = Mail(app)
    with app.app_context():
        for _ in range(2):
            mail.send(FlaskMessage("Reset your password", recipients=["alice@example.com"], body=TEXT, html=HTML))
    first, second = sent_twice(smtpd)
    assert first.problems == []
    assert first.links == [RESET]
    assert first.normalized() == second.normalized()
