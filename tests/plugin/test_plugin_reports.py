"""What pytest shows: the transcript section of failed tests, and ``strict``."""

from __future__ import annotations

import base64

import pytest
from smtpd_pytester import write_ini

FAILING_TEST = """
import smtplib

def test_fails(smtpd):
    with smtplib.SMTP(*smtpd.address) as client:
        client.sendmail("a@example.com", ["b@example.com"], "Subject: hi\\r\\n\\r\\nhello\\r\\n")
    assert smtpd.messages == []
"""

# A client on a raw socket, sending message content with a bare LF in it.
BARE_LF_CLIENT = """
import socket

def send_bare_lf(server):
    with socket.create_connection(server.address, timeout=10) as sock, sock.makefile("rb") as replies:
        def command(line):
            sock.sendall(line)
            return replies.readline()

        assert replies.readline().startswith(b"220 ")
        assert command(b"HELO client.test\\r\\n").startswith(b"250 ")
        assert command(b"MAIL FROM:<a@example.com>\\r\\n").startswith(b"250 ")
        assert command(b"RCPT TO:<b@example.com>\\r\\n").startswith(b"250 ")
        assert command(b"DATA\\r\\n").startswith(b"354 ")
        assert command(b"Subject: lf\\r\\n\\r\\nline one\\nline two\\r\\n.\\r\\n").startswith(b"250 ")
        assert command(b"QUIT\\r\\n").startswith(b"221 ")
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester)


def test_failed_test_shows_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript call -*",
            "--- session 1 from 127.0.0.1:* ---",
            "S: 220 localhost ESMTP*",
            "C: ehlo *",
            "S: 250-localhost",
            "C: mail [Ff][Rr][Oo][Mm]:<a@example.com>*",  # smtplib's case differs by Python version
            "C: rcpt [Tt][Oo]:<b@example.com>",
            "C: data",
            "C: Subject: hi",
            "C: .",
            "S: 250 *",
            "C: QUIT",
            "S: 221 *",
        ]
    )


def test_report_can_be_turned_off(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_report = false")
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*Captured smtpd transcript*")
    result.stdout.no_fnmatch_line("S: 220 *")


def test_passing_test_has_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_passes(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.noop()
            print("printed by the test")
        """
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Captured stdout call*", "printed by the test"])
    result.stdout.no_fnmatch_line("*Captured smtpd transcript*")


def test_failed_test_without_smtpd_has_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_fails():\n    assert False\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*smtpd transcript*")


def test_one_section_per_server_of_the_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_fails(smtpd_factory):
            first = smtpd_factory(hostname="first.test")
            second = smtpd_factory(hostname="second.test")
            for server in (first, second):
                with smtplib.SMTP(*server.address) as client:
                    client.noop()
            print("PORTS", first.port, second.port)
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript (first.test) call -*",
            "S: 220 first.test *",
            "*- Captured smtpd transcript (second.test) call -*",
            "S: 220 second.test *",
        ]
    )


def test_factory_servers_without_a_distinct_hostname_are_labelled_by_address(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_fails(smtpd_factory):
            servers = [smtpd_factory(), smtpd_factory(hostname="mx.test"), smtpd_factory(hostname="mx.test")]
            for server in servers:
                with smtplib.SMTP(*server.address) as client:
                    client.noop()
            print("PORTS", *(server.port for server in servers))
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    ports = next(line for line in result.outlines if line.startswith("PORTS ")).split()[1:]
    result.stdout.fnmatch_lines([f"*- Captured smtpd transcript (127.0.0.1:{port}) call -*" for port in ports])


def test_the_report_lists_the_rules_that_never_applied(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_fails(smtpd):
            smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
            smtpd.on("MAIL").reply(451, "4.3.0 Try again").once()
            smtpd.on("DATA").disconnect()
            with smtplib.SMTP(*smtpd.address) as client:
                client.ehlo()
                assert client.mail("a@example.com")[0] == 451
                assert client.mail("a@example.com")[0] == 250
                assert client.rcpt("carol@example.com")[0] == 250
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript call -*",
            "S: 221 *",
            "",
            "Rules that never applied:",
            "  on('RCPT', 'bob@example.com').reply(550, '5.1.1 No such user') never matched",
            "  on('DATA').disconnect() never matched",
        ]
    )
    result.stdout.no_fnmatch_line("*on('MAIL')*never matched*")


def test_unused_rules_are_reported_without_a_connection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fails(smtpd):
            smtpd.on("RCPT", "<bob@example.com>").reply(550, "5.1.1 No such user")
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript call -*",
            "Rules that never applied:",
            "  on('RCPT', 'bob@example.com').reply(550, '5.1.1 No such user') never matched",
        ]
    )


def test_auth_secrets_are_masked_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        @pytest.mark.smtpd(users={"alice": "s3cr3t-password"}, auth_mechanisms=["PLAIN"])
        def test_fails(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.login("alice", "s3cr3t-password")
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Captured smtpd transcript*", "C: AUTH PLAIN *", "S: 235 *"])
    secret = base64.b64encode(b"\0alice\0s3cr3t-password").decode()
    assert not [line for line in result.outlines if secret in line]


def test_strict_fails_the_test_on_a_violation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        client=BARE_LF_CLIENT,
        test_strict="""
        import pytest
        from client import send_bare_lf

        @pytest.mark.smtpd(strict=True)
        def test_bare_lf(smtpd):
            send_bare_lf(smtpd)
            assert len(smtpd.messages) == 1
            print("the test body ran to its end")
        """,
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*the test body ran to its end*",
            "*AssertionError: 1 client protocol violation(s):*",
            "*session 1: bare-lf: bare LF in message content*",
        ]
    )


def test_strict_from_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_strict = true")
    pytester.makepyfile(
        client=BARE_LF_CLIENT,
        test_strict="""
        from client import send_bare_lf

        def test_bare_lf(smtpd):
            send_bare_lf(smtpd)
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bare-lf*"])


def test_without_strict_violations_are_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        client=BARE_LF_CLIENT,
        test_lenient="""
        import pytest
        from client import send_bare_lf

        def test_bare_lf(smtpd):
            send_bare_lf(smtpd)
            assert [v.kind for v in smtpd.violations] == ["bare-lf"]
            assert smtpd.assert_sent(subject="lf").data.endswith(b"line one\\nline two\\r\\n")
            with pytest.raises(AssertionError, match="1 client protocol violation.*\\n.*bare-lf"):
                smtpd.assert_no_violations()

        def test_clean(smtpd):
            import smtplib
            with smtplib.SMTP(*smtpd.address) as client:
                client.sendmail("a@example.com", ["b@example.com"], "Subject: ok\\r\\n\\r\\nok\\r\\n")
            smtpd.assert_no_violations()
        """,
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_strict_in_the_marker_can_be_turned_off(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_strict = true")
    pytester.makepyfile(
        client=BARE_LF_CLIENT,
        test_lenient="""
        import pytest
        from client import send_bare_lf

        @pytest.mark.smtpd(strict=False)
        def test_bare_lf(smtpd):
            send_bare_lf(smtpd)
            assert len(smtpd.violations) == 1
        """,
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_strict_lets_the_handshake_failure_a_bad_certificate_provokes_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        client=BARE_LF_CLIENT,
        test_strict="""
        import smtplib, ssl
        import pytest
        from client import send_bare_lf

        def refused(smtpd):
            with pytest.raises(ssl.SSLCertVerificationError):
                smtplib.SMTP_SSL(*smtpd.address, context=smtpd.client_ssl_context, timeout=10)
            smtpd.wait_until(lambda s: s.violations)

        @pytest.mark.smtpd(strict=True, implicit_tls=True, certificate="expired")
        def test_expired_is_refused(smtpd):
            refused(smtpd)

        @pytest.mark.smtpd(strict=True, implicit_tls=True, certificate="expired")
        def test_other_violations_still_fail(smtpd):
            refused(smtpd)
            with smtplib.SMTP_SSL(*smtpd.address, context=ssl._create_unverified_context()) as client:
                client.ehlo()
                client.mail("a@example.com")
                client.rcpt("b@example.com")
                client.data(b"bare\\nLF\\r\\n")
        """,
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*bare-lf*"])
    result.stdout.no_fnmatch_line("*tls-handshake*")


def test_the_report_lists_the_accepted_messages_above_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_fails(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.sendmail("a@example.com", ["b@example.com", "c@example.com"], "Subject: one\\r\\n\\r\\n1\\r\\n")
                client.sendmail("d@example.com", ["e@example.com"], "No subject\\r\\n")
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured smtpd transcript call -*",
            "Accepted messages (2):",
            "  #1 from 'a@example.com' to ['b@example.com', 'c@example.com'] subject 'one'",
            "  #2 from 'd@example.com' to ['e@example.com'] subject None",
            "",
            "--- session 1 from 127.0.0.1:* ---",
        ]
    )


def test_no_message_list_without_messages(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib

        def test_fails(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.noop()
            assert False
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- Captured smtpd transcript call -*", "--- session 1 from 127.0.0.1:* ---"])
    result.stdout.no_fnmatch_line("Accepted messages*")
