"""FastAPI-Mail (on aiosmtplib) against the ``smtpd`` fixture: plain, STARTTLS with AUTH, implicit TLS."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("fastapi_mail", reason="FastAPI-Mail is not installed (pip install -e '.[test]')")

import aiosmtplib
from fastapi_mail import ConnectionConfig, FastMail, MessageSchema, MessageType
from fastapi_mail.errors import ConnectionErrors

needs_tls = pytest.mark.skipif(importlib.util.find_spec("trustme") is None, reason="TLS needs the 'tls' extra")


def config(smtpd: SMTPServer, **settings: Any) -> ConnectionConfig:
    """FastAPI-Mail's settings for the test's server: no TLS and no login unless ``settings`` say so."""
    base: dict[str, Any] = {
        "MAIL_SERVER": smtpd.host,
        "MAIL_PORT": smtpd.port,
        "MAIL_FROM": "app@example.com",
        "MAIL_FROM_NAME": "The App",
        "MAIL_USERNAME": "",
        "MAIL_PASSWORD": "",
        "MAIL_STARTTLS": False,
        "MAIL_SSL_TLS": False,
        "USE_CREDENTIALS": False,
        "TIMEOUT": 10,
    }
    return ConnectionConfig(**(base | settings))


def welcome(*recipients: str) -> MessageSchema:
    # Validated from plain data, as an application does: pydantic turns each address into a NameEmail.
    return MessageSchema.model_validate(
        {"subject": "Welcome!", "recipients": recipients, "body": "<p>Hello Alice</p>", "subtype": MessageType.html}
    )


@pytest.mark.asyncio
async def test_html_message_arrives_with_envelope_and_headers(smtpd: SMTPServer) -> None:
    await FastMail(config(smtpd)).send_message(welcome("alice@example.com", "bob@example.com"))

    msg = smtpd.assert_sent(to="alice@example.com", subject="Welcome!")
    assert msg.sender == "app@example.com"
    assert msg.recipients == ("alice@example.com", "bob@example.com")
    assert msg["From"] == "The App <app@example.com>"
    assert msg.html is not None
    assert msg.html.strip() == "<p>Hello Alice</p>"
    assert len(smtpd.sessions) == 1


@pytest.mark.asyncio
async def test_scripted_550_reaches_the_caller(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await FastMail(config(smtpd)).send_message(welcome("nobody@example.com"))
    (refused,) = info.value.recipients
    assert (refused.code, refused.message, refused.recipient) == (550, "5.1.1 No such user", "nobody@example.com")
    smtpd.assert_not_sent()


@needs_tls
@pytest.mark.asyncio
@pytest.mark.smtpd(starttls=True, auth_required=True, users={"alice": "s3cret"})
async def test_starttls_and_login(smtpd: SMTPServer) -> None:
    settings = config(
        smtpd,
        MAIL_STARTTLS=True,
        USE_CREDENTIALS=True,
        MAIL_USERNAME="alice",
        MAIL_PASSWORD="s3cret",
        CERT_BUNDLE=smtpd.ca_file,
    )
    await FastMail(settings).send_message(welcome("alice@example.com"))

    msg = smtpd.assert_sent(to="alice@example.com", subject="Welcome!")
    assert msg.session.tls
    assert msg.session.auth_user == "alice"


@needs_tls
@pytest.mark.asyncio
@pytest.mark.smtpd(implicit_tls=True)
async def test_implicit_tls(smtpd: SMTPServer) -> None:
    await FastMail(config(smtpd, MAIL_SSL_TLS=True, CERT_BUNDLE=smtpd.ca_file)).send_message(welcome("a@example.com"))
    assert smtpd.assert_sent(to="a@example.com").session.tls


@needs_tls
@pytest.mark.asyncio
@pytest.mark.smtpd(starttls=True)
async def test_an_untrusted_certificate_is_refused(smtpd: SMTPServer) -> None:
    with pytest.raises(ConnectionErrors, match="CERTIFICATE_VERIFY_FAILED"):
        await FastMail(config(smtpd, MAIL_STARTTLS=True)).send_message(welcome("a@example.com"))
    smtpd.assert_not_sent()
