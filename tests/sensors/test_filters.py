"""Dependency filters: Argo's semantics per kind and operator, and the account they give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bus.event import Event
from herald.core.errors import ConfigError
from sensors.filters import DependencyFilter, go_string
from sensors.spec import EventDependency

DATA = {
    "header": {"X-Github-Event": ["push"], "Content-Type": ["application/json"]},
    "body": {
        "action": "opened",
        "number": 42,
        "ratio": 0.5,
        "draft": False,
        "labels": [{"name": "bug"}, {"name": "deploy"}],
        "ref": "refs/heads/main",
        "numstr": "7",
    },
}


def _dep(filters: dict[str, Any] | None = None, op: str | None = None) -> DependencyFilter:
    spec: dict[str, Any] = {"name": "d", "eventSourceName": "es", "eventName": "ev"}
    if filters is not None:
        spec["filters"] = filters
    if op is not None:
        spec["filtersLogicalOperator"] = op
    return DependencyFilter(EventDependency.model_validate(spec))


def _event(data: Any = DATA, **kw: Any) -> Event:
    return Event(id="e1", source="es", type="webhook", subject="ev", data=data, **kw)


def _data(path: str, typ: str, values: list[str], comparator: str | None = None) -> dict[str, Any]:
    f: dict[str, Any] = {"path": path, "type": typ, "value": values}
    if comparator is not None:
        f["comparator"] = comparator
    return f


@pytest.mark.parametrize(
    ("flt", "passed"),
    [
        (_data("body.action", "string", ["opened"]), True),
        (_data("body.action", "string", ["^open"]), True),
        (_data("body.action", "string", ["pen"]), True),  # regexps are unanchored
        (_data("body.action", "string", ["^closed$", "^opened$"]), True),  # any value matches
        (_data("body.action", "string", ["closed"]), False),
        (_data("body.action", "string", ["closed"], "!="), True),
        (_data("body.action", "string", ["opened"], "!="), False),
        (_data("header.X-Github-Event", "string", ["push"]), True),
        (_data("body.number", "string", ["^42$"]), True),  # numbers compare as their text
        (_data("body.number", "number", ["42"]), True),
        (_data("body.number", "number", ["42"], "="), True),
        (_data("body.number", "number", ["41"], "!="), True),
        (_data("body.number", "number", ["40"], ">"), True),
        (_data("body.number", "number", ["42"], ">="), True),
        (_data("body.number", "number", ["42"], "<"), False),
        (_data("body.number", "number", ["42"], "<="), True),
        (_data("body.ratio", "number", ["0.5"]), True),
        (_data("body.numstr", "number", ["7"]), True),  # numeric strings parse, as gjson's Float
        (_data("body.number", "number", ["1", "42"]), True),
        (_data("body.draft", "bool", ["false"]), True),
        (_data("body.draft", "bool", ["true"]), False),
        (_data("body.labels.#.name", "string", ["deploy"]), True),
        (_data('body.labels.#(name=="bug").name', "string", ["^bug$"]), True),
    ],
)
def test_data_filters(flt: dict[str, Any], passed: bool) -> None:
    result = _dep({"data": [flt]}).apply(_event())
    assert result.passed is passed, result.reason()
    assert len(result.clauses) == 1


def test_a_missing_path_is_an_error_that_rejects_and_says_so() -> None:
    result = _dep({"data": [_data("body.nope", "string", ["x"])]}).apply(_event())
    assert not result.passed
    clause = result.clauses[0]
    assert clause.error
    assert "'body.nope' does not exist" in clause.detail


def test_data_filters_pass_when_the_event_has_no_data() -> None:
    assert _dep({"data": [_data("body.x", "string", ["x"])]}).apply(_event(None)).passed


@pytest.mark.parametrize(
    ("op", "second", "passed"),
    [
        ("and", "closed", False),
        ("and", "opened", True),
        ("or", "closed", True),
        ("or", "nope", True),
    ],
)
def test_data_logical_operator(op: str, second: str, passed: bool) -> None:
    filters = {
        "data": [
            _data("body.ref", "string", ["main$"]),
            _data("body.action", "string", [f"^{second}$"]),
        ],
        "dataLogicalOperator": op,
    }
    assert _dep(filters).apply(_event()).passed is passed


def test_context_filter_compares_the_non_empty_attributes_exactly() -> None:
    assert _dep({"context": {"type": "webhook", "source": "es"}}).apply(_event()).passed
    rejected = _dep({"context": {"type": "webhook", "subject": "other"}}).apply(_event())
    assert not rejected.passed
    assert [c.label for c in rejected.clauses if not c.passed] == ["context.subject"]


@pytest.mark.parametrize(
    ("expression", "passed"),
    [
        ('body.action == "opened"', True),
        ('body.action == "opened" && header["X-Github-Event"][0] == "push"', True),
        ("body.number > 40 && data.body.number < 50", True),
        ('event.type == "webhook" && event.subject == "ev"', True),
        ('body.labels.exists(l, l.name == "deploy")', True),
        ('body.action == "closed"', False),
    ],
)
def test_cel_filter(expression: str, passed: bool) -> None:
    assert _dep({"cel": expression}).apply(_event()).passed is passed


def test_a_cel_error_on_one_event_rejects_it_and_names_the_expression() -> None:
    result = _dep({"cel": "body.missing == 1"}).apply(_event())
    assert not result.passed
    assert result.clauses[0].error
    assert "body.missing == 1" in result.clauses[0].detail


def test_a_cel_filter_that_is_not_boolean_rejects() -> None:
    result = _dep({"cel": "body.number"}).apply(_event())
    assert not result.passed
    assert "not a bool" in result.clauses[0].detail


def test_cel_syntax_errors_are_config_errors_with_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        _dep({"cel": "body.action == "})
    assert info.value.path == "filters.cel"


@pytest.mark.parametrize(
    ("start", "stop", "zone", "at", "passed"),
    [
        ("09:00:00", "17:00:00", None, "2026-11-27T12:00:00+00:00", True),
        ("09:00:00", "17:00:00", None, "2026-11-27T17:00:00+00:00", False),  # stop is excluded
        ("09:00:00", "17:00:00", None, "2026-11-27T09:00:00+00:00", True),  # start is included
        ("22:00:00", "02:00:00", None, "2026-11-27T23:30:00+00:00", True),  # wraps midnight
        ("22:00:00", "02:00:00", None, "2026-11-27T01:59:59+00:00", True),
        ("22:00:00", "02:00:00", None, "2026-11-27T12:00:00+00:00", False),
        ("09:00:00", "10:00:00", "Europe/Berlin", "2026-11-27T08:30:00+00:00", True),
        ("09:00:00", "10:00:00", "Europe/Berlin", "2026-11-27T09:30:00+00:00", False),
    ],
)
def test_time_filter(start: str, stop: str, zone: str | None, at: str, passed: bool) -> None:
    spec: dict[str, Any] = {"start": start, "stop": stop}
    if zone:
        spec["timezone"] = zone
    event = _event(time=datetime.fromisoformat(at).astimezone(UTC))
    assert _dep({"time": spec}).apply(event).passed is passed


def test_filter_kinds_combine_with_and_by_default_and_or_when_asked() -> None:
    filters = {"cel": 'body.action == "closed"', "context": {"type": "webhook"}}
    assert not _dep(filters).apply(_event()).passed
    assert _dep(filters, "or").apply(_event()).passed


def test_or_passes_when_one_kind_passes_even_if_another_errs() -> None:
    filters = {"data": [_data("body.nope", "string", ["x"])], "context": {"type": "webhook"}}
    result = _dep(filters, "or").apply(_event())
    assert result.passed
    assert any(c.error for c in result.clauses)


def test_no_filters_accept_everything() -> None:
    flt = _dep()
    assert flt.empty
    assert flt.apply(_event()).passed


@pytest.mark.parametrize(
    ("filters", "path"),
    [
        ({"script": "return +"}, "filters.script"),  # not valid Lua
        ({"data": [_data("body.x", "string", ["("])]}, "filters.data[0].value"),
    ],
)
def test_filters_herald_cannot_run_are_refused_with_their_path(
    filters: dict[str, Any], path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _dep(filters)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("value", "text"),
    [("s", "s"), (1, "1"), (1.5, "1.5"), (True, "true"), (None, ""), ({"a": [1]}, '{"a":[1]}')],
)
def test_values_render_as_gjson_strings(value: Any, text: str) -> None:
    assert go_string(value) == text
