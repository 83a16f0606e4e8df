"""The server option names, importable without building the options themselves.

The plugin registers an ``smtpd_<name>`` ini key for each at start-up; making the
:class:`~pytest_smtpd.options.Options` class costs more than the rest of the
plugin's import, and only sessions that start a server need it.
"""

from __future__ import annotations

__all__ = ["OPTION_NAMES"]

#: Every option name, in the order of the reference (the fields of ``Options``).
OPTION_NAMES: tuple[str, ...] = (
    "host",
    "port",
    "hostname",
    "size_limit",
    "max_recipients",
    "extensions",
    "starttls",
    "implicit_tls",
    "ssl_context",
    "certificate",
    "tls_required",
    "users",
    "auth_mechanisms",
    "auth_required",
    "auth_require_tls",
    "proxy_protocol",
    "lmtp",
    "timeout",
    "strict",
    "check_content",
    "keep",
)
