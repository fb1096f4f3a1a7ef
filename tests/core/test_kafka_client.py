"""Kafka connection options and refusals shared by the kafka source and trigger.

No broker here: the options are built from secrets on disk, and the refusals
are read from errors made on the spot (the TLS ones by real handshakes, in
memory or against a socket on 127.0.0.1 that is no broker). What brokers make
of these options is tested in tests/eventsources/test_kafka.py and
tests/triggers/test_kafka_trigger.py. Every message is checked as both
adapters word it: the source's fields are ``sasl.…`` and ``tls.…`` and it
says "client", the trigger's are ``kafka.sasl.…`` and ``kafka.tls.…`` and it
says "producer".
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from aiokafka import errors  # type: ignore[import-untyped]

from herald.core.errors import ConfigError, SecretError
from herald.core.kafka_client import SASL_SUPPORTED, client_options, login_refusal, refusal
from herald.core.refs import SecretStore
from herald.core.tls import SASLConfig, TLSConfig
from tests.brokers.kafka import free_port
from tests.certs import Certificates

SOURCE: dict[str, str] = {"at": "", "client": "client"}
TRIGGER: dict[str, str] = {"at": "kafka", "client": "producer"}
NAMINGS = pytest.mark.parametrize("naming", [SOURCE, TRIGGER], ids=["source", "trigger"])


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore(secrets_dir=tmp_path / "secrets")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates.make(tmp_path_factory.mktemp("kafka-client-certs"))


def put(store: SecretStore, key: str, value: str) -> dict[str, str]:
    """Store ``value`` as secret ``kafka/<key>``; return its ref."""
    folder = store.secrets_dir / "kafka"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_text(value)
    return {"name": "kafka", "key": key}


def sasl(store: SecretStore, mechanism: str | None = None) -> SASLConfig:
    """SASL for user alice with password s3cret, both read from secrets."""
    return SASLConfig.model_validate(
        {
            "mechanism": mechanism,
            "userSecret": put(store, "user", "alice\n"),
            "passwordSecret": put(store, "password", "s3cret\n"),
        }
    )


def prefixed(naming: dict[str, str], field: str) -> str:
    """``field`` as the adapter of ``naming`` names it."""
    return f"{naming['at']}.{field}" if naming["at"] else field


# ---------------------------------------------------------------------------------------
# Options.


@pytest.mark.parametrize(
    ("with_tls", "mechanism", "protocol"),
    [
        (False, None, "PLAINTEXT"),
        (True, None, "SSL"),
        (False, "PLAIN", "SASL_PLAINTEXT"),
        (True, "SCRAM-SHA-512", "SASL_SSL"),
    ],
    ids=["plaintext", "tls", "sasl", "tls-and-sasl"],
)
def test_options_for_each_combination_of_tls_and_sasl(
    secrets: SecretStore,
    certs: Certificates,
    with_tls: bool,
    mechanism: str | None,
    protocol: str,
) -> None:
    tls = (
        TLSConfig.model_validate({"caCertSecret": put(secrets, "ca.crt", certs.ca.read_text())})
        if with_tls
        else None
    )
    auth = sasl(secrets, mechanism) if mechanism else None
    options = client_options("kafka-0:9092, kafka-1:9093", tls, auth, secrets)
    context = options.pop("ssl_context", None)
    expected: dict[str, Any] = {
        "bootstrap_servers": ["kafka-0:9092", "kafka-1:9093"],
        "client_id": "herald",
        "security_protocol": protocol,
    }
    if mechanism:
        expected |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "alice",
            "sasl_plain_password": "s3cret",
        }
    assert options == expected
    if with_tls:
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert any("Herald test CA" in str(ca["subject"]) for ca in context.get_ca_certs())
    else:
        assert context is None


def test_sasl_defaults_to_plain_and_empty_brokers_are_dropped(secrets: SecretStore) -> None:
    options = client_options(",kafka:9092,, ,", None, sasl(secrets), secrets)
    assert options["bootstrap_servers"] == ["kafka:9092"]
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["security_protocol"] == "SASL_PLAINTEXT"


@pytest.mark.parametrize("mechanism", SASL_SUPPORTED)
def test_every_supported_mechanism_is_passed_on(secrets: SecretStore, mechanism: str) -> None:
    options = client_options("kafka:9092", None, sasl(secrets, mechanism), secrets)
    assert options["sasl_mechanism"] == mechanism


@pytest.mark.parametrize(
    ("mechanism", "options", "path", "said"),
    [
        ("GSSAPI", {"owner": "es/ev"}, "sasl.mechanism", "es/ev: "),
        ("OAUTHBEARER", {"at": "kafka"}, "kafka.sasl.mechanism", ""),
    ],
    ids=["source", "trigger"],
)
def test_an_unsupported_mechanism_is_refused_in_each_adapter_s_words(
    secrets: SecretStore, mechanism: str, options: dict[str, Any], path: str, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        client_options("kafka:9092", None, sasl(secrets, mechanism), secrets, **options)
    assert raised.value.path == path
    assert raised.value.reason == (
        f"{said}SASL mechanism {mechanism} is not supported by Herald yet: "
        "use one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"
    )


@pytest.mark.parametrize(
    ("options", "path", "reason"),
    [
        ({"owner": "es/ev"}, "sasl", "es/ev: sasl needs userSecret and passwordSecret"),
        ({"at": "kafka"}, "kafka.sasl", "sasl needs userSecret and passwordSecret"),
    ],
    ids=["source", "trigger"],
)
def test_sasl_without_both_secret_refs_is_refused(
    secrets: SecretStore, options: dict[str, Any], path: str, reason: str
) -> None:
    auth = SASLConfig.model_validate({"userSecret": put(secrets, "user", "alice")})
    with pytest.raises(ConfigError) as raised:
        client_options("kafka:9092", None, auth, secrets, **options)
    assert (raised.value.path, raised.value.reason) == (path, reason)


def test_a_missing_secret_is_the_secret_error_as_raised_for_the_source(
    secrets: SecretStore,
) -> None:
    auth = SASLConfig.model_validate(
        {
            "userSecret": {"name": "absent", "key": "user"},
            "passwordSecret": {"name": "a", "key": "p"},
        }
    )
    with pytest.raises(SecretError, match="'absent' key 'user' not found") as raised:
        client_options("kafka:9092", None, auth, secrets, owner="es/ev")
    assert raised.value.path == ""
    tls = TLSConfig.model_validate({"caCertSecret": {"name": "absent", "key": "ca.crt"}})
    with pytest.raises(SecretError, match=r"'absent' key 'ca\.crt' not found") as raised:
        client_options("kafka:9092", tls, None, secrets, owner="es/ev")
    assert raised.value.path == ""


@pytest.mark.parametrize(
    ("in_sasl", "path"), [(True, "kafka.sasl"), (False, "kafka.tls")], ids=["sasl", "tls"]
)
def test_a_missing_secret_is_a_config_error_at_the_trigger_field(
    secrets: SecretStore, in_sasl: bool, path: str
) -> None:
    missing = {"name": "absent", "key": "k"}
    auth = (
        SASLConfig.model_validate({"userSecret": missing, "passwordSecret": missing})
        if in_sasl
        else None
    )
    tls = None if in_sasl else TLSConfig.model_validate({"caCertSecret": missing})
    with pytest.raises(ConfigError) as raised:
        client_options("kafka:9092", tls, auth, secrets, at="kafka", locate_secret_errors=True)
    assert type(raised.value) is ConfigError
    assert raised.value.path == path
    assert raised.value.reason.startswith("secret 'absent' key 'k' not found")


def test_a_tls_problem_that_is_no_secret_s_keeps_its_words(secrets: SecretStore) -> None:
    tls = TLSConfig.model_validate({"clientCertSecret": put(secrets, "tls.crt", "x")})
    namings: list[dict[str, Any]] = [
        {"owner": "es/ev"},
        {"at": "kafka", "locate_secret_errors": True},
    ]
    for options in namings:
        with pytest.raises(ConfigError) as raised:
            client_options("kafka:9092", tls, None, secrets, **options)
        assert raised.value.path == ""
        assert raised.value.reason == (
            "tls needs both clientCertSecret and clientKeySecret, or neither"
        )


# ---------------------------------------------------------------------------------------
# Refusals.


def login(mechanism: str = "SCRAM-SHA-256") -> dict[str, Any]:
    """The options of a client that logs in as alice (password s3cret)."""
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
    }


@NAMINGS
@pytest.mark.parametrize(
    "error",
    [errors.SaslAuthenticationFailed("Authentication failed"), errors.AuthenticationFailedError()],
    ids=["sasl-authentication-failed", "authentication-failed"],
)
def test_a_refused_login_names_the_user_and_the_secrets(
    naming: dict[str, str], error: Exception
) -> None:
    sasl = prefixed(naming, "sasl")
    assert refusal(error, login(), **naming) == (
        f"refused the SCRAM-SHA-256 login of user 'alice' ({error}): "
        f"check {sasl}.userSecret and {sasl}.passwordSecret"
    )


def test_a_refused_login_reads_so_word_for_word() -> None:
    error = errors.SaslAuthenticationFailed("Authentication failed")
    assert refusal(error, login("PLAIN"), **TRIGGER) == (
        "refused the PLAIN login of user 'alice' ([Error 58] SaslAuthenticationFailed: "
        "Authentication failed): check kafka.sasl.userSecret and kafka.sasl.passwordSecret"
    )


@NAMINGS
def test_aiokafka_s_key_error_on_a_scram_error_reply_is_a_refused_login(
    naming: dict[str, str],
) -> None:
    sasl = prefixed(naming, "sasl")
    assert refusal(KeyError("v"), login("SCRAM-SHA-512"), **naming) == (
        "refused the SCRAM-SHA-512 login of user 'alice' (an error instead of the server "
        f"signature in the last SCRAM message): check {sasl}.userSecret and {sasl}.passwordSecret"
    )
    assert refusal(KeyError("v"), login("PLAIN"), **naming) is None, "only SCRAM says v="
    assert refusal(KeyError("e"), login("SCRAM-SHA-512"), **naming) is None


@NAMINGS
def test_an_unoffered_mechanism_names_the_mechanism_field(naming: dict[str, str]) -> None:
    sasl = prefixed(naming, "sasl")
    error = errors.UnsupportedSaslMechanismError("PLAIN")
    assert refusal(error, login("PLAIN"), **naming) == (
        f"do not offer SASL mechanism PLAIN: set {sasl}.mechanism to one they offer, "
        f"or remove {sasl} if they do not authenticate clients"
    )


def handshake(client: ssl.SSLContext, server: ssl.SSLContext | None) -> ssl.SSLError:
    """The error of a client's TLS handshake in memory; ``server`` None: a peer without TLS."""
    to_client, to_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    ours = client.wrap_bio(to_client, to_server, server_hostname="127.0.0.1")
    peer_in, peer_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    peer = server.wrap_bio(peer_in, peer_out, server_side=True) if server else None

    def exchange() -> None:
        for _ in range(10):
            with suppress(ssl.SSLWantReadError):
                ours.do_handshake()
            if peer is None:
                to_client.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                continue
            peer_in.write(to_server.read())
            with suppress(ssl.SSLWantReadError):
                peer.do_handshake()
            to_client.write(peer_out.read())

    with pytest.raises(ssl.SSLError) as raised:
        exchange()
    return raised.value


@NAMINGS
def test_an_untrusted_certificate_names_the_ca_field(
    naming: dict[str, str], certs: Certificates
) -> None:
    client = ssl.create_default_context(cafile=str(certs.other_ca))
    error = handshake(client, certs.server_context())
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert refusal(error, {}, **naming) == (
        f"sent a TLS certificate this {naming['client']} does not trust "
        f"({error.verify_message}): set {prefixed(naming, 'tls')}.caCertSecret to the CA "
        "that signed it"
    )
    assert error.verify_message == "unable to get local issuer certificate"


@NAMINGS
def test_a_refused_handshake_names_the_tls_fields(naming: dict[str, str]) -> None:
    tls = prefixed(naming, "tls")
    error = handshake(ssl.create_default_context(), None)
    assert not isinstance(error, ssl.SSLCertVerificationError)
    assert refusal(error, {}, **naming) == (
        f"refused the TLS handshake (WRONG_VERSION_NUMBER): check {tls}, e.g. "
        f"{tls}.clientCertSecret and {tls}.clientKeySecret when they require a client "
        "certificate"
    )


@NAMINGS
@pytest.mark.parametrize(
    "error",
    [
        errors.KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        errors.KafkaTimeoutError(),
    ],
    ids=["unable-to-bootstrap", "connection-refused", "timeout", "kafka-timeout"],
)
def test_brokers_that_are_down_are_no_refusal(naming: dict[str, str], error: Exception) -> None:
    assert refusal(error, login(), **naming) is None


def test_no_refusal_says_the_password() -> None:
    made = [
        refusal(error, login(), **naming)
        for naming in (SOURCE, TRIGGER)
        for error in (
            errors.SaslAuthenticationFailed("no"),
            KeyError("v"),
            errors.UnsupportedSaslMechanismError("no"),
        )
    ]
    assert all(reason is not None and "s3cret" not in reason for reason in made)


# ---------------------------------------------------------------------------------------
# login_refusal: one real connection, to a socket that is no broker.


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(handler: Handler, context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that runs ``handler`` for each connection; its port."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def answer_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    await writer.drain()
    writer.close()


async def test_login_refusal_is_none_when_no_broker_answers(secrets: SecretStore) -> None:
    options = client_options(f"127.0.0.1:{free_port()}", None, sasl(secrets), secrets)
    assert await login_refusal(options, **TRIGGER) is None


async def test_login_refusal_reports_a_certificate_the_client_does_not_trust(
    secrets: SecretStore, certs: Certificates
) -> None:
    tls = TLSConfig.model_validate({"caCertSecret": put(secrets, "ca", certs.other_ca.read_text())})
    async with listening(hang_up, certs.server_context()) as port:
        options = client_options(f"127.0.0.1:{port}", tls, None, secrets, at="kafka")
        reason = await login_refusal(options, **TRIGGER)
    assert reason is not None
    assert reason.startswith("sent a TLS certificate this producer does not trust (")
    assert reason.endswith("): set kafka.tls.caCertSecret to the CA that signed it")


async def test_login_refusal_tries_each_broker_until_one_refuses(secrets: SecretStore) -> None:
    tls = TLSConfig.model_validate({"enabled": True})
    async with listening(answer_http) as port:
        url = f"127.0.0.1:{free_port()},127.0.0.1:{port}"
        reason = await login_refusal(client_options(url, tls, None, secrets), **SOURCE)
    assert reason is not None
    assert reason.startswith("refused the TLS handshake (")
    assert reason.endswith(
        "): check tls, e.g. tls.clientCertSecret and tls.clientKeySecret when they require a "
        "client certificate"
    )


# ---------------------------------------------------------------------------------------
# What importing the module costs.


def test_importing_the_module_loads_neither_aiokafka_nor_an_adapter() -> None:
    code = (
        "import sys, herald.core.kafka_client\n"
        "print(','.join(sorted(m for m in ('aiokafka', 'kafka', 'eventsources', 'triggers', "
        "'bus') if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_a_missing_tls_secret_is_placed_at_tls_even_with_sasl_set(secrets: SecretStore) -> None:
    auth = SASLConfig.model_validate(
        {"userSecret": put(secrets, "user", "ada"), "passwordSecret": put(secrets, "pw", "x")}
    )
    tls = TLSConfig.model_validate({"caCertSecret": {"name": "absent", "key": "ca.crt"}})
    with pytest.raises(ConfigError) as raised:
        client_options("kafka:9092", tls, auth, secrets, at="kafka", locate_secret_errors=True)
    assert raised.value.path == "kafka.tls"
