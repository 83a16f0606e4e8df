"""pytest-smtpd: a real SMTP server on loopback for your tests, recording every
command, reply and message, with scripted failures per test and suite-wide.

Names are imported lazily, so loading the plugin costs almost nothing until a
test asks for a server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .content import Problem as Problem
    from .content import ProblemKind as ProblemKind
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ServerThreadError as ServerThreadError
    from .errors import SMTPDError as SMTPDError
    from .errors import StartError as StartError
    from .message import Attachment as Attachment
    from .message import Message as Message
    from .options import Options as Options
    from .protocol import Command as Command
    from .protocol import Reply as Reply
    from .protocol import Violation as Violation
    from .records import Ending as Ending
    from .records import Refusal as Refusal
    from .records import ServerError as ServerError
    from .records import Session as Session
    from .records import Transcript as Transcript
    from .records import TranscriptLine as TranscriptLine
    from .rules import Rule as Rule
    from .server import SMTPServer as SMTPServer

    #: The installed version of the ``pytest-smtp-server`` distribution, read
    #: from its metadata on first use ("0" when it is not installed).
    __version__: str

_EXPORTS = {
    "Attachment": "message",
    "Command": "protocol",
    "ConfigurationError": "errors",
    "Ending": "records",
    "Message": "message",
    "Options": "options",
    "Problem": "content",
    "ProblemKind": "content",
    "Refusal": "records",
    "Reply": "protocol",
    "Rule": "rules",
    "SMTPDError": "errors",
    "SMTPServer": "server",
    "ServerError": "records",
    "ServerThreadError": "errors",
    "Session": "records",
    "StartError": "errors",
    "Transcript": "records",
    "TranscriptLine": "records",
    "Violation": "protocol",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:  # pyproject.toml is the one source; the metadata is installed from it
            found = version("pytest-smtp-server")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_smtpd' has no attribute {name!r}")
    # Looked up each time, not cached here: the name then always comes from the
    # module in sys.modules (pytester, for one, drops the modules an inner run
    # imported; a cached class would then differ from the one the server uses).
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
