"""Argo's expression languages, translated to CEL so that one engine runs them all.

Argo Events evaluates two other languages that Herald users bring along:

- **govaluate** (Knetic/govaluate) in a dependency's ``filters.exprs``: each
  expression sees the ``fields`` it binds (``name`` <- gjson value at
  ``path``). :func:`govaluate_to_cel` translates it; the bound values go
  through :func:`govaluate_activation`.
- **expr-lang** (antonmedv/expr v1.15) in an EventSource's
  ``filter.expression``, over the event data's top-level keys.
  :func:`exprlang_to_cel` translates it; :func:`exprlang_activation` builds
  the variables from the data exactly as Argo does (below), and
  :func:`compile_exprlang` does both and compiles the CEL once.

Every translation either produces CEL that gives the same answer as the
original on the same input, or raises :class:`TranslationError` naming the
construct, where it is and why it cannot be expressed; nothing is silently
approximated. Where the answer can differ it is listed here.

Numbers. Both languages see JSON numbers as Go ``float64``. The activations
convert every integer in the bound data to a float, and govaluate's numeric
literals become CEL doubles, so ``count == 3`` and ``count > 2.5`` mean what
they mean in Go. expr-lang keeps integer literals as integers (as expr does);
arithmetic between a known integer (a literal, ``len``, ``asInt``) and
anything else converts the integer with ``double()``, and ``/`` always
divides as doubles (expr's ``/`` returns a float).

govaluate specifics:

- operators ``== != > >= < <= =~ !~ in && || ! - + * / % ** & | ^ << >> ~``,
  ``?:`` and ``??``; precedence and left associativity as govaluate plans
  them (``-x ** 2`` is ``(-x) ** 2``, ``?``/``:``/``??`` share a level);
- ``+`` with a string literal on one side concatenates (the other side goes
  through ``string()``); ``%`` is ``math.Mod`` (written with ``math.trunc``);
  ``**`` only with a literal integer exponent 0..16 (CEL has no power
  function); bitwise operators go through ``int()`` and CEL's ``math.bit*``;
- ``[name-with-dash]`` escapes a parameter name; an unbracketed ``a.b`` is a
  struct accessor in govaluate, which fails on JSON maps, so it is refused; a
  name that no field binds is refused (govaluate fails on every event);
- ``in`` takes a parenthesised list ``(1, 2)`` or a bound array;
- a quoted literal that govaluate parses as a date (``'2021-01-02'``,
  ``'3:04PM'``, RFC 3339, ...) becomes a Unix time in govaluate, which no JSON
  value equals: refused with that explanation;
- govaluate functions do not exist in Argo: a call is refused.

expr-lang specifics (what Argo's ``filterEvent`` does, ``pkg/eventsources/
eventing.go`` and ``pkg/shared/expr/eval.go``):

- the variables are the data's top-level keys with ``-`` replaced by ``_``
  and dotted keys expanded into nested maps (``{"a.b": 1}`` -> ``a.b``); a
  name that is not in the data is ``nil``;
- a missing map key is ``nil`` (``body.x == nil`` holds when ``x`` is absent,
  ``body.x != 1`` too), a member of ``nil`` is an error: the translation keeps
  both rules (``has()`` per step), so it reads ``(has(body.x) ? body.x :
  null)`` rather than ``body.x``;
- translated: literals, arrays, maps, ``and``/``or``/``not`` and their symbols,
  comparisons, ``in`` / ``not in`` (lists, maps, integer ranges ``1..5``),
  ``matches``, ``contains``, ``startsWith``, ``endsWith``, ``?:``, ``??``,
  ``?.``, indexing (negative literal indexes too), pipes, the predicates
  ``all any none one filter map count`` with ``#``/``.field``, the builtins
  ``len int float string abs upper lower trim trimPrefix trimSuffix hasPrefix
  hasSuffix split replace join indexOf lastIndexOf max min first last keys
  values toBase64 fromBase64``, Argo's ``asInt``/``asFloat`` and
  ``jsonpath(toJson(x), '$.a.b[0]')`` for definite paths, and the sprig helpers
  with a CEL equivalent (``sprig.upper`` ...: see :data:`SPRIG_FUNCTIONS`);
- refused: ``let``, slices, ``**`` beyond small literal exponents, ``toJson``
  on its own, ``fromJSON``/``toJSON``, dates and durations, ``repeat``, and any
  other function;
- ``upper``/``lower`` change ASCII letters only (CEL's ``upperAscii``), and
  ``indexOf`` counts code points where Go counts bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NoReturn

import orjson

from herald.core.errors import ConfigError
from sensors import cel

__all__ = [
    "SPRIG_FUNCTIONS",
    "ExprLangProgram",
    "TranslationError",
    "cel_identifier",
    "compile_exprlang",
    "exprlang_activation",
    "exprlang_to_cel",
    "govaluate_activation",
    "govaluate_to_cel",
    "to_go_numbers",
]


class TranslationError(ConfigError):
    """An expression that cannot be translated to CEL; the message says what and why."""

    def __init__(self, message: str, *, expression: str = "", path: str = "") -> None:
        shown = expression if len(expression) <= 200 else expression[:200] + "..."
        super().__init__(f"{message} (in {shown!r})" if expression else message, path=path)
        self.expression = expression


# ------------------------------------------------------------------------ shared

_CEL_RESERVED: Final = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
        "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
        "void", "while",
        # type names and macros that an identifier would shadow or be read as
        "int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
        "type", "dyn", "has", "cel", "math", "strings", "base64", "lists", "sets",
        "optional",
    }
)  # fmt: skip
_IDENT: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def cel_identifier(name: str) -> str:
    """The CEL variable that carries ``name``: itself when it can be, else an escaped form.

    Names that are valid CEL identifiers (not reserved, not starting with
    ``_``) stay as they are; others become ``_f_`` plus the name with every
    character outside ``[A-Za-z0-9]`` written as ``_<hex>_`` (``a-b`` ->
    ``_f_a_2d_b``). The mapping is one-to-one, so two names never collide.
    """
    if _IDENT.match(name) and name not in _CEL_RESERVED:
        return name
    escaped = "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):x}_" for c in name)
    return "_f_" + escaped


def to_go_numbers(value: Any) -> Any:
    """``value`` with every integer made a float, as Go's ``json.Unmarshal`` into ``any``."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return {k: to_go_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_go_numbers(v) for v in value]
    return value


def _cel_string(text: str) -> str:
    return orjson.dumps(text).decode()


def _cel_double(value: float, fail: Callable[[str], NoReturn]) -> str:
    if math.isinf(value) or math.isnan(value):
        fail(f"number {value} is out of range")
    text = repr(float(value))
    return text if any(c in text for c in ".e") else text + ".0"


_SIMPLE: Final = re.compile(r"_?[A-Za-z][A-Za-z0-9_]*\Z")
_MAX_NESTING: Final = 64
_MAX_OPERATORS: Final = 500


_CHAINABLE: Final = frozenset({"&&", "||", "+", "-", "*", "and", "or"})


def _chain_left(left_node: Any, left: str, op: str) -> str:
    """A left operand of the same left-associative operator without its parentheses.

    ``((a || b) || c)`` becomes ``(a || b || c)``: same meaning, and long
    chains stay within CEL's nesting limit. ``left`` is ``(...)`` as the
    emitters write a binary node of these operators.
    """
    same = left_node.kind == "binary" and left_node.value == op and op in _CHAINABLE
    if same and left.startswith("(") and left.endswith(")"):
        return left[1:-1]
    return left


class _Binder:
    """Fresh names for ``cel.bind`` so that a sub-expression is evaluated once."""

    def __init__(self) -> None:
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return f"_t{self.count}"

    def bind(self, expr: str, body: Callable[[str], str]) -> str:
        """``body(x)`` where ``x`` names ``expr``: ``expr`` itself when it is a plain name."""
        if _SIMPLE.match(expr):
            return body(expr)
        name = self.fresh()
        return f"cel.bind({name}, {expr}, {body(name)})"


# ---------------------------------------------------------------------- govaluate

_GV_COMPARATORS: Final = ("==", "!=", ">=", "<=", ">", "<", "=~", "!~")
_GV_SYMBOLS: Final = frozenset(
    {
        "==", "!=", ">", ">=", "<", "<=", "=~", "!~", "&&", "||", "+", "-", "*", "/", "%",
        "**", "&", "|", "^", "<<", ">>", "!", "~", "?", ":", "??",
    }
)  # fmt: skip
_GV_OPERATOR_CHARS: Final = frozenset("=!<>~&|+-*/%^?:")

_DATE_PATTERNS: Final = (
    re.compile(
        r"\d{4}-\d{2}-\d{2}"
        r"(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z"
    ),
    re.compile(r"\d{1,2}:\d{2}[AP]M\Z"),
    re.compile(
        r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
        r"[ \d]\d \d{2}:\d{2}:\d{2} "
    ),
)  # fmt: skip


def _govaluate_reads_as_date(text: str) -> bool:
    """Whether govaluate's lexer turns this string literal into a time (``tryParseTime``)."""
    for pattern in _DATE_PATTERNS:
        if pattern.match(text):
            if pattern is _DATE_PATTERNS[0]:
                try:
                    datetime.strptime(text[:10], "%Y-%m-%d")
                except ValueError:
                    return False
            return True
    return False


@dataclass(frozen=True, slots=True)
class _GvTok:
    kind: str  # num, str, bool, var, op, lparen, rparen, comma
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class _Gv:
    """A govaluate expression node."""

    kind: str  # num, str, bool, var, list, unary, binary, group
    value: Any = None
    args: tuple[_Gv, ...] = ()
    pos: int = 0


class _GovaluateTranslator:
    def __init__(self, text: str, names: Iterable[str]) -> None:
        self.text = text
        self.names = set(names)
        self.binder = _Binder()
        self.tokens = self._lex()
        self.index = 0
        self.nesting = 0
        self.operators = 0

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        where = f" at position {pos + 1}" if pos is not None else ""
        raise TranslationError(f"govaluate: {message}{where}", expression=self.text)

    # -- lexer (govaluate's readToken)
    def _lex(self) -> list[_GvTok]:
        text, pos, n = self.text, 0, len(self.text)
        out: list[_GvTok] = []
        while pos < n:
            char = text[pos]
            if char.isspace():
                pos += 1
                continue
            start = pos
            if char.isdecimal() or char == ".":
                if text.startswith(("0x", "0X"), pos):
                    end = pos + 2
                    while end < n and text[end] in "0123456789abcdefABCDEF":
                        end += 1
                    if end == pos + 2:
                        self.fail("a hex number needs digits after 0x", pos)
                    out.append(_GvTok("num", float(int(text[pos + 2 : end], 16)), start))
                    pos = end
                    continue
                end = pos
                while end < n and (text[end].isdecimal() or text[end] == "."):
                    end += 1
                try:
                    out.append(_GvTok("num", float(text[pos:end]), start))
                except ValueError:
                    self.fail(f"{text[pos:end]!r} is not a number", pos)
                pos = end
                continue
            if char == ",":
                out.append(_GvTok("comma", ",", start))
                pos += 1
                continue
            if char == "[":
                pos, name = self._read_until(pos + 1, "]", "unclosed parameter bracket '['", start)
                out.append(_GvTok("var", name, start))
                continue
            if char.isalpha():
                end = pos
                while end < n and (text[end].isalnum() or text[end] in "_."):
                    end += 1
                word = text[pos:end]
                pos = end
                if word in ("true", "false"):
                    out.append(_GvTok("bool", word == "true", start))
                elif word in ("in", "IN"):
                    out.append(_GvTok("op", "in", start))
                elif "." in word:
                    self.fail(
                        f"{word!r} is a struct accessor in govaluate, which fails on JSON data; "
                        f"bind the value with its own field (name + path) or escape the name "
                        f"as [{word}]",
                        start,
                    )
                else:
                    out.append(_GvTok("var", word, start))
                continue
            if char in "'\"":
                pos, literal = self._read_until(pos + 1, "'\"", "unclosed string literal", start)
                if _govaluate_reads_as_date(literal):
                    self.fail(
                        f"govaluate reads the literal {literal!r} as a date (a Unix time), which "
                        "no JSON value equals; compare strings with a cel filter instead",
                        start,
                    )
                out.append(_GvTok("str", literal, start))
                continue
            if char == "(":
                out.append(_GvTok("lparen", "(", start))
                pos += 1
                continue
            if char == ")":
                out.append(_GvTok("rparen", ")", start))
                pos += 1
                continue
            end = pos
            while end < n and text[end] in _GV_OPERATOR_CHARS:
                end += 1
            symbol = text[pos:end]
            if symbol not in _GV_SYMBOLS:
                self.fail(f"invalid token {symbol or char!r}", start)
            out.append(_GvTok("op", symbol, start))
            pos = end
        return out

    def _read_until(self, pos: int, stops: str, unclosed: str, start: int) -> tuple[int, str]:
        text, out = self.text, []
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                out.append(text[pos + 1])
                pos += 2
                continue
            if char in stops:
                return pos + 1, "".join(out)
            out.append(char)
            pos += 1
        self.fail(unclosed, start)

    # -- parser (govaluate's stage planner, left-associative after reorderStages)
    def _peek(self) -> _GvTok | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take_op(self, symbols: Sequence[str]) -> _GvTok | None:
        tok = self._peek()
        if tok is not None and tok.kind == "op" and tok.value in symbols:
            self.index += 1
            return tok
        return None

    def parse(self) -> _Gv:
        if not self.tokens:
            self.fail("the expression is empty")
        node = self._separator()
        tok = self._peek()
        if tok is not None:
            self.fail(f"unexpected {tok.value!r}", tok.pos)
        return node

    _LEVELS: Final = (
        ("?", ":", "??"),
        ("||",),
        ("&&",),
        (*_GV_COMPARATORS, "in"),
        ("&", "|", "^"),
        ("<<", ">>"),
        ("+", "-"),
        ("*", "/", "%"),
        ("**",),
    )

    def _separator(self) -> _Gv:
        first = self._binary(0)
        if (tok := self._peek()) is None or tok.kind != "comma":
            return first
        items = list(first.args) if first.kind == "list" else [first]
        while (tok := self._peek()) is not None and tok.kind == "comma":
            self.index += 1
            items.append(self._binary(0))
        return _Gv("list", args=tuple(items), pos=first.pos)

    def _binary(self, level: int) -> _Gv:
        if level == len(self._LEVELS):
            return self._prefix()
        node = self._binary(level + 1)
        while (tok := self._take_op(self._LEVELS[level])) is not None:
            right = self._binary(level + 1)
            node = _Gv("binary", tok.value, (node, right), tok.pos)
            self.operators += 1
            if self.operators > _MAX_OPERATORS:
                self.fail(f"more than {_MAX_OPERATORS} operators; split the expression", tok.pos)
        return node

    def _prefix(self) -> _Gv:
        tok = self._peek()
        if tok is None:
            self.fail("the expression ends too early")
        if tok.kind == "op" and tok.value in ("-", "!", "~"):
            self.index += 1
            self._enter(tok.pos)
            operand = self._prefix()
            self.nesting -= 1
            return _Gv("unary", tok.value, (operand,), tok.pos)
        return self._value()

    def _enter(self, pos: int) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            self.fail(f"nested deeper than {_MAX_NESTING} levels", pos)

    def _value(self) -> _Gv:
        tok = self._peek()
        if tok is None:
            self.fail("the expression ends too early")
        self.index += 1
        if tok.kind == "lparen":
            self._enter(tok.pos)
            inner = self._separator()
            self.nesting -= 1
            close = self._peek()
            if close is None or close.kind != "rparen":
                self.fail("unbalanced parenthesis", tok.pos)
            self.index += 1
            return _Gv("group", args=(inner,), pos=tok.pos)
        if tok.kind == "num":
            return _Gv("num", tok.value, pos=tok.pos)
        if tok.kind == "str":
            return _Gv("str", tok.value, pos=tok.pos)
        if tok.kind == "bool":
            return _Gv("bool", tok.value, pos=tok.pos)
        if tok.kind == "var":
            nxt = self._peek()
            if nxt is not None and nxt.kind == "lparen":
                self.fail(
                    f"{tok.value}(...) calls a function, and govaluate filters in Argo have "
                    "none; use a cel filter for computed values",
                    tok.pos,
                )
            if tok.value not in self.names:
                known = ", ".join(sorted(self.names)) or "none"
                self.fail(
                    f"{tok.value!r} is not bound by any field (fields: {known}); add a field "
                    f"with name {tok.value!r} and the gjson path of its value",
                    tok.pos,
                )
            return _Gv("var", tok.value, pos=tok.pos)
        self.fail(f"expected a value, found {tok.value!r}", tok.pos)

    # -- emission
    def emit(self, node: _Gv) -> str:
        kind = node.kind
        if kind == "num":
            return _cel_double(node.value, lambda m: self.fail(m, node.pos))
        if kind == "str":
            return _cel_string(node.value)
        if kind == "bool":
            return "true" if node.value else "false"
        if kind == "var":
            return cel_identifier(node.value)
        if kind == "group":
            return self.emit(node.args[0])
        if kind == "list":
            return "[" + ", ".join(self.emit(a) for a in node.args) + "]"
        if kind == "unary":
            operand = self.emit(node.args[0])
            if node.value == "~":
                return f"double(math.bitNot(int({operand})))"
            return f"{node.value}({operand})"
        return self._emit_binary(node)

    def _emit_binary(self, node: _Gv) -> str:
        op = node.value
        left_node, right_node = node.args
        if op == ":":
            return self._emit_else(left_node, right_node)
        if op == "??":
            return self._coalesce(self.emit(left_node), self.emit(right_node))
        left, right = self.emit(left_node), self.emit(right_node)
        if op == "?":
            return f"(({left}) ? ({right}) : null)"
        if op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||", "-", "*", "/", "in"):
            return f"({_chain_left(left_node, left, op)} {op} {right})"
        if op == "+":
            if left_node.kind == "str" and right_node.kind != "str":
                right = f"string({right})"
            elif right_node.kind == "str" and left_node.kind != "str":
                left = f"string({left})"
            return f"({_chain_left(left_node, left, op)} + {right})"
        if op in ("=~", "!~"):
            if right_node.kind == "str":
                try:
                    re.compile(right_node.value)
                except re.error as e:
                    self.fail(f"invalid regular expression {right_node.value!r}: {e}", node.pos)
            match = f"({left}).matches({right})"
            return match if op == "=~" else f"!{match}"
        if op == "%":
            return self.binder.bind(
                left,
                lambda a: self.binder.bind(right, lambda b: f"({a} - {b} * math.trunc({a} / {b}))"),
            )
        if op == "**":
            return self._power(left, right_node, node.pos)
        bitwise = {
            "&": "math.bitAnd",
            "|": "math.bitOr",
            "^": "math.bitXor",
            "<<": "math.bitShiftLeft",
            ">>": "math.bitShiftRight",
        }
        if op in bitwise:
            return f"double({bitwise[op]}(int({left}), int({right})))"
        self.fail(f"operator {op!r} has no CEL translation", node.pos)

    def _emit_else(self, left_node: _Gv, right_node: _Gv) -> str:
        """govaluate's ``:``: the left value unless it is nil; ``c ? a : b`` in the common case."""
        right = self.emit(right_node)
        if left_node.kind == "binary" and left_node.value == "?":
            cond_node, then_node = left_node.args
            cond, then = self.emit(cond_node), self.emit(then_node)
            if then_node.kind in ("num", "str", "bool", "list") or (
                then_node.kind in ("binary", "unary")
                and then_node.value in (*_GV_COMPARATORS, "in", "&&", "||", "!")
            ):
                return f"(({cond}) ? ({then}) : ({right}))"
            return self._coalesce(f"(({cond}) ? ({then}) : null)", right)
        return self._coalesce(self.emit(left_node), right)

    def _coalesce(self, left: str, right: str) -> str:
        return self.binder.bind(left, lambda v: f"({v} != null ? {v} : {right})")

    def _power(self, base: str, exponent: _Gv, pos: int) -> str:
        value = exponent.value if exponent.kind == "num" else None
        if value is None or not float(value).is_integer() or not 0 <= value <= 16:
            self.fail(
                "'**' (power) has no CEL equivalent; only a literal whole exponent from 0 to "
                "16 is translated",
                pos,
            )
        count = int(value)
        if count == 0:
            return "1.0"
        return self.binder.bind(base, lambda b: "(" + " * ".join([b] * count) + ")")


def govaluate_to_cel(expr: str, names: Iterable[str]) -> str:
    """Translate a govaluate expression over the parameters ``names`` into CEL.

    The CEL reads each parameter from the variable :func:`cel_identifier`
    gives its name; build the activation with :func:`govaluate_activation`.
    Raises :class:`TranslationError` for what cannot be translated.
    """
    translator = _GovaluateTranslator(expr, names)
    return _checked("govaluate", expr, lambda: translator.emit(translator.parse()))


def _checked(language: str, expr: str, translate: Callable[[], str]) -> str:
    """Run a translation and compile its CEL, turning runaway input into TranslationError."""
    try:
        text = translate()
    except RecursionError:
        raise TranslationError(
            f"{language}: the expression is nested too deeply to translate", expression=expr
        ) from None
    try:
        cel.compile(text)
    except cel.CelError as e:
        raise TranslationError(
            f"{language}: the translation is not CEL that Herald can compile ({e})",
            expression=expr,
        ) from e
    return text


def govaluate_activation(values: Mapping[str, Any]) -> dict[str, Any]:
    """CEL variables for bound govaluate parameters: escaped names, numbers as floats."""
    return {cel_identifier(name): to_go_numbers(value) for name, value in values.items()}


# ---------------------------------------------------------------------- expr-lang

_EXPR_WORD_OPERATORS: Final = frozenset(
    {"not", "in", "and", "or", "matches", "contains", "startsWith", "endsWith", "let"}
)
_EXPR_OPERATORS: Final = (
    "...", "**", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "..", "::",
    "!", "<", ">", "+", "-", "*", "/", "%", "^", "?", ":", ",", ".", "|", "#", "=", ";",
)  # fmt: skip
_BINARY: Final[dict[str, tuple[int, bool]]] = {  # precedence, right-associative
    "|": (0, False),
    "or": (10, False),
    "||": (10, False),
    "and": (15, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    ">=": (20, False),
    "<=": (20, False),
    "in": (20, False),
    "matches": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "^": (100, True),
    "??": (500, False),
}
_UNARY: Final = {"not": 50, "!": 50, "-": 90, "+": 90}
_NEGATABLE: Final = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
_PREDICATES: Final = frozenset({"all", "any", "none", "one", "filter", "map", "count"})
_RANGE_LIMIT: Final = 10_000


@dataclass(frozen=True, slots=True)
class _ExTok:
    kind: str  # ident, number, string, op, bracket, eof
    value: Any
    pos: int
    text: str = ""


@dataclass(frozen=True, slots=True)
class _Ex:
    """An expr-lang AST node."""

    kind: str
    value: Any = None
    args: tuple[_Ex, ...] = ()
    pos: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
}


class _ExprLangTranslator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.binder = _Binder()
        self.tokens = self._lex()
        self.index = 0
        self.depth = 0
        self.predicate_vars: list[str] = []
        self.references: set[str] = set()
        self.operators = 0

    def fail(self, message: str, pos: int | None = None) -> NoReturn:
        where = f" at position {pos + 1}" if pos is not None else ""
        raise TranslationError(f"expr: {message}{where}", expression=self.text)

    # -- lexer
    def _lex(self) -> list[_ExTok]:
        text, pos, n = self.text, 0, len(self.text)
        out: list[_ExTok] = []
        while pos < n:
            char = text[pos]
            if char.isspace():
                pos += 1
                continue
            start = pos
            if char.isdecimal():
                pos = self._number(pos, out)
                continue
            if char in "\"'`":
                pos = self._string(pos, out)
                continue
            if char.isalpha() or char in "_$":
                end = pos
                while end < n and (text[end].isalnum() or text[end] in "_$"):
                    end += 1
                word = text[pos:end]
                kind = "op" if word in _EXPR_WORD_OPERATORS else "ident"
                out.append(_ExTok(kind, word, start, word))
                pos = end
                continue
            if char in "()[]{}":
                out.append(_ExTok("bracket", char, start, char))
                pos += 1
                continue
            for op in _EXPR_OPERATORS:
                if text.startswith(op, pos):
                    if op == "?." and pos + 2 < n and text[pos + 2].isdecimal():
                        continue  # "a ?.5 : b" is a ternary, not optional chaining
                    out.append(_ExTok("op", op, start, op))
                    pos += len(op)
                    break
            else:
                self.fail(f"unrecognized character {char!r}", pos)
        out.append(_ExTok("eof", None, n))
        return out

    def _number(self, pos: int, out: list[_ExTok]) -> int:
        text = self.text
        match = re.compile(
            r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+"
            r"|\d[\d_]*(?:\.(?!\.)[\d_]*)?(?:[eE][+-]?\d+)?"
        ).match(text, pos)
        assert match is not None
        raw = match.group(0)
        clean = raw.replace("_", "")
        try:
            if clean[:2].lower() in ("0x", "0b", "0o"):
                value: int | float = int(clean, 0)
            elif any(c in clean for c in ".eE"):
                value = float(clean)
            else:
                value = int(clean, 10)
        except ValueError:
            self.fail(f"invalid number literal {raw!r}", pos)
        out.append(_ExTok("number", value, pos, raw))
        return match.end()

    def _string(self, pos: int, out: list[_ExTok]) -> int:
        text, quote = self.text, self.text[pos]
        end = pos + 1
        chars: list[str] = []
        while True:
            if end >= len(text):
                self.fail("literal not terminated", pos)
            char = text[end]
            if char == quote:
                break
            if char == "\\" and quote != "`":
                end += 1
                if end >= len(text):
                    self.fail("literal not terminated", pos)
                esc = text[end]
                if esc in _ESCAPES:
                    chars.append(_ESCAPES[esc])
                    end += 1
                elif esc in "xuU":
                    width = {"x": 2, "u": 4, "U": 8}[esc]
                    digits = text[end + 1 : end + 1 + width]
                    try:
                        chars.append(chr(int(digits, 16)))
                    except ValueError:
                        self.fail(f"invalid escape \\{esc}{digits}", end)
                    end += 1 + width
                elif esc in "01234567":
                    digits = text[end : end + 3]
                    try:
                        chars.append(chr(int(digits, 8)))
                    except ValueError:
                        self.fail(f"invalid escape \\{digits}", end)
                    end += 3
                else:
                    self.fail(f"invalid escape \\{esc}", end)
                continue
            chars.append(char)
            end += 1
        out.append(_ExTok("string", "".join(chars), pos, text[pos : end + 1]))
        return end + 1

    # -- parser (expr's precedence climbing)
    @property
    def cur(self) -> _ExTok:
        return self.tokens[self.index]

    def _next(self) -> None:
        if self.cur.kind != "eof":
            self.index += 1

    def _is(self, kind: str, value: Any = None) -> bool:
        tok = self.cur
        return tok.kind == kind and (value is None or tok.value == value)

    def _expect(self, kind: str, value: Any) -> None:
        if not self._is(kind, value):
            self.fail(f"expected {value!r}, found {self._show(self.cur)}", self.cur.pos)
        self._next()

    @staticmethod
    def _show(tok: _ExTok) -> str:
        return "end of expression" if tok.kind == "eof" else repr(tok.text or tok.value)

    def parse(self) -> _Ex:
        node = self._expression(0)
        if not self._is("eof"):
            self.fail(f"unexpected {self._show(self.cur)}", self.cur.pos)
        return node

    def _expression(self, precedence: int) -> _Ex:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            self.fail(f"nested deeper than {_MAX_NESTING} levels", self.cur.pos)
        if precedence == 0 and self._is("op", "let"):
            self.fail("'let' declarations have no CEL translation; inline the value", self.cur.pos)
        node = self._primary()
        prev_op = ""
        while self.cur.kind == "op":
            tok = self.cur
            negate = False
            if tok.value == "not":
                after = self.tokens[self.index + 1]
                if after.kind == "op" and after.value in _NEGATABLE:
                    if _BINARY[after.value][0] < precedence:
                        break
                    self._next()
                    tok, negate = self.cur, True
                else:
                    self.fail(f"unexpected {self._show(after)} after 'not'", after.pos)
            op = tok.value
            if op not in _BINARY or _BINARY[op][0] < precedence:
                break
            self._next()
            if op == "|":
                node = self._pipe(node)
                prev_op = op
                continue
            if prev_op == "??" and op != "??":
                self.fail(
                    f"operator {op!r} and coalesce expressions (??) cannot be mixed; "
                    "wrap either in parentheses",
                    tok.pos,
                )
            prec, right_assoc = _BINARY[op]
            right = self._expression(prec if right_assoc else prec + 1)
            if (
                prec == 20
                and node.kind == "binary"
                and _BINARY[node.value][0] == 20
                and not node.extra.get("paren")
            ):
                self.fail(
                    f"chained comparison before {op!r}: write it with 'and' (a < b and b < c)",
                    tok.pos,
                )
            node = _Ex("binary", op, (node, right), tok.pos)
            self.operators += 1
            if self.operators > _MAX_OPERATORS:
                self.fail(f"more than {_MAX_OPERATORS} operators; split the expression", tok.pos)
            if negate:
                node = _Ex("unary", "not", (node,), tok.pos)
            prev_op = op
        if precedence == 0:
            node = self._conditional(node)
        self.depth -= 1
        return node

    def _conditional(self, node: _Ex) -> _Ex:
        while self._is("op", "?"):
            pos = self.cur.pos
            self._next()
            if self._is("op", ":"):
                self._next()
                otherwise = self._expression(0)
                node = _Ex("cond", None, (node, node, otherwise), pos)
            else:
                then = self._expression(0)
                self._expect("op", ":")
                otherwise = self._expression(0)
                node = _Ex("cond", None, (node, then, otherwise), pos)
        return node

    def _pipe(self, left: _Ex) -> _Ex:
        tok = self.cur
        if tok.kind != "ident":
            self.fail(f"expected a function name after '|', found {self._show(tok)}", tok.pos)
        self._next()
        return self._call(tok, [left])

    def _primary(self) -> _Ex:
        tok = self.cur
        if tok.kind == "op" and tok.value in _UNARY:
            self._next()
            operand = self._expression(_UNARY[tok.value])
            return self._postfix(_Ex("unary", tok.value, (operand,), tok.pos))
        if self._is("bracket", "("):
            self._next()
            inner = self._expression(0)
            self._expect("bracket", ")")
            if inner.kind == "binary":
                inner = _Ex(inner.kind, inner.value, inner.args, inner.pos, {"paren": True})
            return self._postfix(inner)
        if tok.kind == "op" and tok.value in ("#", "."):
            if not self.predicate_vars:
                self.fail("'#' and '.field' are only allowed inside a predicate", tok.pos)
            self._next()
            pointer = _Ex("pointer", None, (), tok.pos)
            if tok.value == "#":
                if self.cur.kind == "ident":
                    self.fail("named pointers (#name) have no translation", tok.pos)
                return self._postfix(pointer)
            # ".field" inside a predicate: a member of the current element
            name = self.cur
            if name.kind != "ident":
                self.fail("expected a field name after '.'", name.pos)
            self._next()
            member = _Ex("member", None, (pointer, _Ex("string", name.value)), name.pos)
            return self._postfix(member)
        if tok.kind == "op" and tok.value == "::":
            self.fail("'::' builtin calls have no translation", tok.pos)
        return self._secondary()

    def _secondary(self) -> _Ex:
        tok = self.cur
        if tok.kind == "ident":
            self._next()
            if tok.value in ("true", "false"):
                return self._postfix(_Ex("bool", tok.value == "true", (), tok.pos))
            if tok.value == "nil":
                return self._postfix(_Ex("nil", None, (), tok.pos))
            if self._is("bracket", "("):
                return self._postfix(self._call(tok, []))
            return self._postfix(_Ex("ident", tok.value, (), tok.pos))
        if tok.kind == "number":
            self._next()
            kind = "float" if isinstance(tok.value, float) else "int"
            return self._postfix(_Ex(kind, tok.value, (), tok.pos))
        if tok.kind == "string":
            self._next()
            return self._postfix(_Ex("string", tok.value, (), tok.pos))
        if self._is("bracket", "["):
            self._next()
            items: list[_Ex] = []
            while not self._is("bracket", "]"):
                if items:
                    self._expect("op", ",")
                    if self._is("bracket", "]"):
                        break
                items.append(self._expression(0))
            self._expect("bracket", "]")
            return self._postfix(_Ex("array", None, tuple(items), tok.pos))
        if self._is("bracket", "{"):
            self._next()
            pairs: list[_Ex] = []
            while not self._is("bracket", "}"):
                if pairs:
                    self._expect("op", ",")
                    if self._is("bracket", "}"):
                        break
                key_tok = self.cur
                if key_tok.kind in ("ident", "string", "number"):
                    self._next()
                    key = _Ex(
                        "string",
                        str(key_tok.value) if key_tok.kind != "number" else key_tok.text,
                        (),
                        key_tok.pos,
                    )
                elif self._is("bracket", "("):
                    key = self._expression(0)
                else:
                    self.fail(
                        "a map key must be a string, a number, a name or (expression)", key_tok.pos
                    )
                self._expect("op", ":")
                pairs.append(_Ex("pair", None, (key, self._expression(0)), key_tok.pos))
            self._expect("bracket", "}")
            return self._postfix(_Ex("map", None, tuple(pairs), tok.pos))
        self.fail(f"unexpected {self._show(tok)}", tok.pos)

    def _call(self, name: _ExTok, args: list[_Ex]) -> _Ex:
        if name.value in _PREDICATES:
            self._expect("bracket", "(")
            if not args:
                args.append(self._expression(0))
                self._expect("op", ",")
            var = f"_it{len(self.predicate_vars) + 1}"
            self.predicate_vars.append(var)
            braced = self._is("bracket", "{")
            if braced:
                self._next()
            body = self._expression(0)
            if braced:
                self._expect("bracket", "}")
            self.predicate_vars.pop()
            if self._is("op", ","):
                self._next()
            self._expect("bracket", ")")
            return _Ex("predicate", name.value, (args[0], body), name.pos, {"var": var})
        self._expect("bracket", "(")
        inside = 0
        while not self._is("bracket", ")"):
            if inside:
                self._expect("op", ",")
                if self._is("bracket", ")"):
                    break
            args.append(self._expression(0))
            inside += 1
        self._expect("bracket", ")")
        return _Ex("call", name.value, tuple(args), name.pos)

    def _postfix(self, node: _Ex) -> _Ex:
        while True:
            tok = self.cur
            if tok.kind == "op" and tok.value in (".", "?."):
                optional = tok.value == "?."
                self._next()
                if optional and self._is("bracket", "["):
                    node = self._index(node, optional=True)
                    continue
                prop = self.cur
                if prop.kind not in ("ident", "op") or not str(prop.value).isidentifier():
                    self.fail("expected a name after '.'", prop.pos)
                self._next()
                if self._is("bracket", "("):
                    node = self._method(node, prop)
                    continue
                member = _Ex(
                    "member", None, (node, _Ex("string", prop.value, (), prop.pos)), prop.pos
                )
                node = _Ex("optional", None, (member,), prop.pos) if optional else member
            elif self._is("bracket", "["):
                node = self._index(node, optional=False)
            else:
                return node

    def _index(self, node: _Ex, optional: bool) -> _Ex:
        pos = self.cur.pos
        self._next()
        if self._is("op", ":"):
            self.fail("slices (a[i:j]) have no CEL translation", pos)
        key = self._expression(0)
        if self._is("op", ":"):
            self.fail("slices (a[i:j]) have no CEL translation", pos)
        self._expect("bracket", "]")
        member = _Ex("member", None, (node, key), pos)
        return _Ex("optional", None, (member,), pos) if optional else member

    def _method(self, receiver: _Ex, name: _ExTok) -> _Ex:
        args: list[_Ex] = []
        self._expect("bracket", "(")
        while not self._is("bracket", ")"):
            if args:
                self._expect("op", ",")
            args.append(self._expression(0))
        self._expect("bracket", ")")
        if receiver.kind == "ident" and receiver.value == "sprig":
            return _Ex("sprig", name.value, tuple(args), name.pos)
        self.fail(
            f"method call .{name.value}() has no translation (JSON values have no methods)",
            name.pos,
        )

    # -- emission
    def emit(self, node: _Ex) -> str:
        handler = getattr(self, f"_emit_{node.kind}")
        result: str = handler(node)
        return result

    def _emit_int(self, node: _Ex) -> str:
        return str(node.value)

    def _emit_float(self, node: _Ex) -> str:
        return _cel_double(node.value, lambda m: self.fail(m, node.pos))

    def _emit_string(self, node: _Ex) -> str:
        return _cel_string(node.value)

    def _emit_bool(self, node: _Ex) -> str:
        return "true" if node.value else "false"

    def _emit_nil(self, node: _Ex) -> str:
        return "null"

    def _emit_ident(self, node: _Ex) -> str:
        if node.value in ("asInt", "asFloat", "jsonpath", "toJson", "sprig"):
            self.fail(f"{node.value!r} is a function; call it", node.pos)
        name = cel_identifier(node.value)
        self.references.add(name)
        return name

    def _emit_pointer(self, node: _Ex) -> str:
        return self.predicate_vars[-1] if self.predicate_vars else "_it1"

    def _emit_array(self, node: _Ex) -> str:
        return "[" + ", ".join(self.emit(a) for a in node.args) + "]"

    def _emit_map(self, node: _Ex) -> str:
        pairs = [f"{self.emit(p.args[0])}: {self.emit(p.args[1])}" for p in node.args]
        return "{" + ", ".join(pairs) + "}"

    def _emit_member(self, node: _Ex) -> str:
        target, key = node.args
        base = self.emit(target)
        if key.kind == "string":
            prop = key.value
            if _IDENT.match(prop) and prop not in _CEL_RESERVED:
                return self.binder.bind(base, lambda x: f"(has({x}.{prop}) ? {x}.{prop} : null)")
            literal = _cel_string(prop)
            return self.binder.bind(base, lambda x: f"({literal} in {x} ? {x}[{literal}] : null)")
        if key.kind == "int":
            if key.value >= 0:
                return f"{base}[{key.value}]"
            return self.binder.bind(base, lambda x: f"{x}[size({x}) - {-key.value}]")
        if key.kind == "unary" and key.value == "-" and key.args[0].kind == "int":
            offset = key.args[0].value
            return self.binder.bind(base, lambda x: f"{x}[size({x}) - {offset}]")
        return f"{base}[{self.emit(key)}]"

    def _emit_optional(self, node: _Ex) -> str:
        member = node.args[0]
        target, key = member.args
        base = self.emit(target)

        def body(x: str) -> str:
            inner = _Ex("member", None, (_Ex("raw", x), key), member.pos)
            return f"({x} == null ? null : {self.emit(inner)})"

        return self.binder.bind(base, body)

    def _emit_raw(self, node: _Ex) -> str:
        return str(node.value)

    def _emit_unary(self, node: _Ex) -> str:
        operand = self.emit(node.args[0])
        if node.value in ("not", "!"):
            return f"!({operand})"
        if node.value == "-":
            return f"-({operand})"
        return operand

    def _emit_cond(self, node: _Ex) -> str:
        cond, then, otherwise = node.args
        if then is cond:  # a ?: b
            return self.binder.bind(
                self.emit(cond), lambda v: f"({v} ? {v} : {self.emit(otherwise)})"
            )
        return f"({self.emit(cond)} ? {self.emit(then)} : {self.emit(otherwise)})"

    def _numeric_kind(self, node: _Ex) -> str:
        """``int``/``float`` when the type is known statically, else ``?`` (data is float)."""
        if node.kind in ("int", "float"):
            return node.kind
        if node.kind == "call" and node.value in ("len", "int", "asInt", "count"):
            return "int"
        if node.kind == "predicate" and node.value == "count":
            return "int"
        if node.kind == "call" and node.value in ("float", "asFloat"):
            return "float"
        if node.kind == "unary" and node.value in ("-", "+"):
            return self._numeric_kind(node.args[0])
        if node.kind == "binary" and node.value in ("+", "-", "*", "%"):
            kinds = {self._numeric_kind(a) for a in node.args}
            return "int" if kinds == {"int"} else "?"
        return "?"

    def _emit_binary(self, node: _Ex) -> str:
        op = node.value
        left_node, right_node = node.args
        if op == "in" and right_node.kind == "binary" and right_node.value == "..":
            return f"({self.emit(left_node)} in {self._range(right_node)})"
        if op == "..":
            return self._range(node)
        if op == "??":
            right = self.emit(right_node)
            return self.binder.bind(
                self.emit(left_node), lambda v: f"({v} != null ? {v} : {right})"
            )
        if op in ("**", "^"):
            return self._power(node)
        left, right = self.emit(left_node), self.emit(right_node)
        if op in ("and", "&&", "or", "||"):
            symbol = "&&" if op in ("and", "&&") else "||"
            if left_node.kind == "binary" and left_node.value in (op, symbol):
                left = _chain_left(_Ex("binary", op), left, op)
            return f"({left} {symbol} {right})"
        if op in ("==", "!=", "<", "<=", ">", ">=", "in"):
            return f"({left} {op} {right})"
        if op == "matches":
            if right_node.kind == "string":
                try:
                    re.compile(right_node.value)
                except re.error as e:
                    self.fail(f"invalid regular expression {right_node.value!r}: {e}", node.pos)
            return f"({left}).matches({right})"
        if op in ("contains", "startsWith", "endsWith"):
            return f"({left}).{op}({right})"
        if op == "/":
            return f"(double({left}) / double({right}))"
        if op in ("+", "-", "*", "%"):
            lk, rk = self._numeric_kind(left_node), self._numeric_kind(right_node)
            if op != "%" and lk != rk and "int" in (lk, rk):
                if lk == "int":
                    left = self._as_double(left_node, left)
                else:
                    right = self._as_double(right_node, right)
            return f"({_chain_left(left_node, left, op)} {op} {right})"
        self.fail(f"operator {op!r} has no CEL translation", node.pos)

    def _as_double(self, node: _Ex, text: str) -> str:
        if node.kind == "int":
            return _cel_double(float(node.value), lambda m: self.fail(m, node.pos))
        return f"double({text})"

    def _range(self, node: _Ex) -> str:
        low, high = node.args
        if low.kind != "int" or high.kind != "int":
            self.fail("ranges (a..b) are translated only between integer literals", node.pos)
        if high.value - low.value > _RANGE_LIMIT:
            self.fail(f"range {low.value}..{high.value} is longer than {_RANGE_LIMIT}", node.pos)
        return "[" + ", ".join(str(i) for i in range(low.value, high.value + 1)) + "]"

    def _power(self, node: _Ex) -> str:
        base, exponent = node.args
        if exponent.kind != "int" or not 0 <= exponent.value <= 16:
            self.fail(
                "'**' (power) has no CEL equivalent; only a literal whole exponent from 0 to "
                "16 is translated",
                node.pos,
            )
        if exponent.value == 0:
            return "1.0"
        return self.binder.bind(
            f"double({self.emit(base)})", lambda b: "(" + " * ".join([b] * exponent.value) + ")"
        )

    def _emit_predicate(self, node: _Ex) -> str:
        collection, body = node.args
        var = node.extra["var"]
        self.predicate_vars.append(var)
        try:
            cond = self.emit(body)
        finally:
            self.predicate_vars.pop()
        items = self.emit(collection)
        name = node.value
        if name == "all":
            return f"{items}.all({var}, {cond})"
        if name == "any":
            return f"{items}.exists({var}, {cond})"
        if name == "none":
            return f"!{items}.exists({var}, {cond})"
        if name == "one":
            return f"{items}.exists_one({var}, {cond})"
        if name == "filter":
            return f"{items}.filter({var}, {cond})"
        if name == "map":
            return f"{items}.map({var}, {cond})"
        return f"size({items}.filter({var}, {cond}))"

    def _args(self, node: _Ex, low: int, high: int | None = -1) -> list[str]:
        """The emitted arguments; ``high`` -1 means exactly ``low``, None means no limit."""
        count = len(node.args)
        top = low if high == -1 else high
        if count < low or (top is not None and count > top):
            if top == low:
                want = str(low)
            elif top is None:
                want = f"at least {low}"
            else:
                want = f"{low} to {top}"
            self.fail(f"{node.value}() takes {want} argument(s), got {count}", node.pos)
        return [self.emit(a) for a in node.args]

    def _emit_call(self, node: _Ex) -> str:
        name = node.value
        simple: dict[str, Callable[[list[str]], str]] = {
            "len": lambda a: f"size({a[0]})",
            "int": lambda a: f"int({a[0]})",
            "asInt": lambda a: f"int({a[0]})",
            "float": lambda a: f"double({a[0]})",
            "asFloat": lambda a: f"double({a[0]})",
            "string": lambda a: f"string({a[0]})",
            "abs": lambda a: f"math.abs({a[0]})",
            "upper": lambda a: f"({a[0]}).upperAscii()",
            "lower": lambda a: f"({a[0]}).lowerAscii()",
            "trim": lambda a: f"({a[0]}).trim()",
            "hasPrefix": lambda a: f"({a[0]}).startsWith({a[1]})",
            "hasSuffix": lambda a: f"({a[0]}).endsWith({a[1]})",
            "split": lambda a: f"({a[0]}).split({a[1]})",
            "replace": lambda a: f"({a[0]}).replace({a[1]}, {a[2]})",
            "indexOf": lambda a: f"({a[0]}).indexOf({a[1]})",
            "lastIndexOf": lambda a: f"({a[0]}).lastIndexOf({a[1]})",
            "toBase64": lambda a: f"base64.encode(bytes({a[0]}))",
            "fromBase64": lambda a: f"string(base64.decode({a[0]}))",
        }
        arity = {"hasPrefix": 2, "hasSuffix": 2, "split": 2, "replace": 3, "indexOf": 2,
                 "lastIndexOf": 2}  # fmt: skip
        if name in simple:
            return simple[name](self._args(node, arity.get(name, 1), -1))
        if name == "trimPrefix":
            s, p = self._args(node, 2, -1)
            return self.binder.bind(
                s, lambda x: f"({x}.startsWith({p}) ? {x}.substring(size({p})) : {x})"
            )
        if name == "trimSuffix":
            s, p = self._args(node, 2, -1)
            return self.binder.bind(
                s,
                lambda x: f"({x}.endsWith({p}) ? {x}.substring(0, size({x}) - size({p})) : {x})",
            )
        if name == "join":
            a = self._args(node, 1, 2)
            separator = a[1] if len(a) > 1 else '""'
            return f"({a[0]}).join({separator})"
        if name in ("max", "min"):
            a = self._args(node, 1, None)
            return f"math.{'greatest' if name == 'max' else 'least'}({', '.join(a)})"
        if name in ("first", "last"):
            (items,) = self._args(node, 1, -1)
            index = "0" if name == "first" else None
            return self.binder.bind(
                items,
                lambda x: f"(size({x}) > 0 ? {x}[{index or f'size({x}) - 1'}] : null)",
            )
        if name == "keys":
            (mapping,) = self._args(node, 1, -1)
            return f"({mapping}).map(_k, _k)"
        if name == "values":
            (mapping,) = self._args(node, 1, -1)
            return self.binder.bind(mapping, lambda x: f"{x}.map(_k, {x}[_k])")
        if name == "jsonpath":
            return self._jsonpath(node)
        if name == "toJson":
            self.fail(
                "toJson() alone has no CEL equivalent (CEL cannot write JSON); "
                "jsonpath(toJson(x), '$.a.b') is translated",
                node.pos,
            )
        self.fail(f"function {name}() has no CEL translation", node.pos)

    def _jsonpath(self, node: _Ex) -> str:
        if len(node.args) != 2:
            self.fail("jsonpath() takes 2 arguments", node.pos)
        source, path = node.args
        if not (source.kind == "call" and source.value == "toJson" and len(source.args) == 1):
            self.fail(
                "jsonpath() is translated only as jsonpath(toJson(x), '$.path'): CEL cannot "
                "parse JSON text",
                node.pos,
            )
        if path.kind != "string":
            self.fail("jsonpath() needs a literal path", path.pos)
        steps = _jsonpath_steps(path.value)
        if steps is None:
            self.fail(
                f"jsonpath {path.value!r} is not a definite path ($.a.b[0]['c']); "
                "wildcards, filters and recursive descent have no CEL translation",
                path.pos,
            )
        out = self.emit(source.args[0])
        for step in steps:
            if isinstance(step, int):
                out = self._index_from_end(out, step) if step < 0 else f"{out}[{step}]"
            elif _IDENT.match(step) and step not in _CEL_RESERVED:
                out = f"{out}.{step}"
            else:
                out = f"{out}[{_cel_string(step)}]"
        return out

    def _index_from_end(self, base: str, index: int) -> str:
        return self.binder.bind(base, lambda x: f"{x}[size({x}) - {-index}]")

    def _emit_sprig(self, node: _Ex) -> str:
        name = node.value
        spec = SPRIG_FUNCTIONS.get(name)
        if spec is None:
            self.fail(f"sprig.{name}() has no CEL translation", node.pos)
        count, template = spec
        if len(node.args) != count:
            self.fail(f"sprig.{name}() takes {count} argument(s), got {len(node.args)}", node.pos)
        args = [self.emit(a) for a in node.args]
        if "{x}" in template:
            return self.binder.bind(args[-1], lambda x: template.format(*args, x=x))
        return template.format(*args)


# sprig function -> (argument count, CEL template with {0}, {1}, ...; {x} binds the last)
SPRIG_FUNCTIONS: Final[dict[str, tuple[int, str]]] = {
    "upper": (1, "({0}).upperAscii()"),
    "lower": (1, "({0}).lowerAscii()"),
    "trim": (1, "({0}).trim()"),
    "contains": (2, "({1}).contains({0})"),
    "hasPrefix": (2, "({1}).startsWith({0})"),
    "hasSuffix": (2, "({1}).endsWith({0})"),
    "replace": (3, "({2}).replace({0}, {1})"),
    "trimPrefix": (2, "({x}.startsWith({0}) ? {x}.substring(size({0})) : {x})"),
    "trimSuffix": (2, "({x}.endsWith({0}) ? {x}.substring(0, size({x}) - size({0})) : {x})"),
    "splitList": (2, "({1}).split({0})"),
    "join": (2, "({1}).join({0})"),
    "toString": (1, "string({0})"),
    "int": (1, "int({0})"),
    "int64": (1, "int({0})"),
    "float64": (1, "double({0})"),
    "atoi": (1, "int({0})"),
    "b64enc": (1, "base64.encode(bytes({0}))"),
    "b64dec": (1, "string(base64.decode({0}))"),
    "regexMatch": (2, "({1}).matches({0})"),
    "has": (2, "({0} in {1})"),
    "hasKey": (2, "({1} in {0})"),
    "list": (2, "[{0}, {1}]"),
    "add": (2, "(int({0}) + int({1}))"),
    "sub": (2, "(int({0}) - int({1}))"),
    "mul": (2, "(int({0}) * int({1}))"),
    "div": (2, "(int({0}) / int({1}))"),
    "mod": (2, "(int({0}) % int({1}))"),
    "max": (2, "math.greatest(int({0}), int({1}))"),
    "min": (2, "math.least(int({0}), int({1}))"),
    "ternary": (3, "({2} ? {0} : {1})"),
}
"""The sprig helpers an expr-lang filter may call as ``sprig.<name>(...)``."""


_JSONPATH_STEP: Final = re.compile(
    r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*(-?\d+)\s*\]|\[\s*'((?:[^'\\]|\\.)*)'\s*\]"
    r"|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\]"
)


def _jsonpath_steps(path: str) -> list[str | int] | None:
    """The keys and indexes of a definite JSONPath (``$.a.b[0]['c']``), else None."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        match = _JSONPATH_STEP.match(path, pos)
        if match is None:
            return None
        name, index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else (single if single is not None else double))
        pos = match.end()
    return steps


def exprlang_to_cel(expr: str) -> str:
    """Translate an Argo EventSource ``filter.expression`` (expr-lang) into CEL.

    Evaluate the result against :func:`exprlang_activation` of the event data.
    Raises :class:`TranslationError` for what cannot be translated.
    """
    translator = _ExprLangTranslator(expr)
    return _checked("expr", expr, lambda: translator.emit(translator.parse()))


def exprlang_activation(data: Any, references: Iterable[str] | None = None) -> dict[str, Any]:
    """The variables Argo gives an EventSource filter, for the translated CEL.

    As Argo's ``filterEvent`` + ``expr.GetFuncMap``: the data's top-level keys
    with ``-`` replaced by ``_``, keys with dots expanded into nested maps (a
    less specific key that conflicts with a dotted one is dropped), numbers as
    floats; names are escaped with :func:`cel_identifier` as the translation
    escapes them. With ``references`` (the compiled program's
    :attr:`~sensors.cel.Program.references`) only those variables are built,
    and each one the data lacks is ``None``, because expr-lang reads an
    unknown name as nil.
    """
    flat: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            flat[str(key).replace("-", "_")] = value
    keys = sorted(flat)
    for i, key in enumerate(keys[:-1]):
        if keys[i + 1].startswith(key + "."):
            del flat[key]
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        target = nested
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[parts[-1]] = value
    wanted = None if references is None else frozenset(references)
    activation = {
        cel_identifier(k): to_go_numbers(v)
        for k, v in nested.items()
        if wanted is None or cel_identifier(k) in wanted
    }
    for name in wanted or ():
        activation.setdefault(name, None)
    return activation


class ExprLangProgram:
    """An expr-lang filter translated and compiled once; :meth:`matches` per event."""

    __slots__ = ("cel", "expression", "program")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.cel = exprlang_to_cel(expression)
        self.program = cel.compile(self.cel)

    def matches(self, data: Any) -> bool:
        """Whether ``data`` passes; raise :class:`sensors.cel.CelError` on an evaluation error.

        A non-boolean result is an error, as in Argo's ``EvalBool``.
        """
        result = self.program.evaluate(exprlang_activation(data, self.program.references))
        if not isinstance(result, bool):
            raise cel.CelEvalError(
                f"the expression gave {type(result).__name__}, not a bool", expression=self.cel
            )
        return result


def compile_exprlang(expression: str) -> ExprLangProgram:
    """Translate and compile an expr-lang filter; raise :class:`TranslationError`."""
    return ExprLangProgram(expression)


class SourceFilter:
    """An EventSource's ``filter.expression``: Argo's expr-lang, or CEL.

    The expression is read as expr-lang first (what Argo manifests carry), and
    as CEL when it is not expr-lang (CEL is Herald's language everywhere else).
    The two agree on the common forms (``body.id == 4 && body.name != 'Joe'``);
    they differ on a missing key, which is nil in expr-lang and an error (the
    event is dropped) in CEL.
    """

    __slots__ = ("_cel", "_exprlang", "expression", "language")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._exprlang: ExprLangProgram | None = None
        self._cel: cel.Program | None = None
        try:
            self._exprlang = compile_exprlang(expression)
            self.language = "expr-lang"
        except TranslationError as not_exprlang:
            try:
                self._cel = cel.compile(expression)
            except cel.CelError as not_cel:
                raise TranslationError(
                    f"neither Argo's expr-lang ({not_exprlang.reason}) nor CEL ({not_cel})",
                    expression=expression,
                ) from None
            self.language = "CEL"

    def matches(self, data: Any) -> bool:
        """Whether ``data`` passes; raise :class:`sensors.cel.CelError` when it cannot say."""
        if self._exprlang is not None:
            return self._exprlang.matches(data)
        assert self._cel is not None
        activation = dict(data) if isinstance(data, Mapping) else {}
        activation["data"] = data
        result = self._cel.evaluate(activation)
        if not isinstance(result, bool):
            raise cel.CelEvalError(
                f"the expression gave {type(result).__name__}, not a bool",
                expression=self.expression,
            )
        return result
