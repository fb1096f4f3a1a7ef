"""The nats trigger against a real nats-server (JetStream enabled): what arrives, what fails how.

Each test starts its own ``nats-server -js`` on a free port (tests/brokers/nats.py)
and checks, with a nats-py subscriber or the stream itself, what the trigger
published. The last test runs ``herald run`` on an Argo manifest with nats and
mqtt EventSources feeding nats triggers.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import nats
import orjson
import pytest
from nats.aio.client import Client as NATSClient
from nats.aio.client import RawCredentials
from nats.aio.msg import Msg
from nats.js.api import StreamConfig

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from sensors.sensor import Sensor
from sensors.spec import SensorSpec
from tests.brokers.mqtt import MqttBroker
from tests.brokers.nats import NatsServer
from tests.brokers.nats_jwt import (
    TrustChain,
    creds,
    new_key,
    nkey_server_config,
    with_bad_signature,
)
from tests.brokers.process import free_port
from triggers.base import Trigger, TriggerContext, factory
from triggers.nats import EVENT_IDS_HEADER, MSG_ID_HEADER, NATSTrigger, NATSTriggerRunner

DEADLINE = 10.0
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DATA = {"body": {"name": "build-42", "count": 3, "ok": True}}


def event(id: str = "evt-1", data: Any = DATA, **extensions: str) -> Event:
    return Event.new(
        source="webhook",
        type="webhook",
        subject="example",
        data=data,
        id=id,
        extensions=extensions or None,
    )


EVENTS = {"dep": event()}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def spec(url: str, subject: str, **fields: Any) -> NATSTrigger:
    document: dict[str, Any] = {
        "url": url,
        "subject": subject,
        "payload": [
            {"src": {"dependencyName": "dep", "dataKey": "body.name"}, "dest": "name"},
            {
                "src": {"dependencyName": "dep", "dataKey": "body.count", "useRawData": True},
                "dest": "count",
            },
        ],
    }
    document.update(fields)
    return NATSTrigger.model_validate(document)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    broker = await NatsServer(tmp_path / "nats").start()
    try:
        yield broker
    finally:
        await broker.close()


@pytest.fixture
async def client(server: NatsServer) -> AsyncIterator[NATSClient]:
    nc = await nats.connect(server.url)
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
def context(tmp_path: Path) -> TriggerContext:
    store = SecretStore(secrets_dir=tmp_path / "secrets", configmaps_dir=tmp_path / "cm")
    return TriggerContext(sensor="s1", trigger=unique("t"), secrets=store)


@pytest.fixture
async def runners() -> AsyncIterator[list[NATSTriggerRunner]]:
    """Runners made by a test, closed after it."""
    made: list[NATSTriggerRunner] = []
    try:
        yield made
    finally:
        for runner in made:
            await runner.close()


def make(made: list[NATSTriggerRunner], trigger: NATSTrigger, context: TriggerContext) -> Trigger:
    runner = NATSTriggerRunner(trigger, context)
    made.append(runner)
    return runner


async def subscribe(client: NATSClient, subject: str) -> asyncio.Queue[Msg]:
    received: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_message(msg: Msg) -> None:
        await received.put(msg)

    await client.subscribe(subject, cb=on_message)
    await client.flush()
    return received


async def connections(server: NatsServer) -> int:
    """How many client connections the server has (its /connz monitoring page)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.monitor_port}/connz") as answer,
    ):
        page = await answer.json()
    return int(page["num_connections"])


# ---------------------------------------------------------------------------------------


async def test_publishes_the_payload_with_event_ids_and_traceparent(
    server: NatsServer,
    client: NATSClient,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
) -> None:
    subject = unique("out")
    received = await subscribe(client, subject)
    trigger = spec(server.url, subject)
    adapter = make(runners, trigger, context)
    events = {"dep": event("evt-7", traceparent=TRACEPARENT), "other": event("evt-8")}
    outcome = await adapter.fire(trigger, events)
    msg = await asyncio.wait_for(received.get(), DEADLINE)
    assert orjson.loads(msg.data) == {"name": "build-42", "count": 3}
    assert msg.headers is not None
    assert msg.headers[EVENT_IDS_HEADER] == "evt-7,evt-8"
    assert msg.headers["traceparent"] == TRACEPARENT
    assert outcome.startswith(f"published to {subject} on {server.url}")


async def test_one_connection_is_made_lazily_and_reused(
    server: NatsServer,
    client: NATSClient,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
) -> None:
    subject = unique("reuse")
    received = await subscribe(client, subject)
    trigger = spec(server.url, subject)
    adapter = make(runners, trigger, context)
    assert await connections(server) == 1  # only the test's subscriber
    for _ in range(5):
        await adapter.fire(trigger, EVENTS)
    for _ in range(5):
        await asyncio.wait_for(received.get(), DEADLINE)
    assert await connections(server) == 2
    await adapter.close()

    async def closed() -> bool:  # the server notices a closed connection a moment later
        return await connections(server) == 1

    await poll(closed, DEADLINE)


async def test_parameters_change_the_subject_and_a_string_payload_goes_as_text(
    server: NatsServer,
    client: NATSClient,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
) -> None:
    base = unique("param")
    received = await subscribe(client, f"{base}.>")
    trigger = spec(
        server.url,
        f"{base}.default",
        payload=[{"src": {"dependencyName": "dep", "dataKey": "body.name"}, "dest": ""}],
        parameters=[
            {
                "src": {"dependencyName": "dep", "dataKey": "body.name"},
                "dest": "subject",
                "operation": "append",
            }
        ],
    )
    adapter = make(runners, trigger, context)
    await adapter.fire(trigger, EVENTS)
    msg = await asyncio.wait_for(received.get(), DEADLINE)
    assert msg.subject == f"{base}.defaultbuild-42"
    assert msg.data == b"build-42"  # as Argo: the string itself, not JSON-quoted


async def test_jetstream_publish_waits_for_the_stream_and_deduplicates_retries(
    server: NatsServer,
    client: NATSClient,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
) -> None:
    subject = unique("stored")
    stream = unique("S").upper().replace("-", "_")
    js = client.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[subject]))
    trigger = spec(server.url, subject, jetStream=True)
    adapter = make(runners, trigger, context)
    first = await adapter.fire(trigger, EVENTS)
    again = await adapter.fire(trigger, EVENTS)  # a retry of the same firing
    other = await adapter.fire(trigger, {"dep": event("evt-2")})
    assert first.startswith(f"stored in stream {stream} as #1")
    assert "duplicate" in again
    assert other.startswith(f"stored in stream {stream} as #2")
    info = await js.stream_info(stream)
    assert info.state.messages == 2
    stored = await js.get_msg(stream, 1)
    assert orjson.loads(stored.data or b"") == {"name": "build-42", "count": 3}
    assert stored.headers is not None
    assert stored.headers[MSG_ID_HEADER] == f"s1/{context.trigger}:evt-1"


async def test_jetstream_without_a_stream_is_permanent(
    server: NatsServer, context: TriggerContext, runners: list[NATSTriggerRunner]
) -> None:
    subject = unique("nostream")
    trigger = spec(server.url, subject, jetStream=True)
    adapter = make(runners, trigger, context)
    with pytest.raises(
        PermanentTriggerError, match=f"no JetStream stream stores subject '{subject}'"
    ):
        await adapter.fire(trigger, EVENTS)


async def test_a_server_that_is_down_is_temporary(
    context: TriggerContext, runners: list[NATSTriggerRunner]
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    trigger = spec(url, "anything")
    adapter = make(runners, trigger, context)
    with pytest.raises(TemporaryTriggerError, match="cannot connect to"):
        await asyncio.wait_for(adapter.fire(trigger, EVENTS), DEADLINE)


async def test_a_broken_connection_is_replaced_on_a_later_firing(
    server: NatsServer, context: TriggerContext, runners: list[NATSTriggerRunner]
) -> None:
    subject = unique("again")
    trigger = spec(server.url, subject)
    adapter = make(runners, trigger, context)
    await adapter.fire(trigger, EVENTS)
    await server.restart()
    outcomes: list[str] = []
    async with asyncio.timeout(DEADLINE):
        while not outcomes:
            try:
                outcomes.append(await adapter.fire(trigger, EVENTS))
            except TemporaryTriggerError:
                await asyncio.sleep(0.01)  # the old connection broke: the next one is new
    assert outcomes[0].startswith("published")


async def test_authenticates_with_a_token_and_refused_credentials_are_permanent(
    tmp_path: Path, context: TriggerContext, runners: list[NATSTriggerRunner]
) -> None:
    secrets_dir = tmp_path / "secrets"
    (secrets_dir / "nats").mkdir(parents=True)
    (secrets_dir / "nats" / "token").write_text("t0ken\n")
    (secrets_dir / "nats" / "wrong").write_text("nope\n")
    broker = await NatsServer(tmp_path / "auth", ["--auth", "t0ken"]).start()
    try:
        good = spec(broker.url, "secured", auth={"token": {"name": "nats", "key": "token"}})
        assert (await make(runners, good, context).fire(good, EVENTS)).startswith("published")
        bad = spec(broker.url, "secured", auth={"token": {"name": "nats", "key": "wrong"}})
        with pytest.raises(PermanentTriggerError, match="refused the credentials") as refused:
            await make(runners, bad, context).fire(bad, EVENTS)
        assert "nope" not in str(refused.value)
    finally:
        await broker.close()


def put_secret(tmp_path: Path, key: str, value: str) -> dict[str, str]:
    """Store ``value`` as secret ``nats/<key>`` of the ``context`` fixture; return its ref."""
    folder = tmp_path / "secrets" / "nats"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / key).write_text(value)
    return {"name": "nats", "key": key}


def no_secret_in(error: BaseException, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """None of ``secrets`` in the error, the errors it was raised from, or any log line."""
    texts = [caplog.text]
    cause: BaseException | None = error
    while cause is not None:
        texts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    for secret in secrets:
        assert all(secret not in text for text in texts)


async def test_authenticates_with_an_nkey_and_a_refused_seed_is_permanent(
    tmp_path: Path,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admitted, stranger = new_key("user"), new_key("user")
    broker = await NatsServer(tmp_path / "nkey", config=nkey_server_config(admitted.public)).start()
    try:
        subscriber = await nats.connect(broker.url, nkeys_seed_str=admitted.seed)
        try:
            received = await subscribe(subscriber, "secured")
            good = spec(
                broker.url, "secured", auth={"nkey": put_secret(tmp_path, "seed", admitted.seed)}
            )
            outcome = await make(runners, good, context).fire(good, EVENTS)
            msg = await asyncio.wait_for(received.get(), DEADLINE)
        finally:
            await subscriber.close()
        bad = spec(
            broker.url, "secured", auth={"nkey": put_secret(tmp_path, "other", stranger.seed)}
        )
        with pytest.raises(PermanentTriggerError) as refused:
            await make(runners, bad, context).fire(bad, EVENTS)
    finally:
        await broker.close()
    assert outcome.startswith("published to secured")
    assert orjson.loads(msg.data) == {"name": "build-42", "count": 3}
    assert str(refused.value) == (
        f"{broker.url} refused the credentials of nats.auth.nkey "
        "(nats: 'Authorization Violation'): check that secret"
    )
    no_secret_in(refused.value, caplog, admitted.seed, stranger.seed)


async def test_authenticates_with_a_credentials_file_and_a_forged_one_is_permanent(
    tmp_path: Path,
    context: TriggerContext,
    runners: list[NATSTriggerRunner],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    chain = TrustChain.new()
    forged = with_bad_signature(chain.user_jwt)
    broker = await NatsServer(tmp_path / "jwt", config=chain.server_config()).start()
    try:
        subscriber = await nats.connect(broker.url, user_credentials=RawCredentials(chain.creds()))
        try:
            received = await subscribe(subscriber, "secured")
            good = spec(
                broker.url,
                "secured",
                auth={"credential": put_secret(tmp_path, "creds", chain.creds())},
            )
            await make(runners, good, context).fire(good, EVENTS)
            msg = await asyncio.wait_for(received.get(), DEADLINE)
        finally:
            await subscriber.close()
        text = creds(forged, chain.user.seed)
        bad = spec(broker.url, "secured", auth={"credential": put_secret(tmp_path, "forged", text)})
        with pytest.raises(
            PermanentTriggerError, match=r"refused the credentials of nats\.auth\.credential "
        ) as refused:
            await make(runners, bad, context).fire(bad, EVENTS)
    finally:
        await broker.close()
    assert orjson.loads(msg.data) == {"name": "build-42", "count": 3}
    no_secret_in(refused.value, caplog, chain.user.seed, chain.user_jwt, forged)


def test_a_malformed_seed_fails_the_sensor_at_the_trigger_field(tmp_path: Path) -> None:
    seed = new_key("user").seed
    broken = seed[:20] + seed[21:]
    store = SecretStore(secrets_dir=tmp_path / "secrets")
    sensor = SensorSpec.model_validate(
        {
            "dependencies": [{"name": "dep", "eventSourceName": "es", "eventName": "e"}],
            "triggers": [
                {
                    "template": {
                        "name": "out",
                        "nats": {
                            "url": "nats://127.0.0.1:1",
                            "subject": "x",
                            "payload": [],
                            "auth": {"nkey": put_secret(tmp_path, "seed", broken)},
                        },
                    }
                }
            ],
        }
    )
    with pytest.raises(ConfigError, match="not an nkey seed") as raised:
        Sensor("s", sensor, lambda t: TriggerContext(sensor="s", trigger=t, secrets=store))
    assert raised.value.path == "spec.triggers[0].template.nats.auth.nkey"
    assert broken not in str(raised.value)


def test_missing_secret_or_nkeys_fail_at_start(
    context: TriggerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="not found") as missing:
        NATSTriggerRunner(
            spec("nats://127.0.0.1:1", "x", auth={"token": {"name": "absent", "key": "t"}}),
            context,
        )
    assert missing.value.path == "auth.token"  # the sensor puts the trigger's path before it
    monkeypatch.setitem(sys.modules, "nkeys", None)  # as if nats-py[nkeys] were not installed
    with pytest.raises(ConfigError, match=r"pip install 'herald\[nats\]'") as no_nkeys:
        NATSTriggerRunner(
            spec("nats://127.0.0.1:1", "x", auth={"nkey": {"name": "absent", "key": "s"}}),
            context,
        )
    assert no_nkeys.value.path == "auth.nkey"


def test_registry_names_the_nats_trigger() -> None:
    assert factory("nats") is NATSTriggerRunner


# ---------------------------------------------------------------------------------------
# End to end: `herald run` with a nats and an mqtt EventSource and nats triggers.

E2E_MANIFESTS = """\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: plant
spec:
  nats:
    orders:
      url: {nats}
      subject: {subject}.in
      jsonBody: true
      jetStream: {{}}
  mqtt:
    meters:
      url: {mqtt}
      topic: meters/+
      clientId: herald-e2e
      jsonBody: true
      qos: 1
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata:
  name: relay
spec:
  dependencies:
    - name: order
      eventSourceName: plant
      eventName: orders
    - name: meter
      eventSourceName: plant
      eventName: meters
  triggers:
    - template:
        name: forward-order
        conditions: order
        nats:
          url: {nats}
          subject: {subject}.out
          jetStream: true
          payload:
            - src: {{dependencyName: order, dataKey: body.id}}
              dest: order
            - src: {{dependencyName: order, contextKey: id}}
              dest: event
      retryStrategy: {{steps: 3, duration: 50ms}}
    - template:
        name: forward-meter
        conditions: meter
        nats:
          url: {nats}
          subject: {subject}.meters
          payload:
            - src: {{dependencyName: meter, dataKey: body.kwh, useRawData: true}}
              dest: kwh
            - src: {{dependencyName: meter, dataKey: topic}}
              dest: topic
"""


async def test_herald_run_relays_nats_and_mqtt_events_to_nats_triggers(
    tmp_path: Path, server: NatsServer, client: NATSClient
) -> None:
    """An Argo manifest, unchanged: JetStream and MQTT QoS 1 in, NATS (JetStream and core) out."""
    subject = unique("e2e")
    js = client.jetstream()
    await js.add_stream(StreamConfig(name="E2E_IN", subjects=[f"{subject}.in"]))
    await js.add_stream(StreamConfig(name="E2E_OUT", subjects=[f"{subject}.out"]))
    meters = await subscribe(client, f"{subject}.meters")
    mqtt = await MqttBroker(tmp_path / "mqtt").start()
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "relay.yaml").write_text(
        E2E_MANIFESTS.format(nats=server.url, mqtt=mqtt.url, subject=subject)
    )
    log = tmp_path / "herald.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("herald")), "run", str(manifests),
            "--bus", "memory://", "--host", "127.0.0.1",
            "--secrets-dir", str(tmp_path / "secrets"),
            stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip

    async def both_subscribed() -> bool:  # the log is another process's file
        assert proc.returncode is None, log.read_text()
        return log.read_text().count("subscribed to") >= 2

    async def order_stored() -> bool:
        return bool((await js.stream_info("E2E_OUT")).state.messages >= 1)

    try:
        await poll(both_subscribed, DEADLINE * 2)
        published = await js.publish(f"{subject}.in", orjson.dumps({"id": "o-1"}))
        async with aiomqtt.Client(
            "127.0.0.1", mqtt.port, identifier=unique("pub"), username=mqtt.username
        ) as publisher:
            await publisher.publish("meters/m7", orjson.dumps({"kwh": 4.5}), qos=1)
        relayed = await asyncio.wait_for(meters.get(), DEADLINE)
        assert orjson.loads(relayed.data) == {"kwh": 4.5, "topic": "meters/m7"}
        await poll(order_stored, DEADLINE)
        stored = await js.get_msg("E2E_OUT", 1)
        assert orjson.loads(stored.data or b"") == {
            "order": "o-1",
            "event": f"plant:orders:E2E_IN:{published.seq}",
        }
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await mqtt.close()
    output = log.read_text()
    assert "fired forward-order" in output
    assert "fired forward-meter" in output


async def poll(condition: Callable[[], Awaitable[bool]], deadline: float) -> None:
    """Wait until ``await condition()`` holds, checking every few milliseconds."""
    async with asyncio.timeout(deadline):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)
