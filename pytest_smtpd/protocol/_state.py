"""Where a session stands, what each state accepts, and what each reply changes.

Two tables, both plain data:

- :data:`ALLOWED`, the preconditions: the states in which the core *proposes*
  to accept each command (everything else gets ``503 5.5.1``).
- :data:`TRANSITIONS`, the effects: ``(state, event, reply) -> (new state,
  effect)``. The reply that was sent decides, not the one proposed: a scripted
  2xx takes effect as if the core had accepted the command. ``reply`` is a
  reply class (``2`` for any 2xx) or, where one code alone has the meaning, that
  code (``354`` to DATA, ``221`` to QUIT). A key that is not in the table leaves
  the state as it is, with no effect.

Two rules stand outside the table because they hold for every state and event:
a ``421`` reply closes the session (:attr:`Effect.CLOSE`, RFC 5321 §3.8), and so
does any reply to a BDAT whose chunk size cannot be read (the framing is lost).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final


class State(enum.Enum):
    """Where a session stands in RFC 5321's command sequence."""

    CONNECTED = "connected"  #: the greeting is not sent yet
    INITIAL = "initial"  #: greeted, no HELO/EHLO yet
    READY = "ready"  #: HELO/EHLO done, no mail transaction
    MAIL = "mail"  #: MAIL accepted, no recipient yet
    RCPT = "rcpt"  #: at least one recipient accepted
    DATA = "data"  #: receiving message content after 354
    BDAT = "bdat"  #: at least one BDAT chunk accepted, LAST not yet seen
    NO_SERVICE = "no service"  #: the greeting refused service: only QUIT is accepted (RFC 5321 §3.1)
    CLOSED = "closed"  #: QUIT answered, 421 sent, or the client went away

    # Members are singletons: hash them by identity, in C (Enum's own __hash__
    # is a Python call, paid on every command by the state table lookups).
    __hash__ = object.__hash__


class Effect(enum.Enum):
    """What a reply made happen: the transport learns it from :attr:`Connection.effect`
    instead of deciding it again from the reply code."""

    NONE = "-"
    #: The greeting refused service (4xx/5xx but 421): only QUIT is accepted now.
    NO_SERVICE = "no service"
    #: HELO/EHLO (LHLO in LMTP) accepted: ``greeting_verb`` and ``helo_name`` are set, any transaction is dropped.
    GREETED = "greeted"
    #: RSET accepted: any transaction is dropped.
    RESET = "reset"
    #: MAIL accepted: a transaction starts (``sender``).
    TRANSACTION = "transaction starts"
    #: RCPT accepted: the recipient is added.
    RECIPIENT = "recipient added"
    #: RCPT refused (counted: DATA then says "no valid recipients").
    RECIPIENT_REFUSED = "recipient refused"
    #: 354 to DATA: what follows is message content.
    CONTENT = "content follows"
    #: A BDAT chunk accepted: it is part of the message.
    CHUNK = "chunk kept"
    #: RFC 3030 §2: a refused BDAT fails the transaction; its chunks are dropped, RSET is needed.
    FAILED = "transaction failed"
    #: The message was accepted (2xx after the content): record it.
    MESSAGE = "message accepted"
    #: The message was refused: the transaction ends without it.
    MESSAGE_REFUSED = "message refused"
    #: 334 to AUTH or to a step of its exchange: the next line is the client's response.
    AUTH_CHALLENGE = "auth challenge"
    #: 235: ``auth_user`` and ``auth_mechanism`` are set.
    AUTHENTICATED = "authenticated"
    #: The AUTH exchange ended without authenticating.
    AUTH_ENDED = "auth ended"
    #: 220 to STARTTLS: the transport starts the handshake now (RFC 3207 §4.2:
    #: input pipelined behind STARTTLS was dropped).
    STARTTLS = "tls starts"
    #: 221 to QUIT: the session ends once the reply is sent.
    QUIT = "quit"
    #: The session closes once the reply is sent (421, or BDAT framing lost).
    CLOSE = "close"

    __hash__ = object.__hash__


#: The events of the table besides the command verbs: the greeting, the reply
#: after the content, a line of an AUTH exchange, and a BDAT the core refused
#: (its chunk discarded, or the transaction failed before it).
GREETING: Final = "greeting"
CONTENT_END: Final = "message"
AUTH_RESPONSE: Final = "AUTH response"
BDAT_REFUSED: Final = "BDAT refused"

_S = State
#: The states in which a command line can arrive.
_OPEN: Final = (_S.INITIAL, _S.READY, _S.MAIL, _S.RCPT, _S.BDAT)
_ANY: Final = frozenset(_OPEN)
#: The states with a mail transaction.
_IN_TRANSACTION: Final = (_S.MAIL, _S.RCPT, _S.BDAT)

#: The preconditions: the states in which each command is in sequence.
ALLOWED: Final[Mapping[str, frozenset[State]]] = {
    "HELO": _ANY,
    "EHLO": _ANY,
    "LHLO": _ANY,
    "RSET": _ANY,
    "NOOP": _ANY,
    "QUIT": _ANY | {_S.NO_SERVICE},
    "VRFY": _ANY,
    "HELP": _ANY,
    "MAIL": frozenset({_S.READY}),
    "STARTTLS": frozenset({_S.READY}),
    "AUTH": frozenset({_S.READY}),
    "RCPT": frozenset({_S.MAIL, _S.RCPT}),
    "DATA": frozenset({_S.RCPT}),
    "BDAT": frozenset({_S.RCPT, _S.BDAT}),
}


#: The commands of each protocol: SMTP knows no LHLO; LMTP (RFC 2033 §4.1) has
#: LHLO instead of HELO and EHLO.
SMTP_ALLOWED: Final[Mapping[str, frozenset[State]]] = {v: s for v, s in ALLOWED.items() if v != "LHLO"}
LMTP_ALLOWED: Final[Mapping[str, frozenset[State]]] = {v: s for v, s in ALLOWED.items() if v not in ("HELO", "EHLO")}


def _transitions() -> dict[tuple[State, str, int], tuple[State, Effect]]:
    E = Effect
    table: dict[tuple[State, str, int], tuple[State, Effect]] = {}
    refused = (3, 4, 5)
    for klass in (2, 3):
        table[_S.CONNECTED, GREETING, klass] = (_S.INITIAL, E.NONE)
    for klass in (4, 5):
        table[_S.CONNECTED, GREETING, klass] = (_S.NO_SERVICE, E.NO_SERVICE)
    for state in (*_OPEN, _S.NO_SERVICE):
        table[state, "QUIT", 221] = (_S.CLOSED, E.QUIT)
    for state in _OPEN:
        # A scripted 2xx takes effect as if the core had accepted the command,
        # even out of sequence.
        table[state, "HELO", 2] = table[state, "EHLO", 2] = table[state, "LHLO", 2] = (_S.READY, E.GREETED)
        table[state, "RSET", 2] = (_S.INITIAL if state is _S.INITIAL else _S.READY, E.RESET)
        table[state, "MAIL", 2] = (_S.MAIL, E.TRANSACTION)
        table[state, "STARTTLS", 220] = (state, E.STARTTLS)
    for state in _IN_TRANSACTION:
        table[state, "RCPT", 2] = (_S.RCPT, E.RECIPIENT)
        for klass in refused:
            table[state, "RCPT", klass] = (state, E.RECIPIENT_REFUSED)
        table[state, "DATA", 354] = (_S.DATA, E.CONTENT)
    for state in (_S.RCPT, _S.BDAT):
        table[state, "BDAT", 2] = (_S.BDAT, E.CHUNK)
        for klass in (4, 5):
            table[state, "BDAT", klass] = table[state, BDAT_REFUSED, klass] = (state, E.FAILED)
    for state in (_S.RCPT, _S.DATA, _S.BDAT):  # BDAT ... LAST may come right after RCPT
        table[state, CONTENT_END, 2] = (_S.READY, E.MESSAGE)
        for klass in refused:
            table[state, CONTENT_END, klass] = (_S.READY, E.MESSAGE_REFUSED)
    for event in ("AUTH", AUTH_RESPONSE):
        table[_S.READY, event, 334] = (_S.READY, E.AUTH_CHALLENGE)
        table[_S.READY, event, 235] = (_S.READY, E.AUTHENTICATED)
        for klass in (2, 3, 4, 5):
            table[_S.READY, event, klass] = (_S.READY, E.AUTH_ENDED)
    return table


#: The state table: ``(state, event, reply) -> (new state, effect)``; see the module docstring.
TRANSITIONS: Final[Mapping[tuple[State, str, int], tuple[State, Effect]]] = _transitions()


def transition(state: State, event: str, code: int) -> tuple[State, Effect]:
    """Look ``(state, event, code)`` up in :data:`TRANSITIONS`: the exact code first, then its class."""
    found = TRANSITIONS.get((state, event, code)) or TRANSITIONS.get((state, event, code // 100))
    return found if found is not None else (state, Effect.NONE)


@dataclass(slots=True)
class Transaction:
    """A mail transaction, from MAIL to the reply after its content."""

    sender: str
    params: dict[str, str | None]
    smtputf8: bool
    body: str
    recipients: list[str] = field(default_factory=list)
    rcpt_params: list[dict[str, str | None]] = field(default_factory=list)
    rcpt_attempts: int = 0
    chunks: bytearray = field(default_factory=bytearray)
    chunk_size: int = 0  # total octets over all BDAT chunks, kept or not
    failed: bool = False  # a BDAT chunk was refused
