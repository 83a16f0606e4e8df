"""pytest-smtpd's benchmark: the server side by side with a bare socket server and the peers.

Run it with ``python tests/bench/run.py`` (``--quick`` for a smoke run under a
minute, ``--json PATH`` for where the raw results go). Contenders are measured
interleaved, round by round, in one run: compare only the ratios within a run.
See docs/performance.md for what each row means.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import smtplib
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from contenders import CONTENDERS, NAMES  # noqa: E402
from fixture_sessions import KINDS, run_session, subprocess_env  # noqa: E402

MiB = 1024 * 1024
SENDER = "alice@example.com"
RECIPIENTS = ["bob@example.com"]


# Settings and results --------------------------------------------------------------------------------


@dataclass
class Settings:
    sessions: int = 3  # pytest sessions per contender (rows 1, 2 and the TLS fixture)
    tests: int = 300  # tests of each kind per session
    rounds: int = 5  # rounds of the in-process rows
    cycles: int = 50  # start+stop cycles per round
    messages: int = 2000  # one connection, small messages
    threads: int = 8
    per_thread: int = 250
    big_mib: int = 20
    big_rounds: int = 3
    per_connection: int = 40  # messages for the per-connection and STARTTLS+AUTH rows
    lazy: int = 40  # messages for the first ``.email`` access
    import_reps: int = 20
    taken_cap: float = 30.0

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            sessions=1,
            tests=100,
            rounds=1,
            cycles=20,
            messages=500,
            per_thread=60,
            big_rounds=1,
            per_connection=10,
            lazy=10,
            import_reps=6,
        )


@dataclass
class Row:
    key: str
    title: str
    unit: str
    higher_is_better: bool = False
    #: contender -> one value per trial
    values: dict[str, list[float]] = field(default_factory=dict)
    #: contender -> why there is no value
    missing: dict[str, str] = field(default_factory=dict)
    #: contender -> free-form details (error messages, raw samples)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, contender: str, value: float) -> None:
        self.values.setdefault(contender, []).append(value)

    def median(self, contender: str) -> float | None:
        values = self.values.get(contender)
        return statistics.median(values) if values else None


ROWS: dict[str, Row] = {
    row.key: row
    for row in (
        Row("control", "an empty-fixture test, whole run protocol (the control)", "ms"),
        Row("fixture_unused", "per-test cost, fixture set up and unused", "ms"),
        Row("fixture_send", "per-test cost, fixture + one smtplib sendmail", "ms"),
        Row("start_stop", "start+stop in-process", "ms"),
        Row("one_conn", "one smtplib connection, N × 1 KiB", "msgs/s", higher_is_better=True),
        Row("threads", "8 threads × N × 1 KiB", "msgs/s", higher_is_better=True),
        Row("per_conn", "one message per connection (connect, EHLO, send, QUIT)", "ms"),
        Row("big_time", "one 20 MiB message, send + record", "s"),
        Row("big_mem", "peak memory growth for that message", "MiB"),
        Row("port_taken", "start() when the port is taken: time to fail", "s"),
        Row("tls_fixture", "per-test cost, STARTTLS-enabled fixture unused", "ms"),
        Row("tls_auth", "STARTTLS + AUTH + send per message (new connection)", "ms"),
        Row("import", "plugin import after pytest (CPU time)", "ms"),
        Row("session", "added to a pytest session not using it: import + session work (CPU time)", "ms"),
        Row("lazy_email", "first `.email` access, multipart message", "ms"),
    )
}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Messages ------------------------------------------------------------------------------------------


def small_message(size: int = 1024) -> bytes:
    head = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: benchmark\r\n\r\n"
    line = b"x" * 62 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[: size - 2] + b"\r\n"


def big_message(mib: int) -> bytes:
    head = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: big\r\n\r\n"
    line = b"y" * 76 + b"\r\n"
    return head + line * (mib * MiB // len(line))


def multipart_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.com>"
    msg["To"] = "Bob Example <bob@example.com>, carol@example.com"
    msg["Subject"] = "Your invoice for March — ready"
    msg["Date"] = "Tue, 05 Mar 2024 10:00:00 +0000"
    msg["Message-ID"] = "<invoice-42@example.com>"
    msg.set_content("Hello Bob,\n\nyour invoice is attached.\n\nRegards,\nAlice\n" * 5)
    msg.add_alternative("<html><body><p>Hello Bob,</p><p>your invoice is attached.</p></body></html>\n" * 5, "html")
    msg.add_attachment(bytes(range(256)) * 80, maintype="application", subtype="pdf", filename="invoice.pdf")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


# The rows -----------------------------------------------------------------------------------------


def bench_fixture_sessions(settings: Settings, names: list[str], order: Callable[[int], list[str]], tls: bool) -> None:
    message = small_message()
    for session in range(settings.sessions):
        for name in order(session):
            if name not in names:
                continue
            with_tls = name == "pytest_smtpd" and tls
            kinds = tuple(k for k in KINDS if k != "tlsunused" or with_tls)
            log(f"  pytest session {session + 1}/{settings.sessions}: {name}")
            durations = run_session(name, settings.tests, kinds, message)
            control = statistics.median(durations["ctl"])
            ROWS["fixture_unused"].add(name, (statistics.median(durations["unused"]) - control) * 1e3)
            ROWS["fixture_send"].add(name, (statistics.median(durations["send"]) - control) * 1e3)
            if "tlsunused" in durations:
                ROWS["tls_fixture"].add(name, (statistics.median(durations["tlsunused"]) - control) * 1e3)
            ROWS["control"].add(name, control * 1e3)


def bench_start_stop(name: str, settings: Settings) -> None:
    contender = CONTENDERS[name]
    samples = []
    for _ in range(settings.cycles):
        t0 = time.perf_counter()
        server = contender.start()
        contender.stop(server)
        samples.append(time.perf_counter() - t0)
    ROWS["start_stop"].add(name, statistics.median(samples) * 1e3)


def bench_one_connection(name: str, settings: Settings, message: bytes) -> None:
    contender = CONTENDERS[name]
    server = contender.start()
    try:
        with smtplib.SMTP(*contender.address(server)) as client:
            client.ehlo()
            for _ in range(20):  # warm-up
                client.sendmail(SENDER, RECIPIENTS, message)
            t0 = time.perf_counter()
            for _ in range(settings.messages):
                client.sendmail(SENDER, RECIPIENTS, message)
            elapsed = time.perf_counter() - t0
        _expect(contender.count(server), settings.messages + 20, name)
    finally:
        contender.stop(server)
    ROWS["one_conn"].add(name, settings.messages / elapsed)


def bench_threads(name: str, settings: Settings, message: bytes) -> None:
    contender = CONTENDERS[name]
    server = contender.start()
    address = contender.address(server)
    barrier = threading.Barrier(settings.threads + 1)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with smtplib.SMTP(*address) as client:
                client.ehlo()
                barrier.wait()
                for _ in range(settings.per_thread):
                    client.sendmail(SENDER, RECIPIENTS, message)
        except BaseException as exc:
            failures.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=work) for _ in range(settings.threads)]
    try:
        for worker in workers:
            worker.start()
        barrier.wait()
        t0 = time.perf_counter()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - t0
        if failures:
            raise failures[0]
        total = settings.threads * settings.per_thread
        _expect(contender.count(server), total, name)
    finally:
        contender.stop(server)
    ROWS["threads"].add(name, total / elapsed)


def bench_per_connection(name: str, settings: Settings, message: bytes) -> None:
    contender = CONTENDERS[name]
    server = contender.start()
    address = contender.address(server)
    samples = []
    try:
        for _ in range(settings.per_connection):
            t0 = time.perf_counter()
            with smtplib.SMTP(*address) as client:
                client.sendmail(SENDER, RECIPIENTS, message)
            samples.append(time.perf_counter() - t0)
    finally:
        contender.stop(server)
    ROWS["per_conn"].add(name, statistics.median(samples) * 1e3)


def bench_big(name: str, payload: bytes, warm: bytes) -> None:
    """Send one big message to the contender running alone in a fresh process."""
    env = subprocess_env()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "worker.py"), "serve", name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None

    def ask(command: str) -> dict[str, Any]:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        answer: dict[str, Any] = json.loads(proc.stdout.readline())
        return answer

    try:
        address = json.loads(proc.stdout.readline())["address"]
        with smtplib.SMTP(*address) as client:  # warm-up: lazy imports, first allocations
            client.sendmail(SENDER, RECIPIENTS, warm)
        time.sleep(0.05)
        before = ask("mark")
        with smtplib.SMTP(*address) as client:
            client.ehlo()
            t0 = time.perf_counter()
            client.sendmail(SENDER, RECIPIENTS, payload)
            elapsed = time.perf_counter() - t0
        after = ask("report")
        _expect(after["count"], 2, name)
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ROWS["big_time"].add(name, elapsed)
    ROWS["big_mem"].add(name, (after["hwm"] - before["rss"]) / MiB)
    if not before["reset"]:
        ROWS["big_mem"].details[name] = "peak RSS could not be reset: growth over the process's start-up peak"


def bench_port_taken(names: list[str], settings: Settings) -> None:
    """Every contender at once (each in its own process): the slow ones wait on timeouts, not the CPU."""
    env = subprocess_env()
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "worker.py"), "taken", name, str(settings.taken_cap)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for name in names
    }
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=settings.taken_cap + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            ROWS["port_taken"].missing[name] = f"no answer in {settings.taken_cap + 10:.0f} s"
            continue
        result = json.loads(out.strip().splitlines()[-1])
        ROWS["port_taken"].add(name, result["seconds"])
        ROWS["port_taken"].details[name] = {"error": result["error"], "message": result["message"]}


def tls_support() -> tuple[bool, bool, str]:
    """Whether pytest_smtpd offers STARTTLS, and AUTH, right now (both are built in other issues)."""
    try:
        from pytest_smtpd import SMTPServer

        server = SMTPServer(starttls=True, users={"u": "p"}).start()
    except Exception as exc:
        return False, False, f"SMTPServer(starttls=True, users=...) raised {type(exc).__name__}: {exc}"
    try:
        with smtplib.SMTP(*server.address) as client:
            client.ehlo()
            starttls = client.has_extn("starttls")
            if not starttls:
                return False, False, "STARTTLS is not advertised"
            client.starttls(context=_client_context())
            client.ehlo()
            auth = client.has_extn("auth")
            return True, auth, "" if auth else "AUTH is not advertised after STARTTLS"
    except Exception as exc:
        return False, False, f"STARTTLS failed: {type(exc).__name__}: {exc}"
    finally:
        server.stop()


def _client_context() -> ssl.SSLContext:
    from pytest_smtpd import tls

    return tls.client_context()


def bench_tls_auth(settings: Settings, message: bytes) -> None:
    from pytest_smtpd import SMTPServer

    context = _client_context()
    samples = []
    with SMTPServer(starttls=True, users={"u": "p"}) as server:
        for _ in range(settings.per_connection):
            t0 = time.perf_counter()
            with smtplib.SMTP(*server.address) as client:
                client.starttls(context=context)
                client.login("u", "p")
                client.sendmail(SENDER, RECIPIENTS, message)
            samples.append(time.perf_counter() - t0)
        _expect(len(server.messages), settings.per_connection, "pytest_smtpd")
    ROWS["tls_auth"].add("pytest_smtpd", statistics.median(samples) * 1e3)


_IMPORT_SNIPPET = "import time, pytest; t0 = time.process_time(); import {module}; print(time.process_time() - t0)"

# A pytest session's own work for a plugin (registering it, its options and hooks, its
# configure and collection hooks), measured in one process: pairs of ``pytest --co``
# runs of an empty directory, without and with the plugin, after a warm-up. The plugin
# module is imported first and registered as an object (as the entry point that
# installs it does; ``-p name`` would add a scan of every installed package's entry
# points, which a session pays whatever plugins it has).
_SESSION_SNIPPET = """
import contextlib, importlib, io, json, statistics, sys, time
import pytest
plugin = importlib.import_module("{module}")
empty, reps = sys.argv[1], int(sys.argv[2])
def run(plugins):
    t0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(["--co", "-q", "-p", "no:cacheprovider", empty], plugins=plugins)
    return time.process_time() - t0
for _ in range(3):
    run([]); run([plugin])
print(json.dumps(statistics.median(run([plugin]) - run([]) for _ in range(reps))))
"""


def bench_imports(names: list[str], settings: Settings) -> None:
    """Import time of each plugin module, and what loading it adds to a pytest session.

    What a session that does not use the plugin pays is its import (CPU time in a fresh
    process, bytecode cached) plus the session's work for it (measured in process, in
    pairs). Comparing whole ``pytest`` processes with and without the plugin measures the
    same thing, but the noise of starting a process is ten times larger than the figure.
    """
    plugins = {name: CONTENDERS[name].plugin for name in names if CONTENDERS[name].plugin}
    env = subprocess_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    with tempfile.TemporaryDirectory(prefix="smtpd-bench-empty-") as empty:
        Path(empty, "pytest.ini").write_text("[pytest]\n")
        session_work: dict[str, float] = {}
        for name, plugin in plugins.items():  # fills the bytecode cache too
            out = subprocess.run(
                [sys.executable, "-c", _SESSION_SNIPPET.format(module=plugin), empty, str(settings.import_reps * 5)],
                env=env,
                cwd=empty,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            session_work[name] = float(out)
        for rep in range(settings.import_reps):
            for name, plugin in _rotate(list(plugins.items()), rep):
                out = subprocess.run(
                    [sys.executable, "-c", _IMPORT_SNIPPET.format(module=plugin)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                ROWS["import"].add(name, float(out) * 1e3)
                ROWS["session"].add(name, (float(out) + session_work[name]) * 1e3)


def bench_lazy_email(settings: Settings) -> None:
    from pytest_smtpd import SMTPServer

    data = multipart_message()
    with SMTPServer() as server:
        with smtplib.SMTP(*server.address) as client:
            for _ in range(settings.lazy + 1):
                client.sendmail(SENDER, RECIPIENTS, data)
        messages = server.messages
    samples = []
    for message in messages:
        t0 = time.perf_counter()
        message.email  # noqa: B018
        samples.append(time.perf_counter() - t0)
    assert messages[-1].attachments[0].filename == "invoice.pdf"
    ROWS["lazy_email"].values["pytest_smtpd"] = [s * 1e3 for s in samples[1:]]
    ROWS["lazy_email"].details["pytest_smtpd"] = {
        "first_in_process_ms": samples[0] * 1e3,
        "message_bytes": len(data),
    }


def _expect(got: int, wanted: int, name: str) -> None:
    if got != wanted:
        raise AssertionError(f"{name} recorded {got} messages, expected {wanted}")


def _rotate(items: list[Any], by: int) -> list[Any]:
    by %= max(1, len(items))
    return items[by:] + items[:by]


# Output --------------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(row: Row, name: str) -> str:
    values = row.values.get(name)
    if not values:
        return "n/a" if name in row.missing else "—"
    text = fmt(statistics.median(values))
    if len(values) > 1:
        text += f" ({fmt(min(values))}–{fmt(max(values))})"
    if row.key == "port_taken":
        error = row.details.get(name, {}).get("error")
        text += f" {error}" if error else " (started!)"
    return text


def ratio(row: Row, name: str, reference: str) -> str:
    value, ref = row.median(name), row.median(reference)
    if value is None or ref is None or ref == 0:
        return "—"
    return f"{value / ref:.2f}×"


def render(names: list[str]) -> str:
    labels = [CONTENDERS[n].label for n in names]
    lines = ["| | unit | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(names)]
    for row in ROWS.values():
        if not row.values and not row.missing:
            continue
        lines.append(f"| {row.title} | {row.unit} | " + " | ".join(cell(row, n) for n in names) + " |")
    out = ["Medians (min–max over trials):", "", *lines]
    for reference in ("bare", "aiosmtpd"):
        if reference not in names:
            continue
        out += ["", f"Ratios to {CONTENDERS[reference].label} (medians):", ""]
        out.append("| | " + " | ".join(labels) + " |")
        out.append("|---|" + "---|" * len(names))
        for row in ROWS.values():
            if row.values.get(reference) and len(row.values) > 1 and row.key != "port_taken":
                better = "higher" if row.higher_is_better else "lower"
                title = f"{row.title} ({better} is better)"
                out.append(f"| {title} | " + " | ".join(ratio(row, n, reference) for n in names) + " |")
    missing = [(row.title, n, why) for row in ROWS.values() for n, why in row.missing.items()]
    if missing:
        out += ["", "Not measured:"] + [f"- {title}, {n}: {why}" for title, n, why in missing]
    out += ["", "Targets of issue 6 (pytest_smtpd):", ""] + [f"- {line}" for line in targets()]
    return "\n".join(out)


def targets() -> list[str]:
    """Each target of issue 6, checked against this run's medians."""

    def m(key: str, name: str = "pytest_smtpd") -> float | None:
        return ROWS[key].median(name)

    def check(label: str, ok: bool | None, detail: str) -> str:
        verdict = "n/a" if ok is None else ("met" if ok else "NOT met")
        return f"{label}: {verdict} — {detail}"

    found = []

    def both(key: str, ref: str, limit: float, higher: bool = False) -> tuple[bool | None, str]:
        value, base = m(key), m(key, ref)
        if value is None or base is None:
            return None, "not measured"
        r = value / base
        return (r >= limit if higher else r <= limit), f"{r:.2f}× {ref} ({fmt(value)} vs {fmt(base)})"

    ok1, d1 = both("fixture_unused", "aiosmtpd", 0.1)
    cost = m("fixture_unused")
    ok1b = None if cost is None else cost <= 0.15
    found.append(check("fixture unused ≤ 0.1× aiosmtpd", ok1, d1))
    found.append(check("fixture unused ≤ 0.15 ms above an empty fixture", ok1b, f"{fmt(cost)} ms"))
    ok2, d2 = both("fixture_send", "aiosmtpd", 0.3)
    found.append(check("fixture + sendmail ≤ 0.3× aiosmtpd", ok2, d2))
    ok2b, d2b = both("fixture_send", "bare", 1.0)
    found.append(check("fixture + sendmail no slower than the bare server's fixture", ok2b, d2b))
    ok3, d3 = both("start_stop", "bare", 1.5)
    found.append(check("start+stop ≤ 1.5× bare", ok3, d3))
    ok4, d4 = both("one_conn", "bare", 0.9, higher=True)
    found.append(check("one connection ≥ 0.9× bare", ok4, d4))
    ok5, d5 = both("threads", "bare", 0.85, higher=True)
    found.append(check("8 threads ≥ 0.85× bare", ok5, d5))
    ok6, d6 = both("big_time", "bare", 1.3)
    found.append(check("20 MiB message ≤ 1.3× bare", ok6, d6))
    mem, bare_mem = m("big_mem"), m("big_mem", "bare")
    ok7 = None if mem is None or bare_mem is None else mem <= bare_mem + 20
    found.append(check("memory ≤ bare + one message size", ok7, f"{fmt(mem)} MiB vs {fmt(bare_mem)} + 20 MiB"))
    tls, plain = m("tls_fixture"), m("fixture_unused")
    ok8 = None if tls is None or plain is None else tls <= 2 * plain
    found.append(check("TLS fixture ≤ 2× plain fixture", ok8, f"{fmt(tls)} ms vs {fmt(plain)} ms"))
    taken = m("port_taken")
    message = ROWS["port_taken"].details.get("pytest_smtpd", {}).get("message", "")
    ok9 = None if taken is None else taken < 0.1 and "port=0" in message
    found.append(check("taken port fails at once with advice", ok9, f"{fmt(taken)} s: {message}"))
    added = m("session")
    ok10 = None if added is None else added < 5
    found.append(
        check("plugin adds < 5 ms to a session", ok10, f"{fmt(added)} ms (import alone {fmt(m('import'))} ms)")
    )
    return found


def machine() -> dict[str, Any]:
    versions = {}
    for dist in ("pytest-smtpd", "pytest", "aiosmtpd", "smtpdfix", "pytest-localserver", "trustme"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "versions": versions,
    }


# Main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and messages (under a minute)")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results.json", help="where to write raw results")
    parser.add_argument("--contenders", default=",".join(NAMES), help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument("--rows", default="", help=f"comma-separated subset of {','.join(ROWS)} (default all)")
    args = parser.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings()
    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = set(names) - set(NAMES)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    wanted = {r.strip() for r in args.rows.split(",") if r.strip()} or set(ROWS)
    ROWS["one_conn"].title = f"one smtplib connection, {settings.messages} × 1 KiB"
    ROWS["threads"].title = f"{settings.threads} threads × {settings.per_thread} × 1 KiB"
    ROWS["big_time"].title = f"one {settings.big_mib} MiB message, send + record"
    for name in names:
        CONTENDERS[name].load()

    def order(round_: int) -> list[str]:
        return _rotate(list(names), round_)

    started = time.perf_counter()
    has_tls, has_auth, why = tls_support() if "pytest_smtpd" in names else (False, False, "")
    if "pytest_smtpd" in names and not has_tls:
        ROWS["tls_fixture"].missing["pytest_smtpd"] = why
    if "pytest_smtpd" in names and not has_auth:
        ROWS["tls_auth"].missing["pytest_smtpd"] = why

    if wanted & {"fixture_unused", "fixture_send", "tls_fixture"}:
        log("pytest sessions (per-test cost)")
        bench_fixture_sessions(settings, names, order, has_tls)

    small = small_message()
    if wanted & {"start_stop", "one_conn", "threads", "per_conn"}:
        for round_ in range(settings.rounds):
            log(f"in-process round {round_ + 1}/{settings.rounds}")
            for key, bench in (
                ("start_stop", lambda n: bench_start_stop(n, settings)),
                ("one_conn", lambda n: bench_one_connection(n, settings, small)),
                ("threads", lambda n: bench_threads(n, settings, small)),
                ("per_conn", lambda n: bench_per_connection(n, settings, small)),
            ):
                if key not in wanted:
                    continue
                for name in order(round_):
                    gc.collect()
                    bench(name)

    if wanted & {"big_time", "big_mem"}:
        payload = big_message(settings.big_mib)
        for round_ in range(settings.big_rounds):
            log(f"{settings.big_mib} MiB message, round {round_ + 1}/{settings.big_rounds}")
            for name in order(round_):
                bench_big(name, payload, small)
        del payload

    if "port_taken" in wanted:
        log("start() on a taken port")
        bench_port_taken(names, settings)

    if "pytest_smtpd" in names:
        if has_auth and "tls_auth" in wanted:
            log("STARTTLS + AUTH per message")
            bench_tls_auth(settings, small)
        if "lazy_email" in wanted:
            log("lazy decoding")
            bench_lazy_email(settings)
    if wanted & {"import", "session"}:
        log("plugin import time")
        bench_imports(names, settings)

    elapsed = time.perf_counter() - started
    print(render(names))
    print(f"\n({elapsed:.0f} s; raw results in {args.json})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": machine(),
                "settings": asdict(settings),
                "contenders": {n: CONTENDERS[n].label for n in names},
                "seconds": elapsed,
                "rows": {key: asdict(row) for key, row in ROWS.items() if row.values or row.missing},
                "targets": targets(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
