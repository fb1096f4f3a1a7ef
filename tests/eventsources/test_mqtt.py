"""The mqtt source against a real MQTT broker (Mosquitto, else amqtt) and a memory bus.

Each test starts its own broker on a free port (tests/brokers/mqtt.py;
the websocket tests always run amqtt, whose websocket listener answers at one
path only, so they behave the same with or without Mosquitto installed),
publishes with aiomqtt and counts what reached the bus. Fault tests stop the
broker in the middle of a stream and start it again on the same port. Every
wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.mqtt import BrokerAddress, MQTTEventSource, MQTTSource
from eventsources.source import SourceContext
from herald.core.errors import ConfigError
from herald.core.refs import SecretStore
from tests.brokers.mqtt import MqttBroker
from tests.eventsources.conftest import Certificate, Collector, running, unique, until

DEADLINE = 15.0
"""Seconds any wait may take before the test fails."""

N = 200
FAST_BACKOFF = {"duration": "20ms", "factor": 2, "steps": 4}


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[MqttBroker]:
    server = await MqttBroker(tmp_path / "mqtt").start()
    try:
        yield server
    finally:
        await server.close()


def make_source(
    url: str,
    topic: str,
    *,
    client_id: str | None = None,
    secrets: SecretStore | None = None,
    **extra: Any,
) -> MQTTSource:
    spec: dict[str, Any] = {
        "url": url,
        "topic": topic,
        "clientId": client_id or unique("herald"),
        "connectionBackoff": FAST_BACKOFF,
    }
    spec.update(extra)
    config = MQTTEventSource.model_validate(spec)
    context = SourceContext(
        event_source=unique("es"), event_name="example", secrets=secrets or SecretStore()
    )
    return MQTTSource(config, context, bus_retry_delay=0.05)


async def publish(
    broker: MqttBroker,
    topic: str,
    payloads: Iterable[bytes],
    qos: int = 0,
    *,
    username: str | None = None,
    password: str | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Publish ``payloads`` in order; QoS 1 returns once the broker acknowledged each."""
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=unique("pub"),
        username=username or broker.username,
        password=password,
        tls_context=tls_context,
    ) as pub:
        for payload in payloads:
            await pub.publish(topic, payload, qos=qos)


async def publish_through_outages(broker: MqttBroker, topic: str, payloads: list[bytes]) -> None:
    """Publish each payload with QoS 1 until the broker acknowledged it, reconnecting as needed."""
    pending = list(payloads)
    while pending:
        try:
            async with aiomqtt.Client(
                "127.0.0.1",
                broker.port,
                identifier=unique("pub"),
                username=broker.username,
                timeout=1,  # a PUBACK lost with the broker is not waited for 10 s
            ) as pub:
                while pending:
                    await pub.publish(topic, pending[0], qos=1)
                    pending.pop(0)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.02)  # the broker is away; try again


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode()


# ---------------------------------------------------------------------------------------
# Delivery and data shape


async def test_messages_arrive_once_each_with_argo_shape(
    broker: MqttBroker, collector: Collector
) -> None:
    topic = unique("sensors")
    source = make_source(broker.url, f"{topic}/+", metadata={"site": "lab"})
    async with running(source, collector.emit):
        await publish(broker, f"{topic}/t1", (f"m{i}".encode() for i in range(N)), qos=1)
        await collector.wait_for(N)
        await publish(broker, f"{topic}/t1", [b"last"])  # behind everything else
        await collector.wait_for(N + 1)
    events = collector.published
    assert len(events) == N + 1
    assert len({e.id for e in events}) == N + 1
    assert collector.payloads()[:N] == [f"m{i}".encode() for i in range(N)]
    first = events[0]
    assert (first.source, first.type, first.subject) == (
        source.context.event_source,
        "mqtt",
        "example",
    )
    assert first.data == {
        "topic": f"{topic}/t1",
        "messageId": 0,  # QoS 0 subscription: no packet id, as Argo reports it
        "body": b64(b"m0"),
        "metadata": {"site": "lab"},
    }


async def test_qos1_json_body_and_message_ids(broker: MqttBroker, collector: Collector) -> None:
    topic = unique("json")
    source = make_source(broker.url, topic, qos=1, jsonBody=True)
    async with running(source, collector.emit):
        await publish(broker, topic, [orjson.dumps({"n": i}) for i in range(3)], qos=1)
        await collector.wait_for(3)
    assert [e.data["body"] for e in collector.published] == [{"n": 0}, {"n": 1}, {"n": 2}]
    ids = [e.data["messageId"] for e in collector.published]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert "metadata" not in collector.published[0].data


async def test_bad_json_is_logged_and_skipped(
    broker: MqttBroker, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("bad")
    source = make_source(broker.url, topic, qos=1, jsonBody=True)
    deep = b"[" * 200 + b"]" * 200
    async with running(source, collector.emit):
        await publish(broker, topic, [b"not json", b"", b"\xff", deep, b'{"ok": 1}'], qos=1)
        await collector.wait_for(1)
        assert source.ready.is_set()
    assert [e.data["body"] for e in collector.published] == [{"ok": 1}]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 4
    assert any("not JSON" in line for line in skipped)
    assert any("empty" in line for line in skipped)
    assert any("deeper than" in line for line in skipped)


async def test_bus_refusal_holds_the_message_until_the_bus_takes_it(
    broker: MqttBroker, collector: Collector
) -> None:
    topic = unique("held")
    source = make_source(broker.url, topic, qos=1)
    collector.refuse = 3
    async with running(source, collector.emit):
        await publish(broker, topic, [b"kept", b"next"], qos=1)
        await collector.wait_for(2)
    assert collector.payloads() == [b"kept", b"next"]
    assert collector.calls == 5


async def test_qos1_acknowledges_only_after_emit(broker: MqttBroker, bus: MemoryBus) -> None:
    """A message whose emit never finished is delivered again to the same session."""
    if broker.kind == "amqtt":
        pytest.skip(
            "amqtt does not resend a QoS 1 message whose PUBACK never came when the session "
            "resumes (MQTT 3.1.1 section 4.4 says it must); this needs Mosquitto"
        )
    topic, client_id = unique("ack"), unique("herald")
    stuck = Collector(bus)
    stuck.gate = asyncio.Event()  # never set: the bus never answers
    first = make_source(broker.url, topic, client_id=client_id, qos=1, cleanSession=False)
    async with running(first, stuck.emit):
        await publish(broker, topic, [b"precious"], qos=1)
        await until(lambda: stuck.calls == 1, "the message reached emit")
    # The source stopped without a PUBACK: the broker still owes this session the message.
    collector = Collector(bus)
    second = make_source(broker.url, topic, client_id=client_id, qos=1, cleanSession=False)
    async with running(second, collector.emit):
        await collector.wait_for(1)
    assert collector.payloads() == [b"precious"]


async def test_persistent_session_receives_what_was_published_while_down(
    broker: MqttBroker, collector: Collector
) -> None:
    topic, client_id = unique("offline"), unique("herald")
    first = make_source(broker.url, topic, client_id=client_id, qos=1, cleanSession=False)
    async with running(first, collector.emit):
        await publish(broker, topic, [b"0"], qos=1)
        await collector.wait_for(1)
    await publish(broker, topic, [str(i).encode() for i in range(1, 51)], qos=1)
    second = make_source(broker.url, topic, client_id=client_id, qos=1, cleanSession=False)
    async with running(second, collector.emit):
        await collector.wait_for(51)
    assert collector.payloads() == [str(i).encode() for i in range(51)]


# ---------------------------------------------------------------------------------------
# Broker outages


async def test_reconnects_after_a_broker_restart(
    broker: MqttBroker, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.source.mqtt")
    topic = unique("resume")
    source = make_source(broker.url, topic)
    async with running(source, collector.emit):
        await publish(broker, topic, [b"before"], qos=1)
        await collector.wait_for(1)
        await broker.stop()
        await until(lambda: not source.ready.is_set(), "ready cleared while the broker is down")
        await broker.start()
        await until(source.ready.is_set, "ready again once the broker is back")
        await publish(broker, topic, [b"after"], qos=1)
        await collector.wait_for(2)
    assert collector.payloads() == [b"before", b"after"]
    records = [r for r in caplog.records if r.name == "herald.source.mqtt"]
    lines = [r.getMessage() for r in records]
    assert sum("lost" in line for line in lines) == 1
    assert sum("subscribed" in line for line in lines) == 2
    assert not [r for r in records if r.levelno > logging.INFO and "cannot connect" in r.message]


async def test_qos1_loses_nothing_when_the_broker_restarts_mid_stream(
    broker: MqttBroker, collector: Collector
) -> None:
    if not broker.persistent:
        pytest.skip(
            f"{broker.kind} keeps no sessions across a restart; this needs Mosquitto "
            "(apt install mosquitto)"
        )
    topic = unique("stream")
    source = make_source(broker.url, topic, qos=1, cleanSession=False)
    payloads = [str(i).encode() for i in range(N)]
    collector.delay = 0.002
    async with running(source, collector.emit):
        publisher = asyncio.create_task(
            publish_through_outages(broker, topic, payloads), name="test-mqtt-publisher"
        )
        try:
            await until(lambda: len(collector.published) >= 20, "the stream started")
            await broker.restart()  # in the middle of the stream
            assert len(collector.published) < N, "the broker went away mid-stream"
            await until(source.ready.is_set, "ready again once the broker is back")
            await asyncio.wait_for(publisher, DEADLINE)
        finally:
            publisher.cancel()
            await asyncio.wait({publisher})
        await until(lambda: set(collector.payloads()) >= set(payloads), "every message")
    assert set(collector.payloads()) == set(payloads)


async def test_source_waits_for_a_broker_that_is_not_up_yet(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    late = MqttBroker(tmp_path / "late")
    source = make_source(late.url, "late")
    try:
        async with running(source, collector.emit, wait_ready=False):
            await until(lambda: "cannot connect" in caplog.text, "a warning about the broker")
            assert not source.ready.is_set()
            await late.start()
            await until(source.ready.is_set, "ready once the broker is up")
    finally:
        await late.close()
    warnings = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len([r for r in warnings if r.levelno == logging.WARNING]) == 1


# ---------------------------------------------------------------------------------------
# Authentication, URLs, registry


def put_secret(root: Path, name: str, key: str, value: str) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / key).write_text(value)


async def test_authenticates_with_username_and_password(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    users = {"herald": "s3cret-pw"}
    try:
        server = await MqttBroker(tmp_path / "auth", users=users).start()
    except RuntimeError as e:
        pytest.skip(f"needs Mosquitto for password files: {e}")
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "mqtt", "user", "herald\n")
    put_secret(secrets_dir, "mqtt", "password", "s3cret-pw\n")
    put_secret(secrets_dir, "mqtt", "wrong", "not-it\n")
    store = SecretStore(secrets_dir=secrets_dir)

    def auth(password_key: str) -> dict[str, Any]:
        return {
            "username": {"name": "mqtt", "key": "user"},
            "password": {"name": "mqtt", "key": password_key},
        }

    try:
        good = make_source(server.url, "secured", secrets=store, auth=auth("password"))
        async with running(good, collector.emit):
            await publish(server, "secured", [b"hi"], username="herald", password="s3cret-pw")
            await collector.wait_for(1)
        bad = make_source(server.url, "secured", secrets=store, auth=auth("wrong"))
        async with running(bad, collector.emit, wait_ready=False):
            await until(lambda: "cannot connect" in caplog.text, "a warning")
            assert not bad.ready.is_set()
    finally:
        await server.close()
    assert "not-it" not in caplog.text
    assert "s3cret" not in caplog.text


async def test_tls_with_a_ca_from_a_secret(
    tmp_path: Path, collector: Collector, certificate: Certificate
) -> None:
    key = tmp_path / "server.key"
    key.write_bytes(certificate.key)
    server = await MqttBroker(tmp_path / "tls", tls=(certificate.cert_path, key)).start()
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "mqtt-tls", "ca.crt", certificate.cert.decode())
    try:
        source = make_source(
            server.url,
            "secured",
            secrets=SecretStore(secrets_dir=secrets_dir),
            tls={"caCertSecret": {"name": "mqtt-tls", "key": "ca.crt"}},
        )
        assert server.url.startswith("ssl://")
        async with running(source, collector.emit):
            async with aiomqtt.Client(
                "127.0.0.1",
                server.port,
                identifier=unique("pub"),
                username=server.username,
                tls_context=certificate.client_context(),
            ) as publisher:
                await publisher.publish("secured", b"over tls", qos=1)
            await collector.wait_for(1)
    finally:
        await server.close()
    assert collector.payloads() == [b"over tls"]


# ---------------------------------------------------------------------------------------
# MQTT over websockets (ws://, wss://)

WS_PATH = "/herald/mqtt"
"""Not paho's default (/mqtt): a source that dropped the URL's path would not connect."""


@pytest.mark.parametrize("query", ["", "?token=s3cret"], ids=["path", "path-and-query"])
async def test_messages_arrive_over_websockets_with_argo_shape(
    tmp_path: Path, collector: Collector, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.source.mqtt")
    server = await MqttBroker(tmp_path / "ws", websocket_path=WS_PATH).start()
    try:
        assert server.ws_url.startswith("ws://")
        topic = unique("ws")
        source = make_source(server.ws_url + query, f"{topic}/+", qos=1, metadata={"via": "ws"})
        async with running(source, collector.emit):
            await publish(server, f"{topic}/a", [b"over", b"websockets"], qos=1)
            await collector.wait_for(2)
    finally:
        await server.close()
    assert collector.payloads() == [b"over", b"websockets"]
    first = collector.published[0]
    assert (first.source, first.type, first.subject) == (
        source.context.event_source,
        "mqtt",
        "example",
    )
    assert set(first.data) == {"topic", "messageId", "body", "metadata"}
    assert first.data["topic"] == f"{topic}/a"
    assert first.data["body"] == b64(b"over")
    assert first.data["metadata"] == {"via": "ws"}
    assert isinstance(first.data["messageId"], int)
    assert first.data["messageId"] > 0
    assert f"on ws://***@127.0.0.1:{server.ws_port}{WS_PATH}" in caplog.text
    assert "s3cret" not in caplog.text


async def test_a_wrong_websocket_path_is_a_clear_error_and_the_source_waits(
    tmp_path: Path, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="herald.source.mqtt")
    server = await MqttBroker(tmp_path / "ws", websocket_path="/mqtt").start()
    wrong = server.ws_url.removesuffix("/mqtt") + "/not-mqtt"
    source = make_source(wrong, "anything")
    try:
        async with running(source, collector.emit, wait_ready=False) as task:
            await until(lambda: "cannot connect" in caplog.text, "a warning about the path")
            # Retries go on (at DEBUG) until the url is fixed: neither ready nor crashed.
            await until(
                lambda: sum("cannot connect" in r.getMessage() for r in caplog.records) >= 3,
                "two more attempts",
            )
            assert not source.ready.is_set()
            assert not task.done()
    finally:
        await server.close()
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "cannot connect" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "at path '/not-mqtt'" in warnings[0]
    assert "check the path in url" in warnings[0]


async def test_wss_with_a_ca_from_a_secret(
    tmp_path: Path, collector: Collector, certificate: Certificate
) -> None:
    key = tmp_path / "server.key"
    key.write_bytes(certificate.key)
    server = MqttBroker(tmp_path / "wss", tls=(certificate.cert_path, key), websocket_path=WS_PATH)
    await server.start()
    secrets_dir = tmp_path / "secrets"
    put_secret(secrets_dir, "mqtt-tls", "ca.crt", certificate.cert.decode())
    try:
        assert server.ws_url.startswith("wss://")
        source = make_source(
            server.ws_url,
            "secured",
            secrets=SecretStore(secrets_dir=secrets_dir),
            tls={"caCertSecret": {"name": "mqtt-tls", "key": "ca.crt"}},
        )
        async with running(source, collector.emit):
            await publish(
                server, "secured", [b"over wss"], qos=1, tls_context=certificate.client_context()
            )
            await collector.wait_for(1)
    finally:
        await server.close()
    assert collector.payloads() == [b"over wss"]


async def test_wss_verifies_the_broker_certificate_without_tls_config(
    tmp_path: Path, collector: Collector, certificate: Certificate, caplog: pytest.LogCaptureFixture
) -> None:
    """wss:// alone is TLS with the system's CAs: a self-signed broker is not trusted."""
    key = tmp_path / "server.key"
    key.write_bytes(certificate.key)
    server = MqttBroker(tmp_path / "wss", tls=(certificate.cert_path, key), websocket_path=WS_PATH)
    await server.start()
    source = make_source(server.ws_url, "secured")
    try:
        async with running(source, collector.emit, wait_ready=False) as task:
            await until(lambda: "cannot connect" in caplog.text, "a warning about the certificate")
            assert not source.ready.is_set()
            assert not task.done()
    finally:
        await server.close()
    assert "certificate verify failed" in caplog.text


def test_broker_urls_parse_as_paho_reads_them() -> None:
    tcp = BrokerAddress.parse("tcp://broker:1884")
    assert (tcp.host, tcp.port, tcp.transport, tcp.tls) == ("broker", 1884, "tcp", False)
    assert BrokerAddress.parse("mqtt://broker").port == 1883
    ssl_ = BrokerAddress.parse("ssl://broker")
    assert (ssl_.port, ssl_.tls) == (8883, True)
    ws = BrokerAddress.parse("wss://user:p%40ss@broker/mqtt")
    assert (ws.transport, ws.tls, ws.port, ws.path) == ("websockets", True, 443, "/mqtt")
    assert (ws.username, ws.password) == ("user", "p@ss")
    plain = BrokerAddress.parse("ws://broker")
    assert (plain.transport, plain.tls, plain.port, plain.path) == ("websockets", False, 80, "/")
    assert BrokerAddress.parse("ws://broker:9001/mqtt?x=1&y=2").path == "/mqtt?x=1&y=2"
    assert tcp.path is None


def test_missing_secret_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        make_source(
            "tcp://127.0.0.1:1",
            "x",
            secrets=SecretStore(secrets_dir=tmp_path),
            auth={
                "username": {"name": "absent", "key": "u"},
                "password": {"name": "absent", "key": "p"},
            },
        )


def test_registry_names_the_mqtt_source() -> None:
    assert source_registry.factory("mqtt") is MQTTSource
