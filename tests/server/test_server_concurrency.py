"""Concurrent clients: every accepted message is recorded exactly once; a slow client blocks nobody."""

from __future__ import annotations

import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor

from server_support import RawClient

from pytest_smtpd import Command, Ending, SMTPServer

THREADS = 8
PER_THREAD = 250


def _send_batch(address: tuple[str, int], worker: int) -> list[str]:
    sent: list[str] = []
    with smtplib.SMTP(*address, timeout=60) as client:
        for number in range(PER_THREAD):
            message_id = f"<{worker}.{number}@load.example>"
            data = f"Message-ID: {message_id}\r\nSubject: {worker}/{number}\r\n\r\nbody {number}\r\n"
            assert client.sendmail(f"worker{worker}@example.com", ["sink@example.com"], data) == {}
            sent.append(message_id)
    return sent


def test_2000_messages_from_8_threads_are_each_recorded_once() -> None:
    with SMTPServer() as server:
        with ThreadPoolExecutor(THREADS) as pool:
            batches = list(pool.map(_send_batch, [server.address] * THREADS, range(THREADS)))

        sent = [message_id for batch in batches for message_id in batch]
        messages = server.messages
        received = [m["Message-ID"] for m in messages]

        assert len(sent) == THREADS * PER_THREAD == 2000
        assert len(messages) == 2000
        assert len(set(received)) == 2000
        assert set(received) == set(sent)
        sessions = server.sessions
        assert len(sessions) == THREADS
        assert all(len(s.messages) == PER_THREAD for s in sessions)
        assert all(s.ended is Ending.QUIT for s in sessions)
        sent_by = {f"worker{worker}@example.com": batch for worker, batch in enumerate(batches)}
        for session in sessions:
            # Within one connection, messages are recorded in the order sent.
            [sender] = {m.sender for m in session.messages}
            assert [m["Message-ID"] for m in session.messages] == sent_by[sender]


def test_a_delayed_client_does_not_hold_up_the_others() -> None:
    arrived = threading.Event()

    def slow(command: Command) -> bool:
        arrived.set()
        return command.address == "slow@example.com"

    with SMTPServer() as server, RawClient(server.address) as stalled:
        server.on("MAIL", slow).delay(60)
        stalled.greet()
        stalled.send(b"MAIL FROM:<slow@example.com>\r\n")
        assert arrived.wait(10)

        with smtplib.SMTP(*server.address, timeout=10) as client:
            assert client.sendmail("fast@example.com", ["bob@example.com"], "Subject: fast\r\n\r\nhi\r\n") == {}

        assert [m.sender for m in server.messages] == ["fast@example.com"]
        assert server.sessions[0].active
