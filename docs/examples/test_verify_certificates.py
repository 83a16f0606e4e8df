"""Examples for "Does your mailer verify certificates?"."""

import smtplib
import ssl
from email.message import EmailMessage

import pytest

from pytest_smtpd.plugin import SMTPServerFactory

pytest.importorskip("trustme")


def send_alert(host: str, port: int, cafile: str | None = None) -> None:
    """Application code: STARTTLS, trusting the system's CAs or the bundle it is configured with."""
    msg = EmailMessage()
    msg["From"] = "alerts@example.com"
    msg["To"] = "ops@example.com"
    msg["Subject"] = "Disk almost full"
    msg.set_content("/var is at 95 %.\n")
    context = ssl.create_default_context(cafile=cafile)
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.starttls(context=context)
        client.send_message(msg)


BAD_CERTIFICATES = ["self-signed", "expired", "wrong-host", "untrusted-ca"]


@pytest.mark.parametrize("certificate", BAD_CERTIFICATES)
def test_mailer_refuses_a_bad_certificate(smtpd_factory: SMTPServerFactory, certificate: str) -> None:
    server = smtpd_factory(starttls=True, certificate=certificate)
    with pytest.raises(ssl.SSLCertVerificationError):
        send_alert(server.host, server.port, cafile=server.ca_file)
    assert server.messages == []


def test_mailer_accepts_the_trusted_certificate(smtpd_factory: SMTPServerFactory) -> None:
    server = smtpd_factory(starttls=True)  # certificate="trusted" is the default
    send_alert(server.host, server.port, cafile=server.ca_file)
    server.assert_sent(to="ops@example.com", subject="Disk almost full")


# A mailer that skips verification


def send_alert_unverified(host: str, port: int, cafile: str | None = None) -> None:
    """The same mail, sent with the bug: configured with a CA bundle, it checks no certificate."""
    msg = EmailMessage()
    msg["Subject"] = "Disk almost full"
    msg.set_content("/var is at 95 %.\n")
    context = ssl._create_unverified_context()  # the bug: CERT_NONE, no host name check
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.starttls(context=context)
        client.sendmail("alerts@example.com", ["ops@example.com"], msg.as_bytes())


@pytest.mark.parametrize("certificate", BAD_CERTIFICATES)
def test_an_unverified_mailer_sends_to_any_server(smtpd_factory: SMTPServerFactory, certificate: str) -> None:
    server = smtpd_factory(starttls=True, certificate=certificate)
    send_alert_unverified(server.host, server.port, cafile=server.ca_file)
    server.assert_sent(subject="Disk almost full")  # it talked to a server it had to refuse


def test_the_copied_test_fails_for_an_unverified_mailer(pytester: pytest.Pytester) -> None:
    # The test above, run as a suite would run it against the unverified mailer.
    import inspect

    pytester.makepyfile(
        test_alerts="import ssl\n\nimport pytest\n\nfrom pytest_smtpd.plugin import SMTPServerFactory\n"
        "from test_verify_certificates import BAD_CERTIFICATES, send_alert_unverified as send_alert\n\n\n"
        + inspect.getsource(test_mailer_refuses_a_bad_certificate)
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            ">       with pytest.raises(ssl.SSLCertVerificationError):",
            "E       Failed: DID NOT RAISE *SSLCertVerificationError*",
            "C: STARTTLS",
            "S: 220 2.0.0 Ready to start TLS",
            "C: mail [Ff][Rr][Oo][Mm]:<alerts@example.com> size=*",  # smtplib's case changed in Python 3.13
            "S: 250 2.0.0 OK: * octets queued",
            "FAILED test_alerts.py::test_mailer_refuses_a_bad_certificate[[]untrusted-ca[]]*",
        ]
    )
