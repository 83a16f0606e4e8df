"""LMTP sessions at random (RFC 2033): any mix of recipients refused at RCPT and
after the content, DATA or BDAT, content that looks like commands, the whole
session pipelined in one write and split anywhere. After the content the core
wants exactly one reply per recipient accepted at RCPT, in RCPT order, and
nothing in the content is ever answered as a command."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_core_driver import Driver

from pytest_smtpd.protocol import Command, Event, MessageReceived, ProtocolConfig, Reply, State

LMTP = ProtocolConfig(lmtp=True)
#: How a recipient is answered: at RCPT, and again after the content.
ANSWER = st.sampled_from(["default", "default", "2xx", "4xx", "5xx"])
SCRIPTED = {"2xx": Reply(250, "2.1.5 scripted"), "4xx": Reply(452, "4.2.2 full"), "5xx": Reply(550, "5.1.1 no")}
AFTER = {"2xx": Reply(250, "2.0.0 delivered"), "4xx": Reply(452, "4.2.2 full"), "5xx": Reply(554, "5.6.0 no")}
COMMAND_LIKE = st.sampled_from([b"RSET", b"MAIL FROM:<m@evil.example>", b"RCPT TO:<x@y.example>", b"DATA", b"QUIT"])
LINES = st.lists(st.one_of(COMMAND_LIKE, st.sampled_from([b"Subject: hi", b"", b"body"])), max_size=4)


@dataclass(frozen=True)
class Txn:
    recipients: tuple[tuple[str, str, str], ...]  # (address, answer at RCPT, answer after the content)
    lines: tuple[bytes, ...]
    bdat: bool

    @property
    def accepted(self) -> list[tuple[str, str]]:
        """(address, answer after the content) of each recipient accepted at RCPT."""
        return [(address, after) for address, at_rcpt, after in self.recipients if at_rcpt in ("default", "2xx")]

    def wire(self) -> bytes:
        out = b"MAIL FROM:<sender@x.example>\r\n"
        out += b"".join(f"RCPT TO:<{address}>\r\n".encode() for address, _, _ in self.recipients)
        content = b"".join(line + b"\r\n" for line in self.lines)
        if not self.accepted:  # the content would get 554/503: send no content
            return out + b"RSET\r\n"
        if self.bdat:
            return out + b"BDAT %d LAST\r\n" % len(content) + content
        stuffed = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in self.lines)
        return out + b"DATA\r\n" + stuffed + b".\r\n"


ADDRESSES = st.sampled_from(["a@example.org", "b@example.org", "c@example.org", "d@example.org"])
TXN = st.builds(
    Txn,
    recipients=st.lists(st.tuples(ADDRESSES, ANSWER, ANSWER), min_size=1, max_size=4).map(tuple),
    lines=LINES.map(tuple),
    bdat=st.booleans(),
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} - {0, len(data)})
    # (no empty piece: to the driver b"" is the end of the input)
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(txns=st.lists(TXN, min_size=1, max_size=3), cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_one_reply_per_accepted_recipient_however_the_session_arrives(txns: list[Txn], cuts: list[int]) -> None:
    rcpt_answers = iter([at_rcpt for txn in txns for _, at_rcpt, _ in txn.recipients])
    after_answers = iter([after for txn in txns for _, after in txn.accepted])
    answered_after: list[tuple[str, int]] = []

    def decide(event: Event, default: Reply) -> Reply:
        if isinstance(event, MessageReceived):
            # The n-th reply to this content is for the n-th recipient accepted at RCPT.
            done = sum(1 for e, _ in driver.answered if e is event)
            choice = next(after_answers)
            reply = default if choice == "default" else AFTER[choice]
            answered_after.append((event.recipients[done], reply.code))
            return reply
        if isinstance(event, Command) and event.verb == "RCPT":
            choice = next(rcpt_answers)
            return default if choice == "default" else SCRIPTED[choice]
        return default

    driver = Driver(LMTP, decide=decide)
    session = b"LHLO client.example\r\n" + b"".join(txn.wire() for txn in txns) + b"QUIT\r\n"
    driver.feed(*_split(session, cuts))

    # One reply after the content per recipient accepted at RCPT, in RCPT order.
    assert [address for address, _ in answered_after] == [address for txn in txns for address, _ in txn.accepted]
    # Every command was answered once, and nothing in the content as a command.
    commands = [e.verb for e, _ in driver.answered if isinstance(e, Command)]
    expected: list[str] = ["LHLO"]
    for txn in txns:
        expected += ["MAIL"] + ["RCPT"] * len(txn.recipients)
        # BDAT ... LAST is answered as the content itself (the message event).
        expected += ([] if txn.bdat else ["DATA"]) if txn.accepted else ["RSET"]
    assert commands == [*expected, "QUIT"]
    # Each content is one message event, answered once per accepted recipient.
    contents = [e for e, _ in driver.answered if isinstance(e, MessageReceived)]
    assert len(contents) == sum(len(txn.accepted) for txn in txns)
    assert driver.conn.state is State.CLOSED
    assert driver.sent[-1].startswith(b"221 ")
