"""Many clients at once, over DATA and pipelined BDAT: every message that got a
2xx final reply is recorded exactly once and no other is; the server stops
promptly and leaves no thread or socket behind. ``SMTPD_HEAVY=1`` runs
50 clients x 100 messages instead of 10 x 20."""

from __future__ import annotations

import os
import smtplib
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from server_support import RawClient, pytest_smtpd_threads

from pytest_smtpd import Ending, SMTPServer

HEAVY = os.environ.get("SMTPD_HEAVY") == "1"
CLIENTS, MESSAGES = (50, 100) if HEAVY else (10, 20)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def content(worker: int, number: int) -> bytes:
    return (
        f"Message-ID: <{worker}.{number}@load.example>\r\nSubject: {worker}/{number}\r\n\r\n"
        f"..body {number} of worker {worker}\r\n.\r\n"
    ).encode()


def send_with_smtplib(address: tuple[str, int], worker: int) -> list[str]:
    """DATA, one command at a time; the Message-IDs that got 250."""
    accepted = []
    with smtplib.SMTP(*address, timeout=60) as client:
        for number in range(MESSAGES):
            refused = client.sendmail(f"w{worker}@example.com", ["sink@example.com"], content(worker, number))
            assert refused == {}
            accepted.append(f"<{worker}.{number}@load.example>")
    return accepted


def send_pipelined_bdat(address: tuple[str, int], worker: int) -> list[str]:
    """Each transaction in one write (PIPELINING + CHUNKING); the Message-IDs that got 250."""
    accepted = []
    with RawClient(address, timeout=60) as client:
        client.greet()
        for number in range(MESSAGES):
            data = content(worker, number)
            half = len(data) // 2
            client.send(
                f"MAIL FROM:<w{worker}@example.com>\r\nRCPT TO:<sink@example.com>\r\n".encode()
                + b"BDAT %d\r\n" % half
                + data[:half]
                + b"BDAT %d LAST\r\n" % (len(data) - half)
                + data[half:]
            )
            replies = [client.read_reply() for _ in range(4)]
            assert replies[:3] == [["250 2.1.0 OK"], ["250 2.1.5 OK"], [f"250 2.0.0 {half} octets received"]]
            assert replies[3] == [f"250 2.0.0 OK: {len(data)} octets queued"]
            accepted.append(f"<{worker}.{number}@load.example>")
        assert client.command("QUIT") == ["221 2.0.0 Bye"]
    return accepted


def send(address: tuple[str, int], worker: int) -> list[str]:
    return (send_pipelined_bdat if worker % 2 else send_with_smtplib)(address, worker)


def test_concurrent_clients_each_message_recorded_exactly_once() -> None:
    fds = open_fds()
    started = time.perf_counter()
    with SMTPServer() as server:
        with ThreadPoolExecutor(CLIENTS) as pool:
            batches = list(pool.map(send, [server.address] * CLIENTS, range(CLIENTS)))
        wall = time.perf_counter() - started

        accepted = [message_id for batch in batches for message_id in batch]
        recorded = Counter(m["Message-ID"] for m in server.messages)
        lost = set(accepted) - set(recorded)
        assert len(accepted) == CLIENTS * MESSAGES
        assert lost == set()
        assert set(recorded) == set(accepted)
        assert max(recorded.values()) == 1
        # Content arrives exactly as sent (smtplib dot-stuffs it; BDAT is never unstuffed).
        sent = {f"<{w}.{n}@load.example>": content(w, n) for w in range(CLIENTS) for n in range(MESSAGES)}
        assert all(m.data == sent[str(m["Message-ID"])] for m in server.messages)
        sessions = server.sessions
        assert len(sessions) == CLIENTS
        assert all(len(s.messages) == MESSAGES for s in sessions)
        assert server.errors == []
        assert {s.ended for s in sessions} == {Ending.QUIT}

        stopping = time.perf_counter()
    stopped = time.perf_counter() - stopping

    print(
        f"\nload: {CLIENTS} clients x {MESSAGES} messages, accepted {len(accepted)}, "
        f"recorded {sum(recorded.values())}, lost {len(lost)}, wall {wall:.2f}s, stop {stopped * 1000:.1f}ms"
    )
    assert stopped < 2.0
    assert pytest_smtpd_threads() == set()
    assert open_fds() == fds
