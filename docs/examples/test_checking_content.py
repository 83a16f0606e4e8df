"""Checking what is in a mail: its links, whether it is well formed, a stable text for snapshots."""

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import parse_qs, urlsplit

import pytest

from pytest_smtpd import Problem, SMTPServer

TOKENS = {"alice@example.com": "c4t-0ken-b1Xq9s-7Hm2"}


def send_password_reset(host: str, port: int, to: str) -> None:
    """Application code: the reset mail, text and HTML, as most frameworks build it."""
    url = f"https://app.example.com/reset/?user={to}&token={TOKENS[to]}"
    msg = EmailMessage()
    msg["From"] = "App <noreply@app.example.com>"
    msg["To"] = to
    msg["Subject"] = "Reset your password"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="app.example.com")
    msg.set_content(f"Hello,\n\nto choose a new password, open {url}.\n\nThe App team\n")
    msg.add_alternative(f'<p>Hello,</p><p><a href="{url.replace("&", "&amp;")}">Reset</a></p>', "html")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(msg)


def test_the_reset_link_works(smtpd: SMTPServer) -> None:
    send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    msg = smtpd.assert_sent(to="alice@example.com", subject="Reset your password")

    url = msg.link("/reset/")  # the one link that contains "/reset/", decoded

    query = parse_qs(urlsplit(url).query)
    assert query == {"user": ["alice@example.com"], "token": [TOKENS["alice@example.com"]]}
    # The text and the HTML body carry the same link: it is listed once.
    assert msg.links == [url]


def test_links_are_decoded(smtpd: SMTPServer) -> None:
    send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    msg = smtpd.messages[0]
    url = msg.link("token=")
    assert url.endswith("token=" + TOKENS["alice@example.com"])
    # On the wire the bodies are quoted-printable: the URL is cut by soft line
    # breaks ("=" at the end of a line) and "=" is written "=3D". A regex over
    # msg.data would find a broken URL; msg.links decodes first.
    assert url.encode() not in msg.data
    assert b"=\r\n" in msg.data
    assert b"token=3D" in msg.data


def test_the_mail_is_well_formed(smtpd: SMTPServer) -> None:
    send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    smtpd.messages[0].assert_well_formed()


def test_what_a_hand_made_mail_gets_wrong(smtpd: SMTPServer) -> None:
    html = "<p>Your order has shipped.</p>"
    with smtplib.SMTP(*smtpd.address, timeout=10) as client:
        client.sendmail(
            "shop@example.com",
            ["alice@example.com"],
            f"From: Shop <shop@example.com>\r\nTo: alice\r\nSubject: Shipped\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n",
        )
    msg = smtpd.messages[0]
    assert [problem.kind for problem in msg.problems] == [
        "missing-date",
        "missing-message-id",
        "missing-mime-version",
        "invalid-address",
        "no-text-part",
    ]
    assert Problem("invalid-address", "To: 'alice' has no @domain (RFC 5322 §3.4.1)") in msg.problems
    with pytest.raises(AssertionError, match="is not well formed"):
        msg.assert_well_formed()


NORMALIZED = """\
From: App <noreply@app.example.com>
To: alice@example.com
Subject: Reset your password
Date: <date>
Message-ID: <message-id-1>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="<boundary-1>"

--<boundary-1>
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Hello,

to choose a new password, open https://app.example.com/reset/?user=alice@example.com&token=c4t-0ken-b1Xq9s-7Hm2.

The App team
--<boundary-1>
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: quoted-printable
MIME-Version: 1.0

<p>Hello,</p><p><a href="https://app.example.com/reset/?user=alice@example.com&amp;token=c4t-0ken-b1Xq9s-7Hm2">Reset</a></p>
--<boundary-1>--
"""


def test_normalized_text(smtpd: SMTPServer) -> None:
    send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    send_password_reset(smtpd.host, smtpd.port, "alice@example.com")
    first, second = smtpd.messages
    assert first.data != second.data  # another Message-ID and MIME boundary
    assert first.normalized() == second.normalized() == NORMALIZED
