"""The debugging server, ``python -m pytest_smtpd``, run as a subprocess and sent to with smtplib."""

from __future__ import annotations

import base64
import io
import json
import os
import queue
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_smtpd import Message, SMTPServer, cli

WAIT = 10.0
#: Start-up includes making the test CA with --starttls: slow on a loaded machine.
STARTUP_WAIT = 60.0


class DebugServer:
    """``python -m pytest_smtpd`` in a subprocess, its output lines read with a timeout."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_smtpd", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        self._stderr_lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        self.output: list[str] = []
        for reader in self._readers:
            reader.start()
        try:
            # With --json the banner is on stderr: stdout carries only JSON lines.
            first = self._banner() if "--json" in args else self.next_line(STARTUP_WAIT)
            prefix = "pytest-smtpd listening on "
            assert first.startswith(prefix), first
        except BaseException:
            self.stop(signal.SIGKILL)  # never leave the process behind
            raise
        host, _, port = first[len(prefix) :].split(" ")[0].rpartition(":")
        self.address = (host, int(port))

    def _read_stdout(self, stream: io.TextIOBase) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self, stream: io.TextIOBase) -> None:
        for line in stream:
            self._stderr.append(line)
            self._stderr_lines.put(line.rstrip("\n"))

    def _banner(self) -> str:
        try:
            return self._stderr_lines.get(timeout=STARTUP_WAIT)
        except queue.Empty:
            raise AssertionError(f"no banner on stderr within {STARTUP_WAIT}s") from None

    def next_line(self, wait: float = WAIT) -> str:
        try:
            line = self._lines.get(timeout=wait)
        except queue.Empty:
            raise AssertionError(f"no output line from the debugging server within {wait}s") from None
        if line is None:
            raise AssertionError(f"the debugging server exited; stderr:\n{self.stderr}")
        self.output.append(line)
        return line

    def line_containing(self, text: str) -> str:
        """The next output line containing ``text`` (every line read is kept in ``output``)."""
        while True:
            line = self.next_line()
            if text in line:
                return line

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum``, wait for the exit, collect the rest of the output; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for reader in self._readers:
                reader.join(WAIT)
            assert self.proc.stdout is not None
            assert self.proc.stderr is not None
            self.proc.stdout.close()
            self.proc.stderr.close()
        while not self._lines.empty():
            line = self._lines.get_nowait()
            if line is not None:
                self.output.append(line)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)


@pytest.fixture
def run_debug_server() -> Iterator[type[DebugServer]]:
    started: list[DebugServer] = []

    class Tracked(DebugServer):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for server in started:
        server.stop(signal.SIGKILL)


def welcome(to: str = "alice@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "app@example.com"
    msg["To"] = to
    msg["Subject"] = "Welcome aboard"
    msg.set_content("Hello Alice,\n\nthanks for signing up.\n")
    return msg


def test_prints_a_line_per_message_and_saves_it(run_debug_server: type[DebugServer], tmp_path: Path) -> None:
    server = run_debug_server("--save", str(tmp_path / "mail"))
    msg = welcome()
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        client.send_message(msg, to_addrs=["alice@example.com", "bob@example.com"])
    line = server.line_containing("#1 ")
    assert "from <app@example.com>" in line
    assert "to <alice@example.com>, <bob@example.com>" in line
    assert "subject 'Welcome aboard'" in line
    (saved,) = (tmp_path / "mail").iterdir()
    assert saved.name.startswith("1-")
    assert saved.suffix == ".eml"
    assert line.endswith(f" -> {saved}")
    content = saved.read_bytes()
    assert f" {len(content)} bytes" in line
    assert b"Subject: Welcome aboard\r\n" in content
    assert b"thanks for signing up." in content
    assert server.stop() == 0
    assert "Traceback" not in server.stderr
    assert server.output[-1] == "pytest-smtpd stopped (1 message accepted)"


def test_messages_are_numbered_in_order(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server()
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        for name in ("alice", "bob", "carol"):
            client.send_message(welcome(f"{name}@example.com"))
    assert "to <alice@example.com>" in server.line_containing("#1 ")
    assert "to <bob@example.com>" in server.line_containing("#2 ")
    assert "to <carol@example.com>" in server.line_containing("#3 ")
    assert server.stop() == 0


def test_verbose_prints_the_transcript_as_it_happens(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server("-v")
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        # The reply to NOOP is printed before the client reads it, not when the next command comes.
        assert client.noop()[0] == 250
        assert server.line_containing("C: noop") == "C: noop"
        assert server.next_line().startswith("S: 250")
        client.send_message(welcome())
    server.line_containing("#1 ")
    assert server.stop() == 0
    output = server.output
    header = next(i for i, line in enumerate(output) if line.startswith("--- session 1 from 127.0.0.1:"))
    transcript = output[header + 1 :]
    assert transcript[0].startswith("S: 220 ")
    assert transcript[1] == "C: noop"
    assert transcript[2].startswith("S: 250")
    assert transcript[3].startswith("C: ehlo ")
    assert "c: mail from:<app@example.com> size=" in "\n".join(transcript).lower()  # case differs by Python
    assert "C: Subject: Welcome aboard" in transcript
    assert "C: ." in transcript
    quit_ = next(i for i, line in enumerate(transcript) if line.lower() == "c: quit")
    assert transcript[quit_ + 1].startswith("S: 221")
    # Every server line is printed once: as many as the server sent replies.
    assert sum(line.startswith("S: 354") for line in transcript) == 1


def test_sigterm_stops_cleanly(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server()
    assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.stderr
    assert server.output[-1] == "pytest-smtpd stopped (0 messages accepted)"


def test_ctrl_c_with_a_client_connected(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server()
    client = smtplib.SMTP(*server.address, timeout=WAIT)
    try:
        assert client.ehlo()[0] == 250
        assert server.stop() == 0
        # The server said goodbye to the connected client.
        assert client.noop()[0] == 421
    finally:
        client.close()
    assert "Traceback" not in server.stderr


def test_port_in_use_is_exit_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status = cli.main(["--port", str(taken.getsockname()[1])])
    assert status == 1
    err = capsys.readouterr().err
    assert "port is in use" in err
    assert "Traceback" not in err


def test_bad_option_is_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--host", ""]) == 2
    assert "host" in capsys.readouterr().err


def test_auth_needs_user_and_password(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--auth", "alice"])
    assert info.value.code == 2
    assert "expected USER:PASS" in capsys.readouterr().err


def test_console_script_is_registered() -> None:
    (script,) = (ep for ep in metadata.entry_points(group="console_scripts") if ep.name == "pytest-smtpd")
    assert script.load() is cli.main


def test_starttls_and_auth(run_debug_server: type[DebugServer]) -> None:
    pytest.importorskip("trustme", reason="STARTTLS needs the 'tls' extra (pip install -e '.[test]')")
    server = run_debug_server("--starttls", "--auth", "alice:s3cret", "-v")
    assert server.output[0].endswith("(STARTTLS; AUTH for alice)")
    ca_line = server.line_containing("test CA certificate")
    context = ssl.create_default_context(cafile=ca_line.rsplit(": ", 1)[1])
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        client.starttls(context=context)
        client.login("alice", "s3cret")
        client.send_message(welcome())
    assert "from <app@example.com>" in server.line_containing("#1 ")
    assert server.stop() == 0
    printed = "\n".join(server.output)
    assert "C: STARTTLS" in printed
    secret = base64.b64encode(b"\0alice\0s3cret").decode()
    assert any(line.startswith("C: AUTH ") for line in server.output)
    assert any(line.startswith("S: 235 ") for line in server.output)
    assert secret not in printed
    assert "s3cret" not in printed


def test_lmtp_answers_each_recipient(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server("--lmtp")
    assert server.output[0].endswith("(LMTP)")
    # smtplib's LMTP reads one reply after the content: one recipient.
    with smtplib.LMTP(*server.address, timeout=WAIT) as client:
        assert client.docmd("EHLO", "client.example")[0] == 500  # RFC 2033 §4.1: LMTP has no EHLO
        refused = client.sendmail("app@example.com", ["alice@example.com"], welcome().as_bytes())
    assert refused == {}
    assert "to <alice@example.com> subject 'Welcome aboard'" in server.line_containing("#1 ")
    assert server.stop() == 0


class _ProxiedSMTP(smtplib.SMTP):
    """An SMTP client behind a proxy: a PROXY v1 header comes first on the connection."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # (smtplib's private hook between connecting and reading the greeting; not in typeshed)
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        sock.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n")
        return sock


def test_proxy_protocol_names_the_client_the_header_names(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server("--proxy-protocol", "-v")
    assert server.output[0].endswith("(PROXY protocol header first)")
    with _ProxiedSMTP(*server.address, timeout=WAIT) as client:
        client.send_message(welcome())
    server.line_containing("#1 ")
    assert server.stop() == 0
    assert "--- session 1 from 203.0.113.7:40000 ---" in server.output


def test_save_directory_that_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert cli.main(["--port", "0", "--save", str(tmp_path / "file" / "mail")]) == 2
    assert "cannot create --save directory" in capsys.readouterr().err


# A sink left running: --json, --keep, every line and every file through an interrupt ---------------


def test_json_prints_one_object_per_message_and_nothing_else(
    run_debug_server: type[DebugServer], tmp_path: Path
) -> None:
    server = run_debug_server("--json", "--save", str(tmp_path))
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        client.send_message(welcome(), to_addrs=["alice@example.com", "bob@example.com"])
        client.sendmail("app@example.com", ["carol@example.com"], b"X-Note: no subject\r\n\r\nhi\r\n")
    first, second = json.loads(server.next_line()), json.loads(server.next_line())
    assert server.stop() == 0
    assert set(first) == {"number", "received_at", "sender", "recipients", "subject", "size", "path"}
    assert first["number"] == 1
    assert first["sender"] == "app@example.com"
    assert first["recipients"] == ["alice@example.com", "bob@example.com"]
    assert first["subject"] == "Welcome aboard"
    saved = Path(first["path"])
    assert saved.parent == tmp_path
    assert first["size"] == len(saved.read_bytes())
    received = datetime.fromisoformat(first["received_at"])
    assert received.utcoffset() is not None
    assert abs(received.timestamp() - time.time()) < 3600
    assert (second["number"], second["subject"]) == (2, None)
    # stdout carries only the JSON lines; the banner and the closing line are on stderr.
    assert [json.loads(line)["number"] for line in server.output] == [1, 2]
    assert server.stderr.startswith("pytest-smtpd listening on ")
    assert "pytest-smtpd stopped (2 messages accepted)" in server.stderr


def test_json_path_is_null_without_save(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server("--json", "-v")
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        client.send_message(welcome())
    record = json.loads(server.next_line())
    assert server.stop() == 0
    assert record["path"] is None
    # -v goes to stderr too.
    assert "C: Subject: Welcome aboard" in server.stderr
    assert len(server.output) == 1


def test_every_message_of_a_burst_gets_its_line_and_file_despite_ctrl_c(
    run_debug_server: type[DebugServer], tmp_path: Path
) -> None:
    server = run_debug_server("--save", str(tmp_path), "--keep", "5")
    body = b"x" * 100_000
    with smtplib.SMTP(*server.address, timeout=WAIT) as client:
        for n in range(1, 31):
            client.sendmail("app@example.com", ["sink@example.com"], b"Subject: %d\r\n\r\n%s\r\n" % (n, body))
    # Ctrl-C the moment the last message is accepted: its line may not be printed yet.
    assert server.stop() == 0
    lines = [line for line in server.output if " from <app@example.com>" in line]
    assert [line.split(" #", 1)[1].split(" ")[0] for line in lines] == [str(n) for n in range(1, 31)]
    assert [f"subject '{n}'" in line for n, line in enumerate(lines, 1)] == [True] * 30
    assert server.output[-1] == "pytest-smtpd stopped (30 messages accepted)"
    files = sorted(tmp_path.iterdir(), key=lambda p: int(p.name.split("-")[0]))
    # Only whole .eml files: no temporary left, each exactly what was sent.
    assert [p.name.split("-")[0] + p.suffix for p in files] == [f"{n}.eml" for n in range(1, 31)]
    for n, path in enumerate(files, 1):
        assert path.read_bytes() == b"Subject: %d\r\n\r\n%s\r\n" % (n, body)


def test_ctrl_c_is_prompt_with_an_idle_client(run_debug_server: type[DebugServer]) -> None:
    server = run_debug_server()
    with socket.create_connection(server.address, timeout=WAIT) as idle:
        assert idle.recv(1024).startswith(b"220 ")
        server.proc.send_signal(signal.SIGINT)
        # A generous bound: it is milliseconds, but the machine may be loaded.
        assert server.proc.wait(timeout=WAIT) == 0
        assert idle.recv(1024).startswith(b"421 ")


def test_keep_must_be_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--keep", "-1"])
    assert info.value.code == 2
    assert "expected a number of messages" in capsys.readouterr().err


def sent(data: bytes) -> Message:
    return Message("app@example.com", ("alice@example.com",), data, received_at=time.time())


def test_records_queued_behind_the_stop_are_still_shown(tmp_path: Path) -> None:
    out = io.StringIO()
    console = cli._Console(out, out, out, False, tmp_path)
    backlog = cli._Backlog()
    for item in (sent(b"Subject: 1\r\n\r\n"), cli._STOP, sent(b"Subject: 2\r\n\r\n")):
        backlog.records.put(item)
    cli._serve(backlog, console)
    assert "subject '1'" in out.getvalue()
    assert "subject '2'" not in out.getvalue()
    cli._drain(backlog, console)
    assert "#2 " in out.getvalue()
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["1", "2"]


class _StuckOutput(io.StringIO):
    """Console output that blocks until released (a paused pager, a full pipe)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait(WAIT)
        return super().write(text)


def test_a_full_backlog_holds_the_server_thread_until_the_console_catches_up() -> None:
    backlog = cli._Backlog(high=4, low=1)
    for number in range(3):
        backlog.put(number)  # below the mark: returns at once
    producer = threading.Thread(target=backlog.put, args=(3,))
    producer.start()
    producer.join(0.2)
    assert producer.is_alive()  # the fourth waits for room
    assert backlog.records.qsize() == 4
    backlog.records.get_nowait()
    backlog.records.get_nowait()
    backlog.taken()  # two left: not down to low yet
    producer.join(0.2)
    assert producer.is_alive()
    backlog.records.get_nowait()
    backlog.taken()
    producer.join(WAIT)
    assert not producer.is_alive()


def test_a_released_backlog_never_holds_the_server_thread() -> None:
    backlog = cli._Backlog(high=2, low=0)
    backlog.put("first")
    producer = threading.Thread(target=backlog.put, args=("second",))
    producer.start()
    producer.join(0.2)
    assert producer.is_alive()
    backlog.release()  # the server is stopping: whatever the console does
    producer.join(WAIT)
    assert not producer.is_alive()
    backlog.put("third")  # and it never waits again
    assert backlog.records.qsize() == 3


def test_a_blocked_console_bounds_the_backlog_and_loses_no_line() -> None:
    # The console's output blocks: the server stops taking mail once 8
    # records wait (its clients wait for their replies), and every line comes
    # out once the output moves again.
    out = _StuckOutput()
    lines = cli._Console(out, out, out, False, None)
    backlog = cli._Backlog(high=8, low=2)
    with SMTPServer(keep=2) as smtp:
        smtp.subscribe(cli._observer(smtp, backlog, False), (Message,))
        console = threading.Thread(target=cli._serve, args=(backlog, lines))
        console.start()

        def send_all() -> None:
            for number in range(20):
                with smtplib.SMTP(*smtp.address, timeout=WAIT) as client:
                    client.sendmail("a@example.com", ["b@example.com"], f"Subject: {number}\r\n\r\nhi\r\n")

        sender = threading.Thread(target=send_all)
        sender.start()
        try:
            sender.join(0.5)
            assert sender.is_alive()  # held by the full backlog
            assert backlog.records.qsize() <= 8
            out.released.set()
            sender.join(WAIT)
            assert not sender.is_alive()
        finally:  # as main() does before stopping the server
            out.released.set()
            backlog.release()
            backlog.stop()
            console.join(WAIT)
            sender.join(WAIT)
    numbers = [line.split("#")[1].split(" ")[0] for line in out.getvalue().splitlines()]
    assert numbers == [str(n) for n in range(1, 21)]


def test_a_message_that_cannot_be_saved_still_gets_its_line(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    console = cli._Console(out, out, err, False, tmp_path / "gone")
    console.show(sent(b"Subject: kept\r\n\r\n"))
    console.flush()
    assert "#1 from <app@example.com>" in out.getvalue()
    assert " -> " not in out.getvalue()
    assert "cannot save message #1" in err.getvalue()


@pytest.mark.parametrize(
    ("data", "subject"),
    [
        (b"Subject: plain\r\n\r\nbody", "plain"),
        (b"From: a@b\r\nSUBJECT:  folded\r\n  twice\r\nTo: c@d\r\n\r\n", "folded  twice"),
        (b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n", "caf\u00e9"),
        (b"Subject: bare\n\nbody", "bare"),
        (b"From: a@b\r\n\r\nSubject: in the body\r\n", None),
        (b"\r\nSubject: after an empty header section\r\n", None),
        (b"Subject: no end of headers", "no end of headers"),
        (b"", None),
        ("Subject: caf\u00e9 raw\r\n\r\n".encode(), "caf\u00e9 raw"),
    ],
)
def test_the_subject_comes_from_the_header_section_alone(data: bytes, subject: str | None) -> None:
    assert cli.subject_of(data) == subject
    if subject is not None:
        assert Message("a@b", ("c@d",), data).subject == subject


def subject_by_regex(data: bytes) -> str | None:
    """What ``subject_of`` returned when it searched the header section with one case-insensitive regex."""
    if data.startswith((b"\r\n", b"\n")):
        return None
    end = re.search(rb"\n\r?\n", data)
    found = re.compile(rb"^subject:[ \t]*(.*(?:\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE).search(
        data, 0, end.start() + 1 if end is not None else len(data)
    )
    if found is None:
        return None
    text = re.sub(rb"\r?\n(?=[ \t])", b"", found.group(1)).rstrip(b"\r\n\t ").decode("utf-8", "replace")
    if "=?" in text:
        from email.policy import default

        try:
            return str(default.header_factory("Subject", text))
        except Exception:
            return text
    return text


@pytest.mark.parametrize(
    "data",
    [
        b"X-Subject: not this\r\nSubject: this\r\n\r\n",
        b"From: a@b\r\n subject: a continuation, not a field\r\nsUbJeCt: mixed case\r\n\r\n",
        b"Subject:\r\n\r\n",
        b"Subject:no space\r\n\r\n",
        b"To: c@d\r\nSubject: last field\r\n",
        b"To: c@d\r\nSubject: cut by the end\n\nSubject: body\r\n",
        b"To: c@d\r\n\r\nSubject: only in the body\r\n",
        b"Subject: first\r\nSubject: second\r\n\r\n",
        b"Subject: \xff\xfe not UTF-8\r\n\r\n",
        b"Subject: =?bogus?x?y?=\r\n\r\n",
    ],
)
def test_the_subject_is_found_as_the_regex_found_it(data: bytes) -> None:
    assert cli.subject_of(data) == subject_by_regex(data)


#: Pieces of header sections: field names in any case, folds, line ends of every kind, encoded words.
_HEADER_BITS = st.sampled_from(
    [
        b"Subject:",
        b"subject: ",
        b"SUBJECT:\t",
        b"X-Subject: x",
        b"To: c@d",
        b" folded",
        b"\tfolded",
        b"s",
        b": ",
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"=?utf-8?q?caf=C3=A9?=",
        "é".encode(),
        b"subject",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_HEADER_BITS, max_size=12).map(b"".join))
def test_the_subject_is_found_as_the_regex_found_it_whatever_the_header(data: bytes) -> None:
    assert cli.subject_of(data) == subject_by_regex(data)


#: Timestamps from 1970 to 2100, the fraction anywhere (also at the half-microsecond roundings).
_TIMESTAMPS = st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False) | st.integers(0, 4_102_444_800).flatmap(
    lambda second: st.sampled_from([0.0, 0.0005, 0.9995, 0.0000005, 0.9999995, 0.9999999]).map(lambda f: second + f)
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_TIMESTAMPS, min_size=1, max_size=5))
def test_the_clock_formats_each_time_as_strftime_and_isoformat_would(timestamps: list[float]) -> None:
    clock = cli._Clock()  # one clock for several times: what it remembers of one never shows in the next
    for timestamp in timestamps:
        assert clock.local(timestamp) == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
        assert clock.file_stamp(timestamp) == time.strftime("%Y%m%d-%H%M%S", time.localtime(timestamp))
        iso = datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")
        assert clock.iso_milliseconds(timestamp) == iso


def test_lines_of_messages_within_one_second_and_across_seconds() -> None:
    out = io.StringIO()
    console = cli._Console(out, out, out, False, None)
    base = float(int(time.time()))
    for offset in (0.1, 0.9, 1.0, 0.5, 2.3):  # back to an earlier second too
        console.show(Message("app@example.com", ("a@b", "c@d"), b"Subject: s\r\n\r\n", received_at=base + offset))
    console.flush()
    whens = [line.split(" #")[0] for line in out.getvalue().splitlines()]
    assert whens == [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(base + s)) for s in (0, 0, 1, 0, 2)]
    assert out.getvalue().splitlines()[0].endswith(" #1 from <app@example.com> to <a@b>, <c@d> subject 's' 14 bytes")


def test_json_lines_are_what_json_dumps_makes(tmp_path: Path) -> None:
    out = io.StringIO()
    console = cli._Console(out, out, out, True, tmp_path)
    message = Message("app@example.com", ("ü@example.com",), "Subject: café\r\n\r\n".encode(), received_at=1.9999996)
    console.show(message)
    console.flush()
    (path,) = tmp_path.iterdir()
    expected = {
        "number": 1,
        "received_at": "1970-01-01T00:00:02.000+00:00",
        "sender": "app@example.com",
        "recipients": ["ü@example.com"],
        "subject": "café",
        "size": message.size,
        "path": str(path),
    }
    assert out.getvalue() == json.dumps(expected, ensure_ascii=False) + "\n"


class _Banner(io.StringIO):
    """Output that says when the banner (with the port) was written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        if "listening on" in self.getvalue():
            self.written.set()
        return count


def test_a_message_recorded_after_the_stop_is_still_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    real = cli._observer

    def overtaking(server: object, records: queue.SimpleQueue[object], verbose: bool) -> object:
        observe = real(server, records, verbose)  # type: ignore[arg-type]

        def observer(record: object) -> None:
            if isinstance(record, Message):
                records.put(cli._STOP)  # as if Ctrl-C came just before this message was recorded
            observe(record)  # type: ignore[arg-type]

        return observer

    monkeypatch.setattr(cli, "_observer", overtaking)
    out = _Banner()
    errors: list[BaseException] = []

    def client() -> None:
        try:
            assert out.written.wait(WAIT)
            port = int(out.getvalue().split("\n")[0].rsplit(":", 1)[1])
            with smtplib.SMTP("127.0.0.1", port, timeout=WAIT) as smtp:
                smtp.sendmail("app@example.com", ["alice@example.com"], b"Subject: last\r\n\r\nhi\r\n")
                smtp.close()
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            os.kill(os.getpid(), signal.SIGINT)  # never leave main() waiting

    sender = threading.Thread(target=client)
    sender.start()
    try:
        assert cli.main(["--port", "0"], out=out) == 0
    finally:
        sender.join(WAIT)
    assert errors == []
    assert "#1 from <app@example.com> to <alice@example.com> subject 'last'" in out.getvalue()
    assert out.getvalue().endswith("pytest-smtpd stopped (1 message accepted)\n")


def test_importing_the_main_module_starts_nothing() -> None:
    import importlib
    import threading

    from pytest_smtpd import cli

    before = set(threading.enumerate())
    module = importlib.import_module("pytest_smtpd.__main__")
    assert module.main is cli.main
    assert set(threading.enumerate()) == before
