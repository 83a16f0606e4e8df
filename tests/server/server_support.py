"""Helpers for the server tests: a raw SMTP client over a socket, and waiting
for the server to notice that sessions ended."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from pytest_smtpd import Command, Message, Reply, Session, SMTPServer

__all__ = ["RawClient", "ReplyHook", "ended_sessions", "local_address", "pytest_smtpd_threads"]


class RawClient:
    """A socket speaking SMTP by hand: send bytes, read replies as lists of lines."""

    def __init__(self, address: tuple[str, int], timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self._buffer = bytearray()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self) -> str:
        """One line without its CRLF; EOFError when the server closed first."""
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line.decode("utf-8")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"the server closed the connection; unread: {bytes(self._buffer)!r}")
            self._buffer += chunk

    def read_reply(self) -> list[str]:
        """Every line of one (possibly multi-line) reply, as sent."""
        lines = [self.read_line()]
        while lines[-1][3:4] == "-":
            lines.append(self.read_line())
        return lines

    def command(self, line: str) -> list[str]:
        """Send one command line and read its reply."""
        self.send(line.encode("utf-8") + b"\r\n")
        return self.read_reply()

    def greet(self, name: str = "client.example") -> list[str]:
        """Read the greeting and send EHLO; returns the EHLO reply."""
        greeting = self.read_reply()
        assert greeting[0].startswith("220 "), greeting
        return self.command(f"EHLO {name}")

    def read_rest(self) -> bytes:
        """Everything the server sends until it closes the connection."""
        data = bytes(self._buffer)
        self._buffer.clear()
        while chunk := self.sock.recv(65536):
            data += chunk
        return data


class ReplyHook:
    """Server hooks that only decide the replies to commands (as the plugin's
    ``pytest_smtpd_reply`` hook does)."""

    def __init__(self, reply: Callable[[Session, Command, Reply], Reply | tuple[int, str] | None]) -> None:
        self.reply: Callable[[Session, Command, Reply], Reply | tuple[int, str] | None] | None = reply
        self.message: Callable[[Session, Message, Reply, str | None], Reply | tuple[int, str] | None] | None = None
        self.session_ended: Callable[[Session], None] | None = None


def ended_sessions(server: SMTPServer, count: int = 1, timeout: float = 10.0) -> list[Session]:
    """The ended sessions, in order of connection, once at least ``count`` have
    ended: for a test to wait for the server to notice a client that went away."""

    def ended(server: SMTPServer) -> list[Session] | None:
        found = [s for s in server.sessions if not s.active]
        return found if len(found) >= count else None

    found = server.wait_until(ended, timeout)
    assert found is not None
    return found


def pytest_smtpd_threads() -> set[threading.Thread]:
    """The live server threads of this process."""
    return {t for t in threading.enumerate() if t.name.startswith("pytest-smtpd")}


def local_address(client: smtplib.SMTP) -> tuple[str, int]:
    """The client's end of an open smtplib connection: the server's view of the peer."""
    assert client.sock is not None
    host, port = client.sock.getsockname()[:2]
    return str(host), int(port)
