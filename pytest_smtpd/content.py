"""What users check in an email: its links, whether it is well formed, and a
stable text of it for snapshot tests.

Pure functions over a message's raw bytes, its parse (``email.policy.default``)
and its decoded bodies; :class:`~pytest_smtpd.Message` exposes them as
``links``, ``link()``, ``problems``, ``assert_well_formed()`` and
``normalized()``. Nothing here runs when a message is recorded, and nothing
raises on malformed input: what cannot be parsed is a :class:`Problem`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.headerregistry import AddressHeader, BaseHeader
from email.message import MIMEPart
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Union

from .message import _decode_text

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = [
    "MAX_LINE_OCTETS",
    "LinkMatch",
    "Problem",
    "ProblemKind",
    "describe_links",
    "find_links",
    "find_problems",
    "html_links",
    "link_matches",
    "matching_links",
    "normalize",
    "text_links",
]

#: What ``Message.link(match)`` and the ``link=`` filter accept: a string (a
#: substring of the link), a compiled regex (``re.search``) or a predicate
#: called with each link.
LinkMatch = Union[str, "re.Pattern[str]", Callable[[str], object]]

#: RFC 5322 §2.1.1: "Each line of characters MUST be no more than 998
#: characters, ... excluding the CRLF."
MAX_LINE_OCTETS = 998


# Links ----------------------------------------------------------------------------

# A URL in plain text ends before white space, "<", ">" or '"'.
_TEXT_URL = re.compile(r"""https?://[^\s<>"]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)"
_SCHEME_ONLY = re.compile(r"https?://", re.IGNORECASE)


def text_links(text: str | None) -> list[str]:
    """Every ``http://`` or ``https://`` URL in a plain-text body, in order.

    A URL ends before white space, ``<``, ``>`` or ``"``, and loses any
    trailing ``.,;:!?)`` (the full stop or closing parenthesis of the sentence
    around it). Repeats are kept; :func:`find_links` removes them.
    """
    if not text:
        return []
    found = []
    for match in _TEXT_URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        if not _SCHEME_ONLY.fullmatch(url):
            found.append(url)
    return found


class _HrefParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("a", "area"):
            return
        # The first href wins, as in browsers; html.parser has unescaped it.
        href = next((value for name, value in attrs if name == "href"), None)
        if href is not None and href.strip():
            self.hrefs.append(href.strip())


def html_links(html: str | None) -> list[str]:
    """The ``href`` of every ``<a>`` and ``<area>`` in an HTML body, in order.

    Entities are unescaped (``&amp;`` is ``&``) and surrounding white space is
    removed, as a browser does; otherwise each href is kept as written, so
    ``mailto:`` and relative links are links too. Empty hrefs are not.
    Repeats are kept; :func:`find_links` removes them.
    """
    if not html:
        return []
    parser = _HrefParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; keep what it found before giving up
        pass
    return parser.hrefs


def find_links(text: str | None, html: str | None) -> list[str]:
    """The links of a message: :func:`text_links` of its text body, then
    :func:`html_links` of its HTML body, each link once, in order of first
    appearance."""
    return list(dict.fromkeys([*text_links(text), *html_links(html)]))


def link_matches(link: str, match: LinkMatch) -> bool:
    """Whether ``link`` matches: a string is a substring, a regex is searched,
    a predicate is called with the link."""
    if isinstance(match, str):
        return match in link
    if isinstance(match, re.Pattern):
        return match.search(link) is not None
    return bool(match(link))


def matching_links(links: Iterable[str], match: LinkMatch | None) -> list[str]:
    """The links that match (all of them for ``None``)."""
    if match is None:
        return list(links)
    return [link for link in links if link_matches(link, match)]


def describe_links(links: Sequence[str], match: LinkMatch | None) -> str:
    """Why ``Message.link(match)`` failed: how many links matched, and every link."""
    found = matching_links(links, match)
    wanted = "exactly one link" if match is None else f"exactly one link matching {_show_match(match)}"
    if not links:
        return f"expected {wanted}; the message has no links"
    lines = [f"expected {wanted}, found {len(found)} among {_count(len(links), 'link')}:"]
    for link in links:
        lines.append(f"  {link}  (matches)" if match is not None and link in found else f"  {link}")
    return "\n".join(lines)


def _show_match(match: LinkMatch) -> str:
    if isinstance(match, re.Pattern):
        return f"re.compile({match.pattern!r})"
    if isinstance(match, str):
        return repr(match)
    return getattr(match, "__qualname__", repr(match))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# Problems -------------------------------------------------------------------------


class ProblemKind(str, enum.Enum):
    """What :attr:`Problem.kind` can be, with the rule each kind checks."""

    #: RFC 5322 §3.6: ``Date`` (orig-date) is required, exactly once.
    MISSING_DATE = "missing-date"
    #: RFC 5322 §3.6: ``From`` is required, exactly once.
    MISSING_FROM = "missing-from"
    #: RFC 5322 §3.6.4: every message SHOULD have a ``Message-ID``.
    MISSING_MESSAGE_ID = "missing-message-id"
    #: RFC 5322 §3.6 (the table's "max number" 1) and RFC 2045 §3 / §5 / §6:
    #: a field that may appear once appears twice in one header section.
    DUPLICATE_HEADER = "duplicate-header"
    #: RFC 5322 §2.1.1: a line over 998 octets (the CRLF not counted).
    LINE_TOO_LONG = "line-too-long"
    #: RFC 5322 §2.2: header fields are US-ASCII; raw UTF-8 needs SMTPUTF8
    #: (RFC 6531, RFC 6532), otherwise RFC 2047 encoded words.
    NON_ASCII_HEADER = "non-ascii-header"
    #: RFC 5322 §3.4 / §3.6.2 / §3.6.3: an address field that does not parse.
    INVALID_ADDRESS = "invalid-address"
    #: RFC 2045 §4: a message with MIME fields must say ``MIME-Version: 1.0``.
    MISSING_MIME_VERSION = "missing-mime-version"
    #: RFC 2045–2049: what the ``email`` package reports (a multipart without
    #: boundary, bad base64, ...), and text that is not in its declared charset.
    MIME_DEFECT = "mime-defect"
    #: RFC 2046 §5.1.4: HTML without a ``text/plain`` alternative.
    NO_TEXT_PART = "no-text-part"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in a message as RFC 5322 and MIME (RFC 2045–2049) define it.

    ``kind`` is one of the strings of :class:`~pytest_smtpd.content.ProblemKind`
    (``"missing-date"``, ``"duplicate-header"``, ...); ``detail`` says where,
    and what to change.
    """

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def _problem(kind: ProblemKind, detail: str) -> Problem:
    return Problem(kind.value, detail)


#: RFC 5322 §3.6's fields that may appear at most once, with MIME's (RFC 2045).
ONCE_ONLY = (
    "Date",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Subject",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
#: The once-only fields a body part's header section can have (RFC 2045 §3).
_PART_ONCE_ONLY = ("MIME-Version", "Content-Type", "Content-Transfer-Encoding")
_ADDRESS_FIELDS = ("From", "Sender", "Reply-To", "To", "Cc")
_MULTIPLE_ALLOWED = ("From", "Reply-To", "To", "Cc")


def find_problems(data: bytes, parsed: EmailMessage, *, smtputf8: bool = False) -> list[Problem]:
    """Every :class:`Problem` of a message: ``data`` as received, ``parsed``
    its parse with ``email.policy.default``, ``smtputf8`` whether MAIL carried
    SMTPUTF8. Line lengths and 8-bit octets are checked on the raw bytes, the
    rest on the parse. Each problem is listed once.

    The checks, by kind:

    - ``missing-date``, ``missing-from``, ``missing-message-id``: the field is
      absent from the top-level header section (RFC 5322 §3.6, §3.6.4).
    - ``duplicate-header``: one of :data:`ONCE_ONLY` appears twice in the
      top-level header section, or ``MIME-Version``, ``Content-Type`` or
      ``Content-Transfer-Encoding`` twice in a body part's (or an attached
      message's) header section.
    - ``line-too-long``: a line of the header section or of the body over 998
      octets, CRLF not counted (RFC 5322 §2.1.1); one problem for the header
      section and one for the body, naming the first such line.
    - ``non-ascii-header``: an octet over 127 in a top-level header field when
      MAIL had no SMTPUTF8 (RFC 5322 §2.2, RFC 6532 §3).
    - ``invalid-address``: ``From``, ``Sender``, ``Reply-To``, ``To`` or ``Cc``
      that ``email.headerregistry`` parses with a defect, that names an address
      without ``@domain`` or no address at all, or a ``From`` with several
      mailboxes and no ``Sender`` (RFC 5322 §3.6.2). Group syntax such as
      ``undisclosed-recipients:;`` is valid.
    - ``missing-mime-version``: a top-level ``Content-*`` field without
      ``MIME-Version`` (RFC 2045 §4).
    - ``mime-defect``: each defect the ``email`` package finds in any part,
      base64 included (it only looks at base64 when decoding, so every part is
      decoded here), and a text part whose bytes are not in its charset.
    - ``no-text-part``: an HTML body and no ``text/plain`` one (RFC 2046
      §5.1.4: offer the plain text as the first alternative).
    """
    found: list[Problem] = []
    for check in (_header_fields, _addresses, _raw_lines, _mime_defects, _text_part):
        try:
            found.extend(check(data, parsed, smtputf8))
        except Exception as exc:  # the parse is lenient: a check that still fails says so
            found.append(_problem(ProblemKind.MIME_DEFECT, f"the message could not be checked ({exc!r})"))
    return list(dict.fromkeys(found))


def _names(part: MIMEPart) -> list[str]:
    return [name.lower() for name in part]


def _header_fields(data: bytes, parsed: EmailMessage, smtputf8: bool) -> Iterator[Problem]:
    names = _names(parsed)
    for field, kind in (
        ("date", ProblemKind.MISSING_DATE),
        ("from", ProblemKind.MISSING_FROM),
        ("message-id", ProblemKind.MISSING_MESSAGE_ID),
    ):
        if field not in names:
            title = {"date": "Date", "from": "From", "message-id": "Message-ID"}[field]
            rule = "RFC 5322 §3.6.4 says it SHOULD be there" if field == "message-id" else "RFC 5322 §3.6 requires it"
            yield _problem(kind, f"no {title} header; {rule}")
    for field in ONCE_ONLY:
        count = names.count(field.lower())
        if count > 1:
            yield _problem(ProblemKind.DUPLICATE_HEADER, f"{field} appears {count} times; RFC 5322 §3.6 allows it once")
    if "mime-version" not in names:
        mime = [name for name in parsed if name.lower().startswith("content-")]
        if mime:
            yield _problem(
                ProblemKind.MISSING_MIME_VERSION,
                f"{', '.join(mime)} without MIME-Version; RFC 2045 §4 requires 'MIME-Version: 1.0'",
            )
    for path, part in _parts(parsed):
        if part is parsed:
            continue
        part_names = _names(part)
        for field in _PART_ONCE_ONLY:
            count = part_names.count(field.lower())
            if count > 1:
                yield _problem(ProblemKind.DUPLICATE_HEADER, f"{field} appears {count} times in {path}")


def _addresses(data: bytes, parsed: EmailMessage, smtputf8: bool) -> Iterator[Problem]:
    for field in _ADDRESS_FIELDS:
        for raw in _raw_values(parsed, field):
            yield from _address_problems(parsed, field, raw)
    from_values = _raw_values(parsed, "From")
    if from_values and not _raw_values(parsed, "Sender"):
        mailboxes = _mailbox_count(parsed, from_values[0])
        if mailboxes > 1:
            yield _problem(
                ProblemKind.INVALID_ADDRESS,
                f"From names {mailboxes} mailboxes and there is no Sender; RFC 5322 §3.6.2 requires one",
            )


def _raw_values(parsed: EmailMessage, field: str) -> list[str]:
    wanted = field.lower()
    return [raw for name, raw in parsed.raw_items() if name.lower() == wanted]


def _address_problems(parsed: EmailMessage, field: str, raw: str) -> Iterator[Problem]:
    shown = " ".join(raw.split())
    try:
        header = parsed.policy.header_fetch_parse(field, raw)
        if not isinstance(header, AddressHeader) or not isinstance(header, BaseHeader):
            raise TypeError(f"email parsed {field} as {type(header).__name__}")
        defects = list(header.defects)
        addresses = list(header.addresses)
        groups = list(header.groups)
    except Exception as exc:
        yield _problem(ProblemKind.INVALID_ADDRESS, f"{field}: {shown!r} does not parse ({exc!r})")
        return
    # email flags an address without a domain as a defect too; naming the address says more.
    no_domain = [address.addr_spec for address in addresses if not address.domain]
    if no_domain:
        for spec in no_domain:
            yield _problem(ProblemKind.INVALID_ADDRESS, f"{field}: {spec!r} has no @domain (RFC 5322 §3.4.1)")
    elif defects:
        why = "; ".join(dict.fromkeys(str(d) or type(d).__name__ for d in defects))
        yield _problem(ProblemKind.INVALID_ADDRESS, f"{field}: {shown!r}: {why}")
    elif not groups:
        yield _problem(
            ProblemKind.INVALID_ADDRESS,
            f"{field} is empty; RFC 5322 §3.4 needs an address (or a group: 'undisclosed-recipients:;')",
        )
    if field not in _MULTIPLE_ALLOWED and len(addresses) > 1:
        yield _problem(ProblemKind.INVALID_ADDRESS, f"{field}: {shown!r} names {len(addresses)} mailboxes, not one")


def _mailbox_count(parsed: EmailMessage, raw: str) -> int:
    try:
        header = parsed.policy.header_fetch_parse("From", raw)
    except Exception:
        return 0
    return len(header.addresses) if isinstance(header, AddressHeader) else 0


def _raw_lines(data: bytes, parsed: EmailMessage, smtputf8: bool) -> Iterator[Problem]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    in_header = True
    long_lines: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    field = ""
    eight_bit: dict[str, None] = {}
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if in_header and not line:
            in_header = False
            continue
        if len(line) > MAX_LINE_OCTETS:
            long_lines[in_header].append((number, len(line)))
        if in_header:
            if line[:1] not in (b" ", b"\t"):
                field = line.partition(b":")[0].decode("ascii", "replace").strip() or "(no name)"
            if not smtputf8 and not line.isascii():
                eight_bit.setdefault(field)
    for header, where in ((True, "header section"), (False, "body")):
        if long_lines[header]:
            number, length = long_lines[header][0]
            more = len(long_lines[header]) - 1
            also = f" ({_count(more, 'more line')} too)" if more else ""
            yield _problem(
                ProblemKind.LINE_TOO_LONG,
                f"line {number} (in the {where}) is {length} octets{also}; RFC 5322 §2.1.1 allows 998 plus CRLF",
            )
    for name in eight_bit:
        yield _problem(
            ProblemKind.NON_ASCII_HEADER,
            f"{name} has raw 8-bit octets and MAIL had no SMTPUTF8; encode it as RFC 2047 encoded words",
        )


def _parts(parsed: MIMEPart) -> Iterator[tuple[str, MIMEPart]]:
    """Every part with a name for messages ("the message", "part 2.1 (text/html)")."""

    def walk(part: MIMEPart, number: str) -> Iterator[tuple[str, MIMEPart]]:
        yield (f"part {number} ({part.get_content_type()})" if number else "the message"), part
        if part.is_multipart():
            payload = part.get_payload()
            subparts = payload if isinstance(payload, list) else []
            for index, sub in enumerate(subparts, start=1):
                yield from walk(sub, f"{number}.{index}" if number else str(index))

    return walk(parsed, "")


def _mime_defects(data: bytes, parsed: EmailMessage, smtputf8: bool) -> Iterator[Problem]:
    for path, part in _parts(parsed):
        yield from _defects(path, part.defects)
        if part.is_multipart():
            continue
        # email notes base64 defects only while decoding: decode, report, and
        # leave the cached parse's defect list as it was.
        kept = len(part.defects)
        try:
            payload = part.get_payload(decode=True)
            yield from _defects(path, part.defects[kept:])
        finally:
            del part.defects[kept:]
        if part.get_content_maintype() == "text" and isinstance(payload, bytes):
            yield from _charset_problems(path, part, payload)


def _defects(path: str, defects: Iterable[Exception]) -> Iterator[Problem]:
    for defect in defects:
        what = str(defect) or (type(defect).__doc__ or "").strip().splitlines()[0].rstrip(".")
        yield _problem(ProblemKind.MIME_DEFECT, f"{path}: {type(defect).__name__}: {what}")


def _charset_problems(path: str, part: MIMEPart, payload: bytes) -> Iterator[Problem]:
    declared = part.get_param("charset")
    charset = declared if isinstance(declared, str) else "us-ascii"  # RFC 2045 §5.2's default
    try:
        payload.decode(charset)
    except LookupError:
        yield _problem(ProblemKind.MIME_DEFECT, f"{path}: unknown charset {charset!r}")
    except UnicodeDecodeError as exc:
        said = f"charset={charset}" if isinstance(declared, str) else "no charset (so us-ascii, RFC 2045 §5.2)"
        yield _problem(
            ProblemKind.MIME_DEFECT,
            f"{path}: declares {said} but octet {exc.start} is {payload[exc.start : exc.start + 1]!r}",
        )


def _text_part(data: bytes, parsed: EmailMessage, smtputf8: bool) -> Iterator[Problem]:
    if _has_body(parsed, "html") and not _has_body(parsed, "plain"):
        yield _problem(
            ProblemKind.NO_TEXT_PART,
            "an HTML body and no text/plain alternative; send multipart/alternative with the text first",
        )


def _has_body(parsed: EmailMessage, subtype: str) -> bool:
    try:
        return parsed.get_body(preferencelist=(subtype,)) is not None
    except Exception:
        return False


# Normalized text --------------------------------------------------------------------

_MESSAGE_ID_FIELDS = ("message-id", "in-reply-to", "references", "resent-message-id")
_DATE_FIELDS = ("date", "resent-date")
_ANGLE_ID = re.compile(r"<[^<>]*>")


class _Placeholders:
    """Numbered stand-ins, the same one each time the same value comes back."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, value: str) -> str:
        key = (kind, value)
        if key not in self._seen:
            number = sum(1 for seen_kind, _ in self._seen if seen_kind == kind) + 1
            self._seen[key] = f"{kind}-{number}"
        return self._seen[key]

    def content_ids(self) -> list[tuple[str, str]]:
        return [(value, name) for (kind, value), name in self._seen.items() if kind == "content-id"]


def normalize(parsed: EmailMessage) -> str:
    """The message as text for snapshot tests.

    Every header as sent (unfolded and decoded), in order, then the body: a
    multipart's parts each after a ``--<boundary-N>`` line, each with its own
    headers. What changes from one sending to the next is replaced by stable
    placeholders numbered in order of appearance: ``Date`` by ``<date>``, each
    message ID in ``Message-ID``, ``In-Reply-To`` and ``References`` by
    ``<message-id-N>`` (the same ID always by the same number), each
    ``Content-ID`` by ``<content-id-N>`` (and ``cid:`` references to it in
    text parts by ``cid:content-id-N``), each MIME boundary by
    ``<boundary-N>``. Text parts appear decoded; any other part as one line
    with its content type, filename and size in octets (its content is not
    shown: check it with ``Message.attachments``). Preambles and epilogues of
    multiparts are left out.
    """
    ids = _Placeholders()
    out: list[str] = []
    try:
        _render(parsed, out, ids)
    except Exception as exc:  # the parse is lenient: say what could not be rendered
        out.append(f"[the message could not be rendered further: {exc!r}]")
    text = "\n".join(out) + "\n"
    for value, name in ids.content_ids():
        text = text.replace(f"cid:{value}", f"cid:{name}")
    # Undecodable header octets come out of the parser as surrogates: show them as UTF-8 would.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _render(part: MIMEPart, out: list[str], ids: _Placeholders) -> None:
    boundary = part.get_boundary() if part.is_multipart() else None
    placeholder = f"<{ids('boundary', boundary)}>" if boundary else None
    for name, raw in part.raw_items():
        out.append(f"{name}: {_header_value(part, name, raw, ids, boundary, placeholder)}")
    out.append("")
    payload = part.get_payload()
    if part.get_content_maintype() == "message" and isinstance(payload, list):
        for inner in payload:
            if isinstance(inner, MIMEPart):
                _render(inner, out, ids)
        return
    if part.is_multipart() and isinstance(payload, list):
        marker = f"--{placeholder or '<no-boundary>'}"
        for sub in payload:
            if isinstance(sub, MIMEPart):
                out.append(marker)
                _render(sub, out, ids)
        out.append(f"{marker}--")
        return
    if part.get_content_maintype() == "text":
        body = _decode_text(part)
        out.append(body[:-1] if body.endswith("\n") else body)
        return
    content = part.get_payload(decode=True)
    size = len(content) if isinstance(content, bytes) else 0
    filename = _filename(part)
    named = f", filename {filename!r}" if filename is not None else ""
    out.append(f"[{part.get_content_type()}{named}, {_count(size, 'octet')}]")


def _filename(part: MIMEPart) -> str | None:
    try:
        return part.get_filename()
    except Exception:
        return None


def _header_value(
    part: MIMEPart, name: str, raw: str, ids: _Placeholders, boundary: str | None, placeholder: str | None
) -> str:
    field = name.lower()
    if field in _DATE_FIELDS:
        return "<date>"
    try:
        value = str(part.policy.header_fetch_parse(name, raw))
    except Exception:
        value = raw
    value = value.replace("\r", "").replace("\n", "")  # RFC 5322 §2.2.3: unfolding removes the CRLFs
    if field in _MESSAGE_ID_FIELDS:
        if not _ANGLE_ID.search(value):
            return f"<{ids('message-id', value.strip())}>" if value.strip() else value
        return _ANGLE_ID.sub(lambda m: f"<{ids('message-id', m.group())}>", value)
    if field == "content-id":
        cid = value.strip()
        return f"<{ids('content-id', cid[1:-1] if _ANGLE_ID.fullmatch(cid) else cid)}>"
    if field == "content-type" and boundary and placeholder:
        pattern = r'(boundary\s*=\s*)("?)' + re.escape(boundary) + r"\2"
        value = re.sub(pattern, lambda m: f'{m.group(1)}"{placeholder}"', value, flags=re.IGNORECASE)
    return value
