"""The test certificate authority and the TLS contexts made from it.

The CA and the server certificate (for ``localhost``, ``127.0.0.1`` and
``::1``) are made once per process with ``trustme`` (the ``tls`` extra), on
first use: no key is generated per test.
"""

from __future__ import annotations

import atexit
import os
import ssl
import tempfile
import threading
from typing import Any

from .errors import ConfigurationError

__all__ = ["ca_file", "client_context", "server_context"]

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _ca() -> Any:
    with _lock:
        ca = _state.get("ca")
        if ca is None:
            try:
                import trustme
            except ImportError:
                raise ConfigurationError(
                    "TLS needs the 'tls' extra for its test certificates: pip install 'pytest-smtp-server[tls]' "
                    "(or pass ssl_context= with your own certificate)"
                ) from None
            ca = trustme.CA()
            _state["ca"] = ca
            _state["cert"] = ca.issue_cert("localhost", "127.0.0.1", "::1")
        return ca


def require_trustme() -> None:
    """Raise the clear error about the ``tls`` extra now rather than at the first handshake."""
    _ca()


def server_context() -> ssl.SSLContext:
    """A server-side context with the test certificate (shared, made once)."""
    _ca()
    with _lock:
        context = _state.get("server_context")
        if context is None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            _state["cert"].configure_cert(context)
            _state["server_context"] = context
        assert isinstance(context, ssl.SSLContext)
        return context


def client_context() -> ssl.SSLContext:
    """A new client-side context that trusts the test CA (hostname checking on)."""
    ca = _ca()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def ca_file() -> str:
    """Path of the test CA's certificate in PEM (written once, removed at exit)."""
    ca = _ca()
    with _lock:
        path = _state.get("ca_file")
        if path is None:
            fd, path = tempfile.mkstemp(prefix="pytest-smtpd-ca-", suffix=".pem")
            with os.fdopen(fd, "wb") as handle:
                handle.write(ca.cert_pem.bytes())
            _state["ca_file"] = path
            atexit.register(_remove, path)
        assert isinstance(path, str)
        return path


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:  # pragma: no cover - already gone
        pass
