"""Fixtures for trigger adapter tests: a recording receiver, secrets, a context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from herald.core.refs import SecretStore
from tests.triggers.aws_fixture import aws_env, moto_server  # noqa: F401  (fixtures)
from tests.triggers.kube_fixture import kube  # noqa: F401  (fixture)
from tests.triggers.receiver import Receiver, serve
from triggers.base import TriggerContext


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A plain-HTTP receiver on a free port of 127.0.0.1."""
    recv = Receiver()
    runner = await serve(recv, None)
    try:
        yield recv
    finally:
        recv.release.set()
        await runner.cleanup()


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    """A SecretStore over empty secrets and configmaps folders under tmp_path."""
    return SecretStore(secrets_dir=tmp_path / "secrets", configmaps_dir=tmp_path / "configmaps")


@pytest.fixture
async def context(secrets: SecretStore) -> AsyncIterator[TriggerContext]:
    """A trigger context whose shared HTTP session is closed after the test."""
    ctx = TriggerContext(sensor="s1", trigger="t1", secrets=secrets)
    try:
        yield ctx
    finally:
        # The session belongs to whoever made the context: here, the test.
        await ctx.http().close()
