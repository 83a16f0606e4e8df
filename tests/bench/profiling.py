"""Profiles of pytest_smtpd for the benchmark's main rows, both threads included.

``python tests/bench/profiling.py fixture``   a pytest session of tests using the ``smtpd`` fixture
``python tests/bench/profiling.py one_conn``  one smtplib connection sending small messages
``python tests/bench/profiling.py big``       one 20 MiB message
``python tests/bench/profiling.py steps``     wall time of each step of the fixture's set-up and teardown
``python tests/bench/profiling.py floor``     one connection: the bare server, pytest_smtpd's loop with
                                              canned replies (no parsing, no records), the full server
``python tests/bench/profiling.py path``      the server's read path alone (parse, record, reply) over a
                                              fake socket, in this thread: no system calls, no wake-ups.
                                              Under ``valgrind --tool=callgrind`` the instruction count
                                              repeats exactly; ``--messages 0`` gives the baseline.

The client side (and pytest) is profiled in the main thread; the server thread
gets its own profiler, wrapped around ``Engine._run``. ``--top N`` sets how
many functions are listed, ``--sort`` the order (``tottime`` or ``cumulative``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import smtplib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bare_server import BareServer  # noqa: E402
from fixture_sessions import _write_session  # noqa: E402
from run import RECIPIENTS, SENDER, big_message, small_message  # noqa: E402

from pytest_smtpd.engine import Engine, _Client  # noqa: E402
from pytest_smtpd.records import Ending  # noqa: E402
from pytest_smtpd.server import SMTPServer  # noqa: E402

SERVER_PROFILE = cProfile.Profile()


def _profiled_run(original: Callable[[Engine], None]) -> Callable[[Engine], None]:
    def run(self: Engine) -> None:
        SERVER_PROFILE.enable()
        try:
            original(self)
        finally:
            SERVER_PROFILE.disable()

    return run


@contextmanager
def client_profile(top: int, sort: str) -> Iterator[None]:
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        elapsed = time.perf_counter() - t0
        print(f"wall time {elapsed:.3f} s")
        report("main thread (client / pytest)", profile, top, sort)
        report("server thread", SERVER_PROFILE, top, sort)


CALLERS: list[str] = []
CALLEES: list[str] = []


def report(title: str, profile: cProfile.Profile, top: int, sort: str) -> None:
    profile.create_stats()
    if not profile.stats:  # type: ignore[attr-defined]
        # The fixture starts its thread on demand: tests that never talk to it start none.
        print(f"\n===== {title}: nothing ran =====")
        return
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    for pattern in CALLERS:
        stats.print_callers(pattern)
    for pattern in CALLEES:
        stats.print_callees(pattern)
    print(f"\n===== {title} (by {sort}) =====")
    print(out.getvalue())


def profile_fixture(tests: int, top: int, sort: str) -> None:
    import pytest

    with tempfile.TemporaryDirectory(prefix="smtpd-profile-") as tmp:
        root = Path(tmp)
        _write_session(root, "pytest_smtpd", tests, ("ctl", "unused"), small_message())
        args = ["-q", "-p", "no:cacheprovider", "-p", "pytest_smtpd.plugin", str(root)]
        os.environ["BENCH_OUT"] = str(root / "durations.json")
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        with client_profile(top, sort):
            pytest.main(args)


def profile_one_conn(messages: int, top: int, sort: str) -> None:
    message = small_message()
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.ehlo()
        with client_profile(top, sort):
            for _ in range(messages):
                client.sendmail(SENDER, RECIPIENTS, message)


def profile_big(mib: int, top: int, sort: str) -> None:
    payload = big_message(mib)
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.ehlo()
        with client_profile(top, sort):
            client.sendmail(SENDER, RECIPIENTS, payload)


def steps(cycles: int) -> None:
    """Time each step the ``smtpd`` fixture takes, outside pytest."""
    from pytest_smtpd.options import Options

    samples: dict[str, list[float]] = {}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        samples.setdefault(name, []).append(time.perf_counter() - t0)
        return result

    for _ in range(cycles):
        options = timed("Options.build", lambda: Options.build({}, {}, {}, {}, where="x"))
        server = timed("SMTPServer.from_options", lambda: SMTPServer.from_options(options))  # noqa: B023
        timed("start()", server.start)
        timed("stop()", server.stop)
    for name, values in samples.items():
        print(f"{name:28s} median {statistics.median(values) * 1e3:8.3f} ms   min {min(values) * 1e3:8.3f} ms")


class CannedLoopEngine(Engine):
    """pytest_smtpd's loop (selector, reads, writes, timeouts) answering canned replies like the
    bare server: no protocol core and no records after the greeting. What it reaches is the
    ceiling of the loop itself; the rest of the gap to the bare server is parsing and recording."""

    def _read(self, client: _Client) -> None:
        received = client.sock.recv_into(self._read_buffer)
        if not received:
            self._close(client, Ending.CLIENT_CLOSED)
            return
        unanswered: dict[int, bytes] = self.__dict__.setdefault("_unanswered", {})
        pending = unanswered.get(client.sid, b"") + bytes(self._read_view[:received])
        if client.partial:  # in the content
            if pending.endswith(b"\r\n.\r\n"):
                client.partial, pending = 0, b""
                client.out += b"250 2.0.0 OK\r\n"
        else:
            verb, pending = pending[:4].upper(), b""
            if verb == b"DATA":
                client.partial = 1
                client.out += b"354 End data with <CR><LF>.<CR><LF>\r\n"
            elif verb == b"EHLO":
                client.out += b"250-localhost\r\n250 8BITMIME\r\n"
            elif verb == b"QUIT":
                client.out += b"221 2.0.0 Bye\r\n"
                client.closing = Ending.QUIT
            else:
                client.out += b"250 2.0.0 OK\r\n"
        unanswered[client.sid] = pending
        self._flush(client)


def canned_loop_server() -> SMTPServer:
    """A started server whose engine is :class:`CannedLoopEngine`."""
    server = SMTPServer()
    server._engine = CannedLoopEngine(server.options, server._recorder, server._rules, None)
    return server.start()


class _FakeSocket:
    """Hands the server one prepared chunk per read; swallows what it sends."""

    def __init__(self) -> None:
        self.pending = b""

    def recv_into(self, buffer: bytearray) -> int:
        size = len(self.pending)
        buffer[:size] = self.pending
        self.pending = b""
        return size

    def send(self, data: bytes) -> int:
        return len(data)

    def fileno(self) -> int:
        return 1_000_000


def path(messages: int) -> None:
    """Time (or, under callgrind, count) the read path for one message after another."""
    from pytest_smtpd.protocol import Connection

    class NoSelector:
        def register(self, *args: object) -> None:
            pass

        modify = unregister = register

    lines = [
        b"mail FROM:<alice@example.com> size=1024\r\n",
        b"rcpt TO:<bob@example.com>\r\n",
        b"data\r\n",
        small_message() + b"\r\n.\r\n",
    ]
    server = SMTPServer()
    engine = server._engine
    engine._read_buffer = bytearray(65536)
    engine._read_view = memoryview(engine._read_buffer)
    engine._selector = NoSelector()  # type: ignore[assignment]
    sock = _FakeSocket()
    sid = server._recorder.open_session(("127.0.0.1", 1))
    client = _Client(sock, Connection(engine._config), sid, ("127.0.0.1", 1))  # type: ignore[arg-type]
    engine._arm(client)
    engine._clients[sid] = client
    engine._handle(client, None)
    for line in (b"ehlo client.example\r\n", *lines * min(messages, 20)):  # and a warm-up
        sock.pending = line
        engine._read(client)
    t0 = time.perf_counter()
    for _ in range(messages):
        for line in lines:
            sock.pending = line
            engine._read(client)
    elapsed = time.perf_counter() - t0
    assert len(server.messages) == messages + min(messages, 20)
    if messages:
        print(f"read path: {elapsed / messages * 1e6:.1f} us per 1 KiB message ({messages} messages)")


def floor(messages: int, rounds: int) -> None:
    """Messages per second and server-thread CPU per message on one smtplib connection, interleaved."""
    import threading

    message = small_message()
    results: dict[str, list[tuple[float, float]]] = {}

    cpu_used: dict[str, float] = {}

    def thread_cpu(target: Callable[..., None]) -> Callable[..., None]:
        def timed(*args: Any) -> None:
            t0 = time.thread_time()
            try:
                target(*args)
            finally:
                cpu_used[threading.current_thread().name] = time.thread_time() - t0

        return timed

    # The serving threads' CPU clocks, read as each thread ends.
    BareServer._serve = thread_cpu(BareServer._serve)  # type: ignore[method-assign]
    Engine._run = thread_cpu(Engine._run)  # type: ignore[method-assign]
    kinds: dict[str, Callable[[], Any]] = {
        "bare socket server": lambda: BareServer().start(),
        "pytest_smtpd loop, canned replies": canned_loop_server,
        "pytest_smtpd": lambda: SMTPServer().start(),
    }
    for round_ in range(rounds):
        for name in kinds if round_ % 2 == 0 else reversed(list(kinds)):
            cpu_used.clear()
            server = kinds[name]()
            with smtplib.SMTP(*server.address) as client:
                client.ehlo()
                for _ in range(20):
                    client.sendmail(SENDER, RECIPIENTS, message)
                t0 = time.perf_counter()
                for _ in range(messages):
                    client.sendmail(SENDER, RECIPIENTS, message)
                elapsed = time.perf_counter() - t0
            server.stop()
            cpu = sum(cpu_used.values()) / (messages + 20)
            results.setdefault(name, []).append((messages / elapsed, cpu))
    bare = statistics.median(rate for rate, _ in results["bare socket server"])
    print(f"one smtplib connection, {messages} x 1 KiB, median of {rounds} rounds")
    for name, values in results.items():
        rate = statistics.median(r for r, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:36s} {rate:7.0f} msgs/s  {rate / bare:5.2f}x bare   server thread {cpu * 1e6:5.0f} us CPU/msg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=("fixture", "one_conn", "big", "steps", "floor", "path"))
    parser.add_argument("--tests", type=int, default=300)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--mib", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"))
    parser.add_argument("--callers", action="append", default=[], help="also list the callers of matching functions")
    parser.add_argument("--callees", action="append", default=[], help="also list what matching functions call")
    args = parser.parse_args()
    CALLERS.extend(args.callers)
    CALLEES.extend(args.callees)
    if args.what in ("fixture", "one_conn", "big"):
        Engine._run = _profiled_run(Engine._run)  # type: ignore[method-assign]
    if args.what == "floor":
        floor(args.messages, args.rounds)
    elif args.what == "path":
        path(args.messages)
    elif args.what == "fixture":
        profile_fixture(args.tests, args.top, args.sort)
    elif args.what == "one_conn":
        profile_one_conn(args.messages, args.top, args.sort)
    elif args.what == "big":
        profile_big(args.mib, args.top, args.sort)
    else:
        steps(args.tests)


if __name__ == "__main__":
    main()
