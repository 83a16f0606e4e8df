"""Recipe: error logs mailed by ``logging.handlers.SMTPHandler``."""

import logging
import logging.handlers
from collections.abc import Iterator

import pytest

from pytest_smtpd import SMTPServer


@pytest.fixture
def alert_logger(smtpd: SMTPServer) -> Iterator[logging.Logger]:
    handler = logging.handlers.SMTPHandler(
        mailhost=smtpd.address,
        fromaddr="alerts@example.com",
        toaddrs=["oncall@example.com"],
        subject="Application error",
        timeout=10,
    )
    handler.setLevel(logging.ERROR)
    logger = logging.getLogger("myapp.alerts")
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)
    handler.close()


def test_errors_are_mailed(alert_logger: logging.Logger, smtpd: SMTPServer) -> None:
    alert_logger.warning("disk at 80%")  # below ERROR: not mailed
    alert_logger.error("payment service unreachable")
    msg = smtpd.assert_sent(to="oncall@example.com", subject="Application error")
    assert msg.text is not None
    assert "payment service unreachable" in msg.text
    assert len(smtpd.messages) == 1


def test_the_traceback_is_in_the_mail(alert_logger: logging.Logger, smtpd: SMTPServer) -> None:
    try:
        int("twelve")
    except ValueError:
        alert_logger.exception("report generation failed")
    msg = smtpd.assert_sent(subject="Application error")
    assert msg.text is not None
    assert "report generation failed" in msg.text
    assert "ValueError: invalid literal for int()" in msg.text
