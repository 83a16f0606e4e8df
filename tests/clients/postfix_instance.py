"""A private Postfix instance on loopback, for comparing replies with a real MTA.

It has a configuration directory of its own (nothing under /etc/postfix is
read or changed), listens on 127.0.0.1 only, takes mail for the test domains
and discards it. Starting it needs root and Debian's ``postfix`` package;
:func:`start_postfix` skips the test with the reason when either is missing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

#: Domains both servers take mail for.
DOMAINS = ("example.com", "example.org", "example.net")
#: The message size limit of both servers.
SIZE_LIMIT = 100_000

_SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.test
mydestination = {domains}, localhost
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
default_transport = discard:
relay_transport = discard:
virtual_transport = discard:
smtpd_forbid_bare_newline = yes
smtpd_banner = $myhostname ESMTP
message_size_limit = {size_limit}
smtpd_error_sleep_time = 0
# No DNS on a machine that may have no resolver: the client is always 127.0.0.1.
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
biff = no
"""

# Only the services an SMTP server that discards mail needs; no pickup, no
# local delivery, no outgoing smtp, nothing listening but the one port.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
proxymap  unix  - - n - - proxymap
discard   unix  - - n - - discard
error     unix  - - n - - error
retry     unix  - - n - - error
anvil     unix  - - n - 1 anvil
postlog   unix-dgram n - n - 1 postlogd
"""


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postfix(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``postfix -c DIR ARGS``, in a process group of its own: when it does not
    finish in time, everything it started is killed with it (a ``master -t``
    left behind makes every later ``postfix start`` hang)."""
    command = shutil.which("postfix", path=_SBIN)
    assert command is not None
    argv = [command, "-c", str(root / "conf"), *args]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@contextmanager
def _one_start_at_a_time() -> Iterator[None]:
    """Private instances started at the same moment by two test processes (two
    suites, xdist workers) can hang each other's ``postfix start``: take turns."""
    with open(Path(tempfile.gettempdir()) / "pytest-smtpd-postfix.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def start_postfix(main_cf: str = "", master_cf: str = "") -> Iterator[tuple[str, int]]:
    """Start a private Postfix; yields its (host, port); stops it and removes its files at exit.

    ``main_cf`` and ``master_cf`` are appended to the configuration (in main.cf
    a later setting wins, so they can route mail elsewhere than ``discard:``).
    """
    if shutil.which("postfix", path=_SBIN) is None:
        pytest.skip("postfix is not installed (apt-get install postfix); .ci/run installs it")
    if os.geteuid() != 0:
        pytest.skip("a private Postfix instance needs root to start")
    # Postfix's daemons run as the postfix user: every parent must be searchable.
    root = Path(tempfile.mkdtemp(prefix="pytest-smtpd-postfix-"))
    root.chmod(0o755)
    try:
        for name in ("conf", "queue", "data"):
            (root / name).mkdir()
        shutil.chown(root / "data", user="postfix")
        port = _spare_port()
        settings = {"root": root, "domains": ", ".join(DOMAINS), "size_limit": SIZE_LIMIT, "port": port}
        (root / "conf" / "main.cf").write_text(MAIN_CF.format(**settings) + main_cf)
        (root / "conf" / "master.cf").write_text(MASTER_CF.format(**settings) + master_cf)
        # "start" returns once the master has bound its socket (postfix-script runs master -w).
        try:
            with _one_start_at_a_time():
                started = _postfix(root, "start")
            if started.returncode != 0:
                log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
                pytest.skip(f"postfix did not start: {started.stderr.strip()} {log[-500:]}")
            if not _greets(port):
                log = (root / "maillog").read_text() if (root / "maillog").exists() else ""
                pytest.skip(f"the private postfix started but did not greet within 30 s: {log[-500:]}")
            yield "127.0.0.1", port
        finally:
            _stop(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _greets(port: int) -> bool:
    """True once the instance's smtpd answers a connection with its 220 greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as probe:
            greeting = b""
            while b"\n" not in greeting:
                chunk = probe.recv(512)
                if not chunk:
                    return False
                greeting += chunk
            probe.sendall(b"QUIT\r\n")
            return greeting.startswith(b"220")
    except OSError:
        return False


def _stop(root: Path) -> None:
    """Stop the instance, also one that half started or does not answer: its
    master is killed when ``postfix stop`` leaves it running."""
    try:
        _postfix(root, "stop")
    except subprocess.TimeoutExpired:
        pass
    try:
        pid = int((root / "queue" / "pid" / "master.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        still = os.readlink(f"/proc/{pid}/exe").endswith("/master")
    except OSError:
        return  # stopped
    if still:  # (and not another process that got its pid since)
        os.kill(pid, signal.SIGKILL)
