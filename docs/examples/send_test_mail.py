"""Send one test message to the debugging server: ``python send_test_mail.py [HOST [PORT]]``."""

import smtplib
import sys
from email.message import EmailMessage


def send_test_mail(host: str = "127.0.0.1", port: int = 1025) -> None:
    msg = EmailMessage()
    msg["From"] = "me@example.com"
    msg["To"] = "you@example.com"
    msg["Subject"] = "Hello from the debugging server"
    msg.set_content("It works.\n")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(msg)


if __name__ == "__main__":
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 1025
    send_test_mail(host, port)
