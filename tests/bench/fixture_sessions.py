"""Per-test cost of a fixture, measured in a real pytest session.

For one contender, a session directory is generated with a conftest (a timing
plugin, an empty fixture, and the contender's fixture when no plugin provides
one) and a test file whose tests alternate: an empty-fixture control, the
fixture unused (and, for pytest_smtpd, the TLS-enabled fixture unused), the
fixture plus one ``smtplib`` ``sendmail``, and an empty "settle" test. The
timing plugin records the wall time of each test's whole run protocol (setup,
call, teardown, reports); a kind's cost is its median minus the control's median.

The test after a sending test pays for what that test left behind (closed
connections, cold caches: about 0.1 ms on these machines). The settle test,
not reported, takes that place, so that every measured kind follows an
empty or an unused-fixture test, for every contender alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from contenders import CONTENDERS

__all__ = ["KINDS", "run_session", "subprocess_env"]

BENCH_DIR = Path(__file__).resolve().parent
PYCACHE = os.path.join(tempfile.gettempdir(), "pytest-smtpd-bench-pycache")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of the benchmark's child processes: the bench modules importable, and
    bytecode cached (in a private directory) as in a normal installation."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")]))
    env.update(extra)
    return env


#: Test kinds, in the order they alternate in the file.
KINDS = ("ctl", "unused", "tlsunused", "send", "settle")

_CONFTEST = """\
import json
import os
import time

import pytest

from contenders import CONTENDERS

_DURATIONS: dict[str, list[float]] = {{}}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    t0 = time.perf_counter()
    try:
        return (yield)
    finally:
        _DURATIONS.setdefault(item.name.split("_")[1], []).append(time.perf_counter() - t0)


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_OUT"], "w") as handle:
        json.dump(_DURATIONS, handle)


@pytest.fixture
def empty():
    return None
{own_fixture}
"""

_OWN_FIXTURE = """

@pytest.fixture
def {fixture}():
    contender = CONTENDERS[{name!r}]
    server = contender.start()
    yield server
    contender.stop(server)
"""

_HEADER = """\
import smtplib

import pytest

from contenders import CONTENDERS

C = CONTENDERS[{name!r}]
MESSAGE = {message!r}


def _send(address):
    with smtplib.SMTP(*address) as client:
        client.sendmail("alice@example.com", ["bob@example.com"], MESSAGE)
"""

_TESTS = {
    "ctl": "def test_ctl_{i:04d}(empty):\n    pass\n",
    "unused": "def test_unused_{i:04d}({fixture}):\n    pass\n",
    "send": "def test_send_{i:04d}({fixture}):\n    _send(C.address({fixture}))\n",
    "tlsunused": "@pytest.mark.smtpd(starttls=True)\ndef test_tlsunused_{i:04d}({fixture}):\n    pass\n",
    "settle": "def test_settle_{i:04d}(empty):\n    pass\n",
}


def _write_session(root: Path, name: str, count: int, kinds: tuple[str, ...], message: bytes) -> None:
    contender = CONTENDERS[name]
    own = "" if contender.plugin else _OWN_FIXTURE.format(fixture=contender.fixture, name=name)
    (root / "conftest.py").write_text(_CONFTEST.format(own_fixture=own))
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    parts = [_HEADER.format(name=name, message=message)]
    for i in range(count):
        for kind in kinds:
            parts.append("\n\n" + _TESTS[kind].format(i=i, fixture=contender.fixture))
    (root / "test_fixture_cost.py").write_text("".join(parts))


def run_session(name: str, count: int, kinds: tuple[str, ...], message: bytes) -> dict[str, list[float]]:
    """Run one pytest session for ``name``; return each kind's per-test wall times (seconds)."""
    contender = CONTENDERS[name]
    with tempfile.TemporaryDirectory(prefix=f"smtpd-bench-{name}-") as tmp:
        root = Path(tmp)
        _write_session(root, name, count, kinds, message)
        out = root / "durations.json"
        env = subprocess_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", BENCH_OUT=str(out))
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        if contender.plugin:
            command += ["-p", contender.plugin]
        command.append(str(root))
        proc = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise RuntimeError(f"pytest session for {name} failed (exit {proc.returncode}):\n{tail}")
        durations: dict[str, list[float]] = json.loads(out.read_text())
        return durations


if __name__ == "__main__":
    for contender_name in sys.argv[1:] or CONTENDERS:
        result = run_session(contender_name, 50, ("ctl", "unused", "send", "settle"), b"Subject: hi\r\n\r\nhello\r\n")
        print(contender_name, {k: f"{sorted(v)[len(v) // 2] * 1e3:.3f} ms" for k, v in result.items()})
        sys.stdout.flush()
