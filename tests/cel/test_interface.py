"""The public interface of sensors.cel: compile, evaluate, references, errors, values."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest

from herald.core.errors import HeraldError
from sensors import cel

PR_EVENT: dict[str, Any] = {
    "headers": {"X-Github-Event": ["pull_request"], "Content-Type": ["application/json"]},
    "body": {
        "action": "opened",
        "number": 7,
        "pull_request": {
            "title": "feat: faster filters",
            "draft": False,
            "additions": 120,
            "deletions": 30,
            "base": {"ref": "main"},
            "labels": [{"name": "deploy"}, {"name": "bug"}],
        },
    },
    "metadata": {},
}


def evaluate(expr: str, activation: dict[str, Any] | None = None) -> Any:
    return cel.compile(expr).evaluate(PR_EVENT if activation is None else activation)


# -- compile and evaluate --------------------------------------------------------


def test_compile_and_evaluate_a_filter() -> None:
    prog = cel.compile("body.action == 'opened' && size(body.items) > 2")
    assert prog.evaluate({"body": {"action": "opened", "items": [1, 2, 3]}}) is True
    assert prog.evaluate({"body": {"action": "closed", "items": [1, 2, 3]}}) is False


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('body.action == "opened"', True),
        (
            'headers["X-Github-Event"][0] == "pull_request"'
            ' && body.pull_request.base.ref == "main"',
            True,
        ),
        ('body.pull_request.labels.exists(l, l.name == "deploy")', True),
        ('body.pull_request.title.startsWith("feat") && size(body.pull_request.title) > 0', True),
        ("body.pull_request.additions + body.pull_request.deletions < 500", True),
        ('"bug" in body.pull_request.labels.map(l, l.name)', True),
        ('body.action in ["closed", "reopened"]', False),
        ("!body.pull_request.draft", True),
        ("has(body.pull_request.merged)", False),
        ("body.number % 2 == 1 ? 'odd' : 'even'", "odd"),
    ],
)
def test_typical_sensor_filters(expr: str, expected: Any) -> None:
    assert evaluate(expr) == expected


def test_a_program_is_reusable_across_events() -> None:
    prog = cel.compile("body.number > 5")
    assert [prog.evaluate({"body": {"number": n}}) for n in (1, 6, 5, 100)] == [
        False,
        True,
        False,
        True,
    ]


# -- references ------------------------------------------------------------------


def test_references_are_the_top_level_identifiers() -> None:
    prog = cel.compile("body.action == 'opened' && header['X'][0] == 'y'")
    assert prog.references == frozenset({"body", "header"})


def test_macro_variables_are_not_references() -> None:
    prog = cel.compile("body.items.exists(x, x > limit) && body.items.all(y, y.map(z, z) == y)")
    assert prog.references == frozenset({"body", "limit"})


def test_type_names_and_namespaced_functions_are_not_references() -> None:
    prog = cel.compile('type(a) == int && strings.quote(b) != "" && math.greatest(1, c) > 0')
    assert prog.references == frozenset({"a", "b", "c"})


def test_unknown_functions_are_listed_at_compile_time() -> None:
    prog = cel.compile("sizee(body) > 1 || body.name.startWith('x') || strings.quote('a') != ''")
    assert prog.unknown_functions == frozenset({"sizee", "body.name.startWith"})
    assert cel.compile("size(body) > 1").unknown_functions == frozenset()
    assert prog.evaluate({"body": {"name": "y"}}) is True  # `||` absorbs the errors


def test_a_constant_expression_references_nothing() -> None:
    assert cel.compile("1 + 2 == 3").references == frozenset()


def test_binding_only_the_references_is_enough() -> None:
    prog = cel.compile('body.action == "opened" && metadata != null')
    activation = {name: PR_EVENT[name] for name in prog.references}
    assert set(activation) == {"body", "metadata"}
    assert prog.evaluate(activation) is True


# -- syntax errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("body.action == ", 1, 16),
        ("body.action == 'opened' &&\n  size(body.items) >", 2, 21),
        ("(1 + 2", 1, 7),
        ("'unterminated", 1, 1),
        ("a.b.if", None, None),
        ("if", 1, 1),
        ("1 +* 2", 1, 4),
        ("x.all(1, true)", 1, 7),
        ("9223372036854775808", 1, 1),
        ("'bad \\q escape'", 1, 6),
        ("", 1, 1),
        ("a ? b", 1, 6),
        ("a $ b", 1, 3),
    ],
)
def test_syntax_errors_carry_a_position(text: str, line: int | None, column: int | None) -> None:
    if line is None:  # a reserved word is a valid field name
        cel.compile(text)
        return
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.compile(text)
    error = info.value
    assert isinstance(error, cel.CelError)
    assert isinstance(error, HeraldError)
    assert (error.line, error.column) == (line, column)
    assert f"line {line}, column {column}" in str(error)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "1" + ")" * 5000,
        "[" * 5000 + "]" * 5000,
        "!" * 5000 + "true",
        "1" + " + 1" * 5000,
        "a" + ".b" * 5000,
        "f(" * 3000 + ")" * 3000,
    ],
)
def test_hostile_nesting_is_a_cel_error_not_a_crash(text: str) -> None:
    try:
        prog = cel.compile(text)
    except cel.CelSyntaxError as e:
        message = str(e)
    else:
        with pytest.raises(cel.CelError):
            prog.evaluate({"a": {}})
        return
    assert "nest" in message


def test_message_construction_is_rejected_at_compile_time() -> None:
    with pytest.raises(cel.CelSyntaxError, match="not supported"):
        cel.compile("google.protobuf.Int64Value{value: 1}")


# -- evaluation errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("body.action2 == 'x'", "no such key: 'action2' (in `body.action2`)"),
        ('headers["X-Gitlab-Event"][0] == "x"', "no such key: 'X-Gitlab-Event'"),
        ("body.pull_request.labels[5].name", "index 5 out of range for a list of size 2"),
        ("body.action + 1", "no such overload: _+_(string, int) (in `body.action + 1`)"),
        ("body.number / 0", "division by zero"),
        ("body.number % 0", "modulus by zero"),
        ("9223372036854775807 + body.number", "integer overflow"),
        ("-9223372036854775808 - body.number", "integer overflow"),
        ("18446744073709551615u + uint(body.number)", "unsigned integer overflow"),
        ("event.id == 'x'", "undeclared reference to 'event'"),
        ("body.action.size2()", "unknown method 'size2'"),
        ("sizee(body)", "unknown function 'sizee'"),
        ("body.number ? 1 : 2", "expected a bool, got int"),
        ("body.action > 1", "no such overload: _>_(string, int)"),
        ("body.pull_request.labels.name", "type list does not support field selection"),
        ("body.pull_request.labels.exists(l, l.nmae == 'x')", "no such key: 'nmae' (in `l.nmae`)"),
        ("int('12x')", "not an integer"),
        ("timestamp('yesterday')", "not RFC 3339"),
        ("duration('forever')", "invalid duration"),
        ("body.action.matches('(')", "invalid regular expression"),
        ("timestamp('2024-01-01T00:00:00Z').getHours('Mars/Olympus')", "unknown time zone"),
    ],
)
def test_evaluation_errors_say_what_failed_and_where(expr: str, message: str) -> None:
    with pytest.raises(cel.CelEvalError) as info:
        evaluate(expr)
    assert message in str(info.value)
    assert isinstance(info.value, HeraldError)


def test_an_error_names_the_left_operand_first() -> None:
    with pytest.raises(cel.CelEvalError, match="'action'"):
        cel.compile("body.action == 'x' && body.items == 1").evaluate({"body": {}})


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("body.missing == 'x' && false", False),
        ("false && body.missing == 'x'", False),
        ("body.missing == 'x' || true", True),
        ("true || body.missing == 'x'", True),
        ("[1, 0].exists(x, 1 / x == 1)", True),
        ("[0, 1].all(x, 1 / x == 5)", False),
    ],
)
def test_logical_operators_absorb_errors_commutatively(expr: str, expected: bool) -> None:
    assert evaluate(expr) is expected


@pytest.mark.parametrize(
    "expr",
    [
        "body.missing == 'x' && true",
        "true && body.missing == 'x'",
        "body.missing == 'x' || false",
        "[0, 1].exists(x, 1 / x == 5)",
    ],
)
def test_errors_that_nothing_absorbs_propagate(expr: str) -> None:
    with pytest.raises(cel.CelEvalError):
        evaluate(expr)


def test_python_values_cel_has_no_type_for_are_a_cel_error() -> None:
    with pytest.raises(cel.CelEvalError):
        cel.compile("x + 1").evaluate({"x": {1, 2}})
    with pytest.raises(cel.CelEvalError):
        cel.compile("x == timestamp(0)").evaluate({"x": object()})


# -- no conversion of the activation ---------------------------------------------


class NoIteration(dict[str, Any]):
    """A dict that fails when anything walks it: lookups only."""

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the activation was iterated")

    def keys(self) -> Any:
        raise AssertionError("the activation was listed")

    def items(self) -> Any:
        raise AssertionError("the activation was copied")

    def values(self) -> Any:
        raise AssertionError("the activation was copied")


def test_evaluation_only_looks_up_what_the_expression_reads() -> None:
    body = NoIteration({f"field{i}": {"n": i} for i in range(10_000)})
    body["action"] = "opened"
    activation = NoIteration(body=body, headers=NoIteration(x=["y"]))
    prog = cel.compile('body.action == "opened" && body.field9999.n == 9999 && headers.x[0] == "y"')
    assert prog.evaluate(activation) is True


def test_values_from_the_activation_come_back_as_the_same_objects() -> None:
    labels = PR_EVENT["body"]["pull_request"]["labels"]
    assert evaluate("body.pull_request.labels") is labels
    assert evaluate("body.pull_request.labels[0]") is labels[0]


def test_evaluation_time_does_not_grow_with_the_event() -> None:
    small = {"body": {"action": "opened"}}
    big = {"body": {"action": "opened", **{f"k{i}": list(range(50)) for i in range(20_000)}}}
    prog = cel.compile('body.action == "opened"')

    def cost(activation: dict[str, Any]) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(2000):
                prog.evaluate(activation)
            best = min(best, time.perf_counter() - start)
        return best

    assert cost(big) < 3 * cost(small)


# -- values in and out -----------------------------------------------------------


def test_values_come_back_as_python_values() -> None:
    result = evaluate("[1u, 2.5, b'x', {'a': duration('1s')}, null, 'é', true, 3]")
    assert result == [
        cel.Uint(1),
        2.5,
        b"x",
        {"a": datetime.timedelta(seconds=1)},
        None,
        "é",
        True,
        3,
    ]
    assert type(result[0]) is cel.Uint
    assert type(result[7]) is int


def test_timestamps_durations_bytes_and_uints_are_read_from_the_activation() -> None:
    activation = {
        "t": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.UTC),
        "d": datetime.timedelta(minutes=90),
        "b": b"\x00\xff",
        "u": cel.Uint(7),
    }
    prog = cel.compile(
        "t + d == timestamp('2024-05-01T14:00:00Z') && d.getMinutes() == 90"
        " && size(b) == 2 && u + 1u == 8u && t.getHours('Europe/Paris') == 14"
    )
    assert prog.evaluate(activation) is True
    assert cel.compile("t - d").evaluate(activation) == datetime.datetime(
        2024, 5, 1, 11, 0, tzinfo=datetime.UTC
    )
    assert cel.compile("string(t)").evaluate(activation) == "2024-05-01T12:30:00Z"


def test_int_and_uint_are_distinct_types() -> None:
    assert evaluate("type(1) == int && type(1u) == uint && type(1u) != int") is True
    with pytest.raises(cel.CelEvalError):
        evaluate("1 + 1u")
    assert evaluate("1 == 1u && 1 == 1.0") is True  # numeric equality crosses types
    assert evaluate("true == 1") is False  # nothing else does


def test_type_values() -> None:
    assert evaluate("type(body)") == cel.CelType("map")
    assert evaluate("type(body.pull_request.labels)") == cel.CelType("list")
    assert str(evaluate("type(type(1))")) == "type"


def test_results_are_fresh_objects() -> None:
    prog = cel.compile("[1, [2, 3], {'a': [4]}]")
    first = prog.evaluate({})
    first[1].append(99)
    first[2]["a"].append(99)
    assert prog.evaluate({}) == [1, [2, 3], {"a": [4]}]


def test_optional_field_selection() -> None:
    assert evaluate("body.?merged.orValue(false)") is False
    assert evaluate("body.?action.orValue('none')") == "opened"
    assert evaluate("body.pull_request.?base.?ref.hasValue()") is True


def test_repr_shows_the_source() -> None:
    assert repr(cel.compile("a  &&  b")) == "cel.compile('a  &&  b')"


def test_timestamps_and_durations_keep_nanoseconds() -> None:
    ts = evaluate("timestamp('2024-01-01T00:00:00.123456789Z')")
    assert isinstance(ts, datetime.datetime)
    assert isinstance(ts, cel.Timestamp)
    assert (ts.microsecond, ts.nanos) == (123456, 789)
    assert evaluate("string(timestamp('2024-01-01T00:00:00.123456789Z') + duration('11ns'))") == (
        "2024-01-01T00:00:00.1234568Z"
    )
    assert evaluate("duration('1ns') > duration('0s') && duration('1.5us') == duration('1500ns')")
    assert evaluate("timestamp('2024-01-01T00:00:00.000000001Z') > t", {"t": ts.replace(year=2023)})
    with pytest.raises(cel.CelEvalError, match="out of range"):
        evaluate("timestamp('9999-12-31T23:59:59.999999999Z') + duration('1ns')")
