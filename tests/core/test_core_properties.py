"""Hypothesis properties of the protocol core: any bytes, any split."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_core_driver import EHLO, Driver

from pytest_smtpd.protocol import REPLY_LINE_LIMIT, Command, MessageReceived, ProtocolConfig, State

REPLY_LINE = re.compile(rb"([2-5][0-9]{2})([ -])[^\r\n]*\r\n")
SETTINGS = settings(max_examples=200, deadline=None)

TOKENS = [
    EHLO,
    b"HELO client.example\r\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<a@b.example> SIZE=20 BODY=8BITMIME\r\n",
    "MAIL FROM:<jörg@b.example> SMTPUTF8\r\n".encode(),
    "RCPT TO:<ü@b.example>\r\n".encode(),
    b"MAIL FROM:<> XFOO=1 RET=HDRS\r\n",
    b"RCPT TO:<c@d.example>\r\n",
    b"RCPT TO:<c@d.example> NOTIFY=SUCCESS ORCPT=rfc822;x\r\n",
    b"DATA\r\n",
    b"BDAT 5\r\n",
    b"BDAT 3 LAST\r\n",
    b"BDAT 0 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"VRFY x\r\n",
    b"HELP\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"..",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"\xff\xfe",
    b"x" * 600,
    b"y" * 1200 + b"\r\n",
    b"MAIL FROM:<> " + b"P" * 497 + b"\r\n",
    "MAIL FROM:<a@b.example> SIZE=\u00b2\r\n".encode(),
    "BDAT \u00b2\r\n".encode(),
    b"BDAT 5 FINAL\r\n",
    b"BDAT\r\n",
    b"BDAT 1x LAST\r\n",
    b"RCPT TO:<c@d.example> NOTIFY=SUCCESS ORCPT=rfc822;" + b"o" * 500 + b"\r\n",
]
PIECE = st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=40))
CONFIGS = st.sampled_from(
    [
        ProtocolConfig(),
        ProtocolConfig(size_limit=20, max_recipients=2),
        ProtocolConfig(hostname="h", extensions=frozenset()),
        ProtocolConfig(extensions=frozenset({"CHUNKING", "BINARYMIME", "8BITMIME"})),
    ]
)


def check_reply(data: bytes) -> None:
    lines = data.splitlines(keepends=True)
    assert lines
    matches = [REPLY_LINE.fullmatch(line) for line in lines]
    assert all(matches), data
    codes = {m.group(1) for m in matches if m}
    assert len(codes) == 1, data
    separators = [m.group(2) for m in matches if m]
    assert separators == [b"-"] * (len(lines) - 1) + [b" "], data
    assert all(len(line) <= REPLY_LINE_LIMIT for line in lines)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at each of ``cuts`` (modulo its length), without empty pieces."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [p for p in (data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)) if p]


@SETTINGS
@given(config=CONFIGS, pieces=st.lists(PIECE, max_size=40), close=st.booleans())
def test_any_input_gets_well_formed_replies(config: ProtocolConfig, pieces: list[bytes], close: bool) -> None:
    driver = Driver(config)
    driver.feed(*pieces, *([b""] if close else []))
    check_reply(driver.greeting)
    for sent in driver.sent:
        check_reply(sent)
    assert len(driver.sent) == len(driver.answered)
    for event, reply in driver.answered:
        assert reply.code != 354 or getattr(event, "verb", None) == "DATA"


@SETTINGS
@given(config=CONFIGS, pieces=st.lists(PIECE, max_size=40), data=st.data())
def test_replies_do_not_depend_on_the_split(config: ProtocolConfig, pieces: list[bytes], data: st.DataObject) -> None:
    whole = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(whole)), max_size=8))
    one, many = Driver(config), Driver(config)
    out_one = one.feed(*split_at(whole, []), b"")
    out_many = many.feed(*split_at(whole, cuts), b"")
    assert out_one == out_many
    assert [(m.sender, m.recipients, m.data, m.size) for m in one.messages] == [
        (m.sender, m.recipients, m.data, m.size) for m in many.messages
    ]
    assert one.closed == many.closed
    assert one.conn.state is many.conn.state
    assert one.kinds == many.kinds


def test_an_overlong_line_records_the_same_violations_however_it_arrives() -> None:
    whole = b"x" * 600 + b"\n"  # found by the property above
    kinds = []
    for cuts in ([], [512]):
        driver = Driver()
        assert driver.feed(*split_at(whole, cuts), b"") == b"500 5.5.6 Line too long\r\n"
        kinds.append(driver.kinds)
    assert kinds == [["line-too-long"], ["line-too-long"]]


WORD = st.text(alphabet="abcxyz0189-_+", min_size=1, max_size=8).filter(lambda w: w[0] != "-" and w[-1] != "-")
ADDRESS = st.builds("{}@{}.example".format, WORD, st.text(alphabet="abcdef", min_size=1, max_size=8))
LINE = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from([b"", b".", b"..", b"...", b".x", b"..x", b"From x", b"\xe2\x82\xac"]),
)


def stuff(lines: list[bytes]) -> bytes:
    """RFC 5321 §4.5.2, the client side: double a leading period."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


@SETTINGS
@given(
    sender=ADDRESS,
    recipients=st.lists(ADDRESS, min_size=1, max_size=4),
    lines=st.lists(LINE, max_size=20),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_data_is_delivered_as_sent(sender: str, recipients: list[str], lines: list[bytes], cuts: list[int]) -> None:
    content = b"".join(line + b"\r\n" for line in lines)
    wire = (
        EHLO
        + b"MAIL FROM:<%s> BODY=8BITMIME\r\n" % sender.encode()
        + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in recipients)
        + b"DATA\r\n"
        + stuff(lines)
        + b".\r\nQUIT\r\n"
    )
    driver = Driver()
    out = driver.feed(*split_at(wire, cuts))
    assert out.endswith(b"250 2.0.0 OK: %d octets queued\r\n221 2.0.0 Bye\r\n" % len(content))
    [message] = driver.messages
    assert message.data == content
    assert message.sender == sender
    assert message.recipients == tuple(recipients)
    assert driver.kinds == []


@SETTINGS
@given(
    content=st.binary(max_size=300),
    sizes=st.lists(st.integers(0, 100), max_size=6),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_bdat_content_is_delivered_verbatim(content: bytes, sizes: list[int], cuts: list[int]) -> None:
    chunks: list[bytes] = []
    rest = content
    for size in sizes:
        chunks.append(rest[:size])
        rest = rest[size:]
    wire = EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
    wire += b"".join(b"BDAT %d\r\n" % len(chunk) + chunk for chunk in chunks)
    wire += b"BDAT %d LAST\r\n" % len(rest) + rest + b"QUIT\r\n"
    driver = Driver()
    out = driver.feed(*split_at(wire, cuts))
    assert out.endswith(b"250 2.0.0 OK: %d octets queued\r\n221 2.0.0 Bye\r\n" % len(content))
    assert [m.data for m in driver.messages] == [content]


@SETTINGS
@given(
    lines=st.lists(st.sampled_from([b"", b".", b"..", b"x", b".xy", b"." * 30, b"z" * 40]), max_size=80),
    limit=st.integers(0, 1500),
    cuts=st.lists(st.integers(0, 10_000), max_size=10),
)
def test_size_limit_is_on_the_unstuffed_content(lines: list[bytes], limit: int, cuts: list[int]) -> None:
    content = b"".join(line + b"\r\n" for line in lines)
    wire = EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + stuff(lines) + b".\r\nNOOP\r\n"
    driver = Driver(ProtocolConfig(size_limit=limit))
    out = driver.feed(*split_at(wire, cuts))
    if len(content) <= limit:
        assert out.endswith(b"250 2.0.0 OK: %d octets queued\r\n250 2.0.0 OK\r\n" % len(content))
        assert [m.data for m in driver.messages] == [content]
    else:
        assert out.endswith(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n")
        assert driver.messages == []
        assert [e.size for e, _ in driver.answered if hasattr(e, "size")] == [len(content)]


CONTENT_PIECE = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"\r\n.", b"\xe2\x82\xac", b"\xff", b"x" * 499, b"y" * 998]),
)


def content_kinds(content: bytes, declared_8bit: bool) -> list[str]:
    """What the content checks must find, computed the plain way, line by line."""
    lines = content.split(b"\r\n")  # only CRLF ends a line
    kinds = []
    if content.count(b"\n") != content.count(b"\r\n"):
        kinds.append("bare-lf")
    if content.count(b"\r") != content.count(b"\r\n"):
        kinds.append("bare-cr")
    if max(map(len, lines)) > 998:
        kinds.append("line-too-long")
    if not declared_8bit and not content.isascii():
        kinds.append("8bit-data")
    return kinds


@SETTINGS
@given(
    pieces=st.lists(CONTENT_PIECE, max_size=12),
    declared_8bit=st.booleans(),
    data=st.data(),
)
def test_content_checks_do_not_depend_on_the_split(
    pieces: list[bytes], declared_8bit: bool, data: st.DataObject
) -> None:
    content = b"".join(pieces)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"  # the end marker's own CRLF ends the last line
    stuffed = re.sub(rb"(?:^|(?<=\r\n))\.", b"..", content)  # the client doubles a leading dot
    body = b" BODY=8BITMIME" if declared_8bit else b""
    wire = EHLO + b"MAIL FROM:<a@b.example>" + body + b"\r\nRCPT TO:<c@d.example>\r\nDATA\r\n" + stuffed + b".\r\n"
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    driver = Driver()
    driver.feed(*split_at(wire, cuts))
    [message] = driver.messages
    assert message.data == content
    assert driver.kinds == content_kinds(content, declared_8bit)


#: Chunk payloads made of command lines: read as commands, a whole forged transaction.
INJECTION = st.lists(
    st.sampled_from(
        [
            *(b"RSET", b"MAIL FROM:<mallory@evil.example>", b"RCPT TO:<bob@d.example>", b"DATA", b"forged", b"."),
            *(b"QUIT", b"BDAT 4 LAST", b"NOOP", b"EHLO evil.example", b""),
        ]
    ),
    max_size=10,
).map(lambda lines: b"".join(line + b"\r\n" for line in lines))
BDAT_HEADER = st.sampled_from(
    [
        *("BDAT {n}", "BDAT {n} LAST", "bdat {n} last", "BDAT {n} FINAL", "BDAT {n} LAST MORE"),
        *("BDAT", "BDAT abc", "BDAT -{n}", "BDAT {n}x LAST", "BDAT +{n}", "BDAT LAST", "BDAT \u00b2"),
    ]
)
BEFORE = st.sampled_from(
    [
        EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
        EHLO + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 2\r\nab",
        EHLO + b"MAIL FROM:<a@b.example>\r\n",
        EHLO,
        b"HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
        b"",
    ]
)


@SETTINGS
@given(before=BEFORE, header=BDAT_HEADER, payload=INJECTION, data=st.data())
def test_no_byte_of_a_chunk_is_ever_read_as_a_command(
    before: bytes, header: str, payload: bytes, data: st.DataObject
) -> None:
    """Whatever the BDAT header, valid or not, and however the input is split,
    the octets after it are chunk data (read and kept, or discarded) or the
    session ends: none of them is ever answered as a command."""
    line = header.format(n=len(payload)).encode() + b"\r\n"
    wire = before + line + payload + b"NOOP\r\n"
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=8))
    driver = Driver()
    driver.feed(*split_at(wire, cuts))
    reference = Driver()
    reference.feed(before)
    answered_before = len(reference.answered)
    after = driver.answered[answered_before:]
    first, *rest = after
    command = first[0].command if isinstance(first[0], MessageReceived) else first[0]
    assert isinstance(command, Command)
    assert command.verb == "BDAT"
    if driver.conn.state is State.CLOSED:
        assert rest == []
        assert driver.kinds[-1] == "bdat-size" or first[1].code == 421
    else:
        assert [e.verb for e, _ in rest if isinstance(e, Command)] == ["NOOP"]
        assert len(rest) == 1
    assert all(m.sender != "mallory@evil.example" for m in driver.messages)
