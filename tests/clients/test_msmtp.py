"""The msmtp command-line client, skipped with a reason when absent."""

from __future__ import annotations

import base64
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_smtpd import SMTPServer

SUBJECT = "Grüße from msmtp ✉"
ENCODED_SUBJECT = "=?utf-8?b?" + base64.b64encode(SUBJECT.encode()).decode() + "?="


def _need_msmtp() -> str:
    path = shutil.which("msmtp")
    if path is None:
        pytest.skip("msmtp is not installed (apt-get install msmtp); .ci/run installs it")
    return path


def _msmtp_config(tmp_path: Path, smtpd: SMTPServer, *settings: str) -> Path:
    """An msmtp configuration with one account; msmtp wants the file private (0600)."""
    config = tmp_path / "msmtprc"
    lines = [
        "account default",
        f"host {smtpd.host}",
        f"port {smtpd.port}",
        "from msmtp@example.com",
        "domain client.example",
        "auth off",
        *(settings or ("tls off",)),
    ]
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o600)
    return config


def _send(config: Path, message: str, *recipients: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_need_msmtp(), "-C", str(config), *recipients],
        input=message,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_msmtp_plain(smtpd: SMTPServer, tmp_path: Path) -> None:
    _need_msmtp()
    message = (
        f"From: Sender <msmtp@example.com>\n"
        f"To: one@example.com\n"
        f"Bcc: hidden@example.com\n"
        f"Subject: {ENCODED_SUBJECT}\n"
        f"\n"
        f"first line\n"
        f".dot line\n"
        f"{'y' * 998}\n"
        f"last line\n"
    )
    result = _send(_msmtp_config(tmp_path, smtpd), message, "one@example.com", "hidden@example.com")
    assert result.returncode == 0, result.stderr

    msg = smtpd.assert_sent(sender="msmtp@example.com", subject=SUBJECT)
    assert msg.recipients == ("one@example.com", "hidden@example.com")
    assert msg["From"] == "Sender <msmtp@example.com>"
    assert msg["To"] == "one@example.com"
    assert msg["Bcc"] is None  # msmtp removes Bcc headers by default
    assert f"\r\nSubject: {ENCODED_SUBJECT}\r\n".encode() in msg.data
    # msmtp turned LF into CRLF and stuffed the dot; the server unstuffed it.
    assert b"\r\n.dot line\r\n" in msg.data
    assert b"\r\n" + b"y" * 998 + b"\r\n" in msg.data
    assert msg.text == "first line\n.dot line\n" + "y" * 998 + "\nlast line\n"
    assert smtpd.violations == []
    session = smtpd.sessions[0]
    assert (session.greeting, session.helo_name) == ("EHLO", "client.example")
    assert not session.tls


@pytest.mark.skipif(importlib.util.find_spec("trustme") is None, reason="TLS tests need the 'tls' extra")
@pytest.mark.smtpd(starttls=True)
def test_msmtp_starttls(smtpd: SMTPServer, tmp_path: Path) -> None:
    _need_msmtp()
    config = _msmtp_config(tmp_path, smtpd, "tls on", "tls_starttls on", f"tls_trust_file {smtpd.ca_file}")
    result = _send(config, "Subject: over tls\n\nsecret\n", "tls@example.com")
    assert result.returncode == 0, result.stderr

    msg = smtpd.assert_sent(to="tls@example.com", subject="over tls")
    assert msg.text == "secret\n"
    assert msg.session.tls
    assert "C: STARTTLS" in smtpd.transcript


def test_msmtp_reports_rejected_recipient(smtpd: SMTPServer, tmp_path: Path) -> None:
    _need_msmtp()
    smtpd.on("RCPT", "gone@example.com").reply(550, "5.1.1 No such user")
    result = _send(_msmtp_config(tmp_path, smtpd), "Subject: x\n\nx\n", "gone@example.com")
    assert result.returncode == 65, result.stderr  # EX_DATAERR (sysexits.h)
    assert "recipient address gone@example.com not accepted by the server" in result.stderr
    assert "550 5.1.1 No such user" in result.stderr
    smtpd.assert_not_sent()
