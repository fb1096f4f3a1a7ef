"""The shared per-port HTTP server: routing, health, TLS, conflicts, binding and shutdown.

Handlers here are small coroutines of the test; the server is the real one on
127.0.0.1, spoken to with aiohttp's client.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from eventsources.http_server import Handler, HTTPServers, WebhookContext, canonical_header_key
from herald.core.errors import ConfigError, SourceError
from herald.core.refs import SecretStore
from tests.eventsources.conftest import DEADLINE, Certificate, put_secret
from tests.sink import free_port


def context(port: int, endpoint: str, **extra: object) -> WebhookContext:
    return WebhookContext.model_validate({"port": str(port), "endpoint": endpoint, **extra})


def answer(text: str) -> web.Response:
    return web.Response(text=text)


def replying(text: str) -> Handler:
    """A handler that answers ``<text> <method> <path>``."""

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return answer(f"{text} {request.method} {request.path}")

    return handler


TLS = {
    "serverCertSecret": {"name": "tls", "key": "crt"},
    "serverKeySecret": {"name": "tls", "key": "key"},
}


async def test_routes_of_one_port_share_its_server_and_are_told_apart_by_path(
    servers: HTTPServers, port: int, client: aiohttp.ClientSession
) -> None:
    servers.add_route(context(port, "/a"), replying("A"), owner="es/a")
    servers.add_route(context(port, "/b"), replying("B"), owner="es/b")
    await servers.listening(port)
    await servers.listening(port)  # idempotent
    async with client.post(f"http://127.0.0.1:{port}/a") as r:
        assert (r.status, await r.text()) == (200, "A POST /a")
    async with client.get(f"http://127.0.0.1:{port}/b?x=1") as r:
        assert (r.status, await r.text()) == (200, "B GET /b")


async def test_health_answers_200_on_every_port(
    servers: HTTPServers, client: aiohttp.ClientSession
) -> None:
    ports = [free_port(), free_port()]
    for number in ports:
        servers.add_route(context(number, "/hook"), replying("x"), owner=f"es/{number}")
        await servers.listening(number)
    for number in ports:
        async with client.get(f"http://127.0.0.1:{number}/health") as r:
            assert (r.status, await r.text()) == (200, "OK")


async def test_an_unknown_path_is_404_with_a_reason_naming_it(
    servers: HTTPServers, port: int, client: aiohttp.ClientSession
) -> None:
    servers.add_route(context(port, "/hook"), replying("x"), owner="es/e")
    await servers.listening(port)
    for path in ("/nope", "/hook/", "/Hook"):
        async with client.post(f"http://127.0.0.1:{port}{path}") as r:
            assert r.status == 404
            assert r.content_type == "text/plain"
            text = await r.text()
            assert path in text
            assert len(text) < 200


async def test_routes_come_and_go_while_the_port_serves(
    servers: HTTPServers, port: int, client: aiohttp.ClientSession
) -> None:
    first = servers.add_route(context(port, "/first"), replying("1"), owner="es/first")
    await servers.listening(port)
    servers.add_route(context(port, "/late"), replying("late"), owner="es/late")
    async with client.get(f"http://127.0.0.1:{port}/late") as r:
        assert (r.status, await r.text()) == (200, "late GET /late")
    servers.remove_route(first)
    servers.remove_route(first)  # idempotent
    async with client.get(f"http://127.0.0.1:{port}/first") as r:
        assert r.status == 404
    # the path is free again, for another owner
    servers.add_route(context(port, "/first"), replying("again"), owner="es/again")
    async with client.get(f"http://127.0.0.1:{port}/first") as r:
        assert (r.status, await r.text()) == (200, "again GET /first")


async def test_the_same_port_and_endpoint_twice_is_a_config_error_naming_both(
    servers: HTTPServers, port: int
) -> None:
    servers.add_route(context(port, "/hook"), replying("x"), owner="orders/created")
    with pytest.raises(ConfigError) as caught:
        servers.add_route(context(port, "/hook"), replying("y"), owner="billing/paid")
    message = str(caught.value)
    assert "orders/created" in message
    assert "billing/paid" in message
    assert str(port) in message
    assert "/hook" in message


async def test_removing_a_rejected_duplicate_does_not_remove_the_original(
    servers: HTTPServers, port: int, client: aiohttp.ClientSession
) -> None:
    original = servers.add_route(context(port, "/hook"), replying("orig"), owner="es/one")
    with pytest.raises(ConfigError):
        servers.add_route(context(port, "/hook"), replying("dup"), owner="es/two")
    other = servers.add_route(context(port, "/other"), replying("o"), owner="es/two")
    servers.remove_route(other)
    await servers.listening(port)
    async with client.get(f"http://127.0.0.1:{port}/hook") as r:
        assert await r.text() == "orig GET /hook"
    assert original.owner == "es/one"


async def test_health_path_is_reserved(servers: HTTPServers, port: int) -> None:
    with pytest.raises(ConfigError, match="reserved"):
        servers.add_route(context(port, "/health"), replying("x"), owner="es/e")


async def test_routes_that_disagree_about_tls_on_one_port_are_a_config_error(
    servers: HTTPServers, port: int
) -> None:
    servers.add_route(context(port, "/secure", **TLS), replying("x"), owner="es/secure")
    with pytest.raises(ConfigError) as plain:
        servers.add_route(context(port, "/plain"), replying("x"), owner="es/plain")
    assert "es/secure" in str(plain.value)
    assert "es/plain" in str(plain.value)
    other_cert = {**TLS, "serverCertSecret": {"name": "other", "key": "crt"}}
    with pytest.raises(ConfigError, match="serverCertSecret"):
        servers.add_route(context(port, "/other", **other_cert), replying("x"), owner="es/o")
    # the same TLS settings are fine
    servers.add_route(context(port, "/also-secure", **TLS), replying("x"), owner="es/also")


async def test_serves_tls_from_secrets(
    servers: HTTPServers, port: int, secrets_dir: Path, certificate: Certificate
) -> None:
    put_secret(secrets_dir, "tls", "crt", certificate.cert)
    put_secret(secrets_dir, "tls", "key", certificate.key)
    servers.add_route(context(port, "/secure", **TLS), replying("tls"), owner="es/secure")
    await servers.listening(port)
    connector = aiohttp.TCPConnector(ssl=certificate.client_context())
    async with aiohttp.ClientSession(connector=connector) as client:
        async with client.get(f"https://127.0.0.1:{port}/secure") as r:
            assert (r.status, await r.text()) == (200, "tls GET /secure")
        async with client.get(f"https://127.0.0.1:{port}/health") as r:
            assert r.status == 200
    # plain HTTP is not spoken on a TLS port
    async with aiohttp.ClientSession() as plain:
        with pytest.raises(aiohttp.ClientError):
            async with plain.get(f"http://127.0.0.1:{port}/secure") as r:
                await r.read()


async def test_a_missing_or_invalid_certificate_is_a_config_error(
    servers: HTTPServers, secrets_dir: Path
) -> None:
    missing_port, bad_port = free_port(), free_port()
    servers.add_route(context(missing_port, "/s", **TLS), replying("x"), owner="es/missing")
    with pytest.raises(ConfigError, match="tls"):
        await servers.listening(missing_port)
    put_secret(secrets_dir, "tls", "crt", b"not a certificate")
    put_secret(secrets_dir, "tls", "key", b"not a key")
    servers.add_route(context(bad_port, "/s", **TLS), replying("x"), owner="es/bad")
    with pytest.raises(ConfigError, match="es/bad"):
        await servers.listening(bad_port)


async def test_a_port_in_use_is_a_source_error_naming_it(servers: HTTPServers) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = taken.getsockname()[1]
        servers.add_route(context(number, "/hook"), replying("x"), owner="es/e")
        with pytest.raises(SourceError, match=str(number)):
            await servers.listening(number)


async def test_listening_needs_a_route(servers: HTTPServers, port: int) -> None:
    with pytest.raises(SourceError, match="no route"):
        await servers.listening(port)


async def test_close_lets_an_in_flight_request_finish_and_refuses_new_connections(
    secrets: SecretStore, port: int
) -> None:
    servers = HTTPServers(host="127.0.0.1", secrets=secrets, grace=DEADLINE)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.BaseRequest) -> web.StreamResponse:
        entered.set()
        await release.wait()
        return answer("finished")

    servers.add_route(context(port, "/slow"), slow, owner="es/slow")
    await servers.listening(port)
    async with aiohttp.ClientSession() as client:

        async def call() -> tuple[int, str]:
            async with client.post(f"http://127.0.0.1:{port}/slow") as r:
                return r.status, await r.text()

        request = asyncio.create_task(call(), name="in-flight-request")
        async with asyncio.timeout(DEADLINE):
            await entered.wait()
        closing = asyncio.create_task(servers.close(), name="servers-close")
        async with asyncio.timeout(DEADLINE):
            while True:  # the listening socket goes away at once
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:  # refused (or reset while the backlog closes)
                    break
                writer.close()
                await writer.wait_closed()
                await asyncio.sleep(0)
        assert not closing.done()  # still waiting for the in-flight request
        release.set()
        async with asyncio.timeout(DEADLINE):
            assert await request == (200, "finished")
            await closing
    await servers.close()  # idempotent
    with pytest.raises(SourceError, match="closed"):
        servers.add_route(context(port, "/again"), replying("x"), owner="es/again")


async def test_close_cancels_what_outlives_the_grace(secrets: SecretStore, port: int) -> None:
    servers = HTTPServers(host="127.0.0.1", secrets=secrets, grace=0.1)
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(request: web.BaseRequest) -> web.StreamResponse:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("unreachable")

    servers.add_route(context(port, "/stuck"), stuck, owner="es/stuck")
    await servers.listening(port)
    async with aiohttp.ClientSession() as client:

        async def call() -> None:
            async with client.post(f"http://127.0.0.1:{port}/stuck") as r:
                await r.read()

        request = asyncio.create_task(call(), name="stuck-request")
        async with asyncio.timeout(DEADLINE):
            await entered.wait()
            await servers.close()
        assert cancelled.is_set()
        with pytest.raises(aiohttp.ClientError):
            async with asyncio.timeout(DEADLINE):
                await request


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("x-github-event", "X-Github-Event"),
        ("X-GITHUB-EVENT", "X-Github-Event"),
        ("content-type", "Content-Type"),
        ("uSER-aGENT", "User-Agent"),
        ("User-Agent", "User-Agent"),
        ("a-b-c", "A-B-C"),
        ("a-1-c", "A-1-C"),
        ("x-1abc", "X-1abc"),
        ("www-authenticate", "Www-Authenticate"),
        ("ce-specversion", "Ce-Specversion"),
        ("foo-bar_baz", "Foo-Bar_baz"),
        ("foo-bar$baz", "Foo-Bar$baz"),
        ("foo-bar~baz", "Foo-Bar~baz"),
        ("foo-bar*baz", "Foo-Bar*baz"),
        ("a--b", "A--B"),
        ("-x", "-X"),
        ("x-", "X-"),
        ("üser-agenT", "üser-agenT"),
        ("a B", "a B"),
        ("C Ontent-Transfer-Encoding", "C Ontent-Transfer-Encoding"),
        ("foo bar", "foo bar"),
        ("x:y", "x:y"),
        ("", ""),
    ],
)
def test_header_names_are_canonicalised_as_go_does(raw: str, canonical: str) -> None:
    assert canonical_header_key(raw) == canonical
