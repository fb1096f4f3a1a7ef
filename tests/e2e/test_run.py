"""`herald run` end to end: POST to a webhook, a sensor filters, an HTTP trigger fires.

Each test starts the real command in a subprocess on free ports and observes
the trigger on a local HTTP server; nothing inside Herald is replaced.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.sink import HTTPSink, free_port

HERALD = str(Path(sys.executable).with_name("herald"))

MANIFESTS = """\
apiVersion: herald.dev/v1alpha1
kind: EventSource
metadata:
  name: shop
spec:
  webhook:
    orders:
      port: "{port}"
      endpoint: /orders
      method: POST
      maxPayloadSize: 4096
      authSecret: {{name: shop-auth, key: token}}
---
apiVersion: herald.dev/v1alpha1
kind: Sensor
metadata:
  name: big-orders
spec:
  dependencies:
    - name: order
      eventSourceName: shop
      eventName: orders
      filters:
        cel: 'body.status == "paid" && body.total >= 100'
  triggers:
    - template:
        name: notify
        http:
          url: {sink}/notify
          timeout: 30
          payload:
            - src: {{dependencyName: order, dataKey: body.id}}
              dest: order
            - src: {{dependencyName: order, dataKey: body.total, useRawData: true}}
              dest: total
      retryStrategy: {{steps: 3, duration: 50ms}}
    - template:
        name: audit
        log: {{}}
"""

TOKEN = "s3cret-token"


class Herald:
    """A `herald run` subprocess with its log file."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.proc, self.log, self.port = proc, log, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text()

    async def wait_healthy(self, deadline: float = 20.0) -> None:
        async with asyncio.timeout(deadline), aiohttp.ClientSession() as session:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"herald exited {self.proc.returncode}:\n{self.output()}")
                try:
                    async with session.get(self.url + "/health") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    async def wait_log(self, text: str, deadline: float = 10.0) -> None:
        async with asyncio.timeout(deadline):
            while True:  # the log is another process's file: look again shortly
                if text in self.output():
                    return
                await asyncio.sleep(0.05)


@contextmanager
def _herald(tmp: Path, *args: str, port: int) -> Iterator[Herald]:
    log = tmp / f"herald-{port}-{len(list(tmp.glob('herald-*.log')))}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [HERALD, "run", *args, "--host", "127.0.0.1", "--secrets-dir", str(tmp / "secrets")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    try:
        yield Herald(proc, log, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "secrets" / "shop-auth").mkdir(parents=True)
    (tmp_path / "secrets" / "shop-auth" / "token").write_text(TOKEN + "\n")
    return tmp_path


def _write(workdir: Path, sink: HTTPSink) -> tuple[Path, int]:
    port = free_port()
    manifests = workdir / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / "shop.yaml").write_text(MANIFESTS.format(port=port, sink=sink.url))
    return manifests, port


@asynccontextmanager
async def _client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session


async def test_a_post_fires_the_http_trigger_and_is_logged(workdir: Path, sink: HTTPSink) -> None:
    manifests, port = _write(workdir, sink)
    with _herald(workdir, str(manifests), "--bus", "memory://", port=port) as herald:
        await herald.wait_healthy()
        async with _client() as client:
            async with client.post(
                herald.url + "/orders", json={"id": "o-1", "status": "paid", "total": 250}
            ) as r:
                assert r.status == 200
                event_id = (await r.json())["id"]
            async with client.post(
                herald.url + "/orders", json={"id": "o-2", "status": "open", "total": 250}
            ) as r:
                assert r.status == 200
        (request,) = await sink.wait_for(1)
        assert request.path == "/notify"
        assert request.json() == {"order": "o-1", "total": 250}
        assert request.headers["X-Herald-Event-Ids"] == event_id
        await herald.wait_log("filtered out")
        herald.proc.send_signal(signal.SIGTERM)
        assert herald.proc.wait(20) == 0
    log = herald.output()
    assert f"event={event_id}" in log
    assert "fired notify" in log
    assert TOKEN not in log


@pytest.mark.parametrize(
    ("method", "headers", "body", "status"),
    [
        ("GET", {}, None, 405),
        ("POST", {"Authorization": "Bearer wrong"}, b'{"a": 1}', 401),
        ("POST", {}, b'{"broken": ', 400),
        ("POST", {}, b'{"big": "' + b"x" * 5000 + b'"}', 413),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_fire_nothing(
    workdir: Path,
    sink: HTTPSink,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    manifests, port = _write(workdir, sink)
    with _herald(workdir, str(manifests), "--bus", "memory://", port=port) as herald:
        await herald.wait_healthy()
        async with _client() as client:
            async with client.request(
                method, herald.url + "/orders", data=body, headers=headers
            ) as r:
                assert r.status == status
                assert (await r.text()).strip()
            # a good request after the bad one still works, and is the only one fired
            async with client.post(
                herald.url + "/orders", json={"id": "ok", "status": "paid", "total": 100}
            ) as r:
                assert r.status == 200
        requests = await sink.wait_for(1)
        assert [r.json()["order"] for r in requests] == ["ok"]


async def test_an_event_accepted_before_a_kill_fires_after_the_restart(
    workdir: Path, sink: HTTPSink
) -> None:
    manifests, port = _write(workdir, sink)
    sink.hold = asyncio.Event()  # the trigger's request hangs: accepted, not yet fired
    state = ["--state-dir", str(workdir / "state")]
    with _herald(workdir, str(manifests), *state, port=port) as herald:
        await herald.wait_healthy()
        async with (
            _client() as client,
            client.post(
                herald.url + "/orders", json={"id": "o-9", "status": "paid", "total": 900}
            ) as r,
        ):
            assert r.status == 200
            event_id = (await r.json())["id"]
        await sink.wait_for(1)
        os.kill(herald.proc.pid, signal.SIGKILL)
        herald.proc.wait()
    sink.hold.set()
    with _herald(workdir, str(manifests), *state, port=port) as herald:
        await herald.wait_healthy()
        requests = await sink.wait_for(2)
        assert requests[1].json() == {"order": "o-9", "total": 900}
        assert requests[1].headers["X-Herald-Event-Ids"] == event_id
        herald.proc.send_signal(signal.SIGTERM)
        assert herald.proc.wait(20) == 0


async def test_run_refuses_what_it_cannot_run_before_starting(workdir: Path) -> None:
    port = free_port()
    (workdir / "m.yaml").write_text(
        f"""\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata: {{name: hooks}}
spec:
  webhook:
    ok: {{port: "{port}", endpoint: /ok, method: POST}}
    locked:
      port: "{port}"
      endpoint: /locked
      method: POST
      authSecret: {{name: no-such-secret, key: token}}
"""
    )
    with _herald(workdir, str(workdir / "m.yaml"), "--bus", "memory://", port=port) as herald:
        assert herald.proc.wait(20) == 2
    output = herald.output()
    assert "spec.webhook.locked" in output
    assert "no-such-secret" in output
    assert "herald running" not in output  # nothing was started


async def test_run_refuses_invalid_manifests(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text(
        "apiVersion: herald.dev/v1alpha1\nkind: Sensor\nmetadata: {name: s}\n"
        "spec: {dependencies: [], triggers: [], oops: 1}\n"
    )
    with _herald(workdir, str(workdir / "bad.yaml"), port=0) as herald:
        assert herald.proc.wait(20) == 2
    assert "spec.oops" in herald.output()


async def test_run_refuses_one_port_and_endpoint_in_two_event_sources(workdir: Path) -> None:
    port = free_port()
    docs = [
        f"apiVersion: herald.dev/v1alpha1\nkind: EventSource\nmetadata: {{name: {n}}}\n"
        f"spec:\n  webhook:\n    e: {{port: '{port}', endpoint: /same, method: POST}}\n"
        for n in ("one", "two")
    ]
    (workdir / "m.yaml").write_text("---\n".join(docs))
    with _herald(workdir, str(workdir / "m.yaml"), "--bus", "memory://", port=port) as herald:
        assert herald.proc.wait(20) == 2
    assert f"port {port} endpoint /same is also served by" in herald.output()


async def test_a_calendar_with_catch_up_ticks_into_a_trigger(workdir: Path, sink: HTTPSink) -> None:
    (workdir / "clock.yaml").write_text(
        f"""\
apiVersion: herald.dev/v1alpha1
kind: EventSource
metadata: {{name: clock}}
spec:
  calendar:
    every-second:
      interval: 1s
      persistence:
        catchup: {{enabled: true, maxDuration: 1m}}
---
apiVersion: herald.dev/v1alpha1
kind: Sensor
metadata: {{name: ticks}}
spec:
  dependencies:
    - {{name: tick, eventSourceName: clock, eventName: every-second}}
  triggers:
    - template:
        name: forward
        http:
          url: {sink.url}/tick
          payload:
            - src: {{dependencyName: tick, dataKey: eventTime}}
              dest: at
"""
    )
    state = ["--state-dir", str(workdir / "state")]
    with _herald(workdir, str(workdir / "clock.yaml"), *state, port=0) as herald:
        requests = await sink.wait_for(2, deadline=15)
        herald.proc.send_signal(signal.SIGTERM)
        assert herald.proc.wait(20) == 0
    ticks = [r.json()["at"] for r in requests]
    assert len(set(ticks)) == len(ticks)  # never the same tick twice
