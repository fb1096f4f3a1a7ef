"""NATS -> bus: messages/s through Herald's nats source beside nats-py's own consume rate.

    python -m bench.nats [--messages 50000] [--size 100] [--rounds 3] [--mode core jetstream]

One ``nats-server -js`` is started the way the tests start it
(:class:`tests.brokers.nats.NatsServer`, free port, temporary store). For each
mode the same server serves two consumers in this process, one after the
other, ``--rounds`` times (the best round of each is reported):

- ``nats-py``: the client alone, a callback subscription that counts messages
  (JetStream: a durable push consumer whose callback acks each message);
- ``herald``: :class:`eventsources.nats.NATSSource` emitting into a
  :class:`bus.memory.MemoryBus` (``jsonBody: true``: every payload is parsed).

``core`` mode: a publisher in a separate process sends ``--messages`` JSON
messages of about ``--size`` bytes as fast as it can once the consumer is
subscribed; the window runs from the first message received to the last.
Core NATS drops what a slow consumer cannot buffer, so the count received is
printed too. ``jetstream`` mode: the stream is filled first, then the consumer
starts (``deliverPolicy: all``); the window runs from subscribing to the last
message.

Two figures per consumer: messages/s over the window on the wall clock, and
this process's CPU microseconds per message over the same window, the steadier
figure on a shared machine. With two CPUs or more this process is pinned to the
first and the server and publisher to the others, so that the consumer has a
core of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig

from bench.cpus import CONSUMER_CPUS, OTHER_CPUS, pin
from bench.window import Counter, comparison, payload, wait_quiet
from bus.event import Event
from bus.memory import MemoryBus
from eventsources.nats import NATSEventsSource, NATSSource
from eventsources.source import EmitResult, SourceContext
from tests.brokers.nats import NatsServer

STREAM = "BENCH"
DEADLINE = 120


# --------------------------------------------------------------------------- publisher


async def publish(url: str, subject: str, count: int, size: int) -> None:
    """Send ``count`` messages to ``subject`` as fast as the client can, then flush."""
    client = await nats.connect(url, pending_size=64 * 1024 * 1024)
    try:
        for seq in range(count):
            await client.publish(subject, payload(seq, size))
        await client.flush(timeout=DEADLINE)
    finally:
        await client.close()


def start_publisher(url: str, subject: str, count: int, size: int) -> subprocess.Popen[bytes]:
    """The publisher in its own process, off the consumer's core."""
    command = [sys.executable, "-m", "bench.nats", "--publish", url, subject, str(count), str(size)]
    process = subprocess.Popen(command)
    pin(process.pid, OTHER_CPUS)
    return process


# --------------------------------------------------------------------------- consumers


async def raw_core(url: str, subject: str, size: int, counter: Counter) -> None:
    client = await nats.connect(url)
    try:

        async def on_message(msg: Msg) -> None:
            counter.tick()

        await client.subscribe(subject, cb=on_message, pending_msgs_limit=10_000_000)
        await client.flush()
        publisher = start_publisher(url, subject, counter.target, size)
        try:
            await wait_quiet(counter, publisher)
        finally:
            publisher.wait()
    finally:
        await client.close()


async def raw_jetstream(url: str, subject: str, counter: Counter) -> None:
    client = await nats.connect(url)
    try:
        js = client.jetstream()

        async def on_message(msg: Msg) -> None:
            await msg.ack()
            counter.tick()

        counter.start()
        durable = f"raw-{time.monotonic_ns()}"
        await js.subscribe(
            subject,
            durable=durable,
            queue=durable,
            cb=on_message,
            manual_ack=True,
            config=ConsumerConfig(max_ack_pending=1024, deliver_policy=DeliverPolicy.ALL),
        )
        await wait_quiet(counter, None)
    finally:
        await client.close()


async def herald(url: str, subject: str, size: int, counter: Counter, *, jetstream: bool) -> None:
    bus = MemoryBus()
    await bus.start()

    async def emit(event: Event) -> EmitResult:
        published = await bus.publish(event)
        counter.tick()
        return EmitResult.PUBLISHED if published else EmitResult.DUPLICATE

    spec: dict[str, object] = {"url": url, "subject": subject, "jsonBody": True}
    if jetstream:
        spec["jetStream"] = {"deliverPolicy": "all", "durable": f"herald-{time.monotonic_ns()}"}
        counter.start()
    source = NATSSource(
        NATSEventsSource.model_validate(spec), SourceContext(event_source="bench", event_name="e")
    )
    task = asyncio.create_task(source.run(emit), name="bench-nats-source")
    try:
        await asyncio.wait_for(source.ready.wait(), DEADLINE)
        if jetstream:
            await wait_quiet(counter, None)
            return
        publisher = start_publisher(url, subject, counter.target, size)
        try:
            await wait_quiet(counter, publisher)
        finally:
            publisher.wait()
    finally:
        task.cancel()
        await asyncio.wait({task})
        await bus.close()


# --------------------------------------------------------------------------- driver


@dataclass
class Result:
    mode: str
    raw: Counter
    herald: Counter


async def fill_stream(url: str, subject: str, count: int, size: int) -> None:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        await js.add_stream(StreamConfig(name=STREAM, subjects=[subject]))
        for seq in range(count):
            await client.publish(subject, payload(seq, size))
        await client.flush()
        while True:
            if (await js.stream_info(STREAM)).state.messages >= count:
                return
            await asyncio.sleep(0.05)
    finally:
        await client.close()


async def run_one(server: NatsServer, mode: str, name: str, subject: str, args: Any) -> Counter:
    counter = Counter(args.messages)
    if mode == "core" and name == "raw":
        await raw_core(server.url, subject, args.size, counter)
    elif mode == "core":
        await herald(server.url, subject, args.size, counter, jetstream=False)
    elif name == "raw":
        await raw_jetstream(server.url, subject, counter)
    else:
        await herald(server.url, subject, args.size, counter, jetstream=True)
    return counter


async def measure(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    pin(0, CONSUMER_CPUS)
    with tempfile.TemporaryDirectory(prefix="herald-bench-nats-") as tmp:
        server = await NatsServer(Path(tmp)).start()
        pin(server.pid, OTHER_CPUS)
        try:
            for mode in args.mode:
                best: dict[str, Counter] = {}
                if mode == "jetstream":
                    await fill_stream(server.url, "bench.js", args.messages, args.size)
                for round_ in range(args.rounds):
                    for name in ("raw", "herald"):
                        subject = f"bench.core.{round_}.{name}" if mode == "core" else "bench.js"
                        counter = await run_one(server, mode, name, subject, args)
                        print(
                            f"  {mode:<9} round {round_ + 1} "
                            f"{'nats-py' if name == 'raw' else 'herald':<8}"
                            f"{counter.rate:>9.0f} msg/s {counter.cpu_us:>6.1f} CPU us/msg "
                            f"({counter.count} of {args.messages})",
                            flush=True,
                        )
                        if name not in best or counter.rate > best[name].rate:
                            best[name] = counter
                results.append(Result(mode, best["raw"], best["herald"]))
        finally:
            await server.close()
    return results


def report(results: list[Result], args: argparse.Namespace) -> str:
    title = (
        f"NATS -> MemoryBus: {args.messages} JSON messages of ~{args.size} bytes, "
        f"best of {args.rounds} rounds"
    )
    rows: list[tuple[object, Counter, Counter]] = [(r.mode, r.raw, r.herald) for r in results]
    return comparison(title, "mode", 11, "nats-py", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--mode", nargs="+", default=["core", "jetstream"], choices=["core", "jetstream"]
    )
    parser.add_argument("--publish", nargs=4, metavar=("URL", "SUBJECT", "COUNT", "SIZE"))
    args = parser.parse_args()
    if args.publish:
        url, subject, count, size = args.publish
        asyncio.run(publish(url, subject, int(count), int(size)))
        return
    print(report(asyncio.run(measure(args)), args))


if __name__ == "__main__":
    main()
