"""STARTTLS (RFC 3207), implicit TLS (RFC 8314) and AUTH (RFC 4954) with real clients."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator

import pytest

from pytest_smtpd import ConfigurationError, Ending, SMTPServer

pytest.importorskip("trustme", reason="TLS tests need the 'tls' extra (pip install -e '.[test]')")

USERS = {"alice": "s3cret", "bob": "hunter2"}
MESSAGE = "Subject: secure\r\n\r\nover TLS\r\n"


@pytest.fixture
def tls_server() -> Iterator[SMTPServer]:
    with SMTPServer(starttls=True, users=USERS) as server:
        yield server


def _mechanism_call(client: smtplib.SMTP, mechanism: str) -> Callable[..., str]:
    method: Callable[..., str] = getattr(client, "auth_" + mechanism.lower().replace("-", "_"))
    return method


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN", "CRAM-MD5"])
def test_starttls_then_each_mechanism_then_send(tls_server: SMTPServer, mechanism: str) -> None:
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=tls_server.client_ssl_context)
        client.ehlo()
        assert mechanism in client.esmtp_features["auth"].split()
        client.user, client.password = "alice", "s3cret"
        code, _ = client.auth(mechanism, _mechanism_call(client, mechanism))
        assert code == 235
        client.sendmail("alice@example.com", ["to@example.com"], MESSAGE)
    msg = tls_server.assert_sent(sender="alice@example.com", subject="secure")
    session = msg.session
    assert session.tls
    assert session.tls_version is not None
    assert session.tls_version.startswith("TLS")
    assert session.tls_cipher
    assert session.auth_user == "alice"
    assert session.auth_mechanism == mechanism
    assert session.ended == Ending.QUIT


def test_login_picks_a_mechanism_and_secrets_are_masked(tls_server: SMTPServer) -> None:
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=tls_server.client_ssl_context)
        client.login("bob", "hunter2")
        client.sendmail("bob@example.com", ["to@example.com"], MESSAGE)
    rendered = str(tls_server.transcript)
    assert "hunter2" not in rendered
    assert base64.b64encode(b"\0bob\0hunter2").decode() not in rendered
    assert "****" in rendered
    assert "C: STARTTLS" in rendered
    for command in tls_server.sessions[0].commands:
        assert b"hunter2" not in command.line
        assert "hunter2" not in command.argument


def test_starttls_resets_the_session(tls_server: SMTPServer) -> None:
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.ehlo("before.example")
        assert client.has_extn("starttls")
        client.starttls(context=tls_server.client_ssl_context)
        # RFC 3207 §4.2: EHLO again; STARTTLS is no longer offered.
        code, _ = client.ehlo("after.example")
        assert code == 250
        assert not client.has_extn("starttls")
    session = tls_server.sessions[0]
    assert session.helo_name == "after.example"


def test_wrong_password_is_535(tls_server: SMTPServer) -> None:
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=tls_server.client_ssl_context)
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("alice", "wrong")
        assert info.value.smtp_code == 535
    assert tls_server.sessions[0].auth_user is None


def test_auth_required_refuses_mail_before_auth() -> None:
    with SMTPServer(users=USERS, auth_required=True) as server, smtplib.SMTP(*server.address, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail("x@example.com", ["to@example.com"], MESSAGE)
        assert info.value.smtp_code == 530
        client.login("alice", "s3cret")
        client.sendmail("x@example.com", ["to@example.com"], MESSAGE)
        assert len(server.messages) == 1


def test_tls_required_refuses_mail_before_starttls() -> None:
    with SMTPServer(starttls=True, tls_required=True) as server:
        with smtplib.SMTP(*server.address, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as info:
                client.sendmail("x@example.com", ["to@example.com"], MESSAGE)
            assert info.value.smtp_code == 530
            client.starttls(context=server.client_ssl_context)
            client.sendmail("x@example.com", ["to@example.com"], MESSAGE)
        assert len(server.messages) == 1


def test_auth_require_tls_hides_auth_until_tls() -> None:
    with SMTPServer(starttls=True, users=USERS, auth_require_tls=True) as server:
        with smtplib.SMTP(*server.address, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("auth")
            code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0s3cret").decode())
            assert (code, text) == (538, b"5.7.11 Encryption required for requested authentication mechanism")
            client.starttls(context=server.client_ssl_context)
            client.ehlo()
            assert client.has_extn("auth")
            client.login("alice", "s3cret")
        kinds = [v.kind for v in server.violations]
        assert "auth-before-tls" in kinds


def test_implicit_tls_with_smtp_ssl() -> None:
    with SMTPServer(implicit_tls=True, users=USERS) as server:
        with smtplib.SMTP_SSL(*server.address, context=server.client_ssl_context, timeout=10) as client:
            client.login("alice", "s3cret")
            client.sendmail("alice@example.com", ["to@example.com"], MESSAGE)
        msg = server.assert_sent(subject="secure")
        assert msg.session.tls
        assert msg.session.auth_user == "alice"


def test_plaintext_pipelined_after_starttls_is_discarded(tls_server: SMTPServer) -> None:
    with socket.create_connection(tls_server.address, timeout=10) as raw:
        reader = raw.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        raw.sendall(b"EHLO attacker.example\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\nRSET\r\n")
        assert reader.readline().startswith(b"220 ")
        reader.close()
        with tls_server.client_ssl_context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"NOOP\r\n")
            # The first reply inside TLS answers NOOP, not the injected RSET.
            assert tls.recv(4096) == b"250 2.0.0 OK\r\n"
            tls.sendall(b"QUIT\r\n")
            assert tls.recv(4096).startswith(b"221")
    verbs = [c.verb for c in tls_server.sessions[0].commands]
    assert verbs == ["EHLO", "STARTTLS", "NOOP", "QUIT"]
    assert "starttls-injection" in [v.kind for v in tls_server.violations]


def test_failed_handshake_is_recorded_and_server_goes_on(tls_server: SMTPServer) -> None:
    with socket.create_connection(tls_server.address, timeout=10) as raw:
        reader = raw.makefile("rb")
        reader.readline()
        raw.sendall(b"EHLO x\r\n")
        while not reader.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\n")
        assert reader.readline().startswith(b"220 ")
        raw.sendall(b"this is not a TLS client hello\r\n" * 4)
        assert raw.recv(4096) is not None  # the server answers with an alert or closes
        reader.close()
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=tls_server.client_ssl_context)
        client.sendmail("a@example.com", ["b@example.com"], MESSAGE)
    first = tls_server.sessions[0]
    assert first.ended == Ending.ERROR
    assert "tls-handshake" in [v.kind for v in first.violations]
    assert tls_server.errors == []
    assert len(tls_server.messages) == 1


def test_auth_cancelled_with_star(tls_server: SMTPServer) -> None:
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=tls_server.client_ssl_context)
        client.ehlo()
        code, _ = client.docmd("AUTH", "LOGIN")
        assert code == 334
        code, text = client.docmd("*")
        assert (code, text) == (501, b"5.7.0 Authentication cancelled")
        code, _ = client.noop()
        assert code == 250


def test_rules_on_starttls_and_auth() -> None:
    with SMTPServer(starttls=True, users=USERS) as server:
        server.on("STARTTLS").reply(454, "4.7.0 TLS not available due to temporary reason").once()
        server.on("AUTH", "plain").reply(535, "5.7.8 Scripted refusal")
        with smtplib.SMTP(*server.address, timeout=10) as client:
            with pytest.raises(smtplib.SMTPResponseException) as info:
                client.starttls(context=server.client_ssl_context)
            assert info.value.smtp_code == 454
            client.starttls(context=server.client_ssl_context)
            client.ehlo()
            client.user, client.password = "alice", "s3cret"
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.auth("PLAIN", client.auth_plain)
            code, _ = client.auth("LOGIN", client.auth_login)
            assert code == 235


def test_client_context_and_ca_file(tls_server: SMTPServer) -> None:
    context = tls_server.client_ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    with open(tls_server.ca_file, encoding="ascii") as handle:
        assert "BEGIN CERTIFICATE" in handle.read()
    file_context = ssl.create_default_context(cafile=tls_server.ca_file)
    with smtplib.SMTP(*tls_server.address, timeout=10) as client:
        client.starttls(context=file_context)
        assert client.noop()[0] == 250


def test_ipv6_certificate_covers_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with (
        SMTPServer(host="::1", implicit_tls=True) as server,
        server.client_ssl_context.wrap_socket(
            socket.create_connection(server.address, timeout=10), server_hostname="::1"
        ) as tls,
    ):
        assert tls.recv(4096).startswith(b"220 ")


def test_tls_without_trustme_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from pytest_smtpd import tls

    monkeypatch.setattr(tls, "_state", {})
    monkeypatch.setitem(sys.modules, "trustme", None)
    with pytest.raises(ConfigurationError, match=r"pytest-smtp-server\[tls\]"):
        SMTPServer(starttls=True)


def test_own_ssl_context_is_used() -> None:
    import trustme

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with SMTPServer(starttls=True, ssl_context=context) as server:
        with smtplib.SMTP(*server.address, timeout=10) as client:
            client.starttls(context=client_context)
            client.sendmail("a@example.com", ["b@example.com"], MESSAGE)
        assert server.messages[0].session.tls
        with pytest.raises(ConfigurationError, match="ssl_context"):
            _ = server.client_ssl_context


@pytest.mark.parametrize(
    "options",
    [{}, {"users": USERS, "starttls": True, "auth_require_tls": True}],
    ids=["auth-off", "auth-refused-before-tls"],
)
def test_refused_auth_never_records_the_secret(options: dict[str, object]) -> None:
    secret = base64.b64encode(b"\0alice\0s3cret").decode()
    with SMTPServer(**options) as server, smtplib.SMTP(*server.address, timeout=10) as client:
        client.docmd("AUTH", f"PLAIN {secret}")  # before EHLO: out of sequence
        client.ehlo()
        code, _ = client.docmd("AUTH", f"PLAIN {secret}")
        assert code in (502, 538)
        client.quit()
        assert secret not in str(server.transcript)
        assert all(secret.encode() not in c.line for c in server.sessions[0].commands)
