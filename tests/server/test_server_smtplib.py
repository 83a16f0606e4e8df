"""The server against smtplib: HELO and EHLO paths, MIME round trips, records and the transcript."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from server_support import ended_sessions, local_address

from pytest_smtpd import Ending, SMTPServer

SENDER = "alice@example.com"
SIMPLE = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Hi\r\n\r\nHello Bob\r\n"


def test_helo_path_records_the_message_and_the_session() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        assert client.helo("client.example")[0] == 250
        refused = client.sendmail(SENDER, ["bob@example.com"], SIMPLE)

        assert refused == {}
        [message] = server.messages
        assert message.sender == SENDER
        assert message.recipients == ("bob@example.com",)
        assert message.data == SIMPLE
        assert message.subject == "Hi"
        assert message.text == "Hello Bob\n"
        session = message.session
        assert session.greeting == "HELO"
        assert not session.esmtp
        assert session.helo_name == "client.example"
        # RFC 2034 §4: enhanced status codes after HELO too, but not on its reply.
        assert "S: 250 localhost" in server.transcript.render_lines()
        assert "S: 250 2.1.0 OK" in server.transcript.render_lines()


def test_ehlo_path_advertises_the_default_extensions() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        code, _ = client.ehlo("client.example")
        assert code == 250
        for extension in ("size", "pipelining", "8bitmime", "smtputf8", "enhancedstatuscodes", "chunking", "dsn"):
            assert client.has_extn(extension), extension
        assert not client.has_extn("starttls")
        assert not client.has_extn("auth")

        assert client.sendmail(SENDER, ["bob@example.com"], SIMPLE) == {}

        [message] = server.messages
        assert message.data == SIMPLE
        assert message.declared_size == len(SIMPLE)
        assert message.session.greeting == "EHLO"
        assert message.session.esmtp
        assert message.session.helo_name == "client.example"


def test_several_recipients_are_kept_in_order() -> None:
    recipients = ["bob@example.com", "carol@example.org", "Dave@Example.NET"]
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        assert client.sendmail(SENDER, recipients, SIMPLE) == {}

        [message] = server.messages
        assert message.recipients == tuple(recipients)
        assert len(message.rcpt_params) == 3


def test_multipart_message_with_utf8_subject_decodes_back_exactly() -> None:
    subject = "Grüße aus Köln – ✓ 日本語"
    text = "Hello Alice,\nthis is the plain part: naïve café.\n"
    html = "<html><body><p>Hello <b>Alice</b> — ünïcödé</p></body></html>\n"
    payload = bytes(range(256)) * 40
    email = EmailMessage()
    email["From"] = SENDER
    email["To"] = "bob@example.com"
    email["Subject"] = subject
    email["Message-ID"] = "<multipart-1@example.com>"
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    email.add_attachment(payload, maintype="application", subtype="octet-stream", filename="data.bin")

    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        assert client.send_message(email) == {}

        [message] = server.messages
        assert message.sender == SENDER
        assert message.recipients == ("bob@example.com",)
        assert message.subject == subject
        assert message.text == text
        assert message.html == html
        assert message["Message-ID"] == "<multipart-1@example.com>"
        [attachment] = message.attachments
        assert attachment.filename == "data.bin"
        assert attachment.content_type == "application/octet-stream"
        assert attachment.content == payload
        assert message.defects == []


def test_leading_dot_and_998_octet_line_arrive_intact() -> None:
    long_line = b"x" * 998
    data = (
        b"Subject: dots\r\n\r\n"
        b".a line starting with a dot\r\n"
        b"..two dots\r\n"
        b".\tdot and tab\r\n"
        b"a line.\r\n" + long_line + b"\r\n"
        b"last line\r\n"
    )
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        assert client.sendmail(SENDER, ["bob@example.com"], data) == {}

        [message] = server.messages
        assert message.data == data
        assert long_line in message.data.split(b"\r\n")
        assert server.violations == []


def test_each_message_is_recorded_when_sendmail_returns() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address) as client:
        for number in range(30):
            client.sendmail(SENDER, ["bob@example.com"], f"Subject: number {number}\r\n\r\nbody\r\n")
            messages = server.messages
            assert len(messages) == number + 1
            assert messages[-1].subject == f"number {number}"
            assert server.transcript[-1].text == f"250 2.0.0 OK: {len(messages[-1].data)} octets queued"


def test_sessions_record_peer_greeting_and_how_they_ended() -> None:
    with SMTPServer() as server:
        with smtplib.SMTP(*server.address) as first:
            first.ehlo("first.example")
            first.sendmail(SENDER, ["bob@example.com"], SIMPLE)
            first_peer = local_address(first)
        # The with-block sent QUIT; the session was recorded as ended before 221 went out.
        assert server.sessions[0].ended is Ending.QUIT

        second = smtplib.SMTP(*server.address)
        second.helo("second.example")
        second_peer = local_address(second)
        second.close()
        ended_sessions(server, 2)

        first_session, second_session = server.sessions
        assert first_session.peer == first_peer
        assert first_session.greeting == "EHLO"
        assert first_session.helo_name == "first.example"
        assert first_session.ended is Ending.QUIT
        assert [m.subject for m in first_session.messages] == ["Hi"]
        assert [c.verb for c in first_session.commands] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
        assert [r.code for r in first_session.replies] == [220, 250, 250, 250, 354, 250, 221]

        assert second_session.peer == second_peer
        assert second_session.greeting == "HELO"
        assert second_session.helo_name == "second.example"
        assert second_session.ended is Ending.CLIENT_CLOSED
        assert second_session.messages == ()
        assert second_session.id > first_session.id


def test_transcript_renders_lines_as_sent() -> None:
    body_lines = [f"line {n}" for n in range(1, 11)]
    data = ("Subject: long\r\n\r\n" + "\r\n".join(body_lines) + "\r\n").encode()
    with SMTPServer() as server:
        with smtplib.SMTP(*server.address) as client:
            client.ehlo("client.example")
            client.sendmail(SENDER, ["bob@example.com"], data)
            port = local_address(client)[1]

        lines = str(server.transcript).splitlines()

    assert lines[0] == f"--- session 1 from 127.0.0.1:{port} ---"
    assert lines[1] == "S: 220 localhost ESMTP pytest-smtpd"
    assert lines[2] == "C: ehlo client.example"
    assert lines[3] == "S: 250-localhost"
    # smtplib's case for "FROM:" changed in Python 3.13: compare without it.
    assert f"c: mail from:<{SENDER}> size={len(data)}" in [line.lower() for line in lines]
    assert "S: 250 2.1.0 OK" in lines
    assert "c: rcpt to:<bob@example.com>" in [line.lower() for line in lines]
    assert "S: 250 2.1.5 OK" in lines
    data_at = lines.index("C: data")
    assert lines[data_at + 1 : data_at + 9] == [
        "S: 354 End data with <CR><LF>.<CR><LF>",
        "C: Subject: long",
        "C: ",
        "C: line 1",
        "C: line 2",
        "C: line 3",
        f"C: ... (7 more lines, {len(data)} octets in all)",
        "C: .",
    ]
    assert lines[data_at + 9] == f"S: 250 2.0.0 OK: {len(data)} octets queued"
    assert lines[-2:] == ["C: QUIT", "S: 221 2.0.0 Bye"]


def test_rendered_line_membership_in_the_transcript() -> None:
    with SMTPServer() as server, smtplib.SMTP(*server.address, timeout=10) as client:
        client.noop()
    transcript = server.transcript
    assert "C: noop" in transcript
    assert "S: 250 2.0.0 OK" in transcript  # RFC 2034 §4: with or without EHLO
    assert "C: rset" not in transcript
    assert transcript[0].direction == "S"
    assert len(transcript) == len(list(transcript))
