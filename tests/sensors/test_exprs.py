"""govaluate and expr-lang translated to CEL: same answers as Argo on the same events.

Each case gives the expected result under the original language's documented
semantics (govaluate's MANUAL.md and stage functions; expr-lang v1.15 as Argo
calls it in ``pkg/shared/expr/eval.go``). Where a hand-written CEL equivalent
exists, both CEL forms are evaluated on the same events and must agree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensors import cel
from sensors.exprs import (
    SPRIG_FUNCTIONS,
    TranslationError,
    cel_identifier,
    compile_exprlang,
    exprlang_activation,
    exprlang_to_cel,
    govaluate_activation,
    govaluate_to_cel,
)

ERROR = object()


def _govaluate(expr: str, values: dict[str, Any]) -> Any:
    program = cel.compile(govaluate_to_cel(expr, values))
    try:
        return program.evaluate(govaluate_activation(values))
    except cel.CelError:
        return ERROR


# ---------------------------------------------------------------------- govaluate


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        # Argo's documented examples (docs/sensors/filters/expr.md)
        ('a == "b" || c != 10', {"a": "b", "c": 11}, True),
        ('a == "b" || c != 10', {"a": "x", "c": 10}, False),
        ("e == false", {"e": False}, True),
        ("e == false", {"e": True}, False),
        ('action =~ "start"', {"action": "restart"}, True),
        ('action == "end" && started == true', {"action": "end", "started": True}, True),
        (
            'action =~ "start" || (started == true && instances == 2)',
            {"action": "stop", "started": True, "instances": 2},
            True,
        ),
        # numbers are float64: ints and floats compare by value
        ("n == 2", {"n": 2}, True),
        ("n == 2.0", {"n": 2}, True),
        ("n > 1.5", {"n": 2}, True),
        ("n <= 0.1", {"n": 0.1}, True),
        ("0x1F == n", {"n": 31}, True),
        ("n / 0 > 1000", {"n": 1}, True),  # +Inf
        # strings compare lexically; mixed types are unequal, and unordered
        ('s > "a"', {"s": "b"}, True),
        ("s == 1", {"s": "1"}, False),
        ("s > 1", {"s": "b"}, ERROR),
        # regular expressions, unanchored
        ('s =~ "^a" && s !~ "z$"', {"s": "abc"}, True),
        ('s !~ "b"', {"s": "abc"}, False),
        # in with govaluate's list syntax, or a bound array
        ("n in (1, 2, 3)", {"n": 2}, True),
        ('s in ("a", "b")', {"s": "c"}, False),
        ("'bug' in labels", {"labels": ["bug", "ui"]}, True),
        ("n in (1, 2)", {"n": 2.0}, True),
        # escaped names
        ("[x-y] > 0", {"x-y": 1}, True),
        ("[a.b] == 'c'", {"a.b": "c"}, True),
        ("[in] == 1", {"in": 1}, True),
        # arithmetic, precedence, associativity
        ("a + b == 5", {"a": 2, "b": 3}, True),
        ("a - b - c", {"a": 10, "b": 3, "c": 2}, 5.0),
        ("a - b * c", {"a": 10, "b": 3, "c": 2}, 4.0),
        ("(a - b) * c", {"a": 10, "b": 3, "c": 2}, 14.0),
        ("a / b / c", {"a": 12, "b": 3, "c": 2}, 2.0),
        ("n % 3 == 1", {"n": 7}, True),
        ("n % 3", {"n": -7}, -1.0),  # math.Mod keeps the dividend's sign
        ("n % 2.5", {"n": 7.5}, 0.0),
        ("n ** 2 == 49", {"n": 7}, True),
        ("2 ** 3 ** 2", {}, 64.0),  # left-associative in govaluate
        ("-n < 0", {"n": 3}, True),
        ("-n ** 2", {"n": 3}, 9.0),  # prefix binds tighter than **
        ('s + "x" == "ax"', {"s": "a"}, True),
        ('n + "x"', {"n": 2}, "2x"),
        # bitwise, through int64
        ("n & 1 == 1", {"n": 3}, True),
        ("n | 4", {"n": 3}, 7.0),
        ("n ^ 1", {"n": 3}, 2.0),
        ("1 << 3 == 8", {}, True),
        ("n >> 1", {"n": 8}, 4.0),
        ("~0 == -1", {}, True),
        # logic
        ("!flag", {"flag": False}, True),
        ("!(n == 2)", {"n": 2}, False),
        ("flag && n", {"flag": True, "n": 1}, ERROR),
        ("!n", {"n": 1}, ERROR),
        # ternaries and coalescing
        ('n > 1 ? "big" : "small"', {"n": 2}, "big"),
        ('n > 1 ? "big" : "small"', {"n": 0}, "small"),
        ('n > 1 ? "big"', {"n": 0}, None),
        ("x ?? 5", {"x": None}, 5.0),
        ("x ?? 5", {"x": 3}, 3.0),
        ("x ?? y ?? 7", {"x": None, "y": None}, 7.0),
        ("x : 4", {"x": None}, 4.0),
        ("n ? 1 : 2", {"n": 1}, ERROR),  # the condition must be a bool
        ('flag ? x : "none"', {"flag": True, "x": None}, "none"),  # govaluate's nil rule
        # null compares equal only to null
        ("x == y", {"x": None, "y": None}, True),
        ("x != 1", {"x": None}, True),
    ],
)
def test_govaluate_translations_give_govaluate_results(
    expr: str, values: dict[str, Any], expected: Any
) -> None:
    got = _govaluate(expr, values)
    if expected is ERROR:
        assert got is ERROR
    else:
        assert got == expected
        assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("expr", "handwritten"),
    [
        ('a == "b" || c != 10', 'a == "b" || c != 10.0'),
        ("n in (1, 2, 3)", "n in [1.0, 2.0, 3.0]"),
        ('s =~ "^a"', 's.matches("^a")'),
        ("n % 3 == 1", "int(n) % 3 == 1"),
        ("x ?? 5", "x == null ? 5.0 : x"),
    ],
)
@pytest.mark.parametrize(
    "values",
    [
        {"a": "b", "c": 10, "n": 7, "s": "abc", "x": None},
        {"a": "z", "c": 11, "n": 2, "s": "zzz", "x": 1},
        {"a": "b", "c": 10.5, "n": 1, "s": "a", "x": 0},
    ],
)
def test_govaluate_translation_agrees_with_handwritten_cel(
    expr: str, handwritten: str, values: dict[str, Any]
) -> None:
    activation = govaluate_activation(values)
    names = [n for n in values if n in expr]
    translated = cel.compile(govaluate_to_cel(expr, names)).evaluate(activation)
    assert translated == cel.compile(handwritten).evaluate(activation)


@pytest.mark.parametrize(
    ("expr", "names", "message"),
    [
        ("a.b == 1", ["a"], "struct accessor"),
        ("f(a) == 1", ["a"], "calls a function"),
        ("x == 1", ["a"], "'x' is not bound by any field (fields: a)"),
        ("d == '2021-01-02'", ["d"], "as a date"),
        ('d == "3:04PM"', ["d"], "as a date"),
        ("d > '2021-01-02T10:00:00Z'", ["d"], "as a date"),
        ("a ** b", ["a", "b"], "power"),
        ("a ** 0.5", ["a"], "power"),
        ("a >-1", ["a"], "invalid token '>-'"),
        ("", [], "empty"),
        ("(a", ["a"], "unbalanced parenthesis"),
        ("a ==", ["a"], "ends too early"),
        ("'unterminated", [], "unclosed string literal"),
        ("[a", ["a"], "unclosed parameter bracket"),
        ("a =~ '('", ["a"], "invalid regular expression"),
        ("a b", ["a", "b"], "unexpected 'b'"),
        ("1.2.3 == a", ["a"], "not a number"),
    ],
)
def test_govaluate_forms_that_cannot_be_translated_say_why(
    expr: str, names: list[str], message: str
) -> None:
    with pytest.raises(TranslationError) as info:
        govaluate_to_cel(expr, names)
    assert message in str(info.value)
    if expr:
        assert repr(expr) in str(info.value)


def test_strings_are_not_dates_unless_govaluate_would_parse_them() -> None:
    assert govaluate_to_cel("d == '2021-13-45'", ["d"]) == '(d == "2021-13-45")'
    assert govaluate_to_cel("d == 'main'", ["d"]) == '(d == "main")'


def test_escaped_names_map_to_distinct_cel_variables() -> None:
    names = ["a-b", "a_b", "a.b", "_x", "int", "ok"]
    idents = [cel_identifier(n) for n in names]
    assert len(set(idents)) == len(names)
    assert cel_identifier("ok") == "ok"
    for ident in idents:
        cel.compile(f"{ident} == 1")  # every one is a valid CEL identifier


_OPS: dict[str, Callable[[float, float], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "<": operator.lt,
    ">=": operator.ge,
    "==": operator.eq,
}
_PRECEDENCE = {"+": 2, "-": 2, "*": 3, "<": 1, ">=": 1, "==": 1}


def _trees(depth: int) -> st.SearchStrategy[Any]:
    leaves = st.integers(min_value=-9, max_value=9) | st.sampled_from(["a", "b"])
    if depth == 0:
        return leaves
    arith = st.tuples(st.sampled_from(["+", "-", "*"]), _trees(depth - 1), _trees(depth - 1))
    return leaves | arith


def _text(tree: Any, parent: int = 0, right: bool = False) -> str:
    """Minimal parentheses: a child in parentheses only when precedence needs it."""
    if not isinstance(tree, tuple):
        return str(tree)
    op, left, rhs = tree
    prec = _PRECEDENCE[op]
    text = f"{_text(left, prec)} {op} {_text(rhs, prec, True)}"
    if prec < parent or (prec == parent and right):
        return f"({text})"
    return text


def _value(tree: Any, env: dict[str, float]) -> Any:
    if isinstance(tree, tuple):
        op, left, rhs = tree
        return _OPS[op](_value(left, env), _value(rhs, env))
    return env[tree] if isinstance(tree, str) else float(tree)


@settings(max_examples=200, deadline=None)
@given(
    left=_trees(3),
    right=_trees(2),
    cmp=st.sampled_from(["<", ">=", "=="]),
    a=st.integers(-5, 5),
    b=st.integers(-5, 5),
)
def test_govaluate_precedence_and_associativity_match_arithmetic(
    left: Any, right: Any, cmp: str, a: int, b: int
) -> None:
    env = {"a": float(a), "b": float(b)}
    expr = f"{_text(left, 1)} {cmp} {_text(right, 1, True)}"
    assert _govaluate(expr, {"a": a, "b": b}) == _OPS[cmp](_value(left, env), _value(right, env))


# ---------------------------------------------------------------------- expr-lang

DATA: dict[str, Any] = {
    "header": {"X-Github-Event": ["push"], "Content-Type": ["application/json"]},
    "body": {
        "id": 4,
        "name": "Jane",
        "action": "opened",
        "labels": ["bug", "ui"],
        "items": [{"name": "a", "qty": 1}, {"name": "b", "qty": 3}],
        "nested": {"x-y": 1, "deep": {"v": 2}, "in": "kw"},
        "count": 10,
        "ratio": 0.5,
        "ref": "refs/heads/main",
        "flag": True,
        "nothing": None,
        "payload": "aGk=",
    },
    "x-request-id": "abc",
    "a.b": 5,
}


def _exprlang(expr: str, data: Any = DATA) -> Any:
    program = cel.compile(exprlang_to_cel(expr))
    try:
        return program.evaluate(exprlang_activation(data, program.references))
    except cel.CelError:
        return ERROR


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # Argo's documented example and its test (pkg/shared/expr/eval_test.go)
        ("(body.id == 4) && (body.name != 'Joe')", True),
        ("(body.id == 2) || (body.name == 'Joe')", False),
        ("body.id == 4.0", True),
        ("body.id > 3.5 and body.ratio < 1", True),
        # missing keys are nil, members of nil are errors
        ("body.missing == nil", True),
        ("body.missing != 1", True),
        ("body.nothing == nil", True),
        ("body.missing.x == 1", ERROR),
        ("unknown == nil", True),
        ("unknown.x == 1", ERROR),
        # top-level keys: '-' becomes '_', dotted keys nest
        ('x_request_id == "abc"', True),
        ("a.b == 5", True),
        ('header["X-Github-Event"][0] == "push"', True),
        ('body.nested["x-y"] == 1', True),
        ('body.nested.in == "kw"', True),
        # operators
        ('body.action in ["opened", "closed"]', True),
        ('body.action not in ["opened"]', False),
        ('"bug" in body.labels', True),
        ('"action" in body', True),
        ("body.id in [4, 5]", True),
        ("2 in 1..3", True),
        ('body.ref matches "^refs/heads/"', True),
        ('body.ref not matches "tags"', True),
        ('body.ref startsWith "refs/" && body.ref endsWith "main"', True),
        ('body.ref contains "heads"', True),
        ("not body.flag", False),
        ("!body.flag || body.id == 4", True),
        ("-body.count < 0", True),
        ("body.count + 1 == 11", True),
        ("body.count - 1 == 9", True),
        ("body.count * 2 == 20", True),
        ("body.count / 4 == 2.5", True),
        ("body.count ** 2 == 100", True),
        ("body.count % 3 == 1", ERROR),  # float64 % int fails in expr too
        ("asInt(body.count) % 3 == 1", True),
        ("body.flag ? body.id == 4 : false", True),
        ('(body.missing ?? "dflt") == "dflt"', True),
        ("body?.nested?.deep?.v == 2", True),
        ("body.missing?.x == nil", True),
        ('body.labels[-1] == "ui"', True),
        ('body.items[1].name == "b"', True),
        ('{"a": [1, 2]}.a[1] == 2', True),
        # builtins and Argo's helpers
        ("len(body.labels) == 2", True),
        ("len(body.ref) > 10", True),
        ("asInt(body.ratio * 10) == 5", True),
        ('asFloat("1.5") == 1.5', True),
        ('int("42") == 42 and float("0.5") == body.ratio', True),
        ('string(body.id) == "4"', True),
        ('upper(body.action) == "OPENED" and lower("ABC") == "abc"', True),
        ('trim("  x  ") == "x"', True),
        ('trimPrefix(body.ref, "refs/heads/") == "main"', True),
        ('trimSuffix(body.ref, "/main") == "refs/heads"', True),
        ('hasPrefix(body.ref, "refs") && hasSuffix(body.ref, "main")', True),
        ('split(body.ref, "/")[1] == "heads"', True),
        ('replace(body.ref, "refs/", "") == "heads/main"', True),
        ('join(body.labels, ",") == "bug,ui"', True),
        ('indexOf(body.ref, "/") == 4', True),
        ("max(1, body.count) == 10 and min(1, 2) == 1", True),
        ("abs(-2) == 2", True),
        ('first(body.labels) == "bug" and last(body.labels) == "ui"', True),
        ('"deep" in keys(body.nested)', True),
        ('toBase64("hi") == "aGk=" and fromBase64(body.payload) == "hi"', True),
        ("jsonpath(toJson(body), '$.nested.deep.v') == 2", True),
        ("jsonpath(toJson(body), \"$['nested']['x-y']\") == 1", True),
        ("jsonpath(toJson(body), '$.labels[-1]') == 'ui'", True),
        ("jsonpath(toJson(body), '$.missing') == 1", ERROR),
        ('body.action | upper() == "OPENED"', True),
        # predicates
        ("all(body.items, {.qty > 0})", True),
        ('any(body.items, {.name == "b"})', True),
        ("none(body.items, {.qty > 5})", True),
        ("one(body.items, {.qty > 2})", True),
        ("count(body.items, {.qty >= 1}) == 2", True),
        ('filter(body.items, {.qty > 2})[0].name == "b"', True),
        ('map(body.items, {.name}) == ["a", "b"]', True),
        ("all(body.labels, {len(#) > 1})", True),
        # sprig helpers
        ('sprig.upper(body.action) == "OPENED"', True),
        ('sprig.contains("pen", body.action)', True),
        (
            'sprig.hasPrefix("refs", body.ref) and '
            'sprig.trimPrefix("refs/", body.ref) == "heads/main"',
            True,
        ),
        ('sprig.replace("/", "-", body.ref) == "refs-heads-main"', True),
        ('sprig.toString(body.id) == "4" and sprig.int("7") == 7', True),
        ("sprig.add(body.id, 1) == 5", True),
        ('sprig.ternary("y", "n", body.flag) == "y"', True),
    ],
)
def test_exprlang_translations_give_expr_results(expr: str, expected: Any) -> None:
    assert _exprlang(expr) is expected if expected is ERROR else _exprlang(expr) == expected


@pytest.mark.parametrize(
    ("expr", "handwritten"),
    [
        ("(body.id == 4) && (body.name != 'Joe')", 'body.id == 4.0 && body.name != "Joe"'),
        ('body.action in ["opened", "closed"]', 'body.action in ["opened", "closed"]'),
        ('body.ref matches "^refs/heads/"', 'body.ref.matches("^refs/heads/")'),
        ("len(body.labels) > 1", "size(body.labels) > 1"),
        ('any(body.items, {.name == "b"})', 'body.items.exists(i, i.name == "b")'),
        ("asInt(body.count) > 5", "int(body.count) > 5"),
    ],
)
@pytest.mark.parametrize(
    "data",
    [
        DATA,
        {
            "body": {
                "id": 5,
                "name": "Joe",
                "action": "closed",
                "ref": "refs/tags/v1",
                "labels": ["x"],
                "items": [{"name": "b"}],
                "count": 3,
            }
        },
        {
            "body": {
                "id": 4.0,
                "name": "Ann",
                "action": "edited",
                "ref": "main",
                "labels": [],
                "items": [],
                "count": 7.9,
            }
        },
    ],
)
def test_exprlang_translation_agrees_with_handwritten_cel(
    expr: str, handwritten: str, data: dict[str, Any]
) -> None:
    activation = exprlang_activation(data)
    assert cel.compile(exprlang_to_cel(expr)).evaluate(activation) == cel.compile(
        handwritten
    ).evaluate(activation)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("toJson(body) == 'x'", "toJson() alone"),
        ("jsonpath(body.raw, '$.a')", "jsonpath(toJson(x), '$.path')"),
        ("jsonpath(toJson(body), '$..a')", "not a definite path"),
        ("jsonpath(toJson(body), '$.items[*].name')", "not a definite path"),
        ("let x = 1; x == 1", "'let'"),
        ("body.items[1:2]", "slices"),
        ("body.n ** body.m", "power"),
        ("now() > date('2020-01-01')", "now() has no CEL translation"),
        ("repeat('a', 3) == 'aaa'", "repeat() has no CEL translation"),
        ("sprig.sha256sum(body.x) == ''", "sprig.sha256sum() has no CEL translation"),
        ("sprig.upper(body.x, 1)", "sprig.upper() takes 1 argument(s)"),
        ("body.x.size()", "method call .size()"),
        ("a < b < c", "chained comparison"),
        ("body.x ?? 1 + 2", "cannot be mixed"),
        ('body.missing ?? "dflt" == "dflt"', "cannot be mixed"),
        ("x in a..b", "integer literals"),
        ("body.x == ", "unexpected end of expression"),
        ("body.x == 'unterminated", "literal not terminated"),
        ("body.x @ 1", "unrecognized character '@'"),
        ("# > 1", "only allowed inside a predicate"),
        ("body.x matches '('", "invalid regular expression"),
        ("asInt", "is a function"),
        ("len(a, b)", "len() takes 1 argument(s), got 2"),
    ],
)
def test_exprlang_forms_that_cannot_be_translated_say_why(expr: str, message: str) -> None:
    with pytest.raises(TranslationError) as info:
        exprlang_to_cel(expr)
    assert message in str(info.value)


def test_the_activation_rewrites_keys_as_argo_does() -> None:
    data = {"a.b": 1, "a.c.d": 2, "a": 3, "ab": 4, "x-y": {"k-1": 1.5}, "int": 7}
    act = exprlang_activation(data)
    assert act["a"] == {"b": 1.0, "c": {"d": 2.0}}  # the conflicting "a" is dropped
    assert act["ab"] == 4.0
    assert act["x_y"] == {"k-1": 1.5}  # only top-level keys are rewritten
    assert act[cel_identifier("int")] == 7.0
    assert _exprlang("int == 7", data) is True  # a name CEL reserves still works
    assert data["a"] == 3  # the data is not changed


def test_compiled_exprlang_filters_match_and_refuse_non_booleans() -> None:
    program = compile_exprlang("(body.id == 4) && (body.name != 'Joe')")
    assert program.matches(DATA) is True
    assert program.matches({"body": {"id": 4, "name": "Joe"}}) is False
    with pytest.raises(cel.CelError):
        program.matches({"body": None})
    with pytest.raises(cel.CelError, match="not a bool"):
        compile_exprlang("body.id").matches(DATA)
    with pytest.raises(cel.CelError, match="not a bool"):
        compile_exprlang("invalidexpression").matches(DATA)  # nil, as in Argo's test


def test_every_sprig_translation_compiles() -> None:
    for name, (count, _template) in SPRIG_FUNCTIONS.items():
        args = ", ".join(f"body.a{i}" for i in range(count))
        cel.compile(exprlang_to_cel(f"sprig.{name}({args})"))


# ------------------------------------------------------------------ hostile input


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(" * 100 + "a" + ")" * 100, "nested deeper than 64 levels"),
        ("- " * 100 + "a", "nested deeper than 64 levels"),
        ("a" + " + a" * 600, "more than 500 operators"),
    ],
)
@pytest.mark.parametrize("language", ["govaluate", "expr"])
def test_runaway_expressions_are_refused(text: str, message: str, language: str) -> None:
    translate = (
        (lambda t: govaluate_to_cel(t, ["a"])) if language == "govaluate" else exprlang_to_cel
    )
    with pytest.raises(TranslationError) as info:
        translate(text)
    assert message in str(info.value)
    assert len(str(info.value)) < 400  # the expression is shortened in the message


@pytest.mark.parametrize("language", ["govaluate", "expr"])
def test_long_flat_chains_translate(language: str) -> None:
    joiner = " || " if language == "govaluate" else " or "
    text = joiner.join(f"a == {i}" for i in range(200))
    translated = govaluate_to_cel(text, ["a"]) if language == "govaluate" else exprlang_to_cel(text)
    program = cel.compile(translated)
    act = govaluate_activation({"a": 150}) if language == "govaluate" else {"a": 150.0}
    assert program.evaluate(act) is True


_EXPR_ALPHABET = "ab.()[]{}'\"0123456789 +-*/%<>=!&|?:,#~^$_@inotandr"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_EXPR_ALPHABET, max_size=40))
def test_fuzzed_govaluate_either_translates_to_cel_or_says_why(text: str) -> None:
    try:
        translated = govaluate_to_cel(text, ["a", "b"])
    except TranslationError:
        return
    cel.compile(translated)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_EXPR_ALPHABET, max_size=40))
def test_fuzzed_exprlang_either_translates_to_cel_or_says_why(text: str) -> None:
    try:
        translated = exprlang_to_cel(text)
    except TranslationError:
        return
    cel.compile(translated)
