"""The server behind a proxy: option ``proxy_protocol`` reads a PROXY header before the greeting."""

from __future__ import annotations

import smtplib
import socket

import pytest
from server_support import RawClient, ended_sessions

from pytest_smtpd import ConfigurationError, Ending, SMTPServer
from pytest_smtpd.options import parse_ini
from pytest_smtpd.proxy import ProxyHeader

CLIENT = ("203.0.113.7", 4242)
V1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 25\r\n"
V2 = ProxyHeader(2, "PROXY", "INET", "STREAM", *(CLIENT[0], "192.0.2.1"), CLIENT[1], 25).to_bytes()


def proxied(server: SMTPServer, header: bytes) -> smtplib.SMTP:
    """smtplib as a proxy relays it: the PROXY header goes out first, then SMTP."""
    client = smtplib.SMTP()
    client.sock = socket.create_connection(server.address, timeout=10)
    client.sock.sendall(header)
    code, greeting = client.getreply()
    assert code == 220, greeting
    return client


def socket_peer(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


@pytest.mark.parametrize("header", [V1, V2], ids=["v1", "v2"])
def test_the_session_peer_is_the_client_the_header_names(header: bytes) -> None:
    with SMTPServer(proxy_protocol=True) as server:
        with proxied(server, header) as client:
            client.sendmail("a@example.com", ["b@example.com"], "Subject: via a proxy\r\n\r\nhi\r\n")
            assert client.sock is not None
            proxy_side = socket_peer(client.sock)
        [session] = server.sessions
        assert session.peer == CLIENT
        assert session.proxy_peer == proxy_side
        assert server.assert_sent(subject="via a proxy").session.peer == CLIENT
        assert f"--- session 1 from {CLIENT[0]}:{CLIENT[1]} ---" in str(server.transcript)
        server.assert_no_violations()


def test_connect_rules_match_the_address_the_header_names() -> None:
    with SMTPServer(proxy_protocol=True) as server:
        server.on("connect", CLIENT[0]).reply(554, "5.7.1 Not from you")
        with RawClient(server.address) as client:
            client.send(V1)
            assert client.read_reply() == ["554 5.7.1 Not from you"]
        with RawClient(server.address) as client:
            client.send(b"PROXY TCP4 198.51.100.1 192.0.2.1 1 25\r\n")
            assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]
        with RawClient(server.address) as client:  # the socket's own peer is not what is matched
            client.send(b"PROXY UNKNOWN\r\n")
            assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]


def test_an_ipv6_client_behind_an_ipv4_proxy() -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(b"PROXY TCP6 2001:db8:0:0::7 2001:db8::1 50000 25\r\n")
        client.greet()
        assert server.sessions[0].peer == ("2001:db8::7", 50000)


@pytest.mark.parametrize(
    "header",
    [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::2 3 4\r\n", ProxyHeader(2, "LOCAL", "UNSPEC", "UNSPEC").to_bytes()],
    ids=["v1-unknown", "v1-unknown-long", "v2-local"],
)
def test_unknown_and_local_keep_the_socket_peer(header: bytes) -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(header)
        client.greet()
        own = socket_peer(client.sock)
        [session] = server.sessions
        assert session.peer == own
        assert session.proxy_peer == own


def test_v2_tlvs_are_kept_on_the_session() -> None:
    tlvs = ((0x02, b"mail.example"), (0x05, b"conn-42"))
    header = ProxyHeader(2, "PROXY", "INET", "STREAM", CLIENT[0], "192.0.2.1", CLIENT[1], 25, tlvs)
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(header.to_bytes())
        client.greet()
        assert server.sessions[0].proxy_tlvs == tlvs


@pytest.mark.parametrize(
    "data",
    [
        b"EHLO client.example\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 025\r\n",
        b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 25\n",
        V2[:12] + b"\x11" + V2[13:],
        b"x" * 200,
    ],
    ids=["smtp-first", "v1-bad-port", "v1-bare-lf", "v2-version-1", "noise"],
)
def test_a_bad_header_closes_without_a_greeting(data: bytes) -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(data)
        assert client.read_rest() == b""
        [session] = server.sessions
        assert session.ended is Ending.ERROR
        assert session.replies == ()
        assert session.commands == ()
        [violation] = server.violations
        assert violation.kind == "proxy-header"
        assert violation.session_id == 1
        assert session.peer == session.proxy_peer == socket_peer(client.sock)


def test_a_bad_header_in_pieces_is_refused_at_its_first_wrong_octet() -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(b"PROXY TCP4 ")  # could still be valid: awaited
        client.send(b"\r\n")  # a line that is not a header
        assert client.read_rest() == b""
        assert [v.kind for v in server.violations] == ["proxy-header"]


def test_the_header_and_what_follows_it_in_one_write() -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        client.send(V2 + b"EHLO client.example\r\nNOOP\r\n")
        assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]
        assert client.read_reply()[-1] == "250 DSN"
        assert client.read_reply() == ["250 2.0.0 OK"]
        assert [c.verb for c in server.sessions[0].commands] == ["EHLO", "NOOP"]
        assert server.sessions[0].helo_name == "client.example"


def test_the_header_one_octet_at_a_time() -> None:
    with SMTPServer(proxy_protocol=True) as server, RawClient(server.address) as client:
        for octet in V2:
            client.send(bytes([octet]))
        assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]
        assert server.sessions[0].peer == CLIENT


def test_a_client_gone_mid_header_broke_nothing() -> None:
    with SMTPServer(proxy_protocol=True) as server:
        with RawClient(server.address) as client:
            client.send(V1[:20])
        [session] = ended_sessions(server)
        assert session.ended is Ending.CLIENT_CLOSED
        assert session.replies == ()
        assert server.violations == []
        assert server.errors == []


def test_an_incomplete_header_waits_for_the_timeout_then_closes_in_silence() -> None:
    with SMTPServer(proxy_protocol=True, timeout=0.2) as server:
        with RawClient(server.address) as client:
            client.send(V2[:-1])
            [session] = ended_sessions(server)
            assert client.read_rest() == b""  # no 421: there was no greeting to follow
        assert session.ended is Ending.TIMEOUT
        assert session.replies == ()
        assert server.violations == []


def test_stopping_while_a_header_is_awaited_sends_nothing() -> None:
    server = SMTPServer(proxy_protocol=True).start()
    with RawClient(server.address) as client:
        client.send(V1[:10])
        server._recorder.wait(lambda: bool(server._recorder._sessions), 5.0)  # accepted
        server.stop()
        assert client.read_rest() == b""
    assert server.sessions[0].ended is Ending.SERVER_CLOSED
    assert server.sessions[0].replies == ()


def test_with_implicit_tls_the_header_comes_first_in_the_clear() -> None:
    pytest.importorskip("trustme")
    with SMTPServer(proxy_protocol=True, implicit_tls=True) as server:
        sock = socket.create_connection(server.address, timeout=10)
        sock.sendall(V1)
        with server.client_ssl_context.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.recv(1024) == b"220 localhost ESMTP pytest-smtpd\r\n"
            tls.sendall(b"QUIT\r\n")
            assert tls.recv(1024).startswith(b"221 ")
        [session] = server.sessions
        assert session.peer == CLIENT
        assert session.tls


def test_without_the_option_a_proxy_line_is_just_a_bad_command() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]
        assert client.command(V1[:-2].decode()) == ["500 5.5.2 Error: command not recognized"]
        [session] = server.sessions
        assert session.proxy_peer is None
        assert session.peer == socket_peer(client.sock)


def test_the_option_is_true_or_false() -> None:
    with pytest.raises(ConfigurationError, match="smtpd option proxy_protocol must be True or False, not 'yes'"):
        SMTPServer(proxy_protocol="yes")
    assert parse_ini("proxy_protocol", "on") is True
    assert parse_ini("proxy_protocol", "false") is False
