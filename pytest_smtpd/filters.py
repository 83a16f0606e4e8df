"""The filters of ``assert_sent``, ``assert_count`` and ``wait_for``: one table row each.

A row says what a filter is compared with (its getter over a
:class:`~pytest_smtpd.message.Message`), what a string means (its comparison)
and how a near miss is shown. A regex always means ``re.search``; a predicate
gets what a string would be compared with. Adding a filter is adding a row.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

from .errors import did_you_mean
from .records import Message, Refusal

__all__ = [
    "FILTERS",
    "FILTER_NAMES",
    "Filter",
    "check_filters",
    "describe_mismatch",
    "describe_problems",
    "match_message",
    "summary",
]

#: Near-miss values longer than this are cut (around the closest match for text and html).
SHOWN = 80


def _same_address(wanted: str, got: str) -> bool:
    return wanted.lower() == got.lower()


def _equal(wanted: str, got: str) -> bool:
    return wanted == got


def _contains(wanted: str, got: str) -> bool:
    return wanted in got


def _show_value(matcher: object, value: object) -> str:
    """A value as ``repr`` shows it, cut after :data:`SHOWN` characters."""
    if isinstance(value, tuple):
        value = list(value)
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _show_around(matcher: object, value: object) -> str:
    """A long body shown around the part closest to a wanted string, so the
    difference is in view (not only the body's first characters)."""
    if not isinstance(value, str) or not isinstance(matcher, str) or len(repr(value)) <= SHOWN:
        return _show_value(matcher, value)
    # Bound the search: a near miss in a 20 MB body is still found near its start.
    body = value[:100_000]
    match = difflib.SequenceMatcher(None, body, matcher, autojunk=False).find_longest_match(
        0, len(body), 0, len(matcher)
    )
    aligned = max(0, match.a - match.b)  # where the wanted text would start
    margin = max(10, (SHOWN - len(matcher)) // 2)
    start = max(0, aligned - margin)
    end = min(len(value), aligned + len(matcher) + margin)
    return f"{'...' if start else ''}{value[start:end]!r}{'...' if end < len(value) else ''} (at {start})"


def _addresses(message: Message, *headers: str) -> list[str]:
    values = [value for name in headers for value in message.get_all(name)]
    return [address for _, address in getaddresses(values) if address]


def _blind_copies(message: Message) -> list[str]:
    named = {address.lower() for address in _addresses(message, "To", "Cc")}
    return [r for r in message.recipients if r.lower() not in named]


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter: ``name=`` in ``assert_sent``, ``assert_count`` and ``wait_for``."""

    name: str
    #: What the filter is compared with, for the docs.
    compared_with: str
    #: The value of a message: a string (or None), or with ``each`` a list of them.
    get: Callable[[Message], object]
    #: What a string means: ``compare(wanted, got)``.
    compare: Callable[[str, str], bool]
    #: The value is a list; the filter passes when any item does (a predicate gets each).
    each: bool = False
    #: How the value of a near miss is shown: ``show(wanted, got)``.
    show: Callable[[object, object], str] = _show_value

    def matches(self, matcher: object, value: object) -> bool:
        """One filter value (str, regex or predicate) against one message's value."""
        if self.each:
            assert isinstance(value, (list, tuple))
            return any(self._one(matcher, item) for item in value if item is not None)
        return self._one(matcher, value)

    def _one(self, matcher: object, value: object) -> bool:
        if callable(matcher) and not isinstance(matcher, (str, re.Pattern)):
            return bool(matcher(value))
        if value is None:
            return False
        assert isinstance(value, str)
        if isinstance(matcher, re.Pattern):
            return matcher.search(value) is not None
        assert isinstance(matcher, str)
        return self.compare(matcher, value)


#: ``headers=`` is a mapping of header name to filter value; each is compared like this.
HEADER = Filter("headers", "a mapping of header name to filter", lambda m: None, _equal)

#: Every filter, in the order the docs list them.
FILTERS: Mapping[str, Filter] = {
    row.name: row
    for row in (
        Filter("sender", "the envelope sender (MAIL FROM)", lambda m: m.sender, _same_address),
        Filter("to", "any envelope recipient (RCPT TO)", lambda m: m.recipients, _same_address, each=True),
        Filter("cc", "any address in the Cc header", lambda m: _addresses(m, "Cc"), _same_address, each=True),
        Filter("bcc", "any envelope recipient named in none of To and Cc", _blind_copies, _same_address, each=True),
        Filter("subject", "the decoded Subject", lambda m: m.subject, _equal),
        Filter("text", "the decoded plain-text body", lambda m: m.text, _contains, show=_show_around),
        Filter("html", "the decoded HTML body", lambda m: m.html, _contains, show=_show_around),
        Filter("link", "any link in the text and HTML bodies (Message.links)", lambda m: m.links, _contains, each=True),
        HEADER,
        Filter(
            "attachment", "any attachment's filename", lambda m: [a.filename for a in m.attachments], _equal, each=True
        ),
    )
}

#: The filters ``assert_sent`` and ``wait_for`` accept.
FILTER_NAMES = tuple(FILTERS)


def check_filters(filters: Mapping[str, object]) -> None:
    """Raise a TypeError naming the valid filters when one is unknown or ill-typed."""
    __tracebackhide__ = True
    for name, value in filters.items():
        if name not in FILTERS:
            raise TypeError(
                f"unknown filter {name!r}{did_you_mean(name, FILTER_NAMES)}; valid filters: {', '.join(FILTER_NAMES)}"
            )
        if FILTERS[name] is HEADER:
            if not isinstance(value, Mapping):
                raise TypeError("headers= takes a mapping of header name to str, regex or predicate")
            for item in value.values():
                _check_matcher("headers value", item)
        else:
            _check_matcher(name, value)


def _check_matcher(name: str, value: object) -> None:
    __tracebackhide__ = True
    if not isinstance(value, (str, re.Pattern)) and not callable(value):
        raise TypeError(f"filter {name} takes a str, a compiled regex or a predicate, not {value!r}")


def _failures(message: Message, filters: Mapping[str, object]) -> list[tuple[str, str]]:
    """The filters ``message`` fails, as ``(label, "label: wanted ..., got ...")``."""
    failed: list[tuple[str, str]] = []
    for name, matcher in filters.items():
        row = FILTERS[name]
        checks: list[tuple[str, object, object]]
        if row is HEADER:
            assert isinstance(matcher, Mapping)
            checks = [(f"headers[{header!r}]", want, message[header]) for header, want in matcher.items()]
        else:
            checks = [(name, matcher, row.get(message))]
        for label, want, got in checks:
            if not row.matches(want, got):
                failed.append((label, f"{label}: wanted {_show(want)}, got {row.show(want, got)}"))
    return failed


def match_message(message: Message, filters: Mapping[str, object]) -> bool:
    """True when ``message`` passes every filter."""
    return not _failures(message, filters)


def _show(matcher: object) -> str:
    if isinstance(matcher, re.Pattern):
        return f"re.compile({matcher.pattern!r})"
    if callable(matcher) and not isinstance(matcher, str):
        return f"a value passing {getattr(matcher, '__qualname__', repr(matcher))}"
    return repr(matcher)


def summary(message: Message) -> str:
    """One line for a message in failures and reports: sender, recipients, subject."""
    return f"from {message.sender!r} to {list(message.recipients)!r} subject {message.subject!r}"


def _messages(count: int | str) -> str:
    return f"{count} message" if str(count).split()[-1] == "1" else f"{count} messages"


def describe_mismatch(
    messages: Sequence[Message],
    filters: Mapping[str, object],
    found: int,
    wanted: str,
    refused: Sequence[Refusal] = (),
) -> str:
    """The text of a failed ``assert_sent``: what was wanted, every message, for
    the nearest ones which filter did not match and what the value was, and
    what was refused.

    ``wanted`` is the expected count in words (``"exactly 1"``, ``"no"``).
    """
    lines = _describe_messages(messages, filters, found, wanted)
    if refused:
        lines.append(f"Refused ({len(refused)}):")
        lines.extend(f"  {refusal}" for refusal in refused)
    return "\n".join(lines)


def _describe_messages(
    messages: Sequence[Message], filters: Mapping[str, object], found: int, wanted: str
) -> list[str]:
    matching = " matching " + ", ".join(f"{k}={_show(v)}" for k, v in filters.items()) if filters else ""
    lines = [f"expected {_messages(wanted)}{matching}; found {found}."]
    if not messages:
        lines.append("No message was accepted.")
        return lines
    lines.append(f"{_messages(len(messages))} accepted:")
    scored = [(i, message, _failures(message, filters)) for i, message in enumerate(messages)]
    for i, message, failed in scored:
        mark = "matches" if not failed else "differs: " + ", ".join(label for label, _ in failed)
        lines.append(f"  #{i + 1} {summary(message)}  [{mark}]")
    best = min(len(failed) for _, _, failed in scored)
    if best:
        lines.append("Nearest:")
        for i, _, failed in scored:
            if len(failed) == best:
                lines.append(f"  #{i + 1}:")
                lines.extend(f"    {reason}" for _, reason in failed)
    return lines


def describe_problems(numbered: Iterable[tuple[int, Message]], accepted: int) -> str:
    """The text of a failed ``assert_well_formed()`` (and of ``check_content``):
    each message that has problems, by number (its place in ``messages``, from 1),
    sender and subject, with its problems; ``accepted`` is how many messages the
    server holds. Empty when no message has any.
    """
    bad = [(number, message, problems) for number, message in numbered if (problems := message.problems)]
    if not bad:
        return ""
    lines = [f"{_messages(len(bad))} of {accepted} not well formed:"]
    for number, message, problems in bad:
        lines.append(f"  #{number} from {message.sender!r} subject {message.subject!r}:")
        lines.extend(f"    {problem}" for problem in problems)
    return "\n".join(lines)
