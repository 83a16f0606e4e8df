"""Keeping the mail of failed tests: the save dir, as CI sees it."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent
INNER_ARGS = ("-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:hypothesispytest", "-p", "no:randomly")

FAILING_TESTS = """
import smtplib
import pytest

@pytest.mark.parametrize("lang", ["en", "de"])
def test_welcome(smtpd, lang):
    with smtplib.SMTP(*smtpd.address) as client:
        client.sendmail("app@example.com", ["alice@example.com"], f"Subject: Welcome ({lang})\\r\\n\\r\\nHi\\r\\n")
    assert lang == "en"
"""


def test_the_save_dir_after_a_run(pytester: pytest.Pytester) -> None:
    pytester.makeini((HERE / "smtpd-save-dir.ini").read_text())
    pytester.makepyfile(test_signup=FAILING_TESTS)
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=1, failed=1)

    saved = sorted(p.relative_to(pytester.path).as_posix() for p in pytester.path.glob("smtpd-mail/*/*"))
    assert saved == [
        "smtpd-mail/test_signup.py__test_welcome[de]/1.eml",
        "smtpd-mail/test_signup.py__test_welcome[de]/transcript.txt",
    ]  # the passing test left nothing
    eml = pytester.path / "smtpd-mail" / "test_signup.py__test_welcome[de]" / "1.eml"
    assert eml.read_bytes() == b"Subject: Welcome (de)\r\n\r\nHi\r\n"  # as received: open it in a mail client
    result.stdout.fnmatch_lines(
        ["Saved 1 message(s) and the transcript in */smtpd-mail/test_signup.py__test_welcome[[]de]/"]
    )
