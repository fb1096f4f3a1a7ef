"""MQTT -> bus: messages/s through Herald's mqtt source beside aiomqtt's own consume rate.

    python -m bench.mqtt [--messages 20000] [--size 100] [--rounds 3] [--qos 0 1]

One broker is started the way the tests start it
(:class:`tests.brokers.mqtt.MqttBroker`: Mosquitto when installed, else amqtt;
free port). For each QoS the same broker serves two consumers in this
process, one after the other, ``--rounds`` times (the best round of each is
reported):

- ``aiomqtt``: the client alone, ``async for message in client.messages``
  counting (under QoS 1 paho acknowledges each message as it arrives);
- ``herald``: :class:`eventsources.mqtt.MQTTSource` emitting into a
  :class:`bus.memory.MemoryBus` (``jsonBody: true``: every payload is parsed;
  under QoS 1 each PUBACK waits until the bus has the event).

QoS 0: a publisher in a separate process sends ``--messages`` JSON messages of
about ``--size`` bytes as fast as it can once the consumer is subscribed; the
window runs from the first message received to the last, and the count
received is printed (QoS 0 may drop). QoS 1: the consumer's persistent session
is made first, the messages are queued by the broker while it is away, and
the window runs from connecting to the last message: a pure drain.

Two figures per consumer: messages/s over the window on the wall clock, and
this process's CPU microseconds per message over the same window, the steadier
figure on a shared machine. With two CPUs or more this process is pinned to the
first and the broker and publisher to the others.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from bench.cpus import CONSUMER_CPUS, OTHER_CPUS, pin
from bench.window import Counter, comparison, payload, wait_quiet
from bus.event import Event
from bus.memory import MemoryBus
from eventsources.mqtt import MQTTEventSource, MQTTSource
from eventsources.source import EmitResult, SourceContext
from tests.brokers.mqtt import MqttBroker

DEADLINE = 120.0
PUBLISHERS = 16
"""Concurrent publishes of the publisher process."""


# --------------------------------------------------------------------------- publisher


async def publish(port: int, topic: str, count: int, size: int, qos: int, user: str) -> None:
    """Send ``count`` messages to ``topic`` as fast as the client can."""
    async with aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=f"bench-pub-{uuid.uuid4().hex[:8]}",
        username=user or None,
        max_inflight_messages=1000,
        timeout=DEADLINE,
    ) as client:
        client.pending_calls_threshold = PUBLISHERS + 1  # quiet: these are on purpose

        # Several publishes in flight, so that the publisher outpaces the consumers.
        async def send(first: int) -> None:
            for seq in range(first, count, PUBLISHERS):
                await client.publish(topic, payload(seq, size), qos=qos)

        await asyncio.gather(*(send(first) for first in range(PUBLISHERS)))


def start_publisher(
    broker: MqttBroker, topic: str, count: int, size: int, qos: int
) -> subprocess.Popen[bytes]:
    """The publisher in its own process, off the consumer's core."""
    command = [
        sys.executable, "-m", "bench.mqtt", "--publish",
        str(broker.port), topic, str(count), str(size), str(qos), broker.username or "",
    ]  # fmt: skip
    process = subprocess.Popen(command)
    pin(process.pid, OTHER_CPUS)
    return process


# --------------------------------------------------------------------------- consumers


async def make_session(broker: MqttBroker, topic: str, client_id: str) -> None:
    """Create a persistent QoS 1 session for ``client_id`` and leave it, so messages queue."""
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=client_id,
        username=broker.username,
        clean_session=False,
    ) as client:
        await client.subscribe(topic, qos=1)


async def raw(broker: MqttBroker, topic: str, qos: int, args: Any, counter: Counter) -> None:
    client_id = f"bench-raw-{uuid.uuid4().hex[:8]}"
    if qos:
        await make_session(broker, topic, client_id)
        await queue_messages(broker, topic, args)
        counter.start()
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        identifier=client_id,
        username=broker.username,
        clean_session=not qos,
    ) as client:

        async def consume() -> None:
            async for _ in client.messages:
                counter.tick()

        reader = asyncio.create_task(consume(), name="bench-mqtt-raw")
        try:
            await client.subscribe(topic, qos=qos)
            publisher = None if qos else start_publisher(broker, topic, args.messages, args.size, 0)
            try:
                await wait_quiet(counter, publisher)
            finally:
                if publisher is not None:
                    publisher.wait()
        finally:
            reader.cancel()
            await asyncio.wait({reader})


async def herald(broker: MqttBroker, topic: str, qos: int, args: Any, counter: Counter) -> None:
    client_id = f"bench-herald-{uuid.uuid4().hex[:8]}"
    if qos:
        await make_session(broker, topic, client_id)
        await queue_messages(broker, topic, args)
        counter.start()
    bus = MemoryBus()
    await bus.start()

    async def emit(event: Event) -> EmitResult:
        published = await bus.publish(event)
        counter.tick()
        return EmitResult.PUBLISHED if published else EmitResult.DUPLICATE

    spec = {
        "url": broker.url,
        "topic": topic,
        "clientId": client_id,
        "jsonBody": True,
        "qos": qos,
        "cleanSession": not qos,
    }
    source = MQTTSource(
        MQTTEventSource.model_validate(spec), SourceContext(event_source="bench", event_name="e")
    )
    task = asyncio.create_task(source.run(emit), name="bench-mqtt-source")
    try:
        await asyncio.wait_for(source.ready.wait(), DEADLINE)
        publisher = None if qos else start_publisher(broker, topic, args.messages, args.size, 0)
        try:
            await wait_quiet(counter, publisher)
        finally:
            if publisher is not None:
                publisher.wait()
    finally:
        task.cancel()
        await asyncio.wait({task})
        await bus.close()


async def queue_messages(broker: MqttBroker, topic: str, args: Any) -> None:
    """Publish every QoS 1 message (from another process) while the consumer is away."""
    publisher = start_publisher(broker, topic, args.messages, args.size, 1)
    await asyncio.get_running_loop().run_in_executor(None, publisher.wait)


# --------------------------------------------------------------------------- driver


@dataclass
class Result:
    qos: int
    raw: Counter
    herald: Counter


async def measure(args: argparse.Namespace) -> tuple[str, list[Result]]:
    results: list[Result] = []
    pin(0, CONSUMER_CPUS)
    with tempfile.TemporaryDirectory(prefix="herald-bench-mqtt-") as tmp:
        broker = await MqttBroker(Path(tmp)).start()
        pin(broker.pid, OTHER_CPUS)
        try:
            for qos in args.qos:
                best: dict[str, Counter] = {}
                for round_ in range(args.rounds):
                    for name in ("raw", "herald"):
                        topic = f"bench/{qos}/{round_}/{name}"
                        counter = Counter(args.messages)
                        consume = raw if name == "raw" else herald
                        await consume(broker, topic, qos, args, counter)
                        print(
                            f"  QoS {qos} round {round_ + 1} "
                            f"{'aiomqtt' if name == 'raw' else 'herald':<8}"
                            f"{counter.rate:>8.0f} msg/s {counter.cpu_us:>6.1f} CPU us/msg "
                            f"({counter.count} of {args.messages})",
                            flush=True,
                        )
                        if name not in best or counter.rate > best[name].rate:
                            best[name] = counter
                results.append(Result(qos, best["raw"], best["herald"]))
        finally:
            await broker.close()
    return broker.kind, results


def report(kind: str, results: list[Result], args: argparse.Namespace) -> str:
    title = (
        f"MQTT ({kind}) -> MemoryBus: {args.messages} JSON messages of ~{args.size} bytes, "
        f"best of {args.rounds} rounds"
    )
    rows: list[tuple[object, Counter, Counter]] = [(r.qos, r.raw, r.herald) for r in results]
    return comparison(title, "QoS", 5, "aiomqtt", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1], choices=[0, 1])
    parser.add_argument(
        "--publish", nargs=6, metavar=("PORT", "TOPIC", "COUNT", "SIZE", "QOS", "USER")
    )
    args = parser.parse_args()
    if args.publish:
        port, topic, count, size, qos, user = args.publish
        asyncio.run(publish(int(port), topic, int(count), int(size), int(qos), user))
        return
    kind, results = asyncio.run(measure(args))
    print(report(kind, results, args))


if __name__ == "__main__":
    main()
