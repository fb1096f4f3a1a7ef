"""Shared fixtures of the CEL tests, and the conformance report in the terminal summary."""

from __future__ import annotations

import pytest

CONFORMANCE_REPORT = pytest.StashKey[list[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print the per-file conformance pass rates gathered by test_conformance."""
    lines = config.stash.get(CONFORMANCE_REPORT, None)
    if lines:
        terminalreporter.section("CEL conformance (cel-spec)")
        for line in lines:
            terminalreporter.write_line(line)
