"""``check_content``: every accepted message's problems fail the test, from the
marker, the factory and the ini file, as ``strict`` does for violations."""

from __future__ import annotations

import textwrap

import pytest
from smtpd_pytester import write_ini

from pytest_smtpd import ConfigurationError, SMTPServer

# Application code of the inner runs: a well-formed mail, and one sent as a bare string.
SENDERS = """
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

def send_good(server, subject="Good"):
    msg = EmailMessage()
    msg["From"] = "app@example.com"
    msg["To"] = "alice@example.com"
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content("Hello Alice.\\n")
    with smtplib.SMTP(*server.address) as client:
        client.send_message(msg)

def send_bare(server):
    with smtplib.SMTP(*server.address) as client:
        client.sendmail("cron@example.com", ["ops@example.com"], "Subject: Nightly\\r\\n\\r\\ndone\\r\\n")
"""

# The lines a failure lists for send_bare's mail, with send_good's mail as #1.
BARE_PROBLEMS = [
    "*AssertionError: check_content: 1 message of 2 not well formed:",
    "*  #2 from 'cron@example.com' subject 'Nightly':",
    "*    missing-date: *",
    "*    missing-from: *",
    "*    missing-message-id: *",
]


@pytest.fixture(autouse=True)
def _files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(senders=SENDERS)


def test_the_marker_fails_the_test_listing_the_problems(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(
        test_checked_mail="""
        import pytest
        from senders import send_bare, send_good

        @pytest.mark.smtpd(check_content=True)
        def test_bare(smtpd):
            send_good(smtpd)
            send_bare(smtpd)
            print("the test body ran to its end")
        """
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(BARE_PROBLEMS)
    result.stdout.fnmatch_lines(["*the test body ran to its end*"])
    result.stdout.no_fnmatch_line("*#1 from 'app@example.com' subject*")  # the well-formed one


def test_well_formed_mail_passes(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_check_content = true")
    pytester.makepyfile(
        test_checked_mail="""
        from senders import send_good

        def test_good(smtpd):
            send_good(smtpd)
            send_good(smtpd, subject="Again")
            assert len(smtpd.messages) == 2

        def test_nothing_sent(smtpd):
            pass
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_off_by_default(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(
        test_checked_mail="""
        from senders import send_bare

        def test_bare(smtpd):
            send_bare(smtpd)
            assert smtpd.options.check_content is False
            assert smtpd.messages[0].problems
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "test"),
    [
        (
            "smtpd_check_content = yes",
            """
            def test_bare(smtpd):
                assert smtpd.options.check_content is True
                send_good(smtpd)
                send_bare(smtpd)
            """,
        ),
        (
            "",
            """
            def test_two_servers(smtpd_factory):
                lenient = smtpd_factory()
                checked = smtpd_factory(check_content=True)
                send_bare(lenient)
                send_good(checked)
                send_bare(checked)
            """,
        ),
    ],
    ids=["ini", "factory-for-that-server-only"],
)
def test_from_the_ini_file_and_the_factory(pytester: pytest.Pytester, ini: str, test: str) -> None:
    write_ini(pytester, ini)
    pytester.makepyfile(test_checked_mail="from senders import send_bare, send_good\n" + textwrap.dedent(test))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(BARE_PROBLEMS)


def test_the_marker_can_turn_the_ini_off(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_check_content = true")
    pytester.makepyfile(
        test_checked_mail="""
        import pytest
        from senders import send_bare

        @pytest.mark.smtpd(check_content=False)
        def test_bare(smtpd):
            send_bare(smtpd)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_mail_sent_during_teardown_is_checked_at_teardown(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_check_content = true")
    pytester.makepyfile(
        test_checked_mail="""
        import pytest
        from senders import send_bare, send_good

        @pytest.fixture
        def farewell(smtpd):
            yield smtpd
            send_bare(smtpd)

        def test_bare_at_teardown(farewell):
            send_good(farewell)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_bare_at_teardown*", *BARE_PROBLEMS])


def test_the_session_server_checks_each_tests_mail(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_check_content = true")
    pytester.makepyfile(
        test_checked_mail="""
        from senders import send_bare, send_good

        def test_first(smtpd_session):
            send_good(smtpd_session)
            send_bare(smtpd_session)

        def test_second(smtpd_session):
            send_good(smtpd_session)
        """
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED test_checked_mail.py::test_first*"])


def test_an_ill_typed_value_is_an_error(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_check_content = sometimes")
    pytester.makepyfile(
        test_checked_mail="""
        def test_anything(smtpd):
            smtpd.port
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ini option smtpd_check_content must be true or false, not 'sometimes'*"])


def test_the_value_must_be_true_or_false() -> None:
    with pytest.raises(ConfigurationError, match=r"smtpd option check_content must be True or False, not 'yes'"):
        SMTPServer(check_content="yes")
