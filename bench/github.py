"""Signed GitHub deliveries into the bus: Herald's github source against a raw HMAC floor.

    python -m bench.github [--requests 6000] [--concurrency 64] [--rate 500] [--seconds 5]

This process is the driver (a load generator, pinned to the last CPU when
there are several); each system under test runs in its own process pinned to
the first CPU, one after the other:

- ``baseline``: a raw aiohttp low-level server that does only what any GitHub
  receiver must: read the body, check ``X-Hub-Signature-256`` (HMAC-SHA256,
  constant-time compare) and answer 200 with the delivery id. No parsing, no bus.
- ``herald (sqlite bus)``: ``herald run`` with one ``github`` EventSource
  (``webhookSecret`` from ``--secrets-dir``, ``events: ["*"]``) on the default
  durable bus; a 200 means the event is committed to sqlite.
- ``herald (memory bus)``: the same on the in-memory bus.

Every request is a real push payload from ``../shared/testdata/github/push/``
(a synthetic one of the same size when that is absent), signed with the
secret, with a fresh ``X-GitHub-Delivery`` so nothing is deduplicated.

Two measurements per system, as in :mod:`bench.webhook`, whose pieces this
reuses (process pinning, the health wait, CPU accounting, response parsing):

- saturation: ``--requests`` deliveries from ``--concurrency`` keep-alive
  connections (closed loop); requests/s = answered requests over the time from
  the first send to the last answer;
- latency: an open loop at ``--rate`` requests/s for ``--seconds``; each
  latency runs from the request's scheduled send time to its answer (queueing
  included), p50 and p99.

The goal for Herald is at least 50% of the baseline's requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.webhook import (
    HOST,
    System,
    _cpu_seconds,
    _free_port,
    _pin,
    _read_response,
    _wait_healthy,
)

SECRET = b"bench-webhook-secret"
PUSH = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "github" / "push"
GOAL = 0.5
"""Herald's requests/s as a fraction of the baseline's that counts as good enough."""


def _payload() -> bytes:
    """A real push payload, or a synthetic one of GitHub's size when the data is absent."""
    real = PUSH / "payload.json"
    if real.is_file():
        return real.read_bytes()
    commits = [
        {"id": f"{n:040x}", "message": "Update README.md " * 4, "author": {"name": "octo"}}
        for n in range(12)
    ]
    return orjson.dumps(
        {"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40, "commits": commits}
    )


# ------------------------------------------------------------------ the baseline


async def serve_baseline(port: int, secret: bytes) -> None:
    """The floor: read the body, check the signature, answer. Nothing else."""
    from aiohttp import web

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/health":
            return web.Response(text="OK")
        body = await request.read()
        presented = request.headers.get("X-Hub-Signature-256", "").encode()
        expected = b"sha256=" + hmac.digest(secret, body, "sha256").hex().encode()
        if not hmac.compare_digest(expected, presented):
            return web.Response(status=403, text="bad signature")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        return web.Response(body=orjson.dumps({"id": delivery}), content_type="application/json")

    runner = web.ServerRunner(web.Server(handle, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------ the load generator


class Deliveries:
    """Signed requests for one system: the same push body, a fresh delivery id each."""

    def __init__(self, port: int, body: bytes) -> None:
        signature = "sha256=" + hmac.digest(SECRET, body, "sha256").hex()
        self.head = (
            f"POST /github HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            "Content-Type: application/json\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            f"X-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\n"
            f"Content-Length: {len(body)}\r\nX-GitHub-Delivery: "
        ).encode()
        self.body = body

    def request(self, seq: int) -> bytes:
        return b"%sbench-%010d\r\n\r\n%s" % (self.head, seq, self.body)


class Connections:
    """Keep-alive connections to the system under test; counts non-200 answers."""

    def __init__(self, port: int, deliveries: Deliveries) -> None:
        self.port = port
        self.deliveries = deliveries
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.errors = 0

    async def send(self, seq: int) -> int:
        """Send delivery ``seq``; the monotonic ns when its answer arrived (0 on error)."""
        conn = self.idle.pop() if self.idle else await asyncio.open_connection(HOST, self.port)
        reader, writer = conn
        writer.write(self.deliveries.request(seq))
        try:
            status = await _read_response(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.errors += 1
            writer.close()
            return 0
        answered = time.monotonic_ns()
        self.idle.append(conn)
        if status != 200:
            self.errors += 1
            return 0
        return answered

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def saturate(conns: Connections, first: int, count: int, workers: int) -> float:
    """Closed loop: ``count`` deliveries from ``workers`` connections; answered requests/s."""
    seqs = iter(range(first, first + count))
    start = time.monotonic_ns()
    answered: list[int] = []

    async def worker() -> None:
        for seq in seqs:
            at = await conns.send(seq)
            if at:
                answered.append(at)

    await asyncio.gather(*(worker() for _ in range(workers)))
    if not answered:
        return 0.0
    return len(answered) / ((max(answered) - start) / 1e9)


async def open_loop(conns: Connections, first: int, rate: float, seconds: float) -> list[float]:
    """Deliveries on a fixed schedule; latency from scheduled send to answer (ms)."""
    count = int(rate * seconds)
    start = time.monotonic_ns() + 50_000_000
    latencies: list[float] = []

    async def one(seq: int, scheduled: int) -> None:
        at = await conns.send(seq)
        if at:
            latencies.append((at - scheduled) / 1e6)

    async with asyncio.TaskGroup() as group:
        for i in range(count):
            scheduled = start + int(i * 1e9 / rate)
            delay = (scheduled - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            group.create_task(one(first + i, scheduled), name=f"delivery-{first + i}")
    return latencies


# ------------------------------------------------------------------ running the systems

MANIFEST = """\
apiVersion: herald.dev/v1alpha1
kind: EventSource
metadata:
  name: bench
spec:
  github:
    code:
      repositories:
        - owner: octo
          names: [hello]
      webhook:
        endpoint: /github
        port: "{port}"
        method: POST
      events: ["*"]
      webhookSecret:
        name: github-hook
        key: secret
"""


@dataclass
class Result:
    name: str
    throughput: float
    cpu_us: float
    p50: float
    p99: float
    errors: int


async def measure(
    system: System, body: bytes, args: argparse.Namespace, cpu: int | None, first: int
) -> Result:
    proc = system.start(cpu)
    conns = Connections(system.port, Deliveries(system.port, body))
    try:
        await _wait_healthy(system.port, proc)
        await saturate(conns, first, 500, 16)  # warm up: connections, caches, the bus
        first += 500
        conns.errors = 0
        cpu_before = _cpu_seconds(proc.pid)
        throughput = await saturate(conns, first, args.requests, args.concurrency)
        cpu_us = (_cpu_seconds(proc.pid) - cpu_before) / args.requests * 1e6
        first += args.requests
        latencies = await open_loop(conns, first, args.rate, args.seconds)
        await conns.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = (
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else float("nan")
    )
    return Result(system.name, throughput, cpu_us, p50, p99, conns.errors)


def systems(tmpdir: Path, args: argparse.Namespace) -> list[System]:
    secrets = tmpdir / "secrets"
    (secrets / "github-hook").mkdir(parents=True)
    (secrets / "github-hook" / "secret").write_bytes(SECRET)
    port = _free_port()
    out = [
        System(
            "baseline (aiohttp+HMAC)",
            [sys.executable, "-m", "bench.github", "--serve-baseline", "--port", str(port)],
            port,
            tmpdir / "baseline.log",
        )
    ]
    for bus in args.bus:
        port = _free_port()
        manifests = tmpdir / f"manifests-{bus}"
        manifests.mkdir()
        (manifests / "github.yaml").write_text(MANIFEST.format(port=port))
        state = tmpdir / f"state-{bus}"
        url = "memory://" if bus == "memory" else f"sqlite:///{state / 'bus.db'}"
        argv = [
            *args.wrap.split(),
            str(Path(sys.executable).with_name("herald")), "run", str(manifests),
            "--bus", url, "--host", HOST, "--state-dir", str(state),
            "--secrets-dir", str(secrets), "--log-level", args.log_level,
        ]  # fmt: skip
        out.append(System(f"herald ({bus} bus)", argv, port, tmpdir / f"herald-{bus}.log"))
    return out


async def run(args: argparse.Namespace) -> list[list[Result]]:
    """Every system once per round, interleaved; per system, its result of every round."""
    import os

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    sut_cpu, driver_cpu = (cpus[0], cpus[-1]) if len(cpus) > 1 and args.pin else (None, None)
    _pin(driver_cpu)
    body = _payload()
    with tempfile.TemporaryDirectory(prefix="herald-bench-github-") as tmp:
        under_test = systems(Path(tmp), args)
        results: list[list[Result]] = [[] for _ in under_test]
        first = 0
        for _ in range(args.rounds):
            for system, mine in zip(under_test, results, strict=True):
                mine.append(await measure(system, body, args, sut_cpu, first))
                first += 10_000_000
                if args.show_logs:
                    print(system.log.read_text()[-2000:], file=sys.stderr)
    return results


def _median(results: list[Result]) -> Result:
    """The round with the median throughput."""
    return sorted(results, key=lambda r: r.throughput)[len(results) // 2]


def report(results: list[list[Result]], args: argparse.Namespace, size: int) -> str:
    lines = [
        f"signed GitHub push deliveries ({size} bytes) into the bus; saturation: "
        f"{args.requests} requests over {args.concurrency} connections; latency: open loop "
        f"at {args.rate:g}/s for {args.seconds:g}s; median of {args.rounds} interleaved rounds",
        f"{'system':<26}{'req/s':>9}{'vs base':>9}{'range':>11}{'CPU us/req':>12}"
        f"{'vs base':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}",
    ]
    rounds = list(zip(*results, strict=True))  # per round: one result per system
    base = _median(results[0])
    worst = float("inf")
    for mine in results:
        r = _median(mine)
        ratios = [rnd[results.index(mine)].throughput / rnd[0].throughput for rnd in rounds]
        ratio = r.throughput / base.throughput
        cpu_ratio = base.cpu_us / r.cpu_us
        if mine is not results[0]:
            worst = min(worst, ratio)
        lines.append(
            f"{r.name:<26}{r.throughput:>9.0f}{ratio:>9.0%}"
            f"{min(ratios):>5.0%}-{max(ratios):<5.0%}{r.cpu_us:>12.0f}{cpu_ratio:>9.0%}"
            f"{r.p50:>9.2f}{r.p99:>9.2f}{sum(x.errors for x in mine):>8}"
        )
    if worst != float("inf"):
        verdict = "met" if worst >= GOAL else "NOT met"
        lines.append(
            f"goal: Herald >= {GOAL:.0%} of the baseline's req/s: {verdict} ({worst:.0%}); "
            "'range' is the ratio in each round, CPU 'vs base' is baseline CPU / system CPU"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument(
        "--bus", nargs="+", default=["sqlite", "memory"], choices=["sqlite", "memory"]
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    parser.add_argument("--show-logs", action="store_true")
    parser.add_argument(
        "--wrap", default="", help="command prefix for herald, e.g. a profiler: 'py-spy record --'"
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin processes to CPUs"
    )
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_baseline(args.port, SECRET))
        return
    results = asyncio.run(run(args))
    print(report(results, args, len(_payload())))


if __name__ == "__main__":
    main()
