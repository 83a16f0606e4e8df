"""Conformance with a real MTA: the same conversations, sent byte for byte to
pytest-smtpd and to a private Postfix instance, must get replies of the same
class (2xx, 3xx, 4xx, 5xx, or the connection closed) at every step, and an
enhanced status code (RFC 2034) on the same replies.

The conversations are written from the RFCs (RFC 5321, 1870, 2034, 2920, 3030,
3461, 6152, 6531). Where the RFCs leave the server a choice and the two differ
by policy, the step is in :data:`ALLOWED` with the reason; an allowed
difference that no longer occurs fails too, so the list stays true. Skipped
with the reason when Postfix is absent or cannot be started (it needs root).
"""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from postfix_instance import SIZE_LIMIT, start_postfix

from pytest_smtpd import SMTPServer

Step = bytes | tuple[bytes, int]  # what to send, and how many replies it gets (1 when bare)

E = b"EHLO client.example\r\n"
H = b"HELO client.example\r\n"
M = b"MAIL FROM:<alice@example.com>\r\n"
R = b"RCPT TO:<bob@example.org>\r\n"
D = b"DATA\r\n"
MSG = b"Subject: test\r\n\r\nbody\r\n.\r\n"
NOOP = b"NOOP\r\n"
RSET = b"RSET\r\n"
QUIT = b"QUIT\r\n"
#: A chunk that, read as commands, is a whole transaction from another sender.
INJECTED = b"RSET\r\nMAIL FROM:<mallory@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nforged\r\n.\r\n"
#: 245 octets: a local part of 64, a domain of 180 in DNS labels of at most 63 (RFC 1035 §2.3.4).
LONG_ADDRESS = b"l" * 64 + b"@" + b"d" * 56 + b"." + b"e" * 57 + b"." + b"f" * 57 + b".example"


def mail(params: bytes) -> bytes:
    return b"MAIL FROM:<alice@example.com> " + params + b"\r\n"


def rcpt(address: bytes, params: bytes = b"") -> bytes:
    return b"RCPT TO:<" + address + b">" + (b" " + params if params else b"") + b"\r\n"


CONVERSATIONS: dict[str, list[Step]] = {
    # RFC 5321 §4.1.1: the commands and their sequence.
    "ehlo-noop-rset-quit": [E, NOOP, RSET, QUIT],
    "helo-transaction": [H, M, R, D, MSG, QUIT],
    "ehlo-transaction": [E, M, R, D, MSG, QUIT],
    "ehlo-helo-without-domain": [b"EHLO\r\n", b"HELO\r\n", E],
    "ehlo-again-resets-the-transaction": [E, M, R, E, D],
    "helo-again-resets-the-transaction": [E, M, R, H, D],
    "mail-before-helo": [M, R],
    "rcpt-before-mail": [E, R],
    "data-before-mail": [E, D],
    "data-before-rcpt": [E, M, D],
    "nested-mail": [E, M, M],
    "rset-ends-the-transaction": [E, M, R, RSET, D],
    "noop-with-argument": [E, b"NOOP hello\r\n"],
    "rset-with-argument": [E, b"RSET now\r\n"],
    "vrfy": [E, b"VRFY bob@example.org\r\n", b"VRFY\r\n"],
    "help": [E, b"HELP\r\n"],
    "expn": [E, b"EXPN staff\r\n"],
    "unknown-and-empty-commands": [E, b"XYZZY\r\n", b"\r\n", NOOP],
    "lower-case-verbs": [
        b"ehlo c.example\r\n",
        b"mail from:<a@example.com>\r\n",
        b"rcpt to:<b@example.org>\r\n",
        D,
        MSG,
    ],
    "starttls-not-offered": [E, b"STARTTLS\r\n", NOOP],
    "auth-not-offered": [E, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", NOOP],
    "quit-ends": [E, QUIT, NOOP],
    # RFC 5321 §4.1.2, §4.5.3.1: envelope syntax.
    "null-reverse-path": [E, b"MAIL FROM:<>\r\n", R, D, MSG],
    "space-before-path": [E, b"MAIL FROM: <alice@example.com>\r\n", b"RCPT TO: <bob@example.org>\r\n"],
    "path-without-brackets": [E, b"MAIL FROM:alice@example.com\r\n", M, b"RCPT TO:bob@example.org\r\n"],
    "empty-forward-path": [E, M, b"RCPT TO:<>\r\n"],
    "source-routes": [
        E,
        b"MAIL FROM:<@relay.example:alice@example.com>\r\n",
        rcpt(b"@a.example,@b.example:bob@example.org"),
    ],
    "quoted-local-parts": [E, b'MAIL FROM:<"alice smith"@example.com>\r\n', rcpt(b'"b>c"@example.org'), D, MSG],
    "quoted-local-part-with-gt": [E, b'MAIL FROM:<"a>b"@example.org>\r\n', R, D, MSG],
    "address-literal": [E, b"MAIL FROM:<alice@[127.0.0.1]>\r\n", R],
    "postmaster-without-domain": [E, M, b"RCPT TO:<postmaster>\r\n", b"RCPT TO:<Postmaster>\r\n", D, MSG],
    "recipient-without-domain": [E, M, rcpt(b"bob")],
    "local-part-of-65-octets": [E, M, rcpt(b"l" * 65 + b"@example.org")],
    "junk-after-the-path": [E, b"MAIL FROM:<alice@example.com>junk\r\n"],
    "keyword-without-colon": [E, b"MAIL FROM <alice@example.com>\r\n", b"RCPT <bob@example.org>\r\n"],
    "unclosed-path": [E, b"MAIL FROM:<alice@example.com\r\n"],
    # RFC 6531: SMTPUTF8.
    "non-ascii-sender-without-smtputf8": [E, "MAIL FROM:<jörg@example.com>\r\n".encode(), M],
    "non-ascii-recipient-without-smtputf8": [E, M, "RCPT TO:<jörg@example.org>\r\n".encode(), R],
    "smtputf8-transaction": [
        E,
        "MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".encode(),
        "RCPT TO:<用户@example.org>\r\n".encode(),
        D,
        MSG,
    ],
    "smtputf8-with-a-value": [E, mail(b"SMTPUTF8=yes")],
    # RFC 1870: SIZE; RFC 6152: BODY.
    "size-declared": [E, mail(b"SIZE=1000"), R, D, MSG],
    "size-over-the-limit": [E, mail(b"SIZE=%d" % (SIZE_LIMIT * 2)), M],
    "size-not-a-number": [E, mail(b"SIZE=abc"), mail(b"SIZE=")],
    "body-values": [E, mail(b"BODY=8BITMIME"), RSET, mail(b"BODY=7BIT"), RSET, mail(b"BODY=FOO")],
    "unknown-parameter": [E, mail(b"XFOO=1"), M],
    "rcpt-parameter-on-mail": [E, mail(b"NOTIFY=NEVER")],
    "parameters-after-helo": [H, mail(b"SIZE=1000"), R],
    # RFC 3461: DSN parameters.
    "ret-and-envid": [E, mail(b"RET=FULL ENVID=abc+2Bdef"), RSET, mail(b"RET=HDRS"), RSET, mail(b"RET=NONE")],
    "ret-twice": [E, mail(b"RET=FULL RET=HDRS"), M],
    "envid-twice": [E, mail(b"ENVID=a ENVID=b"), M],
    "envid-not-xtext": [E, mail(b"ENVID=a+zz")],
    "notify-values": [
        E,
        M,
        rcpt(b"bob@example.org", b"NOTIFY=SUCCESS,FAILURE,DELAY"),
        rcpt(b"c@example.org", b"NOTIFY=NEVER"),
    ],
    "notify-null-elements": [
        E,
        M,
        rcpt(b"bob@example.org", b"NOTIFY=SUCCESS,,FAILURE"),
        rcpt(b"c@example.org", b"NOTIFY=SUCCESS,"),
    ],
    "notify-bad": [
        E,
        M,
        rcpt(b"bob@example.org", b"NOTIFY=NEVER,SUCCESS"),
        rcpt(b"bob@example.org", b"NOTIFY=SOMETIMES"),
    ],
    "notify-twice": [E, M, rcpt(b"bob@example.org", b"NOTIFY=NEVER NOTIFY=NEVER"), R],
    "orcpt-values": [
        E,
        M,
        rcpt(b"bob@example.org", b"ORCPT=rfc822;bob@example.org"),
        rcpt(b"c@example.org", b"ORCPT=rfc822;c+2Bd@example.org"),
    ],
    "orcpt-bad": [
        E,
        M,
        rcpt(b"bob@example.org", b"ORCPT=rfc822;a+zz@example.com"),
        rcpt(b"bob@example.org", b"ORCPT=;alice@example.com"),
        rcpt(b"bob@example.org", b"ORCPT=rfc822"),
    ],
    "orcpt-twice": [E, M, rcpt(b"bob@example.org", b"ORCPT=rfc822;a@example.com ORCPT=rfc822;b@example.com"), R],
    # RFC 5321 §4.5.3.1.4 and the extensions that raise the command line limit.
    "rcpt-made-long-by-dsn": [E, M, rcpt(LONG_ADDRESS, b"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;" + LONG_ADDRESS), D, MSG],
    "mail-made-long-by-parameters": [
        E,
        mail(b"SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=" + b"e" * 100),
        R,
        D,
        MSG,
    ],
    "noop-over-512-octets": [E, b"NOOP " + b"x" * 600 + b"\r\n", NOOP],
    # RFC 5321 §4.5.2, §4.1.1.4: DATA.
    "data-with-argument": [E, M, R, b"DATA now\r\n", D, MSG],
    "dot-stuffing": [E, M, R, D, b"..leading dot\r\n...\r\n.\r\n"],
    "empty-message": [E, M, R, D, b".\r\n"],
    "message-over-the-size-limit": [E, M, R, D, (b"x" * 998 + b"\r\n") * (SIZE_LIMIT // 1000 + 50) + b".\r\n", NOOP],
    "bare-cr-does-not-end-data": [E, M, R, D, b"one\r\n.\rMAIL FROM:<m@example.net>\r\n.\r\n", NOOP],
    "bare-lf-in-content": [E, M, R, D, b"one\nMAIL FROM:<m@example.net>\n.\n\r\n.\r\n", NOOP],
    # RFC 2920: pipelining.
    "pipelined-transaction": [E, (M + R + rcpt(b"carol@example.org") + D, 4), MSG, QUIT],
    "pipelined-after-the-content": [E, M, R, D, (MSG + M + R, 3), D, MSG],
    "pipelined-with-errors": [E, (mail(b"SIZE=abc") + M + rcpt(b"bob") + R + D, 5), MSG],
    # RFC 3030: CHUNKING.
    "bdat-single-chunk": [E, M, R, b"BDAT 12 LAST\r\nSubject: x\r\n", NOOP],
    "bdat-several-chunks": [E, M, R, b"BDAT 3\r\nabc", b"BDAT 3\r\ndef", b"BDAT 0 LAST\r\n", NOOP],
    "bdat-last-in-lower-case": [E, M, R, b"BDAT 2 last\r\nab", NOOP],
    "bdat-chunk-of-commands-is-content": [E, M, R, b"BDAT %d\r\n" % len(INJECTED) + INJECTED, b"BDAT 0 LAST\r\n", NOOP],
    "bdat-before-mail": [E, b"BDAT 6 LAST\r\nNOOP\r\n", NOOP],
    "bdat-after-helo": [H, M, R, b"BDAT 4 LAST\r\nabcd", NOOP],
    "bdat-bad-end-marker": [E, M, R, b"BDAT 5 FINAL\r\nhello", NOOP],
    "bdat-without-size": [E, M, R, b"BDAT\r\n" + INJECTED, NOOP],
    "bdat-size-not-a-number": [E, M, R, b"BDAT abc\r\n" + INJECTED, NOOP],
    "bdat-negative-size": [E, M, R, b"BDAT -5\r\n" + INJECTED, NOOP],
    "bdat-size-with-junk": [E, M, R, b"BDAT 1x LAST\r\n" + INJECTED, NOOP],
    "data-after-bdat": [E, M, R, b"BDAT 2\r\nab", D, b"BDAT 1 LAST\r\nc"],
    "bdat-over-the-size-limit": [E, M, R, b"BDAT %d LAST\r\n" % (SIZE_LIMIT + 1000) + b"x" * (SIZE_LIMIT + 1000), NOOP],
    "rset-between-chunks": [E, M, R, b"BDAT 3\r\nabc", RSET, M, R, b"BDAT 1 LAST\r\nz"],
    # Octets that are not commands.
    "nul-in-a-command": [E, b"NO\x00OP\r\n", NOOP],
    "binary-line": [E, b"\xff\xfe\xfd\r\n", NOOP],
    "cr-in-a-command": [E, b"NOOP\rRSET\r\n", NOOP],
    "eight-bit-verb": [E, "NÖOP\r\n".encode(), NOOP],
    "space-before-the-verb": [E, b" NOOP\r\n", NOOP],
    "command-ended-by-bare-lf": [b"EHLO client.example\n", NOOP],
}

_HELO_REQUIRED = (
    "HELO required: RFC 5321 §4.1.4, a client MUST send EHLO or HELO first; pytest-smtpd answers 503 "
    "where Postfix (smtpd_helo_required = no) takes the MAIL"
)
_BRACKETS = (
    "strict envelope syntax: RFC 5321 §4.1.2, a Path is in angle brackets; Postfix "
    "(strict_rfc821_envelopes = no) takes a bare address"
)
_NO_DOMAIN = (
    "strict envelope syntax: RFC 5321 §4.1.1.3, only postmaster may come without a domain; Postfix adds its own"
)
_NON_ASCII = (
    "RFC 6531 §3.5: a non-ASCII address without SMTPUTF8 is refused (550 at MAIL, 553 at RCPT, 5.6.7) and "
    "recorded as a violation; Postfix 3.7 takes it"
)
_FOLLOWS = "follows from the difference just before: one server is in a transaction, the other is not"

#: Replies whose classes differ by a choice the RFCs leave open, or where Postfix
#: is the one that departs from them: (conversation, reply index) -> why.
#: pytest-smtpd is a test server: where a client is wrong, it says so (and
#: records a violation) rather than guess what was meant.
ALLOWED: dict[tuple[str, int], str] = {
    ("mail-before-helo", 0): _HELO_REQUIRED,
    ("mail-before-helo", 1): _FOLLOWS,
    ("help", 1): "RFC 5321 §4.5.1 does not require HELP; Postfix does not implement it",
    ("path-without-brackets", 1): _BRACKETS,
    ("path-without-brackets", 2): _FOLLOWS,
    ("path-without-brackets", 3): _BRACKETS,
    ("recipient-without-domain", 2): _NO_DOMAIN,
    ("pipelined-with-errors", 3): _NO_DOMAIN,
    ("local-part-of-65-octets", 2): (
        "RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; Postfix takes longer ones, as §4.5.3.1 lets it"
    ),
    ("non-ascii-sender-without-smtputf8", 1): _NON_ASCII,
    ("non-ascii-sender-without-smtputf8", 2): _FOLLOWS,
    ("non-ascii-recipient-without-smtputf8", 2): _NON_ASCII,
    ("size-over-the-limit", 2): (
        "a refused MAIL takes no effect, so a MAIL without SIZE is judged on its own; "
        "Postfix still applies the SIZE= of the MAIL it refused"
    ),
    ("noop-over-512-octets", 1): (
        "RFC 5321 §4.5.3.1.4: 512 octets unless an extension in force raises it; pytest-smtpd enforces "
        "the limit (and reports the client), Postfix takes lines up to its line_length_limit of 2048"
    ),
    ("bare-lf-in-content", 5): (
        "only CRLF.CRLF ends DATA (RFC 5321 §4.1.1.4, §2.3.8); Postfix with smtpd_forbid_bare_newline = yes "
        "(normalize) ended the content at LF.LF and read the rest as commands"
    ),
    ("parameters-after-helo", 1): (
        "extensions are in force only once EHLO advertised them (RFC 5321 §2.2.1): after HELO, SIZE= is an "
        "unknown parameter (555); Postfix takes it"
    ),
    ("parameters-after-helo", 2): _FOLLOWS,
    ("bdat-after-helo", 3): (
        "extensions are in force only once EHLO advertised them (RFC 5321 §2.2.1): after HELO, BDAT gets 502 "
        "once its chunk is discarded; Postfix takes it"
    ),
    ("bdat-bad-end-marker", 4): (
        "RFC 3030 §2: a refused BDAT whose size is known has its chunk discarded and the session goes on; "
        "Postfix answers 521 and closes after any malformed BDAT"
    ),
    ("cr-in-a-command", 1): (
        "a bare CR in a command line is refused and recorded (RFC 5321 §2.3.8: CR only as part of CRLF); "
        "Postfix takes the line"
    ),
    ("space-before-the-verb", 1): (
        "RFC 5321 §4.1.1: a command line starts with its verb; Postfix skips white space before it"
    ),
}


@dataclass(frozen=True)
class Outcome:
    """One reply (its code and text), or the end of the connection (code None)."""

    code: int | None
    text: str = ""

    @property
    def kind(self) -> str:
        """The reply class (``2`` ... ``5``) or ``closed``."""
        return "closed" if self.code is None else str(self.code)[0]

    @property
    def enhanced(self) -> bool:
        """The reply carries an RFC 3463 enhanced status code."""
        return bool(re.match(r"[245]\.\d{1,3}\.\d{1,3}( |$)", self.text))

    def __str__(self) -> str:
        return "(closed)" if self.code is None else f"{self.code} {self.text}"


CLOSED = Outcome(None)


class _Replies:
    """Reads whole replies from a socket; the end of the connection is an outcome too."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.closed = False

    def _line(self) -> bytes | None:
        while b"\r\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except (ConnectionError, TimeoutError):
                data = b""
            if not data:
                self.closed = True
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def next(self) -> Outcome:
        lines: list[bytes] = []
        while not lines or lines[-1][3:4] == b"-":
            line = None if self.closed else self._line()
            if line is None:
                return CLOSED
            lines.append(line)
        return Outcome(int(lines[-1][:3]), lines[-1][4:].decode("utf-8", "replace"))


def converse(address: tuple[str, int], steps: list[Step]) -> list[Outcome]:
    """Send each step and read its replies; after the end of the connection, each is CLOSED."""
    outcomes: list[Outcome] = []
    with socket.create_connection(address, timeout=10) as sock:
        replies = _Replies(sock)
        greeting = replies.next()
        assert greeting.code == 220, greeting
        for step in steps:
            data, count = step if isinstance(step, tuple) else (step, 1)
            if not replies.closed:
                try:
                    sock.sendall(data)
                except OSError:
                    replies.closed = True
            outcomes += [replies.next() for _ in range(count)]
    return outcomes


@pytest.fixture(scope="module")
def postfix() -> Iterator[tuple[str, int]]:
    with start_postfix() as address:
        yield address


@dataclass(frozen=True)
class Difference:
    conversation: str
    reply: int
    ours: Outcome
    theirs: Outcome

    @property
    def key(self) -> tuple[str, int]:
        return self.conversation, self.reply

    def __str__(self) -> str:
        return f"{self.conversation} reply {self.reply}: pytest-smtpd {self.ours} / Postfix {self.theirs}"


def compare(postfix: tuple[str, int]) -> tuple[int, list[Difference], list[Difference]]:
    """Every conversation against both servers: (replies compared, class differences, enhanced-code differences)."""
    replies = 0
    classes: list[Difference] = []
    codes: list[Difference] = []
    with SMTPServer(size_limit=SIZE_LIMIT) as ours:
        for name, steps in CONVERSATIONS.items():
            mine, theirs = converse(ours.address, steps), converse(postfix, steps)
            assert len(mine) == len(theirs)
            replies += len(mine)
            for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                if a.kind != b.kind:
                    classes.append(Difference(name, index, a, b))
                elif a.code is not None and a.enhanced != b.enhanced:
                    codes.append(Difference(name, index, a, b))
    return replies, classes, codes


def test_reply_classes_match_postfix_where_the_rfcs_leave_no_choice(
    postfix: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    replies, classes, codes = compare(postfix)

    by_class = Counter(f"{d.ours.kind} vs {d.theirs.kind}" for d in classes)
    unexpected = [str(d) for d in classes if d.key not in ALLOWED]
    with capsys.disabled():
        print(
            f"\nPostfix conformance: {len(CONVERSATIONS)} conversations, {replies} replies; "
            f"{len(classes)} differ in class (pytest-smtpd vs Postfix: {dict(by_class)}), "
            f"{len(unexpected)} of them not allowed; {len(codes)} differ in enhanced codes"
        )
    assert unexpected == [], "replies of another class than Postfix's:\n" + "\n".join(unexpected)
    stale = sorted(set(ALLOWED) - {d.key for d in classes})
    assert stale == [], f"allowed differences that no longer occur (remove them): {stale}"
    assert [str(d) for d in codes] == []
