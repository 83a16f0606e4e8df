"""The exceptions pytest-smtpd raises, in one place::

    SMTPDError
    ├── ConfigurationError      an option is unknown or has a wrong value (also a TypeError)
    ├── StartError              the server could not start (port taken, no permission)
    └── ServerThreadError       the server thread raised (a hook, a predicate, the server);
                                the original exception is its __cause__

    protocol.LocalProtocolError the protocol core was misused (a bug in the caller)

Protocol errors of the *client* are not exceptions: they are SMTP replies, and,
where RFC 5321 calls them violations, records in ``SMTPServer.violations``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ConfigurationError", "SMTPDError", "ServerThreadError", "StartError", "did_you_mean"]


class SMTPDError(Exception):
    """Base class of pytest-smtpd's exceptions."""


class ConfigurationError(SMTPDError, TypeError):
    """An option is unknown or has a value of the wrong kind; the message says what to change."""


class StartError(SMTPDError, OSError):
    """The server could not bind or listen; the message says what to change."""


class ServerThreadError(SMTPDError):
    """An exception was raised in the server thread; the original is ``__cause__``."""


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``" (did you mean 'RCPT'?)"`` for the known name nearest ``word``, or ``""``."""
    import difflib

    candidates = list(known)
    folded = {name.lower(): name for name in candidates}
    close = difflib.get_close_matches(word.lower(), folded, n=1)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""
