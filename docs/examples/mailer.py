"""The application code the documentation's examples test: plain smtplib."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage


def send_welcome(host: str, port: int, to: str) -> None:
    """Send the sign-up mail to ``to``."""
    msg = EmailMessage()
    msg["From"] = "noreply@example.com"
    msg["To"] = to
    msg["Subject"] = "Welcome!"
    name = to.split("@")[0].capitalize()
    msg.set_content(f"Hello {name},\n\nthanks for signing up.\n")
    msg.add_alternative(f"<p>Hello <b>{name}</b>,</p><p>thanks for signing up.</p>", subtype="html")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(msg)


def send_with_retry(host: str, port: int, to: str, attempts: int = 3, backoff: float = 0.0) -> int:
    """Send a report, retrying on transient (4xx) failures; returns the attempts used."""
    msg = EmailMessage()
    msg["From"] = "reports@example.com"
    msg["To"] = to
    msg["Subject"] = "Daily report"
    msg.set_content("All systems nominal.\n")
    for attempt in range(1, attempts + 1):
        try:
            with smtplib.SMTP(host, port, timeout=10) as client:
                client.send_message(msg)
            return attempt
        except smtplib.SMTPResponseException as exc:
            if not 400 <= exc.smtp_code < 500 or attempt == attempts:
                raise
            time.sleep(backoff * attempt)
    raise AssertionError("unreachable")
