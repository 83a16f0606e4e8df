"""wait_for and wait_for_async: mail sent while the test waits, from another
thread or from the test's own event loop."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import pytest

from pytest_smtpd import SMTPServer


def mail(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "worker@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = subject
    msg.set_content(f"{subject}\n")
    return msg


def send(server: SMTPServer, *subjects: str) -> None:
    with smtplib.SMTP(*server.address) as client:
        for subject in subjects:
            client.send_message(mail(subject))


class Sender(threading.Thread):
    """Sends ``subjects`` from another thread once ``go`` is set; keeps what went wrong."""

    def __init__(self, server: SMTPServer, go: threading.Event, *subjects: str) -> None:
        super().__init__(name="test sender")
        self.server = server
        self.go = go
        self.subjects = subjects
        self.errors: list[Exception] = []

    def run(self) -> None:
        try:
            if not self.go.wait(10):
                raise TimeoutError("the wait never started")
            send(self.server, *self.subjects)
        except Exception as exc:
            self.errors.append(exc)


def signalling(started: threading.Event, accept: Callable[[str], bool]) -> Callable[[object], bool]:
    """A subject predicate that sets ``started`` when the wait first looks at a message."""

    def predicate(subject: object) -> bool:
        started.set()
        return isinstance(subject, str) and accept(subject)

    return predicate


def test_wait_for_returns_a_message_sent_after_the_wait_started(smtpd: SMTPServer) -> None:
    send(smtpd, "Earlier")
    started = threading.Event()
    sender = Sender(smtpd, started, "Noise", "Ready")
    sender.start()
    try:
        found = smtpd.wait_for(subject=signalling(started, lambda s: s == "Ready"), timeout=10)
    finally:
        sender.join(10)
    assert sender.errors == []
    assert [m.subject for m in found] == ["Ready"]
    assert found[0] is smtpd.messages[2]
    assert [m.subject for m in smtpd.messages] == ["Earlier", "Noise", "Ready"]


def test_wait_for_count_three(smtpd: SMTPServer) -> None:
    send(smtpd, "Earlier")
    started = threading.Event()
    sender = Sender(smtpd, started, "Batch 1", "Batch 2", "Batch 3")
    sender.start()
    try:
        found = smtpd.wait_for(count=3, subject=signalling(started, lambda s: s.startswith("Batch")), timeout=10)
    finally:
        sender.join(10)
    assert sender.errors == []
    assert [m.subject for m in found] == ["Batch 1", "Batch 2", "Batch 3"]


def test_wait_for_returns_at_once_when_already_sent(smtpd: SMTPServer) -> None:
    send(smtpd, "One", "Two")
    found = smtpd.wait_for(count=2, timeout=10)
    assert [m.subject for m in found] == ["One", "Two"]


def test_wait_for_times_out(smtpd: SMTPServer) -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as info:
        smtpd.wait_for(subject="Never", timeout=0.3)
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 5
    assert str(info.value) == (
        "timed out after 0.3s: expected at least 1 message matching subject='Never'; found 0.\nNo message was accepted."
    )


def test_wait_for_times_out_with_fewer_than_count(smtpd: SMTPServer) -> None:
    send(smtpd, "Once")
    start = time.monotonic()
    with pytest.raises(AssertionError) as info:
        smtpd.wait_for(count=2, subject="Once", timeout=0.3)
    assert time.monotonic() - start >= 0.3
    assert str(info.value) == (
        "timed out after 0.3s: expected at least 2 messages matching subject='Once'; found 1.\n"
        "1 message accepted:\n"
        "  #1 from 'worker@example.com' to ['alice@example.com'] subject 'Once'  [matches]"
    )


def test_wait_for_on_a_stopped_server_does_not_spin() -> None:
    with SMTPServer() as server:
        pass
    cpu = time.process_time()
    with pytest.raises(AssertionError):
        server.wait_for(timeout=0.3)
    assert time.process_time() - cpu < 0.1


# In the test's own event loop -------------------------------------------------------


async def send_async(server: SMTPServer, *subjects: str) -> None:
    for subject in subjects:
        await aiosmtplib.send(mail(subject), hostname=server.host, port=server.port)


@pytest.mark.asyncio
async def test_wait_for_async_while_aiosmtplib_sends_from_the_same_loop(smtpd: SMTPServer) -> None:
    await send_async(smtpd, "Earlier")
    started = asyncio.Event()

    def subject_is_ready(subject: object) -> bool:
        started.set()
        return subject == "Ready"

    async def sender() -> None:
        await started.wait()
        await send_async(smtpd, "Noise", "Ready")

    sending = asyncio.create_task(sender())
    found = await smtpd.wait_for_async(subject=subject_is_ready, timeout=10)
    await asyncio.wait_for(sending, 10)
    assert [m.subject for m in found] == ["Ready"]
    assert [m.subject for m in smtpd.messages] == ["Earlier", "Noise", "Ready"]


@pytest.mark.asyncio
async def test_wait_for_async_count_three_with_gather(smtpd: SMTPServer) -> None:
    found, _ = await asyncio.gather(
        smtpd.wait_for_async(count=3, subject=lambda s: isinstance(s, str) and s.startswith("Batch"), timeout=10),
        send_async(smtpd, "Batch 1", "Other", "Batch 2", "Batch 3"),
    )
    assert [m.subject for m in found] == ["Batch 1", "Batch 2", "Batch 3"]


@pytest.mark.asyncio
async def test_wait_for_async_times_out(smtpd: SMTPServer) -> None:
    start = time.monotonic()
    with pytest.raises(AssertionError) as info:
        await smtpd.wait_for_async(subject="Never", timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 5
    assert str(info.value).startswith(
        "timed out after 0.3s: expected at least 1 message matching subject='Never'; found 0."
    )


@pytest.mark.asyncio
async def test_wait_for_async_rejects_unknown_filters(smtpd: SMTPServer) -> None:
    with pytest.raises(TypeError, match="unknown filter 'recipient'; valid filters: sender, to"):
        await smtpd.wait_for_async(recipient="alice@example.com")
