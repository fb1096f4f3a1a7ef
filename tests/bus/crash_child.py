"""Child process of the kill -9 test in test_sqlite.py (run as a script).

Opens the sqlite bus at ``argv[1]``, subscribes consumer ``crash``, publishes
two events and a key-value entry, acks the first delivery, receives the second
and prints ``HOLDING <id> <attempt>`` with the second still unsettled; then it
waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from bus.base import Key
from bus.event import Event
from bus.sqlite import SqliteBus


async def main(path: str) -> None:
    bus = SqliteBus(path)
    await bus.start()
    sub = await bus.subscribe("crash", [Key("es", "ev")])
    for n in (1, 2):
        await bus.publish(
            Event.new(source="es", type="webhook", subject="ev", id=f"id-{n}", data={"n": n})
        )
    await (await bus.kv("state")).put("tick", b"42")
    first = await anext(sub)
    await first.ack()
    second = await anext(sub)
    print(f"HOLDING {second.event.id} {second.attempt}", flush=True)
    await asyncio.Event().wait()  # hold the delivery unsettled until SIGKILL


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
