"""The test certificate authority and the TLS contexts made from it.

The CA and the server certificate (for ``localhost``, ``127.0.0.1`` and
``::1``) are made once per process with ``trustme`` (the ``tls`` extra), on
first use: no key is generated per test.

The certificates a client must refuse (option ``certificate``) are made the
same way, each once per process and only when a server asks for its kind.
"""

from __future__ import annotations

import atexit
import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from .errors import ConfigurationError

__all__ = ["ca_file", "client_context", "server_context"]

#: What the test certificates name (SubjectAltName), as the docs promise.
IDENTITIES = ("localhost", "127.0.0.1", "::1")

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
            _state["pem:trusted"] = ca.issue_cert(*IDENTITIES).private_key_and_cert_chain_pem.bytes()
        return ca


def require_trustme() -> None:
    """Raise the clear error about the ``tls`` extra now rather than at the first handshake."""
    _ca()


# The certificates a verifying client must refuse: each maker returns the key
# and certificate chain in PEM. Each fails verification for one reason only:
# all but "wrong-host" name the test identities, all but "expired" are valid now.


def _expired(ca: Any) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert(
        *IDENTITIES, not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1)
    )
    return bytes(leaf.private_key_and_cert_chain_pem.bytes())


def _wrong_host(ca: Any) -> bytes:
    return bytes(ca.issue_cert("wrong.example").private_key_and_cert_chain_pem.bytes())


def _untrusted_ca(ca: Any) -> bytes:
    import trustme

    # A CA of the same shape as the test CA that no client was told to trust.
    return bytes(trustme.CA().issue_cert(*IDENTITIES).private_key_and_cert_chain_pem.bytes())


def _self_signed(ca: Any) -> bytes:
    # trustme only issues from a CA; a leaf that is its own issuer is built
    # with cryptography (which trustme depends on).
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pytest-smtpd self-signed")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in IDENTITIES[1:])]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


_MAKERS: dict[str, Callable[[Any], bytes]] = {
    "self-signed": _self_signed,
    "expired": _expired,
    "wrong-host": _wrong_host,
    "untrusted-ca": _untrusted_ca,
}


def server_context(certificate: str = "trusted") -> ssl.SSLContext:
    """A server-side context presenting the test certificate of that kind
    (shared, made once per kind): ``"trusted"`` or one of the kinds a
    verifying client must refuse (see the ``certificate`` option)."""
    ca = _ca()
    with _lock:
        context = _state.get(f"context:{certificate}")
        if context is None:
            pem = _state.get(f"pem:{certificate}")
            if pem is None:
                pem = _state[f"pem:{certificate}"] = _MAKERS[certificate](ca)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            _load_chain(context, pem)
            _state[f"context:{certificate}"] = context
        assert isinstance(context, ssl.SSLContext)
        return context


def _load_chain(context: ssl.SSLContext, pem: bytes) -> None:
    # load_cert_chain reads only files.
    fd, path = tempfile.mkstemp(prefix="pytest-smtpd-cert-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path)
    finally:
        _remove(path)


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
