"""The servers under comparison, behind one small interface.

Each contender starts a server (``start``), gives its address, counts what it
recorded and stops it, the way a test suite using it would. The peers are
imported lazily so that loading this module costs nothing in a pytest session
that benchmarks another contender.
"""

from __future__ import annotations

import socket
from typing import Any

__all__ = ["CONTENDERS", "NAMES", "Contender", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (what a test suite does for aiosmtpd)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Contender:
    """One server implementation."""

    #: Key in results and tables.
    name = ""
    #: Column heading.
    label = ""
    #: ``-p`` plugin giving the fixture in a pytest session, or None for a conftest fixture.
    plugin: str | None = None
    #: Name of the fixture a test requests.
    fixture = "smtpd"

    def load(self) -> None:
        """Import what ``start`` needs, so that timings do not include imports."""

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        raise NotImplementedError

    def stop(self, server: Any) -> None:
        raise NotImplementedError

    def address(self, server: Any) -> tuple[str, int]:
        raise NotImplementedError

    def count(self, server: Any) -> int:
        """How many messages the server recorded."""
        raise NotImplementedError


class PytestSMTPD(Contender):
    name = "pytest_smtpd"
    label = "pytest_smtpd"
    plugin = "pytest_smtpd.plugin"

    def load(self) -> None:
        import pytest_smtpd.server  # noqa: F401

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        from pytest_smtpd import SMTPServer

        return SMTPServer(host=host, port=port).start()

    def stop(self, server: Any) -> None:
        server.stop()

    def address(self, server: Any) -> tuple[str, int]:
        return tuple(server.address)  # type: ignore[return-value]

    def count(self, server: Any) -> int:
        return len(server.messages)


class Bare(Contender):
    name = "bare"
    label = "bare socket server"

    def load(self) -> None:
        import bare_server  # noqa: F401

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        from bare_server import BareServer

        return BareServer(host, port).start()

    def stop(self, server: Any) -> None:
        server.stop()

    def address(self, server: Any) -> tuple[str, int]:
        return tuple(server.address)  # type: ignore[return-value]

    def count(self, server: Any) -> int:
        return len(server.messages)


class _Recording:
    """An aiosmtpd handler that keeps every envelope (what a test needs)."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


class AiosmtpdController(Contender):
    name = "aiosmtpd"
    label = "aiosmtpd Controller"

    def load(self) -> None:
        import aiosmtpd.controller  # noqa: F401

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        from aiosmtpd.controller import Controller

        controller = Controller(_Recording(), hostname=host, port=port or free_port(host))
        controller.start()
        return controller

    def stop(self, server: Any) -> None:
        server.stop()

    def address(self, server: Any) -> tuple[str, int]:
        return (server.hostname, server.port)

    def count(self, server: Any) -> int:
        return len(server.handler.envelopes)


class Smtpdfix(Contender):
    name = "smtpdfix"
    label = "smtpdfix"
    plugin = "smtpdfix.fixture"

    def load(self) -> None:
        import smtpdfix  # noqa: F401

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        from smtpdfix import SMTPDFix

        fix = SMTPDFix(hostname=host, port=port or None)
        controller = fix.__enter__()
        controller._bench_fix = fix
        return controller

    def stop(self, server: Any) -> None:
        server._bench_fix.__exit__(None, None, None)

    def address(self, server: Any) -> tuple[str, int]:
        return (server.hostname, server.port)

    def count(self, server: Any) -> int:
        return len(server.messages)


class Localserver(Contender):
    name = "localserver"
    label = "pytest-localserver"
    plugin = "pytest_localserver.plugin"
    fixture = "smtpserver"

    def load(self) -> None:
        import pytest_localserver.smtp  # noqa: F401

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Any:
        from pytest_localserver.smtp import Server

        server = Server(host=host, port=port)
        server.start()
        return server

    def stop(self, server: Any) -> None:
        server.stop()

    def address(self, server: Any) -> tuple[str, int]:
        return tuple(server.addr)  # type: ignore[return-value]

    def count(self, server: Any) -> int:
        return len(server.outbox)


CONTENDERS: dict[str, Contender] = {
    c.name: c for c in (PytestSMTPD(), Bare(), AiosmtpdController(), Smtpdfix(), Localserver())
}
NAMES: tuple[str, ...] = tuple(CONTENDERS)
