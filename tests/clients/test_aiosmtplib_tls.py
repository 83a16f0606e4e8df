"""aiosmtplib with STARTTLS and implicit TLS against the same kind of server."""

from __future__ import annotations

import pytest

from pytest_smtpd import SMTPServer

aiosmtplib = pytest.importorskip("aiosmtplib", reason="aiosmtplib is not installed (pip install -e '.[test]')")
pytest.importorskip("trustme", reason="TLS tests need the 'tls' extra")

MESSAGE = "Subject: async tls\r\n\r\nhello\r\n"


@pytest.mark.asyncio
@pytest.mark.smtpd(starttls=True, users={"alice": "s3cret"})
async def test_start_tls_and_login(smtpd: SMTPServer) -> None:
    await aiosmtplib.send(
        MESSAGE,
        sender="alice@example.com",
        recipients=["to@example.com"],
        hostname=smtpd.host,
        port=smtpd.port,
        start_tls=True,
        tls_context=smtpd.client_ssl_context,
        username="alice",
        password="s3cret",
    )
    msg = smtpd.assert_sent(subject="async tls")
    assert msg.session.tls
    assert msg.session.auth_user == "alice"


@pytest.mark.asyncio
@pytest.mark.smtpd(implicit_tls=True)
async def test_use_tls(smtpd: SMTPServer) -> None:
    await aiosmtplib.send(
        MESSAGE,
        sender="a@example.com",
        recipients=["to@example.com"],
        hostname=smtpd.host,
        port=smtpd.port,
        use_tls=True,
        tls_context=smtpd.client_ssl_context,
    )
    assert smtpd.assert_sent(subject="async tls").session.tls
