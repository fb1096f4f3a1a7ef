"""Webhook -> sensor -> HTTP trigger: Herald against a hand-written floor, in one run.

    python -m bench.webhook [--requests 6000] [--concurrency 64] [--rate 500] [--seconds 10]

This process is the driver: a load generator and the sink, sharing one core
(pinned to the last CPU when there are several). The system under test runs in
a separate process pinned to the first CPU:

- ``floor``: :mod:`bench.floor`, an aiohttp server that parses each POST and
  forwards it to the sink with a shared aiohttp client (no bus, no sensor);
- ``herald (sqlite)``: ``herald run`` on the default durable bus, a webhook
  EventSource and a Sensor with a CEL filter and an HTTP trigger whose payload
  is built from parameters;
- ``herald (memory)``: the same on the in-memory bus.

Two measurements per system:

- saturation: ``--requests`` POSTs from ``--concurrency`` keep-alive
  connections (closed loop); events/s = events that reached the sink divided by
  the time from the first send to the last arrival;
- latency: an open loop at ``--rate`` requests/s for ``--seconds``; each
  request's latency runs from its scheduled send time to its arrival at the
  sink (queueing included, so a slow system cannot hide it), p50 and p99.

The driver speaks minimal HTTP/1.1 over asyncio streams so that it costs less
than the systems it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


# ------------------------------------------------------------------ the sink


@dataclass
class Sink(asyncio.Protocol):
    """A minimal HTTP/1.1 server recording (seq, sent, arrived) of each request."""

    arrivals: dict[int, tuple[int, int]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self) -> _SinkConnection:
        return _SinkConnection(self)

    def record(self, body: bytes) -> None:
        now = time.monotonic_ns()
        data = orjson.loads(body)
        self.arrivals.setdefault(int(data["seq"]), (int(data["sent"]), now))
        self.changed.set()

    async def wait_for(self, seqs: range, deadline: float) -> bool:
        end = time.monotonic() + deadline
        while not all(s in self.arrivals for s in (seqs[-1], seqs[0])) or not all(
            s in self.arrivals for s in seqs
        ):
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
        return True


_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class _SinkConnection(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(
                    head[
                        at + 15 : head.find(b"\r\n", at)
                        if head.find(b"\r\n", at) > 0
                        else len(head)
                    ].strip()
                )
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[head_end + 4 : total]
            self.buffer = self.buffer[total:]
            if body:
                self.sink.record(body)
            assert self.transport is not None
            self.transport.write(_OK)


# ------------------------------------------------------------------ the load generator


def _request(port: int, path: str, seq: int, sent: int) -> bytes:
    body = b'{"seq":%d,"sent":%d,"status":"paid","total":150,"customer":{"email":"a@b.c"}}' % (
        seq,
        sent,
    )
    return (
        b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (path.encode(), HOST.encode(), port, len(body), body)
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at)
        length = int(lower[at + 15 : end].strip())
        if length:
            await reader.readexactly(length)
    return status


class Connections:
    """A pool of keep-alive connections to the system under test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.errors = 0

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        return await asyncio.open_connection(HOST, self.port)

    def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.append(conn)

    async def send(self, path: str, seq: int, sent: int) -> None:
        conn = await self.get()
        reader, writer = conn
        writer.write(_request(self.port, path, seq, sent))
        try:
            status = await _read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.errors += 1
            writer.close()
            return
        if status != 200:
            self.errors += 1
        self.put(conn)

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def saturate(
    port: int, path: str, sink: Sink, first: int, count: int, workers: int
) -> tuple[float, int]:
    """Closed loop: ``count`` requests from ``workers`` connections; events/s at the sink."""
    conns = Connections(port)
    seqs = iter(range(first, first + count))
    start = time.monotonic_ns()

    async def worker() -> None:
        for seq in seqs:
            await conns.send(path, seq, time.monotonic_ns())

    await asyncio.gather(*(worker() for _ in range(workers)))
    await sink.wait_for(range(first, first + count), deadline=60)
    await conns.close()
    got = [sink.arrivals[s][1] for s in range(first, first + count) if s in sink.arrivals]
    if not got:
        return 0.0, conns.errors
    return len(got) / ((max(got) - start) / 1e9), conns.errors


async def open_loop(
    port: int, path: str, sink: Sink, first: int, rate: float, seconds: float
) -> tuple[list[float], int, int]:
    """Requests at a fixed schedule; latency from scheduled send to sink arrival (ms)."""
    conns = Connections(port)
    count = int(rate * seconds)
    start = time.monotonic_ns() + 50_000_000
    tasks: set[asyncio.Task[None]] = set()
    for i in range(count):
        scheduled = start + int(i * 1e9 / rate)
        delay = (scheduled - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.get_running_loop().create_task(conns.send(path, first + i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await sink.wait_for(range(first, first + count), deadline=30)
    await conns.close()
    lat = [
        (sink.arrivals[s][1] - sink.arrivals[s][0]) / 1e6
        for s in range(first, first + count)
        if s in sink.arrivals
    ]
    return lat, count - len(lat), conns.errors


# ------------------------------------------------------------------ systems under test

HERALD_MANIFESTS = """\
apiVersion: herald.dev/v1alpha1
kind: EventSource
metadata:
  name: bench
spec:
  webhook:
    orders:
      port: "{port}"
      endpoint: /hook
      method: POST
---
apiVersion: herald.dev/v1alpha1
kind: Sensor
metadata:
  name: bench
spec:
  dependencies:
    - name: order
      eventSourceName: bench
      eventName: orders
      filters:
        cel: 'body.status == "paid" && body.total >= 100'
  triggers:
    - template:
        name: forward
        http:
          url: {sink}
          timeout: 10
          payload:
            - src: {{dependencyName: order, dataKey: body.seq, useRawData: true}}
              dest: seq
            - src: {{dependencyName: order, dataKey: body.sent, useRawData: true}}
              dest: sent
            - src: {{dependencyName: order, dataKey: body.customer.email}}
              dest: customer
"""


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


@dataclass
class System:
    name: str
    argv: list[str]
    port: int
    log: Path

    def start(self, cpu: int | None) -> subprocess.Popen[bytes]:
        with self.log.open("wb") as out:
            return subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: _pin(cpu)) if cpu is not None else None,
            )


async def _wait_healthy(port: int, proc: subprocess.Popen[bytes], deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"system under test exited with {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status = await _read_response(reader)
        writer.close()
        if status == 200:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("system under test did not become healthy")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its waited-for children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    throughput: float
    cpu_us: float
    p50: float
    p99: float
    lost: int
    errors: int


async def measure(
    system: System, sink: Sink, args: argparse.Namespace, cpu: int | None, first: int
) -> Result:
    proc = system.start(cpu)
    try:
        await _wait_healthy(system.port, proc)
        # warm up: connections, caches, the bus
        await saturate(system.port, "/hook", sink, first, 500, 16)
        first += 500
        cpu_before = _cpu_seconds(proc.pid)
        throughput, sat_errors = await saturate(
            system.port, "/hook", sink, first, args.requests, args.concurrency
        )
        cpu_us = (_cpu_seconds(proc.pid) - cpu_before) / args.requests * 1e6
        first += args.requests
        lat, lost, lat_errors = await open_loop(
            system.port, "/hook", sink, first, args.rate, args.seconds
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    lat.sort()
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    return Result(system.name, throughput, cpu_us, p50, p99, lost, sat_errors + lat_errors)


async def run(args: argparse.Namespace) -> list[Result]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    sut_cpu, driver_cpu = (cpus[0], cpus[-1]) if len(cpus) > 1 and args.pin else (None, None)
    _pin(driver_cpu)
    sink = Sink()
    sink_port = _free_port()
    server = await asyncio.get_running_loop().create_server(sink, HOST, sink_port)
    sink_url = f"http://{HOST}:{sink_port}/sink"
    results = []
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        tmpdir = Path(tmp)
        systems = []
        port = _free_port()
        systems.append(
            System(
                "floor (aiohttp relay)",
                [sys.executable, "-m", "bench.floor", "--port", str(port), "--sink", sink_url],
                port,
                tmpdir / "floor.log",
            )
        )
        for bus in args.bus:
            port = _free_port()
            manifests = tmpdir / f"manifests-{bus}"
            manifests.mkdir()
            (manifests / "bench.yaml").write_text(HERALD_MANIFESTS.format(port=port, sink=sink_url))
            url = "memory://" if bus == "memory" else f"sqlite:///{tmpdir / 'state' / 'bus.db'}"
            (tmpdir / "state").mkdir(exist_ok=True)
            systems.append(
                System(
                    f"herald ({bus} bus)",
                    [
                        *args.wrap.split(),
                        str(Path(sys.executable).with_name("herald")),
                        "run",
                        str(manifests),
                        "--bus",
                        url,
                        "--host",
                        HOST,
                        "--state-dir",
                        str(tmpdir / "state"),
                        "--log-level",
                        args.log_level,
                    ],
                    port,
                    tmpdir / f"herald-{bus}.log",
                )
            )
        first = 0
        if args.only_herald:
            systems = systems[1:]
        for system in systems:
            results.append(await measure(system, sink, args, sut_cpu, first))
            first += 1_000_000
            if args.show_logs:
                print(system.log.read_text()[-2000:], file=sys.stderr)
    server.close()
    return results


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"webhook -> sensor -> HTTP trigger; saturation: {args.requests} requests over "
        f"{args.concurrency} connections; latency: open loop at {args.rate:g}/s for "
        f"{args.seconds:g}s",
        f"{'system':<24}{'events/s':>10}{'vs floor':>9}{'CPU us/ev':>11}{'vs floor':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'lost':>6}{'errors':>8}",
    ]
    base = results[0] if results[0].name.startswith("floor") else None
    for r in results:
        rate = r.throughput / base.throughput if base else float("nan")
        # CPU per event as a rate ratio: how many events Herald handles per floor event
        # on one busy core (floor CPU / Herald CPU).
        cpu = base.cpu_us / r.cpu_us if base else float("nan")
        lines.append(
            f"{r.name:<24}{r.throughput:>10.0f}{rate:>9.0%}{r.cpu_us:>11.0f}{cpu:>9.0%}"
            f"{r.p50:>9.2f}{r.p99:>9.2f}{r.lost:>6}{r.errors:>8}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--bus", nargs="+", default=["sqlite", "memory"], choices=["sqlite", "memory"]
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument("--show-logs", action="store_true")
    parser.add_argument(
        "--wrap", default="", help="command prefix for herald, e.g. a profiler: 'py-spy record --'"
    )
    parser.add_argument("--only-herald", action="store_true", help="skip the floor")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(report(results, args))


if __name__ == "__main__":
    main()
