"""pytest-xdist: a suite run with ``-n 2`` whose tests each use ``smtpd``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install -e '.[test]')")

INNER_TESTS = 6

INNER_SUITE = """
import json
import os
import smtplib

import pytest

REPORT_DIR = {report_dir!r}


@pytest.mark.parametrize("n", range({count}))
def test_send(smtpd, n):
    subject = f"message {{n}}"
    with smtplib.SMTP(*smtpd.address, timeout=10) as client:
        client.sendmail("app@example.com", [f"user{{n}}@example.com"], f"Subject: {{subject}}\\r\\n\\r\\nhi\\r\\n")
    # Each test's server got its own message and nothing else.
    msg = smtpd.assert_sent(to=f"user{{n}}@example.com", subject=subject)
    assert smtpd.messages == [msg]
    record = {{"n": n, "port": smtpd.port, "worker": os.environ.get("PYTEST_XDIST_WORKER")}}
    with open(os.path.join(REPORT_DIR, f"{{n}}.json"), "w") as f:
        json.dump(record, f)
"""


def test_two_workers_each_get_their_own_servers(pytester: pytest.Pytester) -> None:
    report_dir = pytester.mkdir("report")
    pytester.makeini(
        "[pytest]\naddopts = -p no:cacheprovider -p no:asyncio -p no:hypothesispytest\nfilterwarnings =\n    error\n"
    )
    pytester.makepyfile(test_inner=INNER_SUITE.format(report_dir=str(report_dir), count=INNER_TESTS))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=INNER_TESTS)
    records = [json.loads(path.read_text()) for path in sorted(report_dir.iterdir())]
    assert sorted(r["n"] for r in records) == list(range(INNER_TESTS))
    assert {r["worker"] for r in records} == {"gw0", "gw1"}
    # Each inner test asserted that its server got its own message and nothing
    # else. Ports are not compared: a port freed by one test may be handed to a
    # later one, which is no collision.
    assert all(r["port"] > 0 for r in records)
