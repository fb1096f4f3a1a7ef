"""amqtt serving MQTT over websockets at one path only (the websocket broker of tests.brokers.mqtt).

amqtt's own websocket listener upgrades a connection whatever path it asks
for, so against it a client that sends the wrong path cannot be told from one
that sends the right one. Real brokers and the proxies in front of them answer
404 elsewhere (EMQX and HiveMQ serve ``/mqtt``, an ingress its route). This
script runs amqtt's broker with the listeners of its YAML config (the TCP one)
plus an ``external`` listener named ``ws``, fed by a websockets server on
127.0.0.1 that completes the upgrade (subprotocol ``mqtt``) only at
``--path``, over TLS when given ``--certfile`` and ``--keyfile``::

    python -P amqtt_ws.py CONFIG --port PORT --path /mqtt [--certfile F --keyfile F]

It runs in an interpreter of its own and imports nothing of Herald's; it
stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
from http import HTTPStatus

from amqtt.adapters import WebSocketsReader, WebSocketsWriter  # type: ignore[import-untyped]
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.utils import read_yaml_config  # type: ignore[import-untyped]
from websockets import Subprotocol
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

LISTENER = "ws"
"""The name of the external listener that websocket clients are counted under."""

log = logging.getLogger("amqtt_ws")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="amqtt broker configuration (YAML)")
    parser.add_argument("--port", type=int, required=True, help="websocket port on 127.0.0.1")
    parser.add_argument("--path", required=True, help="the one path that upgrades, e.g. /mqtt")
    parser.add_argument("--certfile", help="TLS certificate (PEM); with --keyfile: wss")
    parser.add_argument("--keyfile", help="TLS private key (PEM)")
    args = parser.parse_args()
    if (args.certfile is None) != (args.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    return args


async def run(args: argparse.Namespace) -> None:
    config = read_yaml_config(args.config)
    # amqtt registers a listener only when it names a "bind"; an external one never binds it.
    config["listeners"][LISTENER] = {"type": "external", "bind": f"127.0.0.1:{args.port}"}
    broker = Broker(config)
    await broker.start()

    tls: ssl.SSLContext | None = None
    if args.certfile is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.certfile, args.keyfile)

    def only_at_path(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.partition("?")[0]
        if path == args.path:
            return None
        log.warning("websocket upgrade refused at %s (serving %s)", request.path, args.path)
        return connection.respond(HTTPStatus.NOT_FOUND, f"no MQTT endpoint at {path}\n")

    async def session(connection: ServerConnection) -> None:
        # Returns when the MQTT session ends; websockets then closes the connection.
        await broker.external_connected(
            WebSocketsReader(connection), WebSocketsWriter(connection), LISTENER
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(
            session,
            "127.0.0.1",
            args.port,
            ssl=tls,
            subprotocols=[Subprotocol("mqtt")],
            process_request=only_at_path,
        ):
            log.info("MQTT over websockets at 127.0.0.1:%d%s", args.port, args.path)
            await stop.wait()
    finally:
        await broker.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    asyncio.run(run(arguments()))


if __name__ == "__main__":
    main()
