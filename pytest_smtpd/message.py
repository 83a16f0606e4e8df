"""An accepted message: its envelope, its raw content, and lazily decoded views.

A :class:`Message` is a frozen value. It refers to nothing mutable but its
session's own record, through a :data:`SessionSource` the recorder hands it when
the message is made: ``message.session`` is that session as it stands now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .protocol import Reply

if TYPE_CHECKING:
    from email.message import EmailMessage, MIMEPart

    from .content import LinkMatch, Problem
    from .records import Session

__all__ = ["Attachment", "Message", "SessionSource"]

#: What a recorded message reads its session through: called with no argument,
#: it returns the :class:`~pytest_smtpd.records.Session` as it stands now, or
#: raises ``LookupError`` once the recorder no longer keeps it (``clear()``, or
#: dropped under ``keep``).
SessionSource = Callable[[], "Session"]


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment of a :class:`Message`: its filename, MIME type and decoded bytes."""

    filename: str | None
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True, eq=False)
class Message:
    """An accepted message: its envelope, its raw content, and lazily decoded views.

    ``data`` is the content after dot-unstuffing, exactly as the client sent it.
    Decoding (``email``, ``subject``, ``text``, ...) happens on first access and
    never raises for malformed MIME: the parser's defects are in ``defects``.
    """

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    mail_params: Mapping[str, str | None] = field(default_factory=dict)
    rcpt_params: tuple[Mapping[str, str | None], ...] = ()
    session_id: int = 0
    received_at: float = 0.0
    #: In LMTP, each recipient accepted at RCPT whose reply after the content was
    #: not 2xx, with that reply; ``recipients`` are those that got 2xx. Empty in SMTP.
    refused: Mapping[str, Reply] = field(default_factory=dict)
    #: How the message finds its session (see :data:`SessionSource`); None for a
    #: message no server recorded.
    _session: SessionSource | None = field(default=None, repr=False)
    # One field for everything decoded lazily: each field costs time on every
    # message recorded, whether a test ever looks or not.
    _decoded: Message._Decoded | None = field(default=None, init=False, repr=False)

    class _Decoded:
        """The parse, and what is worked out from it, once asked for."""

        __slots__ = ("email", "links")

        def __init__(self, email: EmailMessage) -> None:
            self.email = email
            self.links: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"<Message from {self.sender!r} to {list(self.recipients)!r} subject={self.subject!r}>"

    # Envelope ---------------------------------------------------------------

    @property
    def size(self) -> int:
        """Length of ``data`` in octets."""
        return len(self.data)

    @property
    def body_type(self) -> str:
        """The MAIL ``BODY=`` parameter (``7BIT`` when not given)."""
        return (self.mail_params.get("BODY") or "7BIT").upper()

    @property
    def smtputf8(self) -> bool:
        """True when MAIL carried ``SMTPUTF8``."""
        return "SMTPUTF8" in self.mail_params

    @property
    def declared_size(self) -> int | None:
        """The MAIL ``SIZE=`` parameter, if given."""
        size = self.mail_params.get("SIZE")
        return int(size) if size is not None and size.isdigit() else None

    @property
    def ret(self) -> str | None:
        """The DSN ``RET=`` parameter (RFC 3461), if given."""
        return self.mail_params.get("RET")

    @property
    def envid(self) -> str | None:
        """The DSN ``ENVID=`` parameter (RFC 3461), if given."""
        return self.mail_params.get("ENVID")

    @property
    def session(self) -> Session:
        """The :class:`Session` this message came through, as it stands now."""
        if self._session is None:
            raise LookupError("this message was not recorded by a server")
        return self._session()

    # Content ------------------------------------------------------------------

    @property
    def email(self) -> EmailMessage:
        """The content parsed with ``email.policy.default`` (parsed once, then cached)."""
        return self._parsed().email

    def _parsed(self) -> Message._Decoded:
        decoded = self._decoded
        if decoded is None:
            from email import policy
            from email.parser import BytesParser

            parsed = BytesParser(policy=policy.default).parsebytes(self.data)
            assert parsed is not None
            decoded = Message._Decoded(parsed)
            object.__setattr__(self, "_decoded", decoded)
        return decoded

    @property
    def defects(self) -> list[str]:
        """MIME defects the parser found, in every part, as text."""
        found: list[str] = []
        for part in self.email.walk():
            found.extend(f"{type(d).__name__}: {d}" if str(d) else type(d).__name__ for d in part.defects)
        return found

    def __getitem__(self, name: str) -> str | None:
        """A decoded header value (``msg["Subject"]``), None when absent."""
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of a header that may repeat (``Received``, ``To``)."""
        wanted = name.lower()
        return [value for key, value in self._decoded_headers() if key.lower() == wanted]

    @property
    def headers(self) -> dict[str, str]:
        """The top-level headers, decoded; a repeated header keeps its first value."""
        result: dict[str, str] = {}
        for name, value in self._decoded_headers():
            result.setdefault(name, value)
        return result

    def _decoded_headers(self) -> list[tuple[str, str]]:
        """Every top-level header, in order. A value the parser cannot decode
        (it raises on some malformed ones, e.g. ``Message-ID: <<>>``) is kept raw."""
        parsed = self.email
        found: list[tuple[str, str]] = []
        for name, raw in parsed.raw_items():
            try:
                value = str(parsed.policy.header_fetch_parse(name, raw))
            except Exception:
                value = raw.replace("\r\n", "").replace("\n", "")
            found.append((name, value))
        return found

    @property
    def subject(self) -> str | None:
        """The decoded ``Subject`` header, None when absent."""
        return self["Subject"]

    @property
    def text(self) -> str | None:
        """The decoded plain-text body, None when there is none."""
        return self._body("plain")

    @property
    def html(self) -> str | None:
        """The decoded HTML body, None when there is none."""
        return self._body("html")

    def _body(self, subtype: str) -> str | None:
        try:
            part = self.email.get_body(preferencelist=(subtype,))
        except Exception:  # malformed structure: treat as no such body
            return None
        if part is None:
            return None
        return _decode_text(part)

    @property
    def attachments(self) -> list[Attachment]:
        """Every part that is an attachment or an inline non-text part, decoded.

        An attached message (``message/rfc822``) is one attachment whose
        ``content`` is the embedded message as bytes (written back from the
        parse, with the original line endings and header folding); its parts
        are not listed.
        """
        bodies = set()
        for subtype in ("plain", "html"):
            try:
                body = self.email.get_body(preferencelist=(subtype,))
            except Exception:
                body = None
            if body is not None:
                bodies.add(id(body))
        found: list[Attachment] = []
        for part in _leaf_parts(self.email):
            if id(part) in bodies or part.get_content_maintype() == "multipart":
                continue
            if part.get_content_maintype() == "message":
                content = _embedded_bytes(part, b"\r\n" if b"\r\n" in self.data else b"\n")
                found.append(Attachment(part.get_filename(), part.get_content_type(), content))
                continue
            disposition = part.get_content_disposition()
            if disposition is None and part.get_content_maintype() == "text" and part.get_filename() is None:
                continue
            raw = part.get_payload(decode=True)
            found.append(
                Attachment(part.get_filename(), part.get_content_type(), raw if isinstance(raw, bytes) else b"")
            )
        return found

    # What users check in an email ------------------------------------------------

    @property
    def links(self) -> list[str]:
        """The links in the text and HTML bodies, each once, in order of first
        appearance, the text body's first.

        Bodies are decoded first (``text`` and ``html``), so a quoted-printable
        soft line break or ``=3D`` never cuts a URL. In the text body: every
        ``http://`` or ``https://`` URL, ending before white space, ``<``, ``>``
        or ``"``, without a trailing ``.,;:!?)``. In the HTML body: the ``href``
        of every ``<a>`` and ``<area>``, entities unescaped (``&amp;`` is ``&``)
        and otherwise as written, so ``mailto:`` and relative hrefs are links
        too. Found once, then cached.
        """
        decoded = self._parsed()
        if decoded.links is None:
            from .content import find_links

            decoded.links = tuple(find_links(self.text, self.html))
        return list(decoded.links)

    def link(self, match: LinkMatch | None = None) -> str:
        """The one link that matches ``match``: a string is a substring of the
        link, a compiled regex is searched in it, a predicate is called with
        each link. ``None`` means the message must have exactly one link.

        Raises ``AssertionError`` listing every link when not exactly one
        matches::

            reset_url = msg.link("/reset/")
        """
        __tracebackhide__ = True
        from .content import describe_links, matching_links

        links = self.links
        found = matching_links(links, match)
        if len(found) != 1:
            raise AssertionError(describe_links(links, match))
        return found[0]

    @property
    def problems(self) -> list[Problem]:
        """What is wrong with this message as RFC 5322 and MIME define it, as a list
        of :class:`~pytest_smtpd.Problem` (empty for a well-formed message).

        The kinds: ``missing-date``, ``missing-from``, ``missing-message-id``,
        ``duplicate-header``, ``line-too-long``, ``non-ascii-header``,
        ``invalid-address``, ``missing-mime-version``, ``mime-defect`` and
        ``no-text-part``; :func:`pytest_smtpd.content.find_problems` says what
        each checks. Checked on each access; never raises.
        """
        from .content import find_problems

        return find_problems(self.data, self.email, smtputf8=self.smtputf8)

    def assert_well_formed(self) -> None:
        """Fail with an ``AssertionError`` listing :attr:`problems`, if there are any."""
        __tracebackhide__ = True
        problems = self.problems
        if problems:
            listed = "\n".join(f"  {problem}" for problem in problems)
            raise AssertionError(f"{self!r} is not well formed:\n{listed}")

    def normalized(self) -> str:
        """The message as text for snapshot tests (``assert msg.normalized() == snapshot``).

        Headers and decoded parts, with what changes from one sending to the next
        (``Date``, message IDs, ``Content-ID``, MIME boundaries) replaced by
        numbered placeholders such as ``<date>``, ``<message-id-1>`` and
        ``<boundary-1>``: the same code sending the same mail at another time
        gives the same text. Non-text parts appear as their content type,
        filename and size; :func:`pytest_smtpd.content.normalize` has the details.
        """
        from .content import normalize

        return normalize(self.email)


def _leaf_parts(part: MIMEPart) -> Iterator[MIMEPart]:
    """The parts of ``part`` that are not containers, depth first; a
    ``message/*`` part is one leaf (the message inside is not entered)."""
    if part.get_content_maintype() == "message" or not part.is_multipart():
        yield part
        return
    for sub in part.iter_parts():
        yield from _leaf_parts(sub)


def _embedded_bytes(part: MIMEPart, linesep: bytes) -> bytes:
    """The body of a ``message/*`` part (the message inside), as bytes."""
    from email import policy

    try:
        rendered = part.as_bytes(policy=policy.default.clone(linesep=linesep.decode(), refold_source="none"))
    except Exception:
        raw = part.get_payload(decode=True)
        return raw if isinstance(raw, bytes) else b""
    if rendered.startswith(linesep):
        return rendered[len(linesep) :]
    return rendered.partition(linesep + linesep)[2]


def _decode_text(part: MIMEPart) -> str:
    r"""A text part decoded to str, with SMTP's CRLF line endings turned into ``\n``."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(part.get_payload())
    text = content if isinstance(content, str) else str(content)
    return text.replace("\r\n", "\n")
