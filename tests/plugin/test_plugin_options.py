"""Server options from the marker, the ini file, the ``pytest_smtpd_options`` hook
and ``smtpd_factory`` keyword arguments, their precedence and their errors."""

from __future__ import annotations

import pytest
from smtpd_pytester import write_ini

# A helper the inner test files share: the greeting and EHLO keywords of a server.
GREET = """
import smtplib

def greet(server):
    client = smtplib.SMTP()
    try:
        code, banner = client.connect(server.host, server.port)
        assert code == 220
        client.ehlo()
        return banner.decode(), dict(client.esmtp_features)
    finally:
        client.quit()
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makepyfile(greeting=GREET)


def test_marker_sets_hostname_and_size_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib
        import pytest
        from greeting import greet

        @pytest.mark.smtpd(hostname="mx.test", size_limit=100)
        def test_marked(smtpd):
            banner, features = greet(smtpd)
            assert banner.startswith("mx.test ")
            assert features["size"] == "100"
            with smtplib.SMTP(*smtpd.address) as client:
                with pytest.raises(smtplib.SMTPSenderRefused) as info:
                    client.sendmail("a@example.com", ["b@example.com"], "Subject: big\\r\\n\\r\\n" + "x" * 200)
            assert info.value.smtp_code == 552
            assert smtpd.messages == []

        def test_unmarked(smtpd):
            banner, features = greet(smtpd)
            assert banner.startswith("localhost ")
            assert features["size"] == str(32 * 1024 * 1024)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_marker_on_class_and_module_closest_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.smtpd(hostname="module.test", max_recipients=5)

        @pytest.mark.smtpd(hostname="class.test")
        class TestMarked:
            def test_class(self, smtpd):
                assert smtpd.options.hostname == "class.test"
                assert smtpd.options.max_recipients == 5

            @pytest.mark.smtpd(hostname="function.test")
            def test_function(self, smtpd):
                assert smtpd.options.hostname == "function.test"
                assert smtpd.options.max_recipients == 5
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_ini_options(pytester: pytest.Pytester) -> None:
    write_ini(
        pytester,
        "smtpd_hostname = ini.test",
        "smtpd_size_limit = 5000",
        "smtpd_max_recipients = 2",
        "smtpd_timeout = 12.5",
        "smtpd_users = alice:secret bob:hunter2",
        "smtpd_strict = true",
    )
    pytester.makepyfile(
        """
        import smtplib
        import pytest
        from greeting import greet

        def test_values(smtpd):
            options = smtpd.options
            assert options.hostname == "ini.test"
            assert options.size_limit == 5000
            assert options.max_recipients == 2
            assert options.timeout == 12.5
            assert options.users == {"alice": "secret", "bob": "hunter2"}
            assert options.strict is True

        def test_greeting_and_size(smtpd):
            banner, features = greet(smtpd)
            assert banner.startswith("ini.test ")
            assert features["size"] == "5000"

        def test_max_recipients(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                to = ["r1@example.com", "r2@example.com", "r3@example.com"]
                refused = client.sendmail("a@example.com", to, "Subject: x\\r\\n\\r\\nx\\r\\n")
            assert list(refused) == ["r3@example.com"]
            assert refused["r3@example.com"][0] == 452
            assert smtpd.assert_sent().recipients == ("r1@example.com", "r2@example.com")
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_ini_timeout_closes_an_idle_client(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_timeout = 0.2")
    pytester.makepyfile(
        """
        import smtplib

        def test_timeout(smtpd):
            client = smtplib.SMTP(*smtpd.address, timeout=10)
            try:
                code, text = client.getreply()
            finally:
                client.close()
            assert code == 421
            assert smtpd.sessions[0].ended is not None
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_ini_users_turn_auth_on(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_users = alice:secret")
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        def test_login(smtpd):
            with smtplib.SMTP(*smtpd.address) as client:
                client.ehlo()
                assert "PLAIN" in client.esmtp_features["auth"].split()
                client.login("alice", "secret")
            with smtplib.SMTP(*smtpd.address) as client:
                with pytest.raises(smtplib.SMTPAuthenticationError):
                    client.login("alice", "wrong")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_options_hook_in_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_options(item):
            if item.get_closest_marker("quiet") is None:
                return {"hostname": "hook.test", "max_recipients": 3}
            return None
        """
    )
    write_ini(pytester, "markers = quiet: no hooked options")
    pytester.makepyfile(
        """
        import pytest
        from greeting import greet

        def test_hooked(smtpd):
            banner, _ = greet(smtpd)
            assert banner.startswith("hook.test ")
            assert smtpd.options.max_recipients == 3

        @pytest.mark.quiet
        def test_hook_returned_none(smtpd):
            assert smtpd.options.hostname == "localhost"
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_options_hook_closest_conftest_wins(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_options(item):
            return {"hostname": "root.test", "max_recipients": 3}
        """
    )
    sub = pytester.mkpydir("sub")
    sub.joinpath("conftest.py").write_text("def pytest_smtpd_options(item):\n    return {'hostname': 'sub.test'}\n")
    sub.joinpath("test_sub.py").write_text(
        "def test_sub(smtpd):\n"
        "    assert smtpd.options.hostname == 'sub.test'\n"
        "    assert smtpd.options.max_recipients == 3\n"
    )
    pytester.makepyfile(test_root="def test_root(smtpd):\n    assert smtpd.options.hostname == 'root.test'\n")
    pytester.runpytest().assert_outcomes(passed=2)


def test_precedence_factory_marker_hook_ini_default(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_hostname = ini.test")
    pytester.makeconftest(
        """
        def pytest_smtpd_options(item):
            if "hook" in item.name:
                return {"hostname": "hook.test"}
            return None
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from greeting import greet

        def hostname(server):
            banner, _ = greet(server)
            return banner.split()[0]

        def test_ini_beats_default(smtpd):
            assert hostname(smtpd) == "ini.test"

        def test_hook_beats_ini(smtpd):
            assert hostname(smtpd) == "hook.test"

        @pytest.mark.smtpd(hostname="marker.test")
        def test_marker_beats_hook(smtpd):
            assert hostname(smtpd) == "marker.test"

        @pytest.mark.smtpd(hostname="marker.test")
        def test_factory_beats_marker_and_hook(smtpd_factory):
            assert hostname(smtpd_factory(hostname="factory.test")) == "factory.test"
            assert hostname(smtpd_factory()) == "marker.test"
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_default_without_any_layer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from greeting import greet

        def test_default(smtpd):
            banner, _ = greet(smtpd)
            assert banner.split()[0] == "localhost"
            assert smtpd.host == "127.0.0.1"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.smtpd(**options):*(host, port, hostname, *strict, check_content, keep)"])


def test_unknown_option_in_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtpd(hostnme="mx.test")
        def test_typo(smtpd):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*unknown smtpd option 'hostnme' (did you mean 'hostname'?) in @pytest.mark.smtpd;"
            " valid options: host, port, hostname, *, strict, check_content, keep"
        ]
    )


def test_positional_marker_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtpd("mx.test")
        def test_positional(smtpd):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.smtpd takes keyword options only*valid options: host, port, *"])


def test_unknown_option_in_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_typo(smtpd_factory):
            smtpd_factory(sizelimit=10)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*unknown smtpd option 'sizelimit' (did you mean 'size_limit'?) in smtpd_factory(); valid options: host, *"]
    )


def test_unknown_option_from_hook(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_smtpd_options(item):
            return {"max_rcpt": 3}
        """
    )
    pytester.makepyfile("def test_hooked(smtpd):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*unknown smtpd option 'max_rcpt' (did you mean 'max_recipients'?) in pytest_smtpd_options hook; valid*"]
    )


@pytest.mark.parametrize("warnings_are_errors", [True, False])
def test_unknown_ini_option_is_a_usage_error(pytester: pytest.Pytester, warnings_are_errors: bool) -> None:
    ini = "[pytest]\naddopts = -p no:asyncio -p no:xdist -p no:cacheprovider\nsmtpd_max_recipient = 5\n"
    if warnings_are_errors:
        write_ini(pytester, "smtpd_max_recipient = 5")
    else:
        pytester.makeini(ini)
    pytester.makepyfile("def test_runs_with_defaults(smtpd):\n    assert smtpd.options.max_recipients == 1000\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: unknown pytest-smtpd ini option smtpd_max_recipient (did you mean 'smtpd_max_recipients'?);"
            " valid: smtpd_host, smtpd_port, *, smtpd_report, smtpd_save_dir"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_smtpd_report_is_a_known_ini_option(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_report = false", "smtpd_hostname = mx.test")
    pytester.makepyfile("def test_ini(smtpd):\n    assert smtpd.options.hostname == 'mx.test'\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_bad_value_in_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtpd(port="x")
        def test_bad_port(smtpd):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*smtpd option port must be a non-negative int, not 'x'*"])


def test_markers_repeated_over_tests_keep_their_own_options(pytester: pytest.Pytester) -> None:
    # Options built for one marker are reused by the next test with the same
    # marker; equal-but-different values (1, 1.0, True) must not share them.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smtpd(timeout=1)
        def test_int(smtpd):
            assert smtpd.options.timeout == 1.0

        @pytest.mark.smtpd(timeout=1)
        def test_int_again(smtpd):
            assert smtpd.options.timeout == 1.0

        @pytest.mark.smtpd(timeout=True)
        def test_bool(smtpd):
            pass

        @pytest.mark.smtpd(extensions=["SIZE"])
        def test_unhashable(smtpd):
            assert smtpd.options.extensions == ("SIZE",)

        @pytest.mark.smtpd(extensions=["SIZE", "DSN"])
        def test_unhashable_other(smtpd):
            assert smtpd.options.extensions == ("SIZE", "DSN")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at setup of test_bool*", "*smtpd option timeout must be a positive number of seconds, not True*"]
    )


def test_bad_value_in_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "smtpd_port = x")
    pytester.makepyfile("def test_bad_port(smtpd):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ini option smtpd_port must be an integer, not 'x'*"])


def test_bad_value_in_factory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_smtpd import ConfigurationError

        def test_bad_timeout(smtpd_factory):
            with pytest.raises(ConfigurationError, match="timeout must be a positive number of seconds, not -1"):
                smtpd_factory(timeout=-1)
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
