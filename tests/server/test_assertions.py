"""assert_sent, assert_not_sent and assert_count: every filter with a string, a
regex and a predicate, and the exact text of their failures."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from server_support import RawClient

from pytest_smtpd import SMTPServer

WELCOME = "Welcome!"
RESET = "Reset your password"
ALERT = "Disk full"
#: What ``send`` needs to build a well-formed mail.
GOOD_HEADERS = {"Date": formatdate(), "Message-ID": make_msgid(domain="example.com")}


def send(
    server: SMTPServer,
    sender: str,
    to: list[str],
    subject: str,
    text: str,
    *,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: dict[str, bytes] | None = None,
) -> None:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    for filename, content in (attachments or {}).items():
        if filename.endswith(".txt"):
            mail.add_attachment(content.decode(), filename=filename)
        else:
            mail.add_attachment(content, maintype="application", subtype="pdf", filename=filename)
    with smtplib.SMTP(*server.address) as client:
        client.send_message(mail, from_addr=sender, to_addrs=to)


@pytest.fixture
def three(smtpd: SMTPServer) -> SMTPServer:
    """A server that accepted a welcome, a password reset and a disk alert."""
    send(
        smtpd,
        "app@example.com",
        ["Alice@Example.com"],
        WELCOME,
        "Hello Alice, welcome aboard.\n",
        html="<p>Hello <b>Alice</b></p>\n",
        headers={"X-Campaign": "onboarding"},
        attachments={"terms.pdf": b"%PDF-1.4 terms"},
    )
    send(
        smtpd,
        "app@example.com",
        ["bob@example.com", "carol@example.com"],
        RESET,
        "Click the link to reset.\n",
        headers={"X-Campaign": "security"},
    )
    send(
        smtpd,
        "alerts@monitor.example",
        ["ops@example.com"],
        ALERT,
        "Disk / is 97% full.\n",
        attachments={"df.txt": b"/dev/sda1 97%\n"},
    )
    assert len(smtpd.messages) == 3
    return smtpd


MATCHING: list[tuple[dict[str, object], str]] = [
    ({"sender": "ALERTS@monitor.example"}, ALERT),
    ({"sender": re.compile(r"^alerts@")}, ALERT),
    ({"sender": lambda s: s.startswith("alerts")}, ALERT),
    ({"to": "alice@example.com"}, WELCOME),
    ({"to": "CAROL@example.com"}, RESET),
    ({"to": re.compile(r"^ops@")}, ALERT),
    ({"to": lambda address: address.startswith("carol@")}, RESET),
    ({"subject": WELCOME}, WELCOME),
    ({"subject": re.compile(r"password")}, RESET),
    ({"subject": lambda s: s is not None and s.endswith("full")}, ALERT),
    ({"text": "welcome aboard"}, WELCOME),
    ({"text": re.compile(r"\d+% full")}, ALERT),
    ({"text": lambda t: t is not None and t.startswith("Click")}, RESET),
    ({"html": "<b>Alice</b>"}, WELCOME),
    ({"html": re.compile(r"<p>Hello")}, WELCOME),
    ({"html": lambda h: h is not None}, WELCOME),
    ({"headers": {"X-Campaign": "security"}}, RESET),
    ({"headers": {"x-campaign": re.compile(r"^onb")}}, WELCOME),
    ({"headers": {"X-Campaign": lambda v: v is None}}, ALERT),
    ({"attachment": "terms.pdf"}, WELCOME),
    ({"attachment": re.compile(r"\.txt$")}, ALERT),
    ({"attachment": lambda filename: filename.startswith("df")}, ALERT),
    ({"sender": "app@example.com", "subject": RESET}, RESET),
    ({"to": "ops@example.com", "text": "97%", "attachment": "df.txt"}, ALERT),
]

NOT_MATCHING: list[dict[str, object]] = [
    {"sender": "app@example.org"},
    {"sender": "app@example.com.evil"},
    {"sender": re.compile(r"^nobody@")},
    {"sender": lambda s: s == "nobody@example.com"},
    {"to": "alice@example.co"},
    {"to": re.compile(r"dave")},
    {"to": lambda address: address == "dave@example.com"},
    {"subject": "welcome!"},
    {"subject": "Welcome"},
    {"subject": re.compile(r"^Invoice")},
    {"subject": lambda s: s is None},
    {"text": "WELCOME ABOARD"},
    {"text": re.compile(r"^Goodbye")},
    {"text": lambda t: t is None},
    {"html": "<i>Alice</i>"},
    {"html": re.compile(r"Bob")},
    {"html": lambda h: h is not None and "Bob" in h},
    {"headers": {"X-Campaign": "onboard"}},
    {"headers": {"X-Missing": "anything"}},
    {"headers": {"X-Campaign": re.compile(r"^billing$")}},
    {"headers": {"X-Campaign": lambda v: v == "billing"}},
    {"attachment": "terms"},
    {"attachment": "TERMS.PDF"},
    {"attachment": re.compile(r"\.zip$")},
    {"attachment": lambda filename: filename.endswith(".zip")},
    {"to": "alice@example.com", "subject": RESET},
]


def _ids(filters: dict[str, object]) -> str:
    return ",".join(f"{k}={type(v).__name__}" for k, v in filters.items())


@pytest.mark.parametrize(("filters", "subject"), MATCHING, ids=[f"{_ids(f)}->{s}" for f, s in MATCHING])
def test_filter_matches(three: SMTPServer, filters: dict[str, object], subject: str) -> None:
    msg = three.assert_sent(**filters)
    assert msg.subject == subject
    assert msg in three.messages
    assert three.assert_count(1, **filters) == [msg]
    with pytest.raises(AssertionError):
        three.assert_not_sent(**filters)


@pytest.mark.parametrize("filters", NOT_MATCHING, ids=[_ids(f) for f in NOT_MATCHING])
def test_filter_does_not_match(three: SMTPServer, filters: dict[str, object]) -> None:
    three.assert_not_sent(**filters)
    assert three.assert_count(0, **filters) == []
    with pytest.raises(AssertionError, match="found 0"):
        three.assert_sent(**filters)


def test_assert_sent_returns_the_recorded_message(three: SMTPServer) -> None:
    msg = three.assert_sent(subject=RESET)
    assert msg is three.messages[1]
    assert msg.recipients == ("bob@example.com", "carol@example.com")


def test_two_matches_fail_assert_sent(three: SMTPServer) -> None:
    with pytest.raises(AssertionError, match="found 2"):
        three.assert_sent(sender="app@example.com")
    found = three.assert_count(2, sender="app@example.com")
    assert [m.subject for m in found] == [WELCOME, RESET]


def test_assert_count(three: SMTPServer) -> None:
    assert [m.subject for m in three.assert_count(3)] == [WELCOME, RESET, ALERT]
    assert [m.subject for m in three.assert_count(2, to=re.compile(r"@example\.com$", re.I), text="e")] == [
        WELCOME,
        RESET,
    ]
    with pytest.raises(AssertionError, match=r"^expected exactly 1 message matching sender='app@example.com'; found 2"):
        three.assert_count(1, sender="app@example.com")
    with pytest.raises(AssertionError, match=r"^expected exactly 4 messages; found 3\."):
        three.assert_count(4)


def test_assert_not_sent_with_no_messages(smtpd: SMTPServer) -> None:
    smtpd.assert_not_sent()
    smtpd.assert_not_sent(subject=WELCOME)
    assert smtpd.assert_count(0) == []


def test_predicate_sees_each_recipient_and_each_filename(three: SMTPServer) -> None:
    seen: list[str] = []

    def record(value: str) -> bool:
        seen.append(value)
        return False

    three.assert_not_sent(to=record)
    assert seen == ["Alice@Example.com", "bob@example.com", "carol@example.com", "ops@example.com"]
    seen.clear()
    three.assert_not_sent(attachment=record)
    assert seen == ["terms.pdf", "df.txt"]


@pytest.mark.parametrize("method", ["assert_sent", "assert_not_sent", "wait_for"])
def test_unknown_filter_is_a_type_error_naming_the_valid_ones(smtpd: SMTPServer, method: str) -> None:
    with pytest.raises(TypeError) as info:
        getattr(smtpd, method)(recipient="alice@example.com")
    assert str(info.value) == (
        "unknown filter 'recipient'; valid filters: sender, to, cc, bcc, subject, text, html, link, headers, attachment"
    )


def test_unknown_filter_in_assert_count(smtpd: SMTPServer) -> None:
    with pytest.raises(TypeError, match="unknown filter 'body'; valid filters: sender, to, cc, bcc, subject"):
        smtpd.assert_count(0, body="x")


@pytest.mark.parametrize(
    ("filters", "error"),
    [
        ({"subject": 42}, "filter subject takes a str, a compiled regex or a predicate, not 42"),
        ({"headers": "X-Campaign"}, "headers= takes a mapping of header name to str, regex or predicate"),
        ({"headers": {"X-Campaign": b"x"}}, "filter headers value takes a str, a compiled regex or a predicate"),
    ],
)
def test_ill_typed_filter_is_a_type_error(smtpd: SMTPServer, filters: dict[str, object], error: str) -> None:
    with pytest.raises(TypeError, match=re.escape(error)):
        smtpd.assert_sent(**filters)


# Failure messages -----------------------------------------------------------------------


def failure(call: object) -> str:
    assert callable(call)
    with pytest.raises(AssertionError) as info:
        call()
    return str(info.value)


def test_failure_text_when_nothing_was_sent(smtpd: SMTPServer) -> None:
    text = failure(lambda: smtpd.assert_sent(to="alice@example.com", subject=WELCOME))
    assert text == (
        "expected exactly 1 message matching to='alice@example.com', subject='Welcome!'; found 0.\n"
        "No message was accepted."
    )


def test_failure_text_names_the_nearest_difference(smtpd: SMTPServer) -> None:
    send(smtpd, "app@example.com", ["alice@example.com"], "Welcome", "Hello Alice.\n")
    send(smtpd, "app@example.com", ["bob@example.com"], RESET, "Click the link.\n")
    send(smtpd, "alerts@monitor.example", ["ops@example.com"], ALERT, "97% full.\n")
    text = failure(lambda: smtpd.assert_sent(to="alice@example.com", subject=WELCOME))
    assert text == (
        "expected exactly 1 message matching to='alice@example.com', subject='Welcome!'; found 0.\n"
        "3 messages accepted:\n"
        "  #1 from 'app@example.com' to ['alice@example.com'] subject 'Welcome'  [differs: subject]\n"
        "  #2 from 'app@example.com' to ['bob@example.com'] subject 'Reset your password'  [differs: to, subject]\n"
        "  #3 from 'alerts@monitor.example' to ['ops@example.com'] subject 'Disk full'  [differs: to, subject]\n"
        "Nearest:\n"
        "  #1:\n"
        "    subject: wanted 'Welcome!', got 'Welcome'"
    )


def test_failure_text_when_too_many_match(three: SMTPServer) -> None:
    text = failure(lambda: three.assert_sent(sender="app@example.com"))
    assert text == (
        "expected exactly 1 message matching sender='app@example.com'; found 2.\n"
        "3 messages accepted:\n"
        "  #1 from 'app@example.com' to ['Alice@Example.com'] subject 'Welcome!'  [matches]\n"
        "  #2 from 'app@example.com' to ['bob@example.com', 'carol@example.com'] subject 'Reset your password'"
        "  [matches]\n"
        "  #3 from 'alerts@monitor.example' to ['ops@example.com'] subject 'Disk full'  [differs: sender]"
    )


def test_failure_text_of_assert_not_sent(three: SMTPServer) -> None:
    text = failure(lambda: three.assert_not_sent(subject=re.compile(r"^Disk")))
    assert text == (
        "expected no messages matching subject=re.compile('^Disk'); found 1.\n"
        "3 messages accepted:\n"
        "  #1 from 'app@example.com' to ['Alice@Example.com'] subject 'Welcome!'  [differs: subject]\n"
        "  #2 from 'app@example.com' to ['bob@example.com', 'carol@example.com'] subject 'Reset your password'"
        "  [differs: subject]\n"
        "  #3 from 'alerts@monitor.example' to ['ops@example.com'] subject 'Disk full'  [matches]"
    )


def is_urgent(subject: object) -> bool:
    return subject == "URGENT"


def test_failure_text_shows_every_nearest_message_and_filter(three: SMTPServer) -> None:
    text = failure(lambda: three.assert_sent(subject=is_urgent, headers={"X-Campaign": "onboarding"}, text="Hello"))
    assert text == (
        "expected exactly 1 message matching subject=a value passing is_urgent, "
        "headers={'X-Campaign': 'onboarding'}, text='Hello'; found 0.\n"
        "3 messages accepted:\n"
        "  #1 from 'app@example.com' to ['Alice@Example.com'] subject 'Welcome!'  [differs: subject]\n"
        "  #2 from 'app@example.com' to ['bob@example.com', 'carol@example.com'] subject 'Reset your password'"
        "  [differs: subject, headers['X-Campaign'], text]\n"
        "  #3 from 'alerts@monitor.example' to ['ops@example.com'] subject 'Disk full'"
        "  [differs: subject, headers['X-Campaign'], text]\n"
        "Nearest:\n"
        "  #1:\n"
        "    subject: wanted a value passing is_urgent, got 'Welcome!'"
    )


def test_failure_text_lists_all_tied_nearest(three: SMTPServer) -> None:
    text = failure(lambda: three.assert_sent(attachment="terms.pdf", text=re.compile("^Disk")))
    assert text.endswith(
        "Nearest:\n"
        "  #1:\n"
        "    text: wanted re.compile('^Disk'), got 'Hello Alice, welcome aboard.\\n'\n"
        "  #3:\n"
        "    attachment: wanted 'terms.pdf', got ['df.txt']"
    )


# cc= and bcc= ---------------------------------------------------------------------------


@pytest.fixture
def copied(smtpd: SMTPServer) -> SMTPServer:
    """One message to Alice, copied to Carol (Cc) and blind-copied to Dave."""
    mail = EmailMessage()
    mail["From"] = "app@example.com"
    mail["To"] = "Alice <alice@example.com>"
    mail["Cc"] = "Carol <Carol@Example.com>, ops@example.com"
    mail["Subject"] = "Copies"
    mail.set_content("hello\n")
    with smtplib.SMTP(*smtpd.address) as client:
        client.send_message(
            mail, to_addrs=["alice@example.com", "carol@example.com", "ops@example.com", "dave@example.com"]
        )
    return smtpd


@pytest.mark.parametrize(
    "filters",
    [
        {"cc": "carol@example.com"},
        {"cc": "OPS@example.com"},
        {"cc": re.compile(r"^ops@")},
        {"cc": lambda address: address == "Carol@Example.com"},
        {"bcc": "dave@example.com"},
        {"bcc": "DAVE@EXAMPLE.COM"},
        {"bcc": re.compile(r"dave")},
        {"bcc": lambda address: address.startswith("dave")},
    ],
    ids=_ids,
)
def test_cc_and_bcc_match(copied: SMTPServer, filters: dict[str, object]) -> None:
    assert copied.assert_sent(**filters).subject == "Copies"


@pytest.mark.parametrize(
    "filters",
    [
        {"cc": "alice@example.com"},  # in To, not in Cc
        {"cc": "dave@example.com"},  # an envelope recipient only
        {"cc": "Carol"},  # the display name is not the address
        {"bcc": "alice@example.com"},
        {"bcc": "carol@example.com"},  # named in Cc, in another case
        {"bcc": "ops@example.com"},
    ],
    ids=_ids,
)
def test_cc_and_bcc_do_not_match(copied: SMTPServer, filters: dict[str, object]) -> None:
    copied.assert_not_sent(**filters)


def test_cc_and_bcc_near_misses_show_the_addresses(copied: SMTPServer) -> None:
    text = failure(lambda: copied.assert_sent(cc="bob@example.com", bcc="eve@example.com"))
    assert text.endswith(
        "    cc: wanted 'bob@example.com', got ['Carol@Example.com', 'ops@example.com']\n"
        "    bcc: wanted 'eve@example.com', got ['dave@example.com']"
    )


def test_messages_without_cc_or_bcc(three: SMTPServer) -> None:
    # Every envelope recipient of these is named in To.
    three.assert_not_sent(cc=lambda address: True)
    three.assert_not_sent(bcc=lambda address: True)


def test_a_misspelt_filter_names_the_nearest(smtpd: SMTPServer) -> None:
    with pytest.raises(TypeError, match=re.escape("unknown filter 'subjet' (did you mean 'subject'?); valid filters:")):
        smtpd.assert_sent(subjet="Welcome!")


LONG_HTML = (
    "<html><body>"
    + "<p>Some introductory words about the service.</p>" * 3
    + ('<p>Confirm here: <a href="https://example.com/confirm?t=abc">confirm</a></p></body></html>')
)


@pytest.mark.parametrize("filter_name", ["text", "html"])
def test_a_near_miss_shows_the_body_around_the_closest_match(smtpd: SMTPServer, filter_name: str) -> None:
    send(smtpd, "app@example.com", ["alice@example.com"], WELCOME, LONG_HTML, html=LONG_HTML)
    wanted = 'href="https://example.com/confirm?t=abd"'
    text = failure(lambda: smtpd.assert_sent(**{filter_name: wanted}))
    assert text.splitlines()[-1] == (
        f"    {filter_name}: wanted {wanted!r}, got "
        "...'<p>Confirm here: <a href=\"https://example.com/confirm?t=abc\">confirm</a></p></bo'... (at 159)"
    )


def test_a_near_miss_without_a_string_shows_the_start(smtpd: SMTPServer) -> None:
    send(smtpd, "app@example.com", ["alice@example.com"], WELCOME, LONG_HTML, html=LONG_HTML)
    text = failure(lambda: smtpd.assert_sent(html=re.compile("confirm[?]t=abd")))
    assert text.endswith(f"got {LONG_HTML[:76]!r}"[:-1] + "...")


# What was refused --------------------------------------------------------------------------


def test_a_failure_lists_the_refused_recipient_and_the_reply(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT", "bob@example.com").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtpd, "app@example.com", ["bob@example.com"], WELCOME, "Hello Bob.\n")
    text = failure(lambda: smtpd.assert_sent(to="bob@example.com"))
    assert text == (
        "expected exactly 1 message matching to='bob@example.com'; found 0.\n"
        "No message was accepted.\n"
        "Refused (1):\n"
        "  recipient 'bob@example.com' from 'app@example.com': 550 5.1.1 No such user"
    )
    [refusal] = smtpd.refusals
    assert (refusal.recipient, refusal.reply.code) == ("bob@example.com", 550)


def test_a_failure_lists_a_refused_message_and_unscripted_refusals(smtpd: SMTPServer) -> None:
    smtpd.on("message").reply(451, "4.7.1 Greylisted,\ntry later").once()
    with pytest.raises(smtplib.SMTPDataError):
        send(smtpd, "app@example.com", ["alice@example.com"], WELCOME, "Hello.\n")
    with smtplib.SMTP(*smtpd.address) as client:
        client.ehlo()
        assert client.rcpt("carol@example.com")[0] == 503  # no MAIL first: refused, and no sender
    send(smtpd, "app@example.com", ["alice@example.com"], RESET, "Click.\n")
    text = failure(lambda: smtpd.assert_count(2, to="alice@example.com"))
    assert text.endswith(
        "Refused (2):\n"
        "  message to ['alice@example.com'] from 'app@example.com': 451 4.7.1 Greylisted, try later\n"
        "  recipient 'carol@example.com': 503 5.5.1 Error: need MAIL command"
    )


def test_a_message_refused_at_data_is_listed_with_its_recipients(smtpd: SMTPServer) -> None:
    smtpd.on("DATA").reply(554, "5.7.1 Not from you").once()
    with pytest.raises(smtplib.SMTPDataError):
        send(smtpd, "app@example.com", ["alice@example.com", "bob@example.com"], WELCOME, "Hello.\n")
    with smtplib.SMTP(*smtpd.address) as client:
        client.ehlo()
        assert client.docmd("DATA")[0] == 503  # no transaction: nothing was refused
    text = failure(lambda: smtpd.assert_sent(to="alice@example.com"))
    assert text.endswith(
        "Refused (1):\n"
        "  message to ['alice@example.com', 'bob@example.com'] from 'app@example.com': 554 5.7.1 Not from you"
    )


def test_a_refused_bdat_chunk_is_a_refused_message(smtpd: SMTPServer) -> None:
    smtpd.on("BDAT").reply(452, "4.3.1 Out of room").once()
    with RawClient(smtpd.address) as client:
        client.greet()
        client.send(b"MAIL FROM:<app@example.com>\r\nRCPT TO:<alice@example.com>\r\nBDAT 4\r\nhi\r\n")
        assert client.read_reply() == ["250 2.1.0 OK"]
        assert client.read_reply() == ["250 2.1.5 OK"]
        assert client.read_reply() == ["452 4.3.1 Out of room"]
    [refusal] = smtpd.refusals
    assert (refusal.sender, refusal.recipient, refusal.recipients) == ("app@example.com", None, ("alice@example.com",))


def test_accepted_replies_are_no_refusals(three: SMTPServer) -> None:
    assert three.refusals == []
    assert "Refused" not in failure(lambda: three.assert_sent(subject="nothing"))


def test_clear_forgets_refusals(smtpd: SMTPServer) -> None:
    smtpd.on("RCPT").reply(550, "5.1.1 No such user")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(smtpd, "app@example.com", ["bob@example.com"], WELCOME, "Hello Bob.\n")
    assert len(smtpd.refusals) == 1
    smtpd.clear()
    assert smtpd.refusals == []


# link= ---------------------------------------------------------------------------

RESET_URL = "https://app.example.com/accounts/reset/" + "a" * 60 + "/set-password/?next=%2Fhome&lang=en"


@pytest.fixture
def linked(smtpd: SMTPServer) -> SMTPServer:
    """A reset mail whose text link is longer than a quoted-printable line and whose
    HTML link has ``&amp;``, then a newsletter with the same unsubscribe link in both parts."""
    send(
        smtpd,
        "app@example.com",
        ["alice@example.com"],
        RESET,
        f"Reset it here: {RESET_URL}\n",
        html=f'<p><a href="{RESET_URL.replace("&", "&amp;")}">Reset</a></p>\n',
    )
    send(
        smtpd,
        "news@example.com",
        ["alice@example.com"],
        "News",
        "Read: https://news.example.com/issue/7\nUnsubscribe: https://news.example.com/unsub?u=alice\n",
        html='<a href="https://news.example.com/unsub?u=alice">Unsubscribe</a>',
    )
    assert b"=\r\n" in smtpd.messages[0].data  # the text URL is cut by a soft line break on the wire
    return smtpd


@pytest.mark.parametrize(
    ("link", "subject"),
    [
        ("/set-password/?next=%2Fhome&lang=en", RESET),  # across the soft break, and &amp; in the href
        ("news.example.com/issue/", "News"),
        (re.compile(r"/reset/a{60}/"), RESET),
        (re.compile(r"unsub\?u=alice$"), "News"),
        (lambda link: link.startswith("https://news.example.com/unsub"), "News"),
    ],
    ids=["str-decoded", "str", "regex", "regex-duplicate-link", "predicate"],
)
def test_link_filter_matches(linked: SMTPServer, link: object, subject: str) -> None:
    assert linked.assert_sent(link=link).subject == subject


@pytest.mark.parametrize(
    "link",
    [
        "=\r\n",  # nothing of the encoding is left in a link
        "&amp;",
        "https://other.example/",
        re.compile(r"^http://"),
        lambda link: "logout" in link,
    ],
    ids=["soft-break", "entity", "str", "regex", "predicate"],
)
def test_link_filter_does_not_match(linked: SMTPServer, link: object) -> None:
    linked.assert_not_sent(link=link)


def test_link_filter_counts_and_waits(linked: SMTPServer) -> None:
    assert len(linked.assert_count(2, link="example.com")) == 2
    assert [m.subject for m in linked.wait_for(link="unsub", timeout=1)] == ["News"]


def test_link_filter_predicate_gets_each_link(linked: SMTPServer) -> None:
    seen: list[object] = []
    linked.assert_not_sent(link=lambda link: seen.append(link))
    assert seen == [RESET_URL, "https://news.example.com/issue/7", "https://news.example.com/unsub?u=alice"]


def test_link_filter_near_miss_shows_the_links(linked: SMTPServer) -> None:
    text = failure(lambda: linked.assert_sent(subject="News", link="/logout"))
    assert text.endswith(
        "    link: wanted '/logout', got ['https://news.example.com/issue/7', 'https://news.example.com/unsub?u=alice']"
    )


def test_a_message_without_links(three: SMTPServer) -> None:
    three.assert_not_sent(link=lambda link: True)


# assert_well_formed ------------------------------------------------------------------


def test_assert_well_formed_passes_for_well_formed_mail(smtpd: SMTPServer) -> None:
    smtpd.assert_well_formed()  # no message at all
    mail = EmailMessage()
    mail["From"] = "app@example.com"
    mail["To"] = "alice@example.com"
    mail["Subject"] = WELCOME
    mail["Date"] = formatdate()
    mail["Message-ID"] = make_msgid(domain="example.com")
    mail.set_content("Hello Alice.\n")
    with smtplib.SMTP(*smtpd.address) as client:
        client.send_message(mail)
    smtpd.assert_well_formed()


def test_assert_well_formed_lists_each_message_and_its_problems(three: SMTPServer) -> None:
    with smtplib.SMTP(*three.address) as client:
        client.sendmail("ops@example.com", ["b@example.com"], "Subject: raw\r\n\r\nhello\r\n")
    text = failure(three.assert_well_formed)
    # send() builds its mail without Date and Message-ID; the raw one lacks From too.
    expected = ["4 messages of 4 not well formed:"]
    for number, message in enumerate(three.messages, 1):
        expected.append(f"  #{number} from {message.sender!r} subject {message.subject!r}:")
        expected.extend(f"    {problem}" for problem in message.problems)
    assert text.splitlines() == expected
    assert [m.sender for m in three.messages[:3]] == ["app@example.com", "app@example.com", "alerts@monitor.example"]
    for message in three.messages[:3]:
        assert [p.kind for p in message.problems] == ["missing-date", "missing-message-id"]
    assert {p.kind for p in three.messages[3].problems} == {"missing-date", "missing-from", "missing-message-id"}


def test_assert_well_formed_names_only_the_bad_messages(smtpd: SMTPServer) -> None:
    send(smtpd, "app@example.com", ["alice@example.com"], WELCOME, "Hello.\n", headers=GOOD_HEADERS)
    send(smtpd, "app@example.com", ["bob@example.com"], RESET, "Click.\n")
    send(smtpd, "app@example.com", ["carol@example.com"], ALERT, "Full.\n", headers=GOOD_HEADERS)
    text = failure(smtpd.assert_well_formed)
    assert text.splitlines()[:2] == [
        "1 message of 3 not well formed:",
        f"  #2 from 'app@example.com' subject {RESET!r}:",
    ]
    assert "#1" not in text
    assert "#3" not in text


def test_assert_well_formed_hides_its_frame(smtpd: SMTPServer) -> None:
    send(smtpd, "app@example.com", ["bob@example.com"], RESET, "Click.\n")
    with pytest.raises(AssertionError) as info:
        smtpd.assert_well_formed()
    assert info.traceback[-1].name == "assert_well_formed"
    assert info.traceback.filter(info)[-1].name == "test_assert_well_formed_hides_its_frame"
