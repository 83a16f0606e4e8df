"""The PROXY protocol reader, byte for byte (HAProxy's proxy-protocol.txt), and its properties."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_smtpd import proxy
from pytest_smtpd.proxy import (
    V1_MAX_LENGTH,
    V2_SIGNATURE,
    BadProxyHeader,
    ProxyHeader,
    ProxyHeaderReader,
    crc32c,
    parse,
)

SETTINGS = settings(max_examples=300, deadline=None)


def read(data: bytes) -> ProxyHeader | BadProxyHeader | None:
    return ProxyHeaderReader().receive_data(data)


def bad(data: bytes) -> str:
    result = read(data)
    assert isinstance(result, BadProxyHeader), result
    return result.detail


def feed_in_pieces(
    reader: ProxyHeaderReader, wire: bytes, cuts: list[int]
) -> tuple[ProxyHeader | BadProxyHeader | None, int]:
    """Feed ``wire`` cut at ``cuts`` until a result; returns it and where feeding stopped."""
    start = 0
    for cut in [*cuts, len(wire)]:
        result = reader.receive_data(wire[start:cut])
        start = cut
        if result is not None:
            return result, start
    return None, start


def v2(ver_cmd: int, fam: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([ver_cmd, fam]) + struct.pack("!H", len(block)) + block


# Version 1 -----------------------------------------------------------------------------------


def test_v1_tcp4() -> None:
    reader = ProxyHeaderReader()
    result = reader.receive_data(b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nEHLO x\r\n")
    assert result == ProxyHeader(1, "PROXY", "INET", "STREAM", "192.168.0.1", "192.168.0.11", 56324, 443)
    assert result.client == ("192.168.0.1", 56324)
    assert reader.rest == b"EHLO x\r\n"


def test_v1_tcp6_is_written_as_the_socket_module_writes_it() -> None:
    result = read(b"PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:0:0:1 1 65535\r\n")
    assert result == ProxyHeader(1, "PROXY", "INET6", "STREAM", "2001:db8::1", "::1", 1, 65535)
    mapped = read(b"PROXY TCP6 ::ffff:127.0.0.1 ::1 0 25\r\n")
    assert isinstance(mapped, ProxyHeader)
    assert mapped.client == ("::ffff:127.0.0.1", 0)


def test_v1_longest_lines_are_accepted() -> None:
    # §2.1's worst cases: 104 octets for TCP6, 107 for UNKNOWN with every field.
    longest = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    tcp6 = f"PROXY TCP6 {longest} {longest} 65535 65535\r\n".encode()
    assert len(tcp6) == 104
    assert isinstance(read(tcp6), ProxyHeader)
    unknown = f"PROXY UNKNOWN {longest} {longest} 65535 65535\r\n".encode()
    assert len(unknown) == V1_MAX_LENGTH
    assert read(unknown) == ProxyHeader(1, "PROXY", "UNSPEC", "UNSPEC")


@pytest.mark.parametrize(
    "line", [b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", b"PROXY UNKNOWN anything\xff at all\r\n"]
)
def test_v1_unknown_keeps_the_socket_peer_and_ignores_the_rest(line: bytes) -> None:
    reader = ProxyHeaderReader()
    result = reader.receive_data(line + b"QUIT\r\n")
    assert result == ProxyHeader(1, "PROXY", "UNSPEC", "UNSPEC")
    assert result.client is None
    assert reader.rest == b"QUIT\r\n"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"EHLO client.example\r\n", "expected a PROXY protocol header"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "expected a PROXY protocol header"),
        (b"PROXX TCP4", "starts with 'PROXY ', not b'PROXX'"),
        (b"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "starts with 'PROXY '"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bare LF"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "is not a port"),
        (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol b'TCP5'"),
        (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol b'tcp4'"),
        (b"PROXY UNKNOWNX\r\n", "unknown protocol b'UNKNOWNX'"),
        (b"PROXY \r\n", "unknown protocol b''"),
        (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "unknown protocol b''"),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "exactly one space"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "exactly one space"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "exactly one space"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "exactly one space"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "exactly one space"),
        (b"PROXY TCP4\r\n", "exactly one space"),
        (b"PROXY TCP4 1.2.3.4  1 2\r\n", "exactly one space"),
        (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "b'01.2.3.4' is not an IPv4 address"),
        (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "b'1.2.3.256' is not an IPv4 address"),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "b'1.2.3' is not an IPv4 address"),
        (b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "b'::1' is not an IPv4 address as TCP4 needs"),
        (b"PROXY TCP6 ::1 1.2.3.4 1 2\r\n", "b'1.2.3.4' is not an IPv6 address as TCP6 needs"),
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "is not an IPv6 address"),
        (b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "is not an IPv6 address"),
        (b"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", "is not an IPv6 address"),
        (b"PROXY TCP6 12345::1 ::1 1 2\r\n", "is not an IPv6 address"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "b'65536' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 025\r\n", "b'025' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "b'+1' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1_0 2\r\n", "b'1_0' is not a port"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n", "b'123456' is not a port"),
    ],
)
def test_v1_malformed(data: bytes, says: str) -> None:
    assert says in bad(data)


def test_v1_without_crlf_in_107_octets_is_bad() -> None:
    # §2.1: "If the CRLF sequence is not found in the first 107 characters, the
    # receiver should declare the line invalid."
    reader = ProxyHeaderReader()
    assert reader.receive_data(b"PROXY UNKNOWN " + b"x" * 92) is None  # 106 octets: the CRLF may follow
    result = reader.receive_data(b"x")
    assert isinstance(result, BadProxyHeader)
    assert "no CRLF in the first 107 octets" in result.detail
    assert "no CRLF" in bad(b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n")  # 108 octets


@pytest.mark.parametrize("line", [b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", b"PROXY UNKNOWN\r\n"])
def test_v1_every_proper_prefix_needs_more(line: bytes) -> None:
    for end in range(len(line)):
        assert parse(line[:end]) == (None, 0), end


# Version 2 -----------------------------------------------------------------------------------

V2_TCP4 = bytes.fromhex(
    "0d0a0d0a000d0a515549540a"  # signature
    "21"  # version 2, PROXY
    "11"  # AF_INET, STREAM
    "000c"  # 12 octets follow
    "cb007107"  # 203.0.113.7
    "c0000201"  # 192.0.2.1
    "1092"  # 4242
    "0019"  # 25
)


def test_v2_tcp4_byte_for_byte() -> None:
    reader = ProxyHeaderReader()
    result = reader.receive_data(V2_TCP4 + b"EHLO")
    assert result == ProxyHeader(2, "PROXY", "INET", "STREAM", "203.0.113.7", "192.0.2.1", 4242, 25)
    assert result.client == ("203.0.113.7", 4242)
    assert reader.rest == b"EHLO"
    assert result.to_bytes() == V2_TCP4


def test_v2_tcp6_and_udp() -> None:
    block = bytes(15) + b"\x01" + bytes.fromhex("20010db8" + "00" * 11 + "02") + struct.pack("!HH", 5, 6)
    assert read(v2(0x21, 0x21, block)) == ProxyHeader(2, "PROXY", "INET6", "STREAM", "::1", "2001:db8::2", 5, 6)
    udp = read(v2(0x21, 0x12, V2_TCP4[16:]))
    assert isinstance(udp, ProxyHeader)
    assert (udp.transport, udp.client) == ("DGRAM", ("203.0.113.7", 4242))


def test_v2_unix_names_paths_and_keeps_the_socket_peer() -> None:
    block = b"/run/client.sock".ljust(108, b"\0") + b"/run/smtpd.sock".ljust(108, b"\0")
    result = read(v2(0x21, 0x31, block))
    assert result == ProxyHeader(2, "PROXY", "UNIX", "STREAM", "/run/client.sock", "/run/smtpd.sock")
    assert result.client is None


def test_v2_local_discards_the_block_and_its_family() -> None:
    # §2.2, LOCAL: "discard the protocol block including the family which is ignored."
    reader = ProxyHeaderReader()
    result = reader.receive_data(v2(0x20, 0x11, V2_TCP4[16:] + b"\x01\x00") + b"QUIT\r\n")
    assert result == ProxyHeader(2, "LOCAL", "INET", "STREAM")
    assert result.client is None
    assert reader.rest == b"QUIT\r\n"
    assert read(v2(0x20, 0x00, b"")) == ProxyHeader(2, "LOCAL", "UNSPEC", "UNSPEC")


@pytest.mark.parametrize("fam", [0x00, 0x10, 0x01])
def test_v2_unspec_ignores_the_addresses(fam: int) -> None:
    result = read(v2(0x21, fam, b"\xff" * 5))
    assert isinstance(result, ProxyHeader)
    assert result.client is None
    assert result.tlvs == ()


def test_v2_tlvs_are_kept_in_order() -> None:
    tlvs = b"\x02\x00\x0bexample.com" + b"\x04\x00\x00" + b"\xe0\x00\x02ab"
    result = read(v2(0x21, 0x11, V2_TCP4[16:] + tlvs))
    assert isinstance(result, ProxyHeader)
    assert result.tlvs == ((0x02, b"example.com"), (0x04, b""), (0xE0, b"ab"))
    assert result.client == ("203.0.113.7", 4242)


def test_crc32c_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720 B.4's check value


def test_v2_crc32c_tlv_is_checked() -> None:
    # §2.2.3: zero the checksum field, checksum the whole header, compare.
    unsigned = v2(0x21, 0x11, V2_TCP4[16:] + b"\x03\x00\x04" + bytes(4) + b"\x04\x00\x01z")
    checksum = struct.pack("!I", crc32c(unsigned))
    at = 16 + 12 + 3
    signed = unsigned[:at] + checksum + unsigned[at + 4 :]
    result = read(signed)
    assert isinstance(result, ProxyHeader)
    assert result.tlvs == ((0x03, checksum), (0x04, b"z"))
    tampered = signed[:20] + b"\x01" + signed[21:]
    assert "does not match the header" in bad(tampered)
    assert "holds 4 octets, not 3" in bad(v2(0x21, 0x11, V2_TCP4[16:] + b"\x03\x00\x03abc"))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\r\n\r\n\x01\r\n", "starts with the signature b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n', not b'\\r\\n\\r\\n\\x01'"),
        (V2_SIGNATURE[:-1] + b"\r", "starts with the signature"),
        (V2_SIGNATURE + b"\x11", "version 1 in a version 2 header"),
        (V2_SIGNATURE + b"\x31", "version 3 in a version 2 header"),
        (V2_SIGNATURE + b"\x22", "command 0x2"),
        (V2_SIGNATURE + b"\x2f", "command 0xf"),
        (V2_SIGNATURE + b"\x21\x41", "0x41 in a version 2 header are not defined"),
        (V2_SIGNATURE + b"\x21\x13", "0x13 in a version 2 header are not defined"),
        (V2_SIGNATURE + b"\x20\x03", "0x03 in a version 2 header are not defined"),
        (v2(0x21, 0x11, bytes(11)), "INET header needs 12 octets of addresses, not 11"),
        (v2(0x21, 0x21, bytes(35)), "INET6 header needs 36 octets of addresses, not 35"),
        (v2(0x21, 0x31, bytes(215)), "UNIX header needs 216 octets of addresses, not 215"),
        (v2(0x21, 0x11, V2_TCP4[16:] + b"\x04"), "1 octet(s) after the last TLV"),
        (v2(0x21, 0x11, V2_TCP4[16:] + b"\x04\x00"), "2 octet(s) after the last TLV"),
        (v2(0x21, 0x11, V2_TCP4[16:] + b"\x04\x00\x02a"), "TLV 0x04 of 2 octets runs past the end"),
    ],
)
def test_v2_malformed(data: bytes, says: str) -> None:
    assert says in bad(data)


def test_v2_is_known_bad_as_soon_as_an_octet_is() -> None:
    # A header is rejected at its first wrong octet, not after waiting for more.
    assert isinstance(read(V2_SIGNATURE[:5] + b"\x01"), BadProxyHeader)
    assert isinstance(read(V2_SIGNATURE + b"\x22"), BadProxyHeader)
    assert isinstance(read(b"PROXY\t"), BadProxyHeader)


@pytest.mark.parametrize(
    "header",
    [V2_TCP4, v2(0x20, 0x00, b""), v2(0x21, 0x11, V2_TCP4[16:] + b"\x04\x00\x02ab")],
)
def test_v2_truncated_at_every_offset_needs_more(header: bytes) -> None:
    for end in range(len(header)):
        assert parse(header[:end]) == (None, 0), end
        assert read(header[:end]) is None


def test_a_long_v2_header_is_parsed_once_its_length_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    # Octet by octet, a 64 KiB header must not cost a parse of the growing buffer per octet.
    calls: list[int] = []

    def counting(data: bytes | bytearray | memoryview) -> tuple[ProxyHeader | BadProxyHeader | None, int]:
        calls.append(len(data))
        return parse(data)

    monkeypatch.setattr(proxy, "parse", counting)
    header = v2(0x21, 0x11, V2_TCP4[16:] + b"\xe0\x03\xe8" + b"x" * 1000)
    reader = ProxyHeaderReader()
    results = [reader.receive_data(header[at : at + 1]) for at in range(len(header))]
    assert results[:-1] == [None] * (len(header) - 1)
    assert isinstance(results[-1], ProxyHeader)
    assert calls == [*range(1, 17), len(header)]


def test_reader_reads_one_header_only() -> None:
    reader = ProxyHeaderReader()
    assert reader.receive_data(b"PROXY UNK") is None
    assert reader.receive_data(b"") is None
    assert reader.receive_data(b"NOWN\r\n") == ProxyHeader(1, "PROXY", "UNSPEC", "UNSPEC")
    assert reader.rest == b""
    with pytest.raises(RuntimeError, match="already read"):
        reader.receive_data(b"EHLO")


def test_a_bad_header_leaves_nothing_to_read_after_it() -> None:
    reader = ProxyHeaderReader()
    assert isinstance(reader.receive_data(b"PROXY TCP9\r\nEHLO x\r\n"), BadProxyHeader)
    assert reader.rest == b""


# Encoding -------------------------------------------------------------------------------------


def test_to_bytes_v1() -> None:
    header = ProxyHeader(1, "PROXY", "INET", "STREAM", "203.0.113.7", "192.0.2.1", 4242, 25)
    assert header.to_bytes() == b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 25\r\n"
    assert ProxyHeader(1, "PROXY", "UNSPEC", "UNSPEC").to_bytes() == b"PROXY UNKNOWN\r\n"


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (ProxyHeader(1, "LOCAL", "UNSPEC", "UNSPEC"), "version 1 cannot say LOCAL UNSPEC; use version=2"),
        (ProxyHeader(1, "PROXY", "UNIX", "STREAM", "/a", "/b"), "cannot say PROXY UNIX"),
        (ProxyHeader(3, "PROXY", "UNSPEC", "UNSPEC"), "version must be 1 or 2, not 3"),
        (ProxyHeader(2, "RELAY", "UNSPEC", "UNSPEC"), "unknown PROXY command 'RELAY'; known: LOCAL, PROXY"),
        (ProxyHeader(2, "PROXY", "INET", "STREAM"), "a INET header needs source and destination"),
        (ProxyHeader(2, "PROXY", "UNIX", "STREAM", "/" * 109, "/b"), "at most 108 octets, not 109"),
    ],
)
def test_to_bytes_says_what_cannot_be_sent(header: ProxyHeader, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        header.to_bytes()


# Properties -----------------------------------------------------------------------------------

PORTS = st.integers(0, 65535)
IPV4 = st.ip_addresses(v=4).map(str)
TLVS = st.lists(st.tuples(st.integers(0, 255).filter(lambda t: t != 0x03), st.binary(max_size=40)), max_size=4)


@st.composite
def headers(draw: st.DrawFn) -> ProxyHeader:
    version = draw(st.sampled_from([1, 2]))
    family = draw(st.sampled_from(["INET", "INET6", "UNSPEC"] + (["UNIX"] if version == 2 else [])))
    if family == "UNSPEC":
        command = "LOCAL" if version == 2 and draw(st.booleans()) else "PROXY"
        return ProxyHeader(version, command, "UNSPEC", "UNSPEC")
    transport = draw(st.sampled_from(["STREAM", "DGRAM"])) if version == 2 else "STREAM"
    tlvs = tuple(draw(TLVS)) if version == 2 else ()
    if family == "UNIX":
        path = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=108)
        return ProxyHeader(2, "PROXY", "UNIX", transport, draw(path), draw(path), tlvs=tlvs)
    if family == "INET":
        source, destination = draw(IPV4), draw(IPV4)
    else:
        source, destination = (str(ip) for ip in (draw(st.ip_addresses(v=6)), draw(st.ip_addresses(v=6))))
        source = _normal(source)
        destination = _normal(destination)
    return ProxyHeader(version, "PROXY", family, transport, source, destination, draw(PORTS), draw(PORTS), tlvs)


def _normal(ipv6: str) -> str:
    result = read(f"PROXY TCP6 {ipv6} ::1 1 1\r\n".encode())
    assert isinstance(result, ProxyHeader)
    assert result.source is not None
    return result.source


@SETTINGS
@given(headers(), st.binary(max_size=20))
def test_every_header_reads_back_as_sent(header: ProxyHeader, after: bytes) -> None:
    reader = ProxyHeaderReader()
    assert reader.receive_data(header.to_bytes() + after) == header
    assert reader.rest == after


@SETTINGS
@given(headers(), st.data())
def test_any_split_of_a_header_gives_the_same_result(header: ProxyHeader, data: st.DataObject) -> None:
    wire = header.to_bytes() + b"EHLO x\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    reader = ProxyHeaderReader()
    result, start = feed_in_pieces(reader, wire, cuts)
    assert result == header
    assert reader.rest + wire[start:] == b"EHLO x\r\n"


def _noisy(data: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from([b"", data]).flatmap(lambda head: st.binary(max_size=120).map(lambda tail: head + tail))


ANY_BYTES = st.one_of(
    st.binary(max_size=300),
    _noisy(V2_SIGNATURE),
    _noisy(V2_SIGNATURE + b"\x21\x11\x00\x0c"),
    _noisy(b"PROXY TCP4 "),
    _noisy(b"PROXY TCP6 "),
)


@SETTINGS
@given(ANY_BYTES, st.data())
def test_any_bytes_in_any_split_give_one_answer_and_never_raise(wire: bytes, data: st.DataObject) -> None:
    whole, length = parse(wire)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    reader = ProxyHeaderReader()
    result, start = feed_in_pieces(reader, wire, cuts)
    assert result == whole
    if isinstance(whole, ProxyHeader):
        assert reader.rest + wire[start:] == wire[length:]
    elif whole is None:
        # Only a start of something valid is awaited, and never past the longest header.
        assert len(wire) < max(V1_MAX_LENGTH, 16 + 65535)
        assert wire[:1] in (b"", b"P", b"\r")
