"""The sqlite:/// backend: the Bus contract, and durability across restarts and kill -9."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from bus.base import Bus
from bus.sqlite import SCHEMA_VERSION, SqliteBus
from herald.core.errors import BusError
from tests.bus.contract import DEADLINE, KEY, BusContract, BusFactory, event, receive, receive_ids

CRASH_CHILD = Path(__file__).with_name("crash_child.py")


class TestSqliteBus(BusContract):
    def make_bus(self, state_dir: Path, *, dedup_window: float) -> Bus:
        return SqliteBus(state_dir / "bus.db", dedup_window=dedup_window)

    # -- durability (close and reopen the same file) ---------------------------

    async def test_pending_deliveries_consumers_and_kv_survive_a_restart(
        self, bus_factory: BusFactory
    ) -> None:
        bus = await bus_factory()
        sub = await bus.subscribe("c", [KEY])
        for n in (1, 2, 3):
            await bus.publish(event(n))
        await (await receive(sub)).ack()
        held = await receive(sub)  # unsettled at close; id-3 only prefetched
        assert held.event.id == "id-2"
        await (await bus.kv("state")).put("last", b"2")
        await bus.close()

        bus = await bus_factory()
        await bus.publish(event(4))  # the consumer exists before anyone subscribes
        sub = await bus.subscribe("c", [KEY])
        got = [await receive(sub) for _ in range(3)]
        assert [(d.event.id, d.attempt) for d in got] == [("id-2", 2), ("id-3", 1), ("id-4", 1)]
        for delivery in got:
            await delivery.ack()
        assert await (await bus.kv("state")).get("last") == b"2"
        await bus.close()

        bus = await bus_factory()
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(5))
        assert await receive_ids(sub, 1) == ["id-5"]  # acked ones stayed acked

    async def test_dedup_survives_a_restart(self, bus_factory: BusFactory) -> None:
        bus = await bus_factory()
        assert await bus.publish(event(1)) is True
        await bus.close()
        bus = await bus_factory()
        assert await bus.publish(event(1)) is False
        assert await bus.publish(event(2)) is True

    async def test_a_nak_delay_survives_a_restart(self, bus_factory: BusFactory) -> None:
        delay = 0.4
        loop = asyncio.get_running_loop()
        bus = await bus_factory()
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(1))
        delivery = await receive(sub)
        naked_at = loop.time()
        await delivery.nak(delay)
        await bus.close()

        bus = await bus_factory()
        sub = await bus.subscribe("c", [KEY])
        await bus.publish(event(2))
        assert await receive_ids(sub, 1) == ["id-2"]  # the delayed one is not due yet
        again = await receive(sub)
        assert loop.time() - naked_at >= delay - 0.02
        assert (again.event.id, again.attempt) == ("id-1", 2)

    async def test_a_second_opener_gets_a_clear_error(self, bus: Bus, tmp_path: Path) -> None:
        other = SqliteBus(tmp_path / "bus.db")
        with pytest.raises(BusError, match="already open"):
            await other.start()
        await bus.close()
        await other.start()  # the lock went with the first bus
        await other.close()

    async def test_the_file_is_in_wal_mode_with_the_documented_schema(
        self, bus: Bus, tmp_path: Path
    ) -> None:
        with sqlite3.connect(tmp_path / "bus.db") as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            tables = {
                r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        raw.close()
        assert {"events", "dedup", "consumers", "pending", "kv"} <= tables

    async def test_an_unknown_schema_version_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "bus.db"
        with sqlite3.connect(path) as raw:
            raw.execute("PRAGMA user_version = 99")
        raw.close()
        bus = SqliteBus(path)
        with pytest.raises(BusError, match="schema version 99"):
            await bus.start()
        await bus.close()
        again = SqliteBus(path)  # the failed start released the lock
        with pytest.raises(BusError, match="schema version 99"):
            await again.start()

    async def test_garbage_collection_keeps_only_what_is_owed(
        self, bus_factory: BusFactory, tmp_path: Path
    ) -> None:
        bus = await bus_factory(dedup_window=0.0)
        assert isinstance(bus, SqliteBus)
        sub = await bus.subscribe("c", [KEY])
        for n in range(10):
            await bus.publish(event(n))
        await bus.publish(event("nobody", subject="unwatched"))
        for _ in range(9):
            await (await receive(sub)).ack()
        held = await receive(sub)
        await bus.collect_garbage()

        def count(table: str) -> int:
            with sqlite3.connect(tmp_path / "bus.db") as raw:
                n = int(raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            raw.close()
            return n

        assert count("events") == 1  # only the unacked one; the unwatched was never stored
        assert count("dedup") == 0  # window 0: nothing to remember
        await held.ack()
        await bus.collect_garbage()
        assert count("events") == 0
        assert count("pending") == 0

    # -- kill -9 ------------------------------------------------------------------

    async def test_an_unacked_delivery_survives_kill_9(
        self, bus_factory: BusFactory, tmp_path: Path
    ) -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(CRASH_CHILD),
            str(tmp_path / "bus.db"),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.decode().split() == ["HOLDING", "id-2", "1"]
            with pytest.raises(BusError, match="already open"):  # the child holds the file
                await SqliteBus(tmp_path / "bus.db").start()
        finally:
            child.kill()  # SIGKILL: no cleanup runs in the child
            await child.wait()
        assert child.returncode == -9

        bus = await bus_factory()  # the kernel dropped the child's lock
        sub = await bus.subscribe("crash", [KEY])
        again = await receive(sub, DEADLINE)
        # Handed out once before the crash: attempt is counted before hand-out.
        assert (again.event.id, again.attempt) == ("id-2", 2)
        await again.ack()
        assert await bus.publish(event(1)) is False  # dedup survived the crash too
        await bus.publish(event(3))
        assert await receive_ids(sub, 1) == ["id-3"]  # id-1 was acked before the crash
        assert await (await bus.kv("state")).get("tick") == b"42"
