"""herald.core stays light: importing it pulls in nothing else of ours."""

from __future__ import annotations

import subprocess
import sys

OURS = ("bus", "eventsources", "sensors", "triggers", "herald.cli", "herald.loader")


def test_importing_herald_core_imports_nothing_else_of_ours() -> None:
    code = (
        "import sys, herald.core.errors, herald.core.model, herald.core.refs, "
        "herald.core.backoff, herald.core.tls, herald.core.durations, herald.core.suggestions, "
        "herald.core.nats_auth, herald.core.kafka_client, herald.core.urls\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {OURS!r} "
        f"or m in {OURS!r})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
