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


def _need_swaks_tls() -> str:
    swaks = _need("swaks")
    support = _run(swaks, "--support").stdout + _run(swaks, "--support").stderr
    if "TLS supported" not in support:
        pytest.skip("swaks has no TLS here (apt-get install libnet-ssleay-perl); .ci/run installs it")
    return swaks


@pytest.mark.smtpd(starttls=True, users={"alice": "s3cret"}, auth_required=True)
def test_swaks_starttls_and_auth(smtpd: SMTPServer) -> None:
    pytest.importorskip("trustme", reason="TLS needs the 'tls' extra")
    swaks = _need_swaks_tls()
    result = _run(
        swaks, "--server", smtpd.host, "--port", str(smtpd.port),
        "--tls", "--tls-verify", "--tls-ca-path", smtpd.ca_file,
        "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "s3cret",
        "--from", "swaks@example.com", "--to", "secure@example.com",
        "--header", "Subject: over TLS",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    msg = smtpd.assert_sent(to="secure@example.com", subject="over TLS")
    assert msg.session.tls
    assert msg.session.auth_user == "alice"
    assert msg.session.auth_mechanism == "PLAIN"
    assert "s3cret" not in str(smtpd.transcript)


# A message with what trips clients and servers up: a dot-leading line, a line
# of 998 characters (the most RFC 5321 allows) and a UTF-8 subject (RFC 2047).
TRICKY = (
    b"Subject: =?utf-8?b?R3LDvMOfZSBhdXMgY3VybA==?=\r\n"
    b"From: curl@example.com\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"first line\r\n"
    b".a line that starts with a dot\r\n" + b"z" * 998 + b"\r\n"
)


def test_curl_smtp(smtpd: SMTPServer, tmp_path: pytest.TempPathFactory) -> None:
    curl = _need("curl")
    mail = tmp_path / "mail.txt"  # type: ignore[operator]
    mail.write_bytes(TRICKY)
    result = _run(
        curl, "--silent", "--show-error",
        f"smtp://{smtpd.host}:{smtpd.port}",
        "--mail-from", "curl@example.com", "--mail-rcpt", "c@example.com",
        "--upload-file", str(mail),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    msg = smtpd.assert_sent(sender="curl@example.com", to="c@example.com", subject="Grüße aus curl")
    assert msg.data == TRICKY  # curl dot-stuffed the line; the server took the dot off again
    assert msg.text == "first line\n.a line that starts with a dot\n" + "z" * 998 + "\n"
    smtpd.assert_no_violations()


@pytest.mark.smtpd(starttls=True, users={"alice": "s3cret"})
def test_curl_ssl_reqd_and_login(smtpd: SMTPServer, tmp_path: pytest.TempPathFactory) -> None:
    pytest.importorskip("trustme", reason="TLS needs the 'tls' extra")
    curl = _need("curl")
    mail = tmp_path / "mail.txt"  # type: ignore[operator]
    mail.write_bytes(TRICKY)
    result = _run(
        curl, "--silent", "--show-error", "--ssl-reqd", "--cacert", smtpd.ca_file,
        "--user", "alice:s3cret",
        f"smtp://{smtpd.host}:{smtpd.port}",
        "--mail-from", "curl@example.com", "--mail-rcpt", "c@example.com",
        "--upload-file", str(mail),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    msg = smtpd.assert_sent(subject="Grüße aus curl")
    assert msg.session.tls
    assert msg.session.auth_user == "alice"
    assert msg.data == TRICKY
