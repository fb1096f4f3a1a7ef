"""The floor for ``bench.webhook``: a hand-written aiohttp relay, no bus, no sensor.

It does the least any webhook-to-HTTP pipeline must do: accept each POST,
parse its JSON body, and forward it with one shared aiohttp client to the sink,
answering 200 once the sink answered. Herald's figures are reported as a
fraction of this one's, measured in the same run.

    python -m bench.floor --port 12100 --sink http://127.0.0.1:12101/sink
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import aiohttp
import orjson
from aiohttp import web


async def serve(port: int, sink: str) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def relay(request: web.Request) -> web.Response:
        data = orjson.loads(await request.read())
        async with session.post(
            sink, data=orjson.dumps(data), headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/hook", relay)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sink", required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.sink))


if __name__ == "__main__":
    main()
