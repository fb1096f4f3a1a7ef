"""A real local HTTP server that records what triggers send, for tests.

Answers are scripted per request (a list of statuses, the last one repeating),
and tests wait for requests with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.brokers.process import free_port as free_port  # one for all tests


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class HTTPSink:
    """Records requests on every path; answers ``statuses`` in turn (the last repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    hold: asyncio.Event | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HTTPSink:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        received = Received(request.method, request.path, dict(request.headers), body)
        async with self._arrived:
            index = len(self.requests)
            self.requests.append(received)
            self._arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        status = self.statuses[min(index, len(self.statuses) - 1)]
        return web.Response(status=status, text="ok" if status < 400 else "no")

    async def wait_for(self, count: int, deadline: float = 10.0) -> list[Received]:
        """Wait (at most ``deadline`` seconds) until ``count`` requests arrived; return all."""
        async with asyncio.timeout(deadline), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)
