"""The sans-IO SMTP protocol core: bytes in, events and replies out.

Nothing here touches a socket, a thread or pytest. A :class:`Connection` is fed
what the client sent with :meth:`Connection.receive_data`, hands out events with
:meth:`Connection.next_event` and turns the replies chosen for each event into
bytes with :meth:`Connection.send`. For every event it also proposes the reply a
well-behaved RFC 5321 server would give (:meth:`Connection.default_reply`); the
caller may answer with another one, and *that* reply decides the effect: the
state table :data:`TRANSITIONS` maps ``(state, event, reply)`` to the new state
and an :class:`Effect`, which :attr:`Connection.effect` tells the caller after
each :meth:`~Connection.send`, so that it never decides again what the core
already did (a 2xx to HELO greets, 235 authenticates, 221 to QUIT ends).

Errors the protocol recovers from (500, 501, 503, 552, ...) are replies, not
exceptions. :class:`LocalProtocolError` is raised only when the core itself is
misused (answering when no event is pending, asking for the next event before
the last was answered, an invalid reply).

The modules, lowest layer first (each imports only from the layers below)::

    _config, _events, _state     limits and ProtocolConfig; events and violations;
                                 State, Effect and the two tables (ALLOWED, TRANSITIONS)
    _replies                     Reply, and the core's own replies with enhanced codes
    _readers, _auth              DataReader (dot-stuffed DATA), ChunkReader (BDAT);
                                 the SASL exchanges of AUTH
    _commands                    one parse-and-propose function per verb
    _connection                  the loop: frames lines, dispatches verbs, picks the
                                 reader, applies the effects of each reply

The states, and the commands that move between them (every other command gets
``503 5.5.1``; :data:`ALLOWED` has the preconditions)::

    CONNECTED --greeting--> INITIAL --HELO/EHLO--> READY --MAIL--> MAIL --RCPT--> RCPT
        |                                            ^                            |  |
        +--4xx/5xx greeting--> NO_SERVICE            |              DATA (354)    |  | BDAT chunk
                                                     |                 v          |  v
                                                     +-- reply after --DATA      BDAT
                                                         the content  <---BDAT LAST-+
    (RSET goes back to READY; 221 to QUIT and any 421 go to CLOSED)

Several replies for one event
-----------------------------
Every event takes :attr:`Connection.replies_due` replies: one, except for a
:class:`MessageReceived` when ``ProtocolConfig(reply_per_recipient=True)``
(LMTP, RFC 2033 §4.2), which takes one per recipient of ``event.recipients``, in
that order. The caller calls :meth:`Connection.send` once per reply due, each
returning that reply's bytes, and may decide each one by itself;
:meth:`Connection.default_reply` proposes the reply for the next one due and
:meth:`Connection.default_replies` all of them. Until the last is sent the event
is pending (:meth:`~Connection.next_event` raises :class:`LocalProtocolError`)
and :attr:`Connection.effect` is :attr:`Effect.NONE`; the last one applies the
table with the best reply among them (:attr:`Effect.MESSAGE` when any recipient
got a 2xx), and a 421 among them closes the session after it. The caller knows
which recipients were accepted from the replies it sent. Every other event, and
every event in SMTP, takes exactly one reply, so the loop::

    while (event := conn.next_event()) is not None:
        while conn.replies_due:
            out += conn.send(decide(event, conn.default_reply()))

serves both.
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
from ._events import (
    AuthResponse,
    Command,
    ConnectionClosed,
    Event,
    LocalProtocolError,
    MessageReceived,
    Violation,
    ViolationKind,
)
from ._replies import Reply
from ._state import ALLOWED, TRANSITIONS, Effect, State

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
    "TRANSITIONS",
    "AuthResponse",
    "Command",
    "Connection",
    "ConnectionClosed",
    "Effect",
    "Event",
    "LocalProtocolError",
    "MessageReceived",
    "ProtocolConfig",
    "Reply",
    "State",
    "Violation",
    "ViolationKind",
]
