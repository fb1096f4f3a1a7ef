"""A real local HTTP server that records what trigger adapters send it.

Routes: ``/status/{code}`` answers that code (``?retry_after=N`` adds a
Retry-After header, ``?body=…`` sets the body); ``/redirect`` sends a 302 to
``/status/200``; ``/hang`` never answers (until the fixture shuts down);
anything else answers 200 ``ok``.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path_qs: str
    headers: CIMultiDict[str]
    body: bytes
    peer_port: int


@dataclass
class Receiver:
    """The running server: its base URL and the requests it received."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last(self) -> Received:
        assert self.requests, "the receiver got no request"
        return self.requests[-1]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Received(
                method=request.method,
                path_qs=request.path_qs,
                headers=CIMultiDict(request.headers),
                body=await request.read(),
                peer_port=peer[1] if peer else 0,
            )
        )
        path = request.path
        if path.startswith("/status/"):
            headers = {}
            if "retry_after" in request.query:
                headers["Retry-After"] = request.query["retry_after"]
            code = int(path.removeprefix("/status/"))
            body = request.query.get("body", f"status {code}")
            return web.Response(status=code, text=body if code != 204 else None, headers=headers)
        if path == "/redirect":
            raise web.HTTPFound("/status/200")
        if path == "/hang":
            await self.release.wait()
        return web.Response(text="ok")


async def serve(receiver: Receiver, ssl_context: ssl.SSLContext | None) -> web.AppRunner:
    """Start ``receiver`` on a free port of 127.0.0.1 (HTTPS with ``ssl_context``)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.base = f"{'https' if ssl_context else 'http'}://{host}:{port}"
    return runner


def write_ref(root: Path, name: str, key: str, value: str | bytes) -> None:
    """Lay out one secret or ConfigMap key as a mounted volume would."""
    (root / name).mkdir(parents=True, exist_ok=True)
    path = root / name / key
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        path.write_text(value)
