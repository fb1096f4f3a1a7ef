"""CEL's standard functions and the cel-go extension libraries Herald supports.

Two tables drive the compiler: :data:`FUNCTIONS` for global calls (``size(x)``,
``int(x)``, ``strings.quote(s)``, ``math.greatest(...)``, ``optional.of(x)``)
and :data:`METHODS` for receiver calls (``s.startsWith(p)``,
``ts.getHours("Europe/Paris")``). Every implementation takes plain Python values,
checks the CEL types itself and raises :class:`CelEvalError` (usually
"no such overload") on anything else, so the compiler can call them without
knowing their signatures. All of them are pure, which lets the compiler fold
calls on constants.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import math
import re
from collections.abc import Callable
from typing import Any

from sensors.cel import runtime, timeutil
from sensors.cel.errors import CelEvalError
from sensors.cel.runtime import is_int, is_list, is_map, no_overload
from sensors.cel.values import NO_VALUE, CelType, OptionalValue, Uint

Impl = Callable[..., Any]


def _str(value: Any, fn: str, *others: Any) -> str:
    if isinstance(value, str):
        return value
    no_overload(fn, value, *others)


def _int_arg(value: Any, fn: str, *others: Any) -> int:
    if is_int(value):
        return int(value)
    no_overload(fn, value, *others)


# -- strings -----------------------------------------------------------------


def size(value: Any) -> int:
    """``size(x)`` / ``x.size()``."""
    return runtime.size(value)


def contains(s: Any, sub: Any) -> bool:
    """``s.contains(sub)``."""
    if isinstance(s, str) and isinstance(sub, str):
        return sub in s
    no_overload("contains", s, sub)


def starts_with(s: Any, prefix: Any) -> bool:
    """``s.startsWith(prefix)``."""
    if isinstance(s, str) and isinstance(prefix, str):
        return s.startswith(prefix)
    no_overload("startsWith", s, prefix)


def ends_with(s: Any, suffix: Any) -> bool:
    """``s.endsWith(suffix)``."""
    if isinstance(s, str) and isinstance(suffix, str):
        return s.endswith(suffix)
    no_overload("endsWith", s, suffix)


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """Compile an RE2 pattern with Python's ``re`` (RE2's syntax is nearly a subset)."""
    translated = pattern.replace(r"\z", r"\Z")
    try:
        return re.compile(translated)
    except re.error as e:
        raise CelEvalError(f"invalid regular expression {pattern!r}: {e}") from None


def matches(s: Any, pattern: Any) -> bool:
    """``s.matches(re)`` / ``matches(s, re)``: does ``re`` match anywhere in ``s``."""
    if isinstance(s, str) and isinstance(pattern, str):
        return compile_regex(pattern).search(s) is not None
    no_overload("matches", s, pattern)


def char_at(s: Any, i: Any) -> str:
    """``s.charAt(i)``; ``i == size(s)`` gives ``""``."""
    text = _str(s, "charAt", i)
    idx = _int_arg(i, "charAt", s)
    if 0 <= idx < len(text):
        return text[idx]
    if idx == len(text):
        return ""
    raise CelEvalError(f"charAt({idx}): index out of range for a string of size {len(text)}")


def index_of(s: Any, sub: Any, offset: Any = 0) -> int:
    """``s.indexOf(sub[, offset])`` in code points, -1 when absent."""
    text = _str(s, "indexOf", sub)
    needle = _str(sub, "indexOf", s)
    start = _int_arg(offset, "indexOf", s, sub)
    if not 0 <= start <= len(text):
        raise CelEvalError(f"indexOf: offset {start} out of range")
    return text.find(needle, start)


def last_index_of(s: Any, sub: Any, offset: Any = None) -> int:
    """``s.lastIndexOf(sub[, offset])``: the last match starting at or before ``offset``."""
    text = _str(s, "lastIndexOf", sub)
    needle = _str(sub, "lastIndexOf", s)
    if offset is None:
        return text.rfind(needle)
    last = _int_arg(offset, "lastIndexOf", s, sub)
    if not 0 <= last < max(len(text), 1) and not (last == len(text) and not needle):
        raise CelEvalError(f"lastIndexOf: offset {last} out of range")
    return text.rfind(needle, 0, last + len(needle))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def lower_ascii(s: Any) -> str:
    """``s.lowerAscii()``: only ASCII letters change."""
    return _str(s, "lowerAscii").translate(_ASCII_LOWER)


def upper_ascii(s: Any) -> str:
    """``s.upperAscii()``: only ASCII letters change."""
    return _str(s, "upperAscii").translate(_ASCII_UPPER)


def replace(s: Any, old: Any, new: Any, n: Any = -1) -> str:
    """``s.replace(old, new[, n])``; a negative ``n`` replaces all."""
    text = _str(s, "replace", old, new)
    a = _str(old, "replace", s, new)
    b = _str(new, "replace", s, old)
    count = _int_arg(n, "replace", s, old, new)
    return text.replace(a, b, count if count >= 0 else -1)


def split(s: Any, sep: Any, n: Any = -1) -> list[str]:
    """``s.split(sep[, n])`` with Go's SplitN rules (``n == 0``: empty, ``n < 0``: all)."""
    text = _str(s, "split", sep)
    separator = _str(sep, "split", s)
    limit = _int_arg(n, "split", s, sep)
    if limit == 0:
        return []
    if separator == "":
        chars = list(text)
        if 0 < limit < len(chars):
            return [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        return chars
    return text.split(separator, limit - 1 if limit > 0 else -1)


def substring(s: Any, start: Any, end: Any = None) -> str:
    """``s.substring(start[, end])`` in code points; indices must be in range."""
    text = _str(s, "substring", start)
    begin = _int_arg(start, "substring", s)
    stop = len(text) if end is None else _int_arg(end, "substring", s, start)
    if not 0 <= begin <= len(text) or not begin <= stop <= len(text):
        raise CelEvalError(f"substring({begin}, {stop}) out of range for size {len(text)}")
    return text[begin:stop]


_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
_GO_SPACE += "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def trim(s: Any) -> str:
    """``s.trim()``: strip Unicode white space as Go's ``unicode.IsSpace`` defines it."""
    return _str(s, "trim").strip(_GO_SPACE)


def join(items: Any, sep: Any = "") -> str:
    """``list.join([sep])`` over a list of strings."""
    if not is_list(items):
        no_overload("join", items, sep)
    separator = _str(sep, "join", items)
    parts = []
    for item in items:
        if not isinstance(item, str):
            raise CelEvalError(f"join: list element of type {runtime.type_name(item)}")
        parts.append(item)
    return separator.join(parts)


def reverse(value: Any) -> Any:
    """``s.reverse()`` by code point, or ``list.reverse()``."""
    if is_list(value):
        return list(value)[::-1]
    return _str(value, "reverse")[::-1]


_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote(s: Any) -> str:
    """``strings.quote(s)``: a double-quoted CEL string literal for ``s``."""
    text = _str(s, "strings.quote")
    out = ['"']
    for ch in text:
        esc = _QUOTE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# -- string.format -----------------------------------------------------------

_CLAUSE = re.compile(r"%(?:\.(\d+))?([a-zA-Z%])")


def _format_special(value: float) -> str | None:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return None


def format_string_arg(value: Any) -> str:
    """How ``%s`` prints a value (also inside lists and maps)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return _format_special(value) or runtime.format_double(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if is_list(value):
        return "[" + ", ".join(format_string_arg(v) for v in value) + "]"
    if is_map(value):
        entries = sorted((format_string_arg(k), format_string_arg(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in entries) + "}"
    return runtime.to_string(value)


def _format_number(value: Any, verb: str, precision: int | None) -> str:
    if verb == "d":
        if isinstance(value, float):
            special = _format_special(value)
            if special is not None:
                return special
        elif is_int(value) or isinstance(value, Uint):
            return str(int(value))
        raise CelEvalError(f"format: %d needs an integer, got {runtime.type_name(value)}")
    if verb in "fe":
        if isinstance(value, float):
            special = _format_special(value)
            if special is not None:
                return special
            number = value
        elif is_int(value) or isinstance(value, Uint):
            number = float(value)
        else:
            raise CelEvalError(f"format: %{verb} needs a number, got {runtime.type_name(value)}")
        return f"{number:.{6 if precision is None else precision}{verb}}"
    if verb in "bo":
        if value is True or value is False:
            return str(int(value))
        if is_int(value) or isinstance(value, Uint):
            return format(int(value), verb)
        raise CelEvalError(f"format: %{verb} needs an integer, got {runtime.type_name(value)}")
    # x, X
    if is_int(value) or isinstance(value, Uint):
        text = format(int(value), "x")
    elif isinstance(value, str):
        text = value.encode("utf-8").hex()
    elif isinstance(value, bytes):
        text = value.hex()
    else:
        raise CelEvalError(f"format: %{verb} cannot print {runtime.type_name(value)}")
    return text.upper() if verb == "X" else text


def string_format(s: Any, args: Any) -> str:
    """``"%s is %d".format([a, b])`` with cel-go's clauses: s d f e b o x X and ``%%``."""
    template = _str(s, "format", args)
    if not is_list(args):
        no_overload("format", s, args)
    out: list[str] = []
    pos = 0
    arg_index = 0
    while True:
        i = template.find("%", pos)
        if i < 0:
            out.append(template[pos:])
            return "".join(out)
        out.append(template[pos:i])
        m = _CLAUSE.match(template, i)
        if not m:
            raise CelEvalError(f"format: malformed clause at offset {i}")
        precision = int(m.group(1)) if m.group(1) is not None else None
        verb = m.group(2)
        pos = m.end()
        if verb == "%":
            out.append("%")
            continue
        if verb not in "sdfeboxX":
            raise CelEvalError(f"format: unrecognized formatting clause %{verb}")
        if arg_index >= len(args):
            raise CelEvalError(f"format: too few arguments for clause %{verb} (index {arg_index})")
        value = args[arg_index]
        arg_index += 1
        if verb == "s":
            out.append(format_string_arg(value))
        else:
            out.append(_format_number(value, verb, precision))


# -- timestamps and durations ------------------------------------------------


def _in_zone(ts: Any, tz: Any, fn: str) -> datetime.datetime:
    if not isinstance(ts, datetime.datetime):
        no_overload(fn, ts)
    if tz is None:
        return timeutil.in_zone(ts, timeutil.UTC)
    return timeutil.in_zone(ts, timeutil.timezone(_str(tz, fn, ts)))


def _duration_ns(d: Any, fn: str) -> int:
    if isinstance(d, datetime.timedelta):
        return timeutil.duration_ns(d)
    no_overload(fn, d)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return -q if a < 0 else q


def get_full_year(ts: Any, tz: Any = None) -> int:
    """``ts.getFullYear([tz])``."""
    return _in_zone(ts, tz, "getFullYear").year


def get_month(ts: Any, tz: Any = None) -> int:
    """``ts.getMonth([tz])``, 0 for January."""
    return _in_zone(ts, tz, "getMonth").month - 1


def get_day_of_month(ts: Any, tz: Any = None) -> int:
    """``ts.getDayOfMonth([tz])``, 0-based."""
    return _in_zone(ts, tz, "getDayOfMonth").day - 1


def get_date(ts: Any, tz: Any = None) -> int:
    """``ts.getDate([tz])``, 1-based day of the month."""
    return _in_zone(ts, tz, "getDate").day


def get_day_of_week(ts: Any, tz: Any = None) -> int:
    """``ts.getDayOfWeek([tz])``, 0 for Sunday."""
    return (_in_zone(ts, tz, "getDayOfWeek").weekday() + 1) % 7


def get_day_of_year(ts: Any, tz: Any = None) -> int:
    """``ts.getDayOfYear([tz])``, 0-based."""
    return _in_zone(ts, tz, "getDayOfYear").timetuple().tm_yday - 1


def get_hours(value: Any, tz: Any = None) -> int:
    """``ts.getHours([tz])``, or the whole hours of a duration."""
    if isinstance(value, datetime.timedelta) and tz is None:
        return _trunc_div(_duration_ns(value, "getHours"), 3600 * 10**9)
    return _in_zone(value, tz, "getHours").hour


def get_minutes(value: Any, tz: Any = None) -> int:
    """``ts.getMinutes([tz])``, or the whole minutes of a duration."""
    if isinstance(value, datetime.timedelta) and tz is None:
        return _trunc_div(_duration_ns(value, "getMinutes"), 60 * 10**9)
    return _in_zone(value, tz, "getMinutes").minute


def get_seconds(value: Any, tz: Any = None) -> int:
    """``ts.getSeconds([tz])``, or the whole seconds of a duration."""
    if isinstance(value, datetime.timedelta) and tz is None:
        return _trunc_div(_duration_ns(value, "getSeconds"), 10**9)
    return _in_zone(value, tz, "getSeconds").second


def get_milliseconds(value: Any, tz: Any = None) -> int:
    """``ts.getMilliseconds([tz])``, or the millisecond part of a duration."""
    if isinstance(value, datetime.timedelta) and tz is None:
        ms = _trunc_div(_duration_ns(value, "getMilliseconds"), 10**6)
        return -(abs(ms) % 1000) if ms < 0 else ms % 1000
    return _in_zone(value, tz, "getMilliseconds").microsecond // 1000


# -- math extension ----------------------------------------------------------


def _numbers(args: tuple[Any, ...], fn: str) -> list[Any]:
    values = list(args[0]) if len(args) == 1 and is_list(args[0]) else list(args)
    if not values:
        raise CelEvalError(f"{fn}: no arguments")
    for v in values:
        if v is True or v is False or not isinstance(v, int | float):
            no_overload(fn, *values)
    return values


def math_greatest(*args: Any) -> Any:
    """``math.greatest(a, b, ...)`` or ``math.greatest([a, b, ...])``."""
    values = _numbers(args, "math.greatest")
    best = values[0]
    for v in values[1:]:
        if runtime.compare("math.greatest", v, best) == 1:
            best = v
    return best


def math_least(*args: Any) -> Any:
    """``math.least(a, b, ...)`` or ``math.least([a, b, ...])``."""
    values = _numbers(args, "math.least")
    best = values[0]
    for v in values[1:]:
        if runtime.compare("math.least", v, best) == -1:
            best = v
    return best


def _double(value: Any, fn: str) -> float:
    if isinstance(value, float):
        return value
    no_overload(fn, value)


def _math_round(value: Any) -> float:
    x = _double(value, "math.round")
    if math.isnan(x) or math.isinf(x):
        return x
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _math_ceil(value: Any) -> float:
    x = _double(value, "math.ceil")
    return x if math.isnan(x) or math.isinf(x) else float(math.ceil(x))


def _math_floor(value: Any) -> float:
    x = _double(value, "math.floor")
    return x if math.isnan(x) or math.isinf(x) else float(math.floor(x))


def _math_trunc(value: Any) -> float:
    x = _double(value, "math.trunc")
    return x if math.isnan(x) or math.isinf(x) else float(math.trunc(x))


def _math_abs(value: Any) -> Any:
    if isinstance(value, Uint):
        return value
    if is_int(value):
        return runtime.check_int(abs(value))
    return abs(_double(value, "math.abs"))


def _math_sign(value: Any) -> Any:
    if isinstance(value, Uint):
        return Uint(1 if value else 0)
    if is_int(value):
        return (value > 0) - (value < 0)
    x = _double(value, "math.sign")
    if x != x:
        return x
    return float((x > 0) - (x < 0))


def _math_sqrt(value: Any) -> float:
    if is_int(value) or isinstance(value, Uint | float):
        x = float(value)
        if x < 0:
            return math.nan
        return math.sqrt(x)
    no_overload("math.sqrt", value)


def _bit_args(a: Any, b: Any, fn: str) -> tuple[int, int, bool]:
    if isinstance(a, Uint) and isinstance(b, Uint):
        return int(a), int(b), True
    if is_int(a) and is_int(b):
        return int(a), int(b), False
    no_overload(fn, a, b)


def _bit_result(value: int, unsigned: bool) -> Any:
    if unsigned:
        return Uint(value & runtime.MAX_UINT)
    value &= runtime.MAX_UINT
    return value - 2**64 if value > runtime.MAX_INT else value


def _bit_and(a: Any, b: Any) -> Any:
    x, y, u = _bit_args(a, b, "math.bitAnd")
    return _bit_result(x & y, u)


def _bit_or(a: Any, b: Any) -> Any:
    x, y, u = _bit_args(a, b, "math.bitOr")
    return _bit_result(x | y, u)


def _bit_xor(a: Any, b: Any) -> Any:
    x, y, u = _bit_args(a, b, "math.bitXor")
    return _bit_result(x ^ y, u)


def _bit_not(a: Any) -> Any:
    if isinstance(a, Uint):
        return Uint(~int(a) & runtime.MAX_UINT)
    if is_int(a):
        return ~a
    no_overload("math.bitNot", a)


def _shift_args(a: Any, n: Any, fn: str) -> tuple[int, int, bool]:
    if not is_int(n):
        no_overload(fn, a, n)
    if n < 0:
        raise CelEvalError(f"{fn}: negative shift {n}")
    if isinstance(a, Uint):
        return int(a), int(n), True
    if is_int(a):
        return int(a), int(n), False
    no_overload(fn, a, n)


def _shift_left(a: Any, n: Any) -> Any:
    x, k, u = _shift_args(a, n, "math.bitShiftLeft")
    if k >= 64:
        return Uint(0) if u else 0
    return _bit_result(x << k, u)


def _shift_right(a: Any, n: Any) -> Any:
    x, k, u = _shift_args(a, n, "math.bitShiftRight")
    if k >= 64:
        return Uint(0) if u else 0
    return _bit_result((x & runtime.MAX_UINT) >> k, u)


def _is_inf(value: Any) -> bool:
    return math.isinf(_double(value, "math.isInf"))


def _is_nan(value: Any) -> bool:
    return math.isnan(_double(value, "math.isNaN"))


def _is_finite(value: Any) -> bool:
    return math.isfinite(_double(value, "math.isFinite"))


# -- lists and sets extensions --------------------------------------------------


def _list(value: Any, fn: str, *others: Any) -> list[Any]:
    if is_list(value):
        return list(value)
    no_overload(fn, value, *others)


def lists_range(n: Any) -> list[int]:
    """``lists.range(n)``: ``[0, 1, ..., n-1]``."""
    count = _int_arg(n, "lists.range")
    if count > 1_000_000:
        raise CelEvalError(f"lists.range({count}): too long")
    return list(range(max(count, 0)))


def list_slice(items: Any, start: Any, end: Any) -> list[Any]:
    """``list.slice(start, end)``; the indices must be in range and ordered."""
    values = _list(items, "slice", start, end)
    i = _int_arg(start, "slice", items, end)
    j = _int_arg(end, "slice", items, start)
    if not 0 <= i <= j <= len(values):
        raise CelEvalError(f"slice({i}, {j}) out of range for a list of size {len(values)}")
    return values[i:j]


def list_flatten(items: Any, depth: Any = 1) -> list[Any]:
    """``list.flatten([depth])``: splice nested lists in, ``depth`` levels deep."""
    values = _list(items, "flatten", depth)
    levels = _int_arg(depth, "flatten", items)
    if levels < 0:
        raise CelEvalError("flatten: the depth must not be negative")
    for _ in range(levels):
        if not any(is_list(v) for v in values):
            break
        flat: list[Any] = []
        for v in values:
            if is_list(v):
                flat.extend(v)
            else:
                flat.append(v)
        values = flat
    return values


def list_distinct(items: Any) -> list[Any]:
    """``list.distinct()``: the first occurrence of each value, by CEL equality."""
    out: list[Any] = []
    for v in _list(items, "distinct"):
        if not any(runtime.equals(v, seen) for seen in out):
            out.append(v)
    return out


def list_sort(items: Any) -> list[Any]:
    """``list.sort()``: elements must all be of one orderable type."""
    values = _list(items, "sort")
    types = {runtime.type_of(v) for v in values}
    if len(types) > 1:
        raise CelEvalError("sort: the list mixes types " + ", ".join(sorted(map(str, types))))
    if types and not types <= _ORDERED:
        raise CelEvalError(f"sort: {types.pop()} values are not ordered")
    try:
        return sorted(values)
    except TypeError:  # NaN-free floats, strings ... never get here; naive datetimes might
        raise CelEvalError("sort: the values cannot be ordered") from None


_ORDERED = frozenset(
    {
        runtime.INT_TYPE,
        runtime.UINT_TYPE,
        runtime.DOUBLE_TYPE,
        runtime.STRING_TYPE,
        runtime.BYTES_TYPE,
        runtime.BOOL_TYPE,
        runtime.TIMESTAMP_TYPE,
        runtime.DURATION_TYPE,
    }
)


def list_first(items: Any) -> OptionalValue:
    """``list.first()``: an optional of the first element."""
    values = _list(items, "first")
    return OptionalValue(values[0]) if values else NO_VALUE


def list_last(items: Any) -> OptionalValue:
    """``list.last()``: an optional of the last element."""
    values = _list(items, "last")
    return OptionalValue(values[-1]) if values else NO_VALUE


def sets_contains(items: Any, sub: Any) -> bool:
    """``sets.contains(list, sublist)``: every element of ``sublist`` is in ``list``."""
    values = _list(items, "sets.contains", sub)
    return all(runtime.contains(values, v) for v in _list(sub, "sets.contains", items))


def sets_equivalent(a: Any, b: Any) -> bool:
    """``sets.equivalent(a, b)``: the lists hold the same values, ignoring order and repeats."""
    return sets_contains(a, b) and sets_contains(b, a)


def sets_intersects(a: Any, b: Any) -> bool:
    """``sets.intersects(a, b)``: the lists share at least one value."""
    values = _list(a, "sets.intersects", b)
    return any(runtime.contains(values, v) for v in _list(b, "sets.intersects", a))


# -- encoders extension --------------------------------------------------------


def base64_encode(value: Any) -> str:
    """``base64.encode(bytes)``: standard alphabet, padded."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    no_overload("base64.encode", value)


def base64_decode(value: Any) -> bytes:
    """``base64.decode(string)``: standard alphabet, padding optional."""
    text = _str(value, "base64.decode")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CelEvalError(f"base64.decode: {text!r} is not base64") from None


# -- optionals ---------------------------------------------------------------


def optional_of(value: Any) -> OptionalValue:
    """``optional.of(x)``."""
    return OptionalValue(value)


def optional_none() -> OptionalValue:
    """``optional.none()``."""
    return NO_VALUE


def _is_zero(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, int | float | str | bytes | list | tuple) or is_map(value):
        return not value
    if isinstance(value, datetime.timedelta):
        return value == timeutil.ZERO
    if isinstance(value, datetime.datetime):
        return value == timeutil.EPOCH
    return False


def optional_of_non_zero(value: Any) -> OptionalValue:
    """``optional.ofNonZeroValue(x)``: none for zero values (0, "", [], {} ...)."""
    return NO_VALUE if _is_zero(value) else OptionalValue(value)


def _optional(value: Any, fn: str) -> OptionalValue:
    if isinstance(value, OptionalValue):
        return value
    no_overload(fn, value)


def _has_value(opt: Any) -> bool:
    return _optional(opt, "hasValue").has_value


def _value(opt: Any) -> Any:
    o = _optional(opt, "value")
    if not o.has_value:
        raise CelEvalError("optional.none() has no value")
    return o.value


def _or_value(opt: Any, default: Any) -> Any:
    o = _optional(opt, "orValue")
    return o.value if o.has_value else default


def _or(opt: Any, other: Any) -> Any:
    o = _optional(opt, "or")
    if o.has_value:
        return o
    return _optional(other, "or")


# -- tables ------------------------------------------------------------------


def _size_method(value: Any) -> int:
    return runtime.size(value)


def _type_value(value: Any) -> CelType:
    return runtime.type_of(value)


FUNCTIONS: dict[str, Impl] = {
    "size": size,
    "matches": matches,
    **runtime.CONVERSIONS,
    "type": _type_value,
    "strings.quote": quote,
    "math.greatest": math_greatest,
    "math.least": math_least,
    "math.ceil": _math_ceil,
    "math.floor": _math_floor,
    "math.round": _math_round,
    "math.trunc": _math_trunc,
    "math.abs": _math_abs,
    "math.sign": _math_sign,
    "math.sqrt": _math_sqrt,
    "math.isInf": _is_inf,
    "math.isNaN": _is_nan,
    "math.isFinite": _is_finite,
    "math.bitAnd": _bit_and,
    "math.bitOr": _bit_or,
    "math.bitXor": _bit_xor,
    "math.bitNot": _bit_not,
    "math.bitShiftLeft": _shift_left,
    "math.bitShiftRight": _shift_right,
    "lists.range": lists_range,
    "sets.contains": sets_contains,
    "sets.equivalent": sets_equivalent,
    "sets.intersects": sets_intersects,
    "base64.encode": base64_encode,
    "base64.decode": base64_decode,
    "optional.of": optional_of,
    "optional.none": optional_none,
    "optional.ofNonZeroValue": optional_of_non_zero,
}

METHODS: dict[str, Impl] = {
    "size": _size_method,
    "contains": contains,
    "startsWith": starts_with,
    "endsWith": ends_with,
    "matches": matches,
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "replace": replace,
    "split": split,
    "substring": substring,
    "trim": trim,
    "join": join,
    "reverse": reverse,
    "format": string_format,
    "getFullYear": get_full_year,
    "getMonth": get_month,
    "getDayOfMonth": get_day_of_month,
    "getDate": get_date,
    "getDayOfWeek": get_day_of_week,
    "getDayOfYear": get_day_of_year,
    "getHours": get_hours,
    "getMinutes": get_minutes,
    "getSeconds": get_seconds,
    "getMilliseconds": get_milliseconds,
    "slice": list_slice,
    "flatten": list_flatten,
    "distinct": list_distinct,
    "sort": list_sort,
    "first": list_first,
    "last": list_last,
    "hasValue": _has_value,
    "value": _value,
    "orValue": _or_value,
    "or": _or,
}

ARITY: dict[str, tuple[int, int]] = {
    # global functions: (min, max) argument counts; math.greatest/least are variadic
    "size": (1, 1),
    "matches": (2, 2),
    "strings.quote": (1, 1),
    "math.greatest": (1, 1 << 16),
    "math.least": (1, 1 << 16),
    "sets.contains": (2, 2),
    "sets.equivalent": (2, 2),
    "sets.intersects": (2, 2),
    "math.bitAnd": (2, 2),
    "math.bitOr": (2, 2),
    "math.bitXor": (2, 2),
    "math.bitShiftLeft": (2, 2),
    "math.bitShiftRight": (2, 2),
    "optional.none": (0, 0),
}
METHOD_ARITY: dict[str, tuple[int, int]] = {
    # receiver methods: (min, max) argument counts besides the receiver
    "size": (0, 0),
    "contains": (1, 1),
    "startsWith": (1, 1),
    "endsWith": (1, 1),
    "matches": (1, 1),
    "charAt": (1, 1),
    "indexOf": (1, 2),
    "lastIndexOf": (1, 2),
    "lowerAscii": (0, 0),
    "upperAscii": (0, 0),
    "replace": (2, 3),
    "split": (1, 2),
    "substring": (1, 2),
    "trim": (0, 0),
    "join": (0, 1),
    "reverse": (0, 0),
    "format": (1, 1),
    "slice": (2, 2),
    "flatten": (0, 1),
    "distinct": (0, 0),
    "sort": (0, 0),
    "first": (0, 0),
    "last": (0, 0),
    "hasValue": (0, 0),
    "value": (0, 0),
    "orValue": (1, 1),
    "or": (1, 1),
}
for _getter in (
    "getFullYear",
    "getMonth",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getDayOfYear",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
):
    METHOD_ARITY[_getter] = (0, 1)


def arity(name: str, *, method: bool) -> tuple[int, int]:
    """The (min, max) argument counts of a function or method (default: exactly 1)."""
    table = METHOD_ARITY if method else ARITY
    return table.get(name, (1, 1))
