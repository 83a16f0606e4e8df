"""What the server saw: messages, sessions, the transcript, violations and errors.

Public records are frozen snapshots. The :class:`Recorder` is the only mutable
part: the server thread writes to it under a lock, readers get copies. A record
is written before the reply it belongs to is sent, so when a synchronous client
call returns, its record is already there.
"""

from __future__ import annotations

import enum
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar, overload

from .message import Attachment, Message, SessionSource
from .protocol import Command, Reply, Violation

__all__ = [
    "Attachment",
    "Ending",
    "Message",
    "Observer",
    "Record",
    "Recorder",
    "Refusal",
    "ServerError",
    "Session",
    "SessionSource",
    "Transcript",
    "TranscriptLine",
    "Watch",
]

_T = TypeVar("_T")

#: How many lines of message content a rendered transcript shows.
CONTENT_LINES_SHOWN = 5

#: With ``keep``, how many commands, replies and transcript entries are kept per
#: message kept: a message takes at least 8 entries (MAIL, RCPT and DATA with
#: their replies, the content and the final reply), so the transcript holds the
#: content of at most about ``keep`` messages beside the messages themselves.
KEPT_PER_MESSAGE = 8


class Ending(str, enum.Enum):
    """How a session ended."""

    QUIT = "quit"  #: the client sent QUIT
    CLIENT_CLOSED = "client closed"  #: the client closed the connection without QUIT
    TIMEOUT = "timeout"  #: a command or content line took longer than ``timeout``: 421 and closed
    SERVER_CLOSED = "server closed"  #: 421 sent (scripted or not), or the server stopped
    DISCONNECT = "scripted disconnect"  #: a rule's ``.disconnect()``
    ERROR = "error"  #: a socket or TLS error

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Session:
    """One client connection, from accept to close (a snapshot)."""

    id: int
    peer: tuple[str, int]
    started_at: float
    helo_name: str | None = None
    #: "HELO" or "EHLO" ("LHLO" in LMTP): which greeting the client used.
    greeting: str | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    auth_user: str | None = None
    auth_mechanism: str | None = None
    #: With ``proxy_protocol``: the socket's own peer (the proxy), while
    #: ``peer`` is the client its PROXY header names; None without the option.
    proxy_peer: tuple[str, int] | None = None
    #: The PROXY version 2 header's TLVs, ``(type, value)`` in the order sent.
    proxy_tlvs: tuple[tuple[int, bytes], ...] = ()
    commands: tuple[Command, ...] = ()
    replies: tuple[Reply, ...] = ()
    messages: tuple[Message, ...] = ()
    violations: tuple[Violation, ...] = ()
    ended: Ending | None = None
    ended_at: float | None = None

    @property
    def esmtp(self) -> bool:
        """True when the client greeted with EHLO."""
        return self.greeting == "EHLO"

    @property
    def tls(self) -> bool:
        """True once TLS is in force on this connection."""
        return self.tls_version is not None

    @property
    def active(self) -> bool:
        """True while the connection is open."""
        return self.ended is None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of the transcript: ``direction`` is ``"C"`` (client) or ``"S"`` (server).

    A message's content is one line whose ``content`` holds the data; ``text``
    is then what ends it (``.``). AUTH secrets are already masked in ``text``.
    """

    session_id: int
    direction: str
    text: str
    time: float
    content: bytes | None = None


class Transcript:
    """Every line both ways, in order. ``str()`` renders it RFC 5321 style.

    It iterates, indexes and sizes like a sequence of :class:`TranscriptLine`;
    ``"C: QUIT" in transcript`` looks for a rendered line.
    """

    __slots__ = ("_lines", "_peers")

    def __init__(self, lines: Sequence[TranscriptLine], peers: Mapping[int, tuple[str, int]]) -> None:
        self._lines = tuple(lines)
        self._peers = dict(peers)

    @overload
    def __getitem__(self, index: int) -> TranscriptLine: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[TranscriptLine]: ...
    def __getitem__(self, index: int | slice) -> TranscriptLine | Sequence[TranscriptLine]:
        return self._lines[index]

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[TranscriptLine]:
        return iter(self._lines)

    def __contains__(self, text: object) -> bool:
        """``"C: MAIL FROM:<a@b>" in transcript`` looks for a rendered line."""
        if isinstance(text, str):
            return any(text == line or line.startswith(text) for line in self.render_lines())
        return text in self._lines

    def render_lines(self, content_lines: int = CONTENT_LINES_SHOWN) -> list[str]:
        """The rendered lines, grouped by session in order of connection."""
        order: dict[int, list[TranscriptLine]] = {}
        for line in self._lines:
            order.setdefault(line.session_id, []).append(line)
        out: list[str] = []
        for sid, lines in order.items():
            host, port = self._peers.get(sid, ("?", 0))
            peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            out.append(f"--- session {sid} from {peer} ---")
            for line in lines:
                if line.content is None:
                    out.append(f"{line.direction}: {line.text}")
                    continue
                parts = line.content.split(b"\r\n")
                if parts and parts[-1] == b"":
                    parts.pop()
                for part in parts[:content_lines]:
                    out.append(f"C: {part.decode('utf-8', 'backslashreplace')}")
                if len(parts) > content_lines:
                    out.append(f"C: ... ({len(parts) - content_lines} more lines, {len(line.content)} octets in all)")
                out.append(f"C: {line.text}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.render_lines())

    def __repr__(self) -> str:
        return f"<Transcript of {len(self._lines)} lines>"


#: A transcript entry as recorded: (session, direction, what, time).
_Entry = tuple[int, str, "str | Command | Reply | tuple[str, bytes]", float]


def _expand(entries: Sequence[_Entry]) -> list[TranscriptLine]:
    lines: list[TranscriptLine] = []
    for sid, direction, item, when in entries:
        if isinstance(item, str):
            lines.append(TranscriptLine(sid, direction, item, when))
        elif isinstance(item, Reply):
            lines.extend(TranscriptLine(sid, direction, line, when) for line in item.lines)
        elif isinstance(item, Command):
            lines.append(TranscriptLine(sid, direction, item.line.decode("utf-8", "backslashreplace"), when))
        else:
            end, content = item
            lines.append(TranscriptLine(sid, direction, end, when, content=content))
    return lines


@dataclass(frozen=True, slots=True)
class ServerError:
    """An exception raised in the server thread (a hook, a predicate, the server)."""

    exception: BaseException
    session_id: int | None
    where: str

    def format(self) -> str:
        """The exception with its traceback, as text."""
        return "".join(traceback.format_exception(type(self.exception), self.exception, self.exception.__traceback__))


@dataclass(frozen=True, slots=True)
class Refusal:
    """A recipient refused at RCPT, or a message refused at DATA or BDAT or after
    its content: each 4xx or 5xx reply that kept mail from being delivered,
    scripted or not."""

    session_id: int
    #: The envelope sender, when a transaction had begun.
    sender: str | None
    #: The refused recipient; None when the whole message was refused.
    recipient: str | None
    #: The message's recipients, when the whole message was refused.
    recipients: tuple[str, ...]
    reply: Reply

    def __str__(self) -> str:
        what = (
            f"recipient {self.recipient!r}" if self.recipient is not None else f"message to {list(self.recipients)!r}"
        )
        sender = "" if self.sender is None else f" from {self.sender!r}"
        return f"{what}{sender}: {self.reply.code} {' '.join(self.reply.text.splitlines())}".rstrip()


@dataclass(slots=True)
class _SessionState:
    id: int
    peer: tuple[str, int]
    started_at: float
    helo_name: str | None = None
    greeting: str | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    auth_user: str | None = None
    auth_mechanism: str | None = None
    proxy_peer: tuple[str, int] | None = None
    proxy_tlvs: tuple[tuple[int, bytes], ...] = ()
    # Lists, or deques bounded by the recorder's ``keep``.
    commands: MutableSequence[Command] = field(default_factory=list)
    replies: MutableSequence[Reply] = field(default_factory=list)
    messages: MutableSequence[Message] = field(default_factory=list)
    violations: MutableSequence[Violation] = field(default_factory=list)
    ended: Ending | None = None
    ended_at: float | None = None
    #: What this session's messages read it through; detached when it is forgotten.
    link: _SessionLink | None = None

    def forget(self) -> None:
        """The recorder no longer keeps this session: its messages' link lets go of it."""
        if self.link is not None:
            self.link.state = None

    def snapshot(self) -> Session:
        return Session(
            id=self.id,
            peer=self.peer,
            started_at=self.started_at,
            helo_name=self.helo_name,
            greeting=self.greeting,
            tls_version=self.tls_version,
            tls_cipher=self.tls_cipher,
            auth_user=self.auth_user,
            auth_mechanism=self.auth_mechanism,
            proxy_peer=self.proxy_peer,
            proxy_tlvs=self.proxy_tlvs,
            commands=tuple(self.commands),
            replies=tuple(self.replies),
            messages=tuple(self.messages),
            violations=tuple(self.violations),
            ended=self.ended,
            ended_at=self.ended_at,
        )


class _SessionLink:
    """A message's way to its session (a :data:`SessionSource`): the session's own
    record, read under the recorder's lock, while the recorder keeps it.

    The message holds this, not the recorder. When the session is forgotten the
    link lets go of it, which also breaks the cycle message, link, session,
    message: the forgotten records are freed at once, not by the cyclic collector.
    """

    __slots__ = ("_lock", "sid", "state")

    def __init__(self, lock: threading.Lock, state: _SessionState) -> None:
        self._lock = lock
        self.sid = state.id
        self.state: _SessionState | None = state

    def __call__(self) -> Session:
        with self._lock:
            state = self.state
            if state is None:
                raise LookupError(f"session {self.sid} is not recorded (cleared?)")
            return state.snapshot()


#: What an observer is handed, one call per record as it is made: a transcript
#: line (a command, a client line, each line of a reply, a message's content),
#: an accepted :class:`Message`, a :class:`Violation`, a :class:`ServerError`,
#: or the :class:`Session` that just ended.
Record = TranscriptLine | Message | Violation | ServerError | Session | Refusal

#: The kinds of :data:`Record`, for :meth:`Recorder.subscribe`'s ``kinds``.
RECORD_KINDS: tuple[type, ...] = (TranscriptLine, Message, Violation, ServerError, Session, Refusal)

#: An observer: called on the recording thread, after the record is stored and
#: outside the recorder's lock, so it may read the recorder. It must be quick.
Observer = Callable[[Record], None]


class Recorder:
    """The thread-safe store behind a server's records.

    The server thread calls the ``record_*`` methods; everyone else reads
    snapshots. There is one way to observe what is recorded:

    - :meth:`wait` blocks until a predicate over the records holds; it is
      re-checked after every record (no polling).
    - :meth:`subscribe` calls an observer with each record as it is made.

    Both cost the server nothing while nobody waits or observes. Hooks are for
    deciding replies, never for watching.

    ``keep`` bounds what is kept, for a server left running: the last ``keep``
    messages, violations and errors; every open session and the last ``keep``
    ended ones; in a session, its last ``keep`` messages and violations and its
    last ``KEPT_PER_MESSAGE * keep`` commands and replies; and the last
    ``KEPT_PER_MESSAGE * keep`` transcript entries. Older records are dropped,
    in O(1) per record. None (the default) keeps everything.
    """

    def __init__(self, keep: int | None = None) -> None:
        # Writers take the bare lock (the condition's own) and notify only when
        # someone waits: a Condition's ``with`` costs two Python calls on every command.
        self._lock = threading.Lock()
        self.changed = _Changes(self._lock)
        self._waiters = 0
        # Replaced, never mutated, so writers read them without the lock: every
        # subscription, and per kind of record the observers that want it.
        self._subscribed(())
        self.keep = keep
        self._per_message = None if keep is None else KEPT_PER_MESSAGE * keep
        self._sessions: dict[int, _SessionState] = {}
        # Ended sessions in the order they ended, while ``keep`` bounds them.
        self._ended: deque[int] = deque()
        self._messages: deque[Message] = deque(maxlen=keep)
        self._accepted = 0
        # Entries are kept as recorded and turned into TranscriptLines when read:
        # recording stays cheap on the server thread.
        self._transcript: deque[_Entry] = deque(maxlen=self._per_message)
        self._violations: deque[Violation] = deque(maxlen=keep)
        self._errors: deque[ServerError] = deque(maxlen=keep)
        self._refusals: deque[Refusal] = deque(maxlen=keep)
        self._next_session = 1

    # Writing (server thread) ------------------------------------------------------

    def open_session(self, peer: tuple[str, int]) -> int:
        with self._lock:
            sid = self._next_session
            self._next_session += 1
            keep = self.keep
            if keep is None:
                state = _SessionState(sid, peer, time.time())
            else:
                per_message = self._per_message
                state = _SessionState(
                    sid,
                    peer,
                    time.time(),
                    commands=deque(maxlen=per_message),
                    replies=deque(maxlen=per_message),
                    messages=deque(maxlen=keep),
                    violations=deque(maxlen=keep),
                )
            state.link = _SessionLink(self._lock, state)
            self._sessions[sid] = state
            if self._waiters:
                self.changed.notify_all()
            return sid

    def record_command(self, sid: int, command: Command) -> None:
        """Record a command (AUTH secrets are already masked in it)."""
        now = time.time()
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.commands.append(command)
            self._transcript.append((sid, "C", command, now))
            if self._waiters:
                self.changed.notify_all()
        if self._line_observers:
            self._tell(self._line_observers, _expand([(sid, "C", command, now)]))

    def record_client_line(self, sid: int, text: str) -> None:
        """A client line that is not a command (an AUTH response), already masked."""
        now = time.time()
        with self._lock:
            if sid not in self._sessions:
                return
            self._transcript.append((sid, "C", text, now))
            if self._waiters:
                self.changed.notify_all()
        if self._line_observers:
            self._tell(self._line_observers, [TranscriptLine(sid, "C", text, now)])

    def record_reply(self, sid: int, reply: Reply) -> None:
        now = time.time()
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.replies.append(reply)
            self._transcript.append((sid, "S", reply, now))
            if self._waiters:
                self.changed.notify_all()
        if self._line_observers:
            self._tell(self._line_observers, _expand([(sid, "S", reply, now)]))

    def record_exchange(self, sid: int, command: Command, reply: Reply) -> None:
        """Record a command and the reply to it at once (what nothing scripted
        needs: one lock and one clock read for the two)."""
        now = time.time()
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.commands.append(command)
            state.replies.append(reply)
            transcript = self._transcript
            transcript.append((sid, "C", command, now))
            transcript.append((sid, "S", reply, now))
            if self._waiters:
                self.changed.notify_all()
        if self._line_observers:
            self._tell(self._line_observers, _expand([(sid, "C", command, now), (sid, "S", reply, now)]))

    def record_content(self, sid: int, content: bytes, end: str) -> None:
        now = time.time()
        with self._lock:
            if sid not in self._sessions:
                return
            self._transcript.append((sid, "C", (end, content), now))
            if self._waiters:
                self.changed.notify_all()
        if self._line_observers:
            self._tell(self._line_observers, [TranscriptLine(sid, "C", end, now, content=content)])

    def record_message(self, message: Message) -> Message:
        with self._lock:
            state = self._sessions.get(message.session_id)
            if state is None:
                return message
            state.messages.append(message)
            self._messages.append(message)
            self._accepted += 1
            if self._waiters:
                self.changed.notify_all()
        if self._message_observers:
            self._tell(self._message_observers, [message])
        return message

    def record_violations(self, sid: int, violations: Sequence[Violation]) -> None:
        if not violations:
            return
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            stamped = [replace(v, session_id=sid) for v in violations]
            state.violations.extend(stamped)
            self._violations.extend(stamped)
            if self._waiters:
                self.changed.notify_all()
        if self._violation_observers:
            self._tell(self._violation_observers, stamped)

    def record_error(self, error: ServerError) -> None:
        with self._lock:
            self._errors.append(error)
            if self._waiters:
                self.changed.notify_all()
        if self._error_observers:
            self._tell(self._error_observers, [error])

    def record_refusal(self, refusal: Refusal) -> None:
        with self._lock:
            if refusal.session_id not in self._sessions:
                return
            self._refusals.append(refusal)
            if self._waiters:
                self.changed.notify_all()
        if self._refusal_observers:
            self._tell(self._refusal_observers, [refusal])

    def record_greeting(self, sid: int, verb: str, name: str | None) -> None:
        """The client greeted with ``verb`` (HELO or EHLO) and ``name``, and it was accepted."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.greeting, state.helo_name = verb, name
            if self._waiters:
                self.changed.notify_all()

    def record_auth(self, sid: int, user: str | None, mechanism: str | None) -> None:
        """The client authenticated as ``user`` with ``mechanism``."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.auth_user, state.auth_mechanism = user, mechanism
            if self._waiters:
                self.changed.notify_all()

    def record_proxy(self, sid: int, proxy_peer: tuple[str, int]) -> None:
        """The connection comes through a proxy at ``proxy_peer`` (``proxy_protocol``)."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.proxy_peer = proxy_peer
            if self._waiters:
                self.changed.notify_all()

    def record_proxy_header(self, sid: int, peer: tuple[str, int], tlvs: tuple[tuple[int, bytes], ...]) -> None:
        """The PROXY header named ``peer`` as the client (or kept the socket's), with ``tlvs``."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.peer, state.proxy_tlvs = peer, tlvs
            if self._waiters:
                self.changed.notify_all()

    def record_tls(self, sid: int, version: str | None, cipher: str | None) -> None:
        """TLS is in force with ``version`` and ``cipher``."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None:
                return
            state.tls_version, state.tls_cipher = version, cipher
            if self._waiters:
                self.changed.notify_all()

    def end_session(self, sid: int, how: Ending, snapshot: bool = True) -> Session | None:
        """Record how a session ended; the first call wins. Returns its snapshot when
        this call ended it and ``snapshot`` is true (for the hook), else None."""
        with self._lock:
            state = self._sessions.get(sid)
            if state is None or state.ended is not None:
                return None
            state.ended = how
            state.ended_at = time.time()
            if self.keep is not None:
                self._forget_ended(sid)
            if self._waiters:
                self.changed.notify_all()
            observers = self._session_observers
            observed = state.snapshot() if snapshot or observers else None
        if observed is not None and observers:
            self._tell(observers, [observed])
        return observed if snapshot else None

    def _forget_ended(self, sid: int) -> None:
        """Keep the last ``keep`` ended sessions (under the lock): drop the oldest beyond."""
        ended = self._ended
        ended.append(sid)
        if len(ended) > (self.keep or 0):
            forgotten = self._sessions.pop(ended.popleft(), None)
            if forgotten is not None:
                forgotten.forget()

    # Observing (any thread) -------------------------------------------------------

    def subscribe(self, observer: Observer, kinds: Iterable[type] | None = None) -> Callable[[], None]:
        """Call ``observer`` with each record from now on; returns the function
        that unsubscribes it.

        ``kinds`` narrows it to some kinds of :data:`Record` (say ``(Message,)``);
        records nobody asked for are not even made. The observer runs on the
        recording thread, in the order of recording, after the record is stored
        (so it may read the recorder). An exception it raises is kept in
        :attr:`errors`, and recording goes on.
        """
        wanted = frozenset(RECORD_KINDS if kinds is None else kinds)
        unknown = wanted - set(RECORD_KINDS)
        if unknown:
            names = ", ".join(sorted(k.__name__ for k in unknown))
            known = ", ".join(k.__name__ for k in RECORD_KINDS)
            raise ValueError(f"not a kind of record: {names}; the kinds are {known}")
        with self._lock:
            self._subscribed((*self._subscriptions, (observer, wanted)))

        def unsubscribe() -> None:
            with self._lock:
                self._subscribed(tuple(s for s in self._subscriptions if s[0] is not observer))

        return unsubscribe

    def _subscribed(self, subscriptions: tuple[tuple[Observer, frozenset[type]], ...]) -> None:
        def wanting(kind: type) -> tuple[Observer, ...]:
            return tuple(observer for observer, kinds in subscriptions if kind in kinds)

        self._subscriptions = subscriptions
        self._line_observers = wanting(TranscriptLine)
        self._message_observers = wanting(Message)
        self._violation_observers = wanting(Violation)
        self._error_observers = wanting(ServerError)
        self._session_observers = wanting(Session)
        self._refusal_observers = wanting(Refusal)

    def _tell(self, observers: tuple[Observer, ...], records: Sequence[Record]) -> None:
        for observer in observers:
            for record in records:
                try:
                    observer(record)
                except Exception as exc:
                    # Kept without telling the observers again: one failing
                    # observer must not recurse through the error it made.
                    with self._lock:
                        self._errors.append(ServerError(exc, None, f"observer {observer!r}"))
                        if self._waiters:
                            self.changed.notify_all()
                    break

    # Reading (any thread) ------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        with self.changed:
            return list(self._messages)

    @property
    def sessions(self) -> list[Session]:
        with self.changed:
            return [s.snapshot() for s in self._sessions.values()]

    def session_source(self, sid: int) -> SessionSource | None:
        """What a message of session ``sid`` reads its session through (None when not kept)."""
        state = self._sessions.get(sid)
        return None if state is None else state.link

    def session(self, sid: int) -> Session:
        with self.changed:
            state = self._sessions.get(sid)
            if state is None:
                raise LookupError(f"session {sid} is not recorded (cleared?)")
            return state.snapshot()

    @property
    def transcript(self) -> Transcript:
        with self.changed:
            entries = list(self._transcript)
            peers = {sid: s.peer for sid, s in self._sessions.items()}
        return Transcript(_expand(entries), peers)

    @property
    def violations(self) -> list[Violation]:
        with self.changed:
            return list(self._violations)

    @property
    def errors(self) -> list[ServerError]:
        with self.changed:
            return list(self._errors)

    @property
    def refusals(self) -> list[Refusal]:
        with self.changed:
            return list(self._refusals)

    def watch(self) -> Watch:
        """A :class:`Watch`: wait for "anything recorded since I last looked" while
        reading the records (with the public properties) outside the lock."""
        return Watch(self)

    def wait(self, predicate: Callable[[], _T], timeout: float) -> _T:
        """Block until ``predicate()`` is true, or time runs out; return its last value.

        ``predicate`` is called under the lock (so it must not read the
        recorder's public properties; use the ``*_unlocked`` views), first at
        once and then after every record.
        """
        with self.changed:
            self._waiters += 1
            try:
                return self.changed.wait_for(predicate, timeout)
            finally:
                self._waiters -= 1

    def wake(self) -> None:
        """Wake every waiter (the server stopped)."""
        with self.changed:
            self.changed.notify_all()

    def messages_unlocked(self) -> Sequence[Message]:
        """The live message list; only for predicates run by :meth:`wait`."""
        return self._messages

    @property
    def accepted(self) -> int:
        """How many messages were recorded since the last :meth:`clear`, also
        those that ``keep`` has dropped since (read it under the lock or alone)."""
        return self._accepted

    def messages_since(self, accepted: int) -> tuple[list[Message], int]:
        """The messages recorded after the first ``accepted`` ones (as many of
        them as are still kept) and the new total; ``accepted`` past the total
        (the records were cleared since) counts from nothing again."""
        with self._lock:
            total = self._accepted
            if accepted > total:
                accepted = 0
            kept = self._messages
            fresh = min(total - accepted, len(kept))
            # Indexing from the right end of a deque is O(1): no copy of the rest.
            return [kept[i] for i in range(len(kept) - fresh, len(kept))], total

    def clear(self, *, keep_errors: bool = False) -> None:
        """Forget every record. Sessions still open keep being recorded."""
        with self.changed:
            self._messages.clear()
            self._accepted = 0
            self._transcript.clear()
            self._violations.clear()
            self._refusals.clear()
            self._ended.clear()
            if not keep_errors:
                self._errors.clear()
            for sid, state in list(self._sessions.items()):
                if state.ended is not None:
                    del self._sessions[sid]
                    state.forget()
                else:
                    state.commands.clear()
                    state.replies.clear()
                    state.messages.clear()
                    state.violations.clear()


class _Changes(threading.Condition):
    """The recorder's condition; it counts its notifications, so that a
    :class:`Watch` knows whether something was recorded while it looked away."""

    count = 0

    def notify_all(self) -> None:
        self.count += 1
        super().notify_all()


class Watch:
    """Counts as a waiter of a :class:`Recorder` from ``with`` to its end (so every
    record notifies); :meth:`wait` returns once anything was recorded (or the
    server stopped) since the watch began or since the last :meth:`wait`."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._seen = 0

    def __enter__(self) -> Watch:
        recorder = self._recorder
        with recorder.changed:
            recorder._waiters += 1
            self._seen = recorder.changed.count
        return self

    def __exit__(self, *exc: object) -> None:
        recorder = self._recorder
        with recorder.changed:
            recorder._waiters -= 1

    def wait(self, timeout: float) -> bool:
        """Block until something was recorded since the last look; False on timeout."""
        changes = self._recorder.changed
        with changes:
            changed = changes.wait_for(lambda: changes.count != self._seen, timeout)
            self._seen = changes.count
            return changed
