"""Recipe: Celery-style task retries on transient SMTP failures.

``send_report`` is written the way a Celery task with ``self.retry(...)`` is; ``run_eagerly``
stands in for ``task_always_eager``, running the retries at once in the test.
"""

import smtplib

import pytest

from pytest_smtpd import SMTPServer


class Retry(Exception):
    """Raised by a task to be run again later (Celery's ``self.retry()`` raises one too)."""

    def __init__(self, countdown: float) -> None:
        super().__init__(f"retry in {countdown}s")
        self.countdown = countdown


def send_report(host: str, port: int, to: str, *, retries: int = 0, max_retries: int = 3) -> None:
    """The task: 4xx means try again later, with exponential back-off; 5xx is final."""
    try:
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.sendmail("reports@example.com", [to], "Subject: Nightly report\r\n\r\nAll green.\r\n")
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500 and retries < max_retries:
            raise Retry(countdown=2**retries) from exc
        raise


def run_eagerly(host: str, port: int, to: str, max_retries: int = 3) -> int:
    """Run the task and its retries now (no countdown); return the attempts made."""
    retries = 0
    while True:
        try:
            send_report(host, port, to, retries=retries, max_retries=max_retries)
            return retries + 1
        except Retry:
            retries += 1


def test_transient_failures_are_retried(smtpd: SMTPServer) -> None:
    smtpd.on("MAIL").reply(451, "4.3.0 Try again later").times(2)
    assert run_eagerly(smtpd.host, smtpd.port, "ops@example.com") == 3
    smtpd.assert_sent(to="ops@example.com", subject="Nightly report")
    assert len(smtpd.sessions) == 3


def test_gives_up_after_max_retries(smtpd: SMTPServer) -> None:
    smtpd.on("message").reply(452, "4.3.1 Insufficient system storage")
    with pytest.raises(smtplib.SMTPDataError):
        run_eagerly(smtpd.host, smtpd.port, "ops@example.com", max_retries=2)
    assert len(smtpd.sessions) == 3  # the first attempt and two retries
    smtpd.assert_not_sent()


def test_permanent_failure_is_not_retried(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "ops@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        run_eagerly(smtpd.host, smtpd.port, "ops@example.com")
    assert len(smtpd.sessions) == 1


def test_dropped_connection_is_retried(smtpd: SMTPServer) -> None:
    smtpd.on("DATA").disconnect().once()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        # A dropped connection is not an SMTPResponseException: this task does not retry it.
        run_eagerly(smtpd.host, smtpd.port, "ops@example.com")
    smtpd.assert_not_sent()
