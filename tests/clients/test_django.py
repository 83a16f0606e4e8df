"""Django's SMTP email backend against the ``smtpd`` fixture."""

from __future__ import annotations

import smtplib

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("django", reason="Django is not installed (pip install -e '.[test]')")

from django.conf import settings
from django.core import mail
from django.core.mail.backends.smtp import EmailBackend

# Settings can be configured once per process (another test module may have done it):
# everything these tests depend on is passed per connection and per message.
if not settings.configured:
    settings.configure()  # the default EMAIL_BACKEND is the SMTP backend

PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n content\n%%EOF\n"


def connection(smtpd: SMTPServer) -> EmailBackend:
    backend = mail.get_connection(host=smtpd.host, port=smtpd.port, timeout=10, fail_silently=False)
    assert isinstance(backend, EmailBackend)
    return backend


def test_email_message_with_attachments(smtpd: SMTPServer) -> None:
    email = mail.EmailMessage(
        subject="Your invoice",
        body="Dear Alice,\n\nyour invoice is attached.\n",
        from_email="app@example.com",
        to=["alice@example.com"],
        cc=["billing@example.com"],
        connection=connection(smtpd),
    )
    email.attach("invoice.pdf", PDF, "application/pdf")
    email.attach("summary.csv", "item,amount\nwidget,3\n", "text/csv")
    assert email.send() == 1

    msg = smtpd.assert_sent(to="alice@example.com", subject="Your invoice", attachment="invoice.pdf")
    assert msg.sender == "app@example.com"
    assert msg.recipients == ("alice@example.com", "billing@example.com")
    assert msg.text == "Dear Alice,\n\nyour invoice is attached.\n"
    pdf, csv = msg.attachments
    assert (pdf.filename, pdf.content_type, pdf.content) == ("invoice.pdf", "application/pdf", PDF)
    assert (csv.filename, csv.content_type) == ("summary.csv", "text/csv")
    assert csv.content.replace(b"\r\n", b"\n") == b"item,amount\nwidget,3\n"


def test_send_mass_mail_uses_one_connection(smtpd: SMTPServer) -> None:
    datatuple = [(f"Report {n}", f"Body {n}", "reports@example.com", [f"user{n}@example.com"]) for n in range(3)]
    assert mail.send_mass_mail(datatuple, fail_silently=False, connection=connection(smtpd)) == 3

    assert [m.subject for m in smtpd.messages] == ["Report 0", "Report 1", "Report 2"]
    assert len(smtpd.sessions) == 1
    assert smtpd.sessions[0].messages == tuple(smtpd.messages)
    smtpd.assert_sent(sender="reports@example.com", to="user1@example.com", text="Body 1")


def test_scripted_550_raises_recipients_refused(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        mail.send_mail("Hello", "Hi there", "app@example.com", ["nobody@example.com"], connection=connection(smtpd))
    assert info.value.recipients == {"nobody@example.com": (550, b"5.1.1 No such user")}
    assert smtpd.messages == []


def test_scripted_550_with_fail_silently_sends_nothing(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    backend = mail.get_connection(host=smtpd.host, port=smtpd.port, fail_silently=True)
    assert mail.send_mail("Hello", "Hi there", "app@example.com", ["nobody@example.com"], connection=backend) == 0
    smtpd.assert_not_sent()
    assert smtpd.sessions[0].replies[-1].code == 221  # the backend still said QUIT
