"""The broker examples (examples/nats, mqtt, kafka) run as `herald run` against real brokers.

Each test copies one example folder, points its URL at a broker the test
started (tests/brokers), runs the real command in a subprocess, publishes one
message the sensor wants and one it does not, and reads the log: the first
fires its trigger, the second is reported as filtered out, and SIGTERM ends
the run cleanly.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiomqtt
import nats
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from tests.brokers.kafka import KafkaBroker
from tests.brokers.mqtt import MqttBroker
from tests.brokers.nats import NatsServer

HERALD = str(Path(sys.executable).with_name("herald"))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str, workdir: Path, url: str, broker_url: str) -> Path:
    """A copy of examples/<name> with its broker URL replaced by ``broker_url``."""
    folder = workdir / f"example-{name}"
    shutil.copytree(EXAMPLES / name, folder)
    source = folder / "eventsource.yaml"
    text = source.read_text()
    assert url in text, f"examples/{name} no longer uses {url}"
    source.write_text(text.replace(url, broker_url))
    return folder


class _Run:
    """A `herald run` subprocess and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text()

    async def wait_log(self, text: str, deadline: float = 20.0) -> None:
        try:
            async with asyncio.timeout(deadline):
                while text not in self.output():
                    if self.proc.poll() is not None:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            pass
        assert text in self.output(), f"{text!r} not logged:\n{self.output()}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(20) == 0, self.output()


@contextmanager
def _herald(workdir: Path, folder: Path) -> Iterator[_Run]:
    log = workdir / "herald.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [HERALD, "run", str(folder), "--state-dir", str(workdir / "state")],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        yield _Run(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_the_nats_example_fires_on_core_and_jetstream_messages(tmp_path: Path) -> None:
    server = await NatsServer(tmp_path / "nats").start()
    try:
        client = await nats.connect(server.url)
        try:
            await client.jetstream().add_stream(name="DEPLOYS", subjects=["deploys.>"])
            # Published before Herald runs: the durable JetStream consumer still gets it.
            await client.jetstream().publish(
                "deploys.api", b'{"environment": "production", "service": "api"}'
            )
            folder = _example("nats", tmp_path, "nats://localhost:4222", server.url)
            with _herald(tmp_path, folder) as herald:
                await herald.wait_log("herald running")
                await herald.wait_log("fired log-deploy")
                await client.publish("alerts.db", b'{"severity": "critical", "msg": "disk full"}')
                await client.publish("alerts.db", b'{"severity": "info", "msg": "ok"}')
                await client.flush()
                await herald.wait_log("fired log-alert")
                await herald.wait_log("filtered out: alert: cel: fail (body.severity")
                herald.stop()
        finally:
            await client.close()
    finally:
        await server.close()
    out = herald.output()
    assert out.count("fired log-alert") == 1
    assert out.count("fired log-deploy") == 1
    assert "event=ops-nats:deploys:DEPLOYS:1 " in out


async def test_the_mqtt_example_fires_on_a_hot_reading(tmp_path: Path) -> None:
    broker = await MqttBroker(tmp_path / "mqtt").start()
    try:
        folder = _example("mqtt", tmp_path, "tcp://localhost:1883", broker.url)
        with _herald(tmp_path, folder) as herald:
            await herald.wait_log("herald running")
            async with aiomqtt.Client("127.0.0.1", broker.port, username=broker.username) as client:
                await client.publish("plant/l1/temperature", b'{"celsius": 85}', qos=1)
                await client.publish("plant/l2/temperature", b'{"celsius": 20.5}', qos=1)
            await herald.wait_log("fired log-overheat")
            await herald.wait_log("filtered out: reading: cel: fail (body.celsius > 80.0)")
            herald.stop()
    finally:
        await broker.close()
    out = herald.output()
    assert out.count("fired log-overheat") == 1
    assert '"topic":"plant/l1/temperature"' in out


async def test_the_kafka_example_fires_on_a_paid_order(tmp_path: Path) -> None:
    with KafkaBroker() as broker:
        folder = _example("kafka", tmp_path, "localhost:9092", broker.bootstrap)
        with _herald(tmp_path, folder) as herald:
            await herald.wait_log("herald running", deadline=30)
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap, enable_idempotence=False
            )
            await producer.start()
            try:
                await producer.send_and_wait(
                    "orders", b'{"id": "A-1", "status": "paid", "total": 250}', key=b"A-1"
                )
                await producer.send_and_wait(
                    "orders", b'{"id": "A-2", "status": "open", "total": 250}', key=b"A-2"
                )
            finally:
                await producer.stop()
            await herald.wait_log("fired log-order")
            await herald.wait_log("filtered out: order: cel: fail")
            herald.stop()
    out = herald.output()
    assert out.count("fired log-order") == 1
    assert '"key":"A-1"' in out
