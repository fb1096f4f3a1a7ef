"""gjson-style paths to read JSON values and sjson-style paths to write them.

Argo Events addresses event data with tidwall/gjson paths (data filters,
``dataKey``/``contextKey`` of trigger parameters, ``fields`` of expression
filters) and writes trigger templates and payloads with tidwall/sjson paths
(``dest``). Users' manifests rely on that syntax, so Herald implements it over
the Python values it already holds (no re-serialisation):

Reading (:func:`get`):
- ``a.b.c``: object keys separated by dots; ``\\`` escapes the next character
  (``headers.X-Github-Event`` needs no escape, ``labels.app\\.kubernetes\\.io``
  does);
- ``*`` and ``?`` wildcards in a key match the first key that fits;
- a number selects an array element (``items.0``);
- ``#`` is an array's length; ``items.#.name`` collects ``name`` of every
  element;
- ``#(cond)`` is the first element that meets ``cond``; ``#(cond)#`` all of
  them. ``cond`` is ``path op literal`` with ``==, !=, <, <=, >, >=``, ``%``
  (glob match) and ``!%``, or just ``path`` (exists and truthy); literals are
  JSON strings, numbers, ``true``, ``false``, ``null``;
- ``|`` works as ``.``; ``@this`` is the current value.

Writing (:func:`set_path`): keys separated by dots with ``\\`` escapes; a
number indexes an array (missing arrays are created, padded with nulls, at most
:data:`MAX_PADDING` past the end), ``-1`` appends, and ``:N`` forces an object
key ``N``.

A path that does not resolve gives :data:`MISSING`, never an exception: callers
decide whether absence is an error (Argo's data filters) or a fallback
(trigger parameters).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import orjson


class _Missing:
    """The result of a path that does not resolve."""

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


class PathError(ValueError):
    """A path that cannot be parsed."""


# --- parsing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    wild: bool  # contains unescaped * or ?


@dataclass(frozen=True, slots=True)
class _Count:
    pass


@dataclass(frozen=True, slots=True)
class _Each:
    """``#`` followed by more path: map the rest over every element."""


@dataclass(frozen=True, slots=True)
class _Query:
    path: tuple[Any, ...] | None
    op: str
    literal: Any
    all: bool


@dataclass(frozen=True, slots=True)
class _This:
    pass


_Step = _Key | _Count | _Each | _Query | _This
_OPS = ("==", "!=", "<=", ">=", "<", ">", "!%", "%")


def _split(path: str) -> list[tuple[str, bool, bool]]:
    """Split on unescaped ``.`` and ``|``; each part with 'had a wildcard' and 'had an escape'.

    Query parentheses are kept whole. Escapes are removed from plain keys but
    wildcards that were escaped are turned into literal characters.
    """
    parts: list[tuple[str, bool, bool]] = []
    buf: list[str] = []
    wild = escaped = False
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch == "\\" and i + 1 < n:
            nxt = path[i + 1]
            buf.append("\\" + nxt if nxt in "*?" else nxt)
            escaped = True
            i += 2
            continue
        if ch == "#" and i + 1 < n and path[i + 1] == "(" and not buf:
            depth, j = 0, i + 1
            in_str = False
            while j < n:
                c = path[j]
                if in_str:
                    if c == "\\":
                        j += 1
                    elif c == '"':
                        in_str = False
                elif c == '"':
                    in_str = True
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise PathError(f"unclosed query in path {path!r}")
            end = j + 1
            if end < n and path[end] == "#":
                end += 1
            buf.append(path[i:end])
            i = end
            continue
        if ch in ".|":
            parts.append(("".join(buf), wild, escaped))
            buf, wild, escaped = [], False, False
            i += 1
            continue
        if ch in "*?":
            wild = True
        buf.append(ch)
        i += 1
    parts.append(("".join(buf), wild, escaped))
    return parts


@lru_cache(maxsize=4096)
def compile_path(path: str) -> tuple[_Step, ...]:
    """Parse a gjson path once; the result is cached."""
    if path == "":
        raise PathError("empty path")
    steps: list[_Step] = []
    for part, wild, escaped in _split(path):
        if escaped:
            steps.append(_Key(part, wild))
        elif part == "#":
            steps.append(_Count())
        elif part.startswith("#(") and part.endswith((")", ")#")):
            steps.append(_parse_query(part))
        elif part == "@this":
            steps.append(_This())
        else:
            steps.append(_Key(part, wild))
    # '#' followed by more steps means "map the rest over each element".
    out: list[_Step] = []
    for idx, step in enumerate(steps):
        if isinstance(step, _Count) and idx < len(steps) - 1:
            out.append(_Each())
        else:
            out.append(step)
    return tuple(out)


def _parse_query(part: str) -> _Query:
    every = part.endswith(")#")
    body = part[2 : -2 if every else -1].strip()
    in_str, depth = False, 0
    for i, ch in enumerate(body):
        if ch == '"' and (i == 0 or body[i - 1] != "\\"):
            in_str = not in_str
        if in_str:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if depth:
            continue
        for op in _OPS:
            if body.startswith(op, i):
                lhs, rhs = body[:i].strip(), body[i + len(op) :].strip()
                return _Query(compile_path(lhs) if lhs else None, op, _literal(rhs), every)
    return _Query(compile_path(body) if body else None, "exists", None, every)


def _literal(text: str) -> Any:
    if not text:
        raise PathError("query comparison needs a value")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # gjson accepts unquoted words


# --- reading ------------------------------------------------------------------------------


def get(value: Any, path: str) -> Any:
    """The value at ``path`` in ``value`` (dicts and lists), or :data:`MISSING`."""
    return _walk(value, compile_path(path))


def _walk(value: Any, steps: tuple[_Step, ...]) -> Any:
    for i, step in enumerate(steps):
        if value is MISSING:
            return MISSING
        if isinstance(step, _Key):
            value = _key(value, step)
        elif isinstance(step, _Count):
            value = len(value) if isinstance(value, list) else MISSING
        elif isinstance(step, _Each):
            if not isinstance(value, list):
                return MISSING
            rest = steps[i + 1 :]
            found = [_walk(v, rest) for v in value]
            return [v for v in found if v is not MISSING]
        elif isinstance(step, _Query):
            value = _query(value, step)
            if step.all and i < len(steps) - 1 and isinstance(value, list):
                rest = steps[i + 1 :]
                found = [_walk(v, rest) for v in value]
                return [v for v in found if v is not MISSING]
        # _This: value unchanged
    return value


def _key(value: Any, step: _Key) -> Any:
    if isinstance(value, dict):
        if not step.wild:
            return value.get(_unescape(step.name), MISSING)
        pattern = _glob(step.name)
        for k, v in value.items():
            if pattern(k):
                return v
        return MISSING
    if isinstance(value, list) and not step.wild:
        name = step.name
        if name.isascii() and name.isdecimal():
            idx = int(name)
            return value[idx] if idx < len(value) else MISSING
    return MISSING


def _unescape(name: str) -> str:
    return name.replace("\\*", "*").replace("\\?", "?") if "\\" in name else name


@lru_cache(maxsize=1024)
def _glob(name: str) -> Callable[[str], bool]:
    regex = ""
    i = 0
    while i < len(name):
        ch = name[i]
        if ch == "\\" and i + 1 < len(name):
            regex += re.escape(name[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
        i += 1
    compiled = re.compile(regex, re.DOTALL)
    return lambda key: compiled.fullmatch(key) is not None


def _query(value: Any, q: _Query) -> Any:
    if not isinstance(value, list):
        return MISSING
    hits = [v for v in value if _matches(v, q)]
    if q.all:
        return hits
    return hits[0] if hits else MISSING


def _matches(item: Any, q: _Query) -> bool:
    left = _walk(item, q.path) if q.path is not None else item
    if q.op == "exists":
        return left is not MISSING and left not in (False, None)
    if left is MISSING:
        return False
    right = q.literal
    if q.op in ("%", "!%"):
        ok = isinstance(left, str) and fnmatch.fnmatchcase(left, str(right))
        return ok if q.op == "%" else not ok
    if isinstance(left, bool) or isinstance(right, bool):
        if q.op == "==":
            return left is right
        if q.op == "!=":
            return left is not right
        return False
    if isinstance(left, int | float) and isinstance(right, int | float):
        return _compare(float(left), float(right), q.op)
    if isinstance(left, str) and isinstance(right, str):
        return _compare(left, right, q.op)
    if q.op == "==":
        return bool(left == right)
    if q.op == "!=":
        return bool(left != right)
    return False


def _compare(a: Any, b: Any, op: str) -> bool:
    if op == "==":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


# --- writing ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _set_keys(path: str) -> tuple[str | int, ...]:
    """sjson path -> keys: str for object keys, int for array indexes (-1 = append)."""
    if path == "":
        raise PathError("empty path")
    keys: list[str | int] = []
    buf: list[str] = []
    escaped_any = False
    i, n = 0, len(path)

    def flush() -> None:
        token = "".join(buf)
        numeric = token.isascii() and token.isdecimal()
        if not escaped_any and (numeric or token == "-1"):
            keys.append(int(token))
        elif (
            not escaped_any
            and token.startswith(":")
            and token[1:].isascii()
            and token[1:].isdecimal()
        ):
            keys.append(token[1:])
        else:
            keys.append(token)

    while i < n:
        ch = path[i]
        if ch == "\\" and i + 1 < n:
            buf.append(path[i + 1])
            escaped_any = True
            i += 2
            continue
        if ch == ".":
            flush()
            buf, escaped_any = [], False
        else:
            buf.append(ch)
        i += 1
    flush()
    return tuple(keys)


MAX_PADDING = 1024
"""How far past the end of an array an index may write (the gap is filled with nulls)."""


def set_path(document: Any, path: str, value: Any) -> Any:
    """Set ``value`` at the sjson ``path`` in ``document``; returns the (new) document.

    Dicts and lists are modified in place where they exist; missing containers
    are created. A non-container in the way is replaced, as sjson does.
    """
    keys = _set_keys(path)
    return _set(document, keys, value)


def _set(node: Any, keys: tuple[str | int, ...], value: Any) -> Any:
    if not keys:
        return value
    key, rest = keys[0], keys[1:]
    if isinstance(key, int):
        if not isinstance(node, list):
            node = [] if node is None or node is MISSING or not isinstance(node, dict) else node
        if isinstance(node, dict):
            k = str(key)
            node[k] = _set(node.get(k), rest, value)
            return node
        if key == -1 or key == len(node):
            node.append(_set(None, rest, value))
        else:
            if key > len(node) + MAX_PADDING:
                raise PathError(
                    f"array index {key} is more than {MAX_PADDING} past the end "
                    f"(length {len(node)}); write ':{key}' for an object key"
                )
            while len(node) <= key:
                node.append(None)
            node[key] = _set(node[key], rest, value)
        return node
    if not isinstance(node, dict):
        node = {}
    node[key] = _set(node.get(key), rest, value)
    return node
