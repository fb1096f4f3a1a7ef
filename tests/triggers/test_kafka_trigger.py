"""The kafka trigger against a real Kafka-protocol broker (tansu, started by a fixture).

Each test produces to its own topic and reads the records back with a plain
aiokafka consumer: key, headers and value are what a downstream consumer sees.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from tests.brokers.kafka import KafkaBroker, free_port
from tests.brokers.kafka_tls import TLSFront
from tests.certs import Certificates
from triggers import base as trigger_registry
from triggers.base import TriggerContext
from triggers.kafka import EVENT_IDS_HEADER, KafkaTrigger, KafkaTriggerRunner

DEADLINE = 10.0
FAST = {"request_timeout_ms": 1500, "retry_backoff_ms": 50, "metadata_max_age_ms": 1000}
"""Producer options so that a firing against a dead broker fails within seconds."""

TRACEPARENT = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"


def unique(prefix: str = "topic") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as running:
        yield running


@pytest.fixture
def events() -> dict[str, Event]:
    return {
        "order": Event.new(
            source="shop",
            type="webhook",
            subject="order",
            id="order-1",
            data={"body": {"id": 42, "customer": "c-7", "items": [1, 2]}},
            extensions={"traceparent": TRACEPARENT},
        ),
        "payment": Event.new(
            source="bank", type="webhook", subject="paid", id="pay-9", data={"body": {"ok": True}}
        ),
    }


@pytest.fixture
async def runners() -> AsyncIterator[list[KafkaTriggerRunner]]:
    """Runners made by a test, closed afterwards."""
    made: list[KafkaTriggerRunner] = []
    try:
        yield made
    finally:
        for runner in made:
            await runner.close()


def make(
    runners: list[KafkaTriggerRunner],
    spec: Mapping[str, Any],
    context: TriggerContext,
    **options: Any,
) -> tuple[KafkaTriggerRunner, KafkaTrigger]:
    model = KafkaTrigger.model_validate(spec)
    runner = KafkaTriggerRunner(model, context, producer_options={**FAST, **options})
    runners.append(runner)
    return runner, model


async def read(broker: KafkaBroker, topic: str, count: int) -> list[Any]:
    """The first ``count`` records of every partition of ``topic``, oldest first."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer.topics()
            partitions = {0, 1, 2, 3}
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        records: list[Any] = []
        deadline = DEADLINE * 1000
        while len(records) < count and deadline > 0:
            batch = await consumer.getmany(timeout_ms=200)
            deadline -= 200
            for found in batch.values():
                records.extend(found)
        assert len(records) == count, f"{len(records)} records in {topic}, expected {count}"
        return sorted(records, key=lambda r: (r.timestamp, r.partition, r.offset))
    finally:
        await consumer.stop()


def secret(tmp_path: Path, name: str, key: str, value: str) -> None:
    folder = tmp_path / "secrets" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_text(value + "\n")


# ---------------------------------------------------------------------------------------


async def test_a_firing_produces_one_acknowledged_record_with_key_headers_and_payload(
    broker: KafkaBroker,
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
    tmp_path: Path,
) -> None:
    secret(tmp_path, "kafka-headers", "token", "s3cret")
    topic = unique()
    runner, spec = make(
        runners,
        {
            "url": broker.bootstrap,
            "topic": topic,
            "partitioningKey": "customer-c-7",
            "headers": {"source": "herald", "override": "fixed"},
            "secureHeaders": [
                {
                    "name": "override",
                    "valueFrom": {"secretKeyRef": {"name": "kafka-headers", "key": "token"}},
                }
            ],
            "payload": [
                {"src": {"dependencyName": "order", "dataKey": "body.id"}, "dest": "order"},
                {
                    "src": {"dependencyName": "order", "dataKey": "body.items", "useRawData": True},
                    "dest": "items",
                },
                {"src": {"dependencyName": "payment", "dataKey": "body.ok"}, "dest": "paid"},
            ],
        },
        context,
    )
    outcome = await runner.fire(spec, events)
    again = await runner.fire(spec, events)
    (first, second) = await read(broker, topic, 2)
    assert f"topic {topic}" in outcome
    assert f"partition {first.partition} offset {first.offset}" in outcome
    assert f"offset {second.offset}" in again
    assert first.key == b"customer-c-7"
    assert second.partition == first.partition, "one key, one partition"
    assert orjson.loads(first.value) == {"order": "42", "items": [1, 2], "paid": "true"}
    assert dict(first.headers) == {
        "source": b"herald",
        "override": b"s3cret",
        EVENT_IDS_HEADER: b"order-1,pay-9",
        "traceparent": TRACEPARENT.encode(),
    }


async def test_parameters_set_topic_and_key_from_the_event(
    broker: KafkaBroker,
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
) -> None:
    topic = unique()
    runner, spec = make(
        runners,
        {
            "url": broker.bootstrap,
            "topic": "placeholder",
            "payload": [
                {"src": {"dependencyName": "order", "dataKey": "body.customer"}, "dest": ""}
            ],
            "parameters": [
                {"src": {"dependencyName": "order", "value": topic}, "dest": "topic"},
                {
                    "src": {"dependencyName": "order", "dataKey": "body.customer"},
                    "dest": "partitioningKey",
                },
            ],
        },
        context,
    )
    await runner.fire(spec, events)
    (record,) = await read(broker, topic, 1)
    assert record.key == b"c-7"
    assert record.value == b"c-7", "a string payload goes as its text, unquoted (as Argo)"


@pytest.mark.parametrize("acks", [-1, 0, 1])
async def test_required_acks_and_compression(
    broker: KafkaBroker,
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
    caplog: pytest.LogCaptureFixture,
    acks: int,
) -> None:
    topic = unique()
    with caplog.at_level(logging.INFO, logger="herald.trigger.kafka"):
        runner, spec = make(
            runners,
            {
                "url": broker.bootstrap,
                "topic": topic,
                "requiredAcks": acks,
                "compress": True,
                "payload": [{"src": {"dependencyName": "order", "dataKey": "body"}, "dest": ""}],
            },
            context,
        )
    outcome = await runner.fire(spec, events)
    assert ("no ack asked" in outcome) == (acks == 0)
    (record,) = await read(broker, topic, 1)
    assert orjson.loads(record.value) == {"id": 42, "customer": "c-7", "items": [1, 2]}
    assert any("compressed with" in r.getMessage() for r in caplog.records)


async def test_nothing_resolved_sends_an_empty_value(
    broker: KafkaBroker, context: TriggerContext, runners: list[KafkaTriggerRunner]
) -> None:
    topic = unique()
    runner, spec = make(
        runners,
        {
            "url": broker.bootstrap,
            "topic": topic,
            "partitioningKey": "k",
            "payload": [{"src": {"dependencyName": "absent", "dataKey": "x"}, "dest": "x"}],
        },
        context,
    )
    await runner.fire(spec, {})
    (record,) = await read(broker, topic, 1)
    assert record.value == b""


async def test_unreachable_brokers_are_a_temporary_failure_until_they_answer(
    context: TriggerContext, events: dict[str, Event], runners: list[KafkaTriggerRunner]
) -> None:
    own = KafkaBroker()
    try:
        topic = unique()
        runner, spec = make(
            runners,
            {
                "url": own.bootstrap,
                "topic": topic,
                "payload": [
                    {"src": {"dependencyName": "order", "dataKey": "body.id"}, "dest": "id"}
                ],
            },
            context,
        )
        with pytest.raises(TemporaryTriggerError, match="cannot connect"):
            await runner.fire(spec, events)
        own.start()
        await runner.fire(spec, events)
        own.stop()
        with pytest.raises(TemporaryTriggerError, match=topic):
            await runner.fire(spec, events)
        own.start()  # empty again (memory storage): the record below is the only one
        await runner.fire(spec, events)
        (record,) = await read(own, topic, 1)
        assert orjson.loads(record.value) == {"id": "42"}
    finally:
        own.close()


async def test_a_record_too_large_is_a_permanent_failure(
    broker: KafkaBroker, context: TriggerContext, runners: list[KafkaTriggerRunner]
) -> None:
    big = {"blob": Event.new(source="s", type="t", subject="e", id="b", data={"x": "y" * 70_000})}
    runner, spec = make(
        runners,
        {
            "url": broker.bootstrap,
            "topic": unique(),
            "payload": [{"src": {"dependencyName": "blob", "dataKey": "x"}, "dest": "x"}],
        },
        context,
        max_request_size=65_536,
    )
    with pytest.raises(PermanentTriggerError, match="larger than"):
        await runner.fire(spec, big)


async def test_an_invalid_topic_is_a_permanent_failure_without_a_broker_trip(
    context: TriggerContext, events: dict[str, Event], runners: list[KafkaTriggerRunner]
) -> None:
    runner, spec = make(
        runners,
        {
            "url": "127.0.0.1:1",
            "topic": "placeholder",
            "payload": [],
            "parameters": [
                {"src": {"dependencyName": "order", "value": "bad topic!"}, "dest": "topic"}
            ],
        },
        context,
    )
    with pytest.raises(PermanentTriggerError, match="not a valid Kafka topic"):
        await runner.fire(spec, events)


def test_unsupported_or_unreadable_settings_are_refused_at_start(
    context: TriggerContext, tmp_path: Path
) -> None:
    base = {"url": "127.0.0.1:9092", "topic": "t", "payload": []}
    with pytest.raises(ConfigError, match="schemaRegistry"):
        KafkaTriggerRunner(
            KafkaTrigger.model_validate({**base, "schemaRegistry": {"url": "http://r"}}), context
        )
    ref = {"name": "kafka-user", "key": "name"}
    with pytest.raises(ConfigError, match="kafka-user"):
        KafkaTriggerRunner(
            KafkaTrigger.model_validate(
                {**base, "sasl": {"userSecret": ref, "passwordSecret": ref}}
            ),
            TriggerContext("s", "t", secrets=SecretStore(secrets_dir=tmp_path)),
        )
    with pytest.raises(ConfigError, match="GSSAPI"):
        KafkaTriggerRunner(
            KafkaTrigger.model_validate(
                {**base, "sasl": {"mechanism": "GSSAPI", "userSecret": ref, "passwordSecret": ref}}
            ),
            context,
        )


def test_the_registry_runs_kafka_with_this_runner() -> None:
    assert trigger_registry.factory("kafka") is KafkaTriggerRunner


# ---------------------------------------------------------------------------------------
# TLS (through a TLS front: tansu 0.6.0 serves none) and SASL (tansu refuses every login).


async def test_tls_with_a_client_certificate_stores_the_record(
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
    tmp_path: Path,
) -> None:
    certs = Certificates.make(tmp_path / "certs")
    secret(tmp_path, "kafka-tls", "ca.crt", certs.ca.read_text())
    secret(tmp_path, "kafka-tls", "tls.crt", certs.client_cert.read_text())
    secret(tmp_path, "kafka-tls", "tls.key", certs.client_key.read_text())
    topic, port = unique(), free_port()
    with KafkaBroker(advertised_port=port) as own:
        async with TLSFront(
            certs.server_context(require_client_cert=True), own.port, port
        ) as front:
            runner, spec = make(
                runners,
                {
                    "url": front.bootstrap,
                    "topic": topic,
                    "payload": [
                        {"src": {"dependencyName": "order", "dataKey": "body.id"}, "dest": "id"}
                    ],
                    "tls": {
                        "caCertSecret": {"name": "kafka-tls", "key": "ca.crt"},
                        "clientCertSecret": {"name": "kafka-tls", "key": "tls.crt"},
                        "clientKeySecret": {"name": "kafka-tls", "key": "tls.key"},
                    },
                },
                context,
            )
            outcome = await runner.fire(spec, events)
            assert front.handshakes >= 1, "the producer connected through TLS"
            consumer = AIOKafkaConsumer(
                bootstrap_servers=front.bootstrap,
                auto_offset_reset="earliest",
                security_protocol="SSL",
                ssl_context=client_context(certs),
            )
            await consumer.start()
            try:
                consumer.subscribe([topic])
                async with asyncio.timeout(DEADLINE):
                    record = await consumer.getone()
            finally:
                await consumer.stop()
    assert f"offset {record.offset}" in outcome
    assert orjson.loads(record.value) == {"id": "42"}


async def test_an_untrusted_broker_certificate_is_a_permanent_failure(
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
    tmp_path: Path,
) -> None:
    certs = Certificates.make(tmp_path / "certs")
    secret(tmp_path, "kafka-tls", "ca.crt", certs.other_ca.read_text())
    port = free_port()
    with KafkaBroker(advertised_port=port) as own:
        async with TLSFront(certs.server_context(), own.port, port) as front:
            runner, spec = make(
                runners,
                {
                    "url": front.bootstrap,
                    "topic": unique(),
                    "payload": [],
                    "tls": {"caCertSecret": {"name": "kafka-tls", "key": "ca.crt"}},
                },
                context,
            )
            with pytest.raises(PermanentTriggerError) as refused:
                await runner.fire(spec, events)
    message = str(refused.value)
    assert (
        f"brokers {front.bootstrap} sent a TLS certificate this producer does not trust" in message
    )
    assert "kafka.tls.caCertSecret" in message


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_refused_sasl_login_is_a_permanent_failure(
    context: TriggerContext,
    events: dict[str, Event],
    runners: list[KafkaTriggerRunner],
    tmp_path: Path,
    mechanism: str,
) -> None:
    # tansu refuses every SCRAM login (it stores no credentials; see tests.brokers.kafka),
    # so this is the wrong-password case.
    secret(tmp_path, "kafka-user", "user", "alice")
    secret(tmp_path, "kafka-user", "password", "not-her-password")
    with KafkaBroker(authentication=True) as own:
        runner, spec = make(
            runners,
            {
                "url": own.bootstrap,
                "topic": unique(),
                "payload": [],
                "sasl": {
                    "mechanism": mechanism,
                    "userSecret": {"name": "kafka-user", "key": "user"},
                    "passwordSecret": {"name": "kafka-user", "key": "password"},
                },
            },
            context,
        )
        with pytest.raises(PermanentTriggerError) as refused:
            await runner.fire(spec, events)
    message = str(refused.value)
    assert f"brokers {own.bootstrap} refused the {mechanism} login of user 'alice'" in message
    assert "kafka.sasl.userSecret and kafka.sasl.passwordSecret" in message
    assert "not-her-password" not in message


def client_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(certs.client_cert, certs.client_key)
    return context
