"""The debugging server, ``python -m pytest_smtpd``, run as a subprocess and sent to with smtplib."""

from __future__ import annotations

import base64
import io
import queue
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from importlib import metadata
from pathlib import Path

import pytest

from pytest_smtpd import cli

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
            first = self.next_line(STARTUP_WAIT)
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
        self._stderr.extend(stream)

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


def test_save_directory_that_cannot_be_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert cli.main(["--port", "0", "--save", str(tmp_path / "file" / "mail")]) == 2
    assert "cannot create --save directory" in capsys.readouterr().err
