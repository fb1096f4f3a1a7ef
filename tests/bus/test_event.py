"""The Event envelope: what Event.new builds, and what a bus may refuse."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import pytest

from bus.event import JSON, Event
from herald.core.errors import BusError


def test_new_builds_the_same_frozen_event_as_the_constructor() -> None:
    before = datetime.now(UTC)
    made = Event.new(
        source="shop",
        type="webhook",
        subject="orders",
        data={"body": {"id": 1}},
        id="abc",
        extensions={"traceparent": "00-1-2-01"},
    )
    after = datetime.now(UTC)

    assert before <= made.time <= after
    assert made.time.tzinfo is UTC
    expected = Event(
        id="abc",
        source="shop",
        type="webhook",
        subject="orders",
        data={"body": {"id": 1}},
        time=made.time,
        datacontenttype=JSON,
        dataschema=None,
        extensions={"traceparent": "00-1-2-01"},
    )
    assert made == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        made.extensions["traceparent"] = "x"  # type: ignore[index]
    assert dataclasses.replace(made, data=None).data is None


def test_new_gives_a_fresh_id_unless_the_input_has_one() -> None:
    first = Event.new(source="s", type="t", subject="e", data=None)
    second = Event.new(source="s", type="t", subject="e", data=None)
    assert re.fullmatch(r"[0-9a-f]{32}", first.id)
    assert first.id != second.id
    assert not first.extensions


def test_the_extensions_given_are_copied_not_shared() -> None:
    given = {"a": "1"}
    event = Event.new(source="s", type="t", subject="e", data=None, extensions=given)
    given["a"] = "2"
    assert event.extensions == {"a": "1"}


def test_check_storable_refuses_exactly_what_to_json_refuses() -> None:
    good = Event.new(source="s", type="t", subject="e", data={"when": datetime.now(UTC)})
    good.check_storable()
    good.to_json()

    bad = Event.new(source="s", type="t", subject="e", data={"tags": {1, 2}})
    with pytest.raises(BusError, match=r"data is not JSON-serialisable") as stored:
        bad.check_storable()
    with pytest.raises(BusError, match=r"data is not JSON-serialisable") as serialised:
        bad.to_json()
    assert str(stored.value) == str(serialised.value)


def test_json_round_trip_keeps_every_attribute() -> None:
    event = Event.new(
        source="s", type="t", subject="e", data=[1, "x"], extensions={"traceparent": "00-a-b-01"}
    )
    back = Event.from_json(event.to_json())
    # JSON keeps microseconds; nothing finer exists in a datetime.
    assert abs(back.time - event.time) < timedelta(microseconds=1)
    assert back == dataclasses.replace(event, time=back.time)
