"""Readers of message content."""

from __future__ import annotations

from ._config import TEXT_LINE_LIMIT


class _Survey:
    """The content checks of DATA, made on the raw content a piece at a time as it arrives.

    The raw content is the CRLF ending the DATA line, the dot-stuffed lines and
    the end marker. Dot-unstuffing only removes dots, and the leading CRLF and
    the marker's CRLF are pairs, so the counts of CR, LF and CRLF, and whether
    all octets are ASCII, tell about the message content as well.

    Lines over the limit: a line of more than ``TEXT_LINE_LIMIT - 2`` octets
    spans at least ``TEXT_LINE_LIMIT - 1`` octets without an LF, which always
    cover one of the aligned windows of ``TEXT_LINE_LIMIT // 2`` octets. When no
    such window is free of LF (the usual case), no line is too long, found
    without splitting the content into a list of lines.
    """

    __slots__ = ("ascii", "cr", "crlf", "done", "lf", "maybe_long", "stuffed", "window")

    WIDTH = TEXT_LINE_LIMIT // 2

    def __init__(self) -> None:
        self.done = 0  # octets of the raw content scanned
        self.cr = self.lf = self.crlf = 0
        self.ascii = True
        self.stuffed = False  # a "CRLF." was seen: some line is dot-stuffed
        self.maybe_long = False
        self.window = 0  # start of the next aligned window to look at

    def scan(self, data: bytearray, limit: int) -> None:
        """Take in the raw content up to ``limit`` (exclusive)."""
        start = self.done
        if limit <= start:
            return
        self.done = limit
        self.cr += data.count(b"\r", start, limit)
        self.lf += data.count(b"\n", start, limit)
        # A pair or a "CRLF." across the previous limit is whole only now.
        self.crlf += data.count(b"\r\n", max(start - 1, 0), limit)
        if not self.stuffed and data.find(b"\r\n.", max(start - 2, 0), limit) >= 0:
            self.stuffed = True
        if self.ascii and not data[start:limit].isascii():
            self.ascii = False
        if not self.maybe_long:
            width, window, find = self.WIDTH, self.window, data.find
            while window + width <= limit:
                if find(b"\n", window, window + width) < 0:
                    self.maybe_long = True
                    break
                window += width
            self.window = window
