"""wait_for and wait_for_async: mail sent while the test waits, from another
thread or from the test's own event loop."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

import aiosmtplib
import pytest

from pytest_smtpd import Ending, Reply, Session, SMTPServer, Violation
from pytest_smtpd.records import Recorder


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


# wait_until: anything that is recorded, not only messages ---------------------------------


def test_wait_until_returns_the_predicates_value_once_a_session_ended(smtpd: SMTPServer) -> None:
    client = smtplib.SMTP(*smtpd.address)
    client.noop()
    client.close()  # no QUIT: the server learns of it some time later

    def ended(server: SMTPServer) -> list[str]:
        return [str(s.ended) for s in server.sessions if s.ended is not None]

    assert smtpd.wait_until(ended, timeout=10) == ["client closed"]


def test_wait_until_wakes_on_a_record_made_after_it_started(smtpd: SMTPServer) -> None:
    looked = threading.Event()
    sender = Sender(smtpd, looked, "Late")

    def violation_seen(server: SMTPServer) -> list[Violation] | None:
        looked.set()  # the sender starts once the wait has looked once
        return list(server.violations) or None

    original = sender.run

    def run_and_misbehave() -> None:
        original()
        with socket.create_connection(smtpd.address, timeout=10) as sock:
            sock.recv(1024)
            sock.sendall(b"NOOP\nQUIT\r\n")  # a bare LF ends the NOOP: a violation
            while sock.recv(1024):
                pass

    sender.run = run_and_misbehave  # type: ignore[method-assign]
    sender.start()
    try:
        found = smtpd.wait_until(violation_seen, timeout=10)
    finally:
        sender.join(10)
    assert sender.errors == []
    assert found is not None
    assert [v.kind for v in found] == ["bare-lf"]


def test_wait_until_times_out_with_the_end_of_the_transcript(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(*smtpd.address) as client:
        for _ in range(12):
            client.noop()

    def never(server: SMTPServer) -> bool:
        return False

    with pytest.raises(AssertionError) as info:
        smtpd.wait_until(never, timeout=0.2)
    text = str(info.value)
    lines = text.splitlines()
    assert lines[0] == "wait_until(never): timed out after 0.2s; the predicate's last value was False."
    assert lines[1] == "The transcript's last 20 lines:"
    assert lines[2:] == smtpd.transcript.render_lines()[-20:]
    assert lines[-1].startswith("S: 221")


def test_wait_until_on_a_stopped_server_fails_at_once() -> None:
    with SMTPServer() as server:
        pass
    cpu = time.process_time()
    with pytest.raises(AssertionError, match=r"^wait_until\(<lambda>\): the server is stopped; .* was \[\]\.\n"):
        server.wait_until(lambda s: s.messages, timeout=30)
    assert time.process_time() - cpu < 0.1


def test_wait_until_fails_when_the_server_stops_meanwhile() -> None:
    server = SMTPServer().start()
    stopper = threading.Timer(0.05, server.stop)
    stopper.start()
    try:
        with pytest.raises(AssertionError, match="the server is stopped"):
            server.wait_until(lambda s: s.messages, timeout=30)
    finally:
        stopper.join()


def test_an_exception_from_the_predicate_propagates(smtpd: SMTPServer) -> None:
    with pytest.raises(IndexError):
        smtpd.wait_until(lambda s: s.sessions[0], timeout=10)


@pytest.mark.asyncio
async def test_wait_until_async_while_aiosmtplib_sends_from_the_same_loop(smtpd: SMTPServer) -> None:
    sending = asyncio.create_task(send_async(smtpd, "One", "Two"))

    def both_ended(server: SMTPServer) -> list[Session]:
        ended = [x for x in server.sessions if not x.active]
        return ended if len(ended) == 2 else []

    ended = await smtpd.wait_until_async(both_ended, timeout=10)
    await asyncio.wait_for(sending, 10)
    assert [len(x.messages) for x in ended] == [1, 1]
    assert await smtpd.wait_until_async(lambda s: len(s.messages) == 2) is True


@pytest.mark.asyncio
async def test_wait_until_async_times_out(smtpd: SMTPServer) -> None:
    with pytest.raises(
        AssertionError, match=r"^wait_until\(<lambda>\): timed out after 0\.2s; .*\nNothing was recorded\.$"
    ):
        await smtpd.wait_until_async(lambda s: None, timeout=0.2)


@pytest.mark.parametrize("writer", ["record_reply", "record_greeting", "end_session", "wake"])
def test_a_watch_sees_a_record_made_while_it_looked_away(writer: str) -> None:
    recorder = Recorder()
    sid = recorder.open_session(("127.0.0.1", 1))
    writes: dict[str, Callable[[], object]] = {
        "record_reply": lambda: recorder.record_reply(sid, Reply(250, "OK")),
        "record_greeting": lambda: recorder.record_greeting(sid, "EHLO", "client.example"),
        "end_session": lambda: recorder.end_session(sid, Ending.QUIT, snapshot=False),
        "wake": recorder.wake,
    }
    with recorder.watch() as watch:
        # Between two looks (outside the lock, where wait_until runs its predicate):
        writes[writer]()
        assert watch.wait(10) is True
        assert watch.wait(0) is False  # seen: nothing new since
