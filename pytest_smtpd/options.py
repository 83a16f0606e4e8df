"""Server options: one set of names for ``SMTPServer(**options)``, the ``smtpd``
marker, ``smtpd_factory`` keyword arguments and the ``smtpd_<option>`` ini keys.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, did_you_mean
from .extensions import AUTH_MECHANISMS, DEFAULT_EXTENSIONS, KNOWN_EXTENSIONS
from .option_names import OPTION_NAMES

if TYPE_CHECKING:
    import ssl

    from .protocol import ProtocolConfig

__all__ = ["AUTH_MECHANISMS", "OPTION_NAMES", "Options"]


#: The options that are True or False.
_BOOL_OPTIONS = (
    "starttls",
    "implicit_tls",
    "tls_required",
    "auth_required",
    "auth_require_tls",
    "strict",
    "proxy_protocol",
    "check_content",
)


@dataclass(frozen=True)
class Options:
    """Every server option with its default. See the options reference in the docs."""

    #: Address to bind; loopback by default. ``"::1"`` for IPv6.
    host: str = "127.0.0.1"
    #: Port to bind; 0 picks a free ephemeral port.
    port: int = 0
    #: Name in the greeting and the EHLO reply; never resolved.
    hostname: str = "localhost"
    #: Largest message accepted, in octets (RFC 1870 SIZE); larger gets 552.
    size_limit: int = 32 * 1024 * 1024
    #: Recipients accepted per transaction; more get 452 4.5.3.
    max_recipients: int = 1000
    #: ESMTP extensions to advertise (STARTTLS and AUTH follow their own options).
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    #: Offer STARTTLS (RFC 3207). Needs the ``tls`` extra unless ``ssl_context`` is given.
    starttls: bool = False
    #: Speak TLS from the first byte (RFC 8314), like port 465.
    implicit_tls: bool = False
    #: A server-side ``ssl.SSLContext`` to use instead of the test CA's.
    ssl_context: ssl.SSLContext | None = None
    #: Which test certificate the server presents: ``"trusted"`` (from the test CA), or one a
    #: verifying client must refuse: ``"self-signed"``, ``"expired"``, ``"wrong-host"``, ``"untrusted-ca"``.
    certificate: str = "trusted"
    #: Refuse MAIL (530 5.7.0) until STARTTLS.
    tls_required: bool = False
    #: Accounts for AUTH, name -> password. Setting it turns AUTH on.
    users: Mapping[str, str] | None = None
    #: Mechanisms offered; default all of PLAIN, LOGIN and CRAM-MD5.
    auth_mechanisms: tuple[str, ...] = AUTH_MECHANISMS
    #: Refuse MAIL (530 5.7.0) until AUTH succeeded.
    auth_required: bool = False
    #: Offer AUTH only under TLS; AUTH before TLS gets 538 5.7.11.
    auth_require_tls: bool = False
    #: Read a PROXY protocol header (v1 or v2, as HAProxy sends) before the greeting.
    proxy_protocol: bool = False
    #: Seconds allowed for each command, or each line of content, before 421 4.4.2 and close.
    timeout: float = 300.0
    #: Client protocol violations fail the test at teardown.
    strict: bool = False
    #: Every accepted message's problems (``Message.problems``) fail the test at teardown.
    check_content: bool = False
    #: Keep at most this many messages (and the records of as many ended sessions) in
    #: memory, dropping the oldest; None keeps everything. For servers left running.
    keep: int | None = None
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
        out = dict(values)
        for name in ("port", "size_limit", "max_recipients"):
            if name in out:
                value = out[name]
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigurationError(f"smtpd option {name} must be a non-negative int, not {value!r}")
        if out.get("keep") is not None:
            value = out["keep"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(
                    f"smtpd option keep must be None (keep everything) or a non-negative int, not {value!r}"
                )
        if "port" in out and out["port"] > 65535:
            raise ConfigurationError(f"smtpd option port must be 0..65535, not {out['port']!r}")
        if "max_recipients" in out and out["max_recipients"] < 1:
            raise ConfigurationError("smtpd option max_recipients must be at least 1")
        if "timeout" in out:
            value = out["timeout"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(f"smtpd option timeout must be a positive number of seconds, not {value!r}")
            out["timeout"] = float(value)
        for name in _BOOL_OPTIONS:
            if name in out and not isinstance(out[name], bool):
                raise ConfigurationError(f"smtpd option {name} must be True or False, not {out[name]!r}")
        for name in ("host", "hostname"):
            if name in out and (not isinstance(out[name], str) or not out[name]):
                raise ConfigurationError(f"smtpd option {name} must be a non-empty str, not {out[name]!r}")
        if "hostname" in out and any(c in out["hostname"] for c in " \r\n"):
            raise ConfigurationError(
                f"smtpd option hostname may not contain spaces or line breaks: {out['hostname']!r}"
            )
        if "extensions" in out:
            out["extensions"] = _names(out["extensions"], "extensions", KNOWN_EXTENSIONS)
        if "auth_mechanisms" in out:
            out["auth_mechanisms"] = _names(out["auth_mechanisms"], "auth_mechanisms", AUTH_MECHANISMS)
        if out.get("users") is not None:
            users = out["users"]
            if not isinstance(users, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in users.items()
            ):
                raise ConfigurationError("smtpd option users must map user names (str) to passwords (str)")
            out["users"] = dict(users)
        context = out.get("ssl_context")
        if context is not None and type(context).__module__ != "ssl" and not _is_ssl_context(context):
            raise ConfigurationError(f"smtpd option ssl_context must be an ssl.SSLContext, not {context!r}")
        if "certificate" in out:
            _check_certificate(out["certificate"], out.get("ssl_context"))
        if out.get("starttls") and out.get("implicit_tls"):
            raise ConfigurationError("smtpd options starttls and implicit_tls exclude each other: choose one")
        if out.get("tls_required") and not out.get("starttls"):
            raise ConfigurationError("smtpd option tls_required needs starttls=True")
        if (out.get("auth_required") or out.get("auth_require_tls")) and not out.get("users"):
            raise ConfigurationError("smtpd options auth_required and auth_require_tls need users={'name': 'password'}")
        if out.get("auth_require_tls") and not (out.get("starttls") or out.get("implicit_tls")):
            raise ConfigurationError("smtpd option auth_require_tls needs starttls=True or implicit_tls=True")
        return cls(**out, _explicit=frozenset(values))

    def replace(self, **changes: Any) -> Options:
        """A copy with some options changed (checked like the others)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name in self._explicit}
        return Options.build(values, changes)

    @functools.cached_property
    def protocol_config(self) -> ProtocolConfig:
        """What the protocol core needs of these options (made once per options object)."""
        from .protocol import ProtocolConfig

        return ProtocolConfig(
            hostname=self.hostname,
            size_limit=self.size_limit,
            max_recipients=self.max_recipients,
            extensions=frozenset(self.extensions),
            starttls=self.starttls,
            tls_required=self.tls_required,
            users=self.users,
            auth_mechanisms=self.auth_mechanisms,
            auth_required=self.auth_required,
            auth_require_tls=self.auth_require_tls,
        )

    @property
    def tls(self) -> bool:
        """True when the server speaks TLS in some form."""
        return self.starttls or self.implicit_tls


def _is_ssl_context(value: object) -> bool:
    import ssl

    return isinstance(value, ssl.SSLContext)


#: The values of the ``certificate`` option: the test CA's certificate, then those a verifying client must refuse.
CERTIFICATES: tuple[str, ...] = ("trusted", "self-signed", "expired", "wrong-host", "untrusted-ca")


def _check_certificate(value: object, context: object) -> None:
    if value not in CERTIFICATES:
        valid = ", ".join(map(repr, CERTIFICATES))
        near = difflib.get_close_matches(value, CERTIFICATES, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigurationError(f"smtpd option certificate must be one of {valid}, not {value!r}{hint}")
    if value != "trusted" and context is not None:
        raise ConfigurationError(
            f"smtpd option certificate={value!r} picks a test certificate, but ssl_context= brings your own: "
            "pass one or the other"
        )


def _names(value: object, option: str, known: Iterable[str]) -> tuple[str, ...]:
    __tracebackhide__ = True
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise ConfigurationError(f"smtpd option {option} must be a list of names, not {value!r}")
    names = tuple(str(item).upper() for item in items)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigurationError(f"smtpd option {option}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return names


if tuple(f.name for f in dataclasses.fields(Options) if not f.name.startswith("_")) != OPTION_NAMES:
    raise RuntimeError("option_names.OPTION_NAMES must list the fields of Options, in order")  # pragma: no cover


def parse_ini(name: str, raw: str) -> Any:
    """Convert an ``smtpd_<name>`` ini value to the option's type."""
    __tracebackhide__ = True
    raw = raw.strip()
    if name in ("port", "size_limit", "max_recipients"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"ini option smtpd_{name} must be an integer, not {raw!r}") from None
    if name == "keep":
        if raw.lower() in ("", "none", "all"):
            return None
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(
                f"ini option smtpd_keep must be an integer (or 'all' to keep everything), not {raw!r}"
            ) from None
    if name == "timeout":
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(f"ini option smtpd_timeout must be a number of seconds, not {raw!r}") from None
    if name in _BOOL_OPTIONS:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigurationError(f"ini option smtpd_{name} must be true or false, not {raw!r}")
    if name == "users":
        users: dict[str, str] = {}
        for item in raw.replace(",", " ").split():
            user, sep, password = item.partition(":")
            if not sep:
                raise ConfigurationError(f"ini option smtpd_users takes user:password pairs, not {item!r}")
            users[user] = password
        return users
    if name == "ssl_context":
        raise ConfigurationError("ssl_context cannot be set in an ini file; use the marker or smtpd_factory")
    return raw
