"""Property tests: the CEL engine agrees with Python's arithmetic within int64/uint64,
errors outside, round-trips string literals, and never fails with anything but a
CelError whatever the text or the event."""

from __future__ import annotations

import math
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensors import cel
from tests.cel.test_conformance import canonical

MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_UINT = 2**64 - 1

int64 = st.integers(MIN_INT, MAX_INT)
uint64 = st.integers(0, MAX_UINT)
OPS = ["+", "-", "*", "/", "%"]

ARITH = {op: cel.compile(f"a {op} b") for op in OPS}


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def python_result(op: str, a: int, b: int) -> int | None:
    """What CEL must compute for ``a op b`` on integers, None for "an error"."""
    if op in "/%" and b == 0:
        return None
    result = {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "/": lambda: trunc_div(a, b),
        "%": lambda: a - b * trunc_div(a, b),
    }[op]()
    return result


@given(st.sampled_from(OPS), int64, int64)
def test_int_arithmetic_agrees_with_python_within_int64(op: str, a: int, b: int) -> None:
    expected = python_result(op, a, b)
    if expected is None or not MIN_INT <= expected <= MAX_INT:
        try:
            got = ARITH[op].evaluate({"a": a, "b": b})
        except cel.CelEvalError:
            return
        raise AssertionError(f"{a} {op} {b} gave {got}, expected an error")
    got = ARITH[op].evaluate({"a": a, "b": b})
    assert got == expected
    assert type(got) is int


@given(st.sampled_from(OPS), uint64, uint64)
def test_uint_arithmetic_agrees_with_python_within_uint64(op: str, a: int, b: int) -> None:
    expected = python_result(op, a, b)
    activation = {"a": cel.Uint(a), "b": cel.Uint(b)}
    if expected is None or not 0 <= expected <= MAX_UINT:
        try:
            got = ARITH[op].evaluate(activation)
        except cel.CelEvalError:
            return
        raise AssertionError(f"{a}u {op} {b}u gave {got}, expected an error")
    got = ARITH[op].evaluate(activation)
    assert got == expected
    assert type(got) is cel.Uint


@given(st.sampled_from(OPS), int64, int64)
def test_constant_folding_matches_evaluation(op: str, a: int, b: int) -> None:
    literal = f"({a}) {op} ({b})"
    try:
        folded: Any = cel.compile(literal).evaluate({})
    except cel.CelEvalError:
        folded = "error"
    try:
        dynamic: Any = ARITH[op].evaluate({"a": a, "b": b})
    except cel.CelEvalError:
        dynamic = "error"
    assert folded == dynamic


@given(int64, st.floats(allow_nan=True, allow_infinity=True))
def test_int_double_ordering_is_consistent(i: int, d: float) -> None:
    prog = cel.compile("[a < b, a == b, a > b]")
    lt, eq, gt = prog.evaluate({"a": i, "b": d})
    if math.isnan(d):
        assert (lt, eq, gt) == (False, False, False)
    else:
        assert [lt, eq, gt].count(True) == 1
        assert (lt, eq, gt) == (float(i) < d, float(i) == d, float(i) > d)


def cel_string_literal(text: str) -> str:
    """Spell ``text`` as a CEL double-quoted literal using escapes only."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in string.ascii_letters + string.digits + " .,:;-_":
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


text_without_surrogates = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(text_without_surrogates)
def test_escaped_string_literals_round_trip(text: str) -> None:
    assert cel.compile(cel_string_literal(text)).evaluate({}) == text


@given(text_without_surrogates)
def test_strings_quote_produces_a_literal_that_reads_back(text: str) -> None:
    quoted = cel.compile("strings.quote(s)").evaluate({"s": text})
    assert cel.compile(quoted).evaluate({}) == text


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="'\\\r\n")))
def test_raw_and_plain_single_quoted_literals_agree_without_escapes(text: str) -> None:
    assert cel.compile(f"r'{text}'").evaluate({}) == text
    assert cel.compile(f"'''{text}'''").evaluate({}) == text if "'" not in text else True


@given(st.binary(max_size=40))
def test_bytes_literals_round_trip(data: bytes) -> None:
    literal = "b'" + "".join(f"\\x{byte:02x}" for byte in data) + "'"
    assert cel.compile(literal).evaluate({}) == data


json_scalars = st.none() | st.booleans() | int64 | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def strict_python_equal(a: Any, b: Any) -> bool:
    """JSON equality without Python's bool/int conflation (CEL keeps them apart)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            strict_python_equal(x, y) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(strict_python_equal(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


EQ = cel.compile("a == b")
NE = cel.compile("a != b")


@given(json_values, json_values)
def test_equality_on_json_values(a: Any, b: Any) -> None:
    assert EQ.evaluate({"a": a, "b": a}) is True
    expected = strict_python_equal(a, b)
    assert EQ.evaluate({"a": a, "b": b}) is expected
    assert NE.evaluate({"a": a, "b": b}) is (not expected)


FILTERS = [
    cel.compile(text)
    for text in (
        'body.action == "opened"',
        "body.items.exists(x, x.name.startsWith('a'))",
        "size(body) > 2 && body.n + 1 > 3",
        "has(body.a) ? body.a : body.b",
        "body.items.map(x, x * 2).filter(y, y > 3)",
        '"k" in body && body.k[0] == body["k"][1]',
        "string(body.n) + body.s",
        "int(body.s) / body.n",
        "body.items.all(x, type(x) == int || type(x) == map)",
    )
]


def evaluate_or_error(prog: cel.Program, activation: dict[str, Any]) -> Any:
    """The canonical result, or "error"; an engine bug (a non-CEL failure) fails the test."""
    try:
        return canonical(prog.evaluate(activation))
    except cel.CelEvalError as e:
        message = str(e)
    assert "cannot evaluate on this input" not in message, message
    return "error"


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["action", "items", "n", "s", "a", "b", "k"]), json_values))
def test_filters_on_arbitrary_events_return_or_raise_cel_errors(body: dict[str, Any]) -> None:
    for prog in FILTERS:
        evaluate_or_error(prog, {"body": body})


# Random expressions, rendered twice: with literals (which the compiler folds) and
# with every literal lifted into a variable (which it cannot fold). Both must agree.

LITERALS: list[tuple[str, Any]] = [
    ("0", 0),
    ("1", 1),
    ("-7", -7),
    ("9223372036854775807", MAX_INT),
    ("-9223372036854775808", MIN_INT),
    ("0u", cel.Uint(0)),
    ("3u", cel.Uint(3)),
    ("18446744073709551615u", cel.Uint(MAX_UINT)),
    ("0.0", 0.0),
    ("2.5", 2.5),
    ("-1e308", -1e308),
    ("'a'", "a"),
    ("''", ""),
    ("'ab'", "ab"),
    ("b'a'", b"a"),
    ("true", True),
    ("false", False),
    ("null", None),
]
BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "in"]
UNARY_CALLS = ["size", "string", "int", "uint", "double", "type", "dyn", "bool", "bytes"]
METHODS = ["contains", "startsWith", "endsWith", "matches"]

Tree = tuple[Any, ...]


def trees() -> st.SearchStrategy[Tree]:
    leaf = st.sampled_from(range(len(LITERALS))).map(lambda i: ("lit", i))

    def extend(inner: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        return st.one_of(
            st.tuples(st.just("bin"), st.sampled_from(BINARY), inner, inner),
            st.tuples(st.just("un"), st.sampled_from(["!", "-"]), inner),
            st.tuples(st.just("call"), st.sampled_from(UNARY_CALLS), inner),
            st.tuples(st.just("method"), st.sampled_from(METHODS), inner, inner),
            st.tuples(st.just("cond"), inner, inner, inner),
            st.tuples(st.just("list"), st.lists(inner, max_size=3)),
            st.tuples(st.just("map"), st.lists(st.tuples(inner, inner), max_size=2)),
            st.tuples(st.just("index"), inner, inner),
            st.tuples(
                st.just("macro"), st.sampled_from(["exists", "all", "map", "filter"]), inner, inner
            ),
        )

    return st.recursive(leaf, extend, max_leaves=8)


def render(tree: Tree, lifted: bool, bindings: dict[str, Any]) -> str:
    kind = tree[0]
    if kind == "lit":
        text, value = LITERALS[tree[1]]
        if not lifted:
            return text
        name = f"v{len(bindings)}"
        bindings[name] = value
        return name

    def r(t: Tree) -> str:
        return render(t, lifted, bindings)

    if kind == "bin":
        return f"({r(tree[2])} {tree[1]} {r(tree[3])})"
    if kind == "un":
        return f"{tree[1]}({r(tree[2])})"
    if kind == "call":
        return f"{tree[1]}({r(tree[2])})"
    if kind == "method":
        return f"({r(tree[2])}).{tree[1]}({r(tree[3])})"
    if kind == "cond":
        return f"({r(tree[1])} ? {r(tree[2])} : {r(tree[3])})"
    if kind == "list":
        return "[" + ", ".join(r(t) for t in tree[1]) + "]"
    if kind == "map":
        return "{" + ", ".join(f"{r(k)}: {r(v)}" for k, v in tree[1]) + "}"
    if kind == "index":
        return f"({r(tree[1])})[{r(tree[2])}]"
    # macro over a list, with the variable used in the body
    return f"[{r(tree[2])}, 1].{tree[1]}(it, it == {r(tree[3])})"


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(trees())
def test_folded_and_unfolded_evaluation_agree(tree: Tree) -> None:
    literal_text = render(tree, False, {})
    bindings: dict[str, Any] = {}
    lifted_text = render(tree, True, bindings)
    folded = evaluate_or_error(cel.compile(literal_text), {})
    dynamic = evaluate_or_error(cel.compile(lifted_text), bindings)
    assert folded == dynamic, (literal_text, folded, dynamic)


cel_alphabet = st.sampled_from(
    [*"abxyz019_.,:?!()[]{}<>=&|+-*/%'\"\\ \n`", "in", "has(", ".exists(", "u", "e+", "0x"]
)


@given(st.lists(cel_alphabet, max_size=30).map("".join))
def test_any_text_compiles_or_raises_a_syntax_error(text: str) -> None:
    try:
        prog = cel.compile(text)
    except cel.CelSyntaxError:
        return
    evaluate_or_error(prog, {"a": 1, "b": [1], "x": {"y": "z"}})
