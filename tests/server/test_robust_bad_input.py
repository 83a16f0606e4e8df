"""Bad input over real sockets: each gets its exact reply, and the session and
the server go on."""

from __future__ import annotations

import select
import socket
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from server_support import RawClient, ReplyHook, ended_sessions

from pytest_smtpd import Command, Ending, Reply, Session, SMTPServer
from pytest_smtpd.protocol import ERROR_LIMIT

OK = ["250 2.0.0 OK"]
TOO_LONG = ["500 5.5.6 Line too long"]
UNKNOWN = ["500 5.5.2 Error: command not recognized"]
BAD_OCTET = ["501 5.5.2 Syntax error: bad octet"]
TOO_BIG = ["552 5.3.4 Message size exceeds fixed maximum message size"]


@contextmanager
def serving(**options: object) -> Iterator[SMTPServer]:
    """A running server that must end the test without an exception in its thread."""
    with SMTPServer(**options) as server:
        yield server
    assert server.errors == []


def goes_on(server: SMTPServer, client: RawClient) -> None:
    """The session still answers, and the server still takes new connections."""
    assert client.command("NOOP") == OK
    with RawClient(server.address) as other:
        other.greet()
        assert other.command("QUIT") == ["221 2.0.0 Bye"]
        assert other.read_rest() == b""


def nothing_arrives(client: RawClient, wait: float = 0.1) -> bool:
    readable, _, _ = select.select([client.sock], [], [], wait)
    return not readable


def start_transaction(client: RawClient) -> None:
    client.greet()
    assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]
    assert client.command("RCPT TO:<bob@example.com>") == ["250 2.1.5 OK"]


def test_nul_bytes_in_commands() -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()

        client.send(b"NO\0OP\r\n")
        assert client.read_reply() == UNKNOWN
        client.send(b"MAIL FROM:<al\0ice@example.com>\r\n")
        assert client.read_reply() == BAD_OCTET
        client.send(b"\0\0\0\r\n")
        assert client.read_reply() == UNKNOWN

        goes_on(server, client)
        assert [v.kind for v in server.violations] == ["bad-octet"] * 3
        assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]


def test_8bit_octets_in_commands_without_smtputf8() -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()

        client.send("MAIL FROM:<jörg@example.com>\r\n".encode())
        assert client.read_reply() == ["550 5.6.7 Non-ASCII address needs SMTPUTF8"]
        client.send(b"MAIL FROM:<\xff\xfe@example.com>\r\n")
        assert client.read_reply() == ["550 5.6.7 Non-ASCII address needs SMTPUTF8"]
        client.send(b"N\xc3\xb6OP\r\n")
        assert client.read_reply() == UNKNOWN

        goes_on(server, client)
        assert [v.kind for v in server.violations] == ["non-ascii-address"] * 2
        client.send("MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".encode())
        assert client.read_reply() == ["250 2.1.0 OK"]


def test_a_100_kb_line_is_one_500_and_the_transaction_stays() -> None:
    with serving() as server, RawClient(server.address) as client:
        start_transaction(client)

        client.send(b"RCPT TO:<" + b"x" * 100_000 + b"@example.com>\r\n")
        assert client.read_reply() == TOO_LONG
        assert nothing_arrives(client)

        assert client.command("RCPT TO:<carol@example.com>") == ["250 2.1.5 OK"]
        goes_on(server, client)
        assert "line-too-long" in [v.kind for v in server.violations]


def test_a_line_without_crlf_then_disconnect_is_dropped() -> None:
    with serving() as server:
        with RawClient(server.address) as client:
            client.greet()
            client.send(b"MAIL FROM:<alice@example.com>")
            client.sock.shutdown(socket.SHUT_WR)
            assert client.read_rest() == b""

        [session] = ended_sessions(server, 1)
        assert session.ended is Ending.CLIENT_CLOSED
        assert [c.verb for c in session.commands] == ["EHLO"]
        with RawClient(server.address) as client:
            client.greet()
            goes_on(server, client)


def test_bare_lf_ends_a_command_line_bare_cr_does_not() -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()

        client.send(b"NOOP\n")
        assert client.read_reply() == OK
        client.send(b"NOOP\rRSET\r\n")
        assert client.read_reply() == UNKNOWN
        client.send(b"\r\r\r\n")
        assert client.read_reply() == UNKNOWN

        goes_on(server, client)
        assert [v.kind for v in server.violations] == ["bare-lf", "bad-octet", "bad-octet"]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"MAIL FROM:<alice@example.com>\rRCPT TO:<evil@example.com>", BAD_OCTET),
        (b"HELO client\r250 injected", ["501 Syntax error: bad octet"]),  # RFC 2034 §4: no code on HELO
        (b"VRFY a\r\rb", BAD_OCTET),
        (b"XFOO\r354 injected", UNKNOWN),
    ],
)
def test_replies_never_echo_a_cr_or_lf_the_client_sent(line: bytes, reply: list[str]) -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()

        client.send(line + b"\r\n")
        assert client.read_reply() == reply
        assert nothing_arrives(client)

        # Nothing after the CR took effect: no transaction was started.
        assert client.command("RCPT TO:<bob@example.com>") == ["503 5.5.1 Error: need MAIL command"]
        goes_on(server, client)


@pytest.mark.parametrize("separator", [b"\n", b"\r"])
def test_bare_lf_or_cr_dot_never_ends_data(separator: bytes) -> None:
    content = b"Subject: smuggling\r\n\r\nbody" + separator + b"." + separator + b"MAIL FROM:<evil@example.com>\r\n"
    with serving() as server, RawClient(server.address) as client:
        start_transaction(client)
        assert client.command("DATA")[0].startswith("354 ")

        client.send(content)
        assert nothing_arrives(client)
        client.send(b".\r\n")
        assert client.read_reply() == [f"250 2.0.0 OK: {len(content)} octets queued"]

        [message] = server.messages
        assert message.data == content
        kind = "bare-lf" if separator == b"\n" else "bare-cr"
        assert [v.kind for v in server.violations] == [kind]
        assert [c.verb for c in server.sessions[0].commands] == ["EHLO", "MAIL", "RCPT", "DATA"]
        goes_on(server, client)


def test_the_end_of_data_split_across_packets() -> None:
    with serving() as server, RawClient(server.address) as client:
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start_transaction(client)
        assert client.command("DATA")[0].startswith("354 ")

        for piece in [b"Subject: split\r\n\r\n.", b".hidden\r", b"\n", b".", b"\r"]:
            client.send(piece)
            assert nothing_arrives(client)
        client.send(b"\n")

        assert client.read_reply() == ["250 2.0.0 OK: 27 octets queued"]
        [message] = server.messages
        assert message.data == b"Subject: split\r\n\r\n.hidden\r\n"
        assert server.violations == []
        goes_on(server, client)


def test_10000_pipelined_noops_get_10000_replies_in_order() -> None:
    count = 10_000

    def numbered(session: Session, command: Command, reply: Reply) -> Reply | None:
        return Reply(250, f"2.0.0 {command.argument}") if command.verb == "NOOP" else None

    with serving() as server, RawClient(server.address) as client:
        server.hooks = ReplyHook(numbered)
        client.greet()

        client.send(b"".join(b"NOOP %d\r\n" % i for i in range(count)))
        replies = [client.read_line() for _ in range(count)]

        assert replies == [f"250 2.0.0 {i}" for i in range(count)]
        assert nothing_arrives(client)
        assert len(server.sessions[0].commands) == count + 1
        assert client.command("QUIT") == ["221 2.0.0 Bye"]


def test_a_message_over_size_limit_without_size_is_counted_not_stored() -> None:
    limit = 64 * 1024
    line = b"x" * 1022 + b"\r\n"
    content = line * (20 * 1024)  # 20 MiB
    with serving(size_limit=limit) as server, RawClient(server.address) as client:
        start_transaction(client)
        assert client.command("DATA")[0].startswith("354 ")

        tracemalloc.start()
        try:
            client.send(content)
            client.send(b".\r\n")
            reply = client.read_reply()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert reply == TOO_BIG
        assert server.messages == []
        # The server reads 256 KiB at a time and keeps at most about the limit.
        assert peak < 4 * 1024 * 1024, f"{peak} bytes at peak for a 20 MiB message"
        goes_on(server, client)
        assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]
        assert client.command("RCPT TO:<bob@example.com>") == ["250 2.1.5 OK"]
        assert client.command("DATA")[0].startswith("354 ")
        assert client.command("small\r\n.") == ["250 2.0.0 OK: 7 octets queued"]
        [message] = server.messages
        assert message.data == b"small\r\n"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("MAIL FROM:bob", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        ("MAIL FROM:<<a@example.com>>", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        ("MAIL FROM:<a@example.com", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        (f"MAIL FROM:<{'l' * 65}@example.com>", "501 5.1.7 Local part longer than 64 octets"),
        ("MAIL FROM:<a@@example.com>", "501 5.1.7 Bad address syntax"),
        ("MAIL FROM:<a@example.com> XFOO=1", "555 5.5.4 Unsupported parameter XFOO"),
        ("MAIL FROM:<a@example.com> SIZE=10 NOTIFY=NEVER", "555 5.5.4 Unsupported parameter NOTIFY"),
    ],
)
def test_malformed_mail_is_refused_and_the_session_goes_on(command: str, reply: str) -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()

        assert client.command(command) == [reply]

        goes_on(server, client)
        assert client.command(f"MAIL FROM:<{'l' * 64}@example.com>") == ["250 2.1.0 OK"]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("RCPT TO:bob", "501 5.5.4 Syntax: RCPT TO:<address>"),
        ("RCPT TO:<<b@example.com>>", "501 5.5.4 Syntax: RCPT TO:<address>"),
        (f"RCPT TO:<{'l' * 65}@example.com>", "501 5.1.3 Local part longer than 64 octets"),
        ("RCPT TO:<b@example.com> SIZE=1", "555 5.5.4 Unsupported parameter SIZE"),
    ],
)
def test_malformed_rcpt_is_refused_and_the_transaction_goes_on(command: str, reply: str) -> None:
    with serving() as server, RawClient(server.address) as client:
        client.greet()
        assert client.command("MAIL FROM:<a@example.com>") == ["250 2.1.0 OK"]

        assert client.command(command) == [reply]

        assert client.command("RCPT TO:<b@example.com>") == ["250 2.1.5 OK"]
        assert client.command("DATA")[0].startswith("354 ")
        assert client.command("x\r\n.") == ["250 2.0.0 OK: 3 octets queued"]
        assert [m.recipients for m in server.messages] == [("b@example.com",)]
        goes_on(server, client)


def test_too_many_errors_in_a_row_get_421_and_close() -> None:
    with serving() as server:
        with RawClient(server.address) as client:
            client.greet()
            for _ in range(ERROR_LIMIT - 1):
                assert client.command("XYZZY") == UNKNOWN

            assert client.command("XYZZY") == ["421 4.7.0 localhost Error: too many errors"]
            assert client.read_rest() == b""

        [session] = ended_sessions(server, 1)
        assert session.ended is Ending.SERVER_CLOSED
        with RawClient(server.address) as client:
            client.greet()
            goes_on(server, client)


def test_a_success_restarts_the_error_count_and_scripted_errors_do_not_count() -> None:
    with serving() as server, RawClient(server.address) as client:
        server.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
        client.greet()
        client.send(b"XYZZY\r\n" * (ERROR_LIMIT - 1) + b"NOOP\r\n" + b"XYZZY\r\n" * (ERROR_LIMIT - 1))
        replies = [client.read_reply() for _ in range(2 * ERROR_LIMIT - 1)]
        assert replies == [UNKNOWN] * (ERROR_LIMIT - 1) + [OK] + [UNKNOWN] * (ERROR_LIMIT - 1)

        assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]
        for _ in range(2 * ERROR_LIMIT):
            assert client.command("RCPT TO:<nobody@example.com>") == ["550 5.1.1 No such user"]

        goes_on(server, client)
        assert server.sessions[0].active


#: A chunk that, read as commands, is a whole transaction from another sender.
INJECTED = b"RSET\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nforged\r\n.\r\n"


def test_a_rcpt_made_long_by_dsn_parameters_is_accepted_and_the_session_stays_in_step() -> None:
    address = "l" * 64 + "@" + "d" * 180
    with serving() as server, RawClient(server.address) as client:
        client.greet()
        assert client.command("MAIL FROM:<alice@example.com> RET=HDRS ENVID=" + "e" * 100) == ["250 2.1.0 OK"]
        line = f"RCPT TO:<{address}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{address}"
        assert len(line) + 2 == 539
        assert client.command(line) == ["250 2.1.5 OK"]
        assert client.command("DATA")[0].startswith("354 ")
        assert client.command("Subject: long\r\n\r\nbody\r\n.") == ["250 2.0.0 OK: 23 octets queued"]
        [message] = server.messages
        assert message.recipients == (address,)
        goes_on(server, client)


@pytest.mark.parametrize("header", [b"BDAT %d FINAL", b"BDAT %d LAST MORE"])
def test_a_bdat_with_a_bad_tail_discards_its_chunk_and_the_session_goes_on(header: bytes) -> None:
    with serving() as server, RawClient(server.address) as client:
        start_transaction(client)

        client.send(header % len(INJECTED) + b"\r\n" + INJECTED)
        assert client.read_reply() == ["501 5.5.4 Syntax: BDAT <size> [LAST]"]
        assert nothing_arrives(client)

        # RFC 3030 §2: the transaction has failed; RSET starts a new one.
        assert client.command("RSET") == OK
        assert client.command("MAIL FROM:<alice@example.com>") == ["250 2.1.0 OK"]
        assert client.command("RCPT TO:<bob@example.com>") == ["250 2.1.5 OK"]
        client.send(b"BDAT 2 LAST\r\nok")
        assert client.read_reply() == ["250 2.0.0 OK: 2 octets queued"]
        assert [(m.sender, m.data) for m in server.messages] == [("alice@example.com", b"ok")]
        goes_on(server, client)


@pytest.mark.parametrize("header", [b"BDAT", b"BDAT abc", b"BDAT -5", b"BDAT 1x LAST"])
def test_a_bdat_without_a_size_is_501_then_closed_and_its_chunk_never_runs(header: bytes) -> None:
    with serving() as server:
        with RawClient(server.address) as client:
            start_transaction(client)

            client.send(header + b"\r\n" + INJECTED + b"QUIT\r\n")
            assert client.read_reply() == ["501 5.5.4 Syntax: BDAT <size> [LAST]; no chunk size, closing connection"]
            assert client.read_rest() == b""

        [session] = ended_sessions(server)
        assert session.ended is Ending.SERVER_CLOSED
        assert [c.verb for c in session.commands] == ["EHLO", "MAIL", "RCPT", "BDAT"]
        assert server.messages == []
        assert [v.kind for v in server.violations] == ["bdat-size"]
        with RawClient(server.address) as client:
            client.greet()
            goes_on(server, client)
