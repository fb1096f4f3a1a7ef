"""NATS auth shared by the nats source and trigger: the model, the checks made before
connecting, and that no secret reaches an error message. No server here: the
real-server tests are in tests/eventsources/test_nats.py and
tests/triggers/test_nats_trigger.py.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import nkeys  # type: ignore[import-untyped]
import pytest
from nats.errors import AuthorizationError, Error, NoServersError
from pydantic import ValidationError

from eventsources.nats import NATSEventsSource
from herald.core.errors import ConfigError, SecretError
from herald.core.nats_auth import NATSAuth, connect_options, refusal
from herald.core.refs import SecretStore
from herald.core.tls import TLSConfig
from tests.brokers.nats_jwt import TrustChain, creds, new_key, user_jwt
from triggers.nats import NATSTrigger

WHERE = "spec.nats.orders"


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore(secrets_dir=tmp_path / "secrets")


def put(store: SecretStore, key: str, value: str) -> dict[str, str]:
    """Store ``value`` as secret ``nats/<key>``; return its ref."""
    folder = store.secrets_dir / "nats"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_text(value)
    return {"name": "nats", "key": key}


def options(store: SecretStore, **auth: Any) -> dict[str, Any]:
    return connect_options(NATSAuth.model_validate(auth), None, store, WHERE)


def config_error(store: SecretStore, secret: str, **auth: Any) -> ConfigError:
    """The ConfigError for ``auth``, after checking that ``secret`` is not in its message."""
    with pytest.raises(ConfigError) as raised:
        options(store, **auth)
    assert secret not in str(raised.value)
    return raised.value


# ---------------------------------------------------------------------------------------
# The model: one for the source and the trigger.


TWO = {"token": {"name": "a", "key": "t"}, "nkey": {"name": "a", "key": "s"}}


@pytest.mark.parametrize(("auth", "found"), [({}, "none"), (TWO, "token and nkey")])
def test_source_and_trigger_take_exactly_one_method(auth: dict[str, Any], found: str) -> None:
    with pytest.raises(ValidationError) as source:
        NATSEventsSource.model_validate({"url": "nats://n:4222", "subject": "s", "auth": auth})
    with pytest.raises(ValidationError) as trigger:
        NATSTrigger.model_validate(
            {"url": "nats://n:4222", "subject": "s", "payload": [], "auth": auth}
        )
    for raised in (source.value, trigger.value):
        (error,) = raised.errors()
        assert error["type"] == "one_of"
        assert error["loc"] == ("auth",)
        assert f"(found {found})" in error["msg"]


def test_basic_auth_needs_both_secrets_at_their_paths() -> None:
    with pytest.raises(ValidationError) as raised:
        NATSTrigger.model_validate(
            {
                "url": "nats://n:4222",
                "subject": "s",
                "payload": [],
                "auth": {"basic": {"username": {"name": "a", "key": "u"}}},
            }
        )
    (error,) = raised.value.errors()
    assert error["loc"] == ("auth", "basic", "password")
    assert error["type"] == "missing"


def test_method_names_the_field_in_use() -> None:
    ref = {"name": "a", "key": "k"}
    assert NATSAuth.model_validate({"credential": ref}).method == "credential"
    assert NATSAuth.model_validate({"basic": {"username": ref, "password": ref}}).method == "basic"


# ---------------------------------------------------------------------------------------
# Options: basic, token, nkey.


def test_basic_and_token_become_nats_py_keywords(secrets: SecretStore) -> None:
    user, password = put(secrets, "user", "herald\n"), put(secrets, "password", "pa55\n")
    assert options(secrets, basic={"username": user, "password": password}) == {
        "user": "herald",
        "password": "pa55",
    }
    assert options(secrets, token=put(secrets, "token", "t0ken")) == {"token": "t0ken"}


def test_a_user_seed_is_passed_to_nats_py(secrets: SecretStore) -> None:
    user = new_key("user")
    ref = put(secrets, "seed", f"  {user.seed}\n")
    assert options(secrets, nkey=ref) == {"nkeys_seed_str": user.seed}


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda seed: "", "is empty"),
        (lambda seed: seed[:-4], "not an nkey seed"),
        (lambda seed: seed[:10] + ("A" if seed[10] != "A" else "B") + seed[11:], "checksum"),
        (lambda seed: seed.lower(), "not an nkey seed"),
    ],
    ids=["empty", "truncated", "typo", "lowercase"],
)
def test_a_seed_that_is_not_one_is_refused_before_connecting(
    secrets: SecretStore, mangle: Any, reason: str
) -> None:
    seed = new_key("user").seed
    bad = mangle(seed)
    error = config_error(secrets, seed, nkey=put(secrets, "seed", bad))
    assert reason in error.reason
    assert error.path == f"{WHERE}.auth.nkey"
    assert "secret nats/seed" in error.reason
    if bad:
        assert bad not in str(error)


def test_an_account_seed_is_not_a_user_seed(secrets: SecretStore) -> None:
    account = new_key("account")
    error = config_error(secrets, account.seed, nkey=put(secrets, "seed", account.seed))
    assert "not the seed of a user nkey" in error.reason


def test_a_missing_secret_names_the_auth_field(secrets: SecretStore) -> None:
    with pytest.raises(SecretError, match="not found") as raised:
        options(secrets, nkey={"name": "absent", "key": "seed"})
    assert raised.value.path == f"{WHERE}.auth.nkey"


def test_without_the_nkeys_package_nkey_auth_says_what_to_install(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = put(secrets, "seed", new_key("user").seed)
    monkeypatch.setitem(sys.modules, "nkeys", None)  # as if nats-py[nkeys] were not installed
    with pytest.raises(ConfigError, match=r"pip install 'herald\[nats\]'") as raised:
        options(secrets, nkey=ref)
    assert raised.value.path == f"{WHERE}.auth.nkey"
    token = put(secrets, "token", "t")
    assert options(secrets, token=token) == {"token": "t"}  # basic and token still work


def test_a_tls_problem_names_the_tls_field(secrets: SecretStore) -> None:
    tls = TLSConfig.model_validate({"clientCertSecret": put(secrets, "crt", "x")})
    with pytest.raises(ConfigError, match="clientKeySecret") as raised:
        connect_options(None, tls, secrets, WHERE)
    assert raised.value.path == f"{WHERE}.tls"


# ---------------------------------------------------------------------------------------
# Options: credentials (.creds) files.


def test_a_creds_file_signs_the_nonce_with_its_seed_and_sends_its_jwt(
    secrets: SecretStore,
) -> None:
    chain = TrustChain.new()
    made = options(secrets, credential=put(secrets, "creds", chain.creds()))
    assert set(made) == {"user_jwt_cb", "signature_cb"}
    assert made["user_jwt_cb"]().decode() == chain.user_jwt
    signature = base64.b64decode(made["signature_cb"]("nonce-from-the-server"))
    verifier = nkeys.from_seed(bytearray(chain.user.seed.encode()))
    assert verifier.verify(b"nonce-from-the-server", signature)


def test_a_creds_file_with_windows_line_ends_and_indentation_is_read(
    secrets: SecretStore,
) -> None:
    chain = TrustChain.new()
    text = "\r\n".join(f"  {line}" for line in chain.creds().splitlines())
    made = options(secrets, credential=put(secrets, "creds", text))
    assert made["user_jwt_cb"]().decode() == chain.user_jwt


@pytest.mark.parametrize(
    ("keep", "absent"),
    [("SEED", "NATS USER JWT"), ("JWT", "USER NKEY SEED"), ("", "NATS USER JWT")],
    ids=["no-jwt", "no-seed", "neither"],
)
def test_a_creds_file_without_its_blocks_is_refused(
    secrets: SecretStore, keep: str, absent: str
) -> None:
    chain = TrustChain.new()
    blocks = {
        "JWT": f"-----BEGIN NATS USER JWT-----\n{chain.user_jwt}\n------END NATS USER JWT------\n",
        "SEED": f"-----BEGIN USER NKEY SEED-----\n{chain.user.seed}\n------END USER NKEY SEED--\n",
    }
    text = blocks.get(keep, "just some text\n")
    error = config_error(secrets, chain.user.seed, credential=put(secrets, "creds", text))
    assert f"'-----BEGIN {absent}-----'" in error.reason
    assert error.path == f"{WHERE}.auth.credential"
    assert chain.user_jwt not in str(error)


def test_a_creds_file_whose_jwt_is_for_another_user_is_refused(secrets: SecretStore) -> None:
    chain = TrustChain.new()
    stranger = new_key("user")
    text = creds(user_jwt(stranger.public, chain.account), chain.user.seed)
    error = config_error(secrets, chain.user.seed, credential=put(secrets, "creds", text))
    assert "issued to another user" in error.reason


@pytest.mark.parametrize("jwt", ["not-a-jwt", "a.b.c", "e30.e30.sig"])
def test_a_creds_file_whose_jwt_is_not_a_nats_jwt_is_refused(
    secrets: SecretStore, jwt: str
) -> None:
    seed = new_key("user").seed
    error = config_error(secrets, seed, credential=put(secrets, "creds", creds(jwt, seed)))
    assert "user JWT in the credential secret nats/creds is not" in error.reason


def test_a_creds_file_with_a_bad_seed_is_refused(secrets: SecretStore) -> None:
    chain = TrustChain.new()
    broken = chain.user.seed[:-3]
    text = creds(chain.user_jwt, broken)
    error = config_error(secrets, broken, credential=put(secrets, "creds", text))
    assert "the seed in the credential secret nats/creds is not an nkey seed" in error.reason


# ---------------------------------------------------------------------------------------
# Refusals, and what importing the module costs.


def test_refusal_names_the_auth_field_and_only_for_refusals() -> None:
    auth = NATSAuth.model_validate({"nkey": {"name": "a", "key": "s"}})
    assert refusal(AuthorizationError(), auth, WHERE) == (
        "refused the credentials of spec.nats.orders.auth.nkey "
        "(nats: authorization failed): check that secret"
    )
    violation = Error("nats: 'Authorization Violation'")
    reason = refusal(violation, None, "nats")
    assert reason is not None
    assert reason.endswith("set nats.auth")
    assert refusal(NoServersError(), auth, WHERE) is None
    assert refusal(ConnectionRefusedError(111, "Connection refused"), auth) is None


def test_importing_the_module_loads_neither_nats_py_nor_nkeys() -> None:
    code = (
        "import sys, herald.core.nats_auth\n"
        "print(','.join(sorted(m for m in ('nats', 'nkeys', 'nacl', 'eventsources', 'triggers')"
        " if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
