"""SASL for SMTP AUTH (RFC 4954), server side and without I/O: PLAIN (RFC 4616),
LOGIN and CRAM-MD5 (RFC 2195).

An :class:`AuthExchange` is fed the client's lines and answers with the next
challenge or a result, which :meth:`AuthExchange.reply` turns into 334/235/535/501.
The connection runs the exchange while the table's state is READY: each line of
it is an :class:`~pytest_smtpd.protocol.AuthResponse` event.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._replies import Reply

if TYPE_CHECKING:
    from ._replies import Replies

__all__ = ["AuthExchange", "AuthResult", "Challenge"]


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``334 <text>`` and wait for the client's next line."""

    text: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The exchange is over. ``ok`` when the credentials matched; ``user`` as claimed."""

    ok: bool
    user: str | None
    #: "cancelled" (the client sent ``*``), "malformed" (bad base64 or layout), or "".
    problem: str = ""


def _b64decode(text: str) -> bytes | None:
    if text == "=":  # RFC 4954 §4: an empty initial response
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class AuthExchange:
    """One AUTH exchange. ``start()`` then ``respond(line)`` until an :class:`AuthResult`."""

    def __init__(self, mechanism: str, users: Mapping[str, str], hostname: str, initial: str | None) -> None:
        self.mechanism = mechanism.upper()
        self._users = users
        self._hostname = hostname
        self._initial = initial
        self._user: str | None = None
        self._challenge = ""
        #: The result once the exchange is over, None while it waits for the client.
        self.outcome: AuthResult | None = None

    @property
    def claimed_user(self) -> str | None:
        """The user name the client gave so far, if any."""
        return self._user

    def reply(self, outcome: Challenge | AuthResult, replies: Replies) -> Reply:
        """The reply the core proposes for ``outcome`` (RFC 4954 §4, §6)."""
        if isinstance(outcome, Challenge):
            self.outcome = None
            return Reply(334, outcome.text)
        self.outcome = outcome
        if outcome.ok:
            return replies(235, "2.7.0", "Authentication successful")
        if outcome.problem == "cancelled":
            return replies(501, "5.7.0", "Authentication cancelled")
        if outcome.problem == "malformed":
            return replies(501, "5.5.2", "Cannot decode response")
        return replies(535, "5.7.8", "Authentication credentials invalid")

    def start(self) -> Challenge | AuthResult:
        if self.mechanism == "PLAIN":
            if self._initial is None:
                return Challenge("")
            return self._plain(self._initial)
        if self.mechanism == "LOGIN":
            if self._initial is None:
                return Challenge(_b64("Username:"))
            return self._login_user(self._initial)
        if self.mechanism == "CRAM-MD5":
            if self._initial is not None:
                return AuthResult(False, None, "malformed")
            # RFC 2195 §2: a unique challenge in msg-id form.
            self._challenge = f"<{int.from_bytes(os.urandom(8), 'big')}.{int(time.time())}@{self._hostname}>"
            return Challenge(_b64(self._challenge))
        raise ValueError(f"unsupported mechanism {self.mechanism}")

    def respond(self, line: str) -> Challenge | AuthResult:
        if line == "*":  # RFC 4954 §4: the client cancels
            return AuthResult(False, self._user, "cancelled")
        if self.mechanism == "PLAIN":
            return self._plain(line)
        if self.mechanism == "LOGIN":
            if self._user is None:
                return self._login_user(line)
            password = _b64decode(line)
            if password is None:
                return AuthResult(False, self._user, "malformed")
            return self._check(self._user, password.decode("utf-8", "replace"))
        return self._cram(line)

    def _check(self, user: str, password: str) -> AuthResult:
        expected = self._users.get(user)
        ok = expected is not None and hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))
        return AuthResult(ok, user)

    def _plain(self, text: str) -> AuthResult:
        raw = _b64decode(text)
        if raw is None or raw.count(b"\0") != 2:
            return AuthResult(False, None, "malformed")
        _authzid, authcid, password = raw.split(b"\0")
        return self._check(authcid.decode("utf-8", "replace"), password.decode("utf-8", "replace"))

    def _login_user(self, text: str) -> Challenge | AuthResult:
        raw = _b64decode(text)
        if raw is None:
            return AuthResult(False, None, "malformed")
        self._user = raw.decode("utf-8", "replace")
        return Challenge(_b64("Password:"))

    def _cram(self, text: str) -> AuthResult:
        raw = _b64decode(text)
        if raw is None or b" " not in raw:
            return AuthResult(False, None, "malformed")
        user_bytes, _, digest = raw.rpartition(b" ")
        user = user_bytes.decode("utf-8", "replace")
        password = self._users.get(user)
        if password is None:
            return AuthResult(False, user)
        expected = hmac.new(password.encode("utf-8"), self._challenge.encode("ascii"), "md5").hexdigest()
        return AuthResult(hmac.compare_digest(expected.encode("ascii"), digest.lower()), user)
