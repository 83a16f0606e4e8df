"""Examples for "Fixtures and options"."""

import smtplib
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_smtpd import SMTPServer

HERE = Path(__file__).parent
# Plugins the inner pytest runs have no use for.
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")


@pytest.mark.smtpd(max_recipients=2, hostname="mx.example.com")
def test_marker_options(smtpd: SMTPServer) -> None:
    with smtplib.SMTP(*smtpd.address) as client:
        assert client.ehlo()[1].startswith(b"mx.example.com")
        refused = client.sendmail("a@example.com", ["b@example.com", "c@example.com", "d@example.com"], "hi")
    assert refused == {"d@example.com": (452, b"4.5.3 Too many recipients")}
    assert smtpd.messages[0].recipients == ("b@example.com", "c@example.com")


def send_via_relays(relays: list[tuple[str, int]], to: str) -> tuple[str, int]:
    """Application code: try each relay in turn; return the one that took the mail."""
    for relay in relays:
        try:
            with smtplib.SMTP(*relay, timeout=10) as client:
                client.sendmail("app@example.com", [to], "Subject: Alert\r\n\r\nDisk full\r\n")
            return relay
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected):
            continue
    raise RuntimeError("no relay took the mail")


def test_fallback_relay(smtpd_factory: Callable[..., SMTPServer]) -> None:
    primary = smtpd_factory()
    fallback = smtpd_factory(hostname="fallback.example")
    primary.on("connect").reply(421, "4.3.2 Service not available")

    assert send_via_relays([primary.address, fallback.address], to="ops@example.com") == fallback.address
    assert primary.messages == []
    fallback.assert_sent(to="ops@example.com", subject="Alert")


# One server for the whole session: for an application that reads its SMTP address once.
@pytest.fixture(scope="session")
def mail_settings(smtpd_session: SMTPServer) -> dict[str, object]:
    return {"MAIL_HOST": smtpd_session.host, "MAIL_PORT": smtpd_session.port}


@pytest.mark.parametrize("to", ["first@example.com", "second@example.com"])
def test_session_server(smtpd_session: SMTPServer, mail_settings: dict[str, object], to: str) -> None:
    host, port = mail_settings["MAIL_HOST"], mail_settings["MAIL_PORT"]
    assert isinstance(host, str)
    assert isinstance(port, int)
    with smtplib.SMTP(host, port) as client:
        client.sendmail("app@example.com", [to], "Subject: hi\r\n\r\nhello\r\n")
    # Records are cleared before each test: only this test's message is there.
    assert [m.recipients for m in smtpd_session.messages] == [(to,)]


def test_ini_options(pytester: pytest.Pytester) -> None:
    pytester.makeini((HERE / "smtpd-options.ini").read_text())
    pytester.makepyfile(
        """
        import smtplib

        def test_defaults_from_the_ini_file(smtpd):
            assert smtpd.options.max_recipients == 50
            with smtplib.SMTP(*smtpd.address) as client:
                assert client.ehlo()[1].startswith(b"mx.test")
        """
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1)


def test_options_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((HERE / "conftest_hooks.py").read_text())
    pytester.makeini("[pytest]\nmarkers = slow_mail: a test whose mail server answers slowly\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.slow_mail
        def test_marked(smtpd):
            assert smtpd.options.timeout == 5

        def test_unmarked(smtpd):
            assert smtpd.options.timeout == 300
        """
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=2)
