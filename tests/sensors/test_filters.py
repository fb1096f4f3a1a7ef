"""Dependency filters: Argo's semantics per kind and operator, and the account they give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

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


def test_cel_syntax_errors_are_validation_errors_with_the_path() -> None:
    with pytest.raises(ValidationError) as info:
        _dep({"cel": "body.action == "})
    (error,) = info.value.errors()
    assert error["loc"] == ("filters", "cel")
    assert "not valid CEL" in error["msg"]


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


# ------------------------------------------------------------ data filter templates


def _templated(path: str, typ: str, values: list[str], template: str, **kw: str) -> dict[str, Any]:
    return {**_data(path, typ, values, kw.get("comparator")), "template": template}


@pytest.mark.parametrize(
    ("flt", "data", "passed"),
    [
        # Argo's documented example (docs/sensors/filters/data.md)
        (
            _templated("body.message", "string", ["hello world"], "{{ b64dec .Input }}"),
            {"body": {"message": "aGVsbG8gd29ybGQ="}},
            True,
        ),
        (
            _templated("body.message", "string", ["^hello$"], "{{ b64dec .Input }}"),
            {"body": {"message": "aGVsbG8gd29ybGQ="}},
            False,
        ),
        (_templated("body.action", "string", ["^OPENED$"], "{{ upper .Input }}"), DATA, True),
        # .Input is the value's string form: numbers and objects arrive as text
        (_templated("body.number", "number", ["43"], "{{ add1 .Input }}"), DATA, True),
        (_templated("body.number", "string", ["^42!$"], "{{ .Input }}!"), DATA, True),
        (_templated("body.labels", "string", ['^\\[\\{"name"'], "{{ .Input }}"), DATA, True),
        # the output is compared as a string, then read as gjson reads strings
        (
            _templated("body.draft", "bool", ["true"], '{{ if eq .Input "false" }}TRUE{{ end }}'),
            DATA,
            True,
        ),
        (_templated("body.ratio", "number", ["0.5"], "{{ .Input }}", comparator=">="), DATA, True),
    ],
)
def test_data_filter_templates_rewrite_the_value_before_comparing(
    flt: dict[str, Any], data: Any, passed: bool
) -> None:
    result = _dep({"data": [flt]}).apply(_event(data))
    assert result.passed is passed, result.reason()
    assert "template gave" in result.clauses[0].detail


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ .Input.x }}", "can't evaluate field x in type string"),
        ("{{ if false }}x{{ end }}", "template gave '', which counts as no value"),
        ("{{ .Missing }}", "template gave '<no value>'"),
    ],
)
def test_a_template_that_fails_or_gives_nothing_is_an_error(template: str, reason: str) -> None:
    result = _dep({"data": [_templated("body.action", "string", ["x"], template)]}).apply(_event())
    assert not result.passed
    assert result.clauses[0].error
    assert reason in result.clauses[0].detail


def test_a_template_that_does_not_parse_is_a_config_error_with_its_path() -> None:
    with pytest.raises(ConfigError) as info:
        _dep({"data": [_templated("body.action", "string", ["x"], "{{ .Input")]})
    assert info.value.path == "filters.data[0].template"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("TRUE", True), ("tRuE", True), ("T", True), ("1", True), ("yes", False), ("0", False)],
)
def test_bool_filters_read_strings_as_gjson_does(value: str, expected: bool) -> None:
    flt = _data("body.flag", "bool", ["true"])
    assert _dep({"data": [flt]}).apply(_event({"body": {"flag": value}})).passed is expected


# --------------------------------------------------------------------------- exprs


def _expr(expr: str, **fields: str) -> dict[str, Any]:
    return {"expr": expr, "fields": [{"name": n, "path": p} for n, p in fields.items()]}


EXPR_DATA = {"a": "b", "c": 11, "d": {"e": True}, "f": 2.5, "list": ["x", "y"], "n-1": 3}


@pytest.mark.parametrize(
    ("exprs", "op", "passed"),
    [
        # Argo's documented example (docs/sensors/filters/expr.md)
        ([_expr('a == "b" || c != 10', a="a", c="c"), _expr("e == false", e="d.e")], "or", True),
        ([_expr('a == "b" || c != 10', a="a", c="c"), _expr("e == false", e="d.e")], "and", False),
        ([_expr("e == true && f > 2", e="d.e", f="f")], "and", True),
        ([_expr('"y" in l', l="list")], "and", True),
        ([_expr("[n-1] == 3", **{"n-1": "n-1"})], "and", True),
        ([_expr("c % 2 == 1 && c ** 2 == 121", c="c")], "and", True),
        ([_expr("a =~ '^b$'", a="a"), _expr("c < 0", c="c")], "or", True),
        ([_expr("c < 0", c="c"), _expr("a =~ 'z'", a="a")], "or", False),
        # a result that is not true fails, without an error
        ([_expr("c > 1 ? 'yes' : 'no'", c="c")], "and", False),
    ],
)
def test_exprs_filters(exprs: list[dict[str, Any]], op: str, passed: bool) -> None:
    result = _dep({"exprs": exprs, "exprLogicalOperator": op}).apply(_event(EXPR_DATA))
    assert result.passed is passed, result.reason()
    assert not any(c.error for c in result.clauses)


def test_an_exprs_clause_shows_the_bound_values_and_the_cel_translation() -> None:
    result = _dep({"exprs": [_expr("c > 10 && e", c="c", e="d.e")]}).apply(_event(EXPR_DATA))
    clause = result.clauses[0]
    assert clause.passed
    assert clause.seen == {"c": 11, "e": True}
    assert clause.label == "exprs[0]"
    assert clause.detail == "c > 10 && e (CEL: ((c > 10.0) && e))"


def test_a_missing_field_path_is_an_error_and_or_collects_it() -> None:
    missing = _expr("x == 1", x="nope")
    ok = _expr("c == 11", c="c")
    rejected = _dep({"exprs": [missing, ok]}).apply(_event(EXPR_DATA))
    assert not rejected.passed
    assert rejected.clauses[0].error
    assert "'nope' does not exist" in rejected.clauses[0].detail
    assert len(rejected.clauses) == 1  # "and" stops at the error, as Argo
    passed = _dep({"exprs": [missing, ok], "exprLogicalOperator": "or"}).apply(_event(EXPR_DATA))
    assert passed.passed
    assert [c.error for c in passed.clauses] == [True, False]


def test_an_evaluation_error_rejects_and_names_the_expression() -> None:
    result = _dep({"exprs": [_expr("a > 1", a="a")]}).apply(_event(EXPR_DATA))
    assert not result.passed
    assert result.clauses[0].error
    assert "a > 1" in result.clauses[0].detail


def test_exprs_pass_when_the_event_has_no_data() -> None:
    assert _dep({"exprs": [_expr("a == 1", a="a")]}).apply(_event(None)).passed


@pytest.mark.parametrize(
    ("exprs", "path", "reason"),
    [
        ([_expr("x == 1", a="a")], "filters.exprs[0].expr", "'x' is not bound"),
        ([_expr("a == 1", a="a"), _expr("a.b == 1", a="a")], "filters.exprs[1].expr", "accessor"),
        ([_expr("a ** a", a="a")], "filters.exprs[0].expr", "power"),
    ],
)
def test_untranslatable_exprs_are_config_errors_with_their_path(
    exprs: list[dict[str, Any]], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _dep({"exprs": exprs})
    assert info.value.path == path
    assert reason in str(info.value)


# -------------------------------------------------------------------------- script


ARGO_SCRIPT = (
    'if event.body.a == "b" and event.body.d.e == "z" then return true else return false end'
)


@pytest.mark.parametrize(
    ("script", "data", "passed"),
    [
        # Argo's documented example (docs/sensors/filters/script.md)
        (
            ARGO_SCRIPT,
            {"body": {"a": "b", "d": {"e": "z"}}},
            True,
        ),
        (
            ARGO_SCRIPT,
            {"body": {"a": "b", "d": {"e": "y"}}},
            False,
        ),
        ("return event.body.number > 40", DATA, True),
        ("return 1", DATA, False),  # only true passes
    ],
)
def test_script_filters(script: str, data: Any, passed: bool) -> None:
    result = _dep({"script": script}).apply(_event(data))
    assert result.passed is passed
    assert not result.clauses[0].error


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("return event.body.missing.x", "attempt to index"),
        ("while true do end", "exceeded its limit"),
        ("return os.execute('true')", "attempt to call field 'execute'"),
    ],
)
def test_a_failing_script_is_an_error_that_rejects(script: str, reason: str) -> None:
    result = _dep({"script": script}).apply(_event())
    assert not result.passed
    assert result.clauses[0].error
    assert reason in result.clauses[0].detail


def test_script_filters_pass_without_data_and_refuse_non_objects() -> None:
    assert _dep({"script": "return false"}).apply(_event(None)).passed
    result = _dep({"script": "return true"}).apply(_event([1, 2]))
    assert not result.passed
    assert "not a JSON object" in result.clauses[0].detail


def test_all_argo_filter_kinds_run_together() -> None:
    filters = {
        "exprs": [_expr("n > 40", n="body.number")],
        "data": [_templated("body.action", "string", ["^OPENED$"], "{{ upper .Input }}")],
        "context": {"type": "webhook"},
        "script": "return event.body.draft == false",
        "cel": "body.ratio == 0.5",
    }
    result = _dep(filters).apply(_event())
    assert result.passed, result.reason()
    assert [c.label for c in result.clauses] == [
        "exprs[0]",
        "data[0] body.action",
        "context.type",
        "script",
        "cel",
    ]
