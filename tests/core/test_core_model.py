"""A model-based test of the protocol core: random valid and invalid command
sequences, each answered with the core's own reply or a scripted one, checked
against a small model of the session and of the messages that must have been
accepted. ``SMTPD_HEAVY=1`` runs many more and longer sequences."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from smtp_core_driver import Driver

from pytest_smtpd.protocol import (
    ALLOWED,
    CLIENT_ERROR_CODES,
    ERROR_LIMIT,
    Command,
    Event,
    MessageReceived,
    ProtocolConfig,
    Reply,
    State,
)

HEAVY = os.environ.get("SMTPD_HEAVY") == "1"
MAX_EXAMPLES = 2000 if HEAVY else 100
STEPS = 60 if HEAVY else 30

MAX_RECIPIENTS = 3
CONFIG = ProtocolConfig(max_recipients=MAX_RECIPIENTS)
REPLY_LINE = re.compile(rb"([2-5][0-9]{2})([ -])[^\r\n]*\r\n")

#: How the next event is answered: the core's own reply, or a scripted one.
CHOICE = st.sampled_from(["default"] * 8 + ["2xx", "2xx", "4xx", "5xx", "503", "421"])
SCRIPTED = {
    "4xx": Reply(451, "4.3.0 scripted"),
    "5xx": Reply(550, "5.7.1 scripted"),
    "503": Reply(503, "5.5.1 scripted"),  # a scripted error never counts towards ERROR_LIMIT
    "421": Reply(421, "4.3.2 scripted"),
}
OK = Reply(250, "2.0.0 scripted")
GO_AHEAD = Reply(354, "scripted go ahead")

LOCAL = st.text(alphabet="abcxyz019.-_+", min_size=1, max_size=8).filter(
    lambda w: not w.startswith(".") and not w.endswith(".") and ".." not in w
)
ADDRESS = st.builds("{}@{}.example".format, LOCAL, st.sampled_from(["x", "mail.y", "z-1"]))
#: MAIL/RCPT argument shapes: (kind, address) -> wire argument.
PATH_KINDS = st.sampled_from(["valid", "valid", "valid", "null", "bare", "nested", "long-local", "unknown-param"])
GARBAGE = st.sampled_from([b"XYZZY", b"HELLO there", b"", b"\x00\x01", b"%%%", b"MAIL", b"\xff\xfe RCPT"])
#: Lines that are commands when read as commands: message content and chunks
#: hold them, and none may ever be taken as one.
COMMAND_LIKE = st.sampled_from(
    [b"RSET", b"MAIL FROM:<mallory@evil.example>", b"RCPT TO:<x@y.example>", b"DATA", b"QUIT", b"BDAT 3 LAST", b"NOOP"]
)
LINE = st.one_of(
    st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"", b".", b"..", b".x", b"Subject: hi", b"\xe2\x82\xac"]),
    COMMAND_LIKE,
)
#: A chunk: any octets, or command lines (a whole injected transaction among them).
CHUNK = st.one_of(
    st.binary(max_size=20),
    st.lists(COMMAND_LIKE, min_size=1, max_size=6).map(lambda lines: b"".join(line + b"\r\n" for line in lines)),
)
#: BDAT headers that are wrong but give the chunk size: the chunk is read and discarded.
SIZED_BAD_BDAT = st.sampled_from([b"BDAT %d FINAL", b"BDAT %d LAST MORE", b"BDAT %d NOW"])
#: BDAT headers without a readable size: the end of the chunk is unknowable.
UNSIZED_BDAT = st.sampled_from([b"BDAT", b"BDAT abc", b"BDAT -%d", b"BDAT %dx LAST", b"BDAT +%d", b"BDAT LAST"])


@dataclass
class Txn:
    sender: str
    recipients: list[str] = field(default_factory=list)
    attempts: int = 0
    chunks: bytes = b""
    failed: bool = False


def path_argument(keyword: str, kind: str, address: str) -> tuple[str, str | None]:
    """(argument as sent, the address the core parses from it, if any)."""
    if kind == "null":
        return f"{keyword}<>", ""
    if kind == "bare":
        return f"{keyword}{address}", None
    if kind == "nested":
        return f"{keyword}<<{address}>>", None
    if kind == "long-local":
        long = "l" * 65 + "@x.example"
        return f"{keyword}<{long}>", long
    if kind == "unknown-param":
        return f"{keyword}<{address}> XFOO=1", address
    return f"{keyword}<{address}>", address


def path_default(kind: str, rcpt: bool) -> int:
    """The core's reply to a MAIL or RCPT in sequence, by the shape of its argument."""
    if kind in ("bare", "nested", "long-local") or (rcpt and kind == "null"):
        return 501
    if kind == "unknown-param":
        return 555
    return 250


def stuff(lines: list[bytes]) -> bytes:
    """RFC 5321 §4.5.2, the client side: double a leading period."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


class CoreModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        #: (sender, recipients, data) of every message the model says was accepted.
        self.accepted: list[tuple[str, tuple[str, ...], bytes]] = []
        self.delivered: list[tuple[str, tuple[str, ...], bytes]] = []
        self.driver = Driver(CONFIG, decide=self.decide)
        self.start_session()

    # The model ---------------------------------------------------------------

    def connect(self) -> None:
        self.delivered += [(m.sender, m.recipients, m.data) for m in self.driver.messages]
        self.driver = Driver(CONFIG, decide=self.decide)
        self.start_session()

    def start_session(self) -> None:
        self.state = State.INITIAL
        self.greeting: str | None = None
        self.txn: Txn | None = None
        self.errors = 0
        self.choice = "default"
        self.positive = OK
        self.defaults: list[Reply] = []

    def decide(self, event: Event, default: Reply) -> Reply:
        conn = self.driver.conn
        if isinstance(event, Command) and event.verb in ALLOWED and default.positive:
            # The core proposes success only where the state table allows the command.
            assert conn.state in ALLOWED[event.verb], (event, conn.state)
        if isinstance(event, MessageReceived):
            assert conn.state in (State.DATA, State.RCPT, State.BDAT)
        self.defaults.append(default)
        if self.choice == "default":
            return default
        if self.choice == "2xx":
            return self.positive
        return SCRIPTED[self.choice]

    def predicted(self, code: int) -> int:
        if code in CLIENT_ERROR_CODES and self.errors + 1 >= ERROR_LIMIT:
            return 421
        return code

    def exchange(self, data: bytes, code: int, choice: str, positive: Reply = OK) -> Reply:
        """Send ``data`` (one command, or one message's content); check the core's
        proposal against ``code`` and return the reply it was answered with."""
        answered = len(self.driver.answered)
        self.choice, self.positive = choice, positive
        out = self.driver.feed(data)
        assert len(self.driver.answered) == answered + 1, self.driver.answered[answered:]
        _, reply = self.driver.answered[-1]
        default = self.defaults[-1]
        assert default.code == self.predicted(code), (data, default, self.errors)
        assert out == reply.to_bytes()
        assert all(REPLY_LINE.fullmatch(line) for line in out.splitlines(keepends=True)), out
        if reply.positive:
            self.errors = 0
        elif reply == default and reply.code in CLIENT_ERROR_CODES:
            self.errors += 1
        if reply.code == 421:
            event("421 from the error limit" if default.code == reply.code == 421 else "421 scripted")
            self.close()
        return reply

    def close(self) -> None:
        """The session is over; the client connects again."""
        assert self.driver.conn.state is State.CLOSED
        assert self.driver.feed(b"NOOP\r\n") == b""
        self.state = State.CLOSED
        self.txn = None
        self.connect()

    def deliver(self, session: Driver, txn: Txn, reply: Reply, data: bytes) -> None:
        """The end of a message: accepted on 2xx; the transaction ends either way."""
        if 200 <= reply.code < 300:
            event(f"message accepted with {len(txn.recipients)} recipient(s)")
            self.accepted.append((txn.sender, tuple(txn.recipients), data))
        if self.driver is session:
            self.txn = None
            self.state = State.READY

    def answer(self, choices: list[str]) -> str:
        return choices.pop(0) if choices else "default"

    # Commands ----------------------------------------------------------------

    @rule()
    def reconnect(self) -> None:
        self.connect()

    @rule(verb=st.sampled_from(["HELO", "EHLO"]), name=st.sampled_from(["client.example", ""]), choice=CHOICE)
    def hello(self, verb: str, name: str, choice: str) -> None:
        reply = self.exchange(f"{verb} {name}\r\n".encode(), 250 if name else 501, choice)
        if 200 <= reply.code < 300:
            self.greeting = verb
            self.txn = None
            self.state = State.READY

    @rule(kind=PATH_KINDS, address=ADDRESS, body8=st.booleans(), choice=CHOICE)
    def mail(self, kind: str, address: str, body8: bool, choice: str) -> None:
        argument, parsed = path_argument("FROM:", kind, address)
        if body8:
            argument += " BODY=8BITMIME"
        # A scripted 2xx takes effect with the address, else the whole argument.
        sender = parsed if parsed is not None else argument
        if self.state is not State.READY:
            code, sender = 503, argument
        else:
            code = path_default(kind, rcpt=False)
            if code == 250 and body8 and self.greeting != "EHLO":
                code = 555  # BODY is an extension, unknown after HELO
        reply = self.exchange(f"MAIL {argument}\r\n".encode(), code, choice)
        if 200 <= reply.code < 300:
            self.txn = Txn(sender)
            self.state = State.MAIL

    @rule(kind=PATH_KINDS, address=ADDRESS, choice=CHOICE)
    def rcpt(self, kind: str, address: str, choice: str) -> None:
        argument, parsed = path_argument("TO:", kind, address)
        recipient = parsed if parsed is not None else argument
        if self.state not in (State.MAIL, State.RCPT):
            code, recipient = 503, argument
        else:
            assert self.txn is not None
            code = path_default(kind, rcpt=True)
            if code == 250 and len(self.txn.recipients) >= MAX_RECIPIENTS:
                code = 452
        session = self.driver
        reply = self.exchange(f"RCPT {argument}\r\n".encode(), code, choice)
        if self.txn is not None and self.driver is session:
            self.txn.attempts += 1
            if 200 <= reply.code < 300:
                self.txn.recipients.append(recipient)
                self.state = State.RCPT

    def sequence_refusal(self) -> int:
        if self.state is State.MAIL and self.txn is not None and self.txn.attempts:
            return 554
        return 503

    @rule(lines=st.lists(LINE, max_size=6), choice=CHOICE, final=CHOICE)
    def data(self, lines: list[bytes], choice: str, final: str) -> None:
        code = 354 if self.state is State.RCPT else self.sequence_refusal()
        reply = self.exchange(b"DATA\r\n", code, choice, GO_AHEAD)
        if reply.code != 354 or self.txn is None:
            assert not self.driver.conn.in_data
            return
        self.state = State.DATA
        assert self.driver.conn.in_data
        txn, session = self.txn, self.driver
        content = b"".join(line + b"\r\n" for line in lines)
        reply = self.exchange(stuff(lines) + b".\r\n", 250, final)
        self.deliver(session, txn, reply, content)

    @rule(chunk=CHUNK, last=st.booleans(), choice=CHOICE)
    def bdat(self, chunk: bytes, last: bool, choice: str) -> None:
        if self.state not in (State.RCPT, State.BDAT):
            code: int | None = self.sequence_refusal()
        elif self.greeting != "EHLO":
            code = 502  # CHUNKING is only in force after EHLO
        else:
            code = None
        wire = b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk
        txn, session = self.txn, self.driver
        failed = code is None and txn is not None and txn.failed
        reply = self.exchange(wire, 503 if failed else code or 250, choice)
        if failed and not last and 200 <= reply.code < 300 and self.driver is session and self.state is State.RCPT:
            self.state = State.BDAT  # a scripted 2xx takes effect, even here
        if code is not None or failed:
            return
        assert txn is not None
        if last:
            self.deliver(session, txn, reply, txn.chunks + chunk)
        elif 200 <= reply.code < 300 and self.driver is session:
            txn.chunks += chunk
            self.state = State.BDAT
        elif self.driver is session:
            txn.failed = True  # RFC 3030 §2: no chunk may follow a refused one

    def chunk_refusal(self) -> int:
        """The core's reply to a BDAT after its chunk when it cannot take the chunk."""
        if self.state not in (State.RCPT, State.BDAT):
            return self.sequence_refusal()
        return 502 if self.greeting != "EHLO" else 501

    @rule(header=SIZED_BAD_BDAT, chunk=CHUNK, choice=CHOICE)
    def bdat_bad_header(self, header: bytes, chunk: bytes, choice: str) -> None:
        """RFC 3030 §2: the chunk of a refused BDAT is read and discarded, never
        executed (``exchange`` checks that exactly one event was answered)."""
        header = header.replace(b"%d", b"%d" % len(chunk))
        session, txn = self.driver, self.txn
        in_transaction = self.state in (State.RCPT, State.BDAT)
        reply = self.exchange(header + b"\r\n" + chunk, self.chunk_refusal(), choice)
        if self.driver is session and txn is not None and in_transaction and not 200 <= reply.code < 300:
            txn.failed = True  # a refused chunk fails the transaction

    @rule(header=UNSIZED_BDAT, chunk=CHUNK, choice=CHOICE)
    def bdat_without_size(self, header: bytes, chunk: bytes, choice: str) -> None:
        """No readable size: 501 and the session ends, whatever the reply, so no
        byte after the header is ever read as a command."""
        header = header.replace(b"%d", b"%d" % max(len(chunk), 1))
        session = self.driver
        self.exchange(header + b"\r\n" + chunk, 501, choice)
        if self.driver is session:
            self.close()

    @rule(choice=CHOICE)
    def rset(self, choice: str) -> None:
        reply = self.exchange(b"RSET\r\n", 250, choice)
        if 200 <= reply.code < 300:
            self.txn = None
            if self.state is not State.INITIAL:
                self.state = State.READY

    @rule(choice=CHOICE)
    def noop(self, choice: str) -> None:
        self.exchange(b"NOOP\r\n", 250, choice)

    @rule(choice=CHOICE)
    def quit(self, choice: str) -> None:
        reply = self.exchange(b"QUIT\r\n", 221, choice)
        if reply.code == 221:
            self.close()

    @rule(lines=st.lists(GARBAGE, min_size=1, max_size=ERROR_LIMIT + 5), choice=CHOICE)
    def garbage(self, lines: list[bytes], choice: str) -> None:
        for line in lines:
            code = 501 if line == b"MAIL" and self.state is State.READY else 500
            if line == b"MAIL" and self.state is not State.READY:
                code = 503
            session = self.driver
            reply = self.exchange(line + b"\r\n", code, choice)
            if self.driver is not session:
                break
            if line == b"MAIL" and 200 <= reply.code < 300:
                self.txn = Txn("")
                self.state = State.MAIL

    @rule(extra=st.integers(-2, 2))
    def error_storm(self, extra: int) -> None:
        """Enough client errors in a row to reach the limit, or just short of it."""
        self.garbage([b"XYZZY"] * (ERROR_LIMIT - self.errors + extra), "default")

    @rule(
        recipients=st.lists(ADDRESS, min_size=1, max_size=MAX_RECIPIENTS + 1),
        chunks=st.lists(st.binary(max_size=10), max_size=3),
        lines=st.lists(LINE, max_size=4),
        bdat=st.booleans(),
        choices=st.lists(CHOICE, max_size=8),
        bad=st.one_of(
            st.none(), st.tuples(st.just(True), SIZED_BAD_BDAT, CHUNK), st.tuples(st.just(False), UNSIZED_BDAT, CHUNK)
        ),
    )
    def transaction(
        self,
        recipients: list[str],
        chunks: list[bytes],
        lines: list[bytes],
        bdat: bool,
        choices: list[str],
        bad: tuple[bool, bytes, bytes] | None,
    ) -> None:
        """A whole (mostly valid) transaction, so that messages do get accepted."""
        session = self.driver
        if self.greeting is None:
            self.hello("EHLO", "client.example", self.answer(choices))
        if self.driver is session:
            self.mail("valid", "sender@x.example", False, self.answer(choices))
        for recipient in recipients:
            if self.driver is session:
                self.rcpt("valid", recipient, self.answer(choices))
        if bdat:
            for chunk in chunks:
                if self.driver is session:
                    self.bdat(chunk, False, self.answer(choices))
            if bad is not None and self.driver is session:
                # A malformed BDAT in the middle of the transaction.
                sized, header, chunk = bad
                if sized:
                    self.bdat_bad_header(header, chunk, self.answer(choices))
                else:
                    self.bdat_without_size(header, chunk, self.answer(choices))
            if self.driver is session:
                self.bdat(b"end", True, self.answer(choices))
        elif self.driver is session:
            self.data(lines, self.answer(choices), self.answer(choices))

    # What must hold after every step ---------------------------------------------

    @invariant()
    def state_matches_the_model(self) -> None:
        assert self.driver.conn.state is self.state

    @invariant()
    def accepted_messages_match_the_model(self) -> None:
        got = [(m.sender, m.recipients, m.data) for m in self.driver.messages]
        assert self.delivered + got == self.accepted


CoreModel.TestCase.settings = settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None)
TestCoreModel = CoreModel.TestCase
