"""Examples for "Behind a proxy: the PROXY protocol"."""

import smtplib
import socket

import pytest

from pytest_smtpd import SMTPServer

# What HAProxy's `send-proxy` puts in front of the connection it relays.
HEADER = b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 25\r\n"


def smtp_behind_proxy(address: tuple[str, int], header: bytes) -> smtplib.SMTP:
    """smtplib on a connection that starts with a PROXY header, as a proxy relays it."""
    client = smtplib.SMTP()
    client.sock = socket.create_connection(address, timeout=10)
    client.sock.sendall(header)
    code, message = client.getreply()  # the greeting, sent once the header was read
    if code != 220:
        client.close()
        raise smtplib.SMTPConnectError(code, message)
    return client


@pytest.mark.smtpd(proxy_protocol=True)
def test_the_session_names_the_client_behind_the_proxy(smtpd: SMTPServer) -> None:
    with smtp_behind_proxy(smtpd.address, HEADER) as client:
        client.sendmail("app@example.com", ["user@example.com"], "Subject: hi\r\n\r\nhello\r\n")
        assert client.sock is not None
        proxy_side = client.sock.getsockname()[:2]

    session = smtpd.assert_sent(subject="hi").session
    assert session.peer == ("203.0.113.7", 4242)  # the client the header names
    assert session.proxy_peer == proxy_side  # the connection's own peer: the proxy


@pytest.mark.smtpd(proxy_protocol=True)
def test_connect_rules_match_the_named_client(smtpd: SMTPServer) -> None:
    smtpd.on("connect", "203.0.113.7").reply(554, "5.7.1 Your address is blocked")
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtp_behind_proxy(smtpd.address, HEADER)
    assert refused.value.smtp_code == 554


@pytest.mark.smtpd(proxy_protocol=True)
def test_no_header_no_greeting(smtpd: SMTPServer) -> None:
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtp_behind_proxy(smtpd.address, b"EHLO client.example\r\n")
    [violation] = smtpd.violations
    assert violation.kind == "proxy-header"
