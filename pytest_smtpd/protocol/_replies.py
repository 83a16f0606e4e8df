"""Reply values and their bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ._config import REPLY_LINE_LIMIT


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: a three-digit code and its text.

    A text with newlines becomes a multi-line reply (``250-first``, ``250 last``).
    The text is sent exactly as given, enhanced status code included::

        Reply(550, "5.1.1 No such user")
    """

    code: int
    text: str = ""
    _lines: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _wire: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        code, text = self.code, self.text
        if not isinstance(code, int) or isinstance(code, bool) or not 200 <= code <= 599:
            raise ValueError(f"an SMTP reply code is an int from 200 to 599, not {code!r}")
        if not isinstance(text, str):
            raise TypeError(f"reply text must be str, not {type(text).__name__}")
        if "\r" in text or "\0" in text:
            raise ValueError(f"reply text may not contain CR or NUL: {text!r}")
        # Rendered once: a reply is recorded and sent, often many times over.
        parts = text.split("\n")
        last = parts.pop()
        lines = [f"{code}-{part}" for part in parts]
        # RFC 4954 §8: continue-req = "334" SP [base64] CRLF -- the space stays
        # when the challenge is empty (PLAIN without an initial response).
        lines.append(f"{code} {last}" if last or code == 334 else f"{code}")
        wire = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        if len(wire) > REPLY_LINE_LIMIT:  # only then can a single line be too long
            for line in lines:
                if len(line.encode("utf-8")) + 2 > REPLY_LINE_LIMIT:
                    raise ValueError(
                        f"reply line longer than {REPLY_LINE_LIMIT - 6} octets (RFC 5321 §4.5.3.1.5): "
                        f"{line[4:44]!r}...; split it with newlines"
                    )
        object.__setattr__(self, "_lines", tuple(lines))
        object.__setattr__(self, "_wire", wire)

    @classmethod
    def coerce(cls, value: Reply | tuple[int, str]) -> Reply:
        """Accept a :class:`Reply` or a ``(code, text)`` tuple."""
        if isinstance(value, Reply):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise TypeError(f"expected a Reply or a (code, text) tuple, got {value!r}")

    @property
    def lines(self) -> tuple[str, ...]:
        """Each line as it goes on the wire, without CRLF."""
        return self._lines

    def to_bytes(self) -> bytes:
        """The reply as sent on the wire."""
        return self._wire

    @property
    def positive(self) -> bool:
        """True for 2xx and 3xx replies."""
        return self.code < 400

    def __str__(self) -> str:
        return "\n".join(self.lines)


#: The core's own replies, made once: most are the same few texts over and over.
_REPLIES: dict[tuple[int, str], Reply] = {}
_REPLIES_KEPT = 512
_GO_AHEAD = Reply(354, "End data with <CR><LF>.<CR><LF>")


def _reply(code: int, text: str) -> Reply:
    """``Reply(code, text)``, made once for texts that recur (greetings, EHLO replies)."""
    key = (code, text)
    reply = _REPLIES.get(key)
    if reply is None:
        reply = Reply(code, text)
        if len(_REPLIES) < _REPLIES_KEPT:
            _REPLIES[key] = reply
    return reply


class Replies:
    """The core's own replies for one configuration: with the enhanced status code
    in front of the text when ENHANCEDSTATUSCODES is configured (RFC 2034 §4)."""

    __slots__ = ("_cache", "enhanced")

    def __init__(self, enhanced: bool) -> None:
        self.enhanced = enhanced
        self._cache: dict[tuple[int, str, str], Reply] = {}

    def __call__(self, code: int, enhanced: str, text: str) -> Reply:
        """The reply ``code`` with ``text``, and ``enhanced`` before it when in force."""
        key = (code, enhanced, text)
        reply = self._cache.get(key)
        if reply is None:
            reply = _reply(code, f"{enhanced} {text}" if self.enhanced else text)
            if len(self._cache) < _REPLIES_KEPT:
                self._cache[key] = reply
        return reply

    def to(self, verb: str, code: int, enhanced: str, text: str) -> Reply:
        """A reply to ``verb``: RFC 2034 §4, none to HELO or EHLO has an enhanced code."""
        if verb in ("HELO", "EHLO", "LHLO"):
            return _reply(code, text)
        return self(code, enhanced, text)


#: One set per setting of ENHANCEDSTATUSCODES, shared by every connection.
REPLIES: Final = {True: Replies(True), False: Replies(False)}
