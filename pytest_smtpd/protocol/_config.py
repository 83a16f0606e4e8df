"""Limits and configuration: what the core needs to know about the server it speaks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..extensions import AUTH_MECHANISMS, DEFAULT_EXTENSIONS, KNOWN_EXTENSIONS

#: RFC 5321 §4.5.3.1.4: "The maximum total length of a command line including
#: the command word and the <CRLF> is 512 octets. SMTP extensions may be used to
#: increase this limit." See :data:`LINE_EXTENSIONS`.
COMMAND_LINE_LIMIT: Final = 512
#: The octets that each extension in force adds to the limit of a verb's command
#: line, beyond :data:`COMMAND_LINE_LIMIT`. The reader takes in a line up to the
#: largest of these limits in force (it cannot know the verb before the line
#: ends); a line over its own verb's limit is then refused with ``500 5.5.6``.
LINE_EXTENSIONS: Final[Mapping[str, tuple[tuple[str, int], ...]]] = {
    "MAIL": (
        # RFC 1870 §3: "the maximum length of a MAIL FROM command line is
        # increased by 26 characters by the possible addition of the SIZE
        # keyword and value".
        ("SIZE", 26),
        # The longest BODY parameter accepted (RFC 6152, RFC 3030 §3).
        ("8BITMIME", len(" BODY=BINARYMIME")),
        # RFC 6531 §3.1: the SMTPUTF8 parameter adds 10 octets to MAIL.
        ("SMTPUTF8", 10),
        # RFC 3461 §4.3, §4.4: RET=FULL|HDRS and an ENVID of up to 100 characters.
        ("DSN", len(" RET=HDRS") + len(" ENVID=") + 100),
        # RFC 4954 §5: the AUTH parameter "extends the maximum line length of
        # the MAIL FROM command by 500 characters".
        ("AUTH", 500),
    ),
    "RCPT": (
        # RFC 3461 §4.1, §4.2: the longest NOTIFY list, and an ORCPT of up to
        # 500 characters; §5.1(b): a server MUST NOT refuse a RCPT for valid
        # NOTIFY or ORCPT parameters.
        ("DSN", len(" NOTIFY=SUCCESS,FAILURE,DELAY") + len(" ORCPT=") + 500),
    ),
}
#: RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets, CRLF included.
TEXT_LINE_LIMIT: Final = 1000
#: RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
REPLY_LINE_LIMIT: Final = 512

#: The core's own refusals of a client's mistake (syntax, sequence, parameters)
#: in a row after which it answers ``421 4.7.0`` and closes, like Postfix's
#: ``smtpd_hard_error_limit``. Any positive reply starts the count again.
ERROR_LIMIT: Final = 20
#: The codes counted towards :data:`ERROR_LIMIT` when the core proposed them and
#: they were sent unchanged. Scripted replies, limits (452, 552), policy (530,
#: 535, 538) and the server's own trouble (451) never count.
CLIENT_ERROR_CODES: Final = frozenset({500, 501, 502, 503, 504, 550, 553, 554, 555})

#: RFC 4954 §4: an AUTH response line may be up to 12288 octets.
AUTH_LINE_LIMIT: Final = 12288


@dataclass(frozen=True, slots=True)
class ProtocolConfig:
    """What the core needs to know about the server it speaks for."""

    hostname: str = "localhost"
    size_limit: int = 32 * 1024 * 1024
    max_recipients: int = 1000
    extensions: frozenset[str] = frozenset(DEFAULT_EXTENSIONS)
    #: Offer STARTTLS (the transport does the handshake).
    starttls: bool = False
    #: MAIL before TLS gets 530 5.7.0.
    tls_required: bool = False
    #: AUTH accounts, name -> password; None turns AUTH off.
    users: Mapping[str, str] | None = None
    auth_mechanisms: tuple[str, ...] = AUTH_MECHANISMS
    #: MAIL before AUTH gets 530 5.7.0.
    auth_required: bool = False
    #: AUTH only under TLS: 538 5.7.11 before it.
    auth_require_tls: bool = False
    #: After the content, one reply per recipient, in RCPT order, instead of one
    #: for the message (RFC 2033 §4.2, LMTP): see "Several replies for one event"
    #: in :mod:`pytest_smtpd.protocol`.
    reply_per_recipient: bool = False
    #: Speak LMTP (RFC 2033): ``LHLO`` instead of HELO/EHLO (which get ``500
    #: 5.5.1``), and one reply per recipient after the content (it implies
    #: ``reply_per_recipient``). RFC 2033 §5: PIPELINING and ENHANCEDSTATUSCODES
    #: are always offered.
    lmtp: bool = False

    def __post_init__(self) -> None:
        unknown = {e.upper() for e in self.extensions} - set(KNOWN_EXTENSIONS)
        if unknown:
            raise ValueError(
                f"unknown extension(s) {sorted(unknown)}; known: {', '.join(KNOWN_EXTENSIONS)} "
                "(STARTTLS and AUTH have options of their own)"
            )
        extensions = frozenset(e.upper() for e in self.extensions)
        if self.lmtp:
            # RFC 2033 §5: "The LMTP server MUST support the PIPELINING [...]
            # and ENHANCEDSTATUSCODES [...] extensions"; §4.2: a reply per recipient.
            extensions |= {"PIPELINING", "ENHANCEDSTATUSCODES"}
            object.__setattr__(self, "reply_per_recipient", True)
        object.__setattr__(self, "extensions", extensions)
