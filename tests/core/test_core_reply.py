"""Reply values and their bytes; Command's main argument; Violation."""

from __future__ import annotations

import pytest

from pytest_smtpd.protocol import Command, Reply, Violation


def test_single_line_reply() -> None:
    reply = Reply(250, "2.0.0 OK")
    assert reply.lines == ("250 2.0.0 OK",)
    assert reply.to_bytes() == b"250 2.0.0 OK\r\n"
    assert str(reply) == "250 2.0.0 OK"


def test_reply_without_text() -> None:
    assert Reply(250).to_bytes() == b"250\r\n"


def test_multi_line_reply() -> None:
    reply = Reply(250, "mx.example\nSIZE 100\nPIPELINING")
    assert reply.to_bytes() == b"250-mx.example\r\n250-SIZE 100\r\n250 PIPELINING\r\n"
    assert str(reply) == "250-mx.example\n250-SIZE 100\n250 PIPELINING"


def test_multi_line_reply_with_empty_lines() -> None:
    assert Reply(214, "help\n\nmore").to_bytes() == b"214-help\r\n214-\r\n214 more\r\n"
    assert Reply(214, "help\n").to_bytes() == b"214-help\r\n214\r\n"


def test_non_ascii_text_is_utf8() -> None:
    assert Reply(550, "5.1.1 Grüße").to_bytes() == "550 5.1.1 Grüße\r\n".encode()


@pytest.mark.parametrize(("code", "positive"), [(250, True), (354, True), (421, False), (550, False)])
def test_positive(code: int, positive: bool) -> None:
    assert Reply(code).positive is positive


@pytest.mark.parametrize("code", [199, 600, 0, -250, 2500])
def test_code_out_of_range(code: int) -> None:
    with pytest.raises(ValueError, match="200 to 599"):
        Reply(code)


@pytest.mark.parametrize("code", [True, 250.0, "250"])
def test_code_must_be_int(code: object) -> None:
    with pytest.raises(ValueError, match="200 to 599"):
        Reply(code, "x")  # type: ignore[arg-type]


def test_text_must_be_str() -> None:
    with pytest.raises(TypeError, match="must be str, not bytes"):
        Reply(250, b"OK")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a\rb", "a\r\nb", "nul\0"])
def test_cr_and_nul_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="CR or NUL"):
        Reply(250, text)


def test_line_limit() -> None:
    assert Reply(250, "x" * 506).to_bytes() == b"250 " + b"x" * 506 + b"\r\n"
    with pytest.raises(ValueError, match="longer than 506 octets"):
        Reply(250, "x" * 507)
    with pytest.raises(ValueError, match="longer than 506 octets"):
        Reply(250, "short\n" + "é" * 254)


def test_every_line_is_checked() -> None:
    Reply(250, "\n".join(["y" * 506] * 3))
    with pytest.raises(ValueError, match="split it with newlines"):
        Reply(250, "ok\n" + "y" * 507 + "\nok")


def test_coerce() -> None:
    reply = Reply(550, "no")
    assert Reply.coerce(reply) is reply
    assert Reply.coerce((451, "4.3.0 later")) == Reply(451, "4.3.0 later")


@pytest.mark.parametrize("value", [(250,), (250, "a", "b"), [250, "OK"], "250 OK", None])
def test_coerce_refuses_other_values(value: object) -> None:
    with pytest.raises(TypeError, match="expected a Reply or a"):
        Reply.coerce(value)  # type: ignore[arg-type]


def test_coerce_validates_tuples() -> None:
    with pytest.raises(ValueError, match="200 to 599"):
        Reply.coerce((700, "x"))


def test_reply_is_frozen_and_hashable() -> None:
    reply = Reply(250, "OK")
    assert {reply, Reply(250, "OK")} == {reply}
    with pytest.raises(AttributeError):
        reply.code = 550  # type: ignore[misc]


@pytest.mark.parametrize(
    ("command", "main"),
    [
        (Command("MAIL", "FROM:<a@b.example>", address="a@b.example"), "a@b.example"),
        (Command("MAIL", "FROM:<>", address=""), ""),
        (Command("EHLO", "client.example extra"), "client.example"),
        (Command("HELO", ""), ""),
        (Command("AUTH", "PLAIN dGVzdA=="), "PLAIN"),
        (Command("VRFY", "alice smith"), "alice smith"),
    ],
)
def test_command_main_argument(command: Command, main: str) -> None:
    assert command.main_argument == main


def test_violation_str() -> None:
    assert str(Violation("bare-lf", "bare LF in message content", 3)) == (
        "session 3: bare-lf: bare LF in message content"
    )
