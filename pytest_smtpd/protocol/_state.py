"""Where a session stands, and which commands each state accepts."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class State(enum.Enum):
    """Where a session stands in RFC 5321's command sequence."""

    INITIAL = "initial"  #: greeted, no HELO/EHLO yet
    READY = "ready"  #: HELO/EHLO done, no mail transaction
    MAIL = "mail"  #: MAIL accepted, no recipient yet
    RCPT = "rcpt"  #: at least one recipient accepted
    DATA = "data"  #: receiving message content after 354
    BDAT = "bdat"  #: at least one BDAT chunk accepted, LAST not yet seen
    CLOSED = "closed"  #: QUIT answered, 421 sent, or the client went away

    # Members are singletons: hash them by identity, in C (Enum's own __hash__
    # is a Python call, paid on every command by the state table lookup).
    __hash__ = object.__hash__


_ANY: Final = frozenset({State.INITIAL, State.READY, State.MAIL, State.RCPT, State.BDAT})

#: The state table: the states in which each command is in sequence.
ALLOWED: Final[Mapping[str, frozenset[State]]] = {
    "HELO": _ANY,
    "EHLO": _ANY,
    "RSET": _ANY,
    "NOOP": _ANY,
    "QUIT": _ANY,
    "VRFY": _ANY,
    "HELP": _ANY,
    "MAIL": frozenset({State.READY}),
    "STARTTLS": frozenset({State.READY}),
    "AUTH": frozenset({State.READY}),
    "RCPT": frozenset({State.MAIL, State.RCPT}),
    "DATA": frozenset({State.RCPT}),
    "BDAT": frozenset({State.RCPT, State.BDAT}),
}
