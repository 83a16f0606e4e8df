"""Examples for "Asserting on messages"."""

import re
import smtplib
import threading
from email.message import EmailMessage

import pytest

from pytest_smtpd import Message, SMTPServer


def send_invoice(host: str, port: int, to: str, number: int) -> None:
    """Application code: an invoice mail with a text body, an HTML body and a PDF."""
    msg = EmailMessage()
    msg["From"] = "billing@example.com"
    msg["To"] = to
    msg["Subject"] = f"Invoice {number}"
    msg["X-Invoice-Number"] = str(number)
    msg.set_content(f"Invoice {number} is attached.\n")
    msg.add_alternative(f"<p>Invoice <b>{number}</b> is attached.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename=f"invoice-{number}.pdf")
    with smtplib.SMTP(host, port) as client:
        client.send_message(msg)


def test_filters(smtpd: SMTPServer) -> None:
    send_invoice(smtpd.host, smtpd.port, "alice@example.com", 1001)
    send_invoice(smtpd.host, smtpd.port, "bob@example.com", 1002)

    msg = smtpd.assert_sent(
        to="ALICE@example.com",  # addresses compare in any case
        subject=re.compile(r"^Invoice \d+$"),  # a regex: re.search
        text="is attached",  # text and html: contained in the body
        html="<b>1001</b>",
        headers={"X-Invoice-Number": "1001"},
        attachment="invoice-1001.pdf",
    )
    (pdf,) = msg.attachments
    assert (pdf.content_type, pdf.content) == ("application/pdf", b"%PDF-1.4 ...")

    def big_invoice(number: str) -> bool:
        return int(number) > 1001

    smtpd.assert_sent(headers={"X-Invoice-Number": big_invoice})  # a predicate
    smtpd.assert_count(2, sender="billing@example.com")
    smtpd.assert_not_sent(to="carol@example.com")


def test_copies(smtpd: SMTPServer) -> None:
    msg = EmailMessage()
    msg["From"] = "billing@example.com"
    msg["To"] = "alice@example.com"
    msg["Cc"] = "Accounts <accounts@example.com>"
    msg["Subject"] = "Invoice 1003"
    msg.set_content("Invoice 1003 is attached.\n")
    with smtplib.SMTP(smtpd.host, smtpd.port) as client:
        # The auditor is an envelope recipient named in no header: a blind copy.
        client.send_message(msg, to_addrs=["alice@example.com", "accounts@example.com", "audit@example.com"])
    smtpd.assert_sent(cc="accounts@example.com", bcc="audit@example.com")
    smtpd.assert_not_sent(bcc="accounts@example.com")  # named in Cc: not blind


def test_failure_message_shows_what_arrived(smtpd: SMTPServer) -> None:
    send_invoice(smtpd.host, smtpd.port, "alice@example.com", 1001)
    with pytest.raises(AssertionError) as info:
        smtpd.assert_sent(to="alice@example.com", subject="Invoice 1002")
    report = str(info.value)
    print(report)
    assert "Invoice 1001" in report  # every message received is listed
    assert "subject" in report  # and the filter that did not match is named


def test_mail_sent_in_the_background(smtpd: SMTPServer) -> None:
    worker = threading.Thread(target=send_invoice, args=(smtpd.host, smtpd.port, "alice@example.com", 7))
    worker.start()
    # Blocks until the message is accepted (woken by the server, no polling).
    (msg,) = smtpd.wait_for(count=1, timeout=5, to="alice@example.com")
    worker.join()
    assert msg.subject == "Invoice 7"


def test_message_attributes(smtpd: SMTPServer) -> None:
    send_invoice(smtpd.host, smtpd.port, "alice@example.com", 1001)
    msg: Message = smtpd.messages[0]
    assert msg.sender == "billing@example.com"
    assert msg.recipients == ("alice@example.com",)
    assert msg["X-Invoice-Number"] == "1001"
    assert msg.data.startswith(b"From: billing@example.com\r\n")  # raw, exactly as sent
    assert msg.email.get_content_type() == "multipart/mixed"  # an email.message.EmailMessage
    assert msg.mail_params["SIZE"] == str(msg.size)  # smtplib announces the size
    assert msg.session.helo_name is not None
    assert msg.defects == []


def test_a_failure_lists_what_was_refused(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send_invoice(smtpd.host, smtpd.port, "bob@example.com", 1004)
    with pytest.raises(AssertionError) as info:
        smtpd.assert_sent(to="bob@example.com")
    assert str(info.value).endswith(
        "No message was accepted.\n"
        "Refused (1):\n"
        "  recipient 'bob@example.com' from 'billing@example.com': 550 5.1.1 No such user"
    )
    [refusal] = smtpd.refusals
    assert (refusal.recipient, refusal.reply.code) == ("bob@example.com", 550)


def test_wait_until_a_session_ended(smtpd: SMTPServer) -> None:
    client = smtplib.SMTP(smtpd.host, smtpd.port, timeout=10)
    client.noop()
    client.close()  # no QUIT: the server notices the closed socket a moment later
    ended = smtpd.wait_until(lambda server: [s.ended for s in server.sessions if not s.active])
    assert ended == ["client closed"]
