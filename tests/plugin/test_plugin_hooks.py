"""The ``pytest_smtpd_*`` hooks, implemented in ``conftest.py`` files."""

from __future__ import annotations

import textwrap

import pytest
from smtpd_pytester import write_ini

BLOCKING_CONFTEST = """
from pytest_smtpd import Reply

def pytest_smtpd_reply(session, command, reply):
    if command.verb == "RCPT" and command.address.lower().endswith("@blocked.example"):
        return Reply(550, "5.7.1 blocked by conftest")
    return None
"""

SEND_TO_BLOCKED = """
import smtplib

def send(server, *recipients):
    with smtplib.SMTP(*server.address) as client:
        return client.sendmail("a@example.com", list(recipients), "Subject: hi\\r\\n\\r\\nhello\\r\\n")

def test_{name}(smtpd):
    refused = send(smtpd, "ok@example.com", "x@blocked.example")
    assert refused == {expected}
    assert smtpd.assert_sent().recipients == ("ok@example.com",) + (() if refused else ("x@blocked.example",))
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester)


def write(pytester: pytest.Pytester, path: str, source: str) -> None:
    target = pytester.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(source))


def test_reply_hook_applies_to_its_directory_only(pytester: pytest.Pytester) -> None:
    blocked = "{'x@blocked.example': (550, b'5.7.1 blocked by conftest')}"
    write(pytester, "blocked/conftest.py", BLOCKING_CONFTEST)
    write(pytester, "blocked/test_blocked.py", SEND_TO_BLOCKED.format(name="blocked", expected=blocked))
    write(pytester, "blocked/deeper/test_deeper.py", SEND_TO_BLOCKED.format(name="deeper", expected=blocked))
    write(pytester, "sibling/test_sibling.py", SEND_TO_BLOCKED.format(name="sibling", expected="{}"))
    write(pytester, "test_root.py", SEND_TO_BLOCKED.format(name="root", expected="{}"))
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines_random(
        [
            "*blocked/test_blocked.py::test_blocked PASSED*",
            "*blocked/deeper/test_deeper.py::test_deeper PASSED*",
            "*sibling/test_sibling.py::test_sibling PASSED*",
            "*test_root.py::test_root PASSED*",
        ]
    )


def test_reply_hook_scopes_the_session_server_per_test(pytester: pytest.Pytester) -> None:
    test = """
    import smtplib

    def test_{name}(smtpd_session):
        with smtplib.SMTP(*smtpd_session.address) as client:
            to = ["ok@example.com", "x@blocked.example"]
            refused = client.sendmail("a@example.com", to, "Subject: s\\r\\n\\r\\n")
        assert sorted(refused) == {expected}
    """
    write(pytester, "blocked/conftest.py", BLOCKING_CONFTEST)
    write(pytester, "blocked/test_blocked.py", test.format(name="blocked", expected=["x@blocked.example"]))
    write(pytester, "sibling/test_sibling.py", test.format(name="sibling", expected=[]))
    pytester.runpytest().assert_outcomes(passed=2)


def test_rule_beats_hook_beats_default(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(BLOCKING_CONFTEST)
    pytester.makepyfile(
        """
        import smtplib

        def test_order(smtpd):
            smtpd.on("RCPT", "vip@blocked.example").reply(250, "2.1.5 let through by the test")
            smtpd.on("RCPT", "ok@example.com").reply(550, "5.1.1 refused by the test")
            with smtplib.SMTP(*smtpd.address) as client:
                refused = client.sendmail(
                    "a@example.com",
                    ["vip@blocked.example", "x@blocked.example", "ok@example.com", "plain@example.com"],
                    "Subject: order\\r\\n\\r\\nbody\\r\\n",
                )
            assert refused == {
                "x@blocked.example": (550, b"5.7.1 blocked by conftest"),
                "ok@example.com": (550, b"5.1.1 refused by the test"),
            }
            msg = smtpd.assert_sent(subject="order")
            assert msg.recipients == ("vip@blocked.example", "plain@example.com")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_reply_hook_may_return_a_tuple_and_sees_the_greeting(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_reply(command, reply):
            if command.verb == "CONNECT":
                return (220, "greeted.by.hook ESMTP")
            if command.verb == "RCPT" and command.address.endswith("@greylist.example"):
                return (451, "4.7.1 Try again later")
            return None
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        def test_tuple(smtpd):
            client = smtplib.SMTP()
            try:
                code, banner = client.connect(smtpd.host, smtpd.port)
                to = ["x@greylist.example", "y@example.com"]
                refused = client.sendmail("a@example.com", to, "Subject: t\\r\\n\\r\\n")
            finally:
                client.quit()
            assert (code, banner) == (220, b"greeted.by.hook ESMTP")
            assert refused == {"x@greylist.example": (451, b"4.7.1 Try again later")}
            assert smtpd.assert_sent().recipients == ("y@example.com",)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_message_hook_refuses_a_message(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_smtpd import Reply

        def pytest_smtpd_message(message, reply):
            if message.subject == "spam":
                return Reply(554, "5.6.0 No spam please")
            return None
        """
    )
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        def test_spam_is_refused(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                with pytest.raises(smtplib.SMTPDataError) as info:
                    client.sendmail("a@example.com", ["b@example.com"], "Subject: spam\\r\\n\\r\\nbuy\\r\\n")
                client.sendmail("a@example.com", ["b@example.com"], "Subject: ham\\r\\n\\r\\nhello\\r\\n")
            assert (info.value.smtp_code, info.value.smtp_error) == (554, b"5.6.0 No spam please")
            assert [m.subject for m in smtpd.messages] == ["ham"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_server_started_and_session_ended_hooks(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        started = []
        ended = []

        def pytest_smtpd_server_started(server):
            started.append((server, server.running))

        def pytest_smtpd_session_ended(session):
            ended.append((session.id, session.ended, session.helo_name))

        @pytest.fixture
        def hook_calls():
            return started, ended
        """
    )
    pytester.makepyfile(
        """
        import smtplib
        from pytest_smtpd import Ending

        def test_send(smtpd, hook_calls):
            started, ended = hook_calls
            assert started == [(smtpd, True)]
            with smtplib.SMTP(*smtpd.address) as client:
                client.helo("client.test")

        def test_after(hook_calls):
            started, ended = hook_calls
            assert len(started) == 1
            assert ended == [(1, Ending.QUIT, "client.test")]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_session_ended_hook_sees_a_server_shutdown(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        ended = []

        def pytest_smtpd_session_ended(session):
            ended.append(session.ended)

        @pytest.fixture
        def ended_sessions():
            return ended
        """
    )
    pytester.makepyfile(
        """
        import smtplib
        from pytest_smtpd import Ending

        def test_left_connected(smtpd, ended_sessions):
            client = smtplib.SMTP(*smtpd.address)
            client.noop()
            smtpd.stop()
            client.close()
            assert ended_sessions == [Ending.SERVER_CLOSED]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("hook", ["pytest_smtpd_reply(command)", "pytest_smtpd_message(message)"])
def test_hook_error_answers_451_and_fails_the_test(pytester: pytest.Pytester, hook: str) -> None:
    name, argument = hook.rstrip(")").split("(")
    condition = "command.verb == 'RCPT'" if argument == "command" else "True"
    pytester.makeconftest(
        f"""
        def {name}({argument}):
            if {condition}:
                raise ValueError("boom")
            return None
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        def test_hook_raises(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                try:
                    client.sendmail("a@example.com", ["b@example.com"], "Subject: x\\r\\n\\r\\nx\\r\\n")
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = exc.recipients["b@example.com"]
                except smtplib.SMTPDataError as exc:
                    code, text = exc.smtp_code, exc.smtp_error
            assert code == 451
            assert text.startswith(b"4.3.0 ")
            assert smtpd.messages == []
            print("client saw", code, text.decode())
        """
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*client saw 451 4.3.0*",
            "*ValueError: boom",
            "*ServerThreadError: 1 exception(s) in the SMTP server thread (the client got 451 4.3.0)*",
        ]
    )
    result.stdout.no_fnmatch_line("*AssertionError*")


def test_session_ended_hook_error_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_session_ended(session):
            raise ValueError("boom")
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        def test_quit(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.noop()
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*ValueError: boom"])


def test_hook_error_the_test_did_not_expect_is_shown_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_reply(command):
            if command.verb == "RCPT":
                raise ValueError("boom")
            return None
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        def test_send(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.sendmail("a@example.com", ["b@example.com"], "Subject: x\\r\\n\\r\\nx\\r\\n")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines_random(
        ["*SMTPRecipientsRefused*", "*ERROR at teardown of test_send*", "*ValueError: boom"]
    )
