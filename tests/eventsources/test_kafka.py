"""The kafka source against a real Kafka-protocol broker (tansu, started by a fixture).

Every test uses its own topic and group on a broker shared by the module; the
restart tests have a broker of their own, the fault tests one that keeps its
data in S3 storage. Waits are on conditions with a deadline. Consumer groups
use short session timeouts (``FAST_GROUP``): tansu starts groups at generation
0, for which aiokafka sends no LeaveGroup. TLS goes through a TLS front
(``tests.brokers.kafka_tls``: tansu 0.6.0 serves no TLS); SASL can only be
refused by tansu, so only refusals are tested.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from bus.event import Event
from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.kafka import GoTimestamps, KafkaEventSource, KafkaSource, stop_client
from eventsources.source import EmitResult, SourceContext
from herald.core.errors import BusError, ConfigError, SecretError
from herald.core.refs import SecretStore
from tests.brokers.kafka import FAST_GROUP, KafkaBroker, free_port
from tests.brokers.kafka_tls import TLSFront
from tests.certs import Certificates
from tests.eventsources.conftest import running, unique, until_ready

DEADLINE = 15.0
"""Seconds any wait may take before the test fails."""


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as running:
        yield running


@dataclass
class Recorder:
    """An emit that publishes to the bus; remembers every call, its result and its time."""

    bus: MemoryBus
    calls: list[tuple[Event, EmitResult]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    fail_first: dict[str, int] = field(default_factory=dict)
    """Event id -> how many emits of it raise BusError before one succeeds."""
    block_on: str | None = None
    """Event id whose emit publishes, then never returns (a crash before the commit)."""
    attempts: list[str] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def emit(self, event: Event) -> EmitResult:
        self.attempts.append(event.id)
        if self.fail_first.get(event.id, 0) > 0:
            self.fail_first[event.id] -= 1
            raise BusError(f"event {event.id}: the bus is down (test)")
        result = EmitResult.PUBLISHED if await self.bus.publish(event) else EmitResult.DUPLICATE
        async with self._changed:
            self.calls.append((event, result))
            self.times.append(time.monotonic())
            self._changed.notify_all()
        if event.id == self.block_on:
            await asyncio.Event().wait()
        return result

    @property
    def published(self) -> list[Event]:
        return [event for event, result in self.calls if result is EmitResult.PUBLISHED]

    async def wait_for(self, predicate: Callable[[], bool], deadline: float = DEADLINE) -> None:
        async with asyncio.timeout(deadline), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_published(self, count: int) -> list[Event]:
        await self.wait_for(lambda: len(self.published) >= count)
        return self.published


def make_source(
    broker: KafkaBroker,
    event_source: str,
    spec: dict[str, Any],
    *,
    secrets: SecretStore | None = None,
    probe_interval: float = 0.1,
    consumer_options: dict[str, Any] | None = None,
) -> KafkaSource:
    config = KafkaEventSource.model_validate({"url": broker.bootstrap, **spec})
    context = SourceContext(event_source, "ev", secrets=secrets or SecretStore())
    options = {**FAST_GROUP, **(consumer_options or {})}
    return KafkaSource(config, context, consumer_options=options, probe_interval=probe_interval)


async def eventually(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail after the deadline, saying ``what`` was awaited."""
    deadline = time.monotonic() + DEADLINE
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {DEADLINE}s")
        await asyncio.sleep(0.02)


async def wait_not_ready(source: KafkaSource) -> None:
    await eventually(lambda: not source.ready.is_set(), "the source reports not ready")


async def wait_logged(caplog: pytest.LogCaptureFixture, text: str, count: int = 1) -> None:
    """Wait until ``text`` appears in ``count`` captured log lines."""
    await eventually(
        lambda: sum(text in r.getMessage() for r in caplog.records) >= count,
        f"{count} log lines with {text!r}",
    )


@asynccontextmanager
async def producer(broker: KafkaBroker) -> AsyncIterator[Any]:
    client = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def produce(
    broker: KafkaBroker,
    topic: str,
    values: Sequence[bytes | None],
    *,
    partition: int | None = None,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
) -> list[Any]:
    """Produce ``values`` in order; return their RecordMetadata."""
    async with producer(broker) as client:
        return [
            await client.send_and_wait(
                topic, value, key=key, partition=partition, headers=list(headers) or None
            )
            for value in values
        ]


def ids(event_source: str, metadata: Sequence[Any]) -> list[str]:
    return [f"{event_source}:ev:{m.topic}:{m.partition}:{m.offset}" for m in metadata]


async def wait_topic(broker: KafkaBroker, topic: str) -> None:
    """Wait until the broker lists ``topic`` (asking does not create it)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
    await consumer.start()

    async def listed() -> bool:
        return topic in await consumer.topics()

    try:
        await eventually(listed, f"topic {topic} exists")
    finally:
        await consumer.stop()


async def is_committed(
    broker: KafkaBroker, group: str, topic: str, partition: int, offset: int
) -> bool:
    return await committed(broker, group, topic, partition) == offset


async def committed(broker: KafkaBroker, group: str, topic: str, partition: int) -> int | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(DEADLINE):
            offset: int | None = await consumer.committed(TopicPartition(topic, partition))
            return offset
    finally:
        await consumer.stop()


# ---------------------------------------------------------------------------------------


async def test_group_delivers_each_record_once_in_argo_shape(
    broker: KafkaBroker, bus: MemoryBus
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    before = await produce(
        broker,
        topic,
        [orjson.dumps({"n": n}) for n in range(20)],
        key=b"order-7",
        headers=[
            ("trace", b"abc"),
            ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
        ],
    )
    source = make_source(
        broker,
        es,
        {
            "topic": topic,
            "consumerGroup": {"groupName": group, "oldest": True},
            "jsonBody": True,
            "metadata": {"team": "payments"},
        },
    )
    recorder = Recorder(bus)
    async with running(source, recorder.emit):
        after = await produce(broker, topic, [orjson.dumps({"n": n}) for n in range(20, 30)])
        events = await recorder.wait_published(30)
        expected = ids(es, before + after)
        assert sorted(e.id for e in events) == sorted(expected)
        assert len(recorder.calls) == 30, "a record was emitted twice"
        # Every offset is committed once the bus has the events.
        ends = {m.partition: m.offset + 1 for m in sorted(before + after, key=lambda m: m.offset)}

        async def all_committed() -> bool:
            return all(
                [await is_committed(broker, group, topic, p, end) for p, end in ends.items()]
            )

        await eventually(all_committed, "every offset committed")

    first = next(e for e in events if e.id == expected[0])
    record = before[0]
    assert (first.source, first.type, first.subject) == (es, "kafka", "ev")
    assert first.data == {
        "topic": topic,
        "key": "order-7",
        "partition": record.partition,
        "body": {"n": 0},
        "timestamp": GoTimestamps().format(record.timestamp),
        "headers": {"trace": "abc", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        "metadata": {"team": "payments"},
    }
    assert first.extensions["traceparent"].startswith("00-aaaa")
    assert list(first.data) == [
        "topic",
        "key",
        "partition",
        "body",
        "timestamp",
        "headers",
        "metadata",
    ]
    stamp = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    assert first.data["timestamp"].startswith(stamp.strftime("%Y-%m-%d %H:%M:%S"))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,3})? \+0000 UTC", first.data["timestamp"]
    )
    late = next(e for e in events if e.id == expected[-1])
    assert (late.data["key"], late.data["headers"], late.data["body"]) == ("", {}, {"n": 29})


def test_go_timestamps_match_go_time_string() -> None:
    stamps = GoTimestamps()
    assert stamps.format(1_767_366_245_123) == "2026-01-02 15:04:05.123 +0000 UTC"
    assert stamps.format(1_767_366_245_120) == "2026-01-02 15:04:05.12 +0000 UTC"
    assert stamps.format(1_767_366_245_000) == "2026-01-02 15:04:05 +0000 UTC"
    assert stamps.format(-1) == "1969-12-31 23:59:59.999 +0000 UTC"


async def test_cancel_between_emit_and_commit_replays_and_the_bus_drops_the_duplicate(
    broker: KafkaBroker, bus: MemoryBus
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    metadata = await produce(broker, topic, [b'{"n": %d}' % n for n in range(10)], partition=0)
    expected = ids(es, metadata)
    spec = {"topic": topic, "consumerGroup": {"groupName": group, "oldest": True}, "jsonBody": True}

    first_run = Recorder(bus, block_on=expected[4])
    async with running(make_source(broker, es, spec), first_run.emit):
        # The 5th record is on the bus, but its emit never returns: no commit for it.
        await first_run.wait_published(5)
    assert [e.id for e in first_run.published] == expected[:5]
    assert await committed(broker, group, topic, 0) == 4, "only what emit returned is committed"

    second_run = Recorder(bus)
    async with running(make_source(broker, es, spec), second_run.emit):
        await second_run.wait_for(lambda: len(second_run.calls) >= 6)
    replayed = [(e.id, result) for e, result in second_run.calls]
    assert replayed[0] == (expected[4], EmitResult.DUPLICATE), "the record is read again"
    assert [i for i, _ in replayed] == expected[4:], "records already committed are not replayed"
    assert all(result is EmitResult.PUBLISHED for _, result in replayed[1:])
    published = [e.id for e in first_run.published + second_run.published]
    assert sorted(published) == sorted(expected), "each record reaches the bus exactly once"


async def test_partition_mode_reads_one_partition_from_the_newest_offset(
    broker: KafkaBroker, bus: MemoryBus
) -> None:
    es, topic = unique("es"), unique("topic")
    await produce(broker, topic, [b"old-1", b"old-2"], partition=1)
    source = make_source(broker, es, {"topic": topic, "partition": "1"})
    recorder = Recorder(bus)
    async with running(source, recorder.emit):
        await produce(broker, topic, [b"other"], partition=0)
        fresh = await produce(
            broker, topic, [b"\x00\xffbinary", None, b"plain"], partition=1, key=b"\xffk"
        )
        events = await recorder.wait_published(3)
    assert [e.id for e in events] == ids(es, fresh)
    assert [e.data["body"] for e in events] == [
        base64.b64encode(b"\x00\xffbinary").decode(),
        None,
        base64.b64encode(b"plain").decode(),
    ]
    assert all(e.data["partition"] == 1 and e.data["key"] == "\ufffdk" for e in events)
    assert len(recorder.calls) == 3, "old records and other partitions are not read"
    assert "metadata" not in events[0].data


async def test_limit_events_per_second_paces_emits(broker: KafkaBroker, bus: MemoryBus) -> None:
    es, topic = unique("es"), unique("topic")
    source = make_source(broker, es, {"topic": topic, "partition": "0", "limitEventsPerSecond": 20})
    recorder = Recorder(bus)
    async with running(source, recorder.emit):
        await produce(broker, topic, [b"x"] * 8, partition=0)
        await recorder.wait_published(8)
    spread = recorder.times[-1] - recorder.times[0]
    assert spread >= 7 / 20 - 0.02, f"8 events at 20/s took only {spread:.3f}s"


async def test_bad_json_is_logged_and_skipped_and_its_offset_committed(
    broker: KafkaBroker, bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    deep = b"[" * 200 + b"]" * 200
    metadata = await produce(
        broker, topic, [b'{"ok": 1}', b"not json", b'{"ok": 2}', deep, b'{"ok": 3}'], partition=0
    )
    expected = ids(es, metadata)
    spec = {"topic": topic, "consumerGroup": {"groupName": group, "oldest": True}, "jsonBody": True}
    recorder = Recorder(bus)
    with caplog.at_level(logging.WARNING, logger="herald.source.kafka"):
        async with running(make_source(broker, es, spec), recorder.emit):
            events = await recorder.wait_published(3)
            await eventually(lambda: is_committed(broker, group, topic, 0, 5), "offset 5 committed")
    assert [e.data["body"] for e in events] == [{"ok": 1}, {"ok": 2}, {"ok": 3}]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert expected[1] in skipped[0]
    assert "not JSON" in skipped[0]
    assert expected[3] in skipped[1]
    assert "deeper" in skipped[1]


async def test_a_bus_error_holds_the_partition_and_retries_without_skipping(
    broker: KafkaBroker, bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    es, topic = unique("es"), unique("topic")
    spec = {"topic": topic, "partition": "0", "connectionBackoff": {"duration": "20ms"}}
    source = make_source(broker, es, spec)
    recorder = Recorder(bus)
    with caplog.at_level(logging.INFO, logger="herald.source.kafka"):
        async with running(source, recorder.emit):
            # The offsets of the next records are known once the source is positioned.
            end = (await produce(broker, topic, [b"0"], partition=0))[0].offset
            expected = [f"{es}:ev:{topic}:0:{end + n}" for n in range(5)]
            recorder.fail_first[expected[2]] = 3
            await produce(broker, topic, [b"1", b"2", b"3", b"4"], partition=0)
            events = await recorder.wait_published(5)
    assert [e.id for e in events] == expected, "in order, nothing skipped, nothing twice"
    assert recorder.attempts.count(expected[2]) == 4
    assert recorder.attempts.count(expected[3]) == 1, "later records wait for the failed one"
    messages = [r.getMessage() for r in caplog.records]
    assert sum("did not take" in m for m in messages) == 1, "one line per state change"
    assert sum("takes events again" in m for m in messages) == 1


async def test_broker_restart_reconnects_and_resumes(
    bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    spec = {
        "topic": topic,
        "consumerGroup": {"groupName": group, "oldest": True},
        "connectionBackoff": {"duration": "50ms"},
    }
    with KafkaBroker() as own, caplog.at_level(logging.INFO, logger="herald.source.kafka"):
        source = make_source(own, es, spec)
        recorder = Recorder(bus)
        async with running(source, recorder.emit):
            before = await produce(own, topic, [b"a", b"b", b"c"], partition=0)
            await recorder.wait_published(3)
            await asyncio.to_thread(own.stop)
            await wait_not_ready(source)
            await asyncio.to_thread(own.start)  # same port; tansu's memory storage is empty
            await until_ready(source)
            await wait_topic(own, topic)  # re-created by the source: avoid a creation race
            # Fresh offsets restart at 0 on an empty broker: use another partition so that
            # the new records' ids differ from the old ones.
            after = await produce(own, topic, [b"d", b"e", b"f"], partition=1)
            events = await recorder.wait_published(6)
    assert sorted(e.id for e in events) == sorted(ids(es, before + after))
    assert len(recorder.calls) == 6
    lost = [r for r in caplog.records if "not ready until they answer" in r.getMessage()]
    assert len(lost) == 1, "one log line for the outage, not one per probe"
    assert sum("consuming topic" in r.getMessage() for r in caplog.records) == 2


async def test_not_ready_while_the_broker_is_down_at_start(
    bus: MemoryBus, caplog: pytest.LogCaptureFixture
) -> None:
    es, topic = unique("es"), unique("topic")
    own = KafkaBroker()
    try:
        source = make_source(
            own, es, {"topic": topic, "partition": "0", "connectionBackoff": {"duration": "20ms"}}
        )
        recorder = Recorder(bus)
        task = asyncio.create_task(source.run(recorder.emit), name="test-kafka-down")
        try:
            with caplog.at_level(logging.DEBUG, logger="herald.source.kafka"):
                await wait_logged(caplog, "reconnecting in", count=3)
            assert not source.ready.is_set()
            assert sum("unavailable" in r.getMessage() for r in caplog.records) == 3
            assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
            await asyncio.to_thread(own.start)
            await until_ready(source, task)
            sent = await produce(own, topic, [b"late"], partition=0)
            assert [e.id for e in await recorder.wait_published(1)] == ids(es, sent)
        finally:
            task.cancel()
            await asyncio.wait({task})
    finally:
        own.close()


@pytest.mark.parametrize("cancelled", [False, True], ids=["stray", "own"])
async def test_stopping_a_client_whose_fetch_backs_off_raises_only_our_cancellation(
    caplog: pytest.LogCaptureFixture, cancelled: bool
) -> None:
    # A group member stops its client when it rejoins after an outage. aiokafka's stop()
    # then raises the CancelledError of a fetch sleeping in its retry backoff (long
    # here, so that the fetch surely sleeps): it must not end the source.
    topic = unique("topic")
    with KafkaBroker() as own:
        await produce(own, topic, [b"x"], partition=0)
        client = AIOKafkaConsumer(
            bootstrap_servers=own.bootstrap, retry_backoff_ms=3000, enable_auto_commit=False
        )
        await client.start()
        tp = TopicPartition(topic, 0)
        client.assign([tp])
        await client.seek_to_end(tp)
        with caplog.at_level(logging.ERROR, logger="aiokafka.consumer.fetcher"):
            await client.getmany(timeout_ms=100)
            await asyncio.to_thread(own.stop)
            await wait_logged(caplog, "Failed fetch messages")

    async def stop() -> None:
        if cancelled:
            current = asyncio.current_task()
            assert current is not None
            current.cancel()
        await stop_client(client, "test")

    task = asyncio.create_task(stop(), name=unique("test-kafka-stop"))
    await asyncio.wait({task})
    assert task.cancelled() is cancelled
    assert not client._client._conns, "every connection is closed"


def test_unsupported_settings_are_refused_before_start(tmp_path: Path) -> None:
    base = {"url": "127.0.0.1:9092", "topic": "t", "partition": "0"}
    context = SourceContext("es", "ev", secrets=SecretStore(secrets_dir=tmp_path))
    registry = KafkaEventSource.model_validate({**base, "schemaRegistry": {"url": "http://r"}})
    with pytest.raises(ConfigError, match="schemaRegistry"):
        KafkaSource(registry, context)
    iam = KafkaEventSource.model_validate({**base, "awsMskIamAuth": {"region": "eu-west-1"}})
    with pytest.raises(ConfigError, match="awsMskIamAuth"):
        KafkaSource(iam, context)
    secret = {"name": "kafka", "key": "user"}
    gssapi = KafkaEventSource.model_validate(
        {**base, "sasl": {"mechanism": "GSSAPI", "userSecret": secret, "passwordSecret": secret}}
    )
    with pytest.raises(ConfigError, match="GSSAPI"):
        KafkaSource(gssapi, context)
    plain = KafkaEventSource.model_validate(
        {**base, "sasl": {"userSecret": secret, "passwordSecret": secret}}
    )
    with pytest.raises(SecretError, match="kafka"):
        KafkaSource(plain, context)


def test_the_registry_runs_kafka_with_this_source() -> None:
    assert source_registry.factory("kafka") is KafkaSource


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "sticky"])
async def test_a_second_member_takes_partitions_and_nothing_is_lost(
    broker: KafkaBroker, bus: MemoryBus, strategy: str
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    spec = {
        "topic": topic,
        "consumerGroup": {"groupName": group, "oldest": True, "rebalanceStrategy": strategy},
    }

    async def spread(start: int) -> list[Any]:
        sent = []
        for partition in range(4):  # tansu makes 4 partitions
            values = [b"%d" % n for n in range(start + 3 * partition, start + 3 * partition + 3)]
            sent += await produce(broker, topic, values, partition=partition)
        return sent

    one, two = Recorder(bus), Recorder(bus)
    first = make_source(broker, es, spec)
    async with running(first, one.emit):
        before = await spread(0)
        await one.wait_published(12)
        second = make_source(broker, es, spec)
        async with running(second, two.emit):
            after = await spread(12)
            await eventually(
                lambda: len(one.published) + len(two.published) >= 24, "all records published"
            )
    published = one.published + two.published
    assert sorted(e.id for e in published) == sorted(ids(es, before + after))
    assert two.published, "the second member consumed partitions of its own"
    assert all(result is EmitResult.PUBLISHED for _, result in two.calls), (
        "the second member does not replay what the first committed"
    )


# ---------------------------------------------------------------------------------------
# A broker that keeps its data (s3 storage) stopped in the middle of a stream.


@dataclass
class Stream:
    """A producer that writes ``{"n": 0}``, ``{"n": 1}``, … in order until told to stop.

    Each record is retried until acked, one in flight at a time. The producer is
    not idempotent (tansu has no idempotent producer), so the record in flight
    when the broker dies may be stored twice: written before the crash, its
    answer lost, sent again after.
    """

    broker: KafkaBroker
    topic: str
    acked: list[Any] = field(default_factory=list)
    sent: int = 0
    """How many numbers were produced (each acked once)."""
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        client = AIOKafkaProducer(
            bootstrap_servers=self.broker.bootstrap,
            enable_idempotence=False,
            request_timeout_ms=5000,
            retry_backoff_ms=50,
        )
        await client.start()
        try:
            while not self.enough.is_set():
                n = self.sent
                value, key = orjson.dumps({"n": n}), b"k%d" % (n % 5)
                while True:
                    try:
                        self.acked.append(await client.send_and_wait(self.topic, value, key=key))
                        break
                    except KafkaError:
                        await asyncio.sleep(0.05)  # the broker is away: pace the retries
                self.sent = n + 1
        finally:
            await client.stop()

    async def wait_acked(self, count: int) -> None:
        await eventually(lambda: len(self.acked) >= count, f"{count} records acked")


async def stored(broker: KafkaBroker, stream: Stream) -> dict[str, Any]:
    """Every record the stream stored: ``<topic>:<partition>:<offset>`` -> its body.

    Read up to the last acked offset of each partition: tansu's ListOffsets on S3
    storage answers the end of the batch written first in the newest second (it
    goes by the objects' modification times), so ``end_offsets`` can lag.
    """
    ends: dict[Any, int] = {}
    for m in stream.acked:
        tp = TopicPartition(m.topic, m.partition)
        ends[tp] = max(ends.get(tp, 0), m.offset + 1)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        records: dict[str, Any] = {}
        async with asyncio.timeout(DEADLINE):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.update(
                        {
                            f"{r.topic}:{r.partition}:{r.offset}": orjson.loads(r.value)
                            for r in batch
                        }
                    )
        return records
    finally:
        await consumer.stop()


async def committed_offsets(broker: KafkaBroker, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of each partition of ``topic`` that has one."""
    found = {}
    for partition in range(4):  # tansu makes 4 partitions
        offset = await committed(broker, group, topic, partition)
        if offset is not None:
            found[partition] = offset
    return found


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_broker_stopped_mid_stream_and_restarted_loses_nothing(
    bus: MemoryBus, caplog: pytest.LogCaptureFixture, kill: bool
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    spec = {
        "topic": topic,
        "consumerGroup": {"groupName": group, "oldest": True},
        "jsonBody": True,
        "connectionBackoff": {"duration": "50ms"},
    }
    with KafkaBroker(storage="s3") as own, caplog.at_level(logging.INFO, "herald.source.kafka"):
        source = make_source(own, es, spec)
        recorder = Recorder(bus)
        stream = Stream(own, topic)
        async with running(source, recorder.emit) as consuming:
            producing = asyncio.create_task(stream.run(), name=unique("test-kafka-stream"))
            try:
                await recorder.wait_published(60)
                before: dict[int, int] = {}

                async def some_committed() -> bool:
                    before.update(await committed_offsets(own, group, topic))
                    return bool(before)

                await eventually(some_committed, "offsets committed while streaming")
                # SIGTERM: tansu serves its open connections for up to 5 s, then drops them.
                await asyncio.to_thread(own.stop, kill=kill)
                acked_before = len(stream.acked)
                await wait_not_ready(source)
                emitted_before = {e.id for e, _ in recorder.calls}
                await asyncio.to_thread(own.start)  # same port, same bucket
                kept = await committed_offsets(own, group, topic)
                await until_ready(source, consuming)
                await stream.wait_acked(acked_before + 60)
                stream.enough.set()
                async with asyncio.timeout(DEADLINE):
                    await producing
            finally:
                producing.cancel()
                await asyncio.wait({producing})
            log = {f"{es}:ev:{where}": body for where, body in (await stored(own, stream)).items()}
            await recorder.wait_for(lambda: len(recorder.published) >= len(log))
        after = await committed_offsets(own, group, topic)

    # Nothing lost, nothing twice: the bus holds exactly the broker's log, each record once.
    assert len(emitted_before) < len(log), "the stream went on after the restart"
    published = [e.id for e in recorder.published]
    assert sorted(published) == sorted(log), "each stored record reached the bus once"
    acked = {f"{es}:ev:{m.topic}:{m.partition}:{m.offset}" for m in stream.acked}
    assert acked <= set(log), "every acknowledged record is on the broker"
    bodies = sorted(e.data["body"]["n"] for e in recorder.published)
    assert bodies == sorted(body["n"] for body in log.values())
    assert set(bodies) == set(range(stream.sent)), "every produced record reached the bus"
    assert len(bodies) - stream.sent <= 1, "only the record in flight at the crash is stored twice"

    # Committed offsets survived the restart: the broker still had them, and the group
    # did not start over. The only records read again are some emitted before the
    # outage and not committed when it began; the bus dropped them as duplicates.
    assert all(kept.get(p, -1) >= offset for p, offset in before.items()), (kept, before)
    replayed = [e.id for e, result in recorder.calls if result is EmitResult.DUPLICATE]
    assert set(replayed) <= emitted_before
    for event_id in replayed:
        partition, offset = (int(part) for part in event_id.rsplit(":", 2)[1:])
        assert offset >= before.get(partition, 0), f"{event_id} was committed, yet read again"
    assert len(recorder.calls) == len(log) + len(replayed)
    ends: dict[int, int] = {}
    for event_id in log:
        partition, offset = (int(part) for part in event_id.rsplit(":", 2)[1:])
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    assert after == ends, "every offset is committed at the end"
    outages = [r for r in caplog.records if "not ready until they answer" in r.getMessage()]
    assert len(outages) == 1, "one log line for the outage"


# ---------------------------------------------------------------------------------------
# TLS (through a TLS front: tansu 0.6.0 serves none) and SASL (tansu refuses every login).


def write_secret(root: Path, name: str, key: str, value: str | bytes) -> dict[str, str]:
    """A secret file as the SecretStore reads it; its ``{name, key}`` reference."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_bytes(value if isinstance(value, bytes) else value.encode())
    return {"name": name, "key": key}


def tls_spec(root: Path, certs: Certificates, *, ca: Path, client_cert: bool) -> dict[str, Any]:
    tls: dict[str, Any] = {
        "caCertSecret": write_secret(root, "kafka-tls", "ca.crt", ca.read_bytes())
    }
    if client_cert:
        tls["clientCertSecret"] = write_secret(
            root, "kafka-tls", "tls.crt", certs.client_cert.read_bytes()
        )
        tls["clientKeySecret"] = write_secret(
            root, "kafka-tls", "tls.key", certs.client_key.read_bytes()
        )
    return tls


def client_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(certs.client_cert, certs.client_key)
    return context


async def run_refused(
    source: KafkaSource, caplog: pytest.LogCaptureFixture, text: str
) -> list[logging.LogRecord]:
    """Run ``source`` until it retried three times; its error lines. It must stay not ready."""
    bus = MemoryBus()
    await bus.start()
    recorder = Recorder(bus)
    task = asyncio.create_task(source.run(recorder.emit), name=unique("test-kafka-refused"))
    try:
        with caplog.at_level(logging.DEBUG, logger="herald.source.kafka"):
            await eventually(
                lambda: (
                    task.done()
                    or sum("reconnecting in" in r.getMessage() for r in caplog.records) >= 3
                ),
                "three retries",
            )
            if task.done():
                task.result()
                raise AssertionError("the source returned")
            assert not source.ready.is_set()
    finally:
        task.cancel()
        await asyncio.wait({task})
        await bus.close()
    assert task.cancelled(), "the source ended only when cancelled"
    errors = [
        r for r in caplog.records if r.name == "herald.source.kafka" and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1, "one error line for the refusal, not one per retry"
    assert text in errors[0].getMessage()
    return errors


@pytest.mark.parametrize("mutual", [False, True], ids=["server-cert", "client-cert-too"])
async def test_tls_to_the_brokers_with_their_ca_and_a_client_certificate(
    bus: MemoryBus, tmp_path: Path, mutual: bool
) -> None:
    es, topic, group = unique("es"), unique("topic"), unique("group")
    certs = Certificates.make(tmp_path / "certs")
    port = free_port()
    secrets = tmp_path / "secrets"
    tls = tls_spec(secrets, certs, ca=certs.ca, client_cert=mutual)
    spec = {"topic": topic, "consumerGroup": {"groupName": group, "oldest": True}, "tls": tls}
    with KafkaBroker(advertised_port=port) as own:
        context = certs.server_context(require_client_cert=mutual)
        async with TLSFront(context, own.port, port) as front:
            client = AIOKafkaProducer(
                bootstrap_servers=front.bootstrap,
                enable_idempotence=False,
                security_protocol="SSL",
                ssl_context=client_context(certs),
            )
            await client.start()
            try:
                sent = [await client.send_and_wait(topic, b"over TLS", partition=0)]
            finally:
                await client.stop()
            handshakes = front.handshakes
            config = KafkaEventSource.model_validate({"url": front.bootstrap, **spec})
            source = KafkaSource(
                config,
                SourceContext(es, "ev", secrets=SecretStore(secrets_dir=secrets)),
                consumer_options=FAST_GROUP,
                probe_interval=0.1,
            )
            recorder = Recorder(bus)
            async with running(source, recorder.emit):
                events = await recorder.wait_published(1)
            assert front.handshakes > handshakes, "the source connected through TLS"
    assert [e.id for e in events] == ids(es, sent)
    assert events[0].data["body"] == base64.b64encode(b"over TLS").decode()


async def test_an_untrusted_broker_certificate_is_an_error_and_the_source_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certs = Certificates.make(tmp_path / "certs")
    port = free_port()
    secrets = tmp_path / "secrets"
    spec = {
        "topic": unique("topic"),
        "partition": "0",
        "connectionBackoff": {"duration": "20ms"},
        "tls": tls_spec(secrets, certs, ca=certs.other_ca, client_cert=False),
    }
    with KafkaBroker(advertised_port=port) as own:
        async with TLSFront(certs.server_context(), own.port, port) as front:
            config = KafkaEventSource.model_validate({"url": front.bootstrap, **spec})
            source = KafkaSource(
                config,
                SourceContext(unique("es"), "ev", secrets=SecretStore(secrets_dir=secrets)),
                probe_interval=0.1,
            )
            (error,) = await run_refused(source, caplog, "does not trust")
            assert front.handshakes == 0, "no TLS connection was accepted"
    message = error.getMessage()
    assert f"brokers {front.bootstrap} sent a TLS certificate" in message
    assert "certificate" in message.split("(")[1], "the verification error is quoted"
    assert "tls.caCertSecret" in message


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_a_refused_sasl_login_is_an_error_and_the_source_not_ready(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mechanism: str
) -> None:
    # tansu refuses every SCRAM login (it stores no credentials; see tests.brokers.kafka),
    # so this is the wrong-password case. It answers with a SCRAM error message.
    secrets = tmp_path / "secrets"
    sasl = {
        "mechanism": mechanism,
        "userSecret": write_secret(secrets, "kafka-user", "user", "alice"),
        "passwordSecret": write_secret(secrets, "kafka-user", "password", "not-her-password"),
    }
    spec = {
        "topic": unique("topic"),
        "consumerGroup": {"groupName": unique("group")},
        "connectionBackoff": {"duration": "20ms"},
        "sasl": sasl,
    }
    with KafkaBroker(authentication=True) as own:
        source = make_source(own, unique("es"), spec, secrets=SecretStore(secrets_dir=secrets))
        (error,) = await run_refused(source, caplog, f"refused the {mechanism} login")
    message = error.getMessage()
    assert f"brokers {own.bootstrap} refused the {mechanism} login of user 'alice'" in message
    assert "sasl.userSecret and sasl.passwordSecret" in message
    assert "not-her-password" not in caplog.text, "the password is never logged"


async def test_sasl_against_brokers_that_do_not_authenticate_is_an_error(
    broker: KafkaBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = tmp_path / "secrets"
    spec = {
        "topic": unique("topic"),
        "partition": "0",
        "connectionBackoff": {"duration": "20ms"},
        "sasl": {
            "mechanism": "PLAIN",
            "userSecret": write_secret(secrets, "kafka-user", "user", "alice"),
            "passwordSecret": write_secret(secrets, "kafka-user", "password", "secret"),
        },
    }
    source = make_source(broker, unique("es"), spec, secrets=SecretStore(secrets_dir=secrets))
    (error,) = await run_refused(source, caplog, "do not offer SASL mechanism PLAIN")
    assert "sasl.mechanism" in error.getMessage()
