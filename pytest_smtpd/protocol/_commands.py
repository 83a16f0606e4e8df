"""Parse and propose: one function per verb, from the command line to the reply.

Each function takes what it needs to know about the session (:class:`Facts`,
which the connection provides) and the command line, and returns what it found:
the :class:`~pytest_smtpd.protocol.Command`, the reply the core proposes, and
the violation noticed, if any. None changes the session: what a reply changes
is the state table's business (``_state.TRANSITIONS``), once the reply is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, Protocol

from ._config import COMMAND_LINE_LIMIT, LINE_EXTENSIONS, ProtocolConfig
from ._events import Command, Violation, ViolationKind
from ._replies import _GO_AHEAD, Replies, Reply, _reply
from ._state import State, Transaction

if TYPE_CHECKING:
    from ._auth import AuthExchange

#: What a parse-and-propose function returns: the command, the proposed reply,
#: and the violation it noticed.
Proposal = tuple[Command, Reply, "Violation | None"]


class Facts(Protocol):
    """What the per-verb functions read about the session (the connection has it all)."""

    @property
    def config(self) -> ProtocolConfig: ...
    @property
    def replies(self) -> Replies: ...
    @property
    def state(self) -> State: ...
    @property
    def tls(self) -> bool: ...
    @property
    def advertised(self) -> frozenset[str]: ...
    @property
    def auth_mechanism(self) -> str | None: ...
    @property
    def transaction(self) -> Transaction | None: ...


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


def _violation(kind: ViolationKind, detail: str) -> Violation:
    return Violation(kind.value, detail)


# What is in force ---------------------------------------------------------------


def auth_offered(config: ProtocolConfig, tls: bool) -> bool:
    """RFC 4954 §4 and RFC 3207: AUTH is offered only where it may be used."""
    if not config.users or not config.auth_mechanisms:
        return False
    return tls or not (config.auth_require_tls or config.tls_required)


def advertised(config: ProtocolConfig, greeting_verb: str | None, tls: bool) -> frozenset[str]:
    """Extensions in force: those advertised, once the client used EHLO."""
    if greeting_verb != "EHLO" and greeting_verb != "LHLO":
        return frozenset()
    if auth_offered(config, tls):
        return config.extensions | {"AUTH"}
    return config.extensions


def verb_limit(in_force: frozenset[str], verb: str) -> int:
    """The longest command line ``verb`` may have with the extensions in force."""
    extra = LINE_EXTENSIONS.get(verb)
    if not extra:
        return COMMAND_LINE_LIMIT
    return COMMAND_LINE_LIMIT + sum(octets for name, octets in extra if name in in_force)


def read_limit(in_force: frozenset[str]) -> int:
    """The longest command line the reader takes in (it cannot know the verb before the line ends)."""
    return max(verb_limit(in_force, verb) for verb in LINE_EXTENSIONS)


# Out of sequence ----------------------------------------------------------------


def out_of_sequence(facts: Facts, verb: str) -> tuple[Reply, Violation | None]:
    """The reply to a command its state does not allow (:data:`ALLOWED`)."""
    state, r = facts.state, facts.replies
    txn = facts.transaction
    if state is State.NO_SERVICE:
        # RFC 5321 §3.1: after a 554 greeting the server waits for QUIT and
        # answers 503 to anything else.
        return r.to(verb, 503, "5.5.1", "Error: no SMTP service here"), None
    if verb == "MAIL" and state is State.INITIAL:
        text = "Error: send LHLO first" if facts.config.lmtp else "Error: send HELO/EHLO first"
    elif verb == "MAIL":
        text = "Error: nested MAIL command"
    elif verb == "RCPT":
        text = "Error: need MAIL command"
    elif verb in ("DATA", "BDAT") and state is State.BDAT:
        text = "Error: DATA not allowed after BDAT"
    elif verb in ("DATA", "BDAT") and txn is not None and txn.rcpt_attempts:
        found = _violation(ViolationKind.OUT_OF_SEQUENCE, f"{verb} with no accepted recipient")
        return r(554, "5.5.1", "Error: no valid recipients"), found
    elif verb in ("DATA", "BDAT") and txn is not None:
        text = "Error: need RCPT command"
    elif verb in ("AUTH", "STARTTLS") and state is State.INITIAL:
        text = "Error: send LHLO first" if facts.config.lmtp else "Error: send EHLO first"
    elif verb in ("AUTH", "STARTTLS"):
        text = f"Error: {verb} not allowed during a mail transaction"
    else:
        text = "Error: need MAIL command"
    return r(503, "5.5.1", text), _violation(ViolationKind.OUT_OF_SEQUENCE, f"{verb} in state {state.value}")


# The verbs ----------------------------------------------------------------------

_EHLO_KEYWORDS: Final = ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN")


def helo(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """HELO and EHLO (RFC 5321 §4.1.1.1); EHLO lists the extensions (§4.1.4).

    LHLO (RFC 2033 §4.1) is answered as EHLO is: "The LHLO command is identical
    in semantics to the EHLO command".
    """
    cmd = Command(verb, argument, line=raw)
    config = facts.config
    if not argument.split(" ", 1)[0]:
        return cmd, facts.replies.to(verb, 501, "5.5.4", f"Syntax: {verb} hostname"), None
    if verb == "HELO":
        return cmd, _reply(250, config.hostname), None
    ext = config.extensions
    lines = [config.hostname]
    if "SIZE" in ext:
        lines.append(f"SIZE {config.size_limit}")
    lines.extend(name for name in _EHLO_KEYWORDS if name in ext)
    if config.starttls and not facts.tls:
        lines.append("STARTTLS")
    if auth_offered(config, facts.tls):
        lines.append("AUTH " + " ".join(config.auth_mechanisms))
    return cmd, _reply(250, "\n".join(lines)), None


def noop(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """NOOP (RFC 5321 §4.1.1.9): any argument is ignored."""
    return Command(verb, argument, line=raw), facts.replies(250, "2.0.0", "OK"), None


def rset(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """RSET (RFC 5321 §4.1.1.5): no argument."""
    if argument:
        return Command(verb, argument, line=raw), facts.replies(501, "5.5.4", "Syntax: RSET"), None
    return Command(verb, argument, line=raw), facts.replies(250, "2.0.0", "OK"), None


def quit_(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """QUIT (RFC 5321 §4.1.1.10)."""
    return Command(verb, argument, line=raw), facts.replies(221, "2.0.0", "Bye"), None


def help_(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """HELP (RFC 5321 §4.1.1.8)."""
    if facts.config.lmtp:
        text = "Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"
        return Command(verb, argument, line=raw), facts.replies(214, "2.0.0", text), None
    text = "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"
    return Command(verb, argument, line=raw), facts.replies(214, "2.0.0", text), None


def vrfy(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """VRFY: RFC 5321 §3.5.3, 252 when the server will not verify."""
    cmd = Command(verb, argument, line=raw)
    if not argument:
        return cmd, facts.replies(501, "5.5.4", "Syntax: VRFY address"), None
    return cmd, facts.replies(252, "2.1.5", "Cannot VRFY user, but will accept message"), None


def starttls(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """STARTTLS (RFC 3207 §4)."""
    cmd, r = Command(verb, argument, line=raw), facts.replies
    if not facts.config.starttls:
        return cmd, r(502, "5.5.1", "Error: STARTTLS not offered"), None
    if facts.tls:
        return cmd, r(503, "5.5.1", "Error: TLS already active"), None
    if argument:
        return cmd, r(501, "5.5.4", "Syntax: STARTTLS"), None
    return cmd, r(220, "2.0.0", "Ready to start TLS"), None


def _parse_path(verb: str, argument: str, keyword: str) -> tuple[str | None, str, str]:
    """Split ``FROM:<addr> params``; returns (address or None, params text, error)."""
    if argument[: len(keyword)].upper() != keyword:
        return None, "", f"Syntax: {verb} {keyword}<address>"
    rest = argument[len(keyword) :].lstrip(" ")
    if not rest.startswith("<"):
        return None, "", f"Syntax: {verb} {keyword}<address>"
    close = _path_end(rest)
    if close < 0:
        return None, "", f"Syntax: {verb} {keyword}<address>"
    path, params = rest[1:close], rest[close + 1 :]
    if params and not params.startswith(" "):
        return None, "", f"Syntax: {verb} {keyword}<address>"
    if path.startswith("@"):
        # RFC 5321 §4.1.1.3 / §C: source routes are accepted and ignored.
        colon = path.find(":")
        if colon < 0:
            return None, "", "Bad address syntax"
        path = path[colon + 1 :]
    return path, params.strip(" "), ""


def _check_address(address: str, allow_empty: bool) -> str:
    """Empty string when valid, else the reason."""
    if not address:
        return "" if allow_empty else "Bad address syntax"
    local, at, domain = address.rpartition("@")
    if not at:
        return "" if address.lower() == "postmaster" and not allow_empty else "Bad address syntax"
    if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        return "Bad address syntax"
    if len(local.encode("utf-8")) > 64:
        return "Local part longer than 64 octets"
    if len(domain.encode("utf-8")) > 255:
        return "Domain longer than 255 octets"
    return ""


def _parse_params(facts: Facts, text: str, allowed: Mapping[str, str]) -> tuple[dict[str, str | None], Reply | None]:
    if not text:
        return {}, None
    params: dict[str, str | None] = {}
    in_force = facts.advertised
    for item in text.split():
        match = _PARAM.fullmatch(item)
        if not match:
            return params, facts.replies(501, "5.5.4", "Syntax error in parameters")
        key, value = match.group(1).upper(), match.group(2)
        extension = allowed.get(key)
        if extension is None or extension not in in_force:
            # The name is cut so that the reply line stays within RFC 5321 §4.5.3.1.5.
            return params, facts.replies(555, "5.5.4", f"Unsupported parameter {key[:64]}")
        if key in params:
            # RFC 3461 §4.5, §5.1(a): a second RET or ENVID MUST get 501, a
            # repeated NOTIFY or ORCPT SHOULD. No extension here defines a
            # parameter that may repeat, so every repeat gets 501.
            return params, facts.replies(501, "5.5.4", f"Duplicate parameter {key}")
        params[key] = value
    return params, None


#: The usual MAIL and RCPT argument, checked in one match: a dot-atom local part
#: and a domain name, as _parse_path and _check_address would take them.
_PLAIN_PATH = rf"<({_ATEXT}+(?:\.{_ATEXT}+)*@{_LABEL}(?:\.{_LABEL})*)>(?: (.*))?"
_PLAIN: Final = {
    "FROM:": re.compile(rf"[Ff][Rr][Oo][Mm]: *{_PLAIN_PATH}", re.DOTALL),
    "TO:": re.compile(rf"[Tt][Oo]: *{_PLAIN_PATH}", re.DOTALL),
}


def _envelope(
    facts: Facts, verb: str, argument: str, raw: bytes, keyword: str, allowed: Mapping[str, str]
) -> tuple[Command, Reply | None]:
    """MAIL or RCPT parsed: the command, and the refusal when its path or parameters are bad."""
    plain = _PLAIN[keyword].fullmatch(argument)
    if plain is not None:
        address = plain.group(1)
        at = address.find("@")
        # RFC 5321 §4.5.3.1.1, §4.5.3.1.2: local part 64 octets, domain 255.
        if address.isascii() and at <= 64 and len(address) - at - 1 <= 255:
            params, bad_params = _parse_params(facts, (plain.group(2) or "").strip(" "), allowed)
            return Command(verb, argument, address=address, params=params, line=raw), bad_params
    address, params_text, error = _parse_path(verb, argument, keyword)
    if address is None:
        return Command(verb, argument, line=raw), facts.replies(501, "5.5.4", error)
    mail = keyword == "FROM:"
    reason = _check_address(address, allow_empty=mail)
    if reason:
        # RFC 3463: X.1.7 bad sender's mailbox syntax, X.1.3 bad destination's.
        bad = facts.replies(501, "5.1.7" if mail else "5.1.3", reason)
        return Command(verb, argument, address=address, line=raw), bad
    params, bad_params = _parse_params(facts, params_text, allowed)
    return Command(verb, argument, address=address, params=params, line=raw), bad_params


def _not_utf8(facts: Facts, verb: str, enhanced: str) -> tuple[Reply, Violation]:
    # RFC 6531 §3.3: with SMTPUTF8 an address is UTF-8; other octets are a syntax error.
    found = _violation(ViolationKind.BAD_OCTET, f"{verb} address is not valid UTF-8")
    return facts.replies(501, enhanced, "Bad address syntax: not UTF-8"), found


def mail(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """MAIL FROM (RFC 5321 §4.1.1.2) with SIZE, BODY, SMTPUTF8, RET, ENVID and AUTH."""
    config, r = facts.config, facts.replies
    if config.tls_required and not facts.tls:
        return Command(verb, argument, line=raw), r(530, "5.7.0", "Must issue a STARTTLS command first"), None
    if config.auth_required and facts.auth_mechanism is None:
        return Command(verb, argument, line=raw), r(530, "5.7.0", "Authentication required"), None
    cmd, bad = _envelope(facts, verb, argument, raw, "FROM:", _MAIL_PARAMS)
    if bad is not None:
        return cmd, bad, None
    address, params = cmd.address, cmd.params
    assert address is not None
    if params:
        size = params.get("SIZE")
        if "SIZE" in params:
            if size is None or not (size.isascii() and size.isdigit()):
                return cmd, r(501, "5.5.4", "Syntax: SIZE=<octets>"), None
            if int(size) > config.size_limit:
                return cmd, r(552, "5.3.4", "Message size exceeds fixed maximum message size"), None
        body = (params.get("BODY") or "").upper() if "BODY" in params else "7BIT"
        if body not in ("7BIT", "8BITMIME") and not (body == "BINARYMIME" and "BINARYMIME" in facts.advertised):
            return cmd, r(501, "5.5.4", "Syntax: BODY=7BIT|8BITMIME"), None
        if "SMTPUTF8" in params and params["SMTPUTF8"] is not None:
            return cmd, r(501, "5.5.4", "SMTPUTF8 takes no value"), None
        if "RET" in params and (params["RET"] or "").upper() not in ("FULL", "HDRS"):
            return cmd, r(501, "5.5.4", "Syntax: RET=FULL|HDRS"), None
        if "ENVID" in params and not _XTEXT.fullmatch(params["ENVID"] or "-"):
            return cmd, r(501, "5.5.4", "Syntax: ENVID=xtext"), None
    if not address.isascii():
        if "SMTPUTF8" not in params:
            # RFC 6531 §3.5: a non-ASCII reverse-path without SMTPUTF8 is
            # refused with 550 at MAIL (553 at RCPT), enhanced code X.6.7.
            found = _violation(ViolationKind.NON_ASCII_ADDRESS, f"MAIL FROM:<{address}> without SMTPUTF8")
            return cmd, r(550, "5.6.7", "Non-ASCII address needs SMTPUTF8"), found
        if not _is_utf8(raw):
            return (cmd, *_not_utf8(facts, "MAIL", "5.1.7"))
    return cmd, r(250, "2.1.0", "OK"), None


def rcpt(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """RCPT TO (RFC 5321 §4.1.1.3) with NOTIFY and ORCPT (RFC 3461)."""
    txn, r = facts.transaction, facts.replies
    assert txn is not None
    cmd, bad = _envelope(facts, verb, argument, raw, "TO:", _RCPT_PARAMS)
    if bad is not None:
        return cmd, bad, None
    address, params = cmd.address, cmd.params
    assert address is not None
    if "NOTIFY" in params:
        # RFC 3461 §4.1: notify-esmtp-value = "NEVER" / 1#notify-list-element;
        # an RFC 822 "#" list, where null elements are allowed (RFC 822 §2.7).
        values = {v.upper() for v in (params["NOTIFY"] or "").split(",") if v}
        if not values or not values <= _NOTIFY or ("NEVER" in values and len(values) > 1):
            return cmd, r(501, "5.5.4", "Syntax: NOTIFY=NEVER|SUCCESS,FAILURE,DELAY"), None
    if "ORCPT" in params and not _valid_orcpt(txn, params["ORCPT"] or ""):
        return cmd, r(501, "5.5.4", "Syntax: ORCPT=addr-type;xtext"), None
    if not address.isascii():
        if not txn.smtputf8:
            found = _violation(ViolationKind.NON_ASCII_ADDRESS, f"RCPT TO:<{address}> without SMTPUTF8")
            return cmd, r(553, "5.6.7", "Non-ASCII address needs SMTPUTF8"), found
        if not _is_utf8(raw):
            return (cmd, *_not_utf8(facts, "RCPT", "5.1.3"))
    if len(txn.recipients) >= facts.config.max_recipients:
        return cmd, r(452, "4.5.3", "Too many recipients"), None
    return cmd, r(250, "2.1.5", "OK"), None


def _valid_orcpt(txn: Transaction, value: str) -> bool:
    """RFC 3461 §4.2: ``original-recipient-address = addr-type ";" xtext``."""
    addr_type, semicolon, address = value.partition(";")
    if not semicolon or not _ADDR_TYPE.fullmatch(addr_type):
        return False
    if txn.smtputf8 and addr_type.lower() == "utf-8":
        return _UTF8_XTEXT.fullmatch(address) is not None
    return _XTEXT.fullmatch(address) is not None


def data(facts: Facts, verb: str, argument: str, raw: bytes) -> Proposal:
    """DATA (RFC 5321 §4.1.1.4): 354, and the content follows."""
    txn = facts.transaction
    assert txn is not None
    cmd = Command(verb, argument, line=raw)
    if argument:
        return cmd, facts.replies(501, "5.5.4", "Syntax: DATA"), None
    if txn.body == "BINARYMIME":
        # RFC 3030 §3: BINARYMIME content goes by BDAT only.
        return cmd, facts.replies(503, "5.5.1", "Error: BINARYMIME requires BDAT"), None
    return cmd, _GO_AHEAD, None


def auth(
    facts: Facts, verb: str, argument: str, raw: bytes
) -> tuple[Command, Reply, Violation | None, AuthExchange | None]:
    """AUTH (RFC 4954 §4): the proposal, and the exchange to run when it is answered 334."""
    parts = argument.split(" ")
    mechanism = parts[0].upper()
    initial = parts[1] if len(parts) > 1 else None
    # Refused or not, an AUTH line's initial response is a secret.
    cmd = masked_auth(verb, argument, raw)
    config, r = facts.config, facts.replies
    if not config.users:
        return cmd, r(502, "5.5.1", "Error: AUTH not offered"), None, None
    if facts.auth_mechanism is not None:
        return cmd, r(503, "5.5.1", "Error: already authenticated"), None, None
    if not mechanism or len(parts) > 2:
        return cmd, r(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"), None, None
    found = None
    if not facts.tls and config.starttls:
        found = _violation(ViolationKind.AUTH_BEFORE_TLS, f"AUTH {mechanism} before STARTTLS")
    if not facts.tls and (config.auth_require_tls or config.tls_required):
        # RFC 4954 §6: 538 when the mechanism requires an encrypted connection.
        return cmd, r(538, "5.7.11", "Encryption required for requested authentication mechanism"), found, None
    if mechanism not in config.auth_mechanisms:
        return cmd, r(504, "5.5.4", "Unrecognized authentication type"), found, None
    from ._auth import AuthExchange  # only sessions that authenticate pay for hmac & co.

    exchange = AuthExchange(mechanism, config.users, config.hostname, initial)
    return cmd, exchange.reply(exchange.start(), r), found, exchange


#: The parse-and-propose function of each verb; BDAT starts a reader instead.
VERBS: Final[Mapping[str, Callable[[Facts, str, str, bytes], Proposal]]] = {
    "HELO": helo,
    "EHLO": helo,
    "LHLO": helo,
    "MAIL": mail,
    "RCPT": rcpt,
    "DATA": data,
    "RSET": rset,
    "NOOP": noop,
    "QUIT": quit_,
    "VRFY": vrfy,
    "HELP": help_,
    "STARTTLS": starttls,
}


def chunk_header(argument: str) -> tuple[int | None, bool | None]:
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


def masked_auth(verb: str, argument: str, raw: bytes) -> Command:
    """The AUTH command as recorded: the initial response, a secret, is never kept."""
    mechanism, _, initial = argument.partition(" ")
    shown = f"{mechanism.upper()} ****" if initial else mechanism.upper()
    return Command(verb, shown, line=raw.split(b" ", 1)[0] + b" " + shown.encode())
