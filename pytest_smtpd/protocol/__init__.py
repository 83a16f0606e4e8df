"""The sans-IO SMTP protocol core: bytes in, events and replies out.

Nothing here touches a socket, a thread or pytest. A :class:`Connection` is fed
what the client sent with :meth:`Connection.receive_data`, hands out events with
:meth:`Connection.next_event` and turns the reply chosen for each event into
bytes with :meth:`Connection.send`. For every event it also proposes the reply a
well-behaved RFC 5321 server would give (:meth:`Connection.default_reply`); the
caller may answer with another one, and *that* reply decides the effect: a 2xx
(3xx for DATA) makes the command take effect, anything else does not.

Errors the protocol recovers from (500, 501, 503, 552, ...) are replies, not
exceptions. :class:`LocalProtocolError` is raised only when the core itself is
misused (answering when no event is pending, an invalid reply).

Session states, and which commands each one accepts (everything else gets
``503 5.5.1``), are the table :data:`ALLOWED`::

    INITIAL --HELO/EHLO--> READY --MAIL--> MAIL --RCPT--> RCPT --DATA--> DATA
                             ^                              |               |
                             +----- message reply / RSET ---+-----BDAT------+
"""

from __future__ import annotations

from ..extensions import AUTH_MECHANISMS, DEFAULT_EXTENSIONS, KNOWN_EXTENSIONS
from ._config import (
    AUTH_LINE_LIMIT,
    CLIENT_ERROR_CODES,
    COMMAND_LINE_LIMIT,
    ERROR_LIMIT,
    LINE_EXTENSIONS,
    REPLY_LINE_LIMIT,
    TEXT_LINE_LIMIT,
    ProtocolConfig,
)
from ._connection import Connection
from ._events import AuthResponse, Command, ConnectionClosed, Event, LocalProtocolError, MessageReceived, Violation
from ._replies import Reply
from ._state import ALLOWED, State

__all__ = [
    "ALLOWED",
    "AUTH_LINE_LIMIT",
    "AUTH_MECHANISMS",
    "CLIENT_ERROR_CODES",
    "COMMAND_LINE_LIMIT",
    "DEFAULT_EXTENSIONS",
    "ERROR_LIMIT",
    "KNOWN_EXTENSIONS",
    "LINE_EXTENSIONS",
    "REPLY_LINE_LIMIT",
    "TEXT_LINE_LIMIT",
    "AuthResponse",
    "Command",
    "Connection",
    "ConnectionClosed",
    "Event",
    "LocalProtocolError",
    "MessageReceived",
    "ProtocolConfig",
    "Reply",
    "State",
    "Violation",
]
