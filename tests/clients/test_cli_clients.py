"""Command-line clients: swaks and curl, skipped with a reason when absent."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from pytest_smtpd import SMTPServer


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {tool}); .ci/run installs it")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_swaks_plain(smtpd: SMTPServer) -> None:
    swaks = _need("swaks")
    body = "first line\n.dot line\n" + "y" * 998
    result = _run(
        swaks,
        "--server", smtpd.host, "--port", str(smtpd.port),
        "--from", "swaks@example.com", "--to", "one@example.com,two@example.com",
        "--header", "Subject: from swaks", "--body", body,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    msg = smtpd.assert_sent(sender="swaks@example.com", subject="from swaks")
    assert msg.recipients == ("one@example.com", "two@example.com")
    assert b"\r\n.dot line\r\n" in msg.data
    assert b"y" * 998 + b"\r\n" in msg.data


def test_swaks_pipelining(smtpd: SMTPServer) -> None:
    swaks = _need("swaks")
    result = _run(
        swaks, "--pipeline",
        "--server", smtpd.host, "--port", str(smtpd.port),
        "--from", "swaks@example.com", "--to", "p@example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    smtpd.assert_sent(to="p@example.com")
    # swaks sent MAIL, RCPT and DATA in one write.
    assert "<** " not in result.stdout


def test_swaks_reports_rejected_recipient(smtpd: SMTPServer) -> None:
    swaks = _need("swaks")
    smtpd.on("RCPT", "gone@example.com").reply(550, "5.1.1 No such user")
    result = _run(
        swaks, "--server", smtpd.host, "--port", str(smtpd.port),
        "--from", "swaks@example.com", "--to", "gone@example.com",
    )  # fmt: skip
    assert result.returncode != 0
    assert "550 5.1.1 No such user" in result.stdout
    assert smtpd.messages == []


def test_curl_smtp(smtpd: SMTPServer, tmp_path: pytest.TempPathFactory) -> None:
    curl = _need("curl")
    mail = tmp_path / "mail.txt"  # type: ignore[operator]
    mail.write_bytes(b"Subject: from curl\r\nFrom: curl@example.com\r\n\r\nhello from curl\r\n")
    result = _run(
        curl, "--silent", "--show-error",
        f"smtp://{smtpd.host}:{smtpd.port}",
        "--mail-from", "curl@example.com", "--mail-rcpt", "c@example.com",
        "--upload-file", str(mail),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    msg = smtpd.assert_sent(sender="curl@example.com", to="c@example.com", subject="from curl")
    assert msg.text == "hello from curl\n"


def test_curl_reports_rejected_recipient(smtpd: SMTPServer, tmp_path: pytest.TempPathFactory) -> None:
    curl = _need("curl")
    smtpd.on("RCPT").reply(550, "5.1.1 No such user")
    mail = tmp_path / "mail.txt"  # type: ignore[operator]
    mail.write_bytes(b"Subject: x\r\n\r\nx\r\n")
    result = _run(
        curl, "--silent", "--show-error",
        f"smtp://{smtpd.host}:{smtpd.port}",
        "--mail-from", "curl@example.com", "--mail-rcpt", "c@example.com",
        "--upload-file", str(mail),
    )  # fmt: skip
    assert result.returncode == 55, result.stderr  # CURLE_SEND_ERROR: "RCPT failed: 550"
    assert "550" in result.stderr
    assert smtpd.messages == []
