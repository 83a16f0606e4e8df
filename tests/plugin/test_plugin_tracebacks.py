"""A failure points at the test's own line: the plugin's helpers, fixtures and
hook wrappers hide their frames, so no source of pytest_smtpd appears in a report."""

from __future__ import annotations

import pytest
from smtpd_pytester import write_ini

TESTS = """
import smtplib
import pytest

def test_assert_sent(smtpd):
    smtpd.assert_sent(to="alice@example.com")  # LINE assert_sent

def test_wait_for(smtpd):
    smtpd.wait_for(subject="Never", timeout=0.1)  # LINE wait_for

def test_wait_until(smtpd):
    smtpd.wait_until(lambda server: server.messages, timeout=0.1)  # LINE wait_until

def test_on(smtpd):
    smtpd.on("RCTP", "bob@example.com")  # LINE on

def test_filter(smtpd):
    smtpd.assert_count(0, too="bob@example.com")  # LINE filter

@pytest.mark.smtpd(strict=True)
def test_violations(smtpd):
    smtpd.assert_no_violations()
    smtpd._recorder.record_violations(0, [])
    assert smtpd.violations == []
    smtpd.assert_not_sent()
    raise AssertionError("the test's own failure")  # LINE own

def test_unrelated_setup(smtpd, broken):
    pass

@pytest.mark.smtpd(hostnme="mx.test")
def test_marker_typo(smtpd):
    pass

def test_factory_typo(smtpd_factory):
    smtpd_factory(sizelimit=10)  # LINE factory

def test_hook_error(smtpd):
    with smtplib.SMTP(*smtpd.address) as client:
        client.noop()
"""

CONFTEST = """
import pytest

def pytest_smtpd_reply(session, command, reply):
    if command.verb == "NOOP":
        raise RuntimeError("the hook's own bug")  # LINE hook

@pytest.fixture
def broken():
    raise RuntimeError("an unrelated set-up bug")  # LINE broken
"""


@pytest.fixture
def result(pytester: pytest.Pytester) -> pytest.RunResult:
    write_ini(pytester)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_failing=TESTS)
    return pytester.runpytest("-p", "no:randomly")


def line_of(marker: str, source: str = TESTS) -> int:
    """The line number of the line carrying ``# LINE marker`` (as the file pytester writes it)."""
    lines = source.strip("\n").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.endswith(f"# LINE {marker}"))


def test_no_plugin_source_in_any_report(result: pytest.RunResult) -> None:
    result.assert_outcomes(failed=8, errors=2)
    result.stdout.no_fnmatch_line("*pytest_smtpd/*")
    result.stdout.no_fnmatch_line("*__tracebackhide__*")
    result.stdout.no_fnmatch_line("*pluggy/*")


@pytest.mark.parametrize(
    ("test", "marker", "message"),
    [
        ("test_assert_sent", "assert_sent", "E       AssertionError: expected exactly 1 message matching to=*"),
        ("test_wait_for", "wait_for", "E       AssertionError: timed out after 0.1s: expected at least 1 message*"),
        ("test_wait_until", "wait_until", "E       AssertionError: wait_until(<lambda>): timed out after 0.1s*"),
        ("test_on", "on", "E       ValueError: unknown event 'RCTP' (did you mean 'RCPT'?)*"),
        ("test_filter", "filter", "E       TypeError: unknown filter 'too' (did you mean 'to'?)*"),
        ("test_violations", "own", "E       AssertionError: the test's own failure"),
        ("test_factory_typo", "factory", "E       *ConfigurationError: unknown smtpd option 'sizelimit'*"),
    ],
)
def test_a_failure_shows_the_tests_line_and_the_message(
    result: pytest.RunResult, test: str, marker: str, message: str
) -> None:
    result.stdout.fnmatch_lines(
        [f"*_ {test} _*", f">*# LINE {marker}", message, f"test_failing.py:{line_of(marker)}: *"]
    )


def test_an_unrelated_set_up_error_starts_in_its_own_fixture(result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unrelated_setup*",
            "    @pytest.fixture",
            "    def broken():",
            ">*# LINE broken",
            "E       RuntimeError: an unrelated set-up bug",
            f"conftest.py:{line_of('broken', CONFTEST)}: RuntimeError",
        ]
    )


def test_a_set_up_error_of_the_plugin_shows_its_message(result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_marker_typo*",
            "E   *ConfigurationError: unknown smtpd option 'hostnme' (did you mean 'hostname'?) in @pytest.mark.smtpd*",
        ]
    )


def test_an_error_in_the_server_thread_shows_the_users_code(result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines(
        [
            "*_ test_hook_error _*",
            "    def pytest_smtpd_reply(session, command, reply):",
            ">*# LINE hook",
            "E           RuntimeError: the hook's own bug",
            f"conftest.py:{line_of('hook', CONFTEST)}: RuntimeError",
            "The above exception was the direct cause of the following exception:",
            "E   pytest_smtpd.errors.ServerThreadError: 1 exception(s) in the SMTP server thread*",
            "*Captured smtpd transcript*",
            "Errors in the server thread:",
            "Traceback (most recent call last):",
            '  File "*conftest.py", line *, in pytest_smtpd_reply',
            '    raise RuntimeError("the hook\'s own bug")  # LINE hook',
            "RuntimeError: the hook's own bug",
        ]
    )


def test_a_teardown_error_shows_the_users_code(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makeconftest(
        """
        import pytest

        def pytest_smtpd_session_ended(session):
            raise RuntimeError("the session hook's bug")  # LINE ended

        @pytest.fixture
        def clients():
            made = []
            yield made
            for client in made:  # after the server stopped: the session ended at its teardown
                client.close()
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        def test_leaves_a_client_connected(clients, smtpd):
            client = smtplib.SMTP(*smtpd.address)
            clients.append(client)
            assert client.noop()[0] == 250
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaves_a_client_connected*",
            "    def pytest_smtpd_session_ended(session):",
            '>       raise RuntimeError("the session hook\'s bug")  # LINE ended',
            "E       RuntimeError: the session hook's bug",
            "conftest.py:4: RuntimeError",
            "The above exception was the direct cause of the following exception:",
            "E   pytest_smtpd.errors.ServerThreadError: 1 exception(s) in the SMTP server thread*",
            "      pytest_smtpd_session_ended hook: RuntimeError: the session hook's bug",
        ]
    )
    result.stdout.no_fnmatch_line("*pytest_smtpd/*")
