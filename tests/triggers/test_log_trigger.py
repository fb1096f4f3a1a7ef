"""The log trigger: one line per firing with each event's context and data, rate-limited."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from bus.event import Event
from triggers.base import Trigger, TriggerContext, factory
from triggers.log import LOGGER_NAME, MAX_DATA_CHARS, LogTrigger, LogTriggerRunner


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(id: str, data: Any, subject: str = "example") -> Event:
    return Event(
        id=id,
        source="webhook",
        type="webhook",
        subject=subject,
        data=data,
        time=datetime(2026, 7, 18, 12, 0, 0, 123000, tzinfo=UTC),
    )


def spec(interval: int = 0) -> LogTrigger:
    return LogTrigger.model_validate({"intervalSeconds": interval})


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]


async def test_one_line_with_names_context_and_compact_data(
    context: TriggerContext, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = LogTriggerRunner(spec(), context)
    events = {
        "push": event("id-2", {"body": {"ref": "main", "n": [1, 2]}}),
        "approve": event("id-1", {"body": {"ok": True}}, subject="approvals"),
    }
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        outcome = await trigger.fire(spec(), events)

    assert outcome == "logged 2 events"
    [line] = lines(caplog)
    assert line == (
        "sensor 's1' trigger 't1' fired: "
        "approve: id=id-1 source=webhook subject=approvals type=webhook "
        'time=2026-07-18T12:00:00.123000Z data={"body":{"ok":true}} | '
        "push: id=id-2 source=webhook subject=example type=webhook "
        'time=2026-07-18T12:00:00.123000Z data={"body":{"ref":"main","n":[1,2]}}'
    )
    assert caplog.records[0].levelno == logging.INFO


async def test_long_data_is_truncated_with_a_note(
    context: TriggerContext, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = LogTriggerRunner(spec(), context)
    big = {"blob": "x" * 5000}
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        await trigger.fire(spec(), {"dep": event("id-1", big)})

    [line] = lines(caplog)
    data = line.split("data=", 1)[1]
    assert data.startswith('{"blob":"xxx')
    assert data.endswith("… (truncated, 5011 chars in all)")
    assert len(data) < MAX_DATA_CHARS + 50


async def test_data_orjson_cannot_encode_is_still_logged(
    context: TriggerContext, caplog: pytest.LogCaptureFixture
) -> None:
    trigger = LogTriggerRunner(spec(), context)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        await trigger.fire(spec(), {"dep": event("id-1", {"big": 2**70})})

    assert lines(caplog)[0].endswith('data={"big":1180591620717411303424}')


async def test_interval_suppresses_and_then_reports_the_count(
    context: TriggerContext, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    every10 = spec(interval=10)
    trigger = LogTriggerRunner(every10, context, clock=clock)
    events = {"dep": event("id-1", {"n": 1})}
    outcomes = []
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for moment in (0.0, 1.0, 9.9, 10.0, 10.5, 25.0):
            clock.now = 1000.0 + moment
            outcomes.append(await trigger.fire(every10, events))

    assert outcomes == [
        "logged 1 event",
        "suppressed (at most one line per 10 s)",
        "suppressed (at most one line per 10 s)",
        "logged 1 event",
        "suppressed (at most one line per 10 s)",
        "logged 1 event",
    ]
    logged = lines(caplog)
    assert len(logged) == 3
    assert "suppressed" not in logged[0]
    assert logged[1].endswith("(2 firings suppressed)")
    assert logged[2].endswith("(1 firing suppressed)")


async def test_zero_interval_logs_every_firing(
    context: TriggerContext, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    trigger = LogTriggerRunner(spec(), context, clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        for _ in range(3):
            await trigger.fire(spec(), {"dep": event("id-1", None)})

    assert len(lines(caplog)) == 3
    assert all(line.endswith("data=null") for line in lines(caplog))


async def test_registry_builds_a_log_trigger(context: TriggerContext) -> None:
    made = factory("log")(spec(), context)

    assert isinstance(made, LogTriggerRunner)
    assert isinstance(made, Trigger)
    await made.close()
