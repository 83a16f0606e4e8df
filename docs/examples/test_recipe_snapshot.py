"""Recipe: a snapshot test of a whole mail with syrupy.

Run ``pytest --snapshot-update`` once to write the snapshot under
``__snapshots__/``, commit it, and every later run compares the mail with it.
"""

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest

from pytest_smtpd import SMTPServer

pytest.importorskip("syrupy", reason="syrupy is not installed (pip install -e '.[test]')")

from syrupy.assertion import SnapshotAssertion

LOGO = b"\x89PNG\r\n\x1a\n" + bytes(56)


def send_receipt(host: str, port: int, to: str, order: int, total: str) -> None:
    """Application code: a receipt with an inline logo and the invoice attached."""
    logo_id = make_msgid(domain="shop.example.com")
    msg = EmailMessage()
    msg["From"] = "Shop <orders@shop.example.com>"
    msg["To"] = to
    msg["Subject"] = f"Your receipt for order {order}"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain="shop.example.com")
    msg.set_content(f"Thank you for order {order}.\nTotal: {total}\n")
    msg.add_alternative(
        f'<img src="cid:{logo_id[1:-1]}" alt="Shop"><p>Thank you for order {order}.</p><p>Total: {total}</p>',
        subtype="html",
    )
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    html.add_related(LOGO, maintype="image", subtype="png", cid=logo_id)
    invoice = f"%PDF-1.4 invoice {order} {total}".encode()
    msg.add_attachment(invoice, maintype="application", subtype="pdf", filename=f"invoice-{order}.pdf")
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.send_message(msg)


def test_receipt_mail(smtpd: SMTPServer, snapshot: SnapshotAssertion) -> None:
    send_receipt(smtpd.host, smtpd.port, "alice@example.com", order=1042, total="EUR 19.90")
    msg = smtpd.assert_sent(to="alice@example.com")
    assert msg.normalized() == snapshot
