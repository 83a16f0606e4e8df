"""The PROXY protocol, versions 1 and 2: the header a proxy sends before SMTP.

HAProxy, an AWS Network Load Balancer or Traefik put one header in front of
the connection they relay, naming the client they relay for. This module reads
that header from bytes and does no I/O (like :mod:`pytest_smtpd.protocol`); the
server feeds it what arrives before the greeting. The quotes are from HAProxy's
specification, "The PROXY protocol, Versions 1 & 2" (``doc/proxy-protocol.txt``).

::

    reader = ProxyHeaderReader()
    result = reader.receive_data(b"PROXY TCP4 203.0.113.7 192.0.2.1 4242 25\\r\\nEHLO")
    assert isinstance(result, ProxyHeader) and result.client == ("203.0.113.7", 4242)
    assert reader.rest == b"EHLO"

Both versions give one :class:`ProxyHeader`; its ``family`` and ``transport``
use version 2's names:

==============================  =========  =========  ===========
header                          command    family     transport
==============================  =========  =========  ===========
v1 ``TCP4``                     PROXY      INET       STREAM
v1 ``TCP6``                     PROXY      INET6      STREAM
v1 ``UNKNOWN``                  PROXY      UNSPEC     UNSPEC
v2, command and family bytes    PROXY or   INET,      STREAM,
                                LOCAL      INET6,     DGRAM or
                                           UNIX or    UNSPEC
                                           UNSPEC
==============================  =========  =========  ===========
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass

__all__ = [
    "V1_MAX_LENGTH",
    "V2_SIGNATURE",
    "BadProxyHeader",
    "ProxyHeader",
    "ProxyHeaderReader",
    "crc32c",
    "parse",
]

#: §2.1: "a 108-byte buffer is always enough to store all the line and a
#: trailing zero": the longest valid line is 107 octets, CRLF included.
V1_MAX_LENGTH = 107
#: §2.2: "The binary header format starts with a constant 12 bytes block
#: containing the protocol signature".
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_PREFIX = b"PROXY "

_COMMANDS = {0x0: "LOCAL", 0x1: "PROXY"}
_FAMILIES = {0x0: "UNSPEC", 0x1: "INET", 0x2: "INET6", 0x3: "UNIX"}
_TRANSPORTS = {0x0: "UNSPEC", 0x1: "STREAM", 0x2: "DGRAM"}
#: §2.2: the address block's size for each family ("Address length is 2*4 + 2*2 = 12 bytes", ...).
_ADDRESS_LENGTHS = {"INET": 12, "INET6": 36, "UNIX": 216}
_PP2_TYPE_CRC32C = 0x03

# §2.1: "exactly 4 integers in the range [0..255] inclusive written in decimal
# representation separated by exactly one dot [...] Heading zeroes are not permitted".
_OCTET = rb"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = re.compile(rb"%s(?:\.%s){3}" % (_OCTET, _OCTET))
# §2.1: IPv6 as hexadecimal groups between colons, with one "::" at most; the
# address module checks that it decodes to exactly 128 bits.
_IPV6 = re.compile(rb"[0-9A-Fa-f:.]{2,45}")
# §2.1: ports are "a decimal integer in the range [0..65535] inclusive. Heading
# zeroes are not permitted".
_PORT = re.compile(rb"0|[1-9][0-9]{0,4}")


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A valid PROXY protocol header (either version).

    ``source`` and ``destination`` are IP addresses as text (IPv6 compressed,
    as the ``socket`` module writes them), or the socket paths for ``UNIX``;
    both are None when the header carries no addresses (``LOCAL``, ``UNSPEC``).
    ``tlvs`` are version 2's type-length-value extensions, ``(type, value)`` in
    the order sent (a ``CRC32C`` one has been checked).
    """

    version: int
    command: str
    family: str
    transport: str
    source: str | None = None
    destination: str | None = None
    source_port: int | None = None
    destination_port: int | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    @property
    def client(self) -> tuple[str, int] | None:
        """``(host, port)`` of the client the header names, or None when the
        receiver keeps the socket's own peer: v1 ``UNKNOWN``, v2 ``LOCAL``, an
        ``UNSPEC`` family or transport, or a ``UNIX`` socket (which has no port)."""
        if self.source is None or self.source_port is None:
            return None
        return (self.source, self.source_port)

    def to_bytes(self) -> bytes:
        """The header on the wire: what a proxy would send for it.

        Version 1 can say only ``TCP4``, ``TCP6`` and ``UNKNOWN``; a ``LOCAL``
        header or a ``UNIX`` or ``DGRAM`` one needs version 2 (``ValueError``).
        """
        if self.version == 1:
            return self._v1_bytes()
        if self.version != 2:
            raise ValueError(f"PROXY protocol version must be 1 or 2, not {self.version!r}")
        command = _code(_COMMANDS, self.command, "command")
        family = _code(_FAMILIES, self.family, "family")
        transport = _code(_TRANSPORTS, self.transport, "transport")
        block = b""
        if self.command == "PROXY" and self.family != "UNSPEC" and self.transport != "UNSPEC":
            if self.source is None or self.destination is None:
                raise ValueError(f"a {self.family} header needs source and destination")
            if self.family == "UNIX":
                block = _unix_path(self.source) + _unix_path(self.destination)
            else:
                packed = ipaddress.ip_address(self.source).packed + ipaddress.ip_address(self.destination).packed
                block = packed + struct.pack("!HH", self.source_port or 0, self.destination_port or 0)
        block += b"".join(struct.pack("!BH", kind, len(value)) + value for kind, value in self.tlvs)
        return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family << 4 | transport, len(block)) + block

    def _v1_bytes(self) -> bytes:
        if self.command != "PROXY" or self.family not in ("INET", "INET6", "UNSPEC"):
            raise ValueError(f"PROXY protocol version 1 cannot say {self.command} {self.family}; use version=2")
        if self.family == "UNSPEC":
            return b"PROXY UNKNOWN\r\n"
        name = "TCP4" if self.family == "INET" else "TCP6"
        return f"PROXY {name} {self.source} {self.destination} {self.source_port} {self.destination_port}\r\n".encode()


@dataclass(frozen=True, slots=True)
class BadProxyHeader:
    """Bytes that are not a valid PROXY protocol header; ``detail`` says what is wrong.

    §2.1: "Any sequence which does not exactly match the protocol must be
    discarded and cause the receiver to abort the connection."
    """

    detail: str


def parse(data: bytes | bytearray | memoryview) -> tuple[ProxyHeader | BadProxyHeader | None, int]:
    """Read a header at the start of ``data``: ``(header, its length in octets)``,
    ``(BadProxyHeader, 0)``, or ``(None, 0)`` while the bytes so far could still
    begin a valid header.

    §2.2, telling the versions apart: a version 2 header starts with its signature, a
    version 1 header with ``PROXY``; "otherwise the protocol is not covered by
    this specification and the connection must be dropped."
    """
    data = bytes(data)
    if not data:
        return None, 0
    if data[:1] == V2_SIGNATURE[:1]:
        return _parse_v2(data)
    if data[:1] == _V1_PREFIX[:1]:
        return _parse_v1(data)
    return _bad(f"expected a PROXY protocol header ('PROXY ' or the version 2 signature), not {data[:1]!r}")


class ProxyHeaderReader:
    """Reads one PROXY header from bytes as they arrive (no I/O).

    :meth:`receive_data` returns None while the header is incomplete, then the
    :class:`ProxyHeader` or :class:`BadProxyHeader`; after a header,
    :attr:`rest` holds the octets that followed it (the next protocol's).
    """

    __slots__ = ("_buffer", "_wanted", "rest", "result")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._wanted = 0  # parse again only once this many octets are here
        #: The header or the error, once known.
        self.result: ProxyHeader | BadProxyHeader | None = None
        #: What the client sent after the header.
        self.rest = b""

    def receive_data(self, data: bytes | bytearray | memoryview) -> ProxyHeader | BadProxyHeader | None:
        """Add received bytes; the result once the header is complete or known bad."""
        if self.result is not None:
            raise RuntimeError("the PROXY header was already read; hand later bytes to the next protocol")
        buffer = self._buffer
        buffer += data
        if len(buffer) < self._wanted:
            return None
        result, length = parse(buffer)
        if result is None and len(buffer) >= 16 and buffer[:1] == V2_SIGNATURE[:1]:
            # A version 2 header's length is known: wait for all of it rather
            # than parse a growing buffer on every read (it may be 64 KiB).
            self._wanted = 16 + struct.unpack_from("!H", buffer, 14)[0]
        if result is not None:
            self.result = result
            self.rest = bytes(self._buffer[length:]) if isinstance(result, ProxyHeader) else b""
            self._buffer.clear()
        return result


def _bad(detail: str) -> tuple[BadProxyHeader, int]:
    return BadProxyHeader(detail), 0


def _mismatch(data: bytes, prefix: bytes) -> bytes | None:
    """``data`` up to its first octet that differs from ``prefix``, or None when it
    matches as far as it goes (the same answer however the octets arrive)."""
    for at, (got, wanted) in enumerate(zip(data, prefix, strict=False)):
        if got != wanted:
            return data[: at + 1]
    return None


def _code(table: dict[int, str], name: str, what: str) -> int:
    for code, known in table.items():
        if known == name:
            return code
    raise ValueError(f"unknown PROXY {what} {name!r}; known: {', '.join(table.values())}")


def _unix_path(path: str) -> bytes:
    raw = path.encode()
    if len(raw) > 108:
        raise ValueError(f"a UNIX socket path has at most 108 octets, not {len(raw)}")
    return raw.ljust(108, b"\x00")


# Version 1 ---------------------------------------------------------------------------------


def _parse_v1(data: bytes) -> tuple[ProxyHeader | BadProxyHeader | None, int]:
    wrong = _mismatch(data, _V1_PREFIX)
    if wrong is not None:
        return _bad(f"a version 1 header starts with 'PROXY ', not {wrong!r}")
    # §2.1: "If the CRLF sequence is not found in the first 107 characters, the
    # receiver should declare the line invalid." [...] "The receiver must not
    # tolerate a single CR or LF character to end the line".
    end = data.find(b"\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            return _bad(f"no CRLF in the first {V1_MAX_LENGTH} octets of a version 1 header")
        return None, 0
    if data[end - 1 : end] != b"\r":
        return _bad("a version 1 header ends with CRLF, not a bare LF")
    line = data[: end - 1]
    fields = line.split(b" ")
    protocol = fields[1]
    if protocol == b"UNKNOWN":
        # §2.1: 'For "UNKNOWN", the rest of the line before the CRLF may be
        # omitted by the sender, and the receiver must ignore anything presented
        # before the CRLF is found.'
        return ProxyHeader(1, "PROXY", "UNSPEC", "UNSPEC"), end + 1
    if protocol not in (b"TCP4", b"TCP6"):
        return _bad(f"unknown protocol {protocol!r} in a version 1 header: TCP4, TCP6 or UNKNOWN")
    if len(fields) != 6 or not all(fields):
        return _bad(
            f"a version 1 {protocol.decode()} header is 'PROXY {protocol.decode()} <source> <destination> "
            f"<source port> <destination port>' with exactly one space between, not {line!r}"
        )
    family = "INET" if protocol == b"TCP4" else "INET6"
    addresses: list[str] = []
    for raw in fields[2:4]:
        address = _v1_address(raw, family)
        if address is None:
            kind = "IPv4" if family == "INET" else "IPv6"
            return _bad(f"{raw!r} is not an {kind} address as {protocol.decode()} needs")
        addresses.append(address)
    ports: list[int] = []
    for raw in fields[4:6]:
        if not _PORT.fullmatch(raw) or int(raw) > 65535:
            return _bad(f"{raw!r} is not a port: 0 to 65535 in decimal, without leading zeros")
        ports.append(int(raw))
    return ProxyHeader(1, "PROXY", family, "STREAM", addresses[0], addresses[1], ports[0], ports[1]), end + 1


def _v1_address(raw: bytes, family: str) -> str | None:
    if family == "INET":
        return raw.decode() if _IPV4.fullmatch(raw) else None
    if not _IPV6.fullmatch(raw):
        return None
    try:
        return _ipv6_text(ipaddress.IPv6Address(raw.decode()))
    except ValueError:
        return None


def _ipv6_text(address: ipaddress.IPv6Address) -> str:
    # As inet_ntop writes it (and Python from 3.13): an IPv4-mapped address ends dotted.
    mapped = address.ipv4_mapped
    return f"::ffff:{mapped}" if mapped is not None else address.compressed


# Version 2 ---------------------------------------------------------------------------------


def _parse_v2(data: bytes) -> tuple[ProxyHeader | BadProxyHeader | None, int]:
    wrong = _mismatch(data, V2_SIGNATURE)
    if wrong is not None:
        return _bad(f"a version 2 header starts with the signature {V2_SIGNATURE!r}, not {wrong!r}")
    if len(data) <= 12:
        return None, 0
    # §2.2: "The highest four bits contains the version. [...] it must always be
    # sent as \x2 and the receiver must only accept this value." Commands other
    # than LOCAL and PROXY: "Receivers must drop connections presenting
    # unexpected values here."
    version, command_code = data[12] >> 4, data[12] & 0xF
    if version != 2:
        return _bad(f"version {version} in a version 2 header's 13th octet; only 2 is defined")
    command = _COMMANDS.get(command_code)
    if command is None:
        return _bad(f"command {command_code:#x} in a version 2 header: 0x0 (LOCAL) or 0x1 (PROXY)")
    if len(data) <= 13:
        return None, 0
    # §2.2: other families and transports "must be rejected as invalid by receivers".
    family = _FAMILIES.get(data[13] >> 4)
    transport = _TRANSPORTS.get(data[13] & 0xF)
    if family is None or transport is None:
        return _bad(f"address family and transport {data[13]:#04x} in a version 2 header are not defined")
    if len(data) < 16:
        return None, 0
    # §2.2: "the length of the protocol header in bytes is always exactly 16 + this value."
    (length,) = struct.unpack_from("!H", data, 14)
    total = 16 + length
    if len(data) < total:
        return None, 0
    block = data[16:total]
    if command == "LOCAL" or family == "UNSPEC" or transport == "UNSPEC":
        # §2.2, LOCAL: "the receiver [...] must use the real connection endpoints
        # and discard the protocol block including the family"; UNSPEC: "The
        # receiver should ignore address information."
        return ProxyHeader(2, command, family, transport), total
    needed = _ADDRESS_LENGTHS[family]
    if length < needed:
        return _bad(f"a version 2 {family} header needs {needed} octets of addresses, not {length}")
    source_port = destination_port = None
    if family == "UNIX":
        source, destination = (_unix_text(block[i : i + 108]) for i in (0, 108))
    else:
        size = 4 if family == "INET" else 16
        ips = (ipaddress.ip_address(block[i : i + size]) for i in (0, size))
        source, destination = (_ipv6_text(ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip) for ip in ips)
        source_port, destination_port = struct.unpack_from("!HH", block, 2 * size)
    tlvs = _tlvs(block, needed)
    if isinstance(tlvs, BadProxyHeader):
        return tlvs, 0
    crc = _check_crc32c(data[:total], tlvs, needed)
    if crc is not None:
        return crc, 0
    header = ProxyHeader(2, command, family, transport, source, destination, source_port, destination_port, tlvs)
    return header, total


def _unix_text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _tlvs(block: bytes, start: int) -> tuple[tuple[int, bytes], ...] | BadProxyHeader:
    # §2.2: "The first byte is the Type of the vector. The second two bytes
    # represent the length in bytes of the value [...] and following the length
    # field is the number of bytes specified by the length."
    found: list[tuple[int, bytes]] = []
    at = start
    while at < len(block):
        if len(block) - at < 3:
            return BadProxyHeader(f"{len(block) - at} octet(s) after the last TLV of a version 2 header")
        kind, size = struct.unpack_from("!BH", block, at)
        if at + 3 + size > len(block):
            return BadProxyHeader(
                f"TLV {kind:#04x} of {size} octets runs past the end of the version 2 header"
                f" ({len(block) - at - 3} left)"
            )
        found.append((kind, block[at + 3 : at + 3 + size]))
        at += 3 + size
    return tuple(found)


def _check_crc32c(header: bytes, tlvs: tuple[tuple[int, bytes], ...], start: int) -> BadProxyHeader | None:
    # §2.2.3: the receiver "MUST [...] replace the 32 bits of the checksum field
    # in the received PROXY header with all '0's and calculate a CRC32c checksum
    # value of the whole PROXY header", and treat a mismatch as invalid.
    at = 16 + start
    for kind, value in tlvs:
        if kind == _PP2_TYPE_CRC32C:
            if len(value) != 4:
                return BadProxyHeader(f"the CRC32C TLV holds 4 octets, not {len(value)}")
            zeroed = header[: at + 3] + b"\x00" * 4 + header[at + 7 :]
            (sent,) = struct.unpack("!I", value)
            if crc32c(zeroed) != sent:
                return BadProxyHeader(f"CRC32C {sent:#010x} does not match the header ({crc32c(zeroed):#010x})")
        at += 3 + len(value)
    return None


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli, RFC 4960 Appendix B), the checksum of the ``CRC32C`` TLV."""
    crc = 0xFFFFFFFF
    for octet in data:
        crc = _CRC32C_TABLE[(crc ^ octet) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
