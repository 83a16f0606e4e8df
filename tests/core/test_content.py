"""Links, well-formedness problems and the normalized text, on hand-made bytes."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_smtpd import Message, Problem, ProblemKind
from pytest_smtpd.content import find_links, html_links, text_links

HEADERS = (
    "From: App <app@example.com>",
    "To: alice@example.com",
    "Subject: Hello",
    "Date: Mon, 01 Jan 2024 00:00:00 +0000",
    "Message-ID: <1@example.com>",
)
PLAIN = ("MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: 7bit")


def raw(*lines: str | bytes) -> bytes:
    """Lines joined with CRLF, ending with CRLF; str lines must be ASCII."""
    return b"".join((line.encode("ascii") if isinstance(line, str) else line) + b"\r\n" for line in lines)


def message(data: bytes, *, smtputf8: bool = False) -> Message:
    params: dict[str, str | None] = {"SMTPUTF8": None} if smtputf8 else {}
    return Message(sender="app@example.com", recipients=("alice@example.com",), data=data, mail_params=params)


def kinds(data: bytes, *, smtputf8: bool = False) -> list[str]:
    return [problem.kind for problem in message(data, smtputf8=smtputf8).problems]


def without(name: str) -> tuple[str, ...]:
    return tuple(line for line in HEADERS if not line.startswith(name + ":"))


def alternative(text_part: tuple[str, ...], html_part: tuple[str, ...]) -> bytes:
    return raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b"',
        "",
        "--b",
        *text_part,
        "--b",
        *html_part,
        "--b--",
    )


# Links ----------------------------------------------------------------------------


def test_a_quoted_printable_soft_break_inside_a_url_does_not_cut_it() -> None:
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Reset: https://app.example.com/reset/?uid=3DMQ&token=3Dc4t-0ken-with-a-very=",
        "-long-tail&next=3D/account",
        "Bye",
    )
    assert message(data).links == [
        "https://app.example.com/reset/?uid=MQ&token=c4t-0ken-with-a-very-long-tail&next=/account"
    ]


def test_base64_html_is_decoded_and_amp_entities_unescaped() -> None:
    html = '<p><a href="https://app.example.com/confirm?a=1&amp;b=2">Confirm</a></p>'
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(html.encode()).decode(),
    )
    assert message(data).links == ["https://app.example.com/confirm?a=1&b=2"]


def test_duplicate_links_across_parts_appear_once_text_first() -> None:
    data = alternative(
        ('Content-Type: text/plain; charset="utf-8"', "", "See https://a.example/one and https://a.example/two"),
        (
            'Content-Type: text/html; charset="utf-8"',
            "",
            '<a href="https://a.example/two">2</a><a href="https://a.example/three">3</a>'
            '<a href="https://a.example/one">1</a><a href="https://a.example/three">3 again</a>',
        ),
    )
    assert message(data).links == ["https://a.example/one", "https://a.example/two", "https://a.example/three"]


@pytest.mark.parametrize("punctuation", list(".,;:!?)"))
def test_trailing_punctuation_is_not_part_of_a_text_url(punctuation: str) -> None:
    assert text_links(f"(see https://a.example/path?q=1{punctuation} then") == ["https://a.example/path?q=1"]


def test_trailing_punctuation_is_stripped_however_much_there_is() -> None:
    assert text_links("(at https://a.example/x).") == ["https://a.example/x"]
    assert text_links("https://a.example/x.y?z=1,2") == ["https://a.example/x.y?z=1,2"]  # inside, it stays


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("go to https://a.example/p now", "https://a.example/p"),
        ("go to https://a.example/p\tnow", "https://a.example/p"),
        ("line\nhttps://a.example/p\nnext", "https://a.example/p"),
        ("<https://a.example/p>", "https://a.example/p"),
        ("https://a.example/p<br>", "https://a.example/p"),
        ('href="https://a.example/p"', "https://a.example/p"),
        ("HTTPS://A.example/P", "HTTPS://A.example/P"),
        ("http://a.example", "http://a.example"),
    ],
)
def test_a_text_url_ends_before_white_space_angle_brackets_and_quotes(text: str, url: str) -> None:
    assert text_links(text) == [url]


def test_only_http_and_https_urls_count_in_text() -> None:
    assert text_links("ftp://a.example/x mailto:a@example.com www.example.com https://") == []


def test_html_hrefs_of_a_and_area_as_written() -> None:
    html = (
        '<map><area shape="rect" href="https://a.example/area"></map>'
        '<a href="mailto:help@example.com">mail</a> <a href="/relative">rel</a> '
        '<a name="top">anchor</a> <a href="">empty</a> <a href="  https://a.example/spaced  ">sp</a> '
        "<link href='https://a.example/style.css'> <img src='https://a.example/logo.png'> "
        "<A HREF='https://a.example/upper'>upper</A> <a href=https://a.example/bare>bare</a>"
    )
    assert html_links(html) == [
        "https://a.example/area",
        "mailto:help@example.com",
        "/relative",
        "https://a.example/spaced",
        "https://a.example/upper",
        "https://a.example/bare",
    ]


def test_html_entities_in_hrefs_are_unescaped() -> None:
    assert html_links('<a href="https://a.example/?a=1&amp;b=2&#38;c=&#x33;&lt">x</a>') == [
        "https://a.example/?a=1&b=2&c=3<"
    ]


def test_find_links_without_bodies() -> None:
    assert find_links(None, None) == []
    assert message(raw(*HEADERS, "", "no links here")).links == []


def test_links_are_a_fresh_list_each_time() -> None:
    msg = message(raw(*HEADERS, "", "https://a.example/x"))
    msg.links.append("mutated")
    assert msg.links == ["https://a.example/x"]


LINKS = raw(*HEADERS, "", "https://a.example/reset/abc https://a.example/home https://b.example/help")


@pytest.mark.parametrize(
    "match",
    ["/reset/", re.compile(r"/reset/\w+$"), lambda link: link.endswith("abc")],
    ids=["substring", "regex", "predicate"],
)
def test_link_returns_the_one_that_matches(match: str | re.Pattern[str]) -> None:
    assert message(LINKS).link(match) == "https://a.example/reset/abc"


def test_link_without_match_needs_exactly_one_link() -> None:
    assert message(raw(*HEADERS, "", "Click https://a.example/only.")).link() == "https://a.example/only"
    with pytest.raises(AssertionError) as info:
        message(LINKS).link()
    assert str(info.value) == (
        "expected exactly one link, found 3 among 3 links:\n"
        "  https://a.example/reset/abc\n"
        "  https://a.example/home\n"
        "  https://b.example/help"
    )


def test_link_fails_listing_the_links_when_several_match() -> None:
    with pytest.raises(AssertionError) as info:
        message(LINKS).link("a.example")
    assert str(info.value) == (
        "expected exactly one link matching 'a.example', found 2 among 3 links:\n"
        "  https://a.example/reset/abc  (matches)\n"
        "  https://a.example/home  (matches)\n"
        "  https://b.example/help"
    )


def test_link_fails_when_none_matches_or_there_are_none() -> None:
    with pytest.raises(AssertionError, match=r"matching re.compile\('/signup/'\), found 0 among 3 links"):
        message(LINKS).link(re.compile("/signup/"))
    with pytest.raises(
        AssertionError, match=r"^expected exactly one link matching '/reset/'; the message has no links$"
    ):
        message(raw(*HEADERS, "", "nothing")).link("/reset/")


@pytest.mark.parametrize(
    "call",
    [lambda: message(LINKS).link(), lambda: message(b"").assert_well_formed()],
    ids=["link", "assert_well_formed"],
)
def test_failures_point_at_the_callers_line(call: Callable[[], object]) -> None:
    with pytest.raises(AssertionError) as info:
        call()
    shown = info.traceback.filter(info)
    assert shown[-1].frame.code.name == "<lambda>"


# Problems ---------------------------------------------------------------------------

GOOD = raw(*HEADERS, *PLAIN, "", "Hello")
LONG = "x" * 998


@pytest.mark.parametrize(
    ("data", "smtputf8", "expected"),
    [
        pytest.param(GOOD, False, [], id="well-formed"),
        pytest.param(raw(*HEADERS, "", "Hello"), False, [], id="no-mime-headers-at-all"),
        pytest.param(raw(*without("Date"), "", "x"), False, ["missing-date"], id="missing-date"),
        pytest.param(raw(*without("From"), "", "x"), False, ["missing-from"], id="missing-from"),
        pytest.param(raw(*without("Message-ID"), "", "x"), False, ["missing-message-id"], id="missing-message-id"),
        pytest.param(raw(*HEADERS, "Subject: again", "", "x"), False, ["duplicate-header"], id="duplicate-subject"),
        pytest.param(
            raw(*HEADERS, "date: Tue, 02 Jan 2024 00:00:00 +0000", "", "x"),
            False,
            ["duplicate-header"],
            id="duplicate-any-case",
        ),
        pytest.param(
            raw(
                "Received: from a",
                "Received: from b",
                "Comments: one",
                "Comments: two",
                "Keywords: k",
                *HEADERS,
                "",
                "x",
            ),
            False,
            [],
            id="repeatable-fields",
        ),
        pytest.param(raw(*HEADERS, "X-Long: " + "y" * 990, "", "x"), False, [], id="header-line-of-998"),
        pytest.param(raw(*HEADERS, "X-Long: " + "y" * 991, "", "x"), False, ["line-too-long"], id="header-line-of-999"),
        pytest.param(raw(*HEADERS, "", LONG), False, [], id="body-line-of-998"),
        pytest.param(raw(*HEADERS, "", LONG + "x"), False, ["line-too-long"], id="body-line-of-999"),
        pytest.param(
            raw(*HEADERS, "X-Long: " + "y" * 991, "", LONG + "x", LONG + "xx"),
            False,
            ["line-too-long", "line-too-long"],
            id="long-lines-in-both",
        ),
        pytest.param(
            raw(*HEADERS, "X-Note: caf\xc3\xa9".encode("latin-1"), "", "x"),
            False,
            ["non-ascii-header"],
            id="8bit-header",
        ),
        pytest.param(
            raw(*HEADERS, "X-Note: caf\xc3\xa9".encode("latin-1"), "", "x"), True, [], id="8bit-header-smtputf8"
        ),
        pytest.param(
            raw(*HEADERS, *PLAIN[:2], "Content-Transfer-Encoding: 8bit", "", "café".encode()),
            False,
            [],
            id="8bit-body",
        ),
        pytest.param(raw(*HEADERS, PLAIN[1], "", "x"), False, ["missing-mime-version"], id="content-type-alone"),
        pytest.param(
            raw(*HEADERS, "Content-Disposition: inline", "", "x"),
            False,
            ["missing-mime-version"],
            id="content-disposition-alone",
        ),
        pytest.param(
            raw(*HEADERS, "MIME-Version: 1.0", "MIME-Version: 1.0", PLAIN[1], "", "x"),
            False,
            ["duplicate-header"],
            id="duplicate-mime-version",
        ),
        pytest.param(
            raw(*HEADERS, *PLAIN[:2], "", "caf\xe9".encode("latin-1")),
            True,
            ["mime-defect"],
            id="not-in-declared-charset",
        ),
        pytest.param(
            raw(*HEADERS, "MIME-Version: 1.0", "Content-Type: text/plain; charset=klingon", "", "x"),
            False,
            ["mime-defect"],
            id="unknown-charset",
        ),
        pytest.param(
            raw(*HEADERS, "MIME-Version: 1.0", "Content-Type: text/plain", "", "café".encode()),
            True,
            ["mime-defect"],
            id="8bit-without-charset",
        ),
        pytest.param(
            raw(*HEADERS, "MIME-Version: 1.0", "Content-Type: text/plain", "", "plain ascii"),
            False,
            [],
            id="ascii-without-charset",
        ),
    ],
)
def test_problem_kinds(data: bytes, smtputf8: bool, expected: list[str]) -> None:
    assert kinds(data, smtputf8=smtputf8) == expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("To", "undisclosed-recipients:;", []),
        ("To", "Team: a@example.com, b@example.com;", []),
        ("To", "a@example.com, B <b@example.com>", []),
        ("To", "a@[127.0.0.1]", []),
        ("To", "=?utf-8?q?Gr=C3=BC=C3=9Fe?= <a@example.com>", []),
        ("To", "alice", ["invalid-address"]),
        ("To", "a@example.com, bob", ["invalid-address"]),
        ("To", "Alice <alice>", ["invalid-address"]),
        ("To", "a@", ["invalid-address"]),
        ("To", "a@example.com b@example.com", ["invalid-address"]),
        ("To", "", ["invalid-address"]),
        ("Cc", "a@b (unclosed comment", ["invalid-address"]),
        ("Reply-To", "nobody", ["invalid-address"]),
        ("Sender", "<>", ["invalid-address"]),
        ("Sender", "a@example.com, b@example.com", ["invalid-address"]),
    ],
)
def test_invalid_address(field: str, value: str, expected: list[str]) -> None:
    data = raw(*without(field), f"{field}: {value}", "", "x")
    assert kinds(data) == expected


def test_from_with_two_mailboxes_needs_a_sender() -> None:
    two = "From: a@example.com, b@example.com"
    assert kinds(raw(*without("From"), two, "", "x")) == ["invalid-address"]
    assert kinds(raw(*without("From"), two, "Sender: a@example.com", "", "x")) == []


def test_invalid_address_details() -> None:
    (problem,) = message(raw(*without("To"), "To: alice", "", "x")).problems
    assert problem == Problem("invalid-address", "To: 'alice' has no @domain (RFC 5322 §3.4.1)")
    (problem,) = message(raw(*without("Cc"), "Cc: a@b (unclosed", "", "x")).problems
    assert problem == Problem("invalid-address", "Cc: 'a@b (unclosed': end of header inside comment")


def test_a_multipart_without_boundary_is_a_mime_defect() -> None:
    data = raw(*HEADERS, "MIME-Version: 1.0", "Content-Type: multipart/mixed", "", "--b", "", "hello")
    problems = message(data).problems
    assert {p.kind for p in problems} == {"mime-defect"}
    assert any("NoBoundaryInMultipartDefect" in p.detail for p in problems)


def test_bad_base64_is_a_mime_defect_and_the_parse_keeps_its_defects() -> None:
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        "Content-Type: application/octet-stream",
        "Content-Transfer-Encoding: base64",
        "",
        "aGVsbG8gd29ybGQ=!",
    )
    msg = message(data)
    before = msg.defects
    (problem,) = msg.problems
    assert problem == Problem(
        "mime-defect",
        "the message: InvalidBase64CharactersDefect: base64 encoded sequence had characters not in base64 alphabet",
    )
    assert msg.problems == [problem]  # found again, once
    assert msg.defects == before


def test_a_mime_defect_names_its_part() -> None:
    data = alternative(
        ('Content-Type: text/plain; charset="utf-8"', "", "hi"),
        ('Content-Type: text/html; charset="utf-8"', "Content-Transfer-Encoding: base64", "", "PHA+aGk8L3A+="),
    )
    (problem,) = message(data).problems
    assert problem.kind == "mime-defect"
    assert problem.detail.startswith("part 2 (text/html): InvalidBase64")


def test_duplicate_mime_fields_in_a_body_part() -> None:
    data = alternative(
        ('Content-Type: text/plain; charset="utf-8"', 'Content-Type: text/plain; charset="utf-8"', "", "hi"),
        ('Content-Type: text/html; charset="utf-8"', "", "<p>hi</p>"),
    )
    assert message(data).problems == [
        Problem("duplicate-header", "Content-Type appears 2 times in part 1 (text/plain)")
    ]


def test_html_without_a_text_part() -> None:
    html_only = raw(*HEADERS, "MIME-Version: 1.0", 'Content-Type: text/html; charset="utf-8"', "", "<p>hi</p>")
    assert kinds(html_only) == ["no-text-part"]
    html_and_attachment = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="m"',
        "",
        "--m",
        'Content-Type: text/html; charset="utf-8"',
        "",
        "<p>hi</p>",
        "--m",
        "Content-Type: application/pdf",
        'Content-Disposition: attachment; filename="a.pdf"',
        "",
        "%PDF",
        "--m--",
    )
    assert kinds(html_and_attachment) == ["no-text-part"]


def test_multipart_alternative_with_text_is_fine() -> None:
    data = alternative(
        ('Content-Type: text/plain; charset="utf-8"', "", "hi"),
        ('Content-Type: text/html; charset="utf-8"', "", "<p>hi</p>"),
    )
    assert message(data).problems == []


def test_problem_kinds_are_plain_strings() -> None:
    problem = Problem(ProblemKind.MISSING_DATE.value, "no Date header")
    assert problem.kind == "missing-date"
    assert problem.kind == ProblemKind.MISSING_DATE
    assert str(problem) == "missing-date: no Date header"
    assert [kind.value for kind in ProblemKind] == [
        "missing-date",
        "missing-from",
        "missing-message-id",
        "duplicate-header",
        "line-too-long",
        "non-ascii-header",
        "invalid-address",
        "missing-mime-version",
        "mime-defect",
        "no-text-part",
    ]
    (found,) = message(raw(*without("Date"), "", "x")).problems
    assert type(found.kind) is str
    assert found == Problem("missing-date", "no Date header; RFC 5322 §3.6 requires it")


def test_details_say_where() -> None:
    data = raw(*HEADERS, "X-Note: caf\xc3\xa9".encode("latin-1"), "", "short", LONG + "x", LONG + "xyz")
    assert [str(p) for p in message(data).problems] == [
        "line-too-long: line 9 (in the body) is 999 octets (1 more line too); RFC 5322 §2.1.1 allows 998 plus CRLF",
        "non-ascii-header: X-Note has raw 8-bit octets and MAIL had no SMTPUTF8; encode it as RFC 2047 encoded words",
    ]


def test_assert_well_formed_lists_the_problems() -> None:
    message(GOOD).assert_well_formed()
    with pytest.raises(AssertionError) as info:
        message(raw("Subject: Hello", "Subject: again", "", "x")).assert_well_formed()
    assert str(info.value) == (
        "<Message from 'app@example.com' to ['alice@example.com'] subject='Hello'> is not well formed:\n"
        "  missing-date: no Date header; RFC 5322 §3.6 requires it\n"
        "  missing-from: no From header; RFC 5322 §3.6 requires it\n"
        "  missing-message-id: no Message-ID header; RFC 5322 §3.6.4 says it SHOULD be there\n"
        "  duplicate-header: Subject appears 2 times; RFC 5322 §3.6 allows it once"
    )


def test_a_message_built_by_email_has_no_problems() -> None:
    msg = EmailMessage()
    msg["From"] = "App <app@example.com>"
    msg["To"] = "Grüße <alice@example.com>, undisclosed-recipients:;"
    msg["Subject"] = "Größe ✉ " + "long " * 100
    msg["Date"] = "Mon, 01 Jan 2024 00:00:00 +0000"
    msg["Message-ID"] = "<1@example.com>"
    msg.set_content("Hello " + "word " * 400 + "\n")
    msg.add_alternative("<p>" + "Hello " * 400 + "</p>", subtype="html")
    msg.add_attachment(bytes(range(256)) * 10, maintype="application", subtype="octet-stream", filename="b.bin")
    assert message(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))).problems == []


# Normalized text ------------------------------------------------------------------------


def reset_mail(date: str, msgid: str, boundaries: tuple[str, str], body: str = "Reset: https://a.example/r/1") -> bytes:
    msg = EmailMessage()
    msg["From"] = "App <app@example.com>"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Reset your password"
    msg["Date"] = date
    msg["Message-ID"] = msgid
    msg.set_content(body + "\n")
    msg.add_alternative(f"<p>{body}</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 terms", maintype="application", subtype="pdf", filename="terms.pdf")
    msg.set_boundary(boundaries[0])
    inner = msg.get_payload(0)
    assert isinstance(inner, EmailMessage)
    inner.set_boundary(boundaries[1])
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


FIRST = reset_mail("Mon, 01 Jan 2024 00:00:00 +0000", "<1.abc@host>", ("===1111==", "===2222=="))
SECOND = reset_mail("Tue, 02 Jan 2024 12:34:56 +0100", "<2.def@host>", ("===3333==", "===4444=="))


def test_normalized_is_the_same_for_the_same_mail_sent_again() -> None:
    assert FIRST != SECOND
    assert message(FIRST).normalized() == message(SECOND).normalized()


def test_normalized_differs_when_the_content_does() -> None:
    other = reset_mail(
        "Mon, 01 Jan 2024 00:00:00 +0000", "<1.abc@host>", ("===1111==", "===2222=="), "Reset: https://a.example/r/2"
    )
    assert message(FIRST).normalized() != message(other).normalized()


def test_normalized_text() -> None:
    assert message(FIRST).normalized() == (
        "From: App <app@example.com>\n"
        "To: alice@example.com\n"
        "Subject: Reset your password\n"
        "Date: <date>\n"
        "Message-ID: <message-id-1>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="<boundary-1>"\n'
        "\n"
        "--<boundary-1>\n"
        'Content-Type: multipart/alternative; boundary="<boundary-2>"\n'
        "\n"
        "--<boundary-2>\n"
        'Content-Type: text/plain; charset="utf-8"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        "Reset: https://a.example/r/1\n"
        "--<boundary-2>\n"
        'Content-Type: text/html; charset="utf-8"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "MIME-Version: 1.0\n"
        "\n"
        "<p>Reset: https://a.example/r/1</p>\n"
        "--<boundary-2>--\n"
        "--<boundary-1>\n"
        "Content-Type: application/pdf\n"
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="terms.pdf"\n'
        "MIME-Version: 1.0\n"
        "\n"
        "[application/pdf, filename 'terms.pdf', 14 octets]\n"
        "--<boundary-1>--\n"
    )


def test_normalized_decodes_text_parts() -> None:
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Gr=C3=BC=C3=9Fe, a soft=",
        " break",
    )
    assert message(data).normalized().endswith("\n\nGrüße, a soft break\n")


def test_normalized_numbers_message_ids_by_first_appearance() -> None:
    data = raw(
        *without("Message-ID"),
        "Message-ID: <new@example.com>",
        "In-Reply-To: <parent@example.com>",
        "References: <root@example.com>",
        " <parent@example.com>",
        "",
        "x",
    )
    text = message(data).normalized()
    assert "Message-ID: <message-id-1>\nIn-Reply-To: <message-id-2>\n" in text
    assert "References: <message-id-3> <message-id-2>\n" in text
    assert "example.com>" not in text.replace("<app@example.com>", "")


def test_normalized_replaces_content_ids_and_their_cid_references() -> None:
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: multipart/related; boundary="r"',
        "",
        "--r",
        'Content-Type: text/html; charset="utf-8"',
        "",
        '<img src="cid:logo.17@host"><img src="cid:logo.17@host">',
        "--r",
        "Content-Type: image/png",
        "Content-ID: <logo.17@host>",
        "Content-Transfer-Encoding: base64",
        "",
        base64.b64encode(b"\x89PNG....").decode(),
        "--r--",
    )
    text = message(data).normalized()
    assert "logo.17" not in text
    assert '<img src="cid:content-id-1"><img src="cid:content-id-1">' in text
    assert "Content-ID: <content-id-1>\n" in text
    assert "[image/png, 8 octets]" in text


def test_normalized_shows_an_attached_message_with_its_own_placeholders() -> None:
    inner = raw(
        "From: a@example.com",
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        "Message-ID: <inner@x>",
        "Subject: Fwd",
        "",
        "inner body",
    )
    data = raw(
        *HEADERS,
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="m"',
        "",
        "--m",
        "Content-Type: text/plain",
        "",
        "see attached",
        "--m",
        "Content-Type: message/rfc822",
        "",
        inner,
        "--m--",
    )
    text = message(data).normalized()
    assert "Content-Type: message/rfc822\n\nFrom: a@example.com\nDate: <date>\nMessage-ID: <message-id-2>\n" in text
    assert "\ninner body\n--<boundary-1>--\n" in text


# Malformed input never raises -------------------------------------------------------------

HEADER_LINE = st.sampled_from(
    [
        *HEADERS,
        *PLAIN,
        "Content-Type: multipart/mixed",
        'Content-Type: multipart/mixed; boundary="b"',
        "--b",
        "--b--",
        "Content-Transfer-Encoding: base64",
        "Content-Type: message/rfc822",
        "To: a@",
        "From: <<>>",
        "Message-ID: <<>>",
        "Content-Type: text/html; charset=nope",
        "",
        " folded",
        "=?utf-8?b?????=",
        "Content-ID: <x@y>",
    ]
).map(str.encode)
LINE = st.one_of(HEADER_LINE, st.binary(max_size=40))
SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(lines=st.lists(LINE, max_size=30), smtputf8=st.booleans())
def test_malformed_messages_never_raise(lines: list[bytes], smtputf8: bool) -> None:
    msg = message(b"\r\n".join(lines), smtputf8=smtputf8)
    assert all(isinstance(p, Problem) for p in msg.problems)
    assert all(isinstance(link, str) for link in msg.links)
    assert msg.normalized().endswith("\n")


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    msg = message(data)
    assert isinstance(msg.problems, list)
    assert isinstance(msg.links, list)
    assert isinstance(msg.normalized(), str)


@SETTINGS
@given(html=st.text(alphabet=st.sampled_from(list("<a href=\"'&;#x>/ !-[]?areaAHREF1"))))
def test_html_links_never_raise(html: str) -> None:
    assert all(isinstance(link, str) and link for link in html_links(html))
