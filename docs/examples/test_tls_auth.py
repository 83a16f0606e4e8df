"""Examples for "TLS and AUTH"."""

import smtplib
import ssl

import pytest

from pytest_smtpd import SMTPServer
from pytest_smtpd.plugin import SMTPServerFactory


@pytest.mark.smtpd(starttls=True, users={"alice": "s3cret"}, auth_required=True)
def test_starttls_login_send(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(smtpd.host, smtpd.port, timeout=10) as client:
        client.starttls(context=smtpd.client_ssl_context)
        client.login("alice", "s3cret")
        client.sendmail("alice@example.com", ["bob@example.com"], "Subject: hi\r\n\r\nover TLS\r\n")
    session = smtpd.assert_sent(subject="hi").session
    assert session.tls
    assert session.auth_user == "alice"
    assert "s3cret" not in str(smtpd.transcript)  # AUTH secrets are masked


@pytest.mark.smtpd(implicit_tls=True)
def test_implicit_tls(smtpd: SMTPServer) -> None:
    with smtplib.SMTP_SSL(smtpd.host, smtpd.port, context=smtpd.client_ssl_context, timeout=10) as client:
        client.sendmail("a@example.com", ["b@example.com"], "Subject: tls\r\n\r\nfrom the first byte\r\n")
    assert smtpd.assert_sent(subject="tls").session.tls_version is not None


@pytest.mark.smtpd(starttls=True, users={"alice": "s3cret"})
def test_wrong_password(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(smtpd.host, smtpd.port, timeout=10) as client:
        client.starttls(context=smtpd.client_ssl_context)
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("alice", "wrong")
    assert info.value.smtp_code == 535


def test_app_configured_by_ca_file(smtpd_factory: SMTPServerFactory) -> None:
    server = smtpd_factory(starttls=True)
    # An application that reads its CA bundle from a path (or SSL_CERT_FILE):
    context = ssl.create_default_context(cafile=server.ca_file)
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.starttls(context=context)
        assert client.noop()[0] == 250


@pytest.mark.smtpd(starttls=True)
def test_a_client_that_verifies_refuses_an_unknown_ca(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(smtpd.host, smtpd.port, timeout=10) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())  # trusts the system's CAs only
    # The server records the failed handshake on its own thread, at a moment the
    # test cannot know: wait for it (woken by each record, no polling).
    [violation] = smtpd.wait_until(lambda server: [v for v in server.violations if v.kind == "tls-handshake"])
    assert violation.session_id == smtpd.sessions[0].id
    assert smtpd.wait_until(lambda server: server.sessions[0].ended) == "error"
