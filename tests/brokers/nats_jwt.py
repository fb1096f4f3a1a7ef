"""NATS authentication material for tests: nkey pairs, operator/account/user JWTs, .creds files.

Tests of nkey and credentials-file auth need a ``nats-server`` configured with
public keys (nkey auth) or with an operator, an account and a memory resolver
(decentralised JWT auth), and a client holding the matching seed or ``.creds``
file. This module makes all of it in memory, with fresh keys each time:

- :func:`new_key` makes an ed25519 nkey pair of a role (operator ``O…``,
  account ``A…``, user ``U…``; its seed starts with ``S`` and the role letter);
- :func:`issue` makes a NATS JWT: header ``{"typ":"JWT","alg":"ed25519-nkey"}``,
  claims ``jti`` (base32 of the SHA-256 of the claims without it), ``iat``,
  ``iss``, ``sub``, ``name`` and ``nats`` (the role's claims, ``version: 2``),
  signed by the issuer's nkey, each part base64url without padding;
- :class:`TrustChain` is an operator that signed an account that signed a user
  (and the system account a server with JetStream needs), with the server
  configuration that trusts the operator and preloads the accounts, and the
  user's ``.creds`` file;
- :func:`nkey_server_config` is the configuration of a server that admits one
  user nkey.

The ``nkeys`` package (``nats-py[nkeys]``) does the ed25519 and base32/CRC16 work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Literal

import nkeys  # type: ignore[import-untyped]

Role = Literal["operator", "account", "user"]

_PREFIXES: dict[Role, int] = {
    "operator": nkeys.PREFIX_BYTE_OPERATOR,
    "account": nkeys.PREFIX_BYTE_ACCOUNT,
    "user": nkeys.PREFIX_BYTE_USER,
}

NO_LIMIT = -1
"""NATS JWT limits: -1 is unlimited (0 would allow nothing)."""


@dataclass(frozen=True)
class KeyPair:
    """An nkey pair: the encoded seed (the secret) and public key."""

    seed: str
    public: str

    def sign(self, data: bytes) -> bytes:
        """The raw ed25519 signature of ``data``."""
        pair = nkeys.from_seed(bytearray(self.seed.encode()))
        signature: bytes = pair.sign(data)
        return signature


def new_key(role: Role) -> KeyPair:
    """A fresh nkey pair for ``role``."""
    seed = nkeys.encode_seed(os.urandom(32), _PREFIXES[role])
    pair = nkeys.from_seed(bytearray(seed))
    return KeyPair(seed=seed.decode(), public=pair.public_key.decode())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def issue(role: Role, subject: str, issuer: KeyPair, name: str, nats_claims: dict[str, Any]) -> str:
    """A NATS JWT for ``subject`` (a public key) of ``role``, signed by ``issuer``."""
    claims: dict[str, Any] = {
        "iat": int(time.time()),
        "iss": issuer.public,
        "name": name,
        "sub": subject,
        "nats": {**nats_claims, "type": role, "version": 2},
    }
    claims["jti"] = base64.b32encode(hashlib.sha256(_json(claims)).digest()).rstrip(b"=").decode()
    header = _b64url(_json({"alg": "ed25519-nkey", "typ": "JWT"}))
    body = _b64url(_json(claims))
    signature = _b64url(issuer.sign(f"{header}.{body}".encode()))
    return f"{header}.{body}.{signature}"


def operator_jwt(operator: KeyPair, name: str = "herald-test-operator") -> str:
    """A self-signed operator JWT."""
    return issue("operator", operator.public, operator, name, {})


def account_jwt(account: str, operator: KeyPair, name: str = "herald-test-account") -> str:
    """An account JWT signed by ``operator``, without limits (and without JetStream)."""
    limits = {
        key: NO_LIMIT for key in ("subs", "data", "payload", "imports", "exports", "conn", "leaf")
    }
    return issue(
        "account",
        account,
        operator,
        name,
        {"limits": {**limits, "wildcards": True}, "default_permissions": {"pub": {}, "sub": {}}},
    )


def user_jwt(user: str, account: KeyPair, name: str = "herald-test-user") -> str:
    """A user JWT signed by ``account``, allowed to publish and subscribe anywhere."""
    return issue(
        "user",
        user,
        account,
        name,
        {"pub": {}, "sub": {}, "subs": NO_LIMIT, "data": NO_LIMIT, "payload": NO_LIMIT},
    )


def creds(jwt: str, seed: str) -> str:
    """A ``.creds`` file: the user JWT and the user seed, each between its markers."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n"
        "\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n"
        "\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n"
        "\n"
        "*************************************************************\n"
    )


def with_bad_signature(jwt: str) -> str:
    """``jwt`` with its signature replaced by one over other content (well formed, invalid)."""
    header, body, _ = jwt.split(".")
    forged = new_key("account").sign(f"{header}.{body}".encode())
    return f"{header}.{body}.{_b64url(forged)}"


@dataclass(frozen=True)
class TrustChain:
    """An operator that signed an account that signed a user: decentralised NATS auth."""

    operator: KeyPair
    system: KeyPair
    account: KeyPair
    user: KeyPair
    operator_jwt: str
    system_jwt: str
    account_jwt: str
    user_jwt: str

    @classmethod
    def new(cls) -> TrustChain:
        """Fresh keys and JWTs for all three (and the system account the server needs)."""
        operator, system = new_key("operator"), new_key("account")
        account, user = new_key("account"), new_key("user")
        return cls(
            operator=operator,
            system=system,
            account=account,
            user=user,
            operator_jwt=operator_jwt(operator),
            system_jwt=account_jwt(system.public, operator, "SYS"),
            account_jwt=account_jwt(account.public, operator),
            user_jwt=user_jwt(user.public, account),
        )

    def creds(self) -> str:
        """The user's ``.creds`` file."""
        return creds(self.user_jwt, self.user.seed)

    def server_config(self) -> str:
        """nats-server configuration: trust the operator, preload the accounts in memory.

        JetStream (the test servers run with ``-js``) needs a system account.
        """
        return (
            f"operator: {self.operator_jwt}\n"
            f"system_account: {self.system.public}\n"
            "resolver: MEMORY\n"
            "resolver_preload: {\n"
            f"  {self.system.public}: {self.system_jwt}\n"
            f"  {self.account.public}: {self.account_jwt}\n"
            "}\n"
        )


def nkey_server_config(*public_keys: str) -> str:
    """nats-server configuration admitting exactly the users with these public nkeys."""
    users = ", ".join(f"{{ nkey: {key} }}" for key in public_keys)
    return f"authorization {{\n  users = [ {users} ]\n}}\n"
