"""Kafka connections: one option builder and one refusal explainer for every Kafka client.

The kafka source and the kafka trigger connect to brokers with the same
settings: a comma-separated ``url``, Argo's ``TLSConfig`` and ``SASLConfig``.
:func:`client_options` reads their secrets and turns them into aiokafka
keyword arguments; :func:`refusal` and :func:`login_refusal` tell brokers
that refuse the client (its certificate trust, its TLS handshake, its SASL
mechanism or login) from brokers that are down, which aiokafka reports alike
("Unable to bootstrap").

The two adapters name things differently, and each keeps its own words:

- ``at`` is where ``tls`` and ``sasl`` sit in the spec the user wrote, as it
  prefixes the fields that messages and error paths name: empty for the
  source (``sasl.userSecret``), ``"kafka"`` for the trigger
  (``kafka.sasl.userSecret``).
- ``client`` is what the messages call the connecting side: ``"client"``
  (the source) or ``"producer"`` (the trigger).
- ``owner`` prefixes :class:`~herald.core.errors.ConfigError` messages
  (``"<owner>: …"``); the source passes ``<eventSource>/<event>``.
- ``locate_secret_errors``: a secret that cannot be read becomes a
  ConfigError at ``<at>.tls`` or ``<at>.sasl``, whichever names it, as
  the trigger reports it; without it the
  :class:`~herald.core.errors.SecretError` goes out as raised.

No secret reaches a message: a refused login names the user, never the
password. aiokafka is imported inside functions only: importing
``herald.core`` stays light.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from herald.core.errors import ConfigError, SecretError
from herald.core.refs import SecretStore
from herald.core.tls import SASLConfig, TLSConfig, client_ssl_context

SASL_SUPPORTED = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""The SASL mechanisms Herald's Kafka clients log in with."""

LOGIN_TIMEOUT = 10.0
"""Seconds the check of why the brokers refused a connection (TLS, SASL) may take."""

_PROTOCOL = {
    (False, False): "PLAINTEXT",
    (True, False): "SSL",
    (False, True): "SASL_PLAINTEXT",
    (True, True): "SASL_SSL",
}
"""aiokafka's ``security_protocol`` for (TLS set, SASL set)."""


def require_aiokafka(user: str) -> ModuleType:
    """The aiokafka module; an ImportError naming the extra when it is missing.

    ``user`` names who needs it in the message ("source", "trigger").
    """
    try:
        import aiokafka  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError(
            f"the kafka {user} needs the aiokafka client: pip install 'herald[kafka]'"
        ) from e
    module: ModuleType = aiokafka
    return module


def client_options(
    url: str,
    tls: TLSConfig | None,
    sasl: SASLConfig | None,
    secrets: SecretStore,
    *,
    at: str = "",
    owner: str = "",
    locate_secret_errors: bool = False,
) -> dict[str, Any]:
    """aiokafka connection options (brokers, TLS, SASL) with the secrets read now.

    ``bootstrap_servers`` is ``url`` split at commas, each broker stripped and
    empty entries dropped; ``security_protocol`` follows from which of ``tls``
    and ``sasl`` are set. Raises :class:`ConfigError` at ``<at>.sasl.mechanism``
    for a mechanism outside :data:`SASL_SUPPORTED` and at ``<at>.sasl`` for a
    missing user or password secret (see the module for ``at``, ``owner`` and
    ``locate_secret_errors``). A TLS problem that is not a secret's is raised
    as :func:`~herald.core.tls.client_ssl_context` raises it.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": [broker.strip() for broker in url.split(",") if broker.strip()],
        "client_id": "herald",
    }
    field = "tls"
    try:
        if tls is not None:
            options["ssl_context"] = client_ssl_context(tls, secrets)
        if sasl is not None:
            field = "sasl"
            options.update(_sasl_options(sasl, secrets, at, owner))
    except SecretError as e:
        if not locate_secret_errors:
            raise
        raise ConfigError(str(e), path=_at(at, field)) from e
    options["security_protocol"] = _PROTOCOL[(tls is not None, sasl is not None)]
    return options


def refusal(
    error: BaseException, options: Mapping[str, Any], *, at: str = "", client: str = "client"
) -> str | None:
    """What ``error`` of a first connection says about the TLS or SASL settings.

    A sentence to follow ``"brokers <url> "``, naming the field to fix (under
    ``at``; ``client`` names the connecting side); None when the error is not
    about them (a broker that is down, a timeout). ``options`` are the
    :func:`client_options` the connection was made with.
    """
    from aiokafka import errors

    mechanism = options.get("sasl_mechanism")
    user = options.get("sasl_plain_username")
    sasl, tls = _at(at, "sasl"), _at(at, "tls")
    credentials = f"check {sasl}.userSecret and {sasl}.passwordSecret"
    if isinstance(error, errors.SaslAuthenticationFailed | errors.AuthenticationFailedError):
        return f"refused the {mechanism} login of user {user!r} ({error}): {credentials}"
    if isinstance(error, KeyError) and error.args == ("v",) and str(mechanism).startswith("SCRAM"):
        # RFC 5802: a server-final-message carries a signature (v=) or an error (e=);
        # aiokafka 0.14 looks only for the signature and fails with KeyError('v').
        return (
            f"refused the {mechanism} login of user {user!r} (an error instead of the "
            f"server signature in the last SCRAM message): {credentials}"
        )
    if isinstance(error, errors.UnsupportedSaslMechanismError):
        return (
            f"do not offer SASL mechanism {mechanism}: set {sasl}.mechanism to one they offer, "
            f"or remove {sasl} if they do not authenticate clients"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"sent a TLS certificate this {client} does not trust ({error.verify_message}): "
            f"set {tls}.caCertSecret to the CA that signed it"
        )
    if isinstance(error, ssl.SSLError):
        return (
            f"refused the TLS handshake ({error.reason or error}): check {tls}, e.g. "
            f"{tls}.clientCertSecret and {tls}.clientKeySecret when they require a client "
            "certificate"
        )
    return None


async def login_refusal(
    options: Mapping[str, Any], *, at: str = "", client: str = "client"
) -> str | None:
    """Connect to each bootstrap broker once, as the client does; why they refuse it, if so.

    aiokafka reports every failed bootstrap as ``Unable to bootstrap`` and logs
    the cause: a refused login or an untrusted certificate would read like
    brokers that are down, and be retried for ever. This repeats the first
    connection (TLS handshake, ApiVersions, SASL) and returns :func:`refusal`'s
    sentence for the first broker that refuses the client, None when they are
    only unreachable.
    """
    from aiokafka import conn, errors

    for host, port, _ in conn.collect_hosts(options["bootstrap_servers"], randomize=False):
        try:
            async with asyncio.timeout(LOGIN_TIMEOUT):
                connection = await conn.create_conn(
                    host,
                    port,
                    client_id=options.get("client_id", "herald"),
                    request_timeout_ms=int(LOGIN_TIMEOUT * 1000),
                    ssl_context=options.get("ssl_context"),
                    security_protocol=options["security_protocol"],
                    sasl_mechanism=options.get("sasl_mechanism"),
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                )
        except (errors.KafkaError, OSError, TimeoutError, KeyError) as e:
            reason = refusal(e, options, at=at, client=client)
            if reason is not None:
                return reason
        else:
            connection.close()
    return None


# ---------------------------------------------------------------------------------------


def _at(at: str, field: str) -> str:
    return f"{at}.{field}" if at else field


def _sasl_options(sasl: SASLConfig, secrets: SecretStore, at: str, owner: str) -> dict[str, Any]:
    """aiokafka's SASL options for ``sasl``: the mechanism checked, the secrets read."""
    said = f"{owner}: " if owner else ""
    mechanism = sasl.mechanism or "PLAIN"
    if mechanism not in SASL_SUPPORTED:
        raise ConfigError(
            f"{said}SASL mechanism {mechanism} is not supported by Herald yet: "
            f"use one of {', '.join(SASL_SUPPORTED)}",
            path=_at(at, "sasl.mechanism"),
        )
    if sasl.user_secret is None or sasl.password_secret is None:
        raise ConfigError(f"{said}sasl needs userSecret and passwordSecret", path=_at(at, "sasl"))
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": secrets.secret(sasl.user_secret) or "",
        "sasl_plain_password": secrets.secret(sasl.password_secret) or "",
    }
