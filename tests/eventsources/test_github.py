"""The github source's intake against the real shared server on 127.0.0.1 and a memory bus.

Deliveries are the 89 real payloads of ``../shared/testdata/github/`` (octokit's
examples, one folder per ``X-GitHub-Event``), signed as GitHub signs them
(``X-Hub-Signature-256``: HMAC-SHA256 of the raw body). A source answers only
after ``emit`` returned, so once a response is in, what was (or was not)
published is known: no waiting is needed. Hook registration is in
``test_github_hooks.py``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict

from bus.base import Key
from bus.event import Event
from bus.memory import MemoryBus
from eventsources import source as source_registry
from eventsources.github import (
    MASKED,
    GithubEventSource,
    GithubSource,
    sign,
    signature_matches,
)
from eventsources.http_server import HTTPServers
from eventsources.source import EmitResult, Source, SourceContext
from herald.core.errors import ConfigError, SecretError
from herald.core.refs import SecretStore
from tests.eventsources.conftest import (
    Certificate,
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

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "github"
SECRET = "hook-s3cret-\N{SNOWMAN}"
KEY = SECRET.encode("utf-8")
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

PUSH = orjson.dumps(
    {"ref": "refs/heads/main", "after": "abc123", "repository": {"full_name": "octo/hello"}}
)


def payload_files() -> list[tuple[str, Path]]:
    """(X-GitHub-Event, file) of every real payload, or a skip when the data is absent."""
    if not DATA.is_dir():
        pytest.skip(f"GitHub test payloads not found at {DATA} (shared testdata absent)")
    return [
        (folder.name, path)
        for folder in sorted(DATA.iterdir())
        if folder.is_dir() and folder.name != "schemas"
        for path in sorted(folder.glob("*.json"))
    ]


def config(port: int, **extra: Any) -> GithubEventSource:
    spec: dict[str, Any] = {
        "repositories": [{"owner": "octo", "names": ["hello"]}],
        "webhook": {"endpoint": "/github", "port": str(port), "method": "POST"},
        "events": ["*"],
        "webhookSecret": {"name": "github-hook", "key": "secret"},
    }
    spec.update(extra)
    return GithubEventSource.model_validate(spec)


def make(
    servers: HTTPServers, secrets: SecretStore, cfg: GithubEventSource, name: str = "code"
) -> GithubSource:
    ctx = SourceContext(event_source=unique(), event_name=name, secrets=secrets, http=servers)
    return GithubSource(cfg, ctx)


def headers_for(
    body: bytes, event: str = "push", delivery: str | None = None, media: str = JSON,
    secret: bytes | None = KEY,
) -> dict[str, str]:  # fmt: skip
    """What GitHub sends with ``body``."""
    headers = {
        "Content-Type": media,
        "User-Agent": "GitHub-Hookshot/abc1234",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "42",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


class Hook:
    """One running github event: its names, URL, and what its emit recorded."""

    def __init__(self, source: GithubSource, port: int, recorder: Recorder) -> None:
        self.source = source
        self.event_source = source.context.event_source
        self.event_name = source.context.event_name
        self.url = f"http://127.0.0.1:{port}/github"
        self.port = port
        self.recorder = recorder

    @property
    def published(self) -> list[Event]:
        return self.recorder.published


@pytest.fixture
def signed_secrets(secrets_dir: Path, secrets: SecretStore) -> SecretStore:
    put_secret(secrets_dir, "github-hook", "secret", KEY + b"\n")  # as `echo` writes it
    return secrets


@pytest.fixture
async def hook(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder
) -> AsyncIterator[Hook]:
    """A github event for every event type, signed, with metadata."""
    source = make(servers, signed_secrets, config(port, metadata={"team": "platform"}))
    async with running(source, recorder.emit):
        yield Hook(source, port, recorder)


async def post(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, Any, CIMultiDict[str]]:
    """Status, decoded answer (JSON for 200, text otherwise) and response headers."""
    async with client.post(url, data=body, headers=headers) as r:
        raw = await r.read()
        decoded = orjson.loads(raw) if r.status == 200 else raw.decode()
        return r.status, decoded, CIMultiDict(r.headers)


# ------------------------------------------------------------------------ the signature


def test_githubs_documented_signature_vector() -> None:
    vector_file = DATA / "hmac_vector.json"
    if not vector_file.is_file():
        pytest.skip(f"GitHub's signature test vector not found at {vector_file}")
    vector = orjson.loads(vector_file.read_bytes())
    secret, payload = vector["secret"].encode(), vector["payload"].encode()
    assert vector["header_name"] == "X-Hub-Signature-256"
    assert sign(secret, payload) == vector["header_value"]
    assert signature_matches(secret, payload, vector["header_value"])
    assert signature_matches(secret, payload, vector["header_value"].upper())  # hex case
    assert not signature_matches(secret, payload + b" ", vector["header_value"])
    assert not signature_matches(b"another secret", payload, vector["header_value"])
    assert not signature_matches(secret, payload, vector["signature_hex"])  # no "sha256="
    assert not signature_matches(secret, payload, "sha256=\N{SNOWMAN}")


# ---------------------------------------------------------------------- real payloads


async def test_every_real_payload_is_one_event_as_json_and_as_form(
    hook: Hook, bus: MemoryBus, client: aiohttp.ClientSession
) -> None:
    files = payload_files()
    assert len(files) == 89
    key = Key(hook.event_source, hook.event_name)
    sub = await bus.subscribe("reader", [key])
    await sub.close()  # the consumer exists from now on and keeps collecting
    published = 0
    for media in (JSON, FORM):
        for event_type, path in files:
            raw = path.read_bytes()
            body = raw if media == JSON else b"payload=" + quote_plus(raw).encode()
            delivery = str(uuid.uuid4())
            headers = headers_for(body, event_type, delivery, media)
            status, answer, _ = await post(client, hook.url, body, headers)
            where = f"{media} {event_type}/{path.name}"
            assert status == 200, (where, answer)
            if event_type == "ping":  # answered, not published: events says "*"
                assert answer["ignored"] is True, where
                assert "ping" in answer["reason"]
                assert len(hook.published) == published, where
                continue
            assert answer == {"id": delivery}, where
            published += 1
            assert len(hook.published) == published, where
            event = hook.published[-1]
            assert (event.id, event.source, event.type, event.subject) == (
                delivery, hook.event_source, "github", hook.event_name
            ), where  # fmt: skip
            assert event.datacontenttype == "application/json"
            expected = orjson.loads(raw)
            expected |= {"X-GitHub-Event": event_type, "X-GitHub-Delivery": delivery}
            assert event.data["body"] == expected, where
            assert set(event.data) == {"headers", "body", "metadata"}
            assert event.data["metadata"] == {"team": "platform"}
            sent = event.data["headers"]
            assert sent["X-Github-Event"] == [event_type]
            assert sent["X-Github-Delivery"] == [delivery]
            assert sent["X-Hub-Signature-256"] == [headers["X-Hub-Signature-256"]]
            assert sent["Content-Type"] == [media]
            assert "Host" not in sent
            # the same delivery again (a retry, "Redeliver"): answered, not published twice
            status, again, _ = await post(client, hook.url, body, headers)
            assert (status, again) == (200, {"id": delivery, "duplicate": True}), where
            assert len(hook.published) == published, where
    assert published == 2 * sum(1 for t, _ in files if t != "ping")
    # what a sensor reads from the bus is the first of them, whole
    received = await next_event(bus, key, "reader")
    assert received.id == hook.published[0].id
    assert received.data == hook.published[0].data


async def test_ping_is_published_only_when_events_names_it(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, signed_secrets, config(port, events=["ping", "push"]))
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 42}'
    async with running(source, recorder.emit):
        url = f"http://127.0.0.1:{port}/github"
        status, answer, _ = await post(client, url, ping, headers_for(ping, "ping", "p-1"))
    assert (status, answer) == (200, {"id": "p-1"})
    [event] = recorder.published
    assert event.data["body"]["zen"] == "Keep it logically awesome."
    assert event.data["body"]["X-GitHub-Event"] == "ping"


async def test_event_types_not_in_events_are_answered_and_not_published(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, signed_secrets, config(port, events=["push", "pull_request"]))
    url = f"http://127.0.0.1:{port}/github"
    async with running(source, recorder.emit):
        for event_type in ("issues", "ping", "Push", "x" * 300):
            status, answer, _ = await post(client, url, PUSH, headers_for(PUSH, event_type, "d"))
            assert status == 200
            assert answer["id"] == "d"
            assert answer["ignored"] is True
            assert len(answer["reason"]) < 200
        status, answer, _ = await post(client, url, PUSH, headers_for(PUSH, "pull_request", "d"))
        assert (status, answer) == (200, {"id": "d"})
    assert [e.data["body"]["X-GitHub-Event"] for e in recorder.published] == ["pull_request"]


async def test_without_a_secret_unsigned_deliveries_are_accepted_with_a_warning(
    servers: HTTPServers, secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    cfg = config(port)
    cfg = cfg.model_copy(update={"webhook_secret": None})
    source = make(servers, secrets, cfg)
    with caplog.at_level(logging.WARNING, logger="herald.source.github"):
        async with running(source, recorder.emit):
            status, _, _ = await post(
                client, f"http://127.0.0.1:{port}/github", PUSH, headers_for(PUSH, secret=None)
            )
    assert status == 200
    assert len(recorder.published) == 1
    assert "no webhookSecret" in caplog.text


async def test_metadata_is_left_out_when_not_set(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, signed_secrets, config(port))
    async with running(source, recorder.emit):
        status, _, _ = await post(
            client, f"http://127.0.0.1:{port}/github", PUSH, headers_for(PUSH)
        )
    assert status == 200
    assert set(recorder.published[0].data) == {"headers", "body"}


async def test_secret_bearing_headers_are_masked_and_secrets_never_logged(
    hook: Hook, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    headers = headers_for(PUSH)
    headers |= {"Authorization": "Bearer leaked-token", "Cookie": "session=leaked-cookie"}
    with caplog.at_level(logging.DEBUG):
        status, _, _ = await post(client, hook.url, PUSH, headers)
        bad = headers_for(PUSH) | {"X-Hub-Signature-256": sign(b"wrong", PUSH)}
        assert (await post(client, hook.url, PUSH, bad))[0] == 403
    assert status == 200
    [event] = hook.published
    assert event.data["headers"]["Authorization"] == [MASKED]
    assert event.data["headers"]["Cookie"] == [MASKED]
    text = event.to_json().decode()
    for secret in ("leaked-token", "leaked-cookie", SECRET):
        assert secret not in text
        assert secret not in caplog.text


# -------------------------------------------------------------------- what emit said


async def test_a_filtered_event_is_still_answered_200(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, client: aiohttp.ClientSession
) -> None:
    source = make(servers, signed_secrets, config(port))
    async with running(source, filtering_emit):
        status, answer, _ = await post(
            client, f"http://127.0.0.1:{port}/github", PUSH, headers_for(PUSH, delivery="f-1")
        )
    assert (status, answer) == (200, {"id": "f-1", "filtered": True})


async def test_a_bus_failure_is_503_and_a_retry_is_then_published_once(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    down = True

    async def flaky(event: Event) -> EmitResult:
        if down:
            return await failing_emit(event)
        return await recorder.emit(event)

    source = make(servers, signed_secrets, config(port))
    url = f"http://127.0.0.1:{port}/github"
    headers = headers_for(PUSH, delivery="retry-1")
    async with running(source, flaky):
        status, text, response_headers = await post(client, url, PUSH, headers)
        assert (status, text.strip(), response_headers["Retry-After"]) == (
            503, "failed to record event", "1"
        )  # fmt: skip
        down = False
        for expected in ({"id": "retry-1"}, {"id": "retry-1", "duplicate": True}):
            status, answer, _ = await post(client, url, PUSH, headers)
            assert (status, answer) == (200, expected)
    assert [e.id for e in recorder.published] == ["retry-1"]


# ------------------------------------------------------------------------- bad input


async def test_a_missing_signature_is_401(hook: Hook, client: aiohttp.ClientSession) -> None:
    status, text, _ = await post(client, hook.url, PUSH, headers_for(PUSH, secret=None))
    assert status == 401
    assert "missing X-Hub-Signature-256" in text
    assert hook.published == []


async def test_a_sha1_signature_alone_is_401(hook: Hook, client: aiohttp.ClientSession) -> None:
    import hashlib
    import hmac

    headers = headers_for(PUSH, secret=None)
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(KEY, PUSH, hashlib.sha1).hexdigest()
    status, text, _ = await post(client, hook.url, PUSH, headers)
    assert status == 401
    assert "SHA-1" in text
    assert hook.published == []


@pytest.mark.parametrize(
    "signature",
    [
        sign(b"another secret", PUSH),
        sign(KEY, PUSH + b" "),
        sign(KEY, PUSH).removeprefix("sha256="),
        "sha256=",
        "sha256=not-hex",
        "",
    ],
    ids=["wrong-secret", "other-body", "no-prefix", "empty-hex", "not-hex", "empty"],
)
async def test_a_wrong_signature_is_403(
    hook: Hook, client: aiohttp.ClientSession, signature: str
) -> None:
    headers = headers_for(PUSH) | {"X-Hub-Signature-256": signature}
    status, text, _ = await post(client, hook.url, PUSH, headers)
    assert status == 403
    assert "does not match" in text
    assert hook.published == []


async def test_a_body_truncated_in_transit_fails_the_signature(hook: Hook) -> None:
    """The signature covers the body GitHub sent; a cut one (any framing) is refused."""
    headers = headers_for(PUSH, delivery="cut-1")
    cut = PUSH[: len(PUSH) // 2]
    head = (
        f"POST /github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON}\r\n"
        f"X-GitHub-Event: push\r\nX-GitHub-Delivery: cut-1\r\n"
        f"X-Hub-Signature-256: {headers['X-Hub-Signature-256']}\r\nContent-Length: {len(cut)}"
    ).encode()
    status, answer = await raw_request(hook.port, head, cut)
    assert status == 403
    assert b"does not match" in answer
    assert hook.published == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (PUSH[: len(PUSH) // 2], "not valid JSON"),  # truncated, then signed
        (b"", "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b"[" * 200 + b"]" * 200, "deeper"),
        (b'["a", "list"]', "must be a JSON object"),
        (b"42", "must be a JSON object"),
    ],
    ids=["truncated", "empty", "trailing", "not-utf8", "too-deep", "array", "number"],
)
async def test_a_signed_bad_payload_is_400(
    hook: Hook, client: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    status, text, _ = await post(client, hook.url, body, headers_for(body))
    assert status == 400
    assert reason in text
    assert hook.published == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"payload=%7B%22broken", "not valid JSON"),
        (b"other=1", "no 'payload' field"),
        (b"", "no 'payload' field"),
        (b"payload=\xff", "UTF-8"),
        (b"payload=%7B%22a%22%3A%22%FF%22%7D", "UTF-8"),
    ],
    ids=["broken-json", "no-payload", "empty", "not-utf8", "not-utf8-escaped"],
)
async def test_a_bad_form_delivery_is_400(
    hook: Hook, client: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    status, text, _ = await post(client, hook.url, body, headers_for(body, media=FORM))
    assert status == 400
    assert reason in text
    assert hook.published == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data; boundary=x", None],
    ids=["text", "xml", "multipart", "none"],
)
async def test_a_wrong_content_type_is_415(
    hook: Hook, client: aiohttp.ClientSession, content_type: str | None
) -> None:
    headers = headers_for(PUSH)
    if content_type is None:
        del headers["Content-Type"]
        status, answer = await raw_request(
            hook.port,
            b"POST /github HTTP/1.1\r\nHost: x\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
            + f"Content-Length: {len(PUSH)}".encode(),
            PUSH,
        )
        text = answer.decode()
    else:
        headers["Content-Type"] = content_type
        status, text, _ = await post(client, hook.url, PUSH, headers)
    assert status == 415
    assert "GitHub sends application/json" in text
    assert hook.published == []


async def test_json_with_a_charset_is_accepted(hook: Hook, client: aiohttp.ClientSession) -> None:
    headers = headers_for(PUSH, media="application/json; charset=utf-8")
    assert (await post(client, hook.url, PUSH, headers))[0] == 200
    assert len(hook.published) == 1


@pytest.mark.parametrize(
    ("drop", "value", "reason"),
    [
        ("X-GitHub-Delivery", None, "missing X-GitHub-Delivery"),
        ("X-GitHub-Event", None, "missing X-GitHub-Event"),
        ("X-GitHub-Delivery", "", "missing X-GitHub-Delivery"),
        ("X-GitHub-Delivery", "has spaces in it", "printable ASCII"),
        ("X-GitHub-Delivery", "d" * 129, "printable ASCII"),
    ],
    ids=["no-delivery", "no-event", "empty-delivery", "spaces", "too-long"],
)
async def test_missing_or_bad_github_headers_are_400(
    hook: Hook, client: aiohttp.ClientSession, drop: str, value: str | None, reason: str
) -> None:
    headers = headers_for(PUSH)
    if value is None:
        del headers[drop]
    else:
        headers[drop] = value
    status, text, _ = await post(client, hook.url, PUSH, headers)
    assert status == 400
    assert reason in text
    assert hook.published == []


async def test_a_wrong_method_is_405(hook: Hook, client: aiohttp.ClientSession) -> None:
    for method in ("GET", "PUT"):
        async with client.request(method, hook.url, data=PUSH, headers=headers_for(PUSH)) as r:
            assert r.status == 405
            assert r.headers["Allow"] == "POST"
    assert hook.published == []


async def test_an_oversized_body_is_413_and_the_limit_is_per_source(
    servers: HTTPServers, signed_secrets: SecretStore, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    small_port, large_port = free_port(), free_port()
    big = orjson.dumps({"ref": "refs/heads/main", "commits": ["x" * 100] * 40})
    webhook = {"endpoint": "/github", "method": "POST"}
    small = make(
        servers, signed_secrets,
        config(small_port, webhook={**webhook, "port": str(small_port), "maxPayloadSize": 1024}),
    )  # fmt: skip
    large = make(servers, signed_secrets, config(large_port))
    async with running(small, recorder.emit), running(large, recorder.emit):
        status, text, _ = await post(
            client, f"http://127.0.0.1:{small_port}/github", big, headers_for(big)
        )
        assert status == 413
        assert "maxPayloadSize (1024 bytes)" in text
        assert recorder.published == []
        status, _, _ = await post(
            client, f"http://127.0.0.1:{large_port}/github", big, headers_for(big)
        )
        assert status == 200
    assert len(recorder.published) == 1


# ----------------------------------------------------------------- serving and building


async def test_deliveries_over_tls(
    servers: HTTPServers, signed_secrets: SecretStore, secrets_dir: Path, port: int,
    recorder: Recorder, certificate: Certificate,
) -> None:  # fmt: skip
    put_secret(secrets_dir, "github-tls", "crt", certificate.cert)
    put_secret(secrets_dir, "github-tls", "key", certificate.key)
    webhook = {
        "endpoint": "/github",
        "port": str(port),
        "serverCertSecret": {"name": "github-tls", "key": "crt"},
        "serverKeySecret": {"name": "github-tls", "key": "key"},
    }
    source = make(servers, signed_secrets, config(port, webhook=webhook))
    connector = aiohttp.TCPConnector(ssl=certificate.client_context())
    async with running(source, recorder.emit), aiohttp.ClientSession(connector=connector) as tls:
        url = f"https://127.0.0.1:{port}/github"
        status, answer, _ = await post(tls, url, PUSH, headers_for(PUSH, delivery="tls-1"))
    assert (status, answer) == (200, {"id": "tls-1"})
    assert [e.id for e in recorder.published] == ["tls-1"]


async def test_a_stopped_source_removes_its_route(
    servers: HTTPServers, signed_secrets: SecretStore, port: int, recorder: Recorder,
    client: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source = make(servers, signed_secrets, config(port))
    url = f"http://127.0.0.1:{port}/github"
    async with running(source, recorder.emit):
        assert (await post(client, url, PUSH, headers_for(PUSH)))[0] == 200
    assert not source.ready.is_set()
    assert (await post(client, url, PUSH, headers_for(PUSH)))[0] == 404
    assert len(recorder.published) == 1


async def test_the_registry_builds_a_github_source(
    servers: HTTPServers, signed_secrets: SecretStore, port: int
) -> None:
    ctx = SourceContext(event_source=unique(), event_name="e", secrets=signed_secrets, http=servers)
    made = source_registry.factory("github")(config(port), ctx)
    assert isinstance(made, GithubSource)
    assert isinstance(made, Source)


async def test_an_absent_or_empty_webhook_secret_is_refused_at_construction(
    servers: HTTPServers, secrets: SecretStore, secrets_dir: Path, port: int
) -> None:
    with pytest.raises(SecretError, match="github-hook"):
        make(servers, secrets, config(port))
    optional = {"name": "github-hook", "key": "secret", "optional": True}
    with pytest.raises(
        ConfigError, match="webhookSecret github-hook/secret is optional and absent"
    ):
        make(servers, secrets, config(port, webhookSecret=optional))
    put_secret(secrets_dir, "github-hook", "secret", b"  \n")
    with pytest.raises(ConfigError, match="webhookSecret github-hook/secret is empty"):
        make(servers, secrets, config(port))


async def test_the_source_needs_the_shared_servers(signed_secrets: SecretStore, port: int) -> None:
    ctx = SourceContext(event_source=unique(), event_name="e", secrets=signed_secrets)
    with pytest.raises(ConfigError, match="shared HTTP servers"):
        GithubSource(config(port), ctx)


def test_auth_secret_on_the_webhook_is_reported_as_unused() -> None:
    cfg = config(
        12000,
        webhook={
            "endpoint": "/github",
            "port": "12000",
            "authSecret": {"name": "token", "key": "t"},
        },
    )
    assert [path for path, _ in cfg.manifest_warnings()] == [("webhook", "authSecret")]
