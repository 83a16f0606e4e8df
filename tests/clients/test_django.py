"""Django's SMTP email backend against the ``smtpd`` fixture: configured with ``MAILERS`` on
Django 6.1 and newer, with the ``EMAIL_*`` settings before (CI runs 4.2, 5.2 and 6.1)."""

from __future__ import annotations

import gc
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("django", reason="Django is not installed (pip install -e '.[test]')")

import django
from django.conf import settings
from django.core import mail
from django.test import override_settings

# Settings can be configured once per process (another test module may have done it):
# everything these tests depend on is overridden per test.
if not settings.configured:
    settings.configure()

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
#: Django 6.1 moves email configuration to MAILERS and deprecates the EMAIL_* settings.
MAILERS = django.VERSION >= (6, 1)
PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary \r\n content\n%%EOF\n"


@pytest.fixture(autouse=True)
def smtp_settings(smtpd: SMTPServer) -> Iterator[None]:
    """Django's default mailer pointed at the test's server, the way its Django version configures it."""
    overrides: dict[str, Any]
    if MAILERS:
        options = {"host": smtpd.host, "port": smtpd.port, "timeout": 10}
        overrides = {"MAILERS": {"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": options}}}
    else:
        overrides = {"EMAIL_BACKEND": SMTP_BACKEND, "EMAIL_HOST": smtpd.host, "EMAIL_PORT": smtpd.port}
        overrides["EMAIL_TIMEOUT"] = 10
    with override_settings(**overrides):
        yield


def test_email_message_with_attachments(smtpd: SMTPServer) -> None:
    email = mail.EmailMessage(
        subject="Your invoice",
        body="Dear Alice,\n\nyour invoice is attached.\n",
        from_email="app@example.com",
        to=["alice@example.com"],
        cc=["billing@example.com"],
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
    assert mail.send_mass_mail(datatuple) == 3

    assert [m.subject for m in smtpd.messages] == ["Report 0", "Report 1", "Report 2"]
    assert len(smtpd.sessions) == 1
    assert smtpd.sessions[0].messages == tuple(smtpd.messages)
    smtpd.assert_sent(sender="reports@example.com", to="user1@example.com", text="Body 1")


# Django before 5.0 leaves the SMTP connection open when sending raises: collect it here, quietly.
@pytest.mark.filterwarnings("ignore::ResourceWarning" if django.VERSION < (5, 0) else "error::ResourceWarning")
def test_scripted_550_raises_recipients_refused(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        mail.send_mail("Hello", "Hi there", "app@example.com", ["nobody@example.com"])
    assert info.value.recipients == {"nobody@example.com": (550, b"5.1.1 No such user")}
    assert smtpd.messages == []
    if django.VERSION < (5, 0):
        del info
        gc.collect()


@pytest.mark.skipif(MAILERS, reason="Django 6.1 deprecates fail_silently: with MAILERS the caller handles errors")
def test_scripted_550_with_fail_silently_sends_nothing(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    assert mail.send_mail("Hello", "Hi there", "app@example.com", ["nobody@example.com"], fail_silently=True) == 0
    smtpd.assert_not_sent()
    assert smtpd.sessions[0].replies[-1].code == 221  # the backend still said QUIT
