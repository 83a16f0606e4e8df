"""Testing the links in your mail: Django's password reset, followed end to end."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("django", reason="the password-reset example needs Django (pip install -e '.[test]')")

import django
from django.conf import settings

if "django.contrib.auth" not in settings.INSTALLED_APPS:  # conftest.py configures the site
    pytest.skip("another test module configured Django first, without this site", allow_module_level=True)

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client, override_settings


@pytest.fixture(scope="module")
def database() -> None:
    """The site's tables, made once (an in-memory SQLite database)."""
    call_command("migrate", verbosity=0, interactive=False)


@pytest.fixture
def alice(database: None) -> Iterator[User]:
    user = User.objects.create_user("alice", "alice@example.com", "old password")
    yield user
    user.delete()


@pytest.fixture
def django_smtp(smtpd: SMTPServer) -> Iterator[SMTPServer]:
    """Django's SMTP backend pointed at the test's server (as in the Django recipe)."""
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    mail_settings: dict[str, Any]
    if django.VERSION >= (6, 1):  # the MAILERS setting; the EMAIL_* settings are deprecated
        options = {"host": smtpd.host, "port": smtpd.port, "timeout": 10}
        mail_settings = {"MAILERS": {"default": {"BACKEND": smtp, "OPTIONS": options}}}
    else:
        mail_settings = {"EMAIL_BACKEND": smtp, "EMAIL_HOST": smtpd.host, "EMAIL_PORT": smtpd.port, "EMAIL_TIMEOUT": 10}
    with override_settings(**mail_settings):
        yield smtpd


def test_the_reset_link_sets_a_new_password(django_smtp: SMTPServer, alice: User) -> None:
    browser = Client()
    response = browser.post("/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 302  # to "check your mail"

    # The mail: one of them, to Alice, with a link to the reset page in it.
    msg = django_smtp.assert_sent(to="alice@example.com", link="/reset/")
    msg.assert_well_formed()
    url = msg.link("/reset/")  # the same link is in the text and the HTML part: one link
    assert url.startswith("http://testserver/reset/")

    # Alice clicks it: Django checks the token and sends her on to the form without it.
    response = browser.get(urlsplit(url).path)
    assert response.status_code == 302
    form_url = response["Location"]
    assert form_url.endswith("/set-password/")
    assert b"<form" in browser.get(form_url).content

    response = browser.post(form_url, {"new_password1": "correct horse", "new_password2": "correct horse"})
    assert response.status_code == 302
    assert response["Location"] == "/reset/done/"

    alice.refresh_from_db()
    assert alice.check_password("correct horse")


def test_the_link_works_once(django_smtp: SMTPServer, alice: User) -> None:
    browser = Client()
    browser.post("/password_reset/", {"email": "alice@example.com"})
    path = urlsplit(django_smtp.assert_sent(link="/reset/").link("/reset/")).path
    form_url = browser.get(path)["Location"]
    browser.post(form_url, {"new_password1": "correct horse", "new_password2": "correct horse"})

    # The password changed, so the token in the mail no longer does anything.
    response = Client().get(path)
    assert response.status_code == 200
    assert b"This link has expired." in response.content


def test_no_mail_for_an_unknown_address(django_smtp: SMTPServer, alice: User) -> None:
    response = Client().post("/password_reset/", {"email": "mallory@example.com"})
    assert response.status_code == 302  # the same answer: nobody learns who has an account
    django_smtp.assert_not_sent()
