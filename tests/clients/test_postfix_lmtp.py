"""Real LMTP clients against ``lmtp=True``: Postfix delivering over ``lmtp:inet:``
from a private instance, and Postfix's ``smtp-source -L``, which counts the
replies after each message (one per recipient) and fails on a missing one.

Skipped with the reason when Postfix is absent or cannot be started (it needs root).
"""

from __future__ import annotations

import shutil
import smtplib
import subprocess
import time

import pytest
from postfix_instance import start_postfix

from pytest_smtpd import Reply, SMTPServer

SMTP_SOURCE = shutil.which("smtp-source", path="/usr/sbin:/usr/bin")


def postfix_lmtp_config(port: int) -> tuple[str, str]:
    """main.cf lines routing every domain to our LMTP server, and the lmtp service for master.cf."""
    main = (
        f"local_transport = lmtp:inet:127.0.0.1:{port}\n"
        f"default_transport = lmtp:inet:127.0.0.1:{port}\n"
        f"relay_transport = lmtp:inet:127.0.0.1:{port}\n"
        f"virtual_transport = lmtp:inet:127.0.0.1:{port}\n"
        "lmtp_lhlo_name = postfix.test\n"
    )
    return main, "lmtp      unix  - - n - - lmtp\n"


def test_postfix_delivers_over_lmtp_and_reads_a_reply_per_recipient() -> None:
    with SMTPServer(lmtp=True) as server:
        server.on("message", "bob@example.org").reply(550, "5.1.1 No such mailbox")
        with start_postfix(*postfix_lmtp_config(server.port)) as (host, port):
            with smtplib.SMTP(host, port, timeout=30) as client:
                # A null sender: the refused recipient's bounce goes nowhere.
                client.sendmail(
                    "<>",
                    ["alice@example.org", "bob@example.org", "carol@example.org"],
                    "Subject: via Postfix\r\n\r\nhello\r\n",
                )
            [message] = server.wait_for(1, timeout=30, subject="via Postfix")
        session = message.session
        assert session.greeting == "LHLO"
        assert session.helo_name == "postfix.test"
        assert message.recipients == ("alice@example.org", "carol@example.org")
        assert message.refused == {"bob@example.org": Reply(550, "5.1.1 No such mailbox")}
        assert [r.recipient for r in server.refusals] == ["bob@example.org"]


@pytest.mark.skipif(SMTP_SOURCE is None, reason="smtp-source (Debian's postfix package) is not installed")
@pytest.mark.parametrize("recipients", [1, 5])
def test_smtp_source_lmtp_gets_one_reply_per_recipient(recipients: int) -> None:
    assert SMTP_SOURCE is not None
    messages = 200
    with SMTPServer(lmtp=True) as server:
        command = [SMTP_SOURCE, "-L", "-s", "4", "-m", str(messages), "-r", str(recipients), "-N"]
        command += ["-f", "app@example.com", "-t", "user@example.org", f"{server.host}:{server.port}"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        elapsed = time.perf_counter() - started
        # smtp-source reads one reply per recipient after each message and
        # fails ("lost connection", a timeout) when one is missing or extra.
        assert done.returncode == 0, done.stderr
        assert len(server.messages) == messages
        assert {len(m.recipients) for m in server.messages} == {recipients}
        print(f"smtp-source -L: {messages / elapsed:.0f} messages/s, {messages * recipients} replies checked")
