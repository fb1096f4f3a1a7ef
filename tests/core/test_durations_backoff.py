"""Go durations and Argo backoff, as manifests write them."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from herald.core.backoff import Backoff
from herald.core.durations import parse_go_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("2s", 2.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("250us", 0.00025),
        ("10ns", 1e-8),
        ("-3s", -3.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1 s", "1d", "2sec", "1h-3m"])
def test_bad_go_durations_are_rejected_with_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError, match="units ns, us, ms, s, m, h"):
        parse_go_duration(text)


def test_backoff_duration_integer_is_nanoseconds_and_string_is_go_duration() -> None:
    assert Backoff.model_validate({"duration": 2_000_000_000}).duration_seconds() == 2.0
    assert Backoff.model_validate({"duration": "1000000000"}).duration_seconds() == 1.0
    assert Backoff.model_validate({"duration": "250ms"}).duration_seconds() == 0.25
    assert Backoff.model_validate({}).duration_seconds() == 1.0


def test_backoff_delays_grow_by_factor_and_count_steps_minus_one() -> None:
    b = Backoff.model_validate({"duration": "1s", "factor": "2", "steps": 4})
    assert list(b.delays()) == [1.0, 2.0, 4.0]
    assert b.attempts() == 4


def test_backoff_jitter_adds_at_most_its_fraction() -> None:
    b = Backoff.model_validate({"duration": "1s", "jitter": 0.5, "steps": 50})
    delays = list(b.delays(rng=random.Random(7)))
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"duration": "soon"}, "duration"),
        ({"factor": "two"}, "factor"),
        ({"steps": -1}, "steps"),
        ({"Steps": 3}, "Steps"),
        ({"max_steps": 3}, "max_steps"),
    ],
)
def test_backoff_mistakes_name_the_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Backoff.model_validate(spec)
    assert info.value.errors()[0]["loc"][0] == field
