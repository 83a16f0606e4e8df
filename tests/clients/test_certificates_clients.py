"""Real clients against option ``certificate``: each refuses every bad one and
accepts ``"trusted"``, over implicit TLS and STARTTLS.

Each client trusts the test CA the way an application would configure it:
aiosmtplib by ``cert_bundle``, Django by ``SSL_CERT_FILE`` (its backend uses
``ssl.create_default_context()``), swaks by ``--tls-ca-path``, curl by
``--cacert``. A bad certificate is refused even so, for its one reason.
"""

from __future__ import annotations

import asyncio
import gc
import re
import smtplib
import ssl
import warnings
from pathlib import Path

import pytest
from test_cli_clients import _need, _need_swaks_tls, _run  # the same skips and runner as the other CLI tests

from pytest_smtpd import Ending, Session, SMTPServer
from pytest_smtpd.options import CERTIFICATES
from pytest_smtpd.plugin import SMTPServerFactory

pytest.importorskip("trustme", reason="TLS tests need the 'tls' extra (pip install -e '.[test]')")

BAD = [kind for kind in CERTIFICATES if kind != "trusted"]
MESSAGE = "Subject: checked\r\n\r\nover verified TLS\r\n"

tls_modes = pytest.mark.parametrize("tls", ["implicit_tls", "starttls"])
every_certificate = pytest.mark.parametrize("certificate", CERTIFICATES)


def _ended(server: SMTPServer) -> Session:
    """The only session, once it has ended (a client may give up before the
    server has read its alert)."""
    (session,) = server.wait_until(lambda s: [x for x in s.sessions if not x.active])
    return session


def _check(server: SMTPServer, certificate: str) -> None:
    """What the server saw: the trusted certificate's message, or a refusal that left none."""
    session = _ended(server)
    if certificate == "trusted":
        assert server.assert_sent(subject="checked").session.tls
        server.assert_no_violations()
    else:
        assert server.messages == []
        assert not [c for c in session.commands if c.verb == "MAIL"]


def _check_refused_in_handshake(server: SMTPServer, certificate: str) -> None:
    """For clients that verify inside the handshake (OpenSSL does the host
    name check too): the refusal is a tls-handshake violation, ending ``error``."""
    if certificate != "trusted":
        session = _ended(server)
        assert session.ended is Ending.ERROR
        assert [v.kind for v in session.violations] == ["tls-handshake"]


# aiosmtplib ----------------------------------------------------------------------


@tls_modes
@every_certificate
def test_aiosmtplib(smtpd_factory: SMTPServerFactory, certificate: str, tls: str) -> None:
    aiosmtplib = pytest.importorskip("aiosmtplib", reason="aiosmtplib is not installed (pip install -e '.[test]')")
    server = smtpd_factory(**{tls: True}, certificate=certificate)

    async def send() -> None:
        await aiosmtplib.send(
            MESSAGE,
            sender="a@example.com",
            recipients=["b@example.com"],
            hostname=server.host,
            port=server.port,
            use_tls=tls == "implicit_tls",
            start_tls=tls == "starttls",
            cert_bundle=server.ca_file,  # validate_certs is on by default
            timeout=10,
        )

    if certificate == "trusted":
        asyncio.run(send())
    else:
        with pytest.raises((ssl.SSLCertVerificationError, aiosmtplib.SMTPConnectError)) as refused:
            asyncio.run(send())
        # Over implicit TLS aiosmtplib wraps the error in SMTPConnectError.
        cause = refused.value if tls == "starttls" else refused.value.__cause__
        assert isinstance(cause, ssl.SSLCertVerificationError), repr(refused.value)
        # aiosmtplib leaves the client's socket of a refused handshake to the GC: collect it
        # here, where it is expected, not in whichever later test the GC happens to run.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
    _check(server, certificate)
    _check_refused_in_handshake(server, certificate)


# Django ----------------------------------------------------------------------------


@tls_modes
@every_certificate
def test_django_default_verification(
    smtpd_factory: SMTPServerFactory, monkeypatch: pytest.MonkeyPatch, certificate: str, tls: str
) -> None:
    pytest.importorskip("django", reason="Django is not installed (pip install -e '.[test]')")
    from django.core import mail
    from django_mailer import smtp_backend

    server = smtpd_factory(**{tls: True}, certificate=certificate)
    # The realistic way to make Django trust a CA: its backend calls
    # ssl.create_default_context(), which reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
    backend = smtp_backend(
        host=server.host, port=server.port, use_ssl=tls == "implicit_tls", use_tls=tls == "starttls", timeout=10
    )
    email = mail.EmailMessage("checked", "over verified TLS", "a@example.com", ["b@example.com"])
    if certificate == "trusted":
        assert backend.send_messages([email]) == 1
    else:
        with pytest.raises(ssl.SSLCertVerificationError):
            backend.send_messages([email])
    _check(server, certificate)
    _check_refused_in_handshake(server, certificate)


def test_django_without_ssl_cert_file_refuses_even_the_trusted_one(smtpd_factory: SMTPServerFactory) -> None:
    # The control for the test above: SSL_CERT_FILE is what made "trusted" pass.
    pytest.importorskip("django", reason="Django is not installed (pip install -e '.[test]')")
    from django.core import mail
    from django_mailer import smtp_backend

    server = smtpd_factory(starttls=True)
    backend = smtp_backend(host=server.host, port=server.port, use_tls=True, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        backend.send_messages([mail.EmailMessage("checked", "x", "a@example.com", ["b@example.com"])])


# Command-line clients ------------------------------------------------------------


def _swaks_version(swaks: str) -> int:
    found = re.search(r"version (\d{8})", _run(swaks, "--version").stdout)
    return int(found.group(1)) if found else 0


@tls_modes
@every_certificate
def test_swaks_tls_verify(smtpd_factory: SMTPServerFactory, certificate: str, tls: str) -> None:
    swaks = _need_swaks_tls()
    version = _swaks_version(swaks)
    if certificate == "wrong-host" and version < 20240103:
        # swaks 20240103 split --tls-verify into --tls-verify-ca and --tls-verify-host,
        # and made --tls-verify do both; before it, only the chain is checked.
        pytest.skip(f"swaks {version} --tls-verify does not check the host name (20240103 and later do)")
    server = smtpd_factory(**{tls: True}, certificate=certificate)
    result = _run(
        swaks, "--server", server.host, "--port", str(server.port),
        "--tls-on-connect" if tls == "implicit_tls" else "--tls",
        "--tls-verify", "--tls-ca-path", server.ca_file,
        "--from", "a@example.com", "--to", "b@example.com", "--header", "Subject: checked",
    )  # fmt: skip
    assert (result.returncode == 0) is (certificate == "trusted"), result.stdout + result.stderr
    _check(server, certificate)
    _check_refused_in_handshake(server, certificate)


@tls_modes
@every_certificate
def test_curl_verifies_by_default(smtpd_factory: SMTPServerFactory, tmp_path: Path, certificate: str, tls: str) -> None:
    curl = _need("curl")
    server = smtpd_factory(**{tls: True}, certificate=certificate)
    mail = tmp_path / "mail.txt"
    mail.write_bytes(MESSAGE.encode())
    scheme = "smtps" if tls == "implicit_tls" else "smtp"
    result = _run(
        curl, "--silent", "--show-error", "--ssl-reqd", "--cacert", server.ca_file,
        f"{scheme}://{server.host}:{server.port}",
        "--mail-from", "a@example.com", "--mail-rcpt", "b@example.com", "--upload-file", str(mail),
    )  # fmt: skip
    if certificate == "trusted":
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 60, result.stderr  # CURLE_PEER_FAILED_VERIFICATION
    _check(server, certificate)
    if certificate != "wrong-host":
        # curl checks the host name itself after the handshake, then closes:
        # for the server that session ends "client closed" instead.
        _check_refused_in_handshake(server, certificate)


def test_smtplib_default_context_refuses_the_test_ca_itself(smtpd_factory: SMTPServerFactory) -> None:
    # Without being told to trust the test CA, a verifying client refuses even
    # "trusted": the CA is made per run and is in no system store.
    server = smtpd_factory(starttls=True)
    with smtplib.SMTP(*server.address, timeout=10) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())
