"""Hook specifications of pytest-smtpd; implement them in a ``conftest.py``.

They are called through the test item's ``ihook``, so a ``conftest.py``
applies to the tests in its directory and below only. Reply hooks run in the
server thread; an exception there answers the client ``451 4.3.0`` and fails
the test. pluggy passes each implementation only the arguments it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .protocol import Command, Reply
    from .records import Message, Session
    from .server import SMTPServer


@pytest.hookspec(firstresult=True)
def pytest_smtpd_reply(session: Session, command: Command, reply: Reply) -> Reply | tuple[int, str] | None:
    """Decide the reply to a command (or, with ``command.verb == "CONNECT"``, the greeting).

    Return a :class:`~pytest_smtpd.Reply` or a ``(code, text)`` tuple to answer
    instead of ``reply``, or None to keep it. The test's own ``smtpd.on(...)``
    rules come first; a reply returned here decides the effect as a rule's does.
    """


@pytest.hookspec(firstresult=True)
def pytest_smtpd_message(
    session: Session, message: Message, reply: Reply, recipient: str | None
) -> Reply | tuple[int, str] | None:
    """Decide the final reply to a message's content (after ``CRLF.CRLF`` or ``BDAT LAST``).

    A 2xx records the message; anything else refuses it. None keeps ``reply``.
    In LMTP (option ``lmtp``) the hook is called once per accepted recipient, in
    RCPT order, with that ``recipient``, and decides that recipient's reply; in
    SMTP ``recipient`` is None and the reply is the message's.
    """


def pytest_smtpd_options(item: pytest.Item) -> Mapping[str, Any] | None:
    """Options for the servers made for ``item`` (between ini options and the marker).

    Every implementation is called; where two set the same option, the one
    closest to the test wins.
    """


def pytest_smtpd_server_started(server: SMTPServer) -> None:
    """A server was started for a test (called in the test's thread).

    Reading ``server.port`` or ``server.address`` here starts the server thread,
    as it does in the test, so the port can be handed to the application.
    """


def pytest_smtpd_session_ended(session: Session) -> None:
    """A client connection ended; ``session.ended`` says how (called in the server thread)."""
