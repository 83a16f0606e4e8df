"""Examples for "Suite-wide: hooks in conftest.py": conftest_hooks.py in a test directory."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent
# Plugins the inner pytest runs have no use for.
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest")


def test_suite_wide_rules(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((HERE / "conftest_hooks.py").read_text())
    pytester.makepyfile(
        """
        import smtplib

        import pytest

        def test_blocked_domain(smtpd):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
                with smtplib.SMTP(*smtpd.address) as client:
                    client.sendmail("a@example.com", ["eve@blocked.example"], "Subject: hi\\r\\n\\r\\nhi\\r\\n")
            assert info.value.recipients["eve@blocked.example"][0] == 550
            assert smtpd.messages == []

        def test_spam_is_refused(smtpd):
            with pytest.raises(smtplib.SMTPDataError) as info:
                with smtplib.SMTP(*smtpd.address) as client:
                    client.sendmail("a@example.com", ["b@example.com"], "Subject: offer\\r\\n\\r\\ncheap VIAGRA\\r\\n")
            assert info.value.smtp_code == 554

        def test_the_test_s_own_rule_comes_first(smtpd):
            smtpd.on("RCPT").reply(250, "2.1.5 OK")
            with smtplib.SMTP(*smtpd.address) as client:
                client.sendmail("a@example.com", ["eve@blocked.example"], "Subject: hi\\r\\n\\r\\nhi\\r\\n")
            smtpd.assert_sent(to="eve@blocked.example")
        """
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=3)
