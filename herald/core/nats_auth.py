"""NATS authentication: one model and one option builder for every NATS client of Herald.

The nats source and the nats trigger (and a NATS bus, which may only import
``herald.core``) connect with the same settings: Argo Events' ``NATSAuth``,
exactly one of ``basic`` (username and password), ``token``, ``nkey`` (a user
nkey seed) or ``credential`` (the content of a ``.creds`` file: a user JWT and
its seed), beside Argo's ``TLSConfig``. :func:`connect_options` reads those
secrets and turns them into nats-py ``connect`` keywords.

What it guarantees:

- What can be checked without a server is checked before connecting, and
  fails as a :class:`~herald.core.errors.ConfigError` whose path names the
  field (``spec.nats.<event>.auth.nkey``; relative ``auth.nkey`` for a trigger,
  which the sensor prefixes): a missing or empty secret, an nkey seed that
  does not decode as a user seed (base32, CRC16, role), a ``.creds`` file
  without its JWT or seed block, a JWT that is not three base64url parts with
  a NATS header, or one issued to another user than the seed's.
- No secret reaches a message or a log: errors name the field and the secret
  ref, never its value (seed, password, token or JWT).
- ``nkey`` and ``credential`` sign the server's nonce with the ``nkeys``
  package (``pip install 'herald[nats]'``); without it they are a
  ConfigError that says so, and ``basic`` and ``token`` keep working.
- :func:`refused` tells a server's refusal of the credentials (retrying the
  same secret cannot help) from a passing failure; :func:`refusal` says it
  naming the auth field.

nats-py and nkeys are imported inside functions only: importing ``herald.core``
stays light.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import json
import re
from collections.abc import Callable
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from herald.core.errors import ConfigError, SecretError
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector, SecretStore
from herald.core.tls import BasicAuth, TLSConfig, client_ssl_context

Method = Literal["basic", "token", "nkey", "credential"]

NKEYS_MISSING = (
    "needs the nkeys package, which signs the server's nonce: pip install 'herald[nats]' "
    "(or 'nats-py[nkeys]'), or use basic or token auth"
)
"""The end of the error for nkey or credential auth without the ``nkeys`` package."""


class NATSAuth(Spec):
    """How to authenticate to NATS: exactly one of basic, token, nkey or credential."""

    basic: BasicAuth | None = Field(
        default=None, description="Username and password, each from a secret."
    )
    token: SecretKeySelector | None = Field(default=None, description="Secret with a token.")
    nkey: SecretKeySelector | None = Field(
        default=None, description="Secret with a user NKey seed (SU…)."
    )
    credential: SecretKeySelector | None = Field(
        default=None,
        description="Secret with the content of a .creds file (user JWT and NKey seed).",
    )

    @model_validator(mode="after")
    def _one(self) -> Self:
        chosen = [
            name
            for name, value in (
                ("basic", self.basic),
                ("token", self.token),
                ("nkey", self.nkey),
                ("credential", self.credential),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            found = "none" if not chosen else " and ".join(chosen)
            raise PydanticCustomError(
                "one_of",
                f"auth takes exactly one of basic, token, nkey or credential (found {found})",
            )
        if self.basic is not None:
            missing = [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "missing", f"basic auth needs {name}: a {{name, key}} secret ref"
                    ),
                    loc=("basic", name),
                    input=None,
                )
                for name, value in (
                    ("username", self.basic.username),
                    ("password", self.basic.password),
                )
                if value is None
            ]
            if missing:
                raise ValidationError.from_exception_data(type(self).__name__, missing)
        return self

    @property
    def method(self) -> Method:
        """The one method this auth uses."""
        if self.basic is not None:
            return "basic"
        if self.token is not None:
            return "token"
        return "nkey" if self.nkey is not None else "credential"


def connect_options(
    auth: NATSAuth | None, tls: TLSConfig | None, secrets: SecretStore, where: str = ""
) -> dict[str, Any]:
    """nats-py ``connect`` keywords for ``auth`` and ``tls``, with the secrets read now.

    ``where`` is the manifest path of the spec that holds ``auth`` and ``tls``
    (empty: paths relative to it). Raises :class:`ConfigError` (or its
    :class:`SecretError`) at ``<where>.tls`` or ``<where>.auth.<method>`` for
    anything that is wrong before a server is asked.
    """
    options: dict[str, Any] = {}
    if tls is not None:
        try:
            options["tls"] = client_ssl_context(tls, secrets)
        except ConfigError as e:
            raise type(e)(e.reason, path=e.path or _at(where, "tls")) from e
    if auth is None:
        return options
    method = auth.method
    path = _at(where, "auth", method)
    try:
        if auth.basic is not None:
            assert auth.basic.username is not None  # the model requires both
            assert auth.basic.password is not None
            options["user"] = secrets.secret(auth.basic.username) or ""
            options["password"] = secrets.secret(auth.basic.password) or ""
        elif auth.token is not None:
            options["token"] = secrets.secret(auth.token) or ""
        elif auth.nkey is not None:
            _require_nkeys(method, path)
            seed = (secrets.secret(auth.nkey) or "").strip()
            _user_public_key(seed, f"secret {_ref(auth.nkey)}", path)
            options["nkeys_seed_str"] = seed
        else:
            assert auth.credential is not None
            _require_nkeys(method, path)
            jwt, seed = parse_creds(secrets.secret(auth.credential) or "", auth.credential, path)
            options["user_jwt_cb"] = _jwt_callback(jwt)
            options["signature_cb"] = _signature_callback(seed)
    except SecretError as e:
        raise SecretError(e.reason, path=path) from e
    return options


def parse_creds(text: str, ref: SecretKeySelector, path: str) -> tuple[str, str]:
    """(user JWT, user seed) of a ``.creds`` file, checked to belong together.

    Raises :class:`ConfigError` at ``path`` saying what is missing or wrong;
    the message names the secret ``ref``, never its content.
    """
    where = f"the credential secret {_ref(ref)}"
    blocks = dict(_CREDS_BLOCK.findall(text))
    jwt, seed = blocks.get("NATS USER JWT"), blocks.get("USER NKEY SEED")
    if jwt is None or seed is None:
        absent = " and ".join(
            f"a '-----BEGIN {label}-----' block"
            for label, value in (("NATS USER JWT", jwt), ("USER NKEY SEED", seed))
            if value is None
        )
        raise ConfigError(
            f"{where} is not a .creds file: it has no {absent} (nsc generate creds makes one)",
            path=path,
        )
    public = _user_public_key(seed, f"the seed in {where}", path)
    claims = _jwt_claims(jwt, f"the user JWT in {where}", path)
    if claims.get("sub") != public:
        raise ConfigError(
            f"the user JWT in {where} was issued to another user than its seed's "
            f"({public}): the JWT and seed must come from the same .creds file",
            path=path,
        )
    return jwt, seed


def refused(error: BaseException) -> bool:
    """Whether ``error`` is the server refusing the credentials (not a passing failure)."""
    text = str(error).lower()
    return (
        type(error).__name__ == "AuthorizationError"
        or "authorization violation" in text
        or "authentication" in text
    )


def refusal(error: BaseException, auth: NATSAuth | None, where: str = "") -> str | None:
    """Why the server refused a connection, naming the auth field; None if it did not refuse.

    Reads ``refused the credentials of <where>.auth.<method> (<server's words>):
    check that secret``, to follow the server's URL. nats-py's error text holds
    no secret.
    """
    if not refused(error):
        return None
    said = str(error) or type(error).__name__
    if auth is None:
        return f"requires authentication ({said}): set {_at(where, 'auth')}"
    return (
        f"refused the credentials of {_at(where, 'auth', auth.method)} ({said}): check that secret"
    )


# ---------------------------------------------------------------------------------------

_CREDS_BLOCK = re.compile(
    r"^[ \t]*-{3,}[ \t]*BEGIN[ \t]+([A-Z][A-Z ]*?)[ \t]*-{3,}[ \t]*\r?\n\s*(\S+)[ \t]*\r?$",
    re.MULTILINE,
)
"""A ``-----BEGIN <label>-----`` line and the one value on the next non-blank line."""


def _at(where: str, *parts: str) -> str:
    return ".".join((where, *parts) if where else parts)


def _ref(ref: SecretKeySelector) -> str:
    return f"{ref.name}/{ref.key}"


def _require_nkeys(method: Method, path: str) -> None:
    if importlib.util.find_spec("nkeys") is None:
        raise ConfigError(f"auth.{method} {NKEYS_MISSING}", path=path)


def _user_public_key(seed: str, what: str, path: str) -> str:
    """The public key of a user nkey ``seed``; ConfigError (without the seed) if it is none."""
    import nkeys  # type: ignore[import-untyped]

    if not seed:
        raise ConfigError(f"{what} is empty: it should hold a user nkey seed (SU…)", path=path)
    try:
        raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 36 or nkeys.crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
        raise ConfigError(
            f"{what} is not an nkey seed (base32 text starting with SU, with a valid checksum)",
            path=path,
        )
    try:
        role, _ = nkeys.decode_seed(bytearray(seed.encode()))
    except nkeys.NkeysError:
        role = None
    if role != nkeys.PREFIX_BYTE_USER:
        raise ConfigError(
            f"{what} is not the seed of a user nkey (a user seed starts with SU; "
            "servers admit users, not operators or accounts)",
            path=path,
        )
    pair = nkeys.from_seed(bytearray(seed.encode()))
    public: str = pair.public_key.decode()
    pair.wipe()
    return public


def _b64url_json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _jwt_claims(jwt: str, what: str, path: str) -> dict[str, Any]:
    """The claims of a NATS JWT, after checking its shape (not its signature: the server does)."""
    parts = jwt.split(".")
    try:
        if len(parts) != 3 or not parts[2]:
            raise ValueError("not three parts")
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (ValueError, binascii.Error):  # json.JSONDecodeError and UnicodeDecodeError too
        header, claims = None, None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ConfigError(f"{what} is not a JWT (three base64url parts)", path=path)
    if not str(header.get("alg", "")).startswith("ed25519"):
        raise ConfigError(f"{what} is not a NATS JWT (its alg is not ed25519-nkey)", path=path)
    return claims


def _jwt_callback(jwt: str) -> Callable[[], bytearray]:
    encoded = jwt.encode()

    def user_jwt() -> bytearray:
        return bytearray(encoded)

    return user_jwt


def _signature_callback(seed: str) -> Callable[[str], bytes]:
    """Signs the server's nonce with the user seed, as nats-py expects (base64)."""
    encoded = seed.encode()

    def sign(nonce: str) -> bytes:
        import nkeys

        pair = nkeys.from_seed(bytearray(encoded))
        try:
            signature: bytes = pair.sign(nonce.encode())
        finally:
            pair.wipe()
        return base64.b64encode(signature)

    return sign
