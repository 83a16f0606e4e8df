"""Starting and stopping the server: addresses, errors, clean and quick shutdown."""

from __future__ import annotations

import errno
import os
import smtplib
import socket
import threading
import time

import pytest
from server_support import RawClient, local_address, pytest_smtpd_threads

from pytest_smtpd import ConfigurationError, Ending, SMTPServer, StartError

DATA = b"Subject: lifecycle\r\n\r\nbody\r\n"


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_context_manager_starts_and_stops() -> None:
    before = pytest_smtpd_threads()
    server = SMTPServer()
    assert not server.running

    with server as entered:
        assert entered is server
        assert server.running
        [thread] = pytest_smtpd_threads() - before
        assert thread.name == f"pytest-smtpd 127.0.0.1:{server.port}"

    assert not server.running
    assert not thread.is_alive()
    assert pytest_smtpd_threads() - before == set()


def test_leaving_the_block_by_an_exception_stops_the_server() -> None:
    server = SMTPServer()
    with pytest.raises(KeyError), server:
        raise KeyError("boom")
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(server.address, timeout=5).close()


def test_address_host_and_port() -> None:
    server = SMTPServer()
    assert server.address == ("127.0.0.1", 0)
    with server:
        host, port = server.address
        assert host == server.host == "127.0.0.1"
        assert port == server.port
        assert 0 < port < 65536
        assert repr(server) == f"<SMTPServer 127.0.0.1:{port} running, 0 message(s)>"
        with smtplib.SMTP(*server.address) as client:
            assert client.noop()[0] == 250
    assert repr(server) == f"<SMTPServer 127.0.0.1:{port} stopped, 0 message(s)>"


def test_records_outlive_the_server() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.sendmail("alice@example.com", ["bob@example.com"], DATA)
    assert [m.subject for m in server.messages] == ["lifecycle"]
    assert server.sessions[0].ended is Ending.QUIT


def test_stop_twice_and_stop_before_start_are_harmless() -> None:
    server = SMTPServer()
    server.stop()
    server.start()
    server.stop()
    server.stop()
    assert not server.running


def test_start_twice_is_an_error() -> None:
    with SMTPServer() as server, pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_start_on_demand_listens_now_and_starts_the_thread_when_the_port_is_read() -> None:
    before = pytest_smtpd_threads()
    server = SMTPServer().start_on_demand()
    try:
        assert server.running
        assert pytest_smtpd_threads() - before == set()
        assert repr(server) == "<SMTPServer 127.0.0.1:(port on first use) running, 0 message(s)>"  # not started
        assert pytest_smtpd_threads() - before == set()

        port = server.port

        [thread] = pytest_smtpd_threads() - before
        assert thread.name == f"pytest-smtpd 127.0.0.1:{port}"
        assert server.address == ("127.0.0.1", port)
        with smtplib.SMTP(*server.address) as client:
            assert client.sendmail("alice@example.com", ["bob@example.com"], DATA) == {}
        server.assert_sent(to="bob@example.com", subject="lifecycle")
    finally:
        server.stop()
    assert not server.running
    assert not thread.is_alive()


def test_reading_the_address_starts_the_thread_too() -> None:
    before = pytest_smtpd_threads()
    with SMTPServer().start_on_demand() as server:
        host, port = server.address
        assert len(pytest_smtpd_threads() - before) == 1
        with smtplib.SMTP(host, port) as client:
            assert client.noop()[0] == 250


def test_a_server_never_asked_for_its_port_stops_without_a_thread_or_a_socket() -> None:
    before = pytest_smtpd_threads()
    server = SMTPServer().start_on_demand()
    assert server._engine.listener is None  # on 127.0.0.1 even the bind waits for the first read

    server.stop()
    server.stop()

    assert not server.running
    assert server._engine.listener is None
    assert pytest_smtpd_threads() - before == set()
    with pytest.raises(RuntimeError, match="already running"), SMTPServer().start_on_demand() as again:
        again.start()
    server.start()  # a stopped server starts again
    try:
        assert server.running
        with smtplib.SMTP(*server.address) as client:
            assert client.noop()[0] == 250
    finally:
        server.stop()


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_another_host_is_bound_at_once_and_closed_by_stop() -> None:
    # Binding to an address other than 127.0.0.1 can fail: it fails here, not at the first read.
    before = pytest_smtpd_threads()
    server = SMTPServer(host="::1").start_on_demand()
    listener = server._engine.listener
    assert listener is not None
    assert pytest_smtpd_threads() - before == set()

    server.stop()

    assert listener.fileno() == -1  # closed
    assert pytest_smtpd_threads() - before == set()


def test_a_bad_host_fails_start_on_demand_at_once() -> None:
    with pytest.raises(StartError, match="not an address of this machine"):
        SMTPServer(host="192.0.2.1").start_on_demand()


def test_start_on_demand_with_a_fixed_port_starts_the_thread_at_once() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = pytest_smtpd_threads()
    with SMTPServer(port=port).start_on_demand() as server:
        # A client configured with the port never reads server.port: it must be answered.
        assert len(pytest_smtpd_threads() - before) == 1
        with RawClient(("127.0.0.1", port)) as client:
            assert client.read_reply()[0].startswith("220 ")
        assert len(server.sessions) == 1


def test_threads_racing_for_the_port_start_one_server_thread() -> None:
    before = pytest_smtpd_threads()
    with SMTPServer().start_on_demand() as server:
        barrier = threading.Barrier(8)
        ports: list[int] = []

        def read() -> None:
            barrier.wait()
            ports.append(server.port)

        readers = [threading.Thread(target=read) for _ in range(8)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        assert len(set(ports)) == 1
        assert len(pytest_smtpd_threads() - before) == 1
    assert pytest_smtpd_threads() - before == set()


def test_occupied_port_raises_start_error_at_once() -> None:
    with SMTPServer() as first:
        second = SMTPServer(port=first.port)
        started = time.monotonic()

        with pytest.raises(StartError, match="port=0") as info:
            second.start()

        assert time.monotonic() - started < 2.0
        assert f"127.0.0.1:{first.port}" in str(info.value)
        assert isinstance(info.value, OSError)
        assert not second.running
        with smtplib.SMTP(*first.address) as client:
            assert client.noop()[0] == 250


def test_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        SMTPServer(bogus=1)

    text = str(info.value)
    assert "'bogus'" in text
    assert "SMTPServer()" in text
    for name in ("host", "port", "hostname", "size_limit", "max_recipients", "timeout", "strict"):
        assert name in text
    assert isinstance(info.value, TypeError)


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    with SMTPServer(host="::1") as server:
        assert server.host == "::1"
        assert server.address == ("::1", server.port)
        with smtplib.SMTP(*server.address) as client:
            assert client.sendmail("alice@example.com", ["bob@example.com"], DATA) == {}
            local_port = local_address(client)[1]

        [message] = server.messages
        assert message.session.peer == ("::1", local_port)
        assert f"--- session 1 from [::1]:{local_port} ---" in str(server.transcript)


def test_stop_is_quick_with_idle_and_mid_data_clients() -> None:
    before = pytest_smtpd_threads()
    server = SMTPServer().start()
    with (
        RawClient(server.address) as fresh,
        RawClient(server.address) as greeted,
        RawClient(server.address) as mid_data,
    ):
        assert fresh.read_reply()[0].startswith("220 ")
        greeted.greet()
        mid_data.greet()
        mid_data.command("MAIL FROM:<alice@example.com>")
        mid_data.command("RCPT TO:<bob@example.com>")
        assert mid_data.command("DATA")[0].startswith("354 ")
        mid_data.send(b"Subject: half\r\n\r\nthe first half of the")
        assert greeted.command("NOOP") == ["250 2.0.0 OK"]

        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started

        assert elapsed < 2.0
        assert pytest_smtpd_threads() - before == set()
        assert fresh.read_reply() == ["421 4.3.2 localhost Service shutting down"]
        assert fresh.read_rest() == b""
        assert greeted.read_reply() == ["421 4.3.2 localhost Service shutting down"]
        assert greeted.read_rest() == b""
        try:
            rest = mid_data.read_rest()
        except ConnectionResetError:
            rest = b""
        assert rest in (b"", b"421 4.3.2 localhost Service shutting down\r\n")

    assert server.messages == []
    sessions = server.sessions
    assert len(sessions) == 3
    assert all(s.ended is Ending.SERVER_CLOSED for s in sessions)


def test_new_connections_are_refused_after_stop() -> None:
    with SMTPServer() as server:
        address = server.address
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def test_a_server_can_be_started_again() -> None:
    server = SMTPServer()
    with server, smtplib.SMTP(*server.address) as client:
        client.sendmail("alice@example.com", ["bob@example.com"], DATA)
    with server, smtplib.SMTP(*server.address) as client:
        client.sendmail("alice@example.com", ["carol@example.com"], DATA)
    assert [m.recipients for m in server.messages] == [("bob@example.com",), ("carol@example.com",)]


def test_clear_while_a_client_stays_connected_keeps_recording_its_session() -> None:
    # The smtpd_session case: an application keeps its connection open across
    # tests, and the server is cleared between them.
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.sendmail("a@example.com", ["b@example.com"], b"Subject: one\r\n\r\n1\r\n")
        server.clear()
        assert server.messages == []
        [open_session] = server.sessions
        assert open_session.active
        assert open_session.commands == ()
        assert open_session.messages == ()
        assert open_session.helo_name is not None  # what the session is stays known

        client.sendmail("a@example.com", ["c@example.com"], b"Subject: two\r\n\r\n2\r\n")
        [message] = server.messages
        assert message.subject == "two"
        assert message.session.id == open_session.id
        [session] = server.sessions
        assert [c.verb for c in session.commands] == ["MAIL", "RCPT", "DATA"]
        # smtplib writes "mail FROM:" before Python 3.13 and "mail from:" since.
        assert str(server.transcript).splitlines()[1].lower() == "c: mail from:<a@example.com> size=19"


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.EADDRINUSE, "127.0.0.1:25: the port is in use. Use port=0 for a free port"),
        (errno.EACCES, "127.0.0.1:25: ports below 1024 need root. Use port=0 or a port above 1023."),
        (errno.EAFNOSUPPORT, "127.0.0.1: not an address of this machine. Use host='127.0.0.1' or host='::1'."),
        (errno.ENOBUFS, "127.0.0.1:25: No buffer space available"),
    ],
)
def test_a_failed_bind_says_what_to_change(code: int, advice: str) -> None:
    from pytest_smtpd.engine import _bind_advice

    assert _bind_advice(OSError(code, os.strerror(code)), "127.0.0.1", 25).startswith(f"cannot listen on {advice}")
