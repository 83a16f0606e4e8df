"""Decoding of accepted messages: a corpus of real-world-shaped mail, malformed
mail that must not raise, and the same decoding end to end through a server."""

from __future__ import annotations

import email.parser
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

import pytest

from pytest_smtpd import Attachment, Message, SMTPServer

WIRE = policy.default.clone(linesep="\r\n")
SENDER = "sender@example.com"
RECIPIENT = "rcpt@example.com"


def wire(msg: EmailMessage) -> bytes:
    """The message as an SMTP client puts it on the wire (CRLF line endings)."""
    return msg.as_bytes(policy=WIRE)


def raw(*lines: str | bytes) -> bytes:
    """Lines joined with CRLF, ending with CRLF; str lines must be ASCII."""
    return b"".join((line.encode("ascii") if isinstance(line, str) else line) + b"\r\n" for line in lines)


def message(data: bytes) -> Message:
    return Message(sender=SENDER, recipients=(RECIPIENT,), data=data)


@dataclass(frozen=True)
class Case:
    id: str
    data: bytes
    subject: str | None
    text: str | None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    #: bytes that only an 8-bit clean transport carries (MAIL ... BODY=8BITMIME)
    eight_bit: bool = False


# Built with EmailMessage ---------------------------------------------------------


def _alternative_in_mixed() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Shop <orders@shop.example>"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Your order #1042"
    msg.set_content("Thanks for your order.\nTotal: 42.00 EUR\n")
    msg.add_alternative("<html><body><p>Thanks for your <b>order</b>.</p></body></html>\n", subtype="html")
    msg.add_attachment(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", maintype="application", subtype="pdf", filename="invoice-1042.pdf"
    )
    return wire(msg)


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _related_inline_image() -> bytes:
    msg = EmailMessage()
    msg["From"] = "news@brand.example"
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Spring newsletter"
    msg.set_content("Our spring collection is here.\n")
    msg.add_alternative('<p><img src="cid:logo@brand.example"> Our spring collection is here.</p>\n', subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<logo@brand.example>", filename="logo.png")
    return wire(msg)


def _forwarded_inner() -> EmailMessage:
    inner = EmailMessage()
    inner["From"] = "carol@example.com"
    inner["To"] = "dave@example.com"
    inner["Subject"] = "Original thread"
    inner.set_content("The original message.\nSecond line.\n")
    return inner


def _forwarded() -> bytes:
    msg = EmailMessage()
    msg["From"] = "dave@example.com"
    msg["To"] = "erin@example.com"
    msg["Subject"] = "Fwd: Original thread"
    msg.set_content("See the message below.\n")
    msg.add_attachment(_forwarded_inner())
    return wire(msg)


def _html_only() -> bytes:
    msg = EmailMessage()
    msg["From"] = "alerts@monitor.example"
    msg["To"] = "ops@example.com"
    msg["Subject"] = "Build failed"
    msg.set_content("<h1>Build #77 failed</h1>\n<p>See the log.</p>\n", subtype="html")
    return wire(msg)


def _text_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "cron@server.example"
    msg["To"] = "ops@example.com"
    msg["Subject"] = "Nightly report"
    msg.set_content("The report is attached.\n")
    msg.add_attachment("line one\nline two\n", subtype="plain", filename="report.txt")
    return wire(msg)


BINARY = bytes(range(256))


def _binary_attachment() -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "All byte values"
    msg.set_content("Binary attached.\n")
    msg.add_attachment(BINARY, maintype="application", subtype="octet-stream", filename="bytes.bin")
    return wire(msg)


def _iso_2022_jp() -> bytes:
    msg = EmailMessage()
    msg["From"] = "tanaka@example.jp"
    msg["To"] = "suzuki@example.jp"
    msg["Subject"] = "会議の件"
    msg.set_content("日本語のテキストです。\n", charset="iso-2022-jp")
    return wire(msg)


# Written by hand, as other clients send them ------------------------------------------

PLAIN_NO_MIME = raw(
    "Return-Path: <root@legacy.example>",
    "From: root@legacy.example",
    "To: admin@example.com",
    "Subject: cron output",
    "Date: Mon, 3 Jun 2024 04:00:01 +0000",
    "",
    "/etc/cron.daily/logrotate:",
    "error: skipping because parent directory has insecure permissions",
)

SUBJECT_UTF8_B = raw(
    "From: hans@example.de",
    "Subject: =?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4g4piV?=",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    "R3LDvMOfZSBhdXMgS8O2bG4g4piVDQpad2VpdGUgWmVpbGUNCg==",
)

SUBJECT_UTF8_Q_FOLDED = raw(
    "From: chef@example.fr",
    "Subject: =?UTF-8?Q?Caf=C3=A9_cr=C3=A8me_et?=",
    " =?UTF-8?Q?_cr=C3=AApes?=",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: quoted-printable",
    "",
    "Sehr geehrte Frau M=C3=BCller, die Rechnung =C3=BCber 120 =E2=82=AC ist f=",
    "=C3=A4llig. Mit freundlichen Gr=C3=BC=C3=9Fen",
)

SUBJECT_LATIN1_BODY_8BIT = raw(
    "From: bjork@example.is",
    "Subject: =?iso-8859-1?Q?Bj=F6rk_=E0_Paris?=",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=iso-8859-1",
    "Content-Transfer-Encoding: 8bit",
    "",
    b"Voil\xe0 le caf\xe9 cr\xe8me.",
)

SUBJECT_ISO_2022_JP = raw(
    "From: tanaka@example.jp",
    "Subject: =?iso-2022-jp?b?GyRCJDMkcyRLJEEkT0AkMyYbKEI=?=",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=ISO-2022-JP",
    "Content-Transfer-Encoding: 7bit",
    "",
    b"\x1b$BF|K\\8l$N%F%-%9%H$G$9!#\x1b(B",
)

RFC2231_FILENAMES = raw(
    "From: clerk@example.com",
    "Subject: Rates",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "Two files.",
    "--b1",
    "Content-Type: application/pdf",
    "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates%202024.pdf",
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0=",
    "--b1",
    "Content-Type: text/csv",
    "Content-Disposition: attachment;",
    " filename*0*=iso-8859-1''R%E9sum%E9%20des;",
    " filename*1*=%20donn%E9es.csv",
    "",
    "a,b",
    "1,2",
    "--b1--",
)

REPEATED_HEADERS = raw(
    "Received: from mx2.example.com by mx1.example.com; Mon, 3 Jun 2024 10:00:02 +0000",
    "Received: from app.example.com by mx2.example.com; Mon, 3 Jun 2024 10:00:01 +0000",
    "Received: from localhost by app.example.com; Mon, 3 Jun 2024 10:00:00 +0000",
    "From: app@example.com",
    "To: alice@example.com, bob@example.com",
    "Subject: Hops",
    "X-Tag: first",
    "X-Tag: second",
    "",
    "Three hops.",
)

LONG_RECEIVED = (
    "Received: from app.example.com (app.example.com [192.0.2.10]) by mx.example.com (Postfix) with ESMTPS id 4VtK2"
)

DSN_BOUNCE = raw(
    "From: MAILER-DAEMON@mx.example.com",
    "To: app@example.com",
    "Subject: Undelivered Mail Returned to Sender",
    "MIME-Version: 1.0",
    'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"',
    "",
    "--dsn",
    "Content-Type: text/plain; charset=us-ascii",
    "",
    "Your message could not be delivered.",
    "--dsn",
    "Content-Type: message/delivery-status",
    "",
    "Reporting-MTA: dns; mx.example.com",
    "",
    "Final-Recipient: rfc822; nobody@example.com",
    "Action: failed",
    "Status: 5.1.1",
    "",
    "--dsn",
    "Content-Type: message/rfc822",
    "",
    LONG_RECEIVED,
    "From: app@example.com",
    "To: nobody@example.com",
    "Subject: Hello",
    "",
    "Hello there.",
    "--dsn--",
)

SINGLE_PART_ATTACHMENT = raw(
    "From: scanner@office.example",
    "To: alice@example.com",
    "Subject: Scan 0001",
    "MIME-Version: 1.0",
    'Content-Type: application/pdf; name="scan0001.pdf"',
    'Content-Disposition: attachment; filename="scan0001.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0xLjQK",
)


CORPUS = [
    Case(
        "plain-no-mime",
        PLAIN_NO_MIME,
        "cron output",
        "/etc/cron.daily/logrotate:\nerror: skipping because parent directory has insecure permissions\n",
    ),
    Case("subject-utf8-b, base64 body", SUBJECT_UTF8_B, "Grüße aus Köln ☕", "Grüße aus Köln ☕\nZweite Zeile\n"),
    Case(
        "subject-utf8-q folded, quoted-printable body",
        SUBJECT_UTF8_Q_FOLDED,
        "Café crème et crêpes",
        "Sehr geehrte Frau Müller, die Rechnung über 120 € ist fällig. Mit freundlichen Grüßen\n",
    ),
    Case(
        "subject-latin1, latin1 8bit body",
        SUBJECT_LATIN1_BODY_8BIT,
        "Björk à Paris",
        "Voilà le café crème.\n",
        eight_bit=True,
    ),
    Case("subject and body iso-2022-jp", SUBJECT_ISO_2022_JP, "こんにちは世界", "日本語のテキストです。\n"),
    Case("iso-2022-jp built", _iso_2022_jp(), "会議の件", "日本語のテキストです。\n"),
    Case(
        "alternative in mixed",
        _alternative_in_mixed(),
        "Your order #1042",
        "Thanks for your order.\nTotal: 42.00 EUR\n",
        "<html><body><p>Thanks for your <b>order</b>.</p></body></html>\n",
        [Attachment("invoice-1042.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")],
    ),
    Case(
        "related inline image",
        _related_inline_image(),
        "Spring newsletter",
        "Our spring collection is here.\n",
        '<p><img src="cid:logo@brand.example"> Our spring collection is here.</p>\n',
        [Attachment("logo.png", "image/png", PNG)],
    ),
    Case(
        "message/rfc822 attachment",
        _forwarded(),
        "Fwd: Original thread",
        "See the message below.\n",
        None,
        [Attachment(None, "message/rfc822", wire(_forwarded_inner()))],
    ),
    Case(
        "rfc2231 filenames",
        RFC2231_FILENAMES,
        "Rates",
        "Two files.",
        None,
        [
            Attachment("€ rates 2024.pdf", "application/pdf", b"%PDF-"),
            Attachment("Résumé des données.csv", "text/csv", b"a,b\r\n1,2"),
        ],
    ),
    Case("html only", _html_only(), "Build failed", None, "<h1>Build #77 failed</h1>\n<p>See the log.</p>\n"),
    Case("repeated headers", REPEATED_HEADERS, "Hops", "Three hops.\n"),
    Case(
        "text attachment",
        _text_attachment(),
        "Nightly report",
        "The report is attached.\n",
        None,
        [Attachment("report.txt", "text/plain", b"line one\r\nline two\r\n")],
    ),
    Case(
        "binary attachment",
        _binary_attachment(),
        "All byte values",
        "Binary attached.\n",
        None,
        [Attachment("bytes.bin", "application/octet-stream", BINARY)],
    ),
    Case(
        "delivery status notification",
        DSN_BOUNCE,
        "Undelivered Mail Returned to Sender",
        "Your message could not be delivered.",
        None,
        [
            Attachment(
                None,
                "message/delivery-status",
                raw(
                    "Reporting-MTA: dns; mx.example.com",
                    "",
                    "Final-Recipient: rfc822; nobody@example.com",
                    "Action: failed",
                    "Status: 5.1.1",
                ),
            ),
            Attachment(
                None,
                "message/rfc822",
                raw(
                    LONG_RECEIVED,
                    "From: app@example.com",
                    "To: nobody@example.com",
                    "Subject: Hello",
                    "",
                    "Hello there.",
                )[:-2],
            ),
        ],
    ),
    Case(
        "single-part attachment",
        SINGLE_PART_ATTACHMENT,
        "Scan 0001",
        None,
        None,
        [Attachment("scan0001.pdf", "application/pdf", b"%PDF-1.4\n")],
    ),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_corpus_decodes(case: Case) -> None:
    msg = message(case.data)
    assert msg.subject == case.subject
    assert msg.text == case.text
    assert msg.html == case.html
    assert msg.attachments == case.attachments
    assert msg.defects == []


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


def test_header_access_is_decoded_and_case_insensitive() -> None:
    msg = message(SUBJECT_UTF8_B)
    assert msg["subject"] == msg["SUBJECT"] == "Grüße aus Köln ☕"
    assert msg["From"] == "hans@example.de"
    assert msg["X-Absent"] is None
    assert msg.get_all("X-Absent") == []
    assert msg.headers == {
        "From": "hans@example.de",
        "Subject": "Grüße aus Köln ☕",
        "MIME-Version": "1.0",
        "Content-Type": 'text/plain; charset="utf-8"',
        "Content-Transfer-Encoding": "base64",
    }


def test_repeated_headers() -> None:
    msg = message(REPEATED_HEADERS)
    hops = msg.get_all("Received")
    assert [hop.split(" by ")[0] for hop in hops] == [
        "from mx2.example.com",
        "from app.example.com",
        "from localhost",
    ]
    assert msg["Received"] == hops[0]
    assert msg.get_all("x-tag") == ["first", "second"]
    assert msg.headers["X-Tag"] == "first"
    assert msg["To"] == "alice@example.com, bob@example.com"


def test_attached_message_is_not_taken_apart() -> None:
    msg = message(_forwarded())
    [attached] = msg.attachments
    inner = email.parser.BytesParser(policy=policy.default).parsebytes(attached.content)
    assert inner["Subject"] == "Original thread"
    assert msg.text == "See the message below.\n"
    assert msg.subject == "Fwd: Original thread"


def test_inline_image_keeps_its_content_id() -> None:
    msg = message(_related_inline_image())
    images = [part for part in msg.email.walk() if part.get_content_type() == "image/png"]
    assert [part["Content-ID"] for part in images] == ["<logo@brand.example>"]
    assert msg.html is not None
    assert "cid:logo@brand.example" in msg.html


# Lazy decoding ------------------------------------------------------------------------


def test_email_is_parsed_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    original = email.parser.BytesParser.parsebytes

    def counting(self: email.parser.BytesParser, text: bytes, headersonly: bool = False) -> object:
        calls.append(text)
        return original(self, text, headersonly)

    monkeypatch.setattr(email.parser.BytesParser, "parsebytes", counting)
    msg = message(_alternative_in_mixed())
    assert calls == []
    first = msg.email
    assert msg.subject == "Your order #1042"
    assert msg.text is not None
    assert msg.html is not None
    assert len(msg.attachments) == 1
    assert msg.email is first
    assert calls == [msg.data]


def test_decoding_is_lazy_in_the_server() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.sendmail(SENDER, [RECIPIENT], _alternative_in_mixed())
        [msg] = server.messages
        assert msg.email is msg.email
        assert msg.subject == "Your order #1042"


# Malformed ------------------------------------------------------------------------------

BROKEN_BASE64 = raw(
    "Subject: broken base64",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    "",
    "SGVsbG8gd29ybGQ=!!!*",
)

MISSING_CLOSE_BOUNDARY = raw(
    "Subject: no end",
    "MIME-Version: 1.0",
    'Content-Type: multipart/alternative; boundary="alt"',
    "",
    "--alt",
    "Content-Type: text/plain",
    "",
    "plain part",
    "--alt",
    "Content-Type: text/html",
    "",
    "<p>html part</p>",
)

UNKNOWN_CHARSET = raw(
    "Subject: =?x-unknown?q?odd_charset?=",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=x-unknown",
    "Content-Transfer-Encoding: 8bit",
    "",
    b"caf\xe9 and more",
)

HEADER_WITHOUT_COLON = raw(
    "Subject: header without colon",
    "This line has no colon",
    "X-After: lost",
    "",
    "body",
)

TRUNCATED_MULTIPART = raw(
    "Subject: truncated",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="cut"',
    "",
    "--cut",
    "Content-Type: text/plain",
    "",
    "before the cut",
    "--cut",
    "Content-Type: application/pdf",
    'Content-Disposition: attachment; filename="half.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0xLj",
)

MULTIPART_WITHOUT_BOUNDARY = raw(
    "Subject: no boundary",
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed",
    "",
    "--x",
    "Content-Type: text/plain",
    "",
    "lost",
)

BAD_MESSAGE_ID = raw(
    "Subject: bad id",
    "Message-ID: <<>>",
    "",
    "body",
)


def touch_everything(msg: Message) -> None:
    """Read every decoded view; none may raise."""
    assert msg.email is not None
    assert isinstance(msg.defects, list)
    for value in (msg.subject, msg.text, msg.html):
        assert value is None or isinstance(value, str)
    for attachment in msg.attachments:
        assert isinstance(attachment.content, bytes)
        assert isinstance(attachment.content_type, str)
    assert all(isinstance(v, str) for v in msg.headers.values())
    assert isinstance(msg.get_all("Received"), list)
    assert msg["From"] is None or isinstance(msg["From"], str)
    assert repr(msg).startswith("<Message from ")


MALFORMED: list[tuple[str, bytes, Callable[[Message], None]]] = []


def malformed(name: str, data: bytes) -> Callable[[Callable[[Message], None]], Callable[[Message], None]]:
    def register(check: Callable[[Message], None]) -> Callable[[Message], None]:
        MALFORMED.append((name, data, check))
        return check

    return register


@malformed("broken base64", BROKEN_BASE64)
def _broken_base64(msg: Message) -> None:
    assert msg.text is not None
    assert msg.text.startswith("Hello world")
    assert any(d.startswith("InvalidBase64") for d in msg.defects)


@malformed("missing close boundary", MISSING_CLOSE_BOUNDARY)
def _missing_close_boundary(msg: Message) -> None:
    assert msg.text == "plain part"
    assert msg.html == "<p>html part</p>"
    assert any(d.startswith("CloseBoundaryNotFound") for d in msg.defects)


@malformed("unknown charset", UNKNOWN_CHARSET)
def _unknown_charset(msg: Message) -> None:
    assert msg.subject == "odd charset"
    assert msg.text is not None
    assert msg.text.startswith("caf")
    assert msg.text.endswith(" and more\n")


@malformed("header without colon", HEADER_WITHOUT_COLON)
def _header_without_colon(msg: Message) -> None:
    assert msg.subject == "header without colon"
    assert msg["X-After"] is None
    assert msg.text is not None
    assert "This line has no colon" in msg.text
    assert any(d.startswith("MissingHeaderBodySeparator") for d in msg.defects)


@malformed("truncated multipart", TRUNCATED_MULTIPART)
def _truncated_multipart(msg: Message) -> None:
    assert msg.text == "before the cut"
    assert [a.filename for a in msg.attachments] == ["half.pdf"]
    assert msg.defects != []


@malformed("multipart without boundary", MULTIPART_WITHOUT_BOUNDARY)
def _multipart_without_boundary(msg: Message) -> None:
    assert msg.text is None
    assert msg.attachments == []
    assert any(d.startswith("NoBoundaryInMultipart") for d in msg.defects)


@malformed("unparseable Message-ID", BAD_MESSAGE_ID)
def _bad_message_id(msg: Message) -> None:
    assert msg["Message-ID"] == "<<>>"
    assert msg.headers == {"Subject": "bad id", "Message-ID": "<<>>"}
    assert msg.text == "body\n"


@malformed("empty", b"")
def _empty(msg: Message) -> None:
    assert msg.subject is None
    assert msg.headers == {}
    assert msg.attachments == []


@malformed("binary noise", bytes(range(256)) * 4)
def _binary_noise(msg: Message) -> None:
    assert msg.subject is None
    assert msg.defects != []


@pytest.mark.parametrize(("data", "check"), [(d, c) for _, d, c in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_message_never_raises(data: bytes, check: Callable[[Message], None]) -> None:
    msg = message(data)
    touch_everything(msg)
    check(msg)


def test_malformed_message_through_a_server_is_recorded_as_sent() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        for data in (BROKEN_BASE64, TRUNCATED_MULTIPART, BAD_MESSAGE_ID):
            client.sendmail(SENDER, [RECIPIENT], data)
        messages = server.messages
    assert [m.data for m in messages] == [BROKEN_BASE64, TRUNCATED_MULTIPART, BAD_MESSAGE_ID]
    for msg in messages:
        touch_everything(msg)
    assert [m.subject for m in messages] == ["broken base64", "truncated", "bad id"]


# End to end -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_corpus_through_a_server(case: Case) -> None:
    options = ["BODY=8BITMIME"] if case.eight_bit else []
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.sendmail(SENDER, [RECIPIENT], case.data, mail_options=options)
        [msg] = server.messages
    assert msg.data == case.data
    assert (msg.sender, msg.recipients) == (SENDER, (RECIPIENT,))
    assert msg.subject == case.subject
    assert msg.text == case.text
    assert msg.html == case.html
    assert msg.attachments == case.attachments


def test_send_message_end_to_end() -> None:
    data = _forwarded()
    forwarded = email.parser.BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(forwarded, EmailMessage)
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.send_message(forwarded)
        [msg] = server.messages
    assert msg.sender == "dave@example.com"
    assert msg.recipients == ("erin@example.com",)
    assert msg.data == data
    assert msg.subject == "Fwd: Original thread"
    assert msg.attachments == [Attachment(None, "message/rfc822", wire(_forwarded_inner()))]


def test_send_message_with_smtputf8_headers() -> None:
    mail = EmailMessage()
    mail["From"] = "jürgen@example.de"
    mail["To"] = "zoë@example.com"
    mail["Subject"] = "Grüße ☕"
    mail.set_content("Unicode everywhere.\n")
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        client.send_message(mail)
        [msg] = server.messages
    assert msg.smtputf8
    assert msg.sender == "jürgen@example.de"
    assert msg.recipients == ("zoë@example.com",)
    assert msg.subject == "Grüße ☕"
    assert msg["From"] == "jürgen@example.de"
    assert msg.text == "Unicode everywhere.\n"
