"""Recipe: Django's SMTP email backend, pointed at the test's server."""

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("django", reason="the Django recipe needs Django (pip install -e '.[test]')")

import django
from django.conf import settings
from django.core import mail
from django.test import override_settings

# With pytest-django your settings module does this; a bare Django needs it once per process.
if not settings.configured:
    settings.configure()


@pytest.fixture
def django_smtp(smtpd: SMTPServer) -> Iterator[SMTPServer]:
    # Django's test runner (and pytest-django) switch to the in-memory backend: switch back to SMTP.
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    settings_for_smtpd: dict[str, Any]
    if django.VERSION >= (6, 1):
        # Django 6.1 and newer: the MAILERS setting, with the backend's options per alias.
        options = {"host": smtpd.host, "port": smtpd.port, "use_tls": False, "timeout": 10}
        settings_for_smtpd = {"MAILERS": {"default": {"BACKEND": smtp, "OPTIONS": options}}}
    else:
        # Django 4.2 to 6.0: the EMAIL_* settings (deprecated from 6.1 on).
        settings_for_smtpd = {
            "EMAIL_BACKEND": smtp,
            "EMAIL_HOST": smtpd.host,
            "EMAIL_PORT": smtpd.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_TIMEOUT": 10,
        }
    with override_settings(**settings_for_smtpd):
        yield smtpd


def notify_signup(email: str) -> None:
    """Application code: a view or signal handler would call this."""
    mail.send_mail(
        "Welcome!",
        "Thanks for signing up.",
        "noreply@example.com",
        [email],
        html_message="<p>Thanks for signing up.</p>",
    )


def test_signup_mail(django_smtp: SMTPServer) -> None:
    notify_signup("alice@example.com")
    msg = django_smtp.assert_sent(to="alice@example.com", subject="Welcome!", html="<p>Thanks for signing up.</p>")
    assert msg.text is not None
    assert msg.text.strip() == "Thanks for signing up."  # newer Django versions end the body with a newline


# Django before 5.0 leaves the SMTP connection open when sending raises: collect it here, quietly.
@pytest.mark.filterwarnings("ignore::ResourceWarning" if django.VERSION < (5, 0) else "error::ResourceWarning")
def test_unknown_recipient(django_smtp: SMTPServer) -> None:
    import gc
    import smtplib

    django_smtp.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        notify_signup("nobody@example.com")
    django_smtp.assert_not_sent()
    if django.VERSION < (5, 0):
        gc.collect()
