"""Go ``text/template`` with a sprig subset: the templates Argo Events users write.

Argo renders trigger parameters (``dataTemplate``, ``contextTemplate``) and data
filter ``template`` values with Go's ``text/template`` plus the sprig function
library, with the event under ``.Input``. This module runs those templates over
Herald's JSON-shaped values (dict, list, str, int, float, bool, None) so that a
manifest written for Argo renders the same text here::

    tpl = gotemplate.compile('{{ .Input.body.action | upper | quote }}')
    tpl.render({"Input": {"body": {"action": "opened"}}})   # '"OPENED"'

What is supported (Go's semantics unless noted):

- text and actions, ``{{-``/``-}}`` trim markers, ``{{/* comments */}}``;
- fields on maps (``.Input.body.x``, ``$v.a``, ``(index .a 0).b``); a missing
  key prints ``<no value>`` and a field of a missing value is missing too,
  while a field of JSON ``null`` is an error, as in Go;
- pipelines (``x | f a`` passes ``x`` as the last argument), parenthesised
  pipelines, variables (``$x := ...``, ``$x = ...``, ``$``);
- ``if``/``else if``/``else``, ``range`` (lists, maps in key order, integers;
  ``$i, $v :=``; ``else``; ``break``/``continue``), ``with``/``else with``,
  ``define``/``template``/``block``;
- Go's functions ``and or not len index slice print printf println eq ne lt
  le gt ge html urlquery``, and sprig's string, list, dict, number, encoding,
  hashing and date functions listed in :data:`FUNCTION_NAMES`.

Where Herald differs from Go, on purpose:

- JSON numbers keep their kind: an integer renders as ``1234567`` where Argo
  (which parses every number as float64) renders ``1.234567e+06``; floats
  render as Go renders float64 (``0.5``, ``1e+21``).
- Comparisons (``eq``, ``lt``, ...) accept an int and a float together and
  compare their values; Go refuses the pair ("incompatible types").
- Dates format in UTC where sprig uses the process's local zone (UTC in
  Argo's containers).

Limits that make hostile templates and data safe: parsing and ``template``
calls are bounded in depth, execution in steps and output size; values are
only ever dict/list/scalars, so no attribute of a Python object is reachable.

Errors: :class:`TemplateError` (a ``ValueError``) for both parse errors (with
line and column) and execution errors (with the action being executed).
Compiled templates are immutable and cached by text: compile once, render many.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import inspect
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "FUNCTION_NAMES",
    "MISSING",
    "Template",
    "TemplateError",
    "compile",
    "go_format_float",
    "go_json",
    "go_sprint",
]

MAX_PARSE_DEPTH: Final = 100
MAX_TEMPLATE_CALL_DEPTH: Final = 64
MAX_STEPS: Final = 1_000_000
MAX_OUTPUT: Final = 4 * 1024 * 1024


class TemplateError(ValueError):
    """A template that does not parse, or that failed while rendering."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
NO_VALUE: Final = "<no value>"


# ------------------------------------------------------------------ Go formatting


def go_format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """A float64 as Go's ``strconv.FormatFloat(v, verb, prec, 64)`` writes it.

    ``verb`` is ``g`` (what ``fmt``'s ``%v`` uses: the shortest digits, in
    exponent form when the exponent is below -4 or at least 6, so 1234567.0
    is ``1.234567e+06``), ``e`` or ``f``; ``prec`` -1 means the shortest
    representation that reads back exactly.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if prec >= 0:
        if verb == "f":
            return f"{value:.{prec}f}"
        if verb == "e":
            return _go_exponent(f"{value:.{prec}e}")
        return _go_exponent(f"{value:.{prec or 1}g}")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + ("0e+00" if verb == "e" else "0")
    shortest = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in shortest.digits)
    point = len(digits) + int(shortest.exponent)  # where the decimal point falls in digits
    exp = point - 1
    if verb == "e" or (verb == "g" and (exp < -4 or exp >= 6)):
        return sign + _exp_form(digits, exp)
    return sign + _plain(digits, point)


def _plain(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _exp_form(digits: str, exp: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _go_exponent(text: str) -> str:
    """Python's ``1e+05`` exponent already matches Go's; keep at least two digits."""
    match = re.search(r"e([+-])(\d+)$", text)
    if not match:
        return text
    return text[: match.start()] + f"e{match[1]}{int(match[2]):02d}"


def _go_time(value: datetime) -> str:
    """``time.Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    base = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        base += f".{value.microsecond:06d}".rstrip("0")
    offset = value.strftime("%z") or "+0000"
    zone = value.tzname() or "UTC"
    if zone.startswith(("UTC+", "UTC-")):
        zone = offset
    return f"{base} {offset} {zone}"


def go_sprint(value: Any, top: bool = True) -> str:
    """A value as Go's ``fmt.Sprint`` (``%v``) writes it.

    ``top`` distinguishes the template's own printing (a nil or missing value
    prints ``<no value>``) from a value inside a container (``<nil>``).
    """
    if value is MISSING or value is None:
        return NO_VALUE if top else "<nil>"
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, datetime):
        return _go_time(value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        inner = " ".join(f"{go_sprint(k, False)}:{go_sprint(v, False)}" for k, v in items)
        return f"map[{inner}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v, False) for v in value) + "]"
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    return str(value)


def _sort_key(key: Any) -> tuple[int, Any]:
    if isinstance(key, int | float) and not isinstance(key, bool):
        return (0, key)
    return (1, str(key))


_HTML_SAFE_JSON = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}


def _json_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    for char, escaped in _HTML_SAFE_JSON.items():
        out = out.replace(char, escaped)
    return out.replace("\u2029", "\\u2029").replace("\x7f", "\x7f")


def _json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise TemplateError(f"json: unsupported value: {go_format_float(value)}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = go_format_float(value, "e")
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", text)
    return go_format_float(value, "f")


def go_json(value: Any, indent: str | None = None, _level: int = 0) -> str:
    """``encoding/json.Marshal`` (or ``MarshalIndent(v, "", indent)``) of a value.

    Map keys are sorted, ``<``, ``>`` and ``&`` are escaped as Go does, floats
    use Go's shortest form. Raises :class:`TemplateError` for NaN and infinity.
    """
    if value is None or value is MISSING:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, datetime):
        return _json_string(value.isoformat().replace("+00:00", "Z"))
    newline = "" if indent is None else "\n" + indent * (_level + 1)
    close = "" if indent is None else "\n" + indent * _level
    colon = ":" if indent is None else ": "
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        parts = [
            f"{_json_string(str(k))}{colon}{go_json(v, indent, _level + 1)}"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        ]
        return "{" + newline + ("," + newline).join(parts) + close + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        items = [go_json(v, indent, _level + 1) for v in value]
        return "[" + newline + ("," + newline).join(items) + close + "]"
    raise TemplateError(f"json: unsupported type {_go_type(value)}")


def _go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\a":
            out.append("\\a")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == "\v":
            out.append("\\v")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif char.isprintable() or char == " ":
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_type(value: Any) -> str:
    """The Go type name a JSON value has after ``json.Unmarshal`` (for messages)."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    if isinstance(value, datetime):
        return "time.Time"
    return type(value).__name__


# ------------------------------------------------------------------------- lexer

_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
_SPACE = " \t\r\n"
_SPACE_SET = frozenset(_SPACE)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # text, left, right, space, field, var, dot, ident, keyword, string, char,
    # number, bool, nil, pipe, lparen, rparen, declare, assign, comma, eof
    text: str
    pos: int
    value: Any = None


class _Lexer:
    """Splits template text into tokens, as Go's ``text/template/parse`` lexer."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[_Tok] = []

    def error(self, pos: int, message: str) -> NoReturn:
        raise TemplateError(f"{_where(self.text, pos)}: {message}")

    def run(self) -> list[_Tok]:
        text, pos, n = self.text, 0, len(self.text)
        trim_next = False
        while pos < n:
            start = text.find("{{", pos)
            if start < 0:
                self._text(text[pos:], pos, trim_next, False)
                break
            # "{{- " trims the white space before the action (the marker needs a space)
            trim_left = text.startswith("{{-", start) and text[start + 3 : start + 4] in _SPACE_SET
            self._text(text[pos:start], pos, trim_next, trim_left)
            inner = start + 4 if trim_left else start + 2
            if text.startswith("/*", inner):
                pos, trim_next = self._comment(start, inner)
                continue
            self.tokens.append(_Tok("left", "{{", start))
            pos, trim_next = self._action(inner)
        self.tokens.append(_Tok("eof", "", n))
        return self.tokens

    def _comment(self, start: int, inner: int) -> tuple[int, bool]:
        text = self.text
        end = text.find("*/", inner + 2)
        if end < 0:
            self.error(start, "unclosed comment")
        after = end + 2
        if text.startswith("}}", after):
            return after + 2, False
        if text[after : after + 1] in _SPACE_SET and text.startswith("-}}", after + 1):
            return after + 4, True
        self.error(start, "comment ends before closing delimiter")

    def _text(self, chunk: str, pos: int, trim_start: bool, trim_end: bool) -> None:
        if trim_start:
            stripped = chunk.lstrip(_SPACE)
            pos += len(chunk) - len(stripped)
            chunk = stripped
        if trim_end:
            chunk = chunk.rstrip(_SPACE)
        if chunk:
            self.tokens.append(_Tok("text", chunk, pos))

    def _action(self, pos: int) -> tuple[int, bool]:
        """Lex one action from ``pos``; return the position after ``}}`` and its trim flag."""
        text, n = self.text, len(self.text)
        parens = 0
        while True:
            if pos >= n:
                self.error(pos, "unclosed action")
            char = text[pos]
            if char in _SPACE:
                end = pos
                while end < n and text[end] in _SPACE:
                    end += 1
                if text.startswith("-}}", end) and end > pos:
                    if parens:
                        self.error(pos, "unclosed left paren")
                    self.tokens.append(_Tok("right", "}}", end))
                    return end + 3, True
                self.tokens.append(_Tok("space", text[pos:end], pos))
                pos = end
                continue
            if text.startswith("}}", pos):
                if parens:
                    self.error(pos, "unclosed left paren")
                self.tokens.append(_Tok("right", "}}", pos))
                return pos + 2, False
            if char == "|":
                self.tokens.append(_Tok("pipe", "|", pos))
                pos += 1
            elif char == "(":
                parens += 1
                self.tokens.append(_Tok("lparen", "(", pos))
                pos += 1
            elif char == ")":
                parens -= 1
                if parens < 0:
                    self.error(pos, "unexpected right paren")
                self.tokens.append(_Tok("rparen", ")", pos))
                pos += 1
            elif char == ",":
                self.tokens.append(_Tok("comma", ",", pos))
                pos += 1
            elif text.startswith(":=", pos):
                self.tokens.append(_Tok("declare", ":=", pos))
                pos += 2
            elif char == "=":
                self.tokens.append(_Tok("assign", "=", pos))
                pos += 1
            elif char == '"':
                pos = self._quoted(pos)
            elif char == "`":
                end = text.find("`", pos + 1)
                if end < 0:
                    self.error(pos, "unterminated raw quoted string")
                self.tokens.append(_Tok("string", text[pos : end + 1], pos, text[pos + 1 : end]))
                pos = end + 1
            elif char == "'":
                pos = self._char(pos)
            elif char == "$":
                end = self._word_end(pos + 1)
                self.tokens.append(_Tok("var", text[pos:end], pos))
                pos = end
            elif char == ".":
                if pos + 1 < n and text[pos + 1].isdecimal():
                    pos = self._number(pos)
                elif pos + 1 < n and _is_word_char(text[pos + 1]):
                    end = self._word_end(pos + 1)
                    self.tokens.append(_Tok("field", text[pos:end], pos, text[pos + 1 : end]))
                    pos = end
                else:
                    self.tokens.append(_Tok("dot", ".", pos))
                    pos += 1
            elif char.isdecimal() or (char in "+-" and pos + 1 < n and text[pos + 1].isdecimal()):
                pos = self._number(pos)
            elif _is_word_char(char):
                end = self._word_end(pos)
                word = text[pos:end]
                if word in ("true", "false"):
                    self.tokens.append(_Tok("bool", word, pos, word == "true"))
                elif word == "nil":
                    self.tokens.append(_Tok("nil", word, pos))
                elif word in _KEYWORDS:
                    self.tokens.append(_Tok("keyword", word, pos))
                else:
                    self.tokens.append(_Tok("ident", word, pos))
                pos = end
            else:
                self.error(pos, f"unexpected {char!r} in command")

    def _word_end(self, pos: int) -> int:
        n = len(self.text)
        while pos < n and _is_word_char(self.text[pos]):
            pos += 1
        return pos

    def _quoted(self, pos: int) -> int:
        text, n, end = self.text, len(self.text), pos + 1
        while True:
            if end >= n or text[end] == "\n":
                self.error(pos, "unterminated quoted string")
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == '"':
                break
            end += 1
        raw = text[pos : end + 1]
        self.tokens.append(_Tok("string", raw, pos, _unquote(raw, lambda m: self.error(pos, m))))
        return end + 1

    def _char(self, pos: int) -> int:
        text, n, end = self.text, len(self.text), pos + 1
        while True:
            if end >= n or text[end] == "\n":
                self.error(pos, "unterminated character constant")
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == "'":
                break
            end += 1
        raw = text[pos : end + 1]
        body = _unquote('"' + raw[1:-1].replace('"', '\\"') + '"', lambda m: self.error(pos, m))
        if len(body) != 1:
            self.error(pos, f"malformed character constant: {raw}")
        self.tokens.append(_Tok("char", raw, pos, ord(body)))
        return end + 1

    def _number(self, pos: int) -> int:
        match = _NUMBER.match(self.text, pos)
        if not match or (match.end() < len(self.text) and _is_word_char(self.text[match.end()])):
            end = self._word_end(pos + 1)
            self.error(pos, f"bad number syntax: {self.text[pos:end]!r}")
        raw = match.group(0)
        self.tokens.append(
            _Tok("number", raw, pos, _parse_number(raw, lambda m: self.error(pos, m)))
        )
        return match.end()


_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?\d+)?"
    r"|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)


def _is_word_char(char: str) -> bool:
    return char == "_" or char.isalnum()


def _parse_number(raw: str, fail: Callable[[str], NoReturn]) -> int | float:
    text = raw.replace("_", "")
    lower = text.lower().lstrip("+-")
    is_hex = lower.startswith("0x")
    try:
        if (not is_hex and any(c in lower for c in ".e")) or (is_hex and "p" in lower):
            return float.fromhex(text) if is_hex else float(text)
        return int(text, 0) if not re.fullmatch(r"[+-]?0\d+", text) else int(text, 8)
    except ValueError:
        fail(f"bad number syntax: {raw!r}")


_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def _unquote(raw: str, fail: Callable[[str], NoReturn]) -> str:
    """Go's ``strconv.Unquote`` for a double-quoted literal."""
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        i += 1
        if i >= len(body):
            fail("invalid syntax in string literal")
        esc = body[i]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 1
        elif esc in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 1 : i + 1 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                fail(f"invalid escape \\{esc} in string literal")
            code = int(digits, 16)
            if code > 0x10FFFF:
                fail("escape out of range in string literal")
            out.append(chr(code))
            i += 1 + width
        elif esc in "01234567":
            digits = body[i : i + 3]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                fail("invalid octal escape in string literal")
            out.append(chr(int(digits, 8)))
            i += 3
        else:
            fail(f"unknown escape sequence \\{esc}")
    return "".join(out)


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


# ------------------------------------------------------------------------- nodes


@dataclass(frozen=True, slots=True)
class _Node:
    pos: int


@dataclass(frozen=True, slots=True)
class _Text(_Node):
    text: str


@dataclass(frozen=True, slots=True)
class _Const(_Node):
    value: Any
    text: str


@dataclass(frozen=True, slots=True)
class _Nil(_Node):
    pass


@dataclass(frozen=True, slots=True)
class _DotNode(_Node):
    pass


@dataclass(frozen=True, slots=True)
class _Field(_Node):
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Variable(_Node):
    name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Ident(_Node):
    name: str


@dataclass(frozen=True, slots=True)
class _Chain(_Node):
    node: _Node
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Command(_Node):
    args: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Pipe(_Node):
    decl: tuple[str, ...]
    is_assign: bool
    cmds: tuple[_Command, ...]
    text: str


@dataclass(frozen=True, slots=True)
class _Action(_Node):
    pipe: _Pipe


@dataclass(frozen=True, slots=True)
class _Branch(_Node):
    kind: str  # if, range, with
    pipe: _Pipe
    body: tuple[_Node, ...]
    orelse: tuple[_Node, ...] | None


@dataclass(frozen=True, slots=True)
class _TemplateCall(_Node):
    name: str
    pipe: _Pipe | None


@dataclass(frozen=True, slots=True)
class _LoopControl(_Node):
    kind: str  # break, continue


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ------------------------------------------------------------------------ parser


class _Parser:
    """Tokens to a tree, checking what Go checks at parse time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).run()
        self.index = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.depth = 0
        self.defines: dict[str, tuple[_Node, ...]] = {}

    def error(self, pos: int, message: str) -> NoReturn:
        raise TemplateError(f"{_where(self.text, pos)}: {message}")

    # token helpers; spaces are skipped except where they separate operands
    def _peek_raw(self) -> _Tok:
        return self.tokens[self.index]

    def _next_raw(self) -> _Tok:
        tok = self.tokens[self.index]
        if tok.kind != "eof":
            self.index += 1
        return tok

    def _peek(self) -> _Tok:
        i = self.index
        while self.tokens[i].kind == "space":
            i += 1
        return self.tokens[i]

    def _next(self) -> _Tok:
        while self.tokens[self.index].kind == "space":
            self.index += 1
        return self._next_raw()

    def _expect(self, kind: str, context: str) -> _Tok:
        tok = self._next()
        if tok.kind != kind:
            self.error(tok.pos, f"unexpected {_describe(tok)} in {context}")
        return tok

    def parse(self) -> tuple[tuple[_Node, ...], dict[str, tuple[_Node, ...]]]:
        body, end = self._list(top=True)
        if end is not None:
            self.error(end[1], f"unexpected {{{{{end[0]}}}}}")
        return body, self.defines

    def _list(self, top: bool = False) -> tuple[tuple[_Node, ...], tuple[str, int] | None]:
        """Nodes until ``{{end}}``/``{{else}}`` (returned as the terminator) or EOF."""
        nodes: list[_Node] = []
        while True:
            tok = self._next_raw()
            if tok.kind == "eof":
                return tuple(nodes), None
            if tok.kind == "text":
                nodes.append(_Text(tok.pos, tok.text))
                continue
            # tok is "left"
            head = self._peek()
            if head.kind == "keyword":
                word = head.text
                if word in ("end", "else"):
                    self._next()
                    return tuple(nodes), (word, head.pos)
                self._next()
                node = self._keyword(word, head.pos, top)
                if node is not None:
                    nodes.append(node)
                continue
            pipe = self._pipeline("command", allow_decl=True)
            nodes.append(_Action(tok.pos, pipe))

    def _keyword(self, word: str, pos: int, top: bool) -> _Node | None:
        if word in ("if", "range", "with"):
            return self._branch(word, pos)
        if word in ("break", "continue"):
            if not self.range_depth:
                self.error(pos, f"{{{{{word}}}}} outside {{{{range}}}}")
            self._expect("right", word)
            return _LoopControl(pos, word)
        if word == "template":
            name = self._expect("string", "template clause")
            pipe = None
            if self._peek().kind != "right":
                pipe = self._pipeline("template clause", allow_decl=False)
            else:
                self._next()
            return _TemplateCall(pos, name.value, pipe)
        if word in ("define", "block"):
            if word == "define" and not top:
                self.error(pos, "unexpected <define> in input; define only at top level")
            name = self._expect("string", f"{word} clause")
            pipe = None
            if word == "block":
                pipe = self._pipeline("block clause", allow_decl=False)
            else:
                self._expect("right", "define clause")
            saved_vars, self.vars = self.vars, ["$"]
            self._enter(pos)
            body, end = self._list()
            self.depth -= 1
            self.vars = saved_vars
            if end is None or end[0] != "end":
                self.error(pos, f"unexpected EOF in {word} clause")
            self._expect("right", "end")
            if name.value in self.defines:
                self.error(pos, f"template: multiple definition of template {name.value!r}")
            self.defines[name.value] = body
            return _TemplateCall(pos, name.value, pipe) if word == "block" else None
        self.error(pos, f"unexpected keyword {word!r}")

    def _enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_PARSE_DEPTH:
            self.error(pos, f"template nested deeper than {MAX_PARSE_DEPTH} levels")

    def _branch(self, kind: str, pos: int) -> _Branch:
        self._enter(pos)
        mark = len(self.vars)
        pipe = self._pipeline(kind, allow_decl=True, range_decl=kind == "range")
        if kind == "range":
            self.range_depth += 1
        body, end = self._list()
        if kind == "range":
            self.range_depth -= 1
        orelse: tuple[_Node, ...] | None = None
        if end is None:
            self.error(pos, f"unexpected EOF in {{{{{kind}}}}}")
        if end[0] == "else":
            nxt = self._peek()
            if kind in ("if", "with") and nxt.kind == "keyword" and nxt.text == kind:
                # {{else if ...}} / {{else with ...}}: a nested branch closed by our {{end}}
                self._next()
                orelse = (self._branch(kind, nxt.pos),)
                del self.vars[mark:]
                self.depth -= 1
                return _Branch(pos, kind, pipe, body, orelse)
            self._expect("right", "else")
            orelse, end = self._list()
            if end is None or end[0] != "end":
                self.error(pos, f"expected end; found {end[0] if end else 'EOF'}")
        self._expect("right", "end")
        del self.vars[mark:]
        self.depth -= 1
        return _Branch(pos, kind, pipe, body, orelse)

    def _pipeline(self, context: str, allow_decl: bool, range_decl: bool = False) -> _Pipe:
        start_tok = self._peek()
        start = start_tok.pos
        decl: list[str] = []
        is_assign = False
        if allow_decl and start_tok.kind == "var":
            save = self.index
            self._next()
            names = [start_tok.text]
            nxt = self._peek()
            if nxt.kind == "comma" and range_decl:
                self._next()
                second = self._expect("var", "range declaration")
                names.append(second.text)
                nxt = self._peek()
            if nxt.kind in ("declare", "assign"):
                self._next()
                is_assign = nxt.kind == "assign"
                decl = names
                for name in names:
                    if is_assign:
                        if name not in self.vars:
                            self.error(start, f'undefined variable "{name}"')
                    else:
                        self.vars.append(name)
            elif len(names) > 1:
                self.error(nxt.pos, "too many declarations in range")
            else:
                self.index = save
        cmds: list[_Command] = []
        while True:
            tok = self._peek()
            if tok.kind in ("right", "rparen"):
                if not cmds:
                    self.error(tok.pos, f"missing value for {context}")
                if tok.kind == "right":
                    self._next()
                end = tok.pos
                break
            cmds.append(self._command())
            tok = self._peek()
            if tok.kind == "pipe":
                self._next()
                if self._peek().kind in ("right", "rparen"):
                    self.error(tok.pos, "missing command after |")
        for i, cmd in enumerate(cmds[1:], 1):
            first = cmd.args[0]
            if isinstance(first, _Const | _Nil | _DotNode) and len(cmds) > 1:
                self.error(cmd.pos, f"non executable command in pipeline stage {i + 1}")
        return _Pipe(start, tuple(decl), is_assign, tuple(cmds), self.text[start:end].strip())

    def _command(self) -> _Command:
        """Operands separated by spaces, up to ``|``, ``)`` or ``}}``."""
        args: list[_Node] = []
        start = self._peek().pos
        while True:
            spaced = False
            while self._peek_raw().kind == "space":
                self._next_raw()
                spaced = True
            tok = self._peek_raw()
            if tok.kind in ("right", "rparen", "pipe", "eof"):
                break
            if args and not spaced:
                self.error(tok.pos, f"unexpected {_describe(tok)} in operand")
            args.append(self._operand())
        if not args:
            self.error(start, "empty command")
        return _Command(start, tuple(args))

    def _operand(self) -> _Node:
        node = self._term()
        names: list[str] = []
        while self._peek_raw().kind == "field":
            names.append(self._next_raw().value)
        if not names:
            return node
        if isinstance(node, _Field):
            return _Field(node.pos, node.names + tuple(names))
        if isinstance(node, _Variable):
            return _Variable(node.pos, node.name, node.names + tuple(names))
        if isinstance(node, _Const | _Nil | _DotNode):
            self.error(node.pos, "unexpected . after term")
        return _Chain(node.pos, node, tuple(names))

    def _term(self) -> _Node:
        tok = self._next_raw()
        kind = tok.kind
        if kind == "ident":
            if tok.text not in _FUNCS:
                self.error(tok.pos, f'function "{tok.text}" not defined')
            return _Ident(tok.pos, tok.text)
        if kind == "dot":
            return _DotNode(tok.pos)
        if kind == "nil":
            return _Nil(tok.pos)
        if kind == "var":
            if tok.text not in self.vars:
                self.error(tok.pos, f'undefined variable "{tok.text}"')
            return _Variable(tok.pos, tok.text, ())
        if kind == "field":
            return _Field(tok.pos, (tok.value,))
        if kind in ("bool", "number", "string", "char"):
            return _Const(tok.pos, tok.value, tok.text)
        if kind == "lparen":
            self._enter(tok.pos)
            pipe = self._pipeline("parenthesized pipeline", allow_decl=False)
            self.depth -= 1
            self._expect("rparen", "parenthesized pipeline")
            return pipe
        self.error(tok.pos, f"unexpected {_describe(tok)} in operand")


def _describe(tok: _Tok) -> str:
    if tok.kind == "eof":
        return "EOF"
    if tok.kind == "right":
        return "}}"
    return f"{tok.text!r}"


# ------------------------------------------------------------------------- exec


@dataclass(slots=True)
class _State:
    text: str
    defines: Mapping[str, tuple[_Node, ...]]
    vars: list[tuple[str, Any]]
    out: list[str] = field(default_factory=list)
    size: int = 0
    steps: int = 0
    depth: int = 0
    at: _Node | None = None

    def error(self, message: str) -> NoReturn:
        where = ""
        if self.at is not None:
            where = f"{_where(self.text, self.at.pos)}: "
            if isinstance(self.at, _Pipe | _Command):
                where += f"executing <{_node_text(self.text, self.at)}>: "
        raise TemplateError(f"{where}{message}")

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.error(f"template exceeded {MAX_STEPS} steps; simplify it")

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            self.error(f"template output exceeds {MAX_OUTPUT} characters")
        self.out.append(text)

    def lookup(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        self.error(f'undefined variable: "{name}"')

    def assign(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.error(f'undefined variable: "{name}"')


def _node_text(text: str, node: _Node) -> str:
    if isinstance(node, _Pipe):
        return node.text
    if isinstance(node, _Const):
        return node.text
    end = text.find("}}", node.pos)
    return text[node.pos : end if end >= 0 else None].strip()


def _truth(value: Any) -> bool:
    """Go's ``template.IsTrue``: false, 0, nil, and empty strings, lists and maps are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping | bytes):
        return len(value) > 0
    return True


def _walk(state: _State, dot: Any, nodes: Sequence[_Node]) -> None:
    for node in nodes:
        state.step()
        if isinstance(node, _Text):
            state.write(node.text)
        elif isinstance(node, _Action):
            state.at = node.pipe
            value = _pipeline(state, dot, node.pipe)
            if not node.pipe.decl:
                state.write(go_sprint(value))
        elif isinstance(node, _Branch):
            _branch(state, dot, node)
        elif isinstance(node, _TemplateCall):
            _call_template(state, dot, node)
        elif isinstance(node, _LoopControl):
            raise _Break() if node.kind == "break" else _Continue()


def _branch(state: _State, dot: Any, node: _Branch) -> None:
    mark = len(state.vars)
    state.at = node.pipe
    if node.kind == "range":
        _range(state, dot, node)
    else:
        value = _pipeline(state, dot, node.pipe)
        if _truth(value):
            _walk(state, value if node.kind == "with" else dot, node.body)
        elif node.orelse is not None:
            _walk(state, dot, node.orelse)
    del state.vars[mark:]


def _range(state: _State, dot: Any, node: _Branch) -> None:
    pipe = node.pipe
    value = _pipeline(state, dot, _Pipe(pipe.pos, (), False, pipe.cmds, pipe.text))
    items: Iterator[tuple[Any, Any]]
    if value is MISSING or value is None:
        items = iter(())
    elif isinstance(value, Mapping):
        items = ((k, value[k]) for k in sorted(value, key=_sort_key))
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if len(pipe.decl) > 1:
            state.error(f"can't use {value} to iterate over more than one variable")
        items = ((i, i) for i in range(max(value, 0)))
    else:
        state.error(f"range can't iterate over {go_sprint(value, False)}")
    ran = False
    mark = len(state.vars)
    for key, elem in items:
        ran = True
        state.step()
        if len(pipe.decl) == 1:
            _declare(state, pipe, elem)
        elif len(pipe.decl) == 2:
            _declare_pair(state, pipe, key, elem)
        try:
            _walk(state, elem, node.body)
        except _Continue:
            pass
        except _Break:
            break
        finally:
            del state.vars[mark:]
    if not ran and node.orelse is not None:
        _walk(state, dot, node.orelse)


def _declare(state: _State, pipe: _Pipe, value: Any) -> None:
    if pipe.is_assign:
        state.assign(pipe.decl[0], value)
    else:
        state.vars.append((pipe.decl[0], value))


def _declare_pair(state: _State, pipe: _Pipe, key: Any, value: Any) -> None:
    if pipe.is_assign:
        state.assign(pipe.decl[0], key)
        state.assign(pipe.decl[1], value)
    else:
        state.vars.append((pipe.decl[0], key))
        state.vars.append((pipe.decl[1], value))


def _call_template(state: _State, dot: Any, node: _TemplateCall) -> None:
    body = state.defines.get(node.name)
    if body is None:
        state.at = node
        state.error(f'no such template "{node.name}"')
    new_dot = _pipeline(state, dot, node.pipe) if node.pipe is not None else None
    state.depth += 1
    if state.depth > MAX_TEMPLATE_CALL_DEPTH:
        state.error(f"exceeded maximum template depth ({MAX_TEMPLATE_CALL_DEPTH})")
    saved = state.vars
    state.vars = [("$", new_dot)]
    try:
        _walk(state, new_dot, body)
    finally:
        state.vars = saved
        state.depth -= 1


def _pipeline(state: _State, dot: Any, pipe: _Pipe) -> Any:
    value: Any = _NO_FINAL
    for cmd in pipe.cmds:
        value = _command(state, dot, cmd, value)
    if pipe.decl:
        if pipe.is_assign:
            state.assign(pipe.decl[0], value)
        else:
            state.vars.append((pipe.decl[0], value))
    return value


class _NoFinal:
    """Marks that no previous pipeline stage supplies a final argument."""


_NO_FINAL: Final = _NoFinal()


def _command(state: _State, dot: Any, cmd: _Command, final: Any) -> Any:
    state.step()
    first = cmd.args[0]
    if isinstance(first, _Ident):
        return _call(state, dot, first.name, cmd.args[1:], final, cmd)
    if len(cmd.args) > 1 or final is not _NO_FINAL:
        state.at = cmd
        names = first.names if isinstance(first, _Field | _Variable | _Chain) else ()
        if names:
            state.error(f"{names[-1]} is not a method but has arguments")
        state.error(f"can't give argument to non-function {_node_text(state.text, first)}")
    return _arg(state, dot, first)


def _arg(state: _State, dot: Any, node: _Node) -> Any:
    state.step()
    if isinstance(node, _Const):
        return node.value
    if isinstance(node, _Nil):
        state.error("nil is not a command")
    if isinstance(node, _DotNode):
        return dot
    if isinstance(node, _Field):
        return _fields(state, dot, node.names)
    if isinstance(node, _Variable):
        return _fields(state, state.lookup(node.name), node.names)
    if isinstance(node, _Pipe):
        saved = len(state.vars)
        value = _pipeline(state, dot, node)
        del state.vars[saved:]
        return value
    if isinstance(node, _Chain):
        return _fields(state, _arg(state, dot, node.node), node.names)
    if isinstance(node, _Ident):
        return _call(state, dot, node.name, (), _NO_FINAL, node)
    state.error(f"cannot evaluate {node!r}")


def _fields(state: _State, value: Any, names: Sequence[str]) -> Any:
    for name in names:
        if value is MISSING:
            return MISSING
        if value is None:
            state.error(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(value, Mapping):
            value = value.get(name, MISSING)
            continue
        state.error(f"can't evaluate field {name} in type {_go_type(value)}")
    return value


def _call(
    state: _State, dot: Any, name: str, arg_nodes: Sequence[_Node], final: Any, at: _Node
) -> Any:
    if name in ("and", "or"):
        return _and_or(state, dot, name, arg_nodes, final, at)
    args = [None if isinstance(a, _Nil) else _arg(state, dot, a) for a in arg_nodes]
    if final is not _NO_FINAL:
        args.append(final)
    args = [None if a is MISSING else a for a in args]
    impl = _FUNCS[name]
    state.at = at
    low, high = _ARITY[name]
    if len(args) < low or (high is not None and len(args) > high):
        want = f"{low}" if low == high else f"at least {low}" if high is None else f"{low}-{high}"
        state.error(f"wrong number of args for {name}: want {want} got {len(args)}")
    try:
        return impl(*args)
    except TemplateError as e:
        state.error(str(e))
    except _CallError as e:
        state.error(f"error calling {name}: {e}")
    except (ValueError, ArithmeticError, RecursionError, KeyError, IndexError, TypeError) as e:
        state.error(f"error calling {name}: {e}")


def _and_or(
    state: _State, dot: Any, name: str, arg_nodes: Sequence[_Node], final: Any, at: _Node
) -> Any:
    """Go's short-circuit ``and``/``or``: the first deciding argument, else the last."""
    total = len(arg_nodes) + (final is not _NO_FINAL)
    if total < 1:
        state.at = at
        state.error(f"wrong number of args for {name}: want at least 1 got 0")
    value: Any = None
    for node in arg_nodes:
        value = None if isinstance(node, _Nil) else _arg(state, dot, node)
        if _truth(value) == (name == "or"):
            return value
    if final is not _NO_FINAL:
        value = final
    return value


# ---------------------------------------------------------------------- functions


class _CallError(Exception):
    """A function refused its arguments; the message is Go's, where Go has one."""


def _need_str(value: Any, what: str = "string") -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise TemplateError(f"invalid value; expected {what}")
    raise TemplateError(f"wrong type for value; expected {what}; got {_go_type(value)}")


def _need_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None:
        raise TemplateError("invalid value; expected int")
    raise TemplateError(f"wrong type for value; expected int; got {_go_type(value)}")


def _strval(value: Any) -> str:
    """sprig's ``strval``: strings as they are, everything else as ``%v``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return go_sprint(value, top=False)


def _to_int(value: Any) -> int:
    """sprig's ``toInt64`` (spf13/cast): numbers truncate, strings parse, else 0."""
    if value is None or value is MISSING:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return 0
        return int(value)
    if isinstance(value, str):
        text = re.sub(r"\.0*$", "", value.strip()) if "." in value else value.strip()
        try:
            if re.fullmatch(r"[+-]?0[0-7]+", text):
                return int(text, 8)  # Go's base-0 parsing reads a leading 0 as octal
            return int(text, 0)
        except ValueError:
            return 0
    return 0


def _to_float(value: Any) -> float:
    """sprig's ``toFloat64``."""
    if value is None or value is MISSING:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _empty(value: Any) -> bool:
    """sprig's ``empty``: nil, false, 0, and empty strings, lists and maps."""
    return not _truth(value)


def _number_pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric):
        if isinstance(a, bool) or isinstance(b, bool):
            return None
        return a, b
    return None


def _basic_kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(arg1: Any, *others: Any) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in others:
        k2 = _basic_kind(arg)
        if k1 == "invalid" or k2 == "invalid":
            if k1 == k2:
                return True
            continue
        if k1 != k2:
            raise _CallError("incompatible types for comparison")
        if k1 == "other":
            raise _CallError(f"non-comparable type {_go_type(arg1)}")
        if arg1 == arg:
            return True
    return False


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka in ("invalid", "other", "bool") or kb in ("invalid", "other", "bool"):
        raise _CallError("invalid type for comparison")
    if ka != kb:
        raise _CallError("incompatible types for comparison")
    return a, b


def _lt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)


def _le(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x <= y)


def _gt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x > y)


def _ge(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x >= y)


def _not(value: Any) -> bool:
    return not _truth(value)


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, list | tuple | Mapping | bytes):
        return len(value)
    if value is None:
        raise _CallError("len of nil pointer")
    raise _CallError(f"len of type {_go_type(value)}")


def _index(item: Any, *indexes: Any) -> Any:
    for index in indexes:
        if item is None:
            raise _CallError("index of untyped nil")
        if isinstance(item, Mapping):
            if not isinstance(index, str):
                raise _CallError(f"value has type {_go_type(index)}; should be string")
            item = item.get(index)
        elif isinstance(item, list | tuple | str):
            if isinstance(index, bool) or not isinstance(index, int | float):
                raise _CallError(f"cannot index slice/array with type {_go_type(index)}")
            if isinstance(index, float) and not index.is_integer():
                raise _CallError(f"cannot index slice/array with type {_go_type(index)}")
            i = int(index)
            size = len(item.encode()) if isinstance(item, str) else len(item)
            if not 0 <= i < size:
                raise _CallError(f"index out of range: {i}")
            item = item.encode()[i] if isinstance(item, str) else item[i]
        else:
            raise _CallError(f"can't index item of type {_go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise _CallError(f"can't slice item of type {_go_type(item)}")
    if len(indexes) > 3 or (len(indexes) == 3 and isinstance(item, str)):
        raise _CallError("too many slice indexes")
    bounds = [_need_int(i) for i in indexes]
    size = len(item)
    lo = bounds[0] if bounds else 0
    hi = bounds[1] if len(bounds) > 1 else size
    if not 0 <= lo <= hi <= size:
        raise _CallError(f"index out of range: {lo}:{hi}")
    return item[lo:hi]


def _sprint(*args: Any) -> str:
    """``fmt.Sprint``: spaces between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_sprint(arg, top=False))
    return "".join(out)


def _sprintln(*args: Any) -> str:
    return " ".join(go_sprint(a, top=False) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d*))?([a-zA-Z%])")


def _sprintf(fmt: Any, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use: v s d f e g q t x X o b c %."""
    fmt = _need_str(fmt)
    out: list[str] = []
    pos = 0
    argi = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, prec, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        text = _format_one(verb, flags, int(prec) if prec else (0 if prec == "" else None), arg)
        if width:
            pad = int(width) - len(text)
            if pad > 0:
                if "-" in flags:
                    text = text + " " * pad
                elif "0" in flags and verb in "dfegxXob" and not isinstance(arg, str):
                    sign = text[0] if text[:1] in "+-" else ""
                    text = sign + "0" * pad + text[len(sign) :]
                else:
                    text = " " * pad + text
        out.append(text)
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_sprint(a, False)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, flags: str, prec: int | None, arg: Any) -> str:
    if arg is None and verb != "v":
        return f"%!{verb}(<nil>)"
    bad = f"%!{verb}({_go_type(arg)}={go_sprint(arg, False)})"
    plus = "+" if "+" in flags else (" " if " " in flags else "")
    if verb == "v":
        return go_sprint(arg, top=False)
    if verb == "s":
        if isinstance(arg, str | list | tuple | Mapping | datetime):
            text = go_sprint(arg, top=False)
            return text[:prec] if prec is not None else text
        return bad
    if verb == "q":
        if isinstance(arg, str):
            return _go_quote(arg)
        if isinstance(arg, int) and not isinstance(arg, bool):
            return "'" + chr(arg) + "'"
        return bad
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else bad
    if verb in "dxXobc":
        number = arg
        if isinstance(arg, float) and arg.is_integer() and verb == "d":
            number = int(arg)
        if isinstance(number, bool) or not isinstance(number, int):
            if verb in "xX" and isinstance(arg, str):
                text = arg.encode().hex()
                return text.upper() if verb == "X" else text
            return bad
        if verb == "d":
            return (plus if number >= 0 else "") + str(number)
        if verb == "c":
            return chr(number)
        spec = {"x": "x", "X": "X", "o": "o", "b": "b"}[verb]
        prefix = ""
        if "#" in flags:
            prefix = {"x": "0x", "X": "0X", "o": "0", "b": ""}[verb]
        sign = "-" if number < 0 else plus
        return sign + prefix + format(abs(number), spec)
    if verb in "feEgG":
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            return bad
        value = float(arg)
        if verb == "f":
            text = go_format_float(value, "f", 6 if prec is None else prec)
        elif verb in "eE":
            text = go_format_float(value, "e", 6 if prec is None else prec)
            text = text.upper() if verb == "E" else text
        else:
            text = go_format_float(value, "g", -1 if prec is None else prec)
            text = text.upper() if verb == "G" else text
        if plus and not text.startswith("-"):
            text = plus + text
        return text
    return f"%!{verb}({_go_type(arg)}={go_sprint(arg, False)})"


def _html(*args: Any) -> str:
    text = _sprint(*args)
    return (
        html.escape(text, quote=False)
        .replace('"', "&#34;")
        .replace("'", "&#39;")
        .replace("\x00", "\ufffd")
    )


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_sprint(*args))


# -- sprig: strings


def _title(s: Any) -> str:
    text = _need_str(s)
    out, prev = [], " "
    for char in text:
        out.append(char.upper() if not (prev.isalnum() or prev == "_") else char)
        prev = char
    return "".join(out)


_GO_SPACE = (
    " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _go_trim_space(text: str) -> str:
    """``strings.TrimSpace``: strip what Go's ``unicode.IsSpace`` calls white space."""
    return text.strip(_GO_SPACE)


def _trim(s: Any) -> str:
    return _go_trim_space(_need_str(s))


def _trim_all(cutset: Any, s: Any) -> str:
    return _need_str(s).strip(_need_str(cutset))


def _trim_prefix(prefix: Any, s: Any) -> str:
    text, p = _need_str(s), _need_str(prefix)
    return text[len(p) :] if p and text.startswith(p) else text


def _trim_suffix(suffix: Any, s: Any) -> str:
    text, p = _need_str(s), _need_str(suffix)
    return text[: -len(p)] if p and text.endswith(p) else text


def _replace(old: Any, new: Any, src: Any) -> str:
    text, o, n = _need_str(src), _need_str(old), _need_str(new)
    if o == "":
        # Go's strings.Replace with an empty old inserts new around every rune.
        return n + n.join(text) + n if text else n
    return text.replace(o, n)


def _contains(substr: Any, s: Any) -> bool:
    return _need_str(substr) in _need_str(s)


def _has_prefix(prefix: Any, s: Any) -> bool:
    return _need_str(s).startswith(_need_str(prefix))


def _has_suffix(suffix: Any, s: Any) -> bool:
    return _need_str(s).endswith(_need_str(suffix))


def _quote(*args: Any) -> str:
    return " ".join(_go_quote(_strval(a)) for a in args if a is not None)


def _squote(*args: Any) -> str:
    return " ".join(f"'{_strval(a)}'" for a in args if a is not None)


def _substr(start: Any, end: Any, s: Any) -> str:
    text, lo, hi = _need_str(s), _need_int(start), _need_int(end)
    raw = text.encode()
    if lo < 0:
        return raw[:hi].decode("utf-8", "replace")
    if hi < 0 or hi > len(raw):
        return raw[lo:].decode("utf-8", "replace")
    return raw[lo:hi].decode("utf-8", "replace")


def _trunc(count: Any, s: Any) -> str:
    text, c = _need_str(s), _need_int(count)
    if c < 0 and len(text) + c > 0:
        return text[len(text) + c :]
    if c >= 0 and len(text) > c:
        return text[:c]
    return text


def _repeat(count: Any, s: Any) -> str:
    text, c = _need_str(s), _need_int(count)
    if c < 0:
        raise _CallError("strings: negative Repeat count")
    if c * len(text) > MAX_OUTPUT:
        raise _CallError(f"repeat would produce more than {MAX_OUTPUT} characters")
    return text * c


def _nospace(s: Any) -> str:
    return "".join(c for c in _need_str(s) if not c.isspace())


def _indent(spaces: Any, s: Any) -> str:
    pad = " " * _need_int(spaces)
    return pad + _need_str(s).replace("\n", "\n" + pad)


def _nindent(spaces: Any, s: Any) -> str:
    return "\n" + _indent(spaces, s)


_WORD_BOUNDARY = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+|[0-9]+")


def _words(text: str) -> list[str]:
    return _WORD_BOUNDARY.findall(text)


def _snakecase(s: Any) -> str:
    """xstrings.ToSnakeCase: words split on case changes and separators, joined with ``_``."""
    return "_".join(w.lower() for w in _words(_need_str(s)))


def _kebabcase(s: Any) -> str:
    return "-".join(w.lower() for w in _words(_need_str(s)))


def _camelcase(s: Any) -> str:
    """xstrings.ToCamelCase: ``foo_bar`` -> ``FooBar`` (underscore-separated words)."""
    text = _need_str(s)
    return "".join(part[:1].upper() + part[1:] for part in text.split("_") if part)


def _split(sep: Any, orig: Any) -> dict[str, str]:
    parts = _go_split(_need_str(orig), _need_str(sep))
    return {f"_{i}": p for i, p in enumerate(parts)}


def _split_list(sep: Any, orig: Any) -> list[str]:
    return _go_split(_need_str(orig), _need_str(sep))


def _go_split(text: str, sep: str) -> list[str]:
    if sep == "":
        return list(text)
    return text.split(sep)


def _join(sep: Any, values: Any) -> str:
    separator = _need_str(sep)
    if isinstance(values, str):
        return values
    if isinstance(values, list | tuple):
        return separator.join(_strval(v) for v in values if v is not None)
    return _strval(values)


def _regex(pattern: Any) -> re.Pattern[str]:
    try:
        return re.compile(_need_str(pattern))
    except re.error as e:
        raise _CallError(f"error parsing regexp: {e}") from e


def _regex_match(pattern: Any, s: Any) -> bool:
    return _regex(pattern).search(_need_str(s)) is not None


def _regex_find(pattern: Any, s: Any) -> str:
    match = _regex(pattern).search(_need_str(s))
    return match.group(0) if match else ""


def _regex_find_all(pattern: Any, s: Any, n: Any) -> list[str]:
    found = [m.group(0) for m in _regex(pattern).finditer(_need_str(s))]
    limit = _need_int(n)
    return found if limit < 0 else found[:limit]


def _regex_replace_all(pattern: Any, s: Any, repl: Any) -> str:
    template = re.sub(r"\$\{(\w+)\}|\$(\w+)", r"\\g<\1\2>", _need_str(repl))
    return _regex(pattern).sub(template, _need_str(s))


def _regex_replace_all_literal(pattern: Any, s: Any, repl: Any) -> str:
    replacement = _need_str(repl)
    return _regex(pattern).sub(lambda _m: replacement, _need_str(s))


# -- sprig: defaults and conversions


def _default(default: Any, *given: Any) -> Any:
    if not given or _empty(given[0]):
        return default
    return given[0]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if not _empty(value):
            return value
    return None


def _ternary(true_value: Any, false_value: Any, condition: Any) -> Any:
    if not isinstance(condition, bool):
        raise TemplateError(f"wrong type for value; expected bool; got {_go_type(condition)}")
    return true_value if condition else false_value


def _to_json(value: Any) -> str:
    try:
        return go_json(value)
    except TemplateError:
        return ""


def _to_pretty_json(value: Any) -> str:
    try:
        return go_json(value, indent="  ")
    except TemplateError:
        return ""


def _from_json(text: Any) -> Any:
    try:
        return json.loads(_need_str(text))
    except json.JSONDecodeError:
        return None


def _b64enc(s: Any) -> str:
    return base64.b64encode(_need_str(s).encode()).decode()


def _b64dec(s: Any) -> str:
    try:
        return base64.b64decode(_need_str(s), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError) as e:
        return f"illegal base64 data: {e}"


def _sha256sum(s: Any) -> str:
    return hashlib.sha256(_need_str(s).encode()).hexdigest()


def _sha1sum(s: Any) -> str:
    return hashlib.sha1(_need_str(s).encode(), usedforsecurity=False).hexdigest()


def _atoi(s: Any) -> int:
    try:
        return int(_need_str(s))
    except ValueError:
        return 0


# -- sprig: numbers


def _add(*values: Any) -> int:
    return sum(_to_int(v) for v in values)


def _add1(value: Any) -> int:
    return _to_int(value) + 1


def _sub(a: Any, b: Any) -> int:
    return _to_int(a) - _to_int(b)


def _mul(a: Any, *values: Any) -> int:
    result = _to_int(a)
    for v in values:
        result *= _to_int(v)
    return result


def _div(a: Any, b: Any) -> int:
    divisor = _to_int(b)
    if divisor == 0:
        raise _CallError("runtime error: integer divide by zero")
    quotient = abs(_to_int(a)) // abs(divisor)
    return quotient if (_to_int(a) >= 0) == (divisor > 0) else -quotient


def _mod(a: Any, b: Any) -> int:
    divisor = _to_int(b)
    if divisor == 0:
        raise _CallError("runtime error: integer divide by zero")
    return int(math.fmod(_to_int(a), divisor))


def _max(a: Any, *values: Any) -> int:
    return max([_to_int(a), *(_to_int(v) for v in values)])


def _min(a: Any, *values: Any) -> int:
    return min([_to_int(a), *(_to_int(v) for v in values)])


def _addf(*values: Any) -> float:
    return math.fsum(_to_float(v) for v in values)


def _subf(a: Any, *values: Any) -> float:
    result = _to_float(a)
    for v in values:
        result -= _to_float(v)
    return result


def _mulf(a: Any, *values: Any) -> float:
    result = _to_float(a)
    for v in values:
        result *= _to_float(v)
    return result


def _divf(a: Any, *values: Any) -> float:
    result = _to_float(a)
    for v in values:
        divisor = _to_float(v)
        if divisor == 0:
            raise _CallError("division by zero")
        result /= divisor
    return result


def _floor(value: Any) -> float:
    return float(math.floor(_to_float(value)))


def _ceil(value: Any) -> float:
    return float(math.ceil(_to_float(value)))


def _round(value: Any, places: Any, *rest: Any) -> float:
    number, p = _to_float(value), _to_int(places)
    point = _to_float(rest[0]) if rest else 0.5
    scale = 10.0**p
    scaled = number * scale
    floor = float(math.floor(scaled))
    return (floor + (1.0 if scaled - floor >= point else 0.0)) / scale


def _until(count: Any) -> list[int]:
    n = _need_int(count)
    if abs(n) > 100_000:
        raise _CallError("until: count too large")
    return list(range(n)) if n >= 0 else list(range(0, n, -1))


# -- sprig: lists and dicts


def _list(*values: Any) -> list[Any]:
    return list(values)


def _need_list(value: Any, fn: str) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return value
    raise _CallError(f"Cannot find {fn} on type {_go_type(value)}")


def _first(values: Any) -> Any:
    items = _need_list(values, "first")
    return items[0] if items else None


def _last(values: Any) -> Any:
    items = _need_list(values, "last")
    return items[-1] if items else None


def _rest(values: Any) -> list[Any]:
    return list(_need_list(values, "rest")[1:])


def _initial(values: Any) -> list[Any]:
    return list(_need_list(values, "initial")[:-1])


def _reverse(values: Any) -> list[Any]:
    return list(reversed(_need_list(values, "reverse")))


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return any(needle == item for item in _need_list(haystack, "has"))


def _uniq(values: Any) -> list[Any]:
    out: list[Any] = []
    for item in _need_list(values, "uniq"):
        if item not in out:
            out.append(item)
    return out


def _without(values: Any, *omit: Any) -> list[Any]:
    return [v for v in _need_list(values, "without") if v not in omit]


def _append(values: Any, item: Any) -> list[Any]:
    return [*_need_list(values, "append"), item]


def _prepend(values: Any, item: Any) -> list[Any]:
    return [item, *_need_list(values, "prepend")]


def _compact(values: Any) -> list[Any]:
    return [v for v in _need_list(values, "compact") if not _empty(v)]


def _sort_alpha(values: Any) -> list[str]:
    if isinstance(values, list | tuple):
        return sorted(_strval(v) for v in values)
    return [_strval(values)]


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[_strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _need_dict(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TemplateError(
        f"wrong type for value; expected map[string]interface {{}}; got {_go_type(value)}"
    )


def _get(mapping: Any, key: Any) -> Any:
    found = _need_dict(mapping)
    k = _need_str(key)
    return found.get(k, "")


def _has_key(mapping: Any, key: Any) -> bool:
    return _need_str(key) in _need_dict(mapping)


def _keys(*mappings: Any) -> list[str]:
    out: list[str] = []
    for m in mappings:
        out.extend(_need_dict(m))
    return sorted(out)


def _values(mapping: Any) -> list[Any]:
    found = _need_dict(mapping)
    return [found[k] for k in sorted(found)]


def _pick(mapping: Any, *keys: Any) -> dict[str, Any]:
    found = _need_dict(mapping)
    return {k: found[k] for k in (_need_str(k) for k in keys) if k in found}


def _omit(mapping: Any, *keys: Any) -> dict[str, Any]:
    found = _need_dict(mapping)
    drop = {_need_str(k) for k in keys}
    return {k: v for k, v in found.items() if k not in drop}


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise _CallError("dig needs at least three arguments")
    *keys, default, mapping = args
    current: Any = _need_dict(mapping)
    for key in keys:
        if not isinstance(current, Mapping) or _need_str(key) not in current:
            return default
        current = current[key]
    return current


# -- sprig: dates


_LAYOUT_TOKENS = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00:00|Z07:00|Z0700|Z07|-07:00:00|-0700|-07:00|-07"
    r"|[.,](?:0+|9+)|__2|002|_2|01|02|03|04|05|06|15|PM|pm|1|2|3|4|5"
)


def _format_go_date(layout: str, when: datetime) -> str:
    """``time.Time.Format`` with a Go reference layout (``2006-01-02T15:04:05Z07:00``)."""
    out: list[str] = []
    pos = 0
    for match in _LAYOUT_TOKENS.finditer(layout):
        out.append(layout[pos : match.start()])
        pos = match.end()
        out.append(_format_token(match.group(0), when))
    out.append(layout[pos:])
    return "".join(out)


def _offset_parts(when: datetime) -> tuple[str, int, int, int]:
    offset = when.utcoffset() or timedelta(0)
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return sign, total // 3600, (total // 60) % 60, total % 60


def _format_token(token: str, when: datetime) -> str:
    simple: dict[str, Callable[[], str]] = {
        "January": lambda: when.strftime("%B"),
        "Jan": lambda: when.strftime("%b"),
        "Monday": lambda: when.strftime("%A"),
        "Mon": lambda: when.strftime("%a"),
        "2006": lambda: f"{when.year:04d}",
        "06": lambda: f"{when.year % 100:02d}",
        "01": lambda: f"{when.month:02d}",
        "1": lambda: str(when.month),
        "02": lambda: f"{when.day:02d}",
        "2": lambda: str(when.day),
        "_2": lambda: f"{when.day:2d}",
        "002": lambda: f"{when.timetuple().tm_yday:03d}",
        "__2": lambda: f"{when.timetuple().tm_yday:3d}",
        "15": lambda: f"{when.hour:02d}",
        "03": lambda: f"{(when.hour % 12) or 12:02d}",
        "3": lambda: str((when.hour % 12) or 12),
        "04": lambda: f"{when.minute:02d}",
        "4": lambda: str(when.minute),
        "05": lambda: f"{when.second:02d}",
        "5": lambda: str(when.second),
        "PM": lambda: "PM" if when.hour >= 12 else "AM",
        "pm": lambda: "pm" if when.hour >= 12 else "am",
        "MST": lambda: _zone_abbrev(when),
    }
    if token in simple:
        return simple[token]()
    if token[0] in ".," and len(token) > 1:
        digits = len(token) - 1
        frac = f"{when.microsecond:06d}000"[:digits]
        if token[1] == "9":
            frac = frac.rstrip("0")
            return token[0] + frac if frac else ""
        return token[0] + frac
    sign, hours, minutes, seconds = _offset_parts(when)
    if token.startswith("Z") and hours == minutes == seconds == 0:
        return "Z"
    body = token.lstrip("Z-")
    if body == "07":
        return f"{sign}{hours:02d}"
    if body == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if body == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"


def _zone_abbrev(when: datetime) -> str:
    name = when.tzname() or "UTC"
    if name.startswith(("UTC+", "UTC-")) or name[:1] in "+-":
        sign, hours, minutes, _ = _offset_parts(when)
        return f"{sign}{hours:02d}{minutes:02d}" if minutes else f"{sign}{hours:02d}"
    return name


def _now() -> datetime:
    return datetime.now(UTC)


def _as_time(value: Any) -> datetime:
    """sprig's date argument: a time, unix seconds as an int, else now (as sprig)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return _now()


def _zone(name: Any) -> timezone | ZoneInfo:
    zone = _need_str(name)
    if zone in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _date(layout: Any, when: Any) -> str:
    return _format_go_date(_need_str(layout), _as_time(when).astimezone(UTC))


def _date_in_zone(layout: Any, when: Any, zone: Any) -> str:
    return _format_go_date(_need_str(layout), _as_time(when).astimezone(_zone(zone)))


def _html_date(when: Any) -> str:
    return _date("2006-01-02", when)


def _unix_epoch(when: Any) -> str:
    return str(int(_as_time(when).timestamp()))


_PARSE_TOKENS: dict[str, tuple[str, str]] = {
    "2006": (r"(?P<year>\d{4})", "year"),
    "01": (r"(?P<month>\d{2})", "month"),
    "1": (r"(?P<month>\d{1,2})", "month"),
    "Jan": (r"(?P<mon>[A-Za-z]{3})", "mon"),
    "January": (r"(?P<monthname>[A-Za-z]+)", "monthname"),
    "02": (r"(?P<day>\d{2})", "day"),
    "2": (r"(?P<day>\d{1,2})", "day"),
    "_2": (r"\s?(?P<day>\d{1,2})", "day"),
    "15": (r"(?P<hour>\d{2})", "hour"),
    "03": (r"(?P<hour12>\d{2})", "hour12"),
    "3": (r"(?P<hour12>\d{1,2})", "hour12"),
    "04": (r"(?P<minute>\d{2})", "minute"),
    "4": (r"(?P<minute>\d{1,2})", "minute"),
    "05": (r"(?P<second>\d{2})", "second"),
    "5": (r"(?P<second>\d{1,2})", "second"),
    "PM": (r"(?P<ampm>AM|PM)", "ampm"),
    "pm": (r"(?P<ampm>am|pm)", "ampm"),
    "Mon": (r"[A-Za-z]{3}", ""),
    "Monday": (r"[A-Za-z]+", ""),
    "MST": (r"(?P<zone>[A-Za-z]{3,5})", "zone"),
    "06": (r"(?P<year2>\d{2})", "year2"),
}


def _to_date(layout: Any, value: Any) -> datetime:
    """sprig's ``toDate``: parse with a Go layout; an unparsable value gives the zero time."""
    text, fmt = _need_str(value), _need_str(layout)
    pattern: list[str] = []
    pos = 0
    for match in _LAYOUT_TOKENS.finditer(fmt):
        pattern.append(re.escape(fmt[pos : match.start()]))
        pos = match.end()
        token = match.group(0)
        if token in _PARSE_TOKENS:
            pattern.append(_PARSE_TOKENS[token][0])
        elif token[0] in ".,":
            pattern.append(r"(?:[.,](?P<frac>\d+))?")
        elif token.startswith(("Z", "-")):
            pattern.append(r"(?P<offset>Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)")
        else:
            pattern.append(re.escape(token))
    pattern.append(re.escape(fmt[pos:]))
    zero = datetime(1, 1, 1, tzinfo=UTC)
    try:
        parsed = re.fullmatch("".join(pattern), text)
    except re.error:  # a layout naming the same element twice
        return zero
    if parsed is None:
        return zero
    parts = parsed.groupdict()
    try:
        month = int(parts["month"]) if parts.get("month") else 1
        if parts.get("mon") or parts.get("monthname"):
            name = (parts.get("mon") or parts.get("monthname") or "")[:3].title()
            month = datetime.strptime(name, "%b").month
        year = int(parts["year"]) if parts.get("year") else 0
        if parts.get("year2"):
            short = int(parts["year2"])
            year = 1900 + short if short >= 69 else 2000 + short
        hour = int(parts["hour"]) if parts.get("hour") else 0
        if parts.get("hour12"):
            hour = int(parts["hour12"]) % 12
            if (parts.get("ampm") or "").lower() == "pm":
                hour += 12
        frac = (parts.get("frac") or "0")[:6].ljust(6, "0")
        zone: timezone = UTC
        offset = parts.get("offset")
        if offset and offset != "Z":
            digits = offset[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
            zone = timezone(delta if offset[0] == "+" else -delta)
        return datetime(
            year or 1,
            month,
            int(parts["day"]) if parts.get("day") else 1,
            hour,
            int(parts["minute"]) if parts.get("minute") else 0,
            int(parts["second"]) if parts.get("second") else 0,
            int(frac),
            tzinfo=zone,
        )
    except ValueError:
        return zero


def _to_string(value: Any) -> str:
    return _strval(value)


def _to_strings(values: Any) -> list[str]:
    if isinstance(values, list | tuple):
        return [_strval(v) for v in values]
    return [_strval(values)]


def _lower(s: Any) -> str:
    return _need_str(s).lower()


def _upper(s: Any) -> str:
    return _need_str(s).upper()


def _abbrev(width: Any, s: Any) -> str:
    text, w = _need_str(s), _need_int(width)
    if w < 4 or len(text) <= w:
        return text
    return text[: w - 3] + "..."


def _cat(*values: Any) -> str:
    return " ".join(_strval(v) for v in values if v is not None)


_FUNCS: dict[str, Callable[..., Any]] = {
    # Go's builtins
    "and": lambda *a: a[-1],  # replaced by the short-circuit evaluator
    "or": lambda *a: a[-1],
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "printf": _sprintf,
    "println": _sprintln,
    "eq": _eq,
    "ne": _ne,
    "lt": _lt,
    "le": _le,
    "gt": _gt,
    "ge": _ge,
    "html": _html,
    "urlquery": _urlquery,
    # sprig: strings
    "upper": _upper,
    "lower": _lower,
    "title": _title,
    "trim": _trim,
    "trimAll": _trim_all,
    "trimPrefix": _trim_prefix,
    "trimSuffix": _trim_suffix,
    "replace": _replace,
    "contains": _contains,
    "hasPrefix": _has_prefix,
    "hasSuffix": _has_suffix,
    "quote": _quote,
    "squote": _squote,
    "substr": _substr,
    "trunc": _trunc,
    "repeat": _repeat,
    "nospace": _nospace,
    "indent": _indent,
    "nindent": _nindent,
    "abbrev": _abbrev,
    "cat": _cat,
    "kebabcase": _kebabcase,
    "snakecase": _snakecase,
    "camelcase": _camelcase,
    "split": _split,
    "splitList": _split_list,
    "join": _join,
    "regexMatch": _regex_match,
    "regexFind": _regex_find,
    "regexFindAll": _regex_find_all,
    "regexReplaceAll": _regex_replace_all,
    "regexReplaceAllLiteral": _regex_replace_all_literal,
    # sprig: defaults, conversions, encodings
    "default": _default,
    "empty": _empty,
    "coalesce": _coalesce,
    "ternary": _ternary,
    "toJson": _to_json,
    "toPrettyJson": _to_pretty_json,
    "fromJson": _from_json,
    "b64enc": _b64enc,
    "b64dec": _b64dec,
    "sha256sum": _sha256sum,
    "sha1sum": _sha1sum,
    "toString": _to_string,
    "toStrings": _to_strings,
    "int": _to_int,
    "int64": _to_int,
    "float64": _to_float,
    "atoi": _atoi,
    # sprig: numbers
    "add": _add,
    "add1": _add1,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "mod": _mod,
    "max": _max,
    "min": _min,
    "addf": _addf,
    "subf": _subf,
    "mulf": _mulf,
    "divf": _divf,
    "floor": _floor,
    "ceil": _ceil,
    "round": _round,
    "until": _until,
    # sprig: lists and dicts
    "list": _list,
    "first": _first,
    "last": _last,
    "rest": _rest,
    "initial": _initial,
    "reverse": _reverse,
    "has": _has,
    "uniq": _uniq,
    "without": _without,
    "append": _append,
    "prepend": _prepend,
    "compact": _compact,
    "sortAlpha": _sort_alpha,
    "dict": _dict,
    "get": _get,
    "hasKey": _has_key,
    "keys": _keys,
    "values": _values,
    "pick": _pick,
    "omit": _omit,
    "dig": _dig,
    # sprig: dates
    "now": _now,
    "date": _date,
    "dateInZone": _date_in_zone,
    "htmlDate": _html_date,
    "unixEpoch": _unix_epoch,
    "toDate": _to_date,
}


def _arity(fn: Callable[..., Any]) -> tuple[int, int | None]:
    params = inspect.signature(fn).parameters.values()
    low = sum(1 for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty)
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    return low, None if variadic else len(list(params))


_ARITY: Final = {name: _arity(fn) for name, fn in _FUNCS.items()}

FUNCTION_NAMES: Final = frozenset(_FUNCS)
"""Every function a template may call: Go's builtins and the sprig subset."""


# ------------------------------------------------------------------------ public


class Template:
    """A compiled template; :meth:`render` it against many inputs.

    Immutable and free of per-render state, so it may be shared across tasks.
    """

    __slots__ = ("_body", "_defines", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            body, defines = _Parser(text).parse()
        except RecursionError:
            raise TemplateError("template nested too deeply to parse") from None
        self._body = body
        self._defines = defines

    def render(self, data: Any) -> str:
        """Execute with ``data`` as dot (and ``$``); raise :class:`TemplateError` on failure."""
        state = _State(self.text, self._defines, [("$", data)])
        try:
            _walk(state, data, self._body)
        except (_Break, _Continue):  # pragma: no cover - the parser rejects these
            raise TemplateError("break or continue outside range") from None
        except RecursionError:
            raise TemplateError("template or data nested too deeply to render") from None
        return "".join(state.out)

    def __repr__(self) -> str:
        return f"gotemplate.compile({self.text!r})"


@lru_cache(maxsize=1024)
def compile(text: str) -> Template:
    """Compile ``text`` (cached); raise :class:`TemplateError` with line and column."""
    return Template(text)
