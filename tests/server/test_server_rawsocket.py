"""The server over a bare socket: BDAT, pipelining, framing and the idle timeout."""

from __future__ import annotations

import time

from server_support import RawClient, ended_sessions

from pytest_smtpd import Ending, SMTPServer


def test_bdat_chunks_make_one_message() -> None:
    with SMTPServer() as server, RawClient(server.address) as client:
        ehlo = client.greet()
        assert "250-CHUNKING" in ehlo or "250 CHUNKING" in ehlo
        assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]
        assert client.command("RCPT TO:<bob@example.com>") == ["250 2.1.5 OK"]

        client.send(b"BDAT 10\r\n" + b"Hi there\r\n")
        assert client.read_reply() == ["250 2.0.0 10 octets received"]
        assert server.messages == []
        assert client.command("BDAT 0 LAST") == ["250 2.0.0 OK: 10 octets queued"]

        [message] = server.messages
        assert message.data == b"Hi there\r\n"
        assert message.sender == "alice@example.com"
        assert message.recipients == ("bob@example.com",)
        assert "C: BDAT 10" in server.transcript.render_lines()
        assert "C: BDAT 0 LAST" in server.transcript.render_lines()
        assert client.command("QUIT") == ["221 2.0.0 Bye"]
        assert client.read_rest() == b""


def test_bdat_last_chunk_may_carry_data_and_is_not_dot_unstuffed() -> None:
    content = b"Subject: chunks\r\n\r\n..not unstuffed\r\n.\r\nstill content\r\n"
    with SMTPServer() as server, RawClient(server.address) as client:
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")
        client.command("RCPT TO:<bob@example.com>")
        client.send(b"BDAT 7\r\n" + content[:7])
        assert client.read_reply() == ["250 2.0.0 7 octets received"]
        client.send(f"BDAT {len(content) - 7} LAST\r\n".encode() + content[7:])
        assert client.read_reply() == [f"250 2.0.0 OK: {len(content)} octets queued"]

        [message] = server.messages
        assert message.data == content
        assert message.subject == "chunks"


def test_pipelined_transaction_in_one_write_gets_every_reply_in_order() -> None:
    content = b"Subject: pipelined\r\n\r\n..hidden dot\r\nbody\r\n"
    unstuffed = b"Subject: pipelined\r\n\r\n.hidden dot\r\nbody\r\n"
    second_content = b"Subject: second\r\n\r\nbody\r\n"
    with SMTPServer() as server, RawClient(server.address) as client:
        assert "250-PIPELINING" in client.greet()
        client.send(
            b"MAIL FROM:<alice@example.com>\r\n"
            b"RCPT TO:<bob@example.com>\r\n"
            b"RCPT TO:<carol@example.com>\r\n"
            b"DATA\r\n" + content + b".\r\n"
            b"MAIL FROM:<alice@example.com>\r\n"
            b"RCPT TO:<dave@example.com>\r\n"
            b"DATA\r\n" + second_content + b".\r\n"
            b"QUIT\r\n"
        )

        replies = [client.read_reply() for _ in range(9)]
        assert replies == [
            ["250 2.1.0 OK"],
            ["250 2.1.5 OK"],
            ["250 2.1.5 OK"],
            ["354 End data with <CR><LF>.<CR><LF>"],
            [f"250 2.0.0 OK: {len(unstuffed)} octets queued"],
            ["250 2.1.0 OK"],
            ["250 2.1.5 OK"],
            ["354 End data with <CR><LF>.<CR><LF>"],
            [f"250 2.0.0 OK: {len(second_content)} octets queued"],
        ]
        assert client.read_reply() == ["221 2.0.0 Bye"]
        assert client.read_rest() == b""

        first, second = server.messages
        assert first.data == unstuffed
        assert first.recipients == ("bob@example.com", "carol@example.com")
        assert second.data == second_content
        assert second.recipients == ("dave@example.com",)
        assert server.sessions[0].ended is Ending.QUIT


def test_only_crlf_dot_crlf_ends_the_data() -> None:
    content = b"Subject: smuggle\r\n\r\nbody\n.\nMAIL FROM:<evil@example.com>\r\nend\r\n"
    with SMTPServer() as server, RawClient(server.address) as client:
        client.greet()
        client.command("MAIL FROM:<alice@example.com>")
        client.command("RCPT TO:<bob@example.com>")
        assert client.command("DATA")[0].startswith("354 ")
        client.send(content + b".\r\n")
        assert client.read_reply() == [f"250 2.0.0 OK: {len(content)} octets queued"]

        [message] = server.messages
        assert message.data == content
        assert [c.verb for c in server.sessions[0].commands] == ["EHLO", "MAIL", "RCPT", "DATA"]
        assert [v.kind for v in server.violations] == ["bare-lf"]


def test_idle_client_gets_421_and_is_closed() -> None:
    with SMTPServer(timeout=0.2) as server, RawClient(server.address) as client:
        client.greet()

        reply = client.read_reply()

        assert reply == ["421 4.4.2 localhost Error: timeout exceeded"]
        assert client.read_rest() == b""
        [session] = server.sessions
        assert session.ended is Ending.TIMEOUT
        assert session.replies[-1].code == 421


def test_idle_timeout_before_ehlo_has_an_enhanced_code() -> None:
    with SMTPServer(timeout=0.2) as server, RawClient(server.address) as client:
        assert client.read_reply() == ["220 localhost ESMTP pytest-smtpd"]

        assert client.read_reply() == ["421 4.4.2 localhost Error: timeout exceeded"]
        assert client.read_rest() == b""
        assert server.sessions[0].ended is Ending.TIMEOUT


def test_a_client_arriving_at_an_idle_server_is_timed_out_too() -> None:
    timed_out = ["421 4.4.2 localhost Error: timeout exceeded"]
    with SMTPServer(timeout=0.2) as server:
        with RawClient(server.address) as first:
            first.greet()
            assert first.read_reply() == timed_out
        # No client left: the server knows of no deadline until the next one arrives.
        with RawClient(server.address) as second:
            second.greet()
            assert second.read_reply() == timed_out
        assert [s.ended for s in server.sessions] == [Ending.TIMEOUT, Ending.TIMEOUT]


def test_a_delayed_reply_stops_the_timeout_and_restarts_it() -> None:
    with SMTPServer(timeout=0.3) as server, RawClient(server.address) as client:
        server.on("NOOP").delay(0.6)
        client.greet()

        assert client.command("NOOP") == ["250 2.0.0 OK"]  # no 421 during the delay
        assert client.read_reply() == ["421 4.4.2 localhost Error: timeout exceeded"]
        [session] = server.sessions
        assert session.ended is Ending.TIMEOUT


def test_activity_restarts_the_idle_timer() -> None:
    # The client pauses between commands (its own pace, not waiting for the
    # server) for twice the timeout in all, never for as long as the timeout:
    # only a timer restarted by each answered command keeps the session open.
    timeout, pause, commands = 0.6, 0.15, 8
    assert pause * commands >= 2 * timeout
    with SMTPServer(timeout=timeout) as server, RawClient(server.address) as client:
        client.greet()
        for _ in range(commands):
            time.sleep(pause)
            assert client.command("NOOP") == ["250 2.0.0 OK"]
        assert server.sessions[0].active


def test_client_vanishing_mid_data_records_nothing() -> None:
    with SMTPServer() as server:
        with RawClient(server.address) as client:
            client.greet()
            client.command("MAIL FROM:<alice@example.com>")
            client.command("RCPT TO:<bob@example.com>")
            assert client.command("DATA")[0].startswith("354 ")
            client.send(b"Subject: cut\r\n\r\nhalf of it")

        [session] = ended_sessions(server, 1)

        assert session.ended is Ending.CLIENT_CLOSED
        assert server.messages == []
