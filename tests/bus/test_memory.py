"""The memory:// backend against the Bus contract."""

from __future__ import annotations

from pathlib import Path

from bus.base import Bus
from bus.memory import MemoryBus
from tests.bus.contract import KEY, BusContract, event, receive_ids


class TestMemoryBus(BusContract):
    def make_bus(self, state_dir: Path, *, dedup_window: float) -> Bus:
        return MemoryBus(dedup_window=dedup_window)


async def test_nothing_outlives_the_bus() -> None:
    first = MemoryBus()
    await first.start()
    await first.subscribe("c", [KEY])
    await first.publish(event(1))
    await (await first.kv("b")).put("k", b"v")
    await first.close()

    second = MemoryBus()
    await second.start()
    assert await (await second.kv("b")).get("k") is None
    sub = await second.subscribe("c", [KEY])  # a new consumer: sees only what comes next
    assert await second.publish(event(1)) is True  # no dedup memory either
    assert await receive_ids(sub, 1) == ["id-1"]
    await second.close()
