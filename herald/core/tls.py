"""TLS, SASL and basic-auth options shared by sources, triggers and the bus.

The models follow Argo's ``TLSConfig``, ``SASLConfig`` and ``BasicAuth``;
:func:`client_ssl_context` turns a TLS config into an ``ssl.SSLContext`` with
material read through the :class:`~herald.core.refs.SecretStore`.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from pydantic import Field

from herald.core.errors import ConfigError
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector, SecretStore


class TLSConfig(Spec):
    """Client TLS: CA to trust, client certificate and key, or skip verification."""

    ca_cert_secret: SecretKeySelector | None = Field(default=None, description="CA certificate.")
    client_cert_secret: SecretKeySelector | None = Field(default=None, description="Client cert.")
    client_key_secret: SecretKeySelector | None = Field(default=None, description="Client key.")
    insecure_skip_verify: bool | None = Field(default=None, description="Do not verify the peer.")
    enabled: bool | None = Field(default=None, description="Use TLS with the system trust store.")


class SASLConfig(Spec):
    """SASL credentials (Kafka): mechanism PLAIN, SCRAM-SHA-256/512, OAUTHBEARER, GSSAPI."""

    mechanism: str | None = Field(default=None, description="Default PLAIN.")
    user_secret: SecretKeySelector | None = None
    password_secret: SecretKeySelector | None = None


class BasicAuth(Spec):
    """HTTP basic authentication from secrets."""

    username: SecretKeySelector | None = None
    password: SecretKeySelector | None = None


def client_ssl_context(tls: TLSConfig, secrets: SecretStore) -> ssl.SSLContext:
    """An SSL context for a client connection described by ``tls``."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if tls.ca_cert_secret is not None:
        ca = secrets.secret(tls.ca_cert_secret)
        if ca:
            try:
                ctx.load_verify_locations(cadata=ca)
            except ssl.SSLError as e:
                raise ConfigError(
                    f"secret {tls.ca_cert_secret.name}/{tls.ca_cert_secret.key} "
                    "is not a PEM CA certificate"
                ) from e
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if (tls.client_cert_secret is None) != (tls.client_key_secret is None):
        raise ConfigError("tls needs both clientCertSecret and clientKeySecret, or neither")
    if tls.client_cert_secret is not None and tls.client_key_secret is not None:
        cert = secrets.secret_bytes(tls.client_cert_secret) or b""
        key = secrets.secret_bytes(tls.client_key_secret) or b""
        load_cert_chain(ctx, cert, key)
    return ctx


def load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a PEM certificate and key held in memory (ssl only reads files)."""
    with tempfile.TemporaryDirectory(prefix="herald-tls-") as tmp:
        cert_path, key_path = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert_path.write_bytes(cert)
        key_path.touch(mode=0o600)
        key_path.write_bytes(key)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ConfigError("certificate or key is not valid PEM, or they do not match") from e
