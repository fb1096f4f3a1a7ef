"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.sink import HTTPSink


@pytest.fixture
async def sink() -> AsyncIterator[HTTPSink]:
    """A local HTTP server that records requests and answers 200."""
    server = await HTTPSink().start()
    try:
        yield server
    finally:
        await server.close()
