"""The debugging server as a sink, under Postfix's ``smtp-source``.

``python tests/bench/sink.py`` drives, one after the other in each round and
interleaved over rounds, four servers in their own processes on loopback:

- ``debug``: ``python -m pytest_smtpd`` (the debugging server, ``--keep 100``,
  its lines written to a file, which is counted afterwards: no line lost);
- ``inproc``: an ``SMTPServer(keep=100)`` in a tiny script, nothing printed;
- ``aiosmtpd``: ``python -m aiosmtpd -n`` (its default Debugging handler, which
  prints each message; stdout to /dev/null);
- ``smtp-sink``: Postfix's C sink, the floor.

with ``smtp-source -s 1`` and ``-s 8``, 1 KiB and 100 KiB messages (one message
per connection, as smtp-source sends them). It reports msgs/s and the server's
RSS afterwards, with ratios to ``inproc``. ``--sessions 1 --sizes 1`` narrows the
cases, ``--contenders debug,inproc`` the servers.

``--cpu N`` runs every server and ``smtp-source`` on CPU N alone. Unpinned, the
rate of one session swings by up to 3x from run to run with where the scheduler
puts the server's thread: on the CPU that ``smtp-source`` runs on (each reply
wakes the other side in place) or on the other (each one a cross-CPU wake-up).
On one CPU every contender gets the same placement, and the ratios say what each
server costs.

``--soak 100000`` instead sends that many 1 KiB messages to the debugging server
(8 sessions), sampling its RSS every 10,000: once ``--keep`` is full it stays flat.

Needs ``smtp-source`` and ``smtp-sink`` (Debian: ``apt-get install postfix``, in
/usr/sbin) and aiosmtpd (the ``bench`` extra). Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SBIN = ("/usr/sbin", "/usr/local/sbin")
KEEP = 100

IN_PROCESS = """
import signal, sys, threading
from pytest_smtpd import SMTPServer
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
with SMTPServer(port=int(sys.argv[1]), keep=int(sys.argv[2])):
    stop.wait()
"""


def tool(name: str) -> str:
    found = shutil.which(name) or next((f"{d}/{name}" for d in SBIN if os.access(f"{d}/{name}", os.X_OK)), None)
    if found is None:
        raise SystemExit(f"{name} not found: apt-get install postfix (it ships smtp-source and smtp-sink)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.recv(512)  # the greeting, then QUIT-less close
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command(name: str, port: int) -> list[str]:
    if name == "debug":
        return [sys.executable, "-m", "pytest_smtpd", "--port", str(port), "--keep", str(KEEP)]
    if name == "inproc":
        return [sys.executable, "-c", IN_PROCESS, str(port), str(KEEP)]
    if name == "aiosmtpd":
        return [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    if name == "smtp-sink":
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        return [tool("smtp-sink"), *user, f"127.0.0.1:{port}", str(socket.SOMAXCONN)]
    raise ValueError(name)


@contextmanager
def running(name: str, out: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with open(out, "wb") as sink:
        proc = subprocess.Popen(command(name, port), stdout=sink, stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            wait_listening(port, proc)
            yield proc, port
        finally:
            proc.send_signal(signal.SIGINT if name != "smtp-sink" else signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def source(port: int, sessions: int, size: int, messages: int) -> float:
    """Run smtp-source; return the seconds it took."""
    args = [tool("smtp-source"), "-s", str(sessions), "-l", str(size), "-m", str(messages)]
    args += ["-f", "app@example.com", "-t", "sink@example.com", "-M", "bench.example", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(args, check=True, timeout=600, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def lines_of(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if b" #" in line)


def matrix(args: argparse.Namespace, work: Path) -> int:
    names = args.contenders.split(",")
    cases = [(s, kib * 1024) for kib in args.sizes for s in args.sessions]
    rates: dict[tuple[str, int, int], list[float]] = {}
    rss: dict[tuple[str, int, int], list[int]] = {}
    cpu: dict[tuple[str, int, int], list[float]] = {}
    lost = 0
    for round_ in range(args.rounds):
        for sessions, size in cases:
            count = args.messages if size == 1024 else max(args.messages // 5, 50)
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                out = work / f"{name}.out"
                with running(name, out) as (proc, port):
                    before = cpu_seconds(proc.pid)
                    seconds = source(port, sessions, size, count)
                    cpu.setdefault((name, sessions, size), []).append((cpu_seconds(proc.pid) - before) / count)
                    rss.setdefault((name, sessions, size), []).append(rss_kib(proc.pid))
                rates.setdefault((name, sessions, size), []).append(count / seconds)
                if name == "debug" and lines_of(out) != count:
                    print(f"debug printed {lines_of(out)} lines for {count} messages", file=sys.stderr)
                    lost += 1
    pinned = f"; all on CPU {args.cpu}" if args.cpu is not None else ""
    print(f"smtp-source, one message per connection; {args.rounds} rounds, median; ratio to inproc{pinned}")
    table("case", names, cases, rates, lambda rate: f"{rate:>10.0f}/s")
    table("server CPU/msg", names, cases, cpu, lambda used: f"{used * 1000:>8.3f} ms")
    print(f"{'RSS after (MiB)':<16}" + "".join(f"{n:>22}" for n in names))
    for sessions, size in cases:
        row = f"-s {sessions} {size // 1024:>3} KiB  "
        print(row + "".join(f"{max(rss[(n, sessions, size)]) / 1024:>22.1f}" for n in names))
    return 1 if lost else 0


def table(
    title: str,
    names: list[str],
    cases: list[tuple[int, int]],
    values: dict[tuple[str, int, int], list[float]],
    show: Callable[[float], str],
) -> None:
    """One row per case: each contender's median, and its ratio to inproc's."""
    print(f"{title:<16}" + "".join(f"{n:>22}" for n in names))
    for sessions, size in cases:
        base = statistics.median(values[("inproc", sessions, size)]) if "inproc" in names else None
        cells = []
        for name in names:
            value = statistics.median(values[(name, sessions, size)])
            ratio = f" ({value / base:.2f}x)" if base else ""
            cells.append(f"{show(value)}{ratio:>10}")
        print(f"-s {sessions} {size // 1024:>3} KiB  " + "".join(f"{c:>22}" for c in cells))


def soak(args: argparse.Namespace, work: Path) -> int:
    out = work / "debug.out"
    step = 10_000
    samples: list[tuple[int, int]] = []
    started = time.perf_counter()
    with running("debug", out) as (proc, port):
        samples.append((0, rss_kib(proc.pid)))
        sent = 0
        while sent < args.soak:
            count = min(step, args.soak - sent)
            source(port, 8, 1024, count)
            sent += count
            samples.append((sent, rss_kib(proc.pid)))
        peak = rss_kib(proc.pid, "VmHWM")
    seconds = time.perf_counter() - started
    printed = lines_of(out)
    rate = sent / seconds
    print(f"soak: {sent} messages of 1 KiB, smtp-source -s 8, --keep {KEEP}: {seconds:.0f} s, {rate:.0f} msgs/s")
    print(f"{'messages':>10} {'RSS MiB':>9}")
    for count, kib in samples:
        print(f"{count:>10} {kib / 1024:>9.1f}")
    settled = samples[1][1]
    growth = (samples[-1][1] - settled) / settled
    print(f"peak RSS {peak / 1024:.1f} MiB; growth after the first {step}: {growth:+.1%}; lines printed: {printed}")
    return 0 if printed == sent and growth < 0.10 else 1


def numbers(value: str) -> list[int]:
    return [int(n) for n in value.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000, help="1 KiB messages per case (100 KiB: a fifth)")
    parser.add_argument("--contenders", default="debug,inproc,aiosmtpd,smtp-sink")
    parser.add_argument("--sessions", type=numbers, default=[1, 8], help="smtp-source -s values (default 1,8)")
    parser.add_argument("--sizes", type=numbers, default=[1, 100], help="message sizes in KiB (default 1,100)")
    parser.add_argument("--cpu", type=int, metavar="N", help="run the servers and smtp-source on CPU N only")
    parser.add_argument("--soak", type=int, metavar="N", help="soak the debugging server with N messages instead")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # inherited by every process it starts
    with tempfile.TemporaryDirectory() as work:
        return soak(args, Path(work)) if args.soak else matrix(args, Path(work))


if __name__ == "__main__":
    raise SystemExit(main())
