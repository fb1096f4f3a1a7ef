"""CEL's value semantics over plain Python values.

Herald evaluates CEL directly on the event as decoded from JSON, so the CEL type
of a value is read off its Python type:

=================  ==========================================
Python             CEL
=================  ==========================================
``None``           ``null_type``
``bool``           ``bool``
``int``            ``int`` (int64; results outside raise)
:class:`Uint`      ``uint`` (uint64)
``float``          ``double``
``str``            ``string``
``bytes``          ``bytes``
``list``/``tuple``  ``list``
``Mapping``        ``map``
``datetime``       ``google.protobuf.Timestamp``
``timedelta``      ``google.protobuf.Duration``
:class:`CelType`   ``type``
=================  ==========================================

This module holds the operators (equality, ordering, arithmetic, ``in``,
indexing) with CEL's rules: heterogeneous equality (numbers compare across
int/uint/double, everything else of different types is unequal, never an
error), no implicit conversions elsewhere, int64/uint64 overflow errors,
truncating integer division, IEEE doubles. Every failure raises
:class:`CelEvalError` naming the operation and the operand types.
"""

from __future__ import annotations

import datetime
import decimal
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sensors.cel import timeutil
from sensors.cel.errors import CelEvalError
from sensors.cel.values import CelType, OptionalValue, Uint

MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
MAX_UINT = 2**64 - 1

Datetime = datetime.datetime
Timedelta = datetime.timedelta

# -- types -------------------------------------------------------------------

NULL_TYPE = CelType("null_type")
BOOL_TYPE = CelType("bool")
INT_TYPE = CelType("int")
UINT_TYPE = CelType("uint")
DOUBLE_TYPE = CelType("double")
STRING_TYPE = CelType("string")
BYTES_TYPE = CelType("bytes")
LIST_TYPE = CelType("list")
MAP_TYPE = CelType("map")
TYPE_TYPE = CelType("type")
TIMESTAMP_TYPE = CelType("google.protobuf.Timestamp")
DURATION_TYPE = CelType("google.protobuf.Duration")
OPTIONAL_TYPE = CelType("optional_type")

TYPE_NAMES: dict[str, CelType] = {
    t.name: t
    for t in (
        NULL_TYPE,
        BOOL_TYPE,
        INT_TYPE,
        UINT_TYPE,
        DOUBLE_TYPE,
        STRING_TYPE,
        BYTES_TYPE,
        LIST_TYPE,
        MAP_TYPE,
        TYPE_TYPE,
        TIMESTAMP_TYPE,
        DURATION_TYPE,
        OPTIONAL_TYPE,
    )
}

_EXACT_TYPES: dict[type, CelType] = {
    timeutil.Timestamp: TIMESTAMP_TYPE,
    timeutil.Duration: DURATION_TYPE,
    type(None): NULL_TYPE,
    bool: BOOL_TYPE,
    int: INT_TYPE,
    Uint: UINT_TYPE,
    float: DOUBLE_TYPE,
    str: STRING_TYPE,
    bytes: BYTES_TYPE,
    list: LIST_TYPE,
    tuple: LIST_TYPE,
    dict: MAP_TYPE,
    Datetime: TIMESTAMP_TYPE,
    Timedelta: DURATION_TYPE,
    CelType: TYPE_TYPE,
    OptionalValue: OPTIONAL_TYPE,
}


def type_of(value: Any) -> CelType:
    """The CEL type of a Python value; raise for values CEL has no type for."""
    t = _EXACT_TYPES.get(value.__class__)
    if t is not None:
        return t
    # Subclasses (a str enum, an OrderedDict, a pendulum DateTime ...).
    if isinstance(value, bool):
        return BOOL_TYPE
    if isinstance(value, Uint):
        return UINT_TYPE
    if isinstance(value, int):
        return INT_TYPE
    if isinstance(value, float):
        return DOUBLE_TYPE
    if isinstance(value, str):
        return STRING_TYPE
    if isinstance(value, bytes | bytearray):
        return BYTES_TYPE
    if isinstance(value, list | tuple):
        return LIST_TYPE
    if isinstance(value, Mapping):
        return MAP_TYPE
    if isinstance(value, Datetime):
        return TIMESTAMP_TYPE
    if isinstance(value, Timedelta):
        return DURATION_TYPE
    raise CelEvalError(f"unsupported value of Python type {type(value).__name__}")


def type_name(value: Any) -> str:
    """The CEL type name of ``value`` for error messages."""
    try:
        return type_of(value).name
    except CelEvalError:
        return f"python:{type(value).__name__}"


def no_overload(op: str, *args: Any) -> NoReturn:
    """Raise the error for an operator or function applied to the wrong types."""
    types = ", ".join(type_name(a) for a in args)
    raise CelEvalError(f"no such overload: {op}({types})")


def is_list(value: Any) -> bool:
    """Is ``value`` a CEL list?"""
    return value.__class__ is list or isinstance(value, list | tuple)


def is_map(value: Any) -> bool:
    """Is ``value`` a CEL map?"""
    return value.__class__ is dict or isinstance(value, Mapping)


def is_int(value: Any) -> bool:
    """Is ``value`` a CEL int (not a bool, not a uint)?"""
    c = value.__class__
    return c is int or (c is not bool and c is not Uint and isinstance(value, int))


# -- numbers -----------------------------------------------------------------


def check_int(value: int) -> int:
    """Return ``value`` if it is within int64, else raise an overflow error."""
    if MIN_INT <= value <= MAX_INT:
        return value
    raise CelEvalError("integer overflow")


def check_uint(value: int) -> Uint:
    """Return ``value`` as a :class:`Uint` if it is within uint64, else raise."""
    if 0 <= value <= MAX_UINT:
        return Uint(value)
    raise CelEvalError("unsigned integer overflow")


def _num_kind(value: Any) -> int:
    """0: not a number, 1: int or uint, 2: double."""
    c = value.__class__
    if c is int or c is Uint:
        return 1
    if c is float:
        return 2
    if c is bool:
        return 0
    if isinstance(value, int):
        return 1
    if isinstance(value, float):
        return 2
    return 0


def _num_compare(a: Any, b: Any) -> int | None:
    """Compare two CEL numbers of any kinds; None when unordered (NaN)."""
    ka, kb = _num_kind(a), _num_kind(b)
    if ka == 2 or kb == 2:
        fa = float(a) if ka == 1 else a
        fb = float(b) if kb == 1 else b
        if fa < fb:
            return -1
        if fa > fb:
            return 1
        if fa == fb:
            return 0
        return None
    return -1 if a < b else (1 if a > b else 0)


# -- equality ----------------------------------------------------------------


def equals(a: Any, b: Any) -> bool:
    """CEL ``==``: heterogeneous equality, never an error."""
    ca = a.__class__
    cb = b.__class__
    if ca is cb:
        if ca is list or ca is tuple:
            return _list_equals(a, b)
        if ca is dict:
            return _map_equals(a, b)
        if ca is OptionalValue:
            return bool(
                a.has_value == b.has_value and (not a.has_value or equals(a.value, b.value))
            )
        return bool(a == b)
    if ca is bool or cb is bool:
        return False
    ka = _num_kind(a)
    if ka:
        kb = _num_kind(b)
        return bool(kb) and _num_compare(a, b) == 0
    if a is None or b is None:
        return False
    if is_list(a):
        return is_list(b) and _list_equals(a, b)
    if is_map(a):
        return is_map(b) and _map_equals(a, b)
    ta, tb = type_of(a), type_of(b)
    return ta == tb and bool(a == b)


def _list_equals(a: Any, b: Any) -> bool:
    if len(a) != len(b):
        return False
    return all(equals(x, y) for x, y in zip(a, b, strict=True))


def _map_equals(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> bool:
    if len(a) != len(b):
        return False
    for key, value in a.items():
        found, other = map_get(b, key)
        if not found or not equals(value, other):
            return False
    return True


# -- ordering ----------------------------------------------------------------

_ORDERED_SAME = frozenset({int, float, str, bytes, bool, Uint, Datetime, Timedelta})


def compare(op: str, a: Any, b: Any) -> int:
    """Order two CEL values for ``op`` (``<`` ...): -1, 0 or 1; raise if unordered types.

    Returns 2 for NaN comparisons, which make every ordering false.
    """
    ca = a.__class__
    if ca is b.__class__ and ca in _ORDERED_SAME:
        if ca is float and (a != a or b != b):
            return 2
        return -1 if a < b else (1 if a > b else 0)
    ka, kb = _num_kind(a), _num_kind(b)
    if ka and kb:
        r = _num_compare(a, b)
        return 2 if r is None else r
    ta, tb = type_of(a), type_of(b)
    if ta == tb and ta in (STRING_TYPE, BYTES_TYPE, BOOL_TYPE, TIMESTAMP_TYPE, DURATION_TYPE):
        return -1 if a < b else (1 if a > b else 0)
    no_overload(op, a, b)


def less(a: Any, b: Any) -> bool:
    """CEL ``<``."""
    if a.__class__ is b.__class__ and a.__class__ in (int, str):
        return bool(a < b)
    r = compare("_<_", a, b)
    return r == -1


def less_equal(a: Any, b: Any) -> bool:
    """CEL ``<=``."""
    if a.__class__ is b.__class__ and a.__class__ in (int, str):
        return bool(a <= b)
    r = compare("_<=_", a, b)
    return r in (-1, 0)


def greater(a: Any, b: Any) -> bool:
    """CEL ``>``."""
    if a.__class__ is b.__class__ and a.__class__ in (int, str):
        return bool(a > b)
    r = compare("_>_", a, b)
    return r == 1


def greater_equal(a: Any, b: Any) -> bool:
    """CEL ``>=``."""
    if a.__class__ is b.__class__ and a.__class__ in (int, str):
        return bool(a >= b)
    r = compare("_>=_", a, b)
    return r in (1, 0)


# -- arithmetic --------------------------------------------------------------


def add(a: Any, b: Any) -> Any:
    """CEL ``+``: numbers of one kind, strings, bytes, lists, time arithmetic."""
    ca = a.__class__
    if ca is b.__class__:
        if ca is int:
            r = a + b
            if MIN_INT <= r <= MAX_INT:
                return r
            raise CelEvalError("integer overflow")
        if ca is float or ca is str or ca is bytes:
            return a + b
        if ca is list:
            return a + b
        if ca is Uint:
            return check_uint(a + b)
        if ca is Timedelta:
            return timeutil.add_durations(a, b)
        if ca is tuple:
            return list(a) + list(b)
    if is_int(a) and is_int(b):
        return check_int(a + b)
    if isinstance(a, Datetime) and isinstance(b, Timedelta):
        return timeutil.add_timestamp(a, b)
    if isinstance(a, Timedelta) and isinstance(b, Datetime):
        return timeutil.add_timestamp(b, a)
    if is_list(a) and is_list(b):
        return list(a) + list(b)
    ta, tb = type_of(a), type_of(b)
    if ta == tb and ta in (STRING_TYPE, BYTES_TYPE, DOUBLE_TYPE):
        return a + b
    if ta == tb == UINT_TYPE:
        return check_uint(a + b)
    if ta == tb == DURATION_TYPE:
        return timeutil.add_durations(a, b)
    no_overload("_+_", a, b)


def subtract(a: Any, b: Any) -> Any:
    """CEL ``-``."""
    ca = a.__class__
    if ca is b.__class__:
        if ca is int:
            r = a - b
            if MIN_INT <= r <= MAX_INT:
                return r
            raise CelEvalError("integer overflow")
        if ca is float:
            return a - b
        if ca is Uint:
            return check_uint(a - b)
        if ca is Timedelta:
            return timeutil.sub_durations(a, b)
    ta, tb = type_of(a), type_of(b)
    if ta == tb == INT_TYPE:
        return check_int(a - b)
    if ta == tb == DOUBLE_TYPE:
        return float(a) - float(b)
    if ta == tb == UINT_TYPE:
        return check_uint(a - b)
    if ta == tb == DURATION_TYPE:
        return timeutil.sub_durations(a, b)
    if ta == TIMESTAMP_TYPE and tb == DURATION_TYPE:
        return timeutil.subtract_timestamp(a, b)
    if ta == tb == TIMESTAMP_TYPE:
        return timeutil.sub_timestamps(a, b)
    no_overload("_-_", a, b)


def multiply(a: Any, b: Any) -> Any:
    """CEL ``*``."""
    ca = a.__class__
    if ca is b.__class__:
        if ca is int:
            r = a * b
            if MIN_INT <= r <= MAX_INT:
                return r
            raise CelEvalError("integer overflow")
        if ca is float:
            return a * b
        if ca is Uint:
            return check_uint(a * b)
    ta, tb = type_of(a), type_of(b)
    if ta == tb == INT_TYPE:
        return check_int(a * b)
    if ta == tb == DOUBLE_TYPE:
        return float(a) * float(b)
    if ta == tb == UINT_TYPE:
        return check_uint(a * b)
    no_overload("_*_", a, b)


def _int_divide(a: int, b: int) -> int:
    if b == 0:
        raise CelEvalError("division by zero")
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def divide(a: Any, b: Any) -> Any:
    """CEL ``/``: integer division truncates; doubles follow IEEE 754."""
    ta, tb = type_of(a), type_of(b)
    if ta == tb == INT_TYPE:
        return check_int(_int_divide(a, b))
    if ta == tb == UINT_TYPE:
        return Uint(_int_divide(a, b))
    if ta == tb == DOUBLE_TYPE:
        return float_divide(float(a), float(b))
    no_overload("_/_", a, b)


def float_divide(a: float, b: float) -> float:
    """IEEE 754 division (Python raises on a zero divisor, CEL does not)."""
    if b == 0.0:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def modulo(a: Any, b: Any) -> Any:
    """CEL ``%``: the remainder has the sign of the dividend."""
    ta, tb = type_of(a), type_of(b)
    if ta == tb and ta in (INT_TYPE, UINT_TYPE):
        if b == 0:
            raise CelEvalError("modulus by zero")
        r = abs(a) % abs(b)
        r = -r if a < 0 else r
        return Uint(r) if ta == UINT_TYPE else r
    no_overload("_%_", a, b)


def negate(a: Any) -> Any:
    """CEL unary ``-``."""
    ta = type_of(a)
    if ta == INT_TYPE:
        return check_int(-a)
    if ta == DOUBLE_TYPE:
        return -a
    if ta == DURATION_TYPE:
        return timeutil.negate_duration(a)
    no_overload("-_", a)


def logical_not(a: Any) -> bool:
    """CEL ``!``."""
    if a is True:
        return False
    if a is False:
        return True
    no_overload("!_", a)


# -- containers --------------------------------------------------------------


def map_get(m: Mapping[Any, Any], key: Any) -> tuple[bool, Any]:
    """Look ``key`` up in a CEL map with CEL's key equality: (found, value).

    Numeric keys match across int, uint and integral doubles; a bool never
    matches a number. Raises for keys CEL does not allow in maps.
    """
    c = key.__class__
    if c is str or c is int or c is Uint:
        try:
            value = m[key]
        except KeyError:
            return False, None
        except TypeError:
            raise CelEvalError(f"unhashable map key of type {type_name(key)}") from None
        if not _has_bool_key_collision(m, key):
            return True, value
        return _scan(m, key)
    if c is bool:
        return _scan(m, key)
    if c is float:
        if key.is_integer():
            return map_get(m, int(key))
        return False, None
    if isinstance(key, str | int):
        return map_get(m, _plain_key(key))
    raise CelEvalError(f"unsupported map key type {type_name(key)}")


def _plain_key(key: Any) -> Any:
    if isinstance(key, bool):
        return bool(key)
    if isinstance(key, Uint):
        return Uint(key)
    if isinstance(key, int):
        return int(key)
    return str(key)


def _has_bool_key_collision(m: Mapping[Any, Any], key: Any) -> bool:
    """Did a number key find a bool (True == 1 in Python, not in CEL)?"""
    if key.__class__ is str or key not in (0, 1):
        return False
    return any(k.__class__ is bool for k in m)


def _scan(m: Mapping[Any, Any], key: Any) -> tuple[bool, Any]:
    is_bool = key.__class__ is bool
    for k, v in m.items():
        if (k.__class__ is bool) == is_bool and k == key:
            return True, v
    return False, None


def index(container: Any, key: Any) -> Any:
    """CEL ``container[key]`` for lists and maps."""
    c = container.__class__
    if c is dict or (c is not list and isinstance(container, Mapping)):
        found, value = map_get(container, key)
        if found:
            return value
        raise CelEvalError(f"no such key: {format_key(key)}")
    if c is list or isinstance(container, list | tuple):
        kc = key.__class__
        integral = kc is int or kc is Uint or (kc is not bool and isinstance(key, int))
        if integral or (kc is float and key.is_integer()):
            i = int(key)
        else:
            no_overload("_[_]", container, key)
        if 0 <= i < len(container):
            return container[i]
        raise CelEvalError(f"index {i} out of range for a list of size {len(container)}")
    no_overload("_[_]", container, key)


def contains(container: Any, item: Any) -> bool:
    """CEL ``item in container``."""
    c = container.__class__
    if c is list or c is tuple:
        ic = item.__class__
        if ic is str or ic is bytes:
            return item in container
        return any(equals(item, x) for x in container)
    if c is dict or isinstance(container, Mapping):
        ic = item.__class__
        if ic is str:
            return item in container
        if ic in (int, Uint, bool, float) or isinstance(item, str | int | float):
            return map_get(container, item)[0]
        return False
    if isinstance(container, list | tuple):
        return any(equals(item, x) for x in container)
    no_overload("@in", item, container)


def format_key(key: Any) -> str:
    """A map key as CEL would spell it, for messages."""
    if isinstance(key, str):
        return repr(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if isinstance(key, Uint):
        return f"{int(key)}u"
    return repr(key)


def size(value: Any) -> int:
    """CEL ``size``: code points of a string, bytes, list items, map entries."""
    if isinstance(value, str | bytes | list | tuple) or is_map(value):
        return len(value)
    no_overload("size", value)


# -- conversions -------------------------------------------------------------


def to_int(value: Any) -> int:
    """CEL ``int()``."""
    t = type_of(value)
    if t == INT_TYPE:
        return int(value)
    if t == UINT_TYPE:
        return check_int(int(value))
    if t == DOUBLE_TYPE:
        if not MIN_INT < value < MAX_INT:  # also rejects NaN
            raise CelEvalError(f"int({value!r}) is out of the int64 range")
        return int(value)
    if t == STRING_TYPE:
        return check_int(_parse_int(value, "int"))
    if t == TIMESTAMP_TYPE:
        return timeutil.timestamp_seconds(value)
    if t == BOOL_TYPE:
        return int(value)
    no_overload("int", value)


def to_uint(value: Any) -> Uint:
    """CEL ``uint()``."""
    t = type_of(value)
    if t in (INT_TYPE, UINT_TYPE):
        return check_uint(int(value))
    if t == DOUBLE_TYPE:
        if not -1 < value < MAX_UINT + 1:
            raise CelEvalError(f"uint({value!r}) is out of the uint64 range")
        return Uint(int(value))
    if t == STRING_TYPE:
        return check_uint(_parse_int(value, "uint"))
    if t == BOOL_TYPE:
        return Uint(int(value))
    no_overload("uint", value)


def _parse_int(text: str, fn: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        raise CelEvalError(f"{fn}({text!r}): not an integer")
    return int(text)


_FLOAT_WORDS = {
    "nan": math.nan,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
}


def to_double(value: Any) -> float:
    """CEL ``double()``."""
    t = type_of(value)
    if t in (INT_TYPE, UINT_TYPE, DOUBLE_TYPE):
        return float(value)
    if t == STRING_TYPE:
        special = _FLOAT_WORDS.get(value.lower())
        if special is not None:
            return special
        if "_" in value or not value.isascii():
            raise CelEvalError(f"double({value!r}): not a number")
        try:
            return float(value)
        except ValueError:
            raise CelEvalError(f"double({value!r}): not a number") from None
    no_overload("double", value)


def format_double(value: float) -> str:
    """A double as Go's ``%g`` with the shortest precision (cel-go's ``string()``)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    _, digit_tuple, exponent = decimal.Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len(digit_tuple) - len(digits)
    exp = len(digits) - 1 + exponent  # scientific exponent
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:  # Go: shortest %g switches to %e at 1e6
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def to_string(value: Any) -> str:
    """CEL ``string()``."""
    t = type_of(value)
    if t == STRING_TYPE:
        return str(value)
    if t in (INT_TYPE, UINT_TYPE):
        return str(int(value))
    if t == DOUBLE_TYPE:
        return format_double(value)
    if t == BYTES_TYPE:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise CelEvalError("string(bytes): the bytes are not valid UTF-8") from None
    if t == BOOL_TYPE:
        return "true" if value else "false"
    if t == TIMESTAMP_TYPE:
        return timeutil.format_timestamp(value)
    if t == DURATION_TYPE:
        return timeutil.format_duration(value)
    if t == TYPE_TYPE:
        return str(value.name)
    no_overload("string", value)


def to_bytes(value: Any) -> bytes:
    """CEL ``bytes()``."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    no_overload("bytes", value)


_BOOL_WORDS = {
    "1": True,
    "t": True,
    "true": True,
    "TRUE": True,
    "True": True,
    "0": False,
    "f": False,
    "false": False,
    "FALSE": False,
    "False": False,
}


def to_bool(value: Any) -> bool:
    """CEL ``bool()``."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        if value in _BOOL_WORDS:
            return _BOOL_WORDS[value]
        raise CelEvalError(f"bool({value!r}): not a boolean")
    no_overload("bool", value)


def to_timestamp(value: Any) -> Datetime:
    """CEL ``timestamp()``."""
    if isinstance(value, Datetime):
        return value
    if isinstance(value, str):
        return timeutil.parse_timestamp(value)
    if is_int(value):
        return timeutil.timestamp_from_seconds(value)
    no_overload("timestamp", value)


def to_duration(value: Any) -> Timedelta:
    """CEL ``duration()``."""
    if isinstance(value, Timedelta):
        return value
    if isinstance(value, str):
        return timeutil.parse_duration(value)
    if is_int(value):
        return timeutil.duration_from_seconds(value)
    no_overload("duration", value)


CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "int": to_int,
    "uint": to_uint,
    "double": to_double,
    "string": to_string,
    "bytes": to_bytes,
    "bool": to_bool,
    "timestamp": to_timestamp,
    "duration": to_duration,
    "type": type_of,
    "dyn": lambda value: value,
}
