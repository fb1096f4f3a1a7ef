"""CEL semantics a Sensor author relies on, beyond what the cel-spec suite covers:
the list/set extensions, string helpers on real payload shapes, time zones,
qualified names, and the corners where Python and CEL disagree."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from sensors import cel


def ev(expr: str, **activation: Any) -> Any:
    return cel.compile(expr).evaluate(activation)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("lists.range(3)", [0, 1, 2]),
        ("[1, 2, 3, 4].slice(1, 3)", [2, 3]),
        ("[1, [2, [3]]].flatten()", [1, 2, [3]]),
        ("[1, [2, [3]]].flatten(2)", [1, 2, 3]),
        ("[1, 2, 1, 1.0, 'a', 'a'].distinct()", [1, 2, "a"]),
        ("['b', 'c', 'a'].sort()", ["a", "b", "c"]),
        ("[1, 2].reverse()", [2, 1]),
        ("'abc'.reverse()", "cba"),
        ("[].first().hasValue()", False),
        ("[1, 2].last().value()", 2),
        ("sets.contains(['a', 'b', 'c'], ['c', 'a'])", True),
        ("sets.contains([1, 2], [3])", False),
        ("sets.intersects([1, 2], [3, 2u])", True),
        ("sets.equivalent([1, 1, 2], [2, 1])", True),
        ("base64.encode(b'hi')", "aGk="),
        ("base64.decode('aGk')", b"hi"),
        ("math.greatest([3, 9, 4])", 9),
        ("math.least(3, -1, 4)", -1),
        ("'a,b,,c'.split(',')", ["a", "b", "", "c"]),
        ("['x', 'y'].join('/')", "x/y"),
        ("'  deploy  '.trim()", "deploy"),
        (
            "'Hello %s, you have %d new %s'.format(['Ann', 3, 'PRs'])",
            "Hello Ann, you have 3 new PRs",
        ),
        ("'refs/heads/main'.substring(11)", "main"),
        ("'refs/heads/main'.lastIndexOf('/')", 10),
        ("'MiXeD'.lowerAscii()", "mixed"),
    ],
)
def test_extensions(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


@pytest.mark.parametrize("expr", ["[[1], [0]].sort()", "[1, 'a'].sort()", "[1].slice(0, 2)"])
def test_extension_errors(expr: str) -> None:
    with pytest.raises(cel.CelEvalError):
        ev(expr)


def test_headers_as_argo_carries_them() -> None:
    headers = {"X-Github-Event": ["push"], "Content-Type": ["application/json"]}
    assert ev(
        '"X-Github-Event" in headers && headers["X-Github-Event"][0] == "push"', headers=headers
    )
    assert ev('headers["X-Github-Event"].exists(v, v in ["push", "release"])', headers=headers)
    assert not ev("has(headers.Authorization)", headers=headers)


def test_branch_and_path_matching() -> None:
    body = {"ref": "refs/heads/release-1.2", "commits": [{"modified": ["docs/a.md", "src/x.py"]}]}
    assert ev(r"body.ref.matches('^refs/heads/release-[0-9]+\\.[0-9]+$')", body=body)
    assert ev("body.commits.exists(c, c.modified.exists(f, f.startsWith('src/')))", body=body)
    assert ev("body.commits.all(c, c.modified.all(f, f.endsWith('.md')))", body=body) is False


def test_time_zones_and_business_hours() -> None:
    t = datetime.datetime(2024, 3, 31, 1, 30, tzinfo=datetime.UTC)  # Paris has just gone CEST
    assert ev("t.getHours('Europe/Paris')", t=t) == 3
    assert ev("t.getHours('+05:30') == 7 && t.getMinutes('+05:30') == 0", t=t)
    assert ev("t.getDayOfWeek()", t=t) == 0  # a Sunday
    assert ev("t.getDayOfWeek('America/New_York')", t=t) == 6
    assert ev("t.getMonth() == 2 && t.getDate() == 31 && t.getDayOfMonth() == 30", t=t)
    assert ev("timestamp('2024-03-31T03:30:00+02:00') == t", t=t)


def test_event_time_strings_convert_to_timestamps() -> None:
    event = {"time": "2024-05-01T10:00:00.5Z"}
    assert ev("timestamp(event.time) > timestamp('2024-05-01T09:59:59Z')", event=event)
    assert ev("timestamp(event.time) - timestamp('2024-05-01T09:00:00Z')", event=event) == (
        datetime.timedelta(hours=1, milliseconds=500)
    )


def test_cel_and_python_disagree_on_bools_and_numbers() -> None:
    assert ev("x == 1", x=True) is False
    assert ev("1 in [true]") is False
    assert ev("true in {1: 'a'}") is False
    assert ev("x == 1.0", x=1) is True
    assert ev("-7 / 2") == -3  # truncation, not floor
    assert ev("-7 % 2") == -1
    assert ev("x[0]", x=[10, 20]) == 10
    with pytest.raises(cel.CelEvalError):
        ev("x[-1]", x=[10, 20])  # no negative indexing
    with pytest.raises(cel.CelEvalError):
        ev("'abc'[0]")  # strings are not indexable


def test_doubles_follow_ieee() -> None:
    assert ev("1.0 / 0.0") == float("inf")
    assert ev("x != x", x=float("nan")) is True
    assert ev("[x] == [x]", x=float("nan")) is False
    assert ev("x in [x]", x=float("nan")) is False


def test_qualified_names() -> None:
    assert ev("a.b.c", **{"a.b.c": 1}) == 1
    assert ev("a.b.c", **{"a.b": {"c": 2}}) == 2
    # A bound `a` wins over a dotted variable name (see sensors.cel.compiler).
    assert ev("a.b", a={"b": 3}, **{"a.b": 4}) == 3


def test_comprehension_variables_shadow_and_nest() -> None:
    assert ev("[1, 2].map(x, [10, 20].map(x, x + 1))") == [[11, 21], [11, 21]]
    assert ev("[1, 2].exists(x, x == y)", y=2) is True
    assert ev("{'a': 1, 'b': 2}.filter(k, k != 'a')") == ["b"]
    assert ev("[1, 2].transformList(i, v, i * 10 + v)") == [1, 12]
    assert ev("{'a': 1}.transformMap(k, v, v + 1)") == {"a": 2}
    assert ev("cel.bind(n, size(xs), n * n)", xs=[1, 2, 3]) == 9


def test_mixing_bool_and_integer_map_keys_is_refused() -> None:
    # Python dicts cannot hold both `true` and `1` as keys; CEL can. Herald says so.
    with pytest.raises(cel.CelEvalError, match="cannot mix bool keys"):
        ev("{1: 'a', true: 'b'}")
    assert ev("{2: 'a', true: 'b'}[true]") == "b"
