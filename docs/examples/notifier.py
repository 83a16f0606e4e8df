"""Application code that reads its mail settings once, when it is imported (as
a settings module or a module-level client often does)."""

import os
import smtplib

MAIL_HOST = os.environ.get("NOTIFIER_MAIL_HOST", "mail.example.com")
MAIL_PORT = int(os.environ.get("NOTIFIER_MAIL_PORT", "25"))


def notify(to: str, text: str) -> None:
    with smtplib.SMTP(MAIL_HOST, MAIL_PORT, timeout=10) as client:
        client.sendmail("notifier@example.com", [to], f"Subject: Notice\r\n\r\n{text}\r\n")
