"""Bus URLs pick their backend through bus.registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.base import DEFAULT_DEDUP_WINDOW
from bus.memory import MemoryBus
from bus.registry import BACKENDS, open_bus
from bus.sqlite import SqliteBus
from herald.core.errors import ConfigError


def test_memory_url() -> None:
    bus = open_bus("memory://", dedup_window=12.5)
    assert isinstance(bus, MemoryBus)
    assert bus.url == "memory://"
    assert bus.dedup_window == 12.5


def test_sqlite_relative_url_is_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bus = open_bus("sqlite:///.herald/bus.db")
    assert isinstance(bus, SqliteBus)
    assert bus.path == tmp_path / ".herald" / "bus.db"
    assert bus.url == "sqlite:///.herald/bus.db"
    assert bus.dedup_window == DEFAULT_DEDUP_WINDOW


def test_sqlite_absolute_url_has_four_slashes(tmp_path: Path) -> None:
    bus = open_bus(f"sqlite:///{tmp_path}/bus.db")  # tmp_path starts with "/"
    assert isinstance(bus, SqliteBus)
    assert bus.path == tmp_path / "bus.db"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite://host/bus.db", "has no host"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///dir/", "names no database file"),
        ("sqlite:///bus.db?mode=ro", "no query"),
        ("sqlite:///:memory:", "use memory://"),
        ("memory://somewhere", "exactly 'memory://'"),
    ],
)
def test_malformed_urls_are_config_errors(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        open_bus(url)


@pytest.mark.parametrize("url", ["redis://localhost:6379", "bus.db", "nats+tls://u:p@x"])
def test_unknown_scheme_lists_the_known_ones(url: str) -> None:
    with pytest.raises(ConfigError, match="known schemes: memory://, sqlite://") as info:
        open_bus(url)
    assert ":p@" not in str(info.value)  # credentials are never echoed


def test_a_negative_dedup_window_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dedup window"):
        open_bus("memory://", dedup_window=-1)
    with pytest.raises(ConfigError, match="dedup window"):
        open_bus("sqlite:///x.db", dedup_window=float("nan"))


def test_registry_keys_are_url_schemes() -> None:
    assert set(BACKENDS) == {"memory", "sqlite"}
