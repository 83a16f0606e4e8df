"""Examples for "Async code": aiosmtplib sending from the test's own event loop."""

import asyncio
from email.message import EmailMessage

import pytest

from pytest_smtpd import SMTPServer

aiosmtplib = pytest.importorskip("aiosmtplib")


async def send_password_reset(host: str, port: int, to: str) -> None:
    """Application code: an async mailer."""
    msg = EmailMessage()
    msg["From"] = "noreply@example.com"
    msg["To"] = to
    msg["Subject"] = "Reset your password"
    msg.set_content("Follow this link: https://example.com/reset/abc123\n")
    await aiosmtplib.send(msg, hostname=host, port=port)


@pytest.mark.asyncio
async def test_awaiting_the_sender(smtpd: SMTPServer) -> None:
    await send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    msg = smtpd.assert_sent(to="alice@example.com", subject="Reset your password")
    assert msg.text is not None
    assert "/reset/abc123" in msg.text


@pytest.mark.asyncio
async def test_sent_in_a_background_task(smtpd: SMTPServer) -> None:
    task = asyncio.create_task(send_password_reset(smtpd.host, smtpd.port, "bob@example.com"))
    # wait_for_async yields to the event loop, so the task can run while the test waits.
    (msg,) = await smtpd.wait_for_async(to="bob@example.com", timeout=5)
    await task
    assert msg.subject == "Reset your password"


@pytest.mark.asyncio
async def test_scripted_failure_reaches_aiosmtplib(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await send_password_reset(smtpd.host, smtpd.port, "nobody@example.com")
    smtpd.assert_not_sent()
