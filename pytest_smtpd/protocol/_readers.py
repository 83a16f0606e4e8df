"""The readers of message content: one object per way the content is framed.

A reader takes the connection's receive buffer and says whether the content is
complete (h11's ``_readers`` have the same shape). Each owns its counters; the
connection only picks which one reads, from the reply that started it.

- :class:`DataReader`: DATA, dot-stuffed lines up to ``CRLF.CRLF`` (RFC 5321 §4.5.2).
- :class:`ChunkReader`: one BDAT chunk, counted octets (RFC 3030 §2).
"""

from __future__ import annotations

from ._config import TEXT_LINE_LIMIT
from ._events import Command, Violation, ViolationKind
from ._replies import Reply
from ._state import Transaction


class DataReader:
    """DATA content: dot-stuffed lines, ended only by ``CRLF.CRLF`` (no SMTP
    smuggling through a bare LF or CR), within ``limit`` octets of memory.

    The buffer it reads starts with the CRLF that ended the DATA line, so that
    the end marker and dot-stuffing need no special first line. Once the content
    is surely over ``limit`` it is counted, not kept.
    """

    __slots__ = (
        "command",
        "content",
        "counted",
        "limit",
        "overflow",
        "oversized",
        "rest",
        "scan",
        "seven_bit",
        "size",
        "stuffed",
        "survey",
        "violations",
    )

    def __init__(self, command: Command, limit: int, seven_bit: bool) -> None:
        self.command = command
        self.limit = limit
        self.seven_bit = seven_bit  # BODY=7BIT: 8-bit content is a violation
        self.scan = 0  # where the search for the end marker goes on
        self.stuffed = 0  # stuffed dots seen before ``counted``
        self.counted = 0
        self.size = 0  # octets of content, once over the limit counted only
        self.overflow = False
        self.survey = Survey()
        #: Once complete: the content (empty when over the limit), whether it was
        #: over the limit, what followed the end marker, the violations found.
        self.content = b""
        self.oversized = False
        self.rest = bytearray()
        self.violations: list[Violation] = []

    def read(self, data: bytearray) -> bool:
        """Take in what arrived; True once the end marker was read."""
        if self.overflow:
            return self._count(data)
        limit = self.limit
        end = data.find(b"\r\n.\r\n", max(self.scan - 4, 0))
        if end < 0:
            self.scan = length = len(data)
            if length - 4 <= limit:
                # All but the last four octets are content: check them now,
                # while the rest arrives, rather than all at the end.
                self.survey.scan(data, length - 4)
                return False
            # With no end marker here, every "CRLF." wholly before the last two
            # octets starts a dot-stuffed line: count them, each once.
            self.stuffed += data.count(b"\r\n.", max(self.counted - 2, 0), length - 2)
            self.counted = length - 2
            if length - 4 - self.stuffed > limit:
                # The content is surely over the limit whatever follows: from
                # now on count it and keep none of it, so memory stays bounded.
                self.overflow = True
                self.size = -2  # the CRLF of the DATA line, not content
                return self._count(data)
            return False
        survey = self.survey
        survey.scan(data, end + 2)
        self.rest = data[end + 5 :]
        del data[end + 2 :]
        if survey.stuffed:
            # RFC 5321 §4.5.2: "If the first character is a period and there are
            # other characters on the line, the first character is deleted."
            data = data.replace(b"\r\n.", b"\r\n")
        del data[:2]
        content = bytes(data)
        self.size = len(content)
        self.oversized = self.size > limit
        if content:
            self._survey_found(content, survey)
        if not self.oversized:
            self.content = content
        return True

    def _count(self, data: bytearray) -> bool:
        """Over the limit: count the unstuffed octets, keep only what a split end marker needs."""
        end = data.find(b"\r\n.\r\n")
        if end < 0:
            drop = max(len(data) - 4, 0)
            self.size += drop - data.count(b"\r\n.", 0, drop + 2)
            del data[:drop]
            return False
        self.size += end + 2 - data.count(b"\r\n.", 0, end + 2)
        del data[: end + 5]
        self.rest = data
        self.oversized = True
        return True

    def _survey_found(self, content: bytes, survey: Survey) -> None:
        """Bare CR/LF, overlong lines and undeclared 8-bit data, from the survey."""
        found = self.violations
        bare_lf = survey.lf != survey.crlf
        if bare_lf:
            found.append(Violation(ViolationKind.BARE_LF.value, "bare LF in message content"))
        if survey.cr != survey.crlf:
            found.append(Violation(ViolationKind.BARE_CR.value, "bare CR in message content"))
        # Lines end at CRLF only; the survey found a place where one might be too long.
        if (bare_lf or survey.maybe_long) and max(map(len, content.split(b"\r\n"))) > TEXT_LINE_LIMIT - 2:
            found.append(
                Violation(ViolationKind.LINE_TOO_LONG.value, f"message content line over {TEXT_LINE_LIMIT} octets")
            )
        if self.seven_bit and not survey.ascii:
            found.append(Violation(ViolationKind.EIGHT_BIT_DATA.value, "8-bit message content without BODY=8BITMIME"))


class ChunkReader:
    """One BDAT chunk: exactly ``size`` octets, whatever they hold (RFC 3030 §2).

    The chunk is added to the transaction's content, within ``limit`` octets of
    memory (beyond, it is counted only), unless ``refusal`` is set: then the core
    refused the BDAT and the chunk is read only to be discarded, so that the
    session stays in step, and ``refusal`` answers the BDAT after its chunk.
    """

    __slots__ = ("command", "last", "left", "limit", "mark", "refusal", "transaction")

    def __init__(
        self,
        command: Command,
        size: int,
        last: bool,
        refusal: Reply | None,
        transaction: Transaction | None,
        limit: int,
    ) -> None:
        self.command = command
        self.left = size
        self.last = last
        self.refusal = refusal
        self.transaction = transaction
        self.limit = limit
        # The length of the kept content before this chunk: a refused chunk is taken back.
        self.mark = len(transaction.chunks) if transaction is not None else 0

    def read(self, data: bytearray) -> bool:
        """Take this chunk's octets from ``data``; True once all of them were read."""
        take = min(self.left, len(data))
        if take:
            txn = self.transaction
            if self.refusal is None and txn is not None:
                if txn.chunk_size + take <= self.limit:
                    txn.chunks += data[:take]
                txn.chunk_size += take
            del data[:take]
            self.left -= take
        return not self.left


class Survey:
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
