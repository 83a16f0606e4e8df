"""The debugging server: ``python -m pytest_smtpd`` (or ``pytest-smtpd``).

It runs the same :class:`~pytest_smtpd.SMTPServer` the ``smtpd`` fixture uses,
in the foreground, and prints one line per accepted message (with ``--json``,
one JSON object); with ``-v`` it also prints the SMTP transcript as it happens.
It replaces ``python -m smtpd -n -c DebuggingServer``, which Python 3.12 removed::

    $ python -m pytest_smtpd --save mail/
    pytest-smtpd listening on 127.0.0.1:1025
    Press Ctrl-C to stop.
    2025-01-31 12:00:00 #1 from <app@example.com> to <alice@example.com> subject 'Welcome!' 1234 bytes -> (wrapped)
        mail/1-20250131-120000.eml

It is a sink that can be left running: the server keeps only the last ``--keep``
messages in memory. The server thread hands each record to the main thread
through a queue (it only enqueues, and waits when the console is 1000 records
behind, so memory stays bounded when the output blocks); the main thread saves
and prints, reading each record once. On SIGINT or SIGTERM the server stops,
and everything it recorded is still saved and printed before the process exits.

Exit status: 0 when stopped by Ctrl-C (SIGINT) or SIGTERM, 2 for a bad option,
1 when the server cannot listen (port taken, no permission).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import NamedTuple, TextIO

from .errors import ConfigurationError, StartError
from .records import RECORD_KINDS, Message, Record, ServerError, Session, Transcript, TranscriptLine
from .server import SMTPServer

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025
DEFAULT_KEEP = 100

#: Records handled before the lines they made are written (one write for a burst).
_BATCH = 256
#: Seconds the console waits after writing before it looks for more (a line is at most this late).
_LINGER = 0.02


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m pytest_smtpd``."""
    parser = argparse.ArgumentParser(
        prog="pytest-smtpd",
        description=(
            "Run pytest-smtpd's SMTP server in the foreground: print a line for each message it accepts, "
            "optionally save them as .eml files. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one, printed on the first line)",
    )
    parser.add_argument("--starttls", action="store_true", help="offer STARTTLS (needs the 'tls' extra)")
    parser.add_argument(
        "--auth",
        action="append",
        metavar="USER:PASS",
        type=_user_password,
        default=[],
        help="offer AUTH and accept this account (repeat for more accounts)",
    )
    parser.add_argument(
        "--lmtp",
        action="store_true",
        help="speak LMTP (RFC 2033) instead of SMTP: LHLO, and one reply per recipient after the content",
    )
    parser.add_argument(
        "--proxy-protocol",
        action="store_true",
        help="expect a PROXY protocol v1 or v2 header first (behind HAProxy, say); the client is the one it names",
    )
    parser.add_argument("--save", metavar="DIR", type=Path, help="save each message as DIR/<n>-<timestamp>.eml")
    parser.add_argument(
        "--keep",
        metavar="N",
        type=_count,
        default=DEFAULT_KEEP,
        help=f"keep at most N messages (and as many ended sessions) in memory (default {DEFAULT_KEEP}; 0 keeps none)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per message on stdout (everything else goes to stderr)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the SMTP transcript as it happens (AUTH secrets masked)"
    )
    return parser


def _user_password(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:PASS, not {value!r}")
    return user, password


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a number of messages (0 or more), not {value!r}")
    return number


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the debugging server until SIGINT or SIGTERM; return the exit status."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    options: dict[str, object] = {"host": args.host, "port": args.port, "keep": args.keep}
    if args.starttls:
        options["starttls"] = True
    if args.auth:
        options["users"] = dict(args.auth)
    if args.lmtp:
        options["lmtp"] = True
    if args.proxy_protocol:
        options["proxy_protocol"] = True
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"pytest-smtpd: error: cannot create --save directory {args.save}: {exc.strerror}", file=stderr)
            return 2
    # With --json, stdout carries only the JSON lines.
    console = _Console(stdout, stderr if args.json else stdout, stderr, args.json, args.save)
    backlog = _Backlog()
    with _stop_on_signals(backlog):
        try:
            server = SMTPServer(**options)
            kinds = RECORD_KINDS if args.verbose else (Message, ServerError)
            server.subscribe(_observer(server, backlog, args.verbose), kinds)
            server.start()
        except ConfigurationError as exc:
            print(f"pytest-smtpd: error: {exc}", file=stderr, flush=True)
            return 2
        except StartError as exc:
            print(f"pytest-smtpd: error: {exc}", file=stderr, flush=True)
            return 1
        try:
            console.listening(server, options)
            _serve(backlog, console)
        finally:
            # The server thread must not wait for room while it is stopped.
            backlog.release()
            server.stop()
        # Stopped: nothing more is recorded. What was, is still shown.
        _drain(backlog, console)
    console.stopped()
    return 0


#: Put in the queue by the signal handlers: stop serving.
_STOP = object()


class _Backlog:
    """The records on their way from the server thread to the console, bounded.

    The server thread only puts (``SimpleQueue.put``, in C). Once ``high``
    records wait to be shown (the console's output blocks: a paused pager, a
    full pipe, a slow disk for ``--save``), the server thread waits too, and its
    clients wait for their replies, until the console is down to ``low``: memory
    stays bounded and no line is lost. :meth:`release` ends the waiting for good
    (the server is stopping).
    """

    def __init__(self, high: int = 1000, low: int = 250) -> None:
        self.records: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.high, self.low = high, low
        self._room = threading.Event()
        self._room.set()
        self._released = False

    def put(self, record: object) -> None:
        """Queue a record (server thread); wait while the backlog is full."""
        records = self.records
        records.put(record)
        if records.qsize() >= self.high and not self._released:
            self._room.clear()
            # The console may have taken records since: only wait when still full
            # (it sets the event once down to ``low``, after this clear or not).
            if records.qsize() >= self.high and not self._released:
                self._room.wait()

    def taken(self) -> None:
        """The console took records: make room once it is down to ``low``."""
        if not self._room.is_set() and self.records.qsize() <= self.low:
            self._room.set()

    def stop(self) -> None:
        """Ask the console to stop (safe in a signal handler: never waits)."""
        self.records.put(_STOP)

    def release(self) -> None:
        """Never wait again; wake the server thread if it waits."""
        self._released = True
        self._room.set()


@contextmanager
def _stop_on_signals(backlog: _Backlog) -> Iterator[None]:
    """While in the block, SIGINT and SIGTERM enqueue a stop instead of raising.

    The main thread then never loses a record it was handling to a
    KeyboardInterrupt. ``SimpleQueue.put`` may be called from a signal handler.
    """

    def stop(signum: int, frame: FrameType | None) -> None:
        backlog.stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        # Restore what was there (matters when main() runs inside another program).
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _observer(server: SMTPServer, backlog: _Backlog, verbose: bool) -> Callable[[Record], None]:
    """What runs on the server thread for each record: pass on what the console needs, nothing more."""
    put = backlog.put
    if not verbose:
        return put  # subscribed to messages and errors only

    peers: dict[int, tuple[str, int]] = {}  # sessions seen and not ended

    def observe_all(record: Record) -> None:
        if type(record) is TranscriptLine:
            sid = record.session_id
            if sid not in peers:
                # The session is open (it just recorded a line), so it is kept.
                peers[sid] = peer = server.session(sid).peer
                put(_Peer(sid, peer))
        elif type(record) is Session:
            peers.pop(record.id, None)
        put(record)

    return observe_all


class _Peer(NamedTuple):
    """A session's id and peer, sent ahead of its first transcript line."""

    sid: int
    peer: tuple[str, int]


def _serve(backlog: _Backlog, console: _Console) -> None:
    """Show records as they come, until a signal asks to stop."""
    records = backlog.records
    get, get_nowait, taken = records.get, records.get_nowait, backlog.taken
    while True:
        item = get()  # a signal handler's put wakes it
        shown = 0
        while item is not _STOP:
            console.show(item)
            shown += 1
            if shown == _BATCH:
                break
            try:
                item = get_nowait()
            except queue.Empty:
                break
        console.flush()
        # After the write: while the output blocks, the backlog stays full.
        taken()
        if item is _STOP:
            return
        # Let a burst gather: one wake-up and one write for many messages
        # instead of a thread switch per message on the server's critical path.
        time.sleep(_LINGER)


def _drain(backlog: _Backlog, console: _Console) -> None:
    """Show what is left in the queue (the server has stopped)."""
    while True:
        try:
            item = backlog.records.get_nowait()
        except queue.Empty:
            break
        if item is not _STOP:
            console.show(item)
    console.flush()


class _Console:
    """What the debugging server prints and saves; used by the main thread only."""

    def __init__(self, out: TextIO, chat: TextIO, err: TextIO, as_json: bool, save: Path | None) -> None:
        self._out = out  # message lines
        self._chat = chat  # banner, transcript, the closing line
        self._err = err
        self._json = as_json
        self._save = save
        self._lines: list[str] = []  # for ``_out``, written by ``flush``
        # One list when both go to one stream, so that lines keep their order.
        self._chat_lines: list[str] = self._lines if chat is out else []
        self._count = 0
        self._peers: dict[int, tuple[str, int]] = {}
        self._last_session: int | None = None
        self._clock = _Clock()

    def listening(self, server: SMTPServer, options: dict[str, object]) -> None:
        host, port = server.address
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        offers = []
        if options.get("lmtp"):
            offers.append("LMTP")
        if options.get("proxy_protocol"):
            offers.append("PROXY protocol header first")
        if options.get("starttls"):
            offers.append("STARTTLS")
        users = options.get("users")
        if isinstance(users, dict):
            offers.append("AUTH for " + ", ".join(sorted(users)))
        self._chat_lines.append(f"pytest-smtpd listening on {where}" + (f" ({'; '.join(offers)})" if offers else ""))
        ca_file = server.ca_file if options.get("starttls") else None
        if ca_file is not None:
            self._chat_lines.append(f"test CA certificate (for clients to trust): {ca_file}")
        self._chat_lines.append("Press Ctrl-C to stop.")
        self.flush()

    def show(self, item: object) -> None:
        """Handle one record from the queue."""
        if type(item) is Message:
            self._accepted(item)
        elif type(item) is TranscriptLine:
            self._transcript_line(item)
        elif type(item) is _Peer:
            sid, peer = item
            self._peers[sid] = peer
        elif type(item) is Session:
            self._peers.pop(item.id, None)
        elif isinstance(item, ServerError):
            self.flush()
            print(f"pytest-smtpd: error in the server thread ({item.where}):\n{item.format()}", file=self._err)
            self._err.flush()

    def _accepted(self, message: Message) -> None:
        # Under load the server thread waits for the GIL while this runs: what
        # repeats from message to message (the second, the encoder) is made once.
        self._count += 1
        number = self._count
        path = self._write(message, number) if self._save is not None else None
        subject = subject_of(message.data)
        if self._json:
            record = {
                "number": number,
                "received_at": self._clock.iso_milliseconds(message.received_at),
                "sender": message.sender,
                "recipients": list(message.recipients),
                "subject": subject,
                "size": len(message.data),
                "path": None if path is None else str(path),
            }
            self._lines.append(_JSON.encode(record))
            return
        recipients = message.recipients
        to = f"<{'>, <'.join(recipients)}>" if recipients else ""
        shown = repr(subject) if subject is not None else "(no subject)"
        line = (
            f"{self._clock.local(message.received_at)} #{number} from <{message.sender}> to {to}"
            f" subject {shown} {len(message.data)} bytes"
        )
        if path is not None:
            line += f" -> {path}"
        self._lines.append(line)

    def _write(self, message: Message, number: int) -> Path | None:
        """Save the message atomically: a temporary name in the same folder, then a rename."""
        assert self._save is not None
        name = f"{number}-{self._clock.file_stamp(message.received_at)}.eml"
        path = self._save / name
        temporary = self._save / f".{name}.tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(message.data)
            os.replace(temporary, path)
        except OSError as exc:
            self.flush()
            print(f"pytest-smtpd: error: cannot save message #{number} as {path}: {exc}", file=self._err, flush=True)
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return None
        return path

    def _transcript_line(self, line: TranscriptLine) -> None:
        sid = line.session_id
        if sid != self._last_session:
            host, port = self._peers.get(sid, ("?", 0))
            peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self._chat_lines.append(f"--- session {sid} from {peer} ---")
            self._last_session = sid
        self._chat_lines.extend(_render(line))

    def flush(self) -> None:
        """Write the lines made so far, each stream's in one write."""
        for stream, lines in ((self._chat, self._chat_lines), (self._out, self._lines)):
            if lines:  # (both are one list when the streams are one)
                stream.write("\n".join(lines) + "\n")
                stream.flush()
                lines.clear()

    def stopped(self) -> None:
        count = self._count
        self._chat_lines.append(f"pytest-smtpd stopped ({count} message{'' if count == 1 else 's'} accepted)")
        self.flush()


#: Encodes ``--json`` lines; made once, as ``json.dumps(record, ensure_ascii=False)`` would make it each time.
_JSON = json.JSONEncoder(ensure_ascii=False)


class _Clock:
    """A message's time as the console prints it, formatted once per second.

    Messages come many to a second under load; each format here is the one
    ``time.strftime`` or ``datetime.isoformat`` gives for that timestamp.
    """

    def __init__(self) -> None:
        #: ``2025-01-31 12:00:00``, local time: the time on a message's line.
        self.local = _LocalSecond("%Y-%m-%d %H:%M:%S")
        #: ``20250131-120000``, local time: the timestamp in a ``--save`` file name.
        self.file_stamp = _LocalSecond("%Y%m%d-%H%M%S")
        self._utc: tuple[int, str] = (-1, "")

    def iso_milliseconds(self, timestamp: float) -> str:
        """``2025-01-31T12:00:00.123+00:00``: ``datetime.fromtimestamp(timestamp, timezone.utc)
        .isoformat(timespec="milliseconds")``, which rounds to the microsecond (half to even),
        then cuts to the millisecond."""
        fraction, whole = math.modf(timestamp)
        micro = round(fraction * 1e6)
        if micro >= 1_000_000:
            micro -= 1_000_000
            whole += 1.0
        elif micro < 0:
            micro += 1_000_000
            whole -= 1.0
        second = int(whole)
        if second != self._utc[0]:
            self._utc = (second, datetime.fromtimestamp(second, timezone.utc).isoformat()[:19])
        return f"{self._utc[1]}.{micro // 1000:03d}+00:00"


class _LocalSecond:
    """``time.strftime(pattern)`` of a timestamp's second, local time, formatted
    once per second (``time.localtime`` rounds down to the second)."""

    __slots__ = ("_format", "_second", "_text")

    def __init__(self, pattern: str) -> None:
        self._format = pattern
        self._second = -1
        self._text = ""

    def __call__(self, timestamp: float) -> str:
        second = math.floor(timestamp)
        if second != self._second:
            self._second, self._text = second, time.strftime(self._format, time.localtime(second))
        return self._text


def _render(line: TranscriptLine) -> list[str]:
    """One transcript line as ``Transcript`` renders it (content abbreviated), without the session header."""
    return Transcript([line], {}).render_lines()[1:]


#: A blank line: the end of the header section (RFC 5322 §2.1), also with bare LF.
_HEADER_END = re.compile(rb"\n\r?\n")
#: A Subject field's value and its folded continuation lines (RFC 5322 §2.2.3), after ``subject:``.
_SUBJECT_VALUE = re.compile(rb"[ \t]*(.*(?:\n[ \t].*)*)")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def subject_of(data: bytes) -> str | None:
    """The decoded Subject of raw message content, read from its header section only.

    Only the header section is searched (a message without a blank line is all
    header); nothing is parsed or kept beyond the field itself. Encoded words
    (RFC 2047) are decoded as ``Message.subject`` decodes them.
    """
    if data.startswith((b"\r\n", b"\n")):
        return None  # no header section at all
    end = _HEADER_END.search(data)
    limit = end.start() + 1 if end is not None else len(data)
    # Field names are case-insensitive (RFC 5322 §1.2.2); a lowered copy of the
    # header section and ``find`` cost a fraction of a case-insensitive regex
    # tried at every offset.
    header = data[:limit].lower()
    at = header.find(b"subject:")
    while at > 0 and header[at - 1] != 0x0A:  # a field starts a line
        at = header.find(b"subject:", at + 1)
    if at < 0:
        return None
    found = _SUBJECT_VALUE.match(data, at + 8, limit)
    assert found is not None  # it matches the empty string
    raw = _FOLD.sub(b"", found.group(1)).rstrip(b"\r\n\t ")
    text = raw.decode("utf-8", "replace")
    if "=?" in text:
        from email.policy import default

        try:
            return str(default.header_factory("Subject", text))
        except Exception:  # a malformed encoded word: show it as sent
            return text
    return text
