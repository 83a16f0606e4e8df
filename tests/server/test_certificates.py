"""Option ``certificate``: test certificates a verifying client must refuse.

Each bad kind fails verification for one reason only, over implicit TLS and
STARTTLS, with either way of trusting the test CA; the refused handshake is a
``tls-handshake`` violation and the session ends with ``error``.
"""

from __future__ import annotations

import datetime
import ipaddress
import smtplib
import ssl
import subprocess
import sys
from collections.abc import Callable

import pytest

from pytest_smtpd import ConfigurationError, Ending, Session, SMTPServer
from pytest_smtpd.options import CERTIFICATES, Options, parse_ini

pytest.importorskip("trustme", reason="TLS tests need the 'tls' extra (pip install -e '.[test]')")

from cryptography import x509

MESSAGE = "Subject: secure\r\n\r\nover TLS\r\n"
BAD = [kind for kind in CERTIFICATES if kind != "trusted"]
# What OpenSSL says about each: the one reason each kind fails verification.
REASONS = {
    "self-signed": {18},  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    "expired": {10},  # X509_V_ERR_CERT_HAS_EXPIRED
    "wrong-host": {62, 64},  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
    "untrusted-ca": {20},  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
}


def _trusting(how: str, server: SMTPServer) -> ssl.SSLContext:
    if how == "client_ssl_context":
        return server.client_ssl_context
    return ssl.create_default_context(cafile=server.ca_file)


def _send(server: SMTPServer, context: ssl.SSLContext, host: str | None = None) -> None:
    host = host or server.host
    if server.options.implicit_tls:
        with smtplib.SMTP_SSL(host, server.port, context=context, timeout=10) as client:
            client.sendmail("a@example.com", ["b@example.com"], MESSAGE)
    else:
        with smtplib.SMTP(host, server.port, timeout=10) as client:
            client.starttls(context=context)
            client.sendmail("a@example.com", ["b@example.com"], MESSAGE)


def _ended(server: SMTPServer) -> Session:
    """The only session, once it has ended (the server may record the refusal
    just after the client gave up)."""
    (session,) = server.wait_until(lambda s: [x for x in s.sessions if not x.active])
    return session


@pytest.mark.parametrize("how", ["client_ssl_context", "ca_file"])
@pytest.mark.parametrize("tls", ["implicit_tls", "starttls"])
@pytest.mark.parametrize("certificate", BAD)
def test_a_verifying_client_refuses_each_bad_certificate(certificate: str, tls: str, how: str) -> None:
    with SMTPServer(**{tls: True}, certificate=certificate) as server:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            _send(server, _trusting(how, server))
        assert refused.value.verify_code in REASONS[certificate], refused.value.verify_message
        session = _ended(server)
        assert session.ended is Ending.ERROR
        assert [v.kind for v in session.violations] == ["tls-handshake"]
        assert server.messages == []
        assert server.errors == []


@pytest.mark.parametrize("how", ["client_ssl_context", "ca_file"])
@pytest.mark.parametrize("tls", ["implicit_tls", "starttls"])
def test_the_trusted_certificate_is_accepted(tls: str, how: str) -> None:
    with SMTPServer(**{tls: True}, certificate="trusted") as server:
        _send(server, _trusting(how, server))
        assert server.assert_sent(subject="secure").session.tls
        assert _ended(server).ended is Ending.QUIT
        server.assert_no_violations()


def test_wrong_host_fails_on_the_name_localhost_too() -> None:
    with SMTPServer(starttls=True, certificate="wrong-host") as server:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            _send(server, server.client_ssl_context, host="localhost")
        assert refused.value.verify_code == 62, refused.value.verify_message  # X509_V_ERR_HOSTNAME_MISMATCH


def test_an_unverified_client_connects_to_every_certificate() -> None:
    # What an application that skips verification does: the bug the option is for.
    for certificate in CERTIFICATES:
        with SMTPServer(implicit_tls=True, certificate=certificate) as server:
            _send(server, ssl._create_unverified_context())
            server.assert_sent(subject="secure")


def _presented(certificate: str) -> x509.Certificate:
    with (
        SMTPServer(implicit_tls=True, certificate=certificate) as server,
        smtplib.SMTP_SSL(*server.address, context=ssl._create_unverified_context(), timeout=10) as client,
    ):
        sock = client.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]


def _issuer_of_trusted() -> x509.Name:
    return _presented("trusted").issuer


CHECKS: dict[str, Callable[[x509.Certificate], bool]] = {
    "trusted": lambda c: c.issuer != c.subject and c.not_valid_after_utc > _now(),
    "self-signed": lambda c: c.issuer == c.subject and c.not_valid_after_utc > _now(),
    "expired": lambda c: c.issuer == _issuer_of_trusted() and c.not_valid_after_utc < _now(),
    "wrong-host": lambda c: c.issuer == _issuer_of_trusted() and _names(c) == ["wrong.example"],
    "untrusted-ca": lambda c: c.issuer not in (c.subject, _issuer_of_trusted()) and c.not_valid_after_utc > _now(),
}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@pytest.mark.parametrize("certificate", CERTIFICATES)
def test_each_certificate_is_what_its_name_says(certificate: str) -> None:
    cert = _presented(certificate)
    assert CHECKS[certificate](cert)
    if certificate != "wrong-host":
        assert _names(cert) == ["localhost", "127.0.0.1", "::1"]
        assert {ipaddress.ip_address(n) for n in _names(cert)[1:]} == {
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        }


@pytest.mark.parametrize("certificate", BAD)
def test_each_kind_is_made_once_per_process(certificate: str) -> None:
    first = SMTPServer(starttls=True, certificate=certificate)
    second = SMTPServer(implicit_tls=True, certificate=certificate)
    assert first._ssl_context is second._ssl_context
    assert first._ssl_context is not SMTPServer(starttls=True)._ssl_context


def test_no_bad_certificate_is_made_unless_asked_for() -> None:
    # A fresh process: the default TLS server makes the trusted certificate only.
    code = (
        "from pytest_smtpd import SMTPServer, tls\n"
        "SMTPServer(starttls=True)\n"
        "print(sorted(k for k in tls._state if k.startswith(('pem:', 'context:'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "['context:trusted', 'pem:trusted']"


def test_without_tls_it_has_no_effect() -> None:
    with SMTPServer(certificate="expired") as server:
        assert server._ssl_context is None
        with smtplib.SMTP(*server.address, timeout=10) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
            client.sendmail("a@example.com", ["b@example.com"], MESSAGE)
        server.assert_sent(subject="secure")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("expird", "not 'expird' (did you mean 'expired'?)"),
        ("Self-Signed", "not 'Self-Signed' (did you mean 'self-signed'?)"),
        ("revoked", "not 'revoked'"),
        (None, "not None"),
    ],
)
def test_an_unknown_certificate_names_the_valid_values(value: object, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SMTPServer(starttls=True, certificate=value)
    message = str(caught.value)
    assert says in message
    assert "one of 'trusted', 'self-signed', 'expired', 'wrong-host', 'untrusted-ca'" in message
    if value in ("revoked", None):
        assert "did you mean" not in message


def test_an_unknown_certificate_is_refused_without_tls_too() -> None:
    with pytest.raises(ConfigurationError, match="certificate must be one of"):
        SMTPServer(certificate="bogus")


def test_an_ini_value_goes_through_the_same_check() -> None:
    assert Options.build({"certificate": parse_ini("certificate", " expired ")}).certificate == "expired"
    with pytest.raises(ConfigurationError, match="did you mean 'wrong-host'"):
        Options.build({"certificate": parse_ini("certificate", "wronghost")})


def test_a_bad_certificate_with_your_own_ssl_context_is_an_error() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with pytest.raises(ConfigurationError, match="certificate='expired' picks a test certificate, but ssl_context="):
        SMTPServer(starttls=True, ssl_context=context, certificate="expired")
    # "trusted" is the default: it names no certificate of its own.
    assert SMTPServer(starttls=True, ssl_context=context, certificate="trusted")._ssl_context is context


def test_the_default_is_trusted() -> None:
    assert Options().certificate == "trusted"
    assert Options.build({}).certificate == "trusted"


def test_ini_and_marker_set_it_suite_wide_and_per_test(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsmtpd_starttls = true\nsmtpd_certificate = expired\n")
    pytester.makepyfile(
        """
        import smtplib
        import ssl

        import pytest

        def refused(smtpd):
            with smtplib.SMTP(*smtpd.address, timeout=10) as client:
                with pytest.raises(ssl.SSLCertVerificationError) as info:
                    client.starttls(context=smtpd.client_ssl_context)
            return info.value.verify_code

        def test_from_the_ini(smtpd):
            assert smtpd.options.certificate == "expired"
            assert refused(smtpd) == 10

        @pytest.mark.smtpd(certificate="wrong-host")
        def test_from_the_marker(smtpd):
            assert refused(smtpd) == 64

        @pytest.mark.smtpd(certificate="expird")
        def test_a_typo_in_the_marker(smtpd):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*certificate must be one of*not 'expird' (did you mean 'expired'?)*"])
