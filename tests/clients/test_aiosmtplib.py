"""aiosmtplib, sending from the test's own event loop."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from pytest_smtpd import SMTPServer

aiosmtplib = pytest.importorskip("aiosmtplib", reason="aiosmtplib is not installed (pip install -e '.[test]')")


def _message(to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "app@example.com"
    msg["To"] = to
    msg["Subject"] = "Größe: ünïcödé"
    msg.set_content("line one\n.starts with a dot\n" + "x" * 998 + "\n")
    return msg


@pytest.mark.asyncio
async def test_send_from_the_same_loop(smtpd: SMTPServer) -> None:
    send = asyncio.ensure_future(aiosmtplib.send(_message("a@example.com"), hostname=smtpd.host, port=smtpd.port))
    (msg,) = await smtpd.wait_for_async(to="a@example.com", timeout=10)
    await send
    assert msg.subject == "Größe: ünïcödé"
    assert msg.text is not None
    assert ".starts with a dot\n" in msg.text
    assert "x" * 998 in msg.text


@pytest.mark.asyncio
async def test_scripted_550_reaches_aiosmtplib(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await aiosmtplib.send(_message("nobody@example.com"), hostname=smtpd.host, port=smtpd.port)
    assert info.value.recipients[0].code == 550
    assert smtpd.messages == []
