"""A conftest.py with pytest-smtpd's hooks (the examples copy it into a test directory)."""

from collections.abc import Mapping

import pytest

from pytest_smtpd import Command, Message, Reply, Session


def pytest_smtpd_options(item: pytest.Item) -> Mapping[str, object] | None:
    # Tests marked @pytest.mark.slow_mail get a short idle timeout.
    if item.get_closest_marker("slow_mail"):
        return {"timeout": 5}
    return None


def pytest_smtpd_reply(session: Session, command: Command, reply: Reply) -> Reply | None:
    if command.verb == "RCPT" and (command.address or "").endswith("@blocked.example"):
        return Reply(550, "5.7.1 Blocked by policy")
    return None  # keep the normal reply


def pytest_smtpd_message(session: Session, message: Message, reply: Reply) -> tuple[int, str] | None:
    if b"viagra" in message.data.lower():
        return (554, "5.7.1 Spam")
    return None
