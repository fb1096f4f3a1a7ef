"""Kafka -> bus: records/s through Herald's kafka source beside aiokafka's own group consumer.

    python -m bench.kafka [--messages 100000] [--size 100] [--rounds 3]

One tansu broker is started the way the tests start it
(:class:`tests.brokers.kafka.KafkaBroker`: memory storage, free port). A topic
is filled once with ``--messages`` JSON records of about ``--size`` bytes, then
read ``--rounds`` times by two consumers in this process, one after the other,
each as a new consumer group from the oldest offset (the best round of each is
reported):

- ``aiokafka``: the client alone, a group consumer iterating record by record
  (``async for record in consumer``, the client's documented consumer loop)
  and committing every 500 records, which is what a consumer that must not
  lose records does;
- ``aiokafka getmany``: the client's ceiling, a group consumer that takes
  batches of at most 500 records with ``getmany``, counts them without
  touching them, and commits each batch;
- ``herald``: :class:`eventsources.kafka.KafkaSource` in consumer-group mode
  (``jsonBody: true``: every value is parsed), emitting into a
  :class:`bus.memory.MemoryBus`, committing after the bus has each batch.

The window runs from the first record received to the last, so the group
join (about a second on tansu) is left out of both. Two figures per consumer:
records/s over the window on the wall clock, and this process's CPU
microseconds per record over the same window, the steadier figure on a shared
machine. With two CPUs or more this process is pinned to the first and the
broker to the others.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from bench.cpus import CONSUMER_CPUS, OTHER_CPUS, pin
from bench.window import Counter, payload
from bus.event import Event
from bus.memory import MemoryBus
from eventsources.kafka import MAX_BATCH, KafkaEventSource, KafkaSource
from eventsources.source import EmitResult, SourceContext
from tests.brokers.kafka import FAST_GROUP, KafkaBroker

DEADLINE = 120.0
TOPIC = "bench"


async def fill(bootstrap: str, count: int, size: int) -> None:
    """Produce ``count`` records to the topic (spread over its partitions), then flush."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        pending = [await producer.send(TOPIC, payload(seq, size)) for seq in range(count)]
        await producer.flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def group_consumer(bootstrap: str, prefix: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **FAST_GROUP,
    )


async def raw(bootstrap: str, counter: Counter) -> None:
    """aiokafka alone: the record-by-record consumer loop, committing every batch."""
    consumer = group_consumer(bootstrap, "raw")
    await consumer.start()
    try:
        async with asyncio.timeout(DEADLINE):
            uncommitted = 0
            async for _record in consumer:
                counter.tick()
                uncommitted += 1
                if uncommitted >= MAX_BATCH or counter.done.is_set():
                    await consumer.commit()
                    uncommitted = 0
                if counter.done.is_set():
                    break
    finally:
        await consumer.stop()


async def raw_getmany(bootstrap: str, counter: Counter) -> None:
    """aiokafka alone, its fastest loop: count whole batches, commit each one."""
    consumer = group_consumer(bootstrap, "getmany")
    await consumer.start()
    try:
        async with asyncio.timeout(DEADLINE):
            while not counter.done.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=MAX_BATCH)
                if not batch:
                    continue
                offsets = {}
                for tp, records in batch.items():
                    counter.tick(len(records))
                    offsets[tp] = records[-1].offset + 1
                await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def herald(bootstrap: str, counter: Counter) -> None:
    """Herald's kafka source in consumer-group mode, emitting into a memory bus."""
    bus = MemoryBus()
    await bus.start()

    async def emit(event: Event) -> EmitResult:
        published = await bus.publish(event)
        counter.tick()
        return EmitResult.PUBLISHED if published else EmitResult.DUPLICATE

    config = KafkaEventSource.model_validate(
        {
            "url": bootstrap,
            "topic": TOPIC,
            "consumerGroup": {"groupName": f"herald-{uuid.uuid4().hex[:8]}", "oldest": True},
            "jsonBody": True,
        }
    )
    source = KafkaSource(config, SourceContext("bench", "kafka"), consumer_options=FAST_GROUP)
    task = asyncio.create_task(source.run(emit), name="bench-kafka-source")
    try:
        async with asyncio.timeout(DEADLINE):
            await counter.done.wait()
    finally:
        task.cancel()
        await asyncio.wait({task})
        await bus.close()


NAMES = {"raw": "aiokafka", "getmany": "aiokafka getmany", "herald": "herald"}


async def measure(args: argparse.Namespace) -> dict[str, Counter]:
    pin(0, CONSUMER_CPUS)
    with KafkaBroker() as broker:
        pin(broker.pid, OTHER_CPUS)
        started = time.perf_counter()
        await fill(broker.bootstrap, args.messages, args.size)
        print(
            f"  filled {TOPIC} with {args.messages} records in "
            f"{time.perf_counter() - started:.1f}s",
            flush=True,
        )
        best: dict[str, Counter] = {}
        for round_ in range(args.rounds):
            for name, consume in (("raw", raw), ("getmany", raw_getmany), ("herald", herald)):
                counter = Counter(args.messages)
                await consume(broker.bootstrap, counter)
                print(
                    f"  round {round_ + 1} {NAMES[name]:<17}"
                    f"{counter.rate:>9.0f} rec/s {counter.cpu_us:>6.1f} CPU us/rec "
                    f"({counter.count} of {args.messages})",
                    flush=True,
                )
                if name not in best or counter.rate > best[name].rate:
                    best[name] = counter
    return best


def report(best: dict[str, Counter], args: argparse.Namespace) -> str:
    ours = best["herald"]
    lines = [
        f"Kafka (tansu) -> MemoryBus: {args.messages} JSON records of ~{args.size} bytes, "
        f"consumer groups from the oldest offset, best of {args.rounds} rounds",
        f"{'':<18}{'rec/s':>10}{'CPU us/rec':>12}{'herald rate':>13}{'by CPU':>8}",
    ]
    for name in ("raw", "getmany", "herald"):
        counter = best[name]
        rate = ours.rate / counter.rate if counter.rate else float("nan")
        cpu = counter.cpu_us / ours.cpu_us if ours.cpu_us else float("nan")
        ratios = f"{rate:>13.0%}{cpu:>8.0%}" if name != "herald" else ""
        lines.append(f"{NAMES[name]:<18}{counter.rate:>10.0f}{counter.cpu_us:>12.1f}{ratios}")
    lines.append(
        "herald rate: herald rec/s / that consumer's rec/s; by CPU: that consumer's CPU "
        "per record / herald's"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(report(asyncio.run(measure(args)), args))


if __name__ == "__main__":
    main()
