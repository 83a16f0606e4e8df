"""Examples for "With pytest-xdist": a fixed port per worker, for code that cannot take port 0."""

import pytest

from pytest_smtpd.plugin import SMTPServerFactory


def port_for_worker(base: int, worker_id: str) -> int:
    """``base`` for the first worker (and for a run without xdist), ``base + n`` for worker ``gw<n>``."""
    return base if worker_id == "master" else base + int(worker_id.removeprefix("gw"))


@pytest.mark.parametrize(("worker_id", "port"), [("master", 2525), ("gw0", 2525), ("gw1", 2526), ("gw7", 2532)])
def test_port_for_worker(worker_id: str, port: int) -> None:
    assert port_for_worker(2525, worker_id) == port


def test_each_worker_has_its_own_servers(smtpd_factory: SMTPServerFactory, worker_id: str) -> None:
    # port=0 (the default) needs nothing of this: every server gets a free port.
    first, second = smtpd_factory(), smtpd_factory()
    assert first.port != second.port
    assert worker_id == "master" or worker_id.startswith("gw")
