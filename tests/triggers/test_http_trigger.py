"""The http trigger against a real local HTTP server: what it sends, how it judges answers."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from bus.event import Event
from herald.core.errors import PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from tests.triggers.receiver import Receiver, serve, write_ref
from triggers.base import Trigger, TriggerContext, factory
from triggers.http import EVENT_IDS_HEADER, HTTPTrigger, HTTPTriggerRunner

DATA = {
    "header": {"Content-Type": ["application/json"]},
    "body": {"name": "build-42", "count": 3, "ok": True, "obj": {"k": "v"}},
}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


def http_spec(url: str, **fields: Any) -> HTTPTrigger:
    return HTTPTrigger.model_validate({"url": url, **fields})


def runner(
    spec: HTTPTrigger, context: TriggerContext, allowed: frozenset[int] | None = None
) -> HTTPTriggerRunner:
    return HTTPTriggerRunner(spec, context, allowed_statuses=allowed)


async def fire(
    context: TriggerContext,
    url: str,
    events: Mapping[str, Event] = EVENTS,
    allowed: frozenset[int] | None = None,
    **fields: Any,
) -> str:
    spec = http_spec(url, **fields)
    return await runner(spec, context, allowed).fire(spec, events)


def param(dest: str, **src: Any) -> dict[str, Any]:
    return {"src": {"dependencyName": "dep", **src}, "dest": dest}


# ------------------------------------------------------------------- the request


async def test_default_is_a_post_without_body_carrying_the_event_ids(
    receiver: Receiver, context: TriggerContext
) -> None:
    outcome = await fire(context, f"{receiver.base}/hook?x=1")

    got = receiver.last
    assert (got.method, got.path_qs, got.body) == ("POST", "/hook?x=1", b"")
    assert "Content-Type" not in got.headers
    assert got.headers[EVENT_IDS_HEADER] == "evt-1"
    assert outcome.startswith(f"POST {receiver.base}/hook?x=1 → 200 in ")
    assert outcome.endswith(" ms")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param([param("name", dataKey="body.name")], {"name": "build-42"}, id="dataKey"),
        pytest.param(
            [param("a.b.c", dataKey="body.name")], {"a": {"b": {"c": "build-42"}}}, id="nested-dest"
        ),
        pytest.param(
            [param("id", contextKey="id"), param("kind", contextKey="type")],
            {"id": "evt-1", "kind": "webhook"},
            id="contextKey",
        ),
        pytest.param(
            [param("v", dataKey="body.missing", value="fallback")],
            {"v": "fallback"},
            id="value-fallback",
        ),
        pytest.param([param("n", dataKey="body.count")], {"n": "3"}, id="number-as-text"),
        pytest.param(
            [
                param("n", dataKey="body.count", useRawData=True),
                param("ok", dataKey="body.ok", useRawData=True),
                param("o", dataKey="body.obj", useRawData=True),
            ],
            {"n": 3, "ok": True, "o": {"k": "v"}},
            id="useRawData",
        ),
        pytest.param([param("o", dataKey="body.obj")], {"o": '{"k":"v"}'}, id="object-as-text"),
        pytest.param([param("", dataKey="body")], DATA["body"], id="empty-dest-is-whole-body"),
        pytest.param(
            [param("items.-1", value="a"), param("items.-1", value="b")],
            {"items": ["a", "b"]},
            id="append-to-array",
        ),
    ],
)
async def test_payload_parameters_build_the_json_body(
    receiver: Receiver,
    context: TriggerContext,
    payload: list[dict[str, Any]],
    expected: Any,
) -> None:
    await fire(context, f"{receiver.base}/hook", payload=payload)

    got = receiver.last
    assert got.headers["Content-Type"] == "application/json"
    assert orjson.loads(got.body) == expected


async def test_payload_that_resolves_nothing_sends_no_body(
    receiver: Receiver, context: TriggerContext
) -> None:
    payload = [{"src": {"dependencyName": "absent", "dataKey": "body"}, "dest": "x"}]
    await fire(context, f"{receiver.base}/hook", payload=payload)

    assert receiver.last.body == b""
    assert "Content-Type" not in receiver.last.headers


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH"])
async def test_every_method_sends_its_payload(
    receiver: Receiver, context: TriggerContext, method: str
) -> None:
    await fire(context, f"{receiver.base}/hook", method=method, payload=[param("n", value="1")])

    assert (receiver.last.method, orjson.loads(receiver.last.body)) == (method, {"n": "1"})


async def test_a_content_type_header_wins_over_json(
    receiver: Receiver, context: TriggerContext
) -> None:
    await fire(
        context,
        f"{receiver.base}/hook",
        headers={"content-type": "application/cloudevents+json"},
        payload=[param("n", value="1")],
    )

    assert receiver.last.headers.getall("Content-Type") == ["application/cloudevents+json"]


async def test_event_ids_are_in_dependency_name_order(
    receiver: Receiver, context: TriggerContext
) -> None:
    events = {"zeta": event("id-z"), "alpha": event("id-a"), "mid": event("id-m")}
    await fire(context, f"{receiver.base}/hook", events=events)

    assert receiver.last.headers[EVENT_IDS_HEADER] == "id-a,id-m,id-z"


async def test_fixed_dynamic_and_secure_headers(
    receiver: Receiver, context: TriggerContext, tmp_path: Path
) -> None:
    write_ref(tmp_path / "secrets", "api-token", "token", "s3cr3t\n")
    write_ref(tmp_path / "configmaps", "settings", "tenant", "acme")
    await fire(
        context,
        f"{receiver.base}/hook",
        headers={"X-Fixed": "1", "x-token": "overridden", "X-Action": "overridden"},
        dynamicHeaders=[
            param("X-Action", dataKey="body.name"),
            param("X-Source", contextKey="source"),
            {"src": {"dependencyName": "absent"}, "dest": "X-Absent"},
        ],
        secureHeaders=[
            {
                "name": "X-Token",
                "valueFrom": {"secretKeyRef": {"name": "api-token", "key": "token"}},
            },
            {
                "name": "X-Tenant",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "tenant"}},
            },
        ],
    )

    headers = receiver.last.headers
    assert headers["X-Fixed"] == "1"
    assert headers.getall("X-Action") == ["build-42"]
    assert headers["X-Source"] == "webhook"
    assert "X-Absent" not in headers
    assert headers.getall("X-Token") == ["s3cr3t"]
    assert headers["X-Tenant"] == "acme"


async def test_a_missing_secure_header_secret_is_permanent_and_names_the_ref(
    receiver: Receiver, context: TriggerContext
) -> None:
    secure = [{"name": "X-Token", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]
    with pytest.raises(PermanentTriggerError, match=r"secureHeaders 'X-Token'.*'nope' key 'k'"):
        await fire(context, f"{receiver.base}/hook", secureHeaders=secure)
    assert receiver.requests == []


async def test_an_unresolvable_dynamic_header_is_permanent(
    receiver: Receiver, context: TriggerContext
) -> None:
    with pytest.raises(PermanentTriggerError, match=r"dynamicHeaders 'X-A'.*body.nope"):
        await fire(
            context,
            f"{receiver.base}/hook",
            dynamicHeaders=[param("X-A", dataKey="body.nope")],
        )


async def test_a_line_break_in_a_dynamic_header_is_refused(
    receiver: Receiver, context: TriggerContext
) -> None:
    events = {"dep": event(data={"v": "a\r\nX-Injected: 1"})}
    with pytest.raises(PermanentTriggerError, match="cannot send the request"):
        await fire(
            context,
            f"{receiver.base}/hook",
            events=events,
            dynamicHeaders=[param("X-A", dataKey="v")],
        )
    assert receiver.requests == []


async def test_basic_auth_from_secrets(
    receiver: Receiver, context: TriggerContext, tmp_path: Path
) -> None:
    write_ref(tmp_path / "secrets", "creds", "user", "alice\n")
    write_ref(tmp_path / "secrets", "creds", "pass", "pa:ss")
    await fire(
        context,
        f"{receiver.base}/hook",
        basicAuth={
            "username": {"name": "creds", "key": "user"},
            "password": {"name": "creds", "key": "pass"},
        },
    )

    expected = base64.b64encode(b"alice:pa:ss").decode()
    assert receiver.last.headers["Authorization"] == f"Basic {expected}"


async def test_host_overrides_the_host_header(receiver: Receiver, context: TriggerContext) -> None:
    await fire(context, f"{receiver.base}/hook", host="api.example.test")

    assert receiver.last.headers["Host"] == "api.example.test"


async def test_an_event_traceparent_is_forwarded(
    receiver: Receiver, context: TriggerContext
) -> None:
    events = {"a": event("id-a"), "b": event("id-b", traceparent=TRACEPARENT)}
    await fire(context, f"{receiver.base}/hook", events=events)

    assert receiver.last.headers["traceparent"] == TRACEPARENT


async def test_http_parameters_change_the_url_per_firing(
    receiver: Receiver, context: TriggerContext
) -> None:
    template = http_spec(
        f"{receiver.base}/status/500",
        parameters=[param("url", dataKey="body.target")],
    )
    trigger = runner(template, context)
    first = event("e1", {"body": {"target": f"{receiver.base}/jobs/1"}})
    second = event("e2", {"body": {"target": f"{receiver.base}/jobs/2"}})

    await trigger.fire(template, {"dep": first})
    await trigger.fire(template, {"dep": second})

    assert [r.path_qs for r in receiver.requests] == ["/jobs/1", "/jobs/2"]


async def test_http_parameters_append_to_the_url(
    receiver: Receiver, context: TriggerContext
) -> None:
    await fire(
        context,
        f"{receiver.base}/builds/",
        parameters=[{**param("url", dataKey="body.name"), "operation": "append"}],
    )

    assert receiver.last.path_qs == "/builds/build-42"


async def test_http_parameters_making_the_spec_invalid_are_permanent(
    receiver: Receiver, context: TriggerContext
) -> None:
    with pytest.raises(PermanentTriggerError, match=r"http\.parameters made the http spec invalid"):
        await fire(context, f"{receiver.base}/hook", parameters=[param("method", value="FETCH")])
    assert receiver.requests == []


async def test_sequential_firings_reuse_one_connection(
    receiver: Receiver, context: TriggerContext
) -> None:
    spec = http_spec(f"{receiver.base}/hook", payload=[param("n", value="1")])
    trigger = runner(spec, context)
    for _ in range(3):
        await trigger.fire(spec, EVENTS)

    assert len({r.peer_port for r in receiver.requests}) == 1


async def test_redirects_are_followed(receiver: Receiver, context: TriggerContext) -> None:
    outcome = await fire(context, f"{receiver.base}/redirect")

    assert [r.path_qs for r in receiver.requests] == ["/redirect", "/status/200"]
    assert "→ 200" in outcome


# ------------------------------------------------------------------- the answer


@pytest.mark.parametrize(
    ("code", "query", "outcome", "retry_after"),
    [
        (200, "", "ok", None),
        (201, "", "ok", None),
        (204, "", "ok", None),
        (500, "", "temporary", None),
        (500, "?retry_after=9", "temporary", None),
        (502, "", "temporary", None),
        (503, "?retry_after=7", "temporary", 7.0),
        (503, "", "temporary", None),
        (429, "?retry_after=3", "temporary", 3.0),
        (408, "", "temporary", None),
        (400, "", "permanent", None),
        (404, "", "permanent", None),
        (409, "", "permanent", None),
    ],
)
async def test_status_handling(
    receiver: Receiver,
    context: TriggerContext,
    code: int,
    query: str,
    outcome: str,
    retry_after: float | None,
) -> None:
    url = f"{receiver.base}/status/{code}{query}"
    if outcome == "ok":
        assert f"→ {code} in" in await fire(context, url)
        return
    error = TemporaryTriggerError if outcome == "temporary" else PermanentTriggerError
    with pytest.raises(error) as info:
        await fire(context, url)
    message = str(info.value)
    assert f"POST {url} answered {code}, expected 2xx: status {code}" == message
    if isinstance(info.value, TemporaryTriggerError):
        assert info.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("allowed", "code", "ok"),
    [
        (frozenset({200}), 200, True),
        (frozenset({200}), 201, False),
        (frozenset({404}), 404, True),
        (frozenset({404}), 200, False),
        (frozenset({200, 202}), 202, True),
        (frozenset(), 201, True),  # an empty allow list is "not set"
    ],
)
async def test_allowed_statuses_are_the_exact_accepted_set(
    receiver: Receiver, context: TriggerContext, allowed: frozenset[int], code: int, ok: bool
) -> None:
    url = f"{receiver.base}/status/{code}"
    if ok:
        assert f"→ {code} in" in await fire(context, url, allowed=allowed)
        return
    with pytest.raises(PermanentTriggerError, match=r"policy\.status\.allow"):
        await fire(context, url, allowed=allowed)


async def test_policy_status_allow_from_the_context(
    receiver: Receiver, secrets: SecretStore
) -> None:
    context = TriggerContext(
        sensor="s1", trigger="t1", secrets=secrets, allowed_statuses=frozenset({404})
    )
    try:
        spec = http_spec(f"{receiver.base}/status/404")
        assert "→ 404 in" in await HTTPTriggerRunner(spec, context).fire(spec, EVENTS)
        spec = http_spec(f"{receiver.base}/status/200")
        with pytest.raises(PermanentTriggerError, match=r"expected one of \[404\]"):
            await HTTPTriggerRunner(spec, context).fire(spec, EVENTS)
    finally:
        await context.http().close()


async def test_error_quotes_a_short_excerpt_of_the_body(
    receiver: Receiver, context: TriggerContext
) -> None:
    with pytest.raises(PermanentTriggerError) as info:
        await fire(context, f"{receiver.base}/status/422?body={'x' * 1000}")

    message = str(info.value)
    assert message.endswith(": " + "x" * 199 + "…")


async def test_userinfo_is_masked_in_messages(receiver: Receiver, context: TriggerContext) -> None:
    url = receiver.base.replace("http://", "http://bob:hunter2@") + "/status/500"
    with pytest.raises(TemporaryTriggerError) as info:
        await fire(context, url)

    assert "hunter2" not in str(info.value)
    assert "http://***@127.0.0.1:" in str(info.value)


async def test_a_timeout_is_temporary(receiver: Receiver, context: TriggerContext) -> None:
    with pytest.raises(TemporaryTriggerError, match=r"no answer within 1 s \(timeout\)"):
        await fire(context, f"{receiver.base}/hang", timeout=1)


async def test_connection_refused_is_temporary(context: TriggerContext) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TemporaryTriggerError, match="connection failed"):
        await fire(context, f"http://127.0.0.1:{port}/hook")


async def test_a_non_http_url_is_permanent(context: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="not a valid http"):
        await fire(context, "ftp://127.0.0.1/hook")


# ------------------------------------------------------------------- TLS


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl CLI to make a self-signed certificate")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=herald-test", "-keyout", str(key),
         "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_receiver(self_signed: tuple[Path, Path]) -> AsyncIterator[tuple[Receiver, bytes]]:
    """An HTTPS receiver presenting the self-signed certificate, and that certificate."""
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    recv = Receiver()
    app_runner = await serve(recv, server_ctx)
    try:
        yield recv, cert.read_bytes()
    finally:
        await app_runner.cleanup()


async def test_tls_trusting_the_ca_from_a_secret(
    tls_receiver: tuple[Receiver, bytes], context: TriggerContext, tmp_path: Path
) -> None:
    recv, cert = tls_receiver
    write_ref(tmp_path / "secrets", "receiver-ca", "ca.crt", cert)
    tls = {"caCertSecret": {"name": "receiver-ca", "key": "ca.crt"}}

    assert "→ 200 in" in await fire(context, f"{recv.base}/hook", tls=tls)
    assert recv.last.headers[EVENT_IDS_HEADER] == "evt-1"


async def test_tls_insecure_skip_verify(
    tls_receiver: tuple[Receiver, bytes], context: TriggerContext
) -> None:
    recv, _ = tls_receiver

    outcome = await fire(context, f"{recv.base}/hook", tls={"insecureSkipVerify": True})
    assert "→ 200 in" in outcome


async def test_an_untrusted_certificate_is_permanent(
    tls_receiver: tuple[Receiver, bytes], context: TriggerContext
) -> None:
    recv, _ = tls_receiver

    with pytest.raises(PermanentTriggerError, match=r"TLS certificate rejected.*caCertSecret"):
        await fire(context, f"{recv.base}/hook")
    assert recv.requests == []


# ------------------------------------------------------------------- wiring


async def test_registry_builds_an_http_trigger(context: TriggerContext) -> None:
    spec = http_spec("http://127.0.0.1:1/")
    made = factory("http")(spec, context)

    assert isinstance(made, HTTPTriggerRunner)
    assert isinstance(made, Trigger)
    await made.close()
