"""The debugging server: ``python -m pytest_smtpd`` (or ``pytest-smtpd``).

It runs the same :class:`~pytest_smtpd.SMTPServer` the ``smtpd`` fixture uses,
in the foreground, and prints one line per accepted message; with ``-v`` it also
prints the SMTP transcript as it happens. It replaces
``python -m smtpd -n -c DebuggingServer``, which Python 3.12 removed::

    $ python -m pytest_smtpd --save mail/
    pytest-smtpd listening on 127.0.0.1:1025
    Press Ctrl-C to stop.
    2025-01-31 12:00:00 #1 from <app@example.com> to <alice@example.com> subject 'Welcome!' 1234 bytes -> (wrapped)
        mail/1-20250131-120000.eml

Exit status: 0 when stopped by Ctrl-C (SIGINT) or SIGTERM, 2 for a bad option,
1 when the server cannot listen (port taken, no permission).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from .errors import ConfigurationError, StartError
from .protocol import Command, Reply
from .records import Message, Session, Transcript, TranscriptLine
from .server import SMTPServer

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025

#: How long one ``wait_for`` call blocks before the loop calls it again; signals interrupt it at once.
_WAIT_SECONDS = 3600.0


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
    parser.add_argument("--save", metavar="DIR", type=Path, help="save each message as DIR/<n>-<timestamp>.eml")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the SMTP transcript as it happens (AUTH secrets masked)"
    )
    return parser


def _user_password(value: str) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:PASS, not {value!r}")
    return user, password


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the debugging server until SIGINT or SIGTERM; return the exit status."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    args = build_parser().parse_args(argv)
    options: dict[str, object] = {"host": args.host, "port": args.port}
    if args.starttls:
        options["starttls"] = True
    if args.auth:
        options["users"] = dict(args.auth)
    if args.save is not None:
        try:
            args.save.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"pytest-smtpd: error: cannot create --save directory {args.save}: {exc.strerror}", file=stderr)
            return 2
    console = _Console(stdout, verbose=args.verbose)
    try:
        server = SMTPServer(**options)
        server.hooks = console.hooks()
        server.start()
    except ConfigurationError as exc:
        print(f"pytest-smtpd: error: {exc}", file=stderr, flush=True)
        return 2
    except StartError as exc:
        print(f"pytest-smtpd: error: {exc}", file=stderr, flush=True)
        return 1
    try:
        with _StopOnSignals():
            console.listening(server, options)
            _serve(server, console, args.save)
    except KeyboardInterrupt:
        pass
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            server.stop()
        finally:
            signal.signal(signal.SIGINT, previous)
    console.stopped(len(server.messages))
    return 0


def _serve(server: SMTPServer, console: _Console, save: Path | None) -> None:
    """Report each accepted message, in order, until interrupted."""
    seen = 0
    while True:
        try:
            # Wakes on each accepted message; the timeout only bounds one call.
            messages = server.wait_for(count=seen + 1, timeout=_WAIT_SECONDS)
        except AssertionError:
            continue
        for message in messages[seen:]:
            seen += 1
            path = _save(message, seen, save) if save is not None else None
            console.accepted(seen, message, path)


def _save(message: Message, number: int, directory: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(message.received_at))
    path = directory / f"{number}-{stamp}.eml"
    path.write_bytes(message.data)
    return path


class _StopOnSignals:
    """Turn SIGTERM into KeyboardInterrupt (as SIGINT already is) while in the block."""

    def __init__(self) -> None:
        self._previous: signal.Handlers | Callable[[int, FrameType | None], object] | int | None = None

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGTERM, _interrupt)

    def __exit__(self, *exc_info: object) -> None:
        # Restore what was there (matters when main() runs inside another program).
        previous = self._previous
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Console:
    """What the server prints; the transcript part runs in the server thread, as hooks."""

    def __init__(self, out: TextIO, verbose: bool) -> None:
        self._out = out
        self._verbose = verbose
        self._lock = threading.Lock()
        self._server: SMTPServer | None = None
        self._shown = 0  # transcript lines printed (or skipped)
        self._printed_replies: dict[int, int] = {}  # session id -> reply lines printed ahead of the record
        self._peers: dict[int, tuple[str, int]] = {}
        self._last_session: int | None = None

    def hooks(self) -> _TranscriptHooks | None:
        return _TranscriptHooks(self) if self._verbose else None

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    def listening(self, server: SMTPServer, options: dict[str, object]) -> None:
        self._server = server
        host, port = server.address
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        offers = []
        if options.get("starttls"):
            offers.append("STARTTLS")
        users = options.get("users")
        if isinstance(users, dict):
            offers.append("AUTH for " + ", ".join(sorted(users)))
        with self._lock:
            self._print(f"pytest-smtpd listening on {where}" + (f" ({'; '.join(offers)})" if offers else ""))
            ca_file = getattr(server, "ca_file", None) if options.get("starttls") else None
            if ca_file is not None:
                self._print(f"test CA certificate (for clients to trust): {ca_file}")
            self._print("Press Ctrl-C to stop.")

    def accepted(self, number: int, message: Message, path: Path | None) -> None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(message.received_at))
        recipients = ", ".join(f"<{r}>" for r in message.recipients)
        subject = repr(message.subject) if message.subject is not None else "(no subject)"
        line = f"{when} #{number} from <{message.sender}> to {recipients} subject {subject} {message.size} bytes"
        if path is not None:
            line += f" -> {path}"
        with self._lock:
            self._print(line)

    def stopped(self, count: int) -> None:
        with self._lock:
            self._print(f"pytest-smtpd stopped ({count} message{'' if count == 1 else 's'} accepted)")

    # Transcript (server thread) ---------------------------------------------------

    def show_reply(self, session: Session, reply: Reply) -> None:
        """Print what was recorded so far, then ``reply``, which is about to be recorded and sent."""
        with self._lock:
            self._peers[session.id] = session.peer
            self._flush()
            self._emit(session.id, [f"S: {line}" for line in reply.lines])
            self._printed_replies[session.id] = self._printed_replies.get(session.id, 0) + len(reply.lines)

    def show_rest(self, session: Session) -> None:
        with self._lock:
            self._peers[session.id] = session.peer
            self._flush()

    def _flush(self) -> None:
        if self._server is None:
            return
        lines = self._server.transcript[self._shown :]
        self._shown += len(lines)
        for line in lines:
            if line.direction == "S" and self._printed_replies.get(line.session_id, 0) > 0:
                self._printed_replies[line.session_id] -= 1
                continue
            self._emit(line.session_id, _render(line))

    def _emit(self, session_id: int, lines: list[str]) -> None:
        if session_id != self._last_session:
            host, port = self._peers.get(session_id, ("?", 0))
            peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self._print(f"--- session {session_id} from {peer} ---")
            self._last_session = session_id
        for text in lines:
            self._print(text)


def _render(line: TranscriptLine) -> list[str]:
    """One transcript line as ``Transcript`` renders it (content abbreviated), without the session header."""
    return Transcript([line], {}).render_lines()[1:]


class _TranscriptHooks:
    """The server's hooks (see ``ServerHooks``): they print and leave every reply as it is."""

    def __init__(self, console: _Console) -> None:
        self._console = console
        self.reply: Callable[[Session, Command, Reply], Reply | tuple[int, str] | None] | None = self._reply
        self.message: Callable[[Session, Message, Reply], Reply | tuple[int, str] | None] | None = self._message
        self.session_ended: Callable[[Session], None] | None = console.show_rest

    def _reply(self, session: Session, command: Command, reply: Reply) -> None:
        self._console.show_reply(session, reply)

    def _message(self, session: Session, message: Message, reply: Reply) -> None:
        self._console.show_reply(session, reply)
