"""Server options: one set of names for ``SMTPServer(**options)``, the ``smtpd``
marker, ``smtpd_factory`` keyword arguments and the ``smtpd_<option>`` ini keys.

One table holds what there is to know about an option: the fields of
:class:`Options` give its name, type, default and description, and each field's
``kind`` (in its metadata) checks a value and reads it from an ini file. The
rules that tie options together are the table :data:`_TOGETHER`. The protocol
core's :class:`~pytest_smtpd.protocol.ProtocolConfig` takes the options of the
same names, and ``option_names.OPTION_NAMES`` is checked against the fields here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, did_you_mean
from .extensions import AUTH_MECHANISMS, DEFAULT_EXTENSIONS, KNOWN_EXTENSIONS
from .option_names import OPTION_NAMES

if TYPE_CHECKING:
    import ssl

    from .protocol import ProtocolConfig

__all__ = ["AUTH_MECHANISMS", "CERTIFICATES", "OPTION_NAMES", "Options", "parse_ini"]

#: The values of the ``certificate`` option: the test CA's certificate, then those a verifying client must refuse.
CERTIFICATES: tuple[str, ...] = ("trusted", "self-signed", "expired", "wrong-host", "untrusted-ca")


@dataclass(frozen=True, slots=True)
class _Kind:
    """What values an option takes: ``check(name, value)`` returns the value as
    kept (or raises :class:`ConfigurationError` saying what it must be), and
    ``ini(name, raw)`` reads the ``smtpd_<name>`` ini value."""

    check: Callable[[str, Any], Any]
    ini: Callable[[str, str], Any]


def _kind(check: Callable[[str, Any], Any], ini: Callable[[str, str], Any]) -> dict[str, _Kind]:
    return {"kind": _Kind(check, ini)}


def _bad(name: str, wanted: str, value: object) -> ConfigurationError:
    return ConfigurationError(f"smtpd option {name} {wanted}, not {value!r}")


def _bad_ini(name: str, wanted: str, raw: str) -> ConfigurationError:
    return ConfigurationError(f"ini option smtpd_{name} must be {wanted}, not {raw!r}")


def _as_is(name: str, raw: str) -> str:
    return raw


def _ini_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _bad_ini(name, "an integer", raw) from None


def _count(minimum: int = 0, maximum: int | None = None) -> dict[str, _Kind]:
    def check(name: str, value: Any) -> int:
        __tracebackhide__ = True
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(name, "must be a non-negative int", value)
        if maximum is not None and value > maximum:
            raise _bad(name, f"must be {minimum}..{maximum}", value)
        if value < minimum:
            raise _bad(name, f"must be at least {minimum}", value)
        return value

    return _kind(check, _ini_int)


def _check_keep(name: str, value: Any) -> int | None:
    __tracebackhide__ = True
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise _bad(name, "must be None (keep everything) or a non-negative int", value)
    return value


def _ini_keep(name: str, raw: str) -> int | None:
    if raw.lower() in ("", "none", "all"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise _bad_ini(name, "an integer (or 'all' to keep everything)", raw) from None


def _check_seconds(name: str, value: Any) -> float:
    __tracebackhide__ = True
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _bad(name, "must be a positive number of seconds", value)
    return float(value)


def _ini_seconds(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise _bad_ini(name, "a number of seconds", raw) from None


def _check_bool(name: str, value: Any) -> bool:
    __tracebackhide__ = True
    if not isinstance(value, bool):
        raise _bad(name, "must be True or False", value)
    return value


def _ini_bool(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise _bad_ini(name, "true or false", raw)


def _check_text(name: str, value: Any) -> str:
    __tracebackhide__ = True
    if not isinstance(value, str) or not value:
        raise _bad(name, "must be a non-empty str", value)
    return value


def _check_hostname(name: str, value: Any) -> str:
    __tracebackhide__ = True
    if any(c in _check_text(name, value) for c in " \r\n"):
        raise ConfigurationError(f"smtpd option {name} may not contain spaces or line breaks: {value!r}")
    return value  # type: ignore[no-any-return]


def _names(known: tuple[str, ...]) -> dict[str, _Kind]:
    def check(name: str, value: Any) -> tuple[str, ...]:
        __tracebackhide__ = True
        if isinstance(value, str):
            items: Iterable[object] = value.replace(",", " ").split()
        elif isinstance(value, Iterable):
            items = list(value)
        else:
            raise _bad(name, "must be a list of names", value)
        names = tuple(str(item).upper() for item in items)
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise ConfigurationError(f"smtpd option {name}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
        return names

    return _kind(check, _as_is)


def _check_users(name: str, value: Any) -> dict[str, str] | None:
    __tracebackhide__ = True
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigurationError(f"smtpd option {name} must map user names (str) to passwords (str)")
    return dict(value)


def _ini_users(name: str, raw: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for item in raw.replace(",", " ").split():
        user, sep, password = item.partition(":")
        if not sep:
            raise ConfigurationError(f"ini option smtpd_{name} takes user:password pairs, not {item!r}")
        users[user] = password
    return users


def _check_ssl_context(name: str, value: Any) -> Any:
    __tracebackhide__ = True
    if value is not None and not _is_ssl_context(value):
        raise _bad(name, "must be an ssl.SSLContext", value)
    return value


def _is_ssl_context(value: object) -> bool:
    if type(value).__module__ == "ssl":  # the common case, without importing ssl
        return True
    import ssl

    return isinstance(value, ssl.SSLContext)


def _ini_ssl_context(name: str, raw: str) -> None:
    raise ConfigurationError(f"{name} cannot be set in an ini file; use the marker or smtpd_factory")


def _check_certificate(name: str, value: Any) -> str:
    __tracebackhide__ = True
    if value not in CERTIFICATES:
        hint = did_you_mean(value, CERTIFICATES) if isinstance(value, str) else ""
        raise ConfigurationError(
            f"smtpd option {name} must be one of {', '.join(map(repr, CERTIFICATES))}, not {value!r}{hint}"
        )
    return value  # type: ignore[no-any-return]


_COUNT = _count()
_BOOL = _kind(_check_bool, _ini_bool)


@dataclass(frozen=True)
class Options:
    """Every server option with its default. See the options reference in the docs."""

    #: Address to bind; loopback by default. ``"::1"`` for IPv6.
    host: str = field(default="127.0.0.1", metadata=_kind(_check_text, _as_is))
    #: Port to bind; 0 picks a free ephemeral port.
    port: int = field(default=0, metadata=_count(0, 65535))
    #: Name in the greeting and the EHLO reply; never resolved.
    hostname: str = field(default="localhost", metadata=_kind(_check_hostname, _as_is))
    #: Largest message accepted, in octets (RFC 1870 SIZE); larger gets 552.
    size_limit: int = field(default=32 * 1024 * 1024, metadata=_COUNT)
    #: Recipients accepted per transaction; more get 452 4.5.3.
    max_recipients: int = field(default=1000, metadata=_count(1))
    #: ESMTP extensions to advertise (STARTTLS and AUTH follow their own options).
    extensions: tuple[str, ...] = field(default=DEFAULT_EXTENSIONS, metadata=_names(KNOWN_EXTENSIONS))
    #: Offer STARTTLS (RFC 3207). Needs the ``tls`` extra unless ``ssl_context`` is given.
    starttls: bool = field(default=False, metadata=_BOOL)
    #: Speak TLS from the first byte (RFC 8314), like port 465.
    implicit_tls: bool = field(default=False, metadata=_BOOL)
    #: A server-side ``ssl.SSLContext`` to use instead of the test CA's.
    ssl_context: ssl.SSLContext | None = field(default=None, metadata=_kind(_check_ssl_context, _ini_ssl_context))
    #: Which test certificate the server presents: ``"trusted"`` (from the test CA), or one a
    #: verifying client must refuse: ``"self-signed"``, ``"expired"``, ``"wrong-host"``, ``"untrusted-ca"``.
    certificate: str = field(default="trusted", metadata=_kind(_check_certificate, _as_is))
    #: Refuse MAIL (530 5.7.0) until STARTTLS.
    tls_required: bool = field(default=False, metadata=_BOOL)
    #: Accounts for AUTH, name -> password. Setting it turns AUTH on.
    users: Mapping[str, str] | None = field(default=None, metadata=_kind(_check_users, _ini_users))
    #: Mechanisms offered; default all of PLAIN, LOGIN and CRAM-MD5.
    auth_mechanisms: tuple[str, ...] = field(default=AUTH_MECHANISMS, metadata=_names(AUTH_MECHANISMS))
    #: Refuse MAIL (530 5.7.0) until AUTH succeeded.
    auth_required: bool = field(default=False, metadata=_BOOL)
    #: Offer AUTH only under TLS; AUTH before TLS gets 538 5.7.11.
    auth_require_tls: bool = field(default=False, metadata=_BOOL)
    #: Read a PROXY protocol header (v1 or v2, as HAProxy sends) before the greeting.
    proxy_protocol: bool = field(default=False, metadata=_BOOL)
    #: Speak LMTP (RFC 2033): LHLO greets, and after the content each accepted recipient gets its own reply.
    lmtp: bool = field(default=False, metadata=_BOOL)
    #: Seconds allowed for each command, or each line of content, before 421 4.4.2 and close.
    timeout: float = field(default=300.0, metadata=_kind(_check_seconds, _ini_seconds))
    #: Client protocol violations fail the test at teardown.
    strict: bool = field(default=False, metadata=_BOOL)
    #: Every accepted message's problems (``Message.problems``) fail the test at teardown.
    check_content: bool = field(default=False, metadata=_BOOL)
    #: Keep at most this many messages (and the records of as many ended sessions) in
    #: memory, dropping the oldest; None keeps everything. For servers left running.
    keep: int | None = field(default=None, metadata=_kind(_check_keep, _ini_keep))
    _explicit: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def build(cls, *layers: Mapping[str, Any], where: str = "") -> Options:
        """Options from layers of keyword arguments, later layers winning."""
        __tracebackhide__ = True
        merged: dict[str, Any] = {}
        for layer in layers:
            unknown = sorted(set(layer) - set(OPTION_NAMES))
            if unknown:
                named = ", ".join(f"{name!r}{did_you_mean(name, OPTION_NAMES)}" for name in unknown)
                raise ConfigurationError(
                    f"unknown smtpd option{'s' if len(unknown) > 1 else ''} {named}"
                    f"{' in ' + where if where else ''}; valid options: {', '.join(OPTION_NAMES)}"
                )
            merged.update(layer)
        return cls._checked(merged)

    @classmethod
    def _checked(cls, values: dict[str, Any]) -> Options:
        __tracebackhide__ = True
        out = {name: _KINDS[name].check(name, value) for name, value in values.items()}
        for applies, problem in _TOGETHER:
            if applies(out):
                raise ConfigurationError(problem if isinstance(problem, str) else problem(out))
        return cls(**out, _explicit=frozenset(values))

    @functools.cached_property
    def protocol_config(self) -> ProtocolConfig:
        """What the protocol core needs of these options: the options named as its
        fields (made once per options object); its other fields keep their defaults."""
        from .protocol import ProtocolConfig

        fields = dataclasses.fields(ProtocolConfig)
        return ProtocolConfig(**{f.name: getattr(self, f.name) for f in fields if f.name in _KINDS})

    @property
    def tls(self) -> bool:
        """True when the server speaks TLS in some form."""
        return self.starttls or self.implicit_tls


#: Each option's kind, by name (from the fields' metadata).
_KINDS: dict[str, _Kind] = {f.name: f.metadata["kind"] for f in dataclasses.fields(Options) if "kind" in f.metadata}

#: The rules between options: (applies to these values, what is wrong).
_TOGETHER: tuple[tuple[Callable[[dict[str, Any]], bool], str | Callable[[dict[str, Any]], str]], ...] = (
    (
        lambda o: o.get("certificate", "trusted") != "trusted" and o.get("ssl_context") is not None,
        lambda o: (
            f"smtpd option certificate={o['certificate']!r} picks a test certificate, but ssl_context= brings "
            "your own: pass one or the other"
        ),
    ),
    (
        lambda o: bool(o.get("starttls") and o.get("implicit_tls")),
        "smtpd options starttls and implicit_tls exclude each other: choose one",
    ),
    (
        lambda o: bool(o.get("tls_required") and not o.get("starttls")),
        "smtpd option tls_required needs starttls=True",
    ),
    (
        lambda o: bool((o.get("auth_required") or o.get("auth_require_tls")) and not o.get("users")),
        "smtpd options auth_required and auth_require_tls need users={'name': 'password'}",
    ),
    (
        lambda o: bool(o.get("auth_require_tls") and not (o.get("starttls") or o.get("implicit_tls"))),
        "smtpd option auth_require_tls needs starttls=True or implicit_tls=True",
    ),
)

if tuple(_KINDS) != OPTION_NAMES:
    raise RuntimeError("option_names.OPTION_NAMES must list the fields of Options, in order")  # pragma: no cover


def parse_ini(name: str, raw: str) -> Any:
    """Convert an ``smtpd_<name>`` ini value to the option's type."""
    __tracebackhide__ = True
    return _KINDS[name].ini(name, raw.strip())
