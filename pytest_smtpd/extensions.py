"""The ESMTP extensions and AUTH mechanisms pytest-smtpd implements.

Plain constants in a module of their own, so that reading the options (which
the plugin does at start-up) does not import the protocol core.
"""

from __future__ import annotations

from typing import Final

__all__ = ["AUTH_MECHANISMS", "DEFAULT_EXTENSIONS", "KNOWN_EXTENSIONS"]

#: Extensions advertised in the EHLO reply unless configured otherwise.
DEFAULT_EXTENSIONS: Final = (
    "SIZE",
    "PIPELINING",
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "DSN",
)
#: Every extension the core implements (STARTTLS and AUTH have options of their own).
KNOWN_EXTENSIONS: Final = (*DEFAULT_EXTENSIONS, "BINARYMIME")
#: The AUTH mechanisms the core implements, in the order it advertises them.
AUTH_MECHANISMS: Final = ("PLAIN", "LOGIN", "CRAM-MD5")
