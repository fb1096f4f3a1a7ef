"""The nats source against a real nats-server (JetStream enabled) and a memory bus.

Each test starts its own ``nats-server -js`` on a free port (tests/brokers/nats.py),
publishes with nats-py and counts what reached the bus. Fault tests stop the
server in the middle of a stream and start it again on the same port and store.
Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import base64
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NATSClient
from nats.aio.client import RawCredentials
from nats.js.api import ConsumerConfig, StreamConfig

from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.nats import (
    NATSEventsSource,
    NATSSource,
    default_durable,
    fresh_id,
    stream_position,
)
from eventsources.source import SourceContext
from herald.core.backoff import Backoff, reconnect_delays
from herald.core.errors import ConfigError
from herald.core.refs import SecretStore
from tests.brokers.nats import NatsServer
from tests.brokers.nats_jwt import (
    TrustChain,
    creds,
    new_key,
    nkey_server_config,
    with_bad_signature,
)
from tests.eventsources.conftest import Certificate, Collector, running, unique, until, until_async

N = 200
FAST_BACKOFF = {"duration": "20ms", "factor": 2, "steps": 4}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    broker = await NatsServer(tmp_path / "nats").start()
    try:
        yield broker
    finally:
        await broker.close()


@pytest.fixture
def collector(bus: MemoryBus) -> Collector:
    return Collector(bus)


@pytest.fixture
async def client(server: NatsServer) -> AsyncIterator[NATSClient]:
    """A publishing client that rides out server restarts."""
    nc = await nats.connect(server.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1)
    try:
        yield nc
    finally:
        await nc.close()


def make_source(
    url: str,
    subject: str,
    secrets: SecretStore | None = None,
    event_source: str | None = None,
    **extra: Any,
) -> NATSSource:
    spec: dict[str, Any] = {"url": url, "subject": subject, "connectionBackoff": FAST_BACKOFF}
    spec.update(extra)
    config = NATSEventsSource.model_validate(spec)
    context = SourceContext(
        event_source=event_source or unique("es"),
        event_name="example",
        secrets=secrets or SecretStore(),
    )
    return NATSSource(config, context, bus_retry_delay=0.05)


async def add_stream(client: NATSClient, subjects: list[str]) -> str:
    name = unique("S").upper().replace("-", "_")
    await client.jetstream().add_stream(StreamConfig(name=name, subjects=subjects))
    return name


# ---------------------------------------------------------------------------------------
# Core NATS


async def test_core_messages_arrive_once_each_with_argo_shape(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("orders")
    source = make_source(server.url, subject, metadata={"team": "a"})
    async with running(source, collector.emit):
        for i in range(N):
            await client.publish(subject, f"message {i}".encode())
        await collector.wait_for(N)
        # A last message behind them all: nothing else is on its way.
        await client.publish(subject, b"last")
        await collector.wait_for(N + 1)
    events = collector.published
    assert len(events) == N + 1
    assert len({e.id for e in events}) == N + 1
    expected = [base64.b64encode(f"message {i}".encode()).decode() for i in range(N)]
    assert collector.bodies()[:N] == expected  # one subscriber: in order
    first = events[0]
    assert (first.source, first.type, first.subject) == (
        source.context.event_source,
        "nats",
        "example",
    )
    assert first.datacontenttype == "application/json"
    assert first.data == {"subject": subject, "body": expected[0], "metadata": {"team": "a"}}
    assert len(first.id) == 32  # a uuid4 in hex, as Argo makes them


async def test_json_body_headers_and_traceparent(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("json")
    source = make_source(server.url, f"{subject}.*", jsonBody=True)
    async with running(source, collector.emit):
        await client.publish(
            f"{subject}.a",
            orjson.dumps({"id": 1, "tags": ["x"]}),
            headers={"X-Trace": "t1", "traceparent": TRACEPARENT},
        )
        await collector.wait_for(1)
    event = collector.published[0]
    assert event.data == {
        "subject": f"{subject}.a",
        "body": {"id": 1, "tags": ["x"]},
        "header": {"X-Trace": ["t1"], "traceparent": [TRACEPARENT]},
    }
    assert event.extensions["traceparent"] == TRACEPARENT


async def test_bad_json_is_logged_and_skipped(
    server: NatsServer,
    client: NATSClient,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subject = unique("bad")
    source = make_source(server.url, subject, jsonBody=True)
    deep = b"[" * 200 + b"]" * 200
    async with running(source, collector.emit):
        for payload in (b"not json", b"", b"\xff\xfe", deep, b'{"ok": true}'):
            await client.publish(subject, payload)
        await collector.wait_for(1)
        assert source.ready.is_set()
    assert collector.bodies() == [{"ok": True}]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 4
    assert any("not JSON" in line for line in skipped)
    assert any("empty" in line for line in skipped)
    assert any("deeper than" in line for line in skipped)


async def test_queue_group_shares_messages(
    server: NatsServer, client: NATSClient, bus: MemoryBus
) -> None:
    subject = unique("shared")
    first, second = Collector(bus), Collector(bus)
    a = make_source(server.url, subject, queue="workers")
    b = make_source(server.url, subject, queue="workers")
    async with running(a, first.emit), running(b, second.emit):
        for i in range(N):
            await client.publish(subject, str(i).encode())
        await until(lambda: len(first.published) + len(second.published) >= N, "all messages")
    bodies = first.bodies() + second.bodies()
    assert sorted(bodies) == sorted(base64.b64encode(str(i).encode()).decode() for i in range(N))
    assert first.published, "the first replica got some"
    assert second.published, "the second replica got some"


async def test_core_reconnects_and_resumes(
    server: NatsServer,
    client: NATSClient,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="herald.source.nats")
    subject = unique("resume")
    source = make_source(server.url, subject)
    async with running(source, collector.emit):
        await client.publish(subject, b"before")
        await collector.wait_for(1)
        await server.stop()
        await until(lambda: not source.ready.is_set(), "ready cleared while the server is down")
        await server.start()
        await until(source.ready.is_set, "ready again once the server is back")
        await until(lambda: client.is_connected, "the publisher reconnected")
        await client.publish(subject, b"after")
        await collector.wait_for(2)
    assert collector.bodies() == [base64.b64encode(b).decode() for b in (b"before", b"after")]
    records = [r for r in caplog.records if r.name == "herald.source.nats"]
    lines = [r.getMessage() for r in records]
    assert sum("lost" in line for line in lines) == 1
    assert sum("subscribed" in line for line in lines) == 2
    # Failed attempts while the server was down are DEBUG, not one line each.
    assert not [r for r in records if r.levelno > logging.INFO and "cannot connect" in r.message]


async def test_source_waits_for_a_server_that_is_not_up_yet(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    broker = NatsServer(tmp_path / "late")
    source = make_source(broker.url, "late")
    try:
        async with running(source, collector.emit, wait_ready=False):
            await until(lambda: "cannot connect" in caplog.text, "a warning about the server")
            assert not source.ready.is_set()
            await broker.start()
            await until(source.ready.is_set, "ready once the server is up")
    finally:
        await broker.close()
    warnings = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len([r for r in warnings if r.levelno == logging.WARNING]) == 1


async def test_core_bus_refusal_holds_the_message_until_the_bus_takes_it(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("held")
    source = make_source(server.url, subject)
    collector.refuse = 3
    async with running(source, collector.emit):
        await client.publish(subject, b"kept")
        await collector.wait_for(1)
    assert collector.calls == 4
    assert collector.bodies() == [base64.b64encode(b"kept").decode()]


# ---------------------------------------------------------------------------------------
# JetStream


async def test_jetstream_messages_arrive_once_each_with_stable_ids(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("js")
    stream = await add_stream(client, [f"{subject}.>"])
    js = client.jetstream()
    source = make_source(server.url, f"{subject}.>", jsonBody=True, jetStream={})
    async with running(source, collector.emit):
        for i in range(N):
            await js.publish(f"{subject}.n", orjson.dumps({"i": i}))
        await collector.wait_for(N)
        info = await js.consumer_info(
            stream, default_durable(source.context.event_source, "example")
        )
    assert [b["i"] for b in collector.bodies()] == list(range(N))
    es = source.context.event_source
    assert [e.id for e in collector.published] == [
        f"{es}:example:{stream}:{seq}" for seq in range(1, N + 1)
    ]
    assert collector.published[0].data == {"subject": f"{subject}.n", "body": {"i": 0}}
    assert info.config.deliver_group == info.name  # replicas share the durable


async def test_jetstream_acks_only_after_emit_and_naks_when_the_bus_refuses(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("nak")
    stream = await add_stream(client, [subject])
    js = client.jetstream()
    source = make_source(server.url, subject, jetStream={"durable": "herald-nak"})
    collector.refuse = 2
    async with running(source, collector.emit):
        await js.publish(subject, b"one")
        await collector.wait_for(1)

        async def settled() -> bool:
            info = await js.consumer_info(stream, "herald-nak")
            return bool(info.num_ack_pending == 0 and info.num_pending == 0)

        await until_async(settled, "every message acked")
    assert collector.calls == 3  # refused twice, redelivered by the server each time
    assert collector.bodies() == [base64.b64encode(b"one").decode()]


async def test_jetstream_bad_input_is_acked_not_redelivered(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("jsbad")
    stream = await add_stream(client, [subject])
    js = client.jetstream()
    source = make_source(server.url, subject, jsonBody=True, jetStream={"durable": "d-bad"})
    async with running(source, collector.emit):
        await js.publish(subject, b"{broken")
        await js.publish(subject, b'{"fine": 1}')
        await collector.wait_for(1)

        async def settled() -> bool:
            info = await js.consumer_info(stream, "d-bad")
            return bool(info.num_ack_pending == 0 and info.num_pending == 0)

        await until_async(settled, "every message acked")
        info = await js.consumer_info(stream, "d-bad")
    assert info.num_redelivered == 0
    assert collector.bodies() == [{"fine": 1}]


async def test_jetstream_survives_a_broker_restart_mid_stream_without_loss(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("restart")
    await add_stream(client, [subject])
    js = client.jetstream()
    source = make_source(server.url, subject, jetStream={"ackWait": "1s"})
    collector.delay = 0.002
    async with running(source, collector.emit):
        for i in range(N // 2):
            await js.publish(subject, str(i).encode())
        await collector.wait_for(10)
        await server.stop(kill=True)  # in the middle of the stream
        assert len(collector.published) < N // 2, "the server went away mid-stream"
        await until(lambda: not source.ready.is_set(), "ready cleared while the server is down")
        await server.start()
        await until(source.ready.is_set, "ready again once the server is back")
        await until(lambda: client.is_connected, "the publisher reconnected")
        for i in range(N // 2, N):
            await js.publish(subject, str(i).encode())
        await until(lambda: len({e.id for e in collector.published}) >= N, "every message")
    bodies = {base64.b64decode(b).decode() for b in collector.bodies()}
    assert bodies == {str(i) for i in range(N)}
    assert len(collector.published) == N  # redeliveries were dropped as duplicates by the bus


async def test_jetstream_consumer_position_survives_a_source_restart(
    server: NatsServer, client: NATSClient, collector: Collector
) -> None:
    subject = unique("durable")
    await add_stream(client, [subject])
    js = client.jetstream()
    es = unique("es")
    first = make_source(server.url, subject, event_source=es, jetStream={})
    async with running(first, collector.emit):
        await js.publish(subject, b"1")
        await collector.wait_for(1)
    # Published while no source runs: the durable consumer keeps them.
    await js.publish(subject, b"2")
    await js.publish(subject, b"3")
    second = make_source(server.url, subject, event_source=es, jetStream={})
    async with running(second, collector.emit):
        await collector.wait_for(3)
    assert [base64.b64decode(b) for b in collector.bodies()] == [b"1", b"2", b"3"]


async def test_jetstream_without_a_stream_is_not_ready_until_one_exists(
    server: NatsServer,
    client: NATSClient,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subject = unique("nostream")
    source = make_source(server.url, subject, jetStream={})
    async with running(source, collector.emit, wait_ready=False):
        await until(lambda: "no JetStream stream holds" in caplog.text, "a warning naming it")
        assert not source.ready.is_set()
        await add_stream(client, [subject])
        await until(source.ready.is_set, "ready once the stream exists")
        await client.jetstream().publish(subject, b"x")
        await collector.wait_for(1)
    warned = [r for r in caplog.records if "no JetStream stream" in r.getMessage()]
    assert len([r for r in warned if r.levelno == logging.WARNING]) == 1


async def test_a_durable_that_reads_another_subject_is_refused(
    server: NatsServer,
    client: NATSClient,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subject = unique("moved")
    stream = await add_stream(client, [f"{subject}.>"])
    await client.jetstream().add_consumer(
        stream, ConsumerConfig(durable_name="taken", filter_subject=f"{subject}.old")
    )
    source = make_source(server.url, f"{subject}.new", jetStream={"durable": "taken"})
    async with running(source, collector.emit, wait_ready=False):
        await until(lambda: "reads subject" in caplog.text, "a warning naming both subjects")
        assert not source.ready.is_set()
    assert "delete that consumer, or name another one in jetStream.durable" in caplog.text


# ---------------------------------------------------------------------------------------
# Authentication, registry, reconnection timing


def put_secret(root: Path, name: str, key: str, value: str) -> None:
    """Write a secret as Kubernetes updates a mounted one: whole, in one rename."""
    (root / name).mkdir(parents=True, exist_ok=True)
    staged = root / name / f".{key}.new"
    staged.write_text(value)
    staged.replace(root / name / key)


NKEY_REF = {"nkey": {"name": "nats-auth", "key": "seed"}}
CREDS_REF = {"credential": {"name": "nats-auth", "key": "creds"}}


async def assert_anonymous_refused(url: str) -> None:
    """The server really requires authentication (so the source's success means something)."""
    anonymous = NATSClient()
    try:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await anonymous.connect(
                url, allow_reconnect=False, max_reconnect_attempts=1, error_cb=_ignore_error
            )
    finally:
        await anonymous.close()  # nats-py leaves a refused attempt's socket open


async def _ignore_error(error: Exception) -> None:
    """An error_cb for clients expected to fail (nats-py's default logs a traceback)."""


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "refused the credentials" in r.getMessage()]


def secured(url: str, secrets_dir: Path, **spec: Any) -> NATSSource:
    """A source of subject ``secured`` whose secrets are in ``secrets_dir``."""
    return make_source(url, "secured", secrets=SecretStore(secrets_dir=secrets_dir), **spec)


async def receives(
    source: NATSSource, collector: Collector, url: str, payload: bytes, **client: Any
) -> None:
    """The running ``source`` gets ``payload`` published by a client connected with ``client``."""
    publisher = await nats.connect(url, **client)
    try:
        async with running(source, collector.emit):
            await publisher.publish("secured", payload)
            await collector.wait_for(1)
    finally:
        await publisher.close()
    assert base64.b64decode(collector.bodies()[-1]) == payload


async def keeps_refusing(
    source: NATSSource, collector: Collector, caplog: pytest.LogCaptureFixture, times: int
) -> None:
    """The ``source`` is refused ``times`` times, stays not ready, and keeps running."""
    async with running(source, collector.emit, wait_ready=False) as task:
        await until(lambda: len(refusals(caplog)) >= times, f"{times} refused attempts")
        assert not source.ready.is_set()
        assert not task.done()


def assert_never_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No secret in any log line of the test (every logger, every level, tracebacks too)."""
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert caplog.records, "something was logged"
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_authenticates_with_basic_or_token(
    tmp_path: Path, collector: Collector, kind: str
) -> None:
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "user", "herald\n")
    put_secret(secrets_dir, "nats-auth", "password", "s3cret\n")
    put_secret(secrets_dir, "nats-auth", "token", "t0ken\n")
    args = ["--user", "herald", "--pass", "s3cret"] if kind == "basic" else ["--auth", "t0ken"]
    broker = await NatsServer(tmp_path / "auth", args).start()
    try:
        auth: dict[str, Any] = (
            {
                "basic": {
                    "username": {"name": "nats-auth", "key": "user"},
                    "password": {"name": "nats-auth", "key": "password"},
                }
            }
            if kind == "basic"
            else {"token": {"name": "nats-auth", "key": "token"}}
        )
        source = secured(broker.url, secrets_dir, auth=auth)
        credentials: dict[str, Any] = (
            {"user": "herald", "password": "s3cret"} if kind == "basic" else {"token": "t0ken"}
        )
        await receives(source, collector, broker.url, b"hi", **credentials)
    finally:
        await broker.close()


async def test_tls_with_a_ca_from_a_secret(
    tmp_path: Path, collector: Collector, certificate: Certificate
) -> None:
    key = tmp_path / "server.key"
    key.write_bytes(certificate.key)
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-tls", "ca.crt", certificate.cert.decode())
    args = ["--tls", "--tlscert", str(certificate.cert_path), "--tlskey", str(key)]
    broker = await NatsServer(tmp_path / "tls", args).start()
    try:
        source = secured(
            broker.url, secrets_dir, tls={"caCertSecret": {"name": "nats-tls", "key": "ca.crt"}}
        )
        await receives(source, collector, broker.url, b"over tls", tls=certificate.client_context())
    finally:
        await broker.close()


async def test_wrong_credentials_keep_the_source_not_ready(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "token", "wrong")
    broker = await NatsServer(tmp_path / "auth", ["--auth", "right"]).start()
    try:
        source = secured(
            broker.url, secrets_dir, auth={"token": {"name": "nats-auth", "key": "token"}}
        )
        await keeps_refusing(source, collector, caplog, 2)
    finally:
        await broker.close()
    assert_never_logged(caplog, "wrong")
    refused = refusals(caplog)
    assert refused[0].levelno == logging.WARNING
    assert "spec.nats.example.auth.token" in refused[0].getMessage()
    assert all(r.levelno == logging.DEBUG for r in refused[1:])  # retries are quiet


async def test_authenticates_with_an_nkey_seed(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = new_key("user")
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "seed", f"{user.seed}\n")
    broker = await NatsServer(tmp_path / "nkey", config=nkey_server_config(user.public)).start()
    try:
        await assert_anonymous_refused(broker.url)
        source = secured(broker.url, secrets_dir, auth=NKEY_REF)
        await receives(source, collector, broker.url, b"nkey", nkeys_seed_str=user.seed)
    finally:
        await broker.close()
    assert_never_logged(caplog, user.seed)


async def test_a_wrong_nkey_seed_is_refused_retried_with_backoff_and_rotated_in(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused: not ready, a warning naming the field, retries; the rotated secret is used."""
    caplog.set_level(logging.DEBUG)
    admitted, stranger = new_key("user"), new_key("user")
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "seed", stranger.seed)
    broker = await NatsServer(tmp_path / "nkey", config=nkey_server_config(admitted.public)).start()
    try:
        source = secured(broker.url, secrets_dir, auth=NKEY_REF)
        publisher = await nats.connect(broker.url, nkeys_seed_str=admitted.seed)
        try:
            async with running(source, collector.emit, wait_ready=False) as task:
                await until(lambda: len(refusals(caplog)) >= 3, "three refused attempts")
                assert not source.ready.is_set()
                assert not task.done()
                put_secret(secrets_dir, "nats-auth", "seed", admitted.seed)  # rotated
                await until(source.ready.is_set, "ready with the rotated secret, still running")
                await publisher.publish("secured", b"after rotation")
                await collector.wait_for(1)
        finally:
            await publisher.close()
    finally:
        await broker.close()
    refused = refusals(caplog)
    assert refused[0].levelno == logging.WARNING
    assert all(r.levelno == logging.DEBUG for r in refused[1:])  # one warning, quiet retries
    assert refused[0].getMessage() == (
        f"{source.owner}: {broker.url} refused the credentials of "
        "spec.nats.example.auth.nkey (nats: 'Authorization Violation'): check that secret; "
        "retrying"
    )
    # connectionBackoff 20ms, x2: the attempts are spaced by at least 20 then 40 ms.
    first, second, third = (r.created for r in refused[:3])
    assert second - first >= 0.02
    assert third - second >= 0.04
    assert_never_logged(caplog, admitted.seed, stranger.seed)


async def test_authenticates_with_a_credentials_file(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    """Operator/JWT mode: the server trusts the operator, which signed the user's account."""
    caplog.set_level(logging.DEBUG)
    chain = TrustChain.new()
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "creds", chain.creds())
    broker = await NatsServer(tmp_path / "jwt", config=chain.server_config()).start()
    try:
        await assert_anonymous_refused(broker.url)
        source = secured(broker.url, secrets_dir, auth=CREDS_REF)
        publisher = RawCredentials(chain.creds())
        await receives(source, collector, broker.url, b"jwt", user_credentials=publisher)
    finally:
        await broker.close()
    assert_never_logged(caplog, chain.user.seed, chain.user_jwt)


async def test_a_credentials_file_with_a_bad_signature_is_refused(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chain = TrustChain.new()
    forged = with_bad_signature(chain.user_jwt)
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "creds", creds(forged, chain.user.seed))
    broker = await NatsServer(tmp_path / "jwt", config=chain.server_config()).start()
    try:
        await keeps_refusing(secured(broker.url, secrets_dir, auth=CREDS_REF), collector, caplog, 2)
    finally:
        await broker.close()
    message = refusals(caplog)[0].getMessage()
    assert "refused the credentials of spec.nats.example.auth.credential" in message
    assert_never_logged(caplog, chain.user.seed, forged, forged.rsplit(".", 1)[1])


def test_a_malformed_seed_is_a_config_error_naming_the_field_not_the_seed(tmp_path: Path) -> None:
    seed = new_key("user").seed
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "nats-auth", "seed", seed[:-2])
    with pytest.raises(ConfigError, match="not an nkey seed") as raised:
        make_source(
            "nats://127.0.0.1:1",
            "x",
            secrets=SecretStore(secrets_dir=secrets_dir),
            auth=NKEY_REF,
        )
    assert raised.value.path == "spec.nats.example.auth.nkey"
    assert seed[:-2] not in str(raised.value)


@pytest.mark.parametrize("kind", ["nkey", "credential"])
def test_nkey_auth_without_the_nkeys_package_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setitem(sys.modules, "nkeys", None)  # as if nats-py[nkeys] were not installed
    with pytest.raises(ConfigError, match=r"pip install 'herald\[nats\]'") as raised:
        make_source("nats://127.0.0.1:1", "x", auth={kind: {"name": "nats-auth", "key": "seed"}})
    assert raised.value.path == f"spec.nats.example.auth.{kind}"


def test_missing_secret_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as raised:
        make_source(
            "nats://127.0.0.1:1",
            "x",
            secrets=SecretStore(secrets_dir=tmp_path),
            auth={"token": {"name": "absent", "key": "token"}},
        )
    assert raised.value.path == "spec.nats.example.auth.token"


def test_stream_position_reads_both_ack_subject_layouts() -> None:
    assert stream_position("$JS.ACK.ORDERS.herald.1.42.40.1700000000000000000.3") == (
        "ORDERS",
        "42",
    )
    assert stream_position(
        "$JS.ACK.hub.ACCHASH.ORDERS.herald.2.42.40.1700000000000000000.3.tok"
    ) == ("ORDERS", "42")
    assert stream_position("_INBOX.abc") is None
    assert stream_position(None) is None


def test_fresh_ids_are_uuid4_hex_and_unique() -> None:
    ids = {fresh_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(uuid.UUID(hex=i).version == 4 and len(i) == 32 for i in ids)


def test_registry_names_the_nats_source() -> None:
    assert source_registry.factory("nats") is NATSSource


def test_reconnect_delays_follow_the_backoff_then_repeat_its_last_delay() -> None:
    backoff = Backoff.model_validate({"duration": "1s", "factor": 2, "steps": 4})
    delays = reconnect_delays(backoff)
    assert [next(delays) for _ in range(6)] == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    default = reconnect_delays(None)
    first = [next(default) for _ in range(6)]
    assert 1.0 <= first[0] <= 1.2
    assert 8.0 <= first[5] <= 9.6
    huge = reconnect_delays(Backoff.model_validate({"duration": "10m"}))
    assert next(huge) == 60.0
