"""AUTH (RFC 4954) and STARTTLS (RFC 3207) in the core, byte for byte: every
branch of the exchange, including the refusals a client only meets by mistake."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from smtp_core_driver import EHLO, MAIL, Driver

from pytest_smtpd.protocol import ProtocolConfig

USERS = ProtocolConfig(users={"alice": "secret"})
OK = b"235 2.7.0 Authentication successful\r\n"
INVALID = b"535 5.7.8 Authentication credentials invalid\r\n"
UNDECODABLE = b"501 5.5.2 Cannot decode response\r\n"


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode("utf-8"))


def greeted(config: ProtocolConfig = USERS) -> Driver:
    driver = Driver(config)
    driver.feed(EHLO)
    return driver


def test_plain_with_an_initial_response() -> None:
    driver = greeted()
    assert driver.feed(b"AUTH PLAIN " + b64("\0alice\0secret") + b"\r\n") == OK
    assert driver.conn.auth_user == "alice"
    assert driver.conn.auth_mechanism == "PLAIN"


def test_plain_without_an_initial_response_gets_an_empty_challenge() -> None:
    # RFC 4954 §4: without an initial response the server sends "334 " and an
    # empty challenge, and the client answers with the response on its own line.
    driver = greeted()
    assert driver.feed(b"AUTH PLAIN\r\n") == b"334 \r\n"
    assert driver.feed(b64("\0alice\0secret") + b"\r\n") == OK


@pytest.mark.parametrize(
    "response",
    [b"!!!!", b"%%%", b"=", b64("alice secret"), b64("\0alice")],
    ids=["not-base64", "not-base64-2", "empty", "no-nul", "one-nul"],
)
def test_a_malformed_plain_response_is_501(response: bytes) -> None:
    # RFC 4954 §4: "If the server cannot [BASE64] decode any client response,
    # it MUST reject the AUTH command with a 501 reply."
    assert greeted().feed(b"AUTH PLAIN " + response + b"\r\n") == UNDECODABLE
    driver = greeted()
    assert driver.feed(b"AUTH PLAIN\r\n") == b"334 \r\n"
    assert driver.feed(response + b"\r\n") == UNDECODABLE
    assert driver.conn.auth_user is None


def test_wrong_password_is_535() -> None:
    assert greeted().feed(b"AUTH PLAIN " + b64("\0alice\0wrong") + b"\r\n") == INVALID
    assert greeted().feed(b"AUTH PLAIN " + b64("\0mallory\0secret") + b"\r\n") == INVALID


def test_login_asks_for_user_then_password() -> None:
    driver = greeted()
    assert driver.feed(b"AUTH LOGIN\r\n") == b"334 " + b64("Username:") + b"\r\n"
    assert driver.feed(b64("alice") + b"\r\n") == b"334 " + b64("Password:") + b"\r\n"
    assert driver.feed(b64("secret") + b"\r\n") == OK


def test_login_with_the_user_as_initial_response() -> None:
    driver = greeted()
    assert driver.feed(b"AUTH LOGIN " + b64("alice") + b"\r\n") == b"334 " + b64("Password:") + b"\r\n"
    assert driver.feed(b64("secret") + b"\r\n") == OK


@pytest.mark.parametrize("step", ["user", "password"])
def test_login_with_an_undecodable_answer_is_501(step: str) -> None:
    driver = greeted()
    driver.feed(b"AUTH LOGIN\r\n")
    if step == "password":
        driver.feed(b64("alice") + b"\r\n")
    assert driver.feed(b"%%\r\n") == UNDECODABLE
    assert driver.conn.auth_user is None


def test_the_client_cancels_with_a_star() -> None:
    # RFC 4954 §4: "If the client wishes to cancel the authentication exchange,
    # it issues a line with a single '*'. If the server receives such a
    # response, it MUST reject the AUTH command by sending a 501 reply."
    driver = greeted()
    driver.feed(b"AUTH LOGIN\r\n")
    assert driver.feed(b"*\r\n") == b"501 5.7.0 Authentication cancelled\r\n"
    assert driver.feed(MAIL) == b"250 2.1.0 OK\r\n"  # the session goes on


def _cram_answer(challenge_line: bytes, user: str, password: str) -> bytes:
    assert challenge_line.startswith(b"334 ")
    challenge = base64.b64decode(challenge_line[4:].strip())
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    return b64(f"{user} {digest}") + b"\r\n"


def test_cram_md5_challenge_and_response() -> None:
    driver = greeted()
    challenge = driver.feed(b"AUTH CRAM-MD5\r\n")
    # RFC 2195 §2: the challenge has the form of a msg-id, naming the server.
    assert base64.b64decode(challenge[4:]).endswith(b"@localhost>")
    assert driver.feed(_cram_answer(challenge, "alice", "secret")) == OK
    assert driver.conn.auth_mechanism == "CRAM-MD5"


def test_cram_md5_for_an_unknown_user_or_wrong_digest_is_535() -> None:
    driver = greeted()
    assert driver.feed(_cram_answer(driver.feed(b"AUTH CRAM-MD5\r\n"), "bob", "secret")) == INVALID
    driver = greeted()
    assert driver.feed(_cram_answer(driver.feed(b"AUTH CRAM-MD5\r\n"), "alice", "wrong")) == INVALID


def test_cram_md5_with_a_response_that_has_no_digest_is_501() -> None:
    driver = greeted()
    driver.feed(b"AUTH CRAM-MD5\r\n")
    assert driver.feed(b64("alice") + b"\r\n") == UNDECODABLE


def test_cram_md5_refuses_an_initial_response() -> None:
    # RFC 4954 §4: "If the client uses an initial-response argument to the AUTH
    # command with a SASL mechanism in which the client does not begin the
    # authentication exchange, the server MUST reject the AUTH command with a
    # 501 reply."
    assert greeted().feed(b"AUTH CRAM-MD5 " + b64("alice") + b"\r\n") == UNDECODABLE


def test_auth_when_already_authenticated_is_503() -> None:
    # RFC 4954 §4: "After a successful AUTH command completes, a server MUST
    # reject any further AUTH commands with a 503 reply."
    driver = greeted()
    driver.feed(b"AUTH PLAIN " + b64("\0alice\0secret") + b"\r\n")
    assert driver.feed(b"AUTH PLAIN " + b64("\0alice\0secret") + b"\r\n") == (
        b"503 5.5.1 Error: already authenticated\r\n"
    )


def test_auth_during_a_mail_transaction_is_503() -> None:
    # RFC 4954 §4: "The AUTH command is not permitted during a mail transaction.
    # An AUTH command issued during a mail transaction MUST be rejected with a 503 reply."
    driver = greeted()
    driver.feed(MAIL)
    assert driver.feed(b"AUTH PLAIN " + b64("\0alice\0secret") + b"\r\n") == (
        b"503 5.5.1 Error: AUTH not allowed during a mail transaction\r\n"
    )


def test_an_unknown_mechanism_is_504_and_a_missing_one_501() -> None:
    # RFC 4954 §4: "If the requested authentication mechanism is invalid (e.g.,
    # is not supported or requires an encryption layer), the server rejects the
    # AUTH command with a 504 reply."
    assert greeted().feed(b"AUTH GSSAPI\r\n") == b"504 5.5.4 Unrecognized authentication type\r\n"
    assert greeted().feed(b"AUTH\r\n") == b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"


def test_auth_not_offered_is_502() -> None:
    assert greeted(ProtocolConfig()).feed(b"AUTH PLAIN =\r\n") == b"502 5.5.1 Error: AUTH not offered\r\n"


def test_auth_before_tls_when_tls_is_required_for_it_is_538() -> None:
    config = ProtocolConfig(users={"alice": "secret"}, auth_require_tls=True, starttls=True)
    driver = greeted(config)
    assert driver.feed(b"AUTH PLAIN " + b64("\0alice\0secret") + b"\r\n") == (
        b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    )


def test_starttls_not_offered_is_502() -> None:
    assert greeted(ProtocolConfig()).feed(b"STARTTLS\r\n") == b"502 5.5.1 Error: STARTTLS not offered\r\n"


def test_starttls_with_an_argument_is_501() -> None:
    # RFC 3207 §4: "STARTTLS" takes no parameters; "501 Syntax error (no parameters allowed)".
    assert greeted(ProtocolConfig(starttls=True)).feed(b"STARTTLS now\r\n") == b"501 5.5.4 Syntax: STARTTLS\r\n"


def test_starttls_when_tls_is_already_active_is_503() -> None:
    driver = greeted(ProtocolConfig(starttls=True))
    assert driver.feed(b"STARTTLS\r\n").startswith(b"220 ")
    driver.conn.tls_started()
    driver.feed(EHLO)
    assert driver.feed(b"STARTTLS\r\n") == b"503 5.5.1 Error: TLS already active\r\n"


def test_an_auth_response_may_be_longer_than_a_command_line() -> None:
    # RFC 4954 §4: a response line may be up to 12288 octets (AUTH_LINE_LIMIT),
    # far beyond the command line limit.
    driver = greeted()
    driver.feed(b"AUTH PLAIN\r\n")
    long_response = b64("\0alice\0" + "x" * 4000)
    assert len(long_response) > 4 * 1024
    assert driver.feed(long_response + b"\r\n") == b"535 5.7.8 Authentication credentials invalid\r\n"
    assert driver.kinds == []


def test_an_auth_response_over_its_limit_is_500_and_ends_the_exchange() -> None:
    driver = greeted()
    driver.feed(b"AUTH PLAIN\r\n")
    assert driver.feed(b"A" * 12288 + b"\r\n") == b"500 5.5.6 Line too long\r\n"
    assert driver.kinds == ["line-too-long"]
    assert driver.feed(b"NOOP\r\n") == b"250 2.0.0 OK\r\n"  # a command again
