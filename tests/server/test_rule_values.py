"""What a rule refuses to be made with, and how it shows itself."""

from __future__ import annotations

import pytest

from pytest_smtpd import SMTPServer


@pytest.mark.parametrize("event", [5, "", "RC PT", "<RCPT>"])
def test_an_event_that_is_not_a_word_is_refused(event: object) -> None:
    with SMTPServer() as server, pytest.raises(ValueError, match="event must be a command verb"):
        server.on(event)  # type: ignore[arg-type]


def test_a_match_must_be_a_string_a_regex_or_a_predicate() -> None:
    with SMTPServer() as server, pytest.raises(TypeError, match="match must be a string, a compiled regex"):
        server.on("RCPT", 5)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [-1, True, "1"])
def test_delay_takes_a_non_negative_number(seconds: object) -> None:
    with SMTPServer() as server, pytest.raises(ValueError, match="delay takes a non-negative number"):
        server.on("RCPT").delay(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, True, 1.5])
def test_times_takes_a_positive_int(n: object) -> None:
    with SMTPServer() as server, pytest.raises(ValueError, match="times takes a positive int"):
        server.on("RCPT").times(n)  # type: ignore[arg-type]


def test_a_rule_shows_itself_as_written() -> None:
    with SMTPServer() as server:
        rule = server.on("rcpt", "bob@example.com").delay(0.5).reply(451, "4.3.0 Try later").times(2)
        assert str(rule) == "on('RCPT', 'bob@example.com').delay(0.5).reply(451, '4.3.0 Try later').times(left=2)"
        assert repr(rule) == f"<Rule {rule}>"


def test_a_used_up_rule_cannot_be_claimed_again() -> None:
    with SMTPServer() as server:
        rule = server.on("NOOP").reply(250, "fine").once()
        assert rule._claim()
        assert not rule.live
        assert not rule._claim()
        assert rule.hits == 1
