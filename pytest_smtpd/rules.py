"""Scripted replies (``smtpd.on(...)``).

No sockets here: a :class:`Rule` is data the server consults. The filters of
``assert_sent`` are in :mod:`pytest_smtpd.filters`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Union

from .errors import did_you_mean
from .protocol import Command, Reply
from .records import Message

__all__ = ["Matcher", "Rule", "RuleBook"]

#: A string, a compiled regex (``re.search``) or a predicate.
Matcher = Union[str, "re.Pattern[str]", Callable[[Any], bool]]

#: Rule events that are not command verbs.
SPECIAL_EVENTS = ("connect", "message")
#: The command verbs a rule may name: RFC 5321 §4.1.1's, and those of the
#: extensions the server implements (STARTTLS, AUTH, BDAT; LHLO of LMTP).
VERBS: tuple[str, ...] = ("EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP", "NOOP")
VERBS += ("QUIT", "STARTTLS", "AUTH", "LHLO")
#: Events whose string ``match`` is an address: written ``<bob@example.com>``, it means the address inside.
ADDRESS_EVENTS = ("MAIL", "RCPT", "message")
_EVENT = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")


def _event(event: object) -> str:
    """The event's canonical name (verbs upper case); a ValueError naming the nearest known one."""
    __tracebackhide__ = True
    if not isinstance(event, str) or not _EVENT.fullmatch(event):
        raise ValueError(f"event must be a command verb ('RCPT'), 'connect' or 'message', not {event!r}")
    lowered = event.lower()
    if lowered in SPECIAL_EVENTS:
        return lowered
    verb = event.upper()
    # RFC 5321 §4.1.5: verbs beginning with X are private extensions.
    if verb in VERBS or (verb.startswith("X") and len(verb) > 1):
        return verb
    raise ValueError(
        f"unknown event {event!r}{did_you_mean(event, VERBS + SPECIAL_EVENTS)}: an event is a command verb "
        f"({', '.join(VERBS)}, or a private X... verb), 'connect' (the greeting) or 'message' "
        "(the reply after the content)"
    )


class Rule:
    """A scripted reply, made by ``smtpd.on(event, match)``; every method chains.

    ::

        smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
        smtpd.on("MAIL").reply(451, "4.3.0 Try again later").once()
        smtpd.on("DATA").disconnect()
        smtpd.on("message").delay(2.0)
    """

    __slots__ = ("_disconnect", "_lock", "_remaining", "_reply", "delay_seconds", "event", "hits", "match")

    def __init__(self, event: str, match: Matcher | None = None, *, lock: threading.Lock | None = None) -> None:
        __tracebackhide__ = True
        self.event = _event(event)
        if match is not None and not isinstance(match, (str, re.Pattern)) and not callable(match):
            raise TypeError(f"match must be a string, a compiled regex or a predicate, not {match!r}")
        if isinstance(match, str) and self.event in ADDRESS_EVENTS and match.startswith("<") and match.endswith(">"):
            match = match[1:-1]  # the address is compared without its brackets
        self.match = match
        self._reply: Reply | None = None
        self._disconnect = False
        self.delay_seconds = 0.0
        self._remaining: int | None = None
        self._lock = lock or threading.Lock()
        #: How many times this rule has been applied.
        self.hits = 0

    def reply(self, code: int, text: str = "") -> Rule:
        """Answer with this reply instead of the normal one.

        A 2xx (354 for DATA) makes the command take effect; 4xx and 5xx make it
        not take effect. 421 closes the connection after the reply.
        """
        self._reply = Reply(code, text)
        self._disconnect = False
        return self

    def disconnect(self) -> Rule:
        """Close the connection instead of replying."""
        self._disconnect = True
        self._reply = None
        return self

    def delay(self, seconds: float) -> Rule:
        """Wait this long before the reply (scripted or normal). Other clients are served meanwhile."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"delay takes a non-negative number of seconds, not {seconds!r}")
        self.delay_seconds = float(seconds)
        return self

    def once(self) -> Rule:
        """Apply this rule one time only."""
        return self.times(1)

    def times(self, n: int) -> Rule:
        """Apply this rule ``n`` times, then stop matching."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"times takes a positive int, not {n!r}")
        with self._lock:
            self._remaining = n
        return self

    @property
    def action(self) -> Reply | None:
        """The scripted reply, if any."""
        return self._reply

    @property
    def disconnects(self) -> bool:
        """True when this rule closes the connection instead of replying."""
        return self._disconnect

    @property
    def live(self) -> bool:
        """False once a ``once()`` or ``times(n)`` rule is used up."""
        return self._remaining is None or self._remaining > 0

    def _claim(self) -> bool:
        with self._lock:
            if self._remaining is not None:
                if self._remaining <= 0:
                    return False
                self._remaining -= 1
            self.hits += 1
            return True

    def __repr__(self) -> str:
        return f"<Rule {self}>"

    def __str__(self) -> str:
        """The rule as it was written: ``on('RCPT', 'bob@example.com').reply(550, '5.1.1 No such user')``."""
        parts = [f"on({self.event!r}{'' if self.match is None else ', ' + repr(self.match)})"]
        if self.delay_seconds:
            parts.append(f"delay({self.delay_seconds})")
        if self._reply is not None:
            parts.append(f"reply({self._reply.code}, {self._reply.text!r})")
        if self._disconnect:
            parts.append("disconnect()")
        if self._remaining is not None:
            parts.append(f"times(left={self._remaining})")
        return ".".join(parts)


def _matches(matcher: Matcher | None, value: str, subject: object, *, fold: bool = True) -> bool:
    __tracebackhide__ = True  # a predicate's error shows the user's code
    if matcher is None:
        return True
    if isinstance(matcher, str):
        return matcher.lower() == value.lower() if fold else matcher == value
    if isinstance(matcher, re.Pattern):
        return matcher.search(value) is not None
    return bool(matcher(subject))


class RuleBook:
    """The rules of one server, in the order they were made; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        #: True once a rule was made (until :meth:`clear`): while it is False the
        #: engine does not look for rules at all.
        self.scripted = False

    def add(self, event: str, match: Matcher | None) -> Rule:
        __tracebackhide__ = True
        rule = Rule(event, match, lock=self._lock)
        with self._lock:
            self._rules.append(rule)
            self.scripted = True
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.scripted = False

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def find_command(self, verb: str, command: Command) -> Rule | None:
        """The first live rule for ``verb`` matching ``command``; it is used up by one."""
        __tracebackhide__ = True
        if not self._rules:
            return None
        value = command.main_argument
        for rule in self.rules:
            if rule.event == verb and rule.live and _matches(rule.match, value, command) and rule._claim():
                return rule
        return None

    def find_message(self, message: Message, recipient: str | None = None) -> Rule | None:
        """The first live ``"message"`` rule; a string or regex matches any recipient,
        or, given ``recipient`` (LMTP's reply for one recipient), that one only.
        A predicate gets the message."""
        __tracebackhide__ = True
        if not self._rules:
            return None
        for rule in self.rules:
            if rule.event != "message" or not rule.live:
                continue
            matcher = rule.match
            if callable(matcher) and not isinstance(matcher, (str, re.Pattern)):
                ok = bool(matcher(message))
            else:
                candidates = message.recipients if recipient is None else (recipient,)
                ok = matcher is None or any(_matches(matcher, r, message) for r in candidates)
            if ok and rule._claim():
                return rule
        return None

    def find_connect(self, peer_host: str) -> Rule | None:
        """The first live ``"connect"`` rule; match is compared with the client's IP address."""
        __tracebackhide__ = True
        if not self._rules:
            return None
        for rule in self.rules:
            if rule.event == "connect" and rule.live and _matches(rule.match, peer_host, peer_host) and rule._claim():
                return rule
        return None
