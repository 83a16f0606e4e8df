"""Standard-library clients: logging's SMTPHandler and smtplib's low-level calls."""

from __future__ import annotations

import logging
import logging.handlers

from pytest_smtpd import SMTPServer


def test_logging_smtp_handler_delivers_the_record(smtpd: SMTPServer) -> None:
    handler = logging.handlers.SMTPHandler(
        mailhost=smtpd.address,
        fromaddr="alerts@example.com",
        toaddrs=["oncall@example.com", "lead@example.com"],
        subject="Disk almost full",
    )
    logger = logging.getLogger("test_logging_smtp_handler")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.error("/var is at %d%%", 97)
    finally:
        logger.removeHandler(handler)
        handler.close()
    msg = smtpd.assert_sent(sender="alerts@example.com", subject="Disk almost full")
    assert msg.recipients == ("oncall@example.com", "lead@example.com")
    assert msg.text is not None
    assert "/var is at 97%" in msg.text
