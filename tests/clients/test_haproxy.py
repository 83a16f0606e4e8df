"""A real HAProxy in front of the server, sending PROXY v1 and v2; skipped when haproxy is absent."""

from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_smtpd import SMTPServer

CONFIG = """\
global
    maxconn 10

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend smtp
    bind fd@{fd}
    default_backend smtpd

backend smtpd
    server s1 127.0.0.1:{port} {send_proxy}
"""


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Callable[[SMTPServer, str], tuple[str, int]]]:
    """Starts HAProxy relaying to a server; returns the address it listens on.

    The frontend's socket is bound and listening before HAProxy starts (HAProxy
    takes it as ``fd@``): a client can connect at once, and its connection waits
    in the backlog until HAProxy accepts it, so nothing polls for readiness.
    """
    path = shutil.which("haproxy")
    if path is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy); .ci/run installs it")
    listeners: list[socket.socket] = []
    processes: list[subprocess.Popen[bytes]] = []

    def start(server: SMTPServer, send_proxy: str) -> tuple[str, int]:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)
        config = tmp_path / f"haproxy-{len(listeners)}.cfg"
        config.write_text(CONFIG.format(fd=listener.fileno(), port=server.port, send_proxy=send_proxy))
        fds = [listener.fileno()]
        check = subprocess.run(
            [path, "-c", "-f", str(config)], pass_fds=fds, capture_output=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr.decode(errors="replace")
        processes.append(subprocess.Popen([path, "-db", "-f", str(config)], pass_fds=fds, stdout=subprocess.DEVNULL))
        host, port = listener.getsockname()[:2]
        return str(host), int(port)

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for listener in listeners:
        listener.close()


@pytest.mark.smtpd(proxy_protocol=True)
@pytest.mark.parametrize("send_proxy", ["send-proxy", "send-proxy-v2"])
def test_haproxy_tells_the_server_who_the_client_is(
    smtpd: SMTPServer, haproxy: Callable[[SMTPServer, str], tuple[str, int]], send_proxy: str
) -> None:
    address = haproxy(smtpd, send_proxy)
    with smtplib.SMTP(*address, timeout=30) as client:
        client.sendmail("app@example.com", ["user@example.com"], "Subject: through HAProxy\r\n\r\nhello\r\n")
        assert client.sock is not None
        host, port = client.sock.getsockname()[:2]

    message = smtpd.assert_sent(subject="through HAProxy")
    session = message.session
    assert session.peer == (host, port)
    assert session.proxy_peer is not None
    assert session.proxy_peer[0] == "127.0.0.1"
    assert session.proxy_peer != session.peer  # HAProxy's own connection, another port
    smtpd.assert_no_violations()
