"""The ``pytest_smtpd_message`` hook in LMTP: called once per recipient, with ``recipient``."""

from __future__ import annotations

import pytest
from smtpd_pytester import write_ini


def test_the_message_hook_decides_each_recipient(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makeconftest(
        """
        from pytest_smtpd import Reply

        seen = []

        def pytest_smtpd_message(message, reply, recipient):
            seen.append(recipient)
            if recipient == "bob@example.com":
                return Reply(452, "4.2.2 Mailbox full")
            return None
        """
    )
    pytester.makepyfile(
        """
        import smtplib
        import pytest
        from pytest_smtpd import Reply
        from conftest import seen

        @pytest.mark.smtpd(lmtp=True)
        def test_per_recipient(smtpd):
            with smtplib.LMTP(smtpd.host, smtpd.port) as client:
                client.sendmail("a@example.com", ["alice@example.com"], "Subject: one\\r\\n\\r\\nhi\\r\\n")
                with pytest.raises(smtplib.SMTPDataError) as info:
                    client.sendmail("a@example.com", ["bob@example.com"], "Subject: two\\r\\n\\r\\nhi\\r\\n")
            assert info.value.smtp_code == 452
            assert seen == ["alice@example.com", "bob@example.com"]
            assert [m.subject for m in smtpd.messages] == ["one"]

        def test_smtp_gets_none(smtpd):
            seen.clear()
            with smtplib.SMTP(*smtpd.address) as client:
                client.sendmail("a@example.com", ["bob@example.com"], "Subject: three\\r\\n\\r\\nhi\\r\\n")
            assert seen == [None]
            assert smtpd.messages[0].recipients == ("bob@example.com",)
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_hook_without_recipient_still_works_in_lmtp(pytester: pytest.Pytester) -> None:
    write_ini(pytester)
    pytester.makeconftest(
        """
        def pytest_smtpd_message(message, reply):
            return (554, "5.7.1 No") if message.subject == "spam" else None
        """
    )
    pytester.makepyfile(
        """
        import smtplib
        import pytest

        @pytest.mark.smtpd(lmtp=True)
        def test_refused(smtpd):
            with smtplib.LMTP(smtpd.host, smtpd.port) as client:
                with pytest.raises(smtplib.SMTPDataError):
                    client.sendmail("a@example.com", ["b@example.com"], "Subject: spam\\r\\n\\r\\nx\\r\\n")
            assert smtpd.messages == []
            assert smtpd.refusals[0].recipient == "b@example.com"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
