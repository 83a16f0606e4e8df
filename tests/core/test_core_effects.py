"""What each reply makes happen, as ``Connection.effect`` tells the transport: the
effects of the state table (``TRANSITIONS``), and the rules beside it."""

from __future__ import annotations

import base64

import pytest
from smtp_core_driver import EHLO, MAIL, RCPT, Driver, ehlo

from pytest_smtpd.protocol import (
    ALLOWED,
    TRANSITIONS,
    AuthResponse,
    Command,
    Effect,
    Event,
    ProtocolConfig,
    Reply,
    State,
)

USERS = ProtocolConfig(users={"alice": "s3cret"})
PLAIN = base64.b64encode(b"\0alice\0s3cret")


def effects(driver: Driver, data: bytes) -> list[tuple[str, int, Effect]]:
    """Feed ``data``, answering with the core's replies; (verb, code, effect) of each."""
    conn, seen = driver.conn, []
    conn.receive_data(data)
    while (event := conn.next_event()) is not None:
        reply = conn.default_reply()
        conn.send(reply)
        seen.append((event.verb if isinstance(event, Command) else type(event).__name__, reply.code, conn.effect))
    return seen


def test_a_session_told_as_effects() -> None:
    driver = Driver()
    assert driver.conn.effect is Effect.NONE  # the greeting changes nothing but the state
    assert driver.conn.state is State.INITIAL
    wire = EHLO + MAIL + RCPT + b"RCPT TO:<no@@x>\r\nDATA\r\nhi\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n"
    assert effects(driver, wire) == [
        ("EHLO", 250, Effect.GREETED),
        ("MAIL", 250, Effect.TRANSACTION),
        ("RCPT", 250, Effect.RECIPIENT),
        ("RCPT", 501, Effect.RECIPIENT_REFUSED),
        ("DATA", 354, Effect.CONTENT),
        ("MessageReceived", 250, Effect.MESSAGE),
        ("RSET", 250, Effect.RESET),
        ("NOOP", 250, Effect.NONE),
        ("QUIT", 221, Effect.QUIT),
    ]
    assert driver.conn.state.value == "closed"


def test_bdat_chunks_and_a_refused_one() -> None:
    driver = ehlo()
    wire = MAIL + RCPT + b"BDAT 2\r\nab" + b"BDAT 2 NOW\r\ncd" + b"BDAT 2 LAST\r\nef"
    assert effects(driver, wire) == [
        ("MAIL", 250, Effect.TRANSACTION),
        ("RCPT", 250, Effect.RECIPIENT),
        ("BDAT", 250, Effect.CHUNK),
        ("BDAT", 501, Effect.FAILED),
        ("BDAT", 503, Effect.FAILED),  # RFC 3030 §2: no chunk after a refused one
    ]
    txn = driver.conn.transaction
    assert txn is not None
    # The refused chunks are taken back; the transaction stays failed until RSET.
    assert (bytes(txn.chunks), txn.failed) == (b"ab", True)


def test_auth_in_two_steps() -> None:
    driver = ehlo(USERS)
    assert effects(driver, b"AUTH PLAIN\r\n" + PLAIN + b"\r\n") == [
        ("AUTH", 334, Effect.AUTH_CHALLENGE),
        ("AuthResponse", 235, Effect.AUTHENTICATED),
    ]
    assert (driver.conn.auth_user, driver.conn.auth_mechanism) == ("alice", "PLAIN")


def test_auth_refused_ends_the_exchange() -> None:
    driver = ehlo(USERS)
    assert effects(driver, b"AUTH PLAIN\r\n*\r\n") == [
        ("AUTH", 334, Effect.AUTH_CHALLENGE),
        ("AuthResponse", 501, Effect.AUTH_ENDED),
    ]
    assert driver.conn.auth_user is None


def _scripted(replies: dict[str, Reply]) -> Driver:
    def decide(event: Event, default: Reply) -> Reply:
        name = event.verb if isinstance(event, Command) else type(event).__name__
        return replies.get(name, default)

    return ehlo(USERS, decide=decide)


def test_a_scripted_235_authenticates_as_the_user_claimed_so_far() -> None:
    # LOGIN: the user name is in, the password is not: 235 takes effect with it.
    driver = _scripted({"AuthResponse": Reply(235, "2.7.0 scripted")})
    driver.feed(b"AUTH LOGIN " + base64.b64encode(b"alice") + b"\r\n", b"d3Jvbmc=\r\n")
    assert (driver.conn.auth_user, driver.conn.auth_mechanism) == ("alice", "LOGIN")


def test_a_scripted_235_to_an_auth_the_core_refused_does_not_authenticate() -> None:
    driver = _scripted({"AUTH": Reply(235, "2.7.0 scripted")})
    driver.feed(b"AUTH NTLM\r\n")
    assert driver.answered[-1][1].code == 235
    assert driver.conn.auth_mechanism is None


def test_a_scripted_334_to_a_finished_exchange_ends_it() -> None:
    driver = _scripted({"AUTH": Reply(334, "")})
    driver.feed(b"AUTH PLAIN " + PLAIN + b"\r\n")  # the core proposed 235
    assert driver.conn.auth_mechanism is None
    driver.feed(b"NOOP\r\n")
    assert not isinstance(driver.events[-1], AuthResponse)  # a command again


def test_a_reply_given_as_a_tuple() -> None:
    driver = ehlo()
    driver.conn.receive_data(MAIL)
    driver.conn.next_event()
    assert driver.conn.send((250, "2.1.0 fine")) == b"250 2.1.0 fine\r\n"
    assert driver.conn.effect is Effect.TRANSACTION


@pytest.mark.parametrize("code", [421, 221])
def test_421_closes_anywhere_and_221_only_quit(code: int) -> None:
    driver = ehlo(decide=lambda event, default: Reply(code, "scripted"))
    driver.feed(b"NOOP\r\n")
    assert driver.conn.effect is (Effect.CLOSE if code == 421 else Effect.NONE)
    assert driver.conn.state is (State.CLOSED if code == 421 else State.READY)


def test_starttls_drops_what_was_pipelined_behind_it() -> None:
    driver = ehlo(ProtocolConfig(starttls=True))
    assert effects(driver, b"STARTTLS\r\nMAIL FROM:<mallory@evil.example>\r\n") == [
        ("STARTTLS", 220, Effect.STARTTLS),
    ]
    assert driver.conn.buffered == 0
    assert driver.conn.starttls_pending
    assert [v.kind for v in driver.conn.take_violations()] == ["starttls-injection"]


def test_a_refused_greeting_leaves_only_quit() -> None:
    driver = Driver(greeting=Reply(554, "5.3.2 no service"))
    assert driver.conn.state is State.NO_SERVICE
    assert driver.conn.effect is Effect.NO_SERVICE
    assert driver.feed(b"BDAT 3\r\nabc") == b"503 5.5.1 Error: no SMTP service here\r\n"
    assert driver.kinds == []  # not out of sequence: refused
    assert driver.feed(b"QUIT\r\n") == b"221 2.0.0 Bye\r\n"


def test_an_unknown_verb_with_a_bad_octet() -> None:
    driver = ehlo()
    assert driver.feed(b"XFOO \0\r\n") == b"501 5.5.2 Syntax error: bad octet\r\n"
    assert driver.feed(b"X-FOO \0\r\n") == b"500 5.5.2 Error: command not recognized\r\n"
    assert driver.kinds == ["bad-octet", "bad-octet"]


def test_a_verb_of_ours_is_ascii() -> None:
    # "ma\u0131l".upper() is "MAIL": it must not be taken for one.
    driver = ehlo()
    assert driver.feed("ma\u0131l FROM:<a@x.example>\r\n".encode()) == b"500 5.5.2 Error: command not recognized\r\n"
    assert driver.conn.state is State.READY


def test_nothing_is_read_before_the_greeting() -> None:
    from pytest_smtpd.protocol import Connection

    conn = Connection()
    conn.receive_data(b"EHLO early.example\r\n")
    assert conn.next_event() is None
    assert not conn.greeted
    conn.send(conn.greeting())
    assert conn.greeted
    assert isinstance(conn.next_event(), Command)


def test_every_allowed_command_has_an_effect_on_2xx_or_is_a_no_op() -> None:
    # The two tables agree: a command in sequence answered 2xx changes what the
    # effects table says, or nothing at all for the commands that change nothing.
    no_op = {"NOOP", "VRFY", "HELP", "STARTTLS", "AUTH", "DATA", "QUIT"}
    for verb, states in ALLOWED.items():
        for state in states:
            has = any((state, verb, key) in TRANSITIONS for key in (2, 200, 250))
            assert has or verb in no_op, (state, verb)


def test_only_220_starts_tls() -> None:
    # RFC 3207 §4: 220 is the go-ahead; a scripted 250 to STARTTLS starts nothing.
    driver = ehlo(ProtocolConfig(starttls=True), decide=lambda event, default: Reply(250, "2.0.0 scripted"))
    driver.feed(b"STARTTLS\r\nNOOP\r\n")
    assert not driver.conn.starttls_pending
    assert [e.verb for e in driver.events if isinstance(e, Command)] == ["EHLO", "STARTTLS", "NOOP"]
