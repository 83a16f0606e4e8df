"""Every way an option can be wrong is a ConfigurationError that says what to
change, raised when the server is made (marker, factory, ``SMTPServer`` and ini
values all go through the same checks)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from pytest_smtpd import ConfigurationError, SMTPServer
from pytest_smtpd.options import Options, parse_ini

BAD: list[tuple[dict[str, Any], str]] = [
    ({"port": 65536}, "port must be 0..65535"),
    ({"port": -1}, "port must be a non-negative int"),
    ({"port": "25"}, "port must be a non-negative int"),
    ({"port": True}, "port must be a non-negative int"),
    ({"size_limit": 1.5}, "size_limit must be a non-negative int"),
    ({"max_recipients": 0}, "max_recipients must be at least 1"),
    ({"timeout": 0}, "timeout must be a positive number of seconds"),
    ({"timeout": "5"}, "timeout must be a positive number of seconds"),
    ({"timeout": True}, "timeout must be a positive number of seconds"),
    ({"strict": "yes"}, "strict must be True or False"),
    ({"starttls": 1}, "starttls must be True or False"),
    ({"host": ""}, "host must be a non-empty str"),
    ({"hostname": 5}, "hostname must be a non-empty str"),
    ({"hostname": "mail example"}, "hostname may not contain spaces or line breaks"),
    ({"hostname": "mail\r\nexample"}, "hostname may not contain spaces or line breaks"),
    ({"extensions": 5}, "extensions must be a list of names"),
    ({"extensions": ["SIZE", "TURBO"]}, "extensions: unknown TURBO"),
    ({"auth_mechanisms": "PLAIN XOAUTH2", "users": {"a": "b"}}, "auth_mechanisms: unknown XOAUTH2"),
    ({"users": {"alice": 1}}, "users must map user names (str) to passwords (str)"),
    ({"users": ["alice"]}, "users must map user names (str) to passwords (str)"),
    ({"ssl_context": object()}, "ssl_context must be an ssl.SSLContext"),
    ({"starttls": True, "implicit_tls": True}, "starttls and implicit_tls exclude each other"),
    ({"tls_required": True}, "tls_required needs starttls=True"),
    ({"auth_required": True}, "auth_required and auth_require_tls need users="),
    ({"auth_require_tls": True}, "auth_required and auth_require_tls need users="),
    ({"auth_require_tls": True, "users": {"a": "b"}}, "auth_require_tls needs starttls=True or implicit_tls=True"),
]


@pytest.mark.parametrize(("options", "says"), BAD, ids=[next(iter(o)) + f"-{i}" for i, (o, _) in enumerate(BAD)])
def test_a_bad_option_is_refused_when_the_server_is_made(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SMTPServer(**options)
    assert says in str(caught.value)


def test_an_unknown_option_names_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Options.build({"max_recipient": 5}, where="the marker")
    text = str(caught.value)
    assert text.startswith("unknown smtpd option 'max_recipient' (did you mean 'max_recipients'?) in the marker")
    assert "valid options: host, port," in text


def test_names_are_upper_cased_and_split_on_commas_or_spaces() -> None:
    options = Options.build({"extensions": "size, pipelining 8bitmime", "auth_mechanisms": ["plain"], "users": {}})
    assert options.extensions == ("SIZE", "PIPELINING", "8BITMIME")
    assert options.auth_mechanisms == ("PLAIN",)


def test_a_real_ssl_context_is_accepted() -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert Options.build({"ssl_context": context, "starttls": True}).ssl_context is context


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("port", " 2525 ", 2525),
        ("timeout", "1.5", 1.5),
        ("strict", "Yes", True),
        ("strict", "on", True),
        ("strict", "0", False),
        ("strict", "", False),
        ("users", "alice:secret, bob:", {"alice": "secret", "bob": ""}),
        ("hostname", "mail.example", "mail.example"),
    ],
)
def test_ini_values_are_parsed_to_the_options_type(name: str, raw: str, value: object) -> None:
    assert parse_ini(name, raw) == value


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("port", "twenty-five", "smtpd_port must be an integer"),
        ("max_recipients", "1e3", "smtpd_max_recipients must be an integer"),
        ("timeout", "soon", "smtpd_timeout must be a number of seconds"),
        ("strict", "maybe", "smtpd_strict must be true or false"),
        ("starttls", "2", "smtpd_starttls must be true or false"),
        ("users", "alice", "smtpd_users takes user:password pairs"),
        ("ssl_context", "x", "ssl_context cannot be set in an ini file"),
    ],
)
def test_bad_ini_values_say_what_the_option_takes(name: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_ini(name, raw)
    assert says in str(caught.value)
