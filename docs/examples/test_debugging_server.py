"""Examples for "The debugging server": run it, send to it, stop it with Ctrl-C (SIGINT)."""

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from send_test_mail import send_test_mail


def read_lines(stream: IO[str], lines: "queue.Queue[str]") -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def test_debugging_server(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "pytest_smtpd", "--port", "0", "--save", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=read_lines, args=(server.stdout, lines))
        reader.start()
        try:
            first = lines.get(timeout=10)  # "pytest-smtpd listening on 127.0.0.1:41234"
            host, port = first.rsplit(" ", 1)[1].rsplit(":", 1)
            send_test_mail(host, int(port))
            while "#1 " not in (line := lines.get(timeout=10)):
                pass
            assert "subject 'Hello from the debugging server'" in line
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                status = server.wait(timeout=30)
            finally:
                if server.poll() is None:  # never leave it running, whatever failed
                    server.kill()
                    server.wait()
            reader.join()
    assert status == 0
    (saved,) = tmp_path.glob("1-*.eml")
    assert b"It works." in saved.read_bytes()


def test_debugging_server_json() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "pytest_smtpd", "--port", "0", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # the banner: "pytest-smtpd listening on 127.0.0.1:41234"
        text=True,
    ) as server:
        assert server.stdout is not None
        assert server.stderr is not None
        try:
            banner = server.stderr.readline()
            host, port = banner.split(" ")[3].rsplit(":", 1)
            send_test_mail(host, int(port))
            record = json.loads(server.stdout.readline())  # one JSON object per message
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
    assert record["number"] == 1
    assert record["sender"] == "me@example.com"
    assert record["recipients"] == ["you@example.com"]
    assert record["subject"] == "Hello from the debugging server"
    assert record["path"] is None  # no --save
