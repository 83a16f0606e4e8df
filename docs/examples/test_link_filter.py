"""The link= filter: which message carries a link."""

import re
import smtplib
from email.message import EmailMessage

from pytest_smtpd import SMTPServer


def send_magic_link(host: str, port: int, to: str, token: str) -> None:
    """Application code: a sign-in mail whose link is in both the text and the HTML part."""
    url = f"https://app.example.com/login?token={token}&next=/inbox"
    msg = EmailMessage()
    msg["From"] = "noreply@example.com"
    msg["To"] = to
    msg["Subject"] = "Your sign-in link"
    msg.set_content(f"Sign in: {url}\n")
    msg.add_alternative(f'<a href="{url.replace("&", "&amp;")}">Sign in</a>', subtype="html")
    with smtplib.SMTP(host, port) as client:
        client.send_message(msg)


def test_which_mail_has_the_link(smtpd: SMTPServer) -> None:
    send_magic_link(smtpd.host, smtpd.port, "alice@example.com", "t0k3n-a")
    send_magic_link(smtpd.host, smtpd.port, "bob@example.com", "t0k3n-b")

    msg = smtpd.assert_sent(link="token=t0k3n-a")  # a string: contained in a link
    assert msg.recipients == ("alice@example.com",)
    smtpd.assert_count(2, link=re.compile(r"^https://app\.example\.com/login\?"))  # a regex: re.search
    smtpd.assert_not_sent(link=lambda link: link.startswith("http://"))  # a predicate: each link in turn
