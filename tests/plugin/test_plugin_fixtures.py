"""The fixtures: ``smtpd``, ``smtpd_factory`` and ``smtpd_session``."""

from __future__ import annotations

import pytest
from smtpd_pytester import write_ini


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester)


def test_smtpd_is_a_started_server_that_records(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_send(smtpd):
            assert smtpd.running
            with smtplib.SMTP(smtpd.host, smtpd.port) as client:
                client.sendmail("a@example.com", ["b@example.com"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")
            msg = smtpd.assert_sent(to="b@example.com", subject="hi")
            assert msg.sender == "a@example.com"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_smtpd_is_fresh_per_test_and_stopped_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        earlier = []

        def test_first(smtpd):
            client = smtplib.SMTP(smtpd.host, smtpd.port)
            client.sendmail("a@example.com", ["b@example.com"], "Subject: one\\r\\n\\r\\nbody\\r\\n")
            assert len(smtpd.messages) == 1
            earlier.append((smtpd, client))  # left connected on purpose

        def test_second(smtpd):
            server, client = earlier[0]
            assert smtpd is not server
            assert not server.running
            assert smtpd.running
            assert smtpd.messages == []
            assert smtpd.sessions == []
            try:
                code, _ = client.noop()
            except smtplib.SMTPServerDisconnected:
                code = None
            finally:
                client.close()
            assert code in (421, None)
            assert smtpd.sessions == []
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_the_server_thread_starts_when_the_test_reads_the_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib
        import threading

        def server_threads():
            return [t for t in threading.enumerate() if t.name.startswith("pytest-smtpd ")]

        def test_unused(smtpd):
            assert smtpd.running
            assert server_threads() == []
            smtpd.on("RCPT").reply(550, "5.1.1 No such user")  # scripting needs no thread
            assert smtpd.messages == [] and smtpd.sessions == []
            assert server_threads() == []

        def test_used(smtpd):
            with smtplib.SMTP(smtpd.host, smtpd.port) as client:
                assert client.noop()[0] == 250
            assert [t.name for t in server_threads()] == [f"pytest-smtpd 127.0.0.1:{smtpd.port}"]

        def test_factory(smtpd_factory):
            server = smtpd_factory()
            assert server_threads() == []
            server.address
            assert len(server_threads()) == 1

        def test_none_left():
            assert server_threads() == []
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


def test_a_server_started_hook_that_publishes_the_port_gets_a_serving_server(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_smtpd_server_started(server):
            os.environ["APP_SMTP_PORT"] = str(server.port)
        """
    )
    pytester.makepyfile(
        """
        import os
        import smtplib

        def send_like_an_app():
            # The application reads its configuration, never the fixture.
            with smtplib.SMTP("127.0.0.1", int(os.environ["APP_SMTP_PORT"]), timeout=10) as client:
                client.sendmail("app@example.com", ["ops@example.com"], "Subject: report\\r\\n\\r\\nok\\r\\n")

        def test_app(smtpd):
            send_like_an_app()
            smtpd.assert_sent(to="ops@example.com", subject="report")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_fixed_port_is_served_before_anyone_reads_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib
        import socket

        import pytest

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            PORT = probe.getsockname()[1]

        @pytest.mark.smtpd(port=PORT)
        def test_app(smtpd):
            with smtplib.SMTP("127.0.0.1", PORT, timeout=10) as client:
                client.sendmail("app@example.com", ["ops@example.com"], "Subject: fixed\\r\\n\\r\\nok\\r\\n")
            smtpd.assert_sent(subject="fixed")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_finished_test_lets_its_servers_and_records_go(pytester: pytest.Pytester) -> None:
    # A long session must not keep every test's server, and every message, alive to the end.
    pytester.makepyfile(
        """
        import gc
        import smtplib
        import weakref

        SERVERS = []

        def test_sends(smtpd):
            SERVERS.append(weakref.ref(smtpd))
            with smtplib.SMTP(*smtpd.address, timeout=10) as client:
                client.sendmail("a@example.com", ["b@example.com"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")
            smtpd.assert_sent(subject="hi")

        def test_two_servers(smtpd_factory):
            first, second = smtpd_factory(), smtpd_factory()
            first.port
            SERVERS.extend([weakref.ref(first), weakref.ref(second)])

        def test_later():
            gc.collect()
            assert len(SERVERS) == 3
            assert [ref() for ref in SERVERS] == [None, None, None]
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=3)


def test_smtpd_factory_makes_servers_with_their_own_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        made = []

        def greet(server):
            client = smtplib.SMTP()
            try:
                code, banner = client.connect(server.host, server.port)
                client.ehlo()
                return code, banner.decode(), dict(client.esmtp_features)
            finally:
                client.quit()

        def test_two_servers(smtpd_factory):
            primary = smtpd_factory(hostname="primary.test")
            fallback = smtpd_factory(hostname="fallback.test", size_limit=1000)
            made.extend([primary, fallback])
            assert primary.running and fallback.running
            assert primary.port != fallback.port
            code, banner, features = greet(primary)
            assert code == 220 and banner.startswith("primary.test")
            assert features["size"] == str(32 * 1024 * 1024)
            code, banner, features = greet(fallback)
            assert code == 220 and banner.startswith("fallback.test")
            assert features["size"] == "1000"
            assert len(primary.sessions) == 1 and len(fallback.sessions) == 1

        def test_all_were_stopped():
            assert len(made) == 2
            assert not any(server.running for server in made)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_smtpd_and_smtpd_factory_in_one_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_both(smtpd, smtpd_factory):
            other = smtpd_factory()
            assert other is not smtpd
            assert other.port != smtpd.port
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_smtpd_session_is_shared_and_cleared_before_each_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        seen = []

        @pytest.fixture
        def remember(smtpd_session):
            seen.append(smtpd_session)
            return smtpd_session

        def pytest_unconfigure():
            print(f"session servers: {len(set(map(id, seen)))}; running after the run: {seen[0].running}")
        """
    )
    pytester.makepyfile(
        """
        import smtplib

        addresses = []

        def test_a(remember):
            smtpd_session = remember
            addresses.append(smtpd_session.address)
            smtpd_session.on("RCPT", "nobody@example.com").reply(550, "5.1.1 No such user")
            with smtplib.SMTP(*smtpd_session.address) as client:
                client.sendmail("a@example.com", ["b@example.com"], "Subject: a\\r\\n\\r\\nbody\\r\\n")
            assert len(smtpd_session.messages) == 1
            assert len(smtpd_session.rules) == 1

        def test_no_server_here():
            pass

        def test_b(remember):
            smtpd_session = remember
            assert smtpd_session.running
            assert smtpd_session.address == addresses[0]
            assert smtpd_session.messages == []
            assert smtpd_session.sessions == []
            assert smtpd_session.rules == []
            assert str(smtpd_session.transcript) == ""
            with smtplib.SMTP(*smtpd_session.address) as client:
                client.sendmail("a@example.com", ["nobody@example.com"], "Subject: b\\r\\n\\r\\nbody\\r\\n")
            assert smtpd_session.assert_sent(subject="b").recipients == ("nobody@example.com",)
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["session servers: 1; running after the run: False"])


def test_smtpd_session_takes_ini_options(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_hostname = session.test")
    pytester.makepyfile(
        """
        def test_hostname(smtpd_session):
            assert smtpd_session.options.hostname == "session.test"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


RAISING_NOOP_CONFTEST = """
import pytest

def pytest_smtpd_reply(command):
    if command.verb == "NOOP":
        raise ValueError("boom")
    return None
"""


def test_smtpd_session_error_in_a_fixture_teardown_fails_that_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RAISING_NOOP_CONFTEST)
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        @pytest.fixture
        def noop_at_teardown(smtpd_session):
            yield
            with smtplib.SMTP(*smtpd_session.address) as client:
                assert client.noop()[0] == 451

        def test_a(noop_at_teardown):
            pass

        def test_b(smtpd_session):
            assert smtpd_session.errors == []
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*::test_a PASSED*", "*::test_a ERROR*", "*::test_b PASSED*"])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a*", "*ValueError: boom"])


def test_smtpd_session_error_between_tests_is_not_swallowed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RAISING_NOOP_CONFTEST)
    pytester.makepyfile(
        """
        import socket

        left_open = []

        def test_a(smtpd_session):
            sock = socket.create_connection(smtpd_session.address, timeout=10)
            left_open.append((sock, sock.makefile("rb")))
            assert left_open[0][1].readline().startswith(b"220 ")

        def test_b():
            sock, replies = left_open[0]
            sock.sendall(b"NOOP\\r\\n")
            assert replies.readline().startswith(b"451 ")
            replies.close()
            sock.close()

        def test_c(smtpd_session):
            pass

        def test_d(smtpd_session):
            assert smtpd_session.errors == []
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*::test_c ERROR*", "*::test_d PASSED*"])
    result.stdout.fnmatch_lines(["*ERROR at setup of test_c*", "*ValueError: boom", "*ServerThreadError*"])


def test_smtpd_session_error_after_the_last_test_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RAISING_NOOP_CONFTEST)
    pytester.makepyfile(
        """
        import socket

        left_open = []

        def test_a(smtpd_session):
            sock = socket.create_connection(smtpd_session.address, timeout=10)
            left_open.append((sock, sock.makefile("rb")))
            assert left_open[0][1].readline().startswith(b"220 ")

        def test_b():
            sock, replies = left_open[0]
            sock.sendall(b"NOOP\\r\\n")
            assert replies.readline().startswith(b"451 ")
            replies.close()
            sock.close()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ValueError: boom"])


def test_smtpd_session_error_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RAISING_NOOP_CONFTEST)
    pytester.makepyfile(
        """
        import smtplib

        def test_a(smtpd_session):
            with smtplib.SMTP(*smtpd_session.address) as client:
                assert client.noop()[0] == 451

        def test_b(smtpd_session):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    # The short summary repeats the message in full when CI is set: count the tracebacks only.
    traceback_lines = [line for line in result.outlines if not line.startswith("FAILED ")]
    assert sum("ServerThreadError: 1 exception(s)" in line for line in traceback_lines) == 1
