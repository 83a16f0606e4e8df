"""Parsing command lines: the syntax of each verb's arguments."""

from __future__ import annotations

import re
from typing import Final

from ._events import Command

_VERB = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Non-ASCII is allowed (RFC 6531) and spelled as negated classes of ASCII:
# a range up to \U0010ffff takes milliseconds to compile, and import time counts.
_ATEXT = r"[^\x00-\x20\"(),.:;<>@\[\\\]\x7f]"  # RFC 5322 §3.2.3 atext
_QTEXT = r"[^\x00-\x1f\"\\\x7f]"  # RFC 5321 §4.1.2 qtextSMTP
_LET_DIG = r"[^\x00-\x2f:-@\[-`{-\x7f]"
_LDH = r"[^\x00-\x2c./:-@\[-`{-\x7f]"
_LABEL = rf"{_LET_DIG}(?:{_LDH}*{_LET_DIG})?"
_LOCAL = re.compile(rf'(?:{_ATEXT}+(?:\.{_ATEXT}+)*|"(?:{_QTEXT}|\\[\x20-\x7e])*")')
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[\x21-\x5a\x5e-\x7e]+\])")
_PARAM = re.compile(r"([A-Za-z0-9][A-Za-z0-9\-]*)(?:=([^\x00-\x20=\x7f]+))?")
_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*")
# RFC 6533 §3: with SMTPUTF8, an ORCPT of type utf-8 may hold UTF-8 as it is.
_UTF8_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2}|[^\x00-\x7f])*")
# RFC 3461 §4.2: addr-type is an RFC 822 atom: CHARs but specials, SPACE and CTLs.
_ADDR_TYPE = re.compile(r"[!#-'*+\-/-9=?A-Z^-~]+")
_NOTIFY: Final = frozenset({"NEVER", "SUCCESS", "FAILURE", "DELAY"})

_MAIL_PARAMS: Final = {
    "SIZE": "SIZE",
    "BODY": "8BITMIME",
    "SMTPUTF8": "SMTPUTF8",
    "RET": "DSN",
    "ENVID": "DSN",
    "AUTH": "AUTH",
}
_RCPT_PARAMS: Final = {"NOTIFY": "DSN", "ORCPT": "DSN"}


def _chunk_header(argument: str) -> tuple[int | None, bool | None]:
    """RFC 3030 §2 ``bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]``: (chunk size,
    LAST); the size is None when it cannot be read, LAST is None when the rest is bad."""
    parts = argument.split()
    if not parts or not (parts[0].isascii() and parts[0].isdigit()):
        return None, None
    if len(parts) == 1:
        return int(parts[0]), False
    if len(parts) == 2 and parts[1].upper() == "LAST":
        return int(parts[0]), True
    return int(parts[0]), None


def _path_end(rest: str) -> int:
    """Where the ``>`` that closes the path opened by ``rest[0]`` is, or -1.

    RFC 5321 §4.1.2: a Quoted-string local part may hold ``>`` (qtextSMTP) and
    quoted pairs, so quoted text is skipped.
    """
    if '"' not in rest:
        return rest.find(">")
    quoted = False
    i, n = 1, len(rest)
    while i < n:
        char = rest[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == ">":
            return i
        i += 1
    return -1


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _masked_auth(verb: str, argument: str, raw: bytes) -> Command:
    """The AUTH command as recorded: the initial response, a secret, is never kept."""
    mechanism, _, initial = argument.partition(" ")
    shown = f"{mechanism.upper()} ****" if initial else mechanism.upper()
    return Command(verb, shown, line=raw.split(b" ", 1)[0] + b" " + shown.encode())
