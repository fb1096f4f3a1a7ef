"""The webhook source against the real shared server on 127.0.0.1 and a memory bus.

Each test starts a WebhookSource with a unique EventSource name on a free port,
sends requests with aiohttp's client and checks the answer and what reached the
bus. A source answers only after ``emit`` returned, so once a response is in,
what was (or was not) published is already known: no waiting is needed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from bus.base import Key
from bus.event import Event
from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.http_server import MASKED_AUTH, HTTPServers
from eventsources.payloads import MAX_BODY_DEPTH
from eventsources.source import EmitResult, Source, SourceContext
from eventsources.webhook import WebhookEventSource, WebhookSource
from herald.core.errors import ConfigError, SecretError, SourceError
from herald.core.refs import SecretStore
from tests.eventsources.conftest import (
    DEADLINE,
    Recorder,
    failing_emit,
    filtering_emit,
    next_event,
    put_secret,
    raw_request,
    running,
    unique,
)
from tests.sink import free_port

TOKEN = "t0ps3cret-bearer"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def config(port: int, **extra: Any) -> WebhookEventSource:
    spec: dict[str, Any] = {"port": str(port), "endpoint": "/hook", "method": "POST"}
    spec.update(extra)
    return WebhookEventSource.model_validate(spec)


class Hook:
    """One running webhook event: its names, URL, and what its emit recorded."""

    def __init__(self, source: WebhookSource, port: int, recorder: Recorder) -> None:
        self.source = source
        self.event_source = source.context.event_source
        self.event_name = source.context.event_name
        self.url = f"http://127.0.0.1:{port}{source.config.endpoint}"
        self.recorder = recorder

    @property
    def published(self) -> list[Event]:
        return self.recorder.published


def make(
    servers: HTTPServers, secrets: SecretStore, cfg: WebhookEventSource, name: str = "example"
) -> WebhookSource:
    ctx = SourceContext(event_source=unique(), event_name=name, secrets=secrets, http=servers)
    return WebhookSource(cfg, ctx)


@pytest.fixture
async def hook(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder
) -> AsyncIterator[Hook]:
    """A POST webhook at /hook with metadata, publishing to the memory bus."""
    source = make(servers, secrets, config(port, metadata={"team": "shop"}))
    async with running(source, recorder.emit):
        yield Hook(source, port, recorder)


async def post(
    client: aiohttp.ClientSession, url: str, body: bytes | None = None, **kwargs: Any
) -> tuple[int, Any, CIMultiDict[str]]:
    """Status, decoded answer (JSON object for 200, text otherwise) and response headers."""
    async with client.post(url, data=body, **kwargs) as r:
        raw = await r.read()
        decoded = orjson.loads(raw) if r.status == 200 else raw.decode()
        return r.status, decoded, CIMultiDict(r.headers)


# ----------------------------------------------------------------------- the happy paths


async def test_a_json_post_becomes_exactly_one_event(
    hook: Hook, bus: MemoryBus, client: aiohttp.ClientSession
) -> None:
    key = Key(hook.event_source, hook.event_name)
    sub = await bus.subscribe("reader", [key])
    await sub.close()  # the consumer exists from now on and keeps collecting
    status, answer, headers = await post(
        client, hook.url, b'{"order": {"id": 7, "tags": ["a", "b"]}}',
        headers={"Content-Type": "application/json", "X-Request-Id": "r-1"},
    )  # fmt: skip
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    [event] = hook.published
    assert answer == {"id": event.id}
    assert len(event.id) == 32
    assert set(event.id) <= set("0123456789abcdef")
    assert (event.source, event.type, event.subject) == (hook.event_source, "webhook", "example")
    assert event.datacontenttype == "application/json"
    assert event.data["body"] == {"order": {"id": 7, "tags": ["a", "b"]}}
    assert event.data["metadata"] == {"team": "shop"}
    assert set(event.data) == {"header", "body", "metadata"}
    assert event.data["header"]["Content-Type"] == ["application/json"]
    assert event.data["header"]["X-Request-Id"] == ["r-1"]
    assert "Host" not in event.data["header"]  # Go's server keeps it out of the map
    assert dict(event.extensions) == {}
    # what a sensor reads back from the bus is the same event
    received = await next_event(bus, key, "reader")
    assert received.id == event.id
    assert received.data == event.data


async def test_metadata_is_left_out_when_not_set(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, secrets, config(port))
    async with running(source, recorder.emit):
        status, _, _ = await post(client, f"http://127.0.0.1:{port}/hook", b"[1, 2]")
    assert status == 200
    assert set(recorder.published[0].data) == {"header", "body"}
    assert recorder.published[0].data["body"] == [1, 2]


async def test_a_form_post_becomes_an_object_of_lists(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    status, _, _ = await post(
        client, hook.url, b"a=1&b=two+words&a=3&empty=&flag&caf%C3%A9=%E2%9C%93",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )  # fmt: skip
    assert status == 200
    assert hook.published[0].data["body"] == {
        "a": ["1", "3"],
        "b": ["two words"],
        "empty": [""],
        "flag": [""],
        "café": ["✓"],
    }


async def test_a_get_sends_its_query_as_an_object_of_lists(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, secrets, config(port, method="GET"))
    async with running(source, recorder.emit):
        url = f"http://127.0.0.1:{port}/hook?x=1&y=a%20b&x=2"
        async with client.get(url) as r:
            assert r.status == 200
        async with client.get(f"http://127.0.0.1:{port}/hook") as r:
            assert r.status == 200
        async with client.post(url, data=b"{}") as r:
            assert r.status == 405
            assert r.headers["Allow"] == "GET"
    assert [e.data["body"] for e in recorder.published] == [{"x": ["1", "2"], "y": ["a b"]}, {}]


async def test_events_of_one_port_share_the_server_and_are_routed_by_endpoint(
    servers: HTTPServers, secrets: SecretStore, port: int, bus: MemoryBus,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    es = unique()
    recorders = {name: Recorder(bus) for name in ("created", "paid")}
    sources = {
        name: WebhookSource(
            config(port, endpoint=f"/{name}"),
            SourceContext(event_source=es, event_name=name, secrets=secrets, http=servers),
        )
        for name in recorders
    }
    async with (
        running(sources["created"], recorders["created"].emit),
        running(sources["paid"], recorders["paid"].emit),
    ):
        for name in ("paid", "created", "paid"):
            status, _, _ = await post(client, f"http://127.0.0.1:{port}/{name}", b'{"n": 1}')
            assert status == 200
        async with client.get(f"http://127.0.0.1:{port}/health") as r:
            assert r.status == 200
    assert [e.subject for e in recorders["created"].published] == ["created"]
    assert [e.subject for e in recorders["paid"].published] == ["paid", "paid"]
    assert {e.source for r in recorders.values() for e in r.published} == {es}


async def test_a_stopped_source_removes_its_route(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, secrets, config(port))
    async with running(source, recorder.emit):
        assert (await post(client, f"http://127.0.0.1:{port}/hook", b"{}"))[0] == 200
    assert not source.ready.is_set()
    status, text, _ = await post(client, f"http://127.0.0.1:{port}/hook", b"{}")
    assert status == 404
    assert "/hook" in text
    assert len(recorder.published) == 1


async def test_the_registry_builds_a_webhook_source(
    servers: HTTPServers, secrets: SecretStore, port: int
) -> None:
    ctx = SourceContext(event_source=unique(), event_name="e", secrets=secrets, http=servers)
    made = source_registry.factory("webhook")(config(port), ctx)
    assert isinstance(made, WebhookSource)
    assert isinstance(made, Source)


# ---------------------------------------------------------------------- what emit said


async def test_a_filtered_event_is_still_answered_200(
    servers: HTTPServers, secrets: SecretStore, client: aiohttp.ClientSession
) -> None:
    filtered_port = free_port()
    source = make(servers, secrets, config(filtered_port))
    async with running(source, filtering_emit):
        status, answer, _ = await post(client, f"http://127.0.0.1:{filtered_port}/hook", b"{}")
    assert status == 200
    assert answer["filtered"] is True
    assert set(answer) == {"id", "filtered"}


async def test_a_bus_failure_is_503_with_retry_after_and_publishes_nothing(
    servers: HTTPServers, secrets: SecretStore, port: int, client: aiohttp.ClientSession
) -> None:
    source = make(servers, secrets, config(port))
    async with running(source, failing_emit):
        status, text, headers = await post(client, f"http://127.0.0.1:{port}/hook", b"{}")
    assert status == 503
    assert text.strip() == "failed to record event"
    assert headers["Retry-After"] == "1"


async def test_an_unexpected_emit_failure_is_500_and_logged(
    servers: HTTPServers, secrets: SecretStore, port: int, client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    async def broken(event: Event) -> EmitResult:
        raise RuntimeError("boom in emit")

    source = make(servers, secrets, config(port))
    with caplog.at_level(logging.ERROR, logger="herald.source.webhook"):
        async with running(source, broken):
            status, text, _ = await post(client, f"http://127.0.0.1:{port}/hook", b"{}")
    assert status == 500
    assert "boom" not in text
    assert any("boom in emit" in (r.exc_text or "") for r in caplog.records)


async def test_a_request_in_flight_at_close_is_answered_once_the_bus_has_it(
    secrets: SecretStore, port: int, recorder: Recorder
) -> None:
    servers = HTTPServers(host="127.0.0.1", secrets=secrets, grace=DEADLINE)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_bus(event: Event) -> EmitResult:
        entered.set()
        await release.wait()
        return await recorder.emit(event)

    source = make(servers, secrets, config(port))
    try:
        async with running(source, slow_bus), aiohttp.ClientSession() as client:
            request = asyncio.create_task(
                post(client, f"http://127.0.0.1:{port}/hook", b'{"late": true}'),
                name="in-flight-webhook-request",
            )
            async with asyncio.timeout(DEADLINE):
                await entered.wait()
            closing = asyncio.create_task(servers.close(), name="servers-close")
            release.set()
            async with asyncio.timeout(DEADLINE):
                status, answer, _ = await request
                await closing
    finally:
        await servers.close()
    assert status == 200
    assert [e.id for e in recorder.published] == [answer["id"]]


# -------------------------------------------------------------------------- bad input


async def test_a_wrong_method_is_405_with_allow(hook: Hook, client: aiohttp.ClientSession) -> None:
    for method in ("GET", "PUT", "DELETE"):
        async with client.request(method, hook.url, data=b"{}") as r:
            assert r.status == 405
            assert r.headers["Allow"] == "POST"
            assert method in await r.text()
    assert hook.published == []


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (b"", {}, "empty body: send a JSON document"),
        (b'{"broken": ', {}, "not valid JSON"),
        (b'{"a": 1} trailing', {}, "not valid JSON"),
        (b'{"a": "\xff\xfe"}', {}, "UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, {}, "deeper"),
        (b"[" * (MAX_BODY_DEPTH + 1) + b"]" * (MAX_BODY_DEPTH + 1), {}, "deeper"),
        (b'{"a": [' * 100 + b"1" + b"]}" * 100, {}, "deeper"),
    ],
    ids=["empty", "broken", "trailing", "utf8", "deep-10000", "deep-limit", "deep-mixed"],
)
async def test_a_bad_body_is_400_with_a_reason_and_publishes_nothing(
    hook: Hook, client: aiohttp.ClientSession, body: bytes, headers: dict[str, str], reason: str
) -> None:
    status, text, response_headers = await post(
        client, hook.url, body, headers={"Content-Type": "application/json", **headers}
    )
    assert status == 400
    assert reason in text
    assert response_headers["Content-Type"].startswith("text/plain")
    assert len(text) < 300
    assert hook.recorder.calls == 0


async def test_nesting_up_to_the_limit_is_accepted(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    body = b"[" * MAX_BODY_DEPTH + b"]" * MAX_BODY_DEPTH
    status, _, _ = await post(client, hook.url, body)
    assert status == 200
    event = hook.published[0]
    assert orjson.loads(event.to_json())["data"]["body"] == orjson.loads(body)


@pytest.fixture
async def small_hook(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder
) -> AsyncIterator[Hook]:
    """A POST webhook that accepts bodies of at most 1024 bytes."""
    source = make(servers, secrets, config(port, maxPayloadSize=1024))
    async with running(source, recorder.emit):
        yield Hook(source, port, recorder)


async def test_a_body_at_the_limit_is_accepted(
    small_hook: Hook, client: aiohttp.ClientSession
) -> None:
    body = b'"' + b"x" * 1022 + b'"'
    assert len(body) == 1024
    assert (await post(client, small_hook.url, body))[0] == 200


async def test_an_oversized_content_length_is_413_before_the_body_is_read(
    small_hook: Hook,
) -> None:
    # announce 10 MB but send none of it: the answer comes without reading a byte
    status, text = await raw_request(
        int(small_hook.source.config.port),
        b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000",
    )
    assert status == 413
    assert b"1024" in text
    assert small_hook.recorder.calls == 0


async def test_an_oversized_body_is_413_and_publishes_nothing(
    small_hook: Hook, client: aiohttp.ClientSession
) -> None:
    status, text, _ = await post(client, small_hook.url, b'"' + b"x" * 2000 + b'"')
    assert status == 413
    assert "1024" in text
    assert small_hook.recorder.calls == 0


async def test_an_oversized_chunked_body_is_413_once_it_passes_the_limit(
    small_hook: Hook, client: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'"'
        for _ in range(16):
            yield b"x" * 256
        yield b'"'

    async with client.post(small_hook.url, data=chunks()) as r:
        assert r.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert r.status == 413
        assert "1024" in await r.text()
    assert small_hook.recorder.calls == 0


async def test_a_small_chunked_body_is_accepted(
    small_hook: Hook, client: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"a":'
        yield b" [1, 2]}"

    async with client.post(small_hook.url, data=chunks()) as r:
        assert r.status == 200
    assert small_hook.published[0].data["body"] == {"a": [1, 2]}


# ------------------------------------------------------------------------------ auth


@pytest.fixture
async def auth_hook(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int,
    recorder: Recorder,
) -> AsyncIterator[Hook]:  # fmt: skip
    """A POST webhook that requires the bearer token TOKEN."""
    put_secret(secrets_dir, "hook-auth", "token", TOKEN.encode() + b"\n")
    source = make(servers, secrets, config(port, authSecret={"name": "hook-auth", "key": "token"}))
    async with running(source, recorder.emit):
        yield Hook(source, port, recorder)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
     f"Bearer {TOKEN[:-1]}"],
    ids=["missing", "empty", "no-token", "blank-token", "wrong", "basic", "longer", "shorter"],
)  # fmt: skip
async def test_a_missing_or_wrong_token_is_401(
    auth_hook: Hook, client: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    status, text, response_headers = await post(client, auth_hook.url, b"{}", headers=headers)
    assert status == 401
    assert response_headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in text
    assert auth_hook.recorder.calls == 0


async def test_the_right_token_is_accepted_and_masked_in_the_event(
    auth_hook: Hook, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for value in (f"Bearer {TOKEN}", f"bearer  {TOKEN} "):
            status, _, _ = await post(
                client, auth_hook.url, b'{"ok": 1}', headers={"Authorization": value}
            )
            assert status == 200
        status, _, _ = await post(
            client, auth_hook.url, b"{}", headers={"Authorization": "Bearer nope"}
        )
        assert status == 401
    assert len(auth_hook.published) == 2
    for event in auth_hook.published:
        assert event.data["header"]["Authorization"] == [MASKED_AUTH]
        assert TOKEN.encode() not in event.to_json()
    assert TOKEN not in caplog.text


async def test_authorization_is_masked_even_without_an_auth_secret(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    await post(client, hook.url, b"{}", headers={"Authorization": "Bearer anything"})
    assert hook.published[0].data["header"]["Authorization"] == [MASKED_AUTH]


async def test_auth_is_checked_before_the_method(
    auth_hook: Hook, client: aiohttp.ClientSession
) -> None:
    async with client.get(auth_hook.url) as r:
        assert r.status == 401
    async with client.get(auth_hook.url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        assert r.status == 405


async def test_an_absent_or_empty_auth_secret_is_refused_at_construction(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int
) -> None:
    with pytest.raises(SecretError, match="hook-auth"):
        make(servers, secrets, config(port, authSecret={"name": "hook-auth", "key": "token"}))
    put_secret(secrets_dir, "hook-auth", "token", b"\n")
    with pytest.raises(ConfigError, match="empty"):
        make(servers, secrets, config(port, authSecret={"name": "hook-auth", "key": "token"}))
    optional = {"name": "absent", "key": "token", "optional": True}
    with pytest.raises(ConfigError, match="absent"):
        make(servers, secrets, config(port, authSecret=optional))


# ------------------------------------------------------------------------------ headers


async def test_headers_are_canonical_lists_in_arrival_order(hook: Hook) -> None:
    status, _ = await raw_request(
        int(hook.source.config.port),
        b"POST /hook HTTP/1.1\r\nHost: example.com\r\nx-github-event: push\r\n"
        b"X-Multi: one\r\nx-MULTI: two\r\nX-Multi: three\r\nX-Bytes: caf\xc3\xa9 \xff\r\n"
        b"Content-Length: 2",
        b"{}",
    )
    assert status == 200
    header = hook.published[0].data["header"]
    assert header["X-Github-Event"] == ["push"]
    assert header["X-Multi"] == ["one", "two", "three"]
    assert header["X-Bytes"] == ["café \ufffd"]  # invalid UTF-8 as Go's JSON writes it
    assert header["Content-Length"] == ["2"]
    assert "Host" not in header


async def test_a_traceparent_travels_with_the_event(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    await post(
        client, hook.url, b"{}",
        headers={"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"},
    )  # fmt: skip
    await post(client, hook.url, b"{}", headers={"traceparent": "not-a-trace"})
    first, second = hook.published
    assert dict(first.extensions) == {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}
    assert dict(second.extensions) == {}
    assert orjson.loads(first.to_json())["traceparent"] == TRACEPARENT


# ------------------------------------------------------------------------- CloudEvents


BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "order-42",
    "ce-source": "/shop/orders",
    "ce-type": "com.example.order.created",
    "ce-subject": "order/42",
    "ce-time": "2026-07-18T12:00:00Z",
    "ce-dataschema": "https://example.com/order.json",
    "ce-partitionkey": "p%207",
    "ce-bad-name": "ignored",
    "Content-Type": "application/json",
}


async def test_a_binary_cloudevent_keeps_its_attributes(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    status, answer, _ = await post(client, hook.url, b'{"total": 9}', headers=BINARY)
    assert (status, answer) == (200, {"id": "order-42"})
    [event] = hook.published
    assert event.id == "order-42"
    assert (event.source, event.type, event.subject) == (hook.event_source, "webhook", "example")
    assert dict(event.extensions) == {
        "producersource": "/shop/orders",
        "producertype": "com.example.order.created",
        "producersubject": "order/42",
        "producertime": "2026-07-18T12:00:00Z",
        "producerdataschema": "https://example.com/order.json",
        "partitionkey": "p 7",
    }
    assert event.data["body"] == {"total": 9}
    assert event.data["header"]["Ce-Id"] == ["order-42"]


async def test_the_same_cloudevent_twice_is_one_event(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    first = await post(client, hook.url, b'{"total": 9}', headers=BINARY)
    again = await post(client, hook.url, b'{"total": 9}', headers=BINARY)
    assert first[:2] == (200, {"id": "order-42"})
    assert again[:2] == (200, {"id": "order-42", "duplicate": True})
    assert [e.id for e in hook.published] == ["order-42"]


async def test_a_binary_cloudevent_may_have_no_data(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    status, _, _ = await post(client, hook.url, b"", headers=BINARY)
    assert status == 200
    assert hook.published[0].data["body"] is None


async def test_a_binary_cloudevent_without_an_id_is_400(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    headers = {k: v for k, v in BINARY.items() if k != "ce-id"}
    status, text, _ = await post(client, hook.url, b"{}", headers=headers)
    assert status == 400
    assert "id" in text
    headers = {**BINARY, "ce-specversion": "0.3"}
    status, text, _ = await post(client, hook.url, b"{}", headers=headers)
    assert status == 400
    assert "specversion" in text
    assert hook.recorder.calls == 0


STRUCTURED = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "urn:producer",
    "type": "com.example.thing",
    "time": "2026-07-18T12:00:00Z",
    "datacontenttype": "application/json",
    "subject": "thing-1",
    "traceparent": TRACEPARENT,
    "priority": 5,
    "urgent": True,
    "Bad-Name": "ignored",
    "nested": {"not": "an attribute type"},
    "data": {"thing": [1, 2]},
}


WITHOUT_DATA = {k: v for k, v in STRUCTURED.items() if k != "data"}


async def test_a_structured_cloudevent_keeps_its_attributes_and_unwraps_its_data(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    ct = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
    body = orjson.dumps(STRUCTURED)
    status, answer, _ = await post(client, hook.url, body, headers=ct)
    assert (status, answer) == (200, {"id": "evt-1"})
    again = await post(client, hook.url, body, headers=ct)
    assert again[1] == {"id": "evt-1", "duplicate": True}
    [event] = hook.published
    assert event.id == "evt-1"
    assert event.subject == "example"
    assert event.data["body"] == {"thing": [1, 2]}
    assert dict(event.extensions) == {
        "producersource": "urn:producer",
        "producertype": "com.example.thing",
        "producersubject": "thing-1",
        "producertime": "2026-07-18T12:00:00Z",
        "traceparent": TRACEPARENT,
        "priority": "5",
        "urgent": "true",
    }


async def test_a_structured_cloudevent_with_base64_data(
    hook: Hook, client: aiohttp.ClientSession
) -> None:
    envelope = {**WITHOUT_DATA, "id": "evt-b64"}
    envelope["data_base64"] = base64.b64encode(b'{"x": 1}').decode()
    headers = {"Content-Type": "application/cloudevents+json"}
    status, _, _ = await post(client, hook.url, orjson.dumps(envelope), headers=headers)
    assert status == 200
    assert hook.published[0].data["body"] == {"x": 1}


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (b"", "empty body"),
        (b"[1]", "JSON object"),
        (orjson.dumps({**STRUCTURED, "specversion": "0.3"}), "specversion"),
        (orjson.dumps({k: v for k, v in STRUCTURED.items() if k != "source"}), "source"),
        (orjson.dumps({**STRUCTURED, "id": ""}), "id"),
        (orjson.dumps({**STRUCTURED, "id": 7}), "id"),
        (orjson.dumps({**WITHOUT_DATA, "data_base64": "***"}), "base64"),
        (orjson.dumps({**WITHOUT_DATA, "data_base64": base64.b64encode(b"{").decode()}), "JSON"),
    ],
    ids=[
        "empty",
        "array",
        "version",
        "no-source",
        "empty-id",
        "number-id",
        "bad-base64",
        "b64-json",
    ],
)
async def test_an_invalid_structured_cloudevent_is_400(
    hook: Hook, client: aiohttp.ClientSession, envelope: bytes, reason: str
) -> None:
    if reason == "base64":
        envelope = orjson.dumps({k: v for k, v in orjson.loads(envelope).items() if k != "data"})
    headers = {"Content-Type": "application/cloudevents+json"}
    status, text, _ = await post(client, hook.url, envelope, headers=headers)
    assert status == 400
    assert reason in text
    assert hook.recorder.calls == 0


# ----------------------------------------------------------------------------- startup


async def test_a_port_in_use_fails_the_source_with_a_source_error(
    servers: HTTPServers, secrets: SecretStore, recorder: Recorder
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = taken.getsockname()[1]
        source = make(servers, secrets, config(number))
        with pytest.raises(SourceError, match=str(number)):
            async with asyncio.timeout(DEADLINE):
                await source.run(recorder.emit)
    assert not source.ready.is_set()


async def test_two_sources_on_one_route_fail_with_a_config_error(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder
) -> None:
    first = make(servers, secrets, config(port), name="first")
    second = make(servers, secrets, config(port), name="second")
    async with running(first, recorder.emit):
        with pytest.raises(ConfigError) as caught:
            await second.run(recorder.emit)
    assert first.owner in str(caught.value)
    assert second.owner in str(caught.value)


async def test_the_source_needs_the_shared_servers(secrets: SecretStore, port: int) -> None:
    ctx = SourceContext(event_source=unique(), event_name="e", secrets=secrets)
    with pytest.raises(ConfigError, match="HTTP servers"):
        WebhookSource(config(port), ctx)


class _Watch(logging.Handler):
    """Sets ``seen`` once a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()
        self.errors: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()
        if record.levelno >= logging.ERROR:
            self.errors.append(record)


async def test_a_client_that_leaves_mid_body_publishes_nothing_and_logs_no_error(
    small_hook: Hook,
) -> None:
    watch = _Watch("the connection closed before the body ended")
    root = logging.getLogger()
    previous = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", int(small_hook.source.config.port))
        writer.write(b'POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":')
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with asyncio.timeout(DEADLINE):
            await watch.seen.wait()
    finally:
        root.removeHandler(watch)
        root.setLevel(previous)
    assert watch.errors == []
    assert small_hook.recorder.calls == 0
