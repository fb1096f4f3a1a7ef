"""Dependency filters with Argo Events' semantics, and an account of every decision.

A :class:`DependencyFilter` is compiled once per dependency from its
``filters`` spec and then applied to each event of that dependency. It always
returns a :class:`FilterResult` listing one :class:`Clause` per filter clause
with the value it saw, so the same code explains a decision (``herald test``,
the log line of a rejected event) and makes it.

Semantics (Argo's ``pkg/sensors/dependencies/filter.go``):

- ``data``: the value at a gjson path of the event data; a missing path is an
  error. ``value`` lists alternatives (any may match). ``string`` values are
  unanchored regular expressions matched against the value's string form
  (comparator ``=``/empty, or ``!=`` for "matches none"); ``number`` compares
  as floats with ``>=, >, =, !=, <, <=``; ``bool`` parses each value as Go's
  ``strconv.ParseBool``. A ``template`` (Go template + sprig, ``.Input`` =
  the value's string form) rewrites the value first; its output is compared
  as a string (an empty or ``<no value>`` output is an error). Several data
  filters combine by ``dataLogicalOperator`` (default and).
- ``exprs``: govaluate expressions, translated to CEL once
  (:mod:`sensors.exprs`); each ``fields`` entry binds a name to the value at a
  gjson path (a missing path is an error for that expression; numbers are
  floats, as in Go). An expression passes when it gives ``true`` (any other
  value fails, as in Argo). ``exprLogicalOperator`` and: every expression must
  pass and an error rejects; or: the first that passes wins, errors are
  reported. The clause shows the bound values and the CEL translation.
- ``script``: a Lua script (lupa, sandboxed, see :mod:`sensors.transform`)
  with the data as the global table ``event``; its last returned value must
  be ``true``. A script error is an error of that clause (the data must be a
  JSON object).
- ``context``: exact equality of the non-empty ``type``, ``subject``,
  ``source`` and ``datacontenttype``.
- ``time``: the event's time falls in the daily window ``[start, stop)`` in the
  filter's timezone (UTC by default); ``stop`` before ``start`` wraps midnight.
- ``cel`` (Herald's): one CEL boolean over the data's top-level keys, ``data``
  and ``event`` (the context attributes).
- The kinds that are set combine by ``filtersLogicalOperator``: ``and`` needs
  every kind to pass and an error rejects; ``or`` passes when any kind passes.
  Unlike Argo, an error in one alternative does not veto another that passed
  (Argo rejects the event then, always so for a script error); the error is
  still reported. Within one kind, ``or`` passes on the first clause that
  passes, and errors of the others do not count then (as in Argo).
- When the event has no data, data, exprs and script filters pass, as in Argo.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bus.event import Event
from herald.core import gotemplate
from herald.core.errors import ConfigError
from herald.core.jsonpath import MISSING, PathError, compile_path, get
from sensors import cel
from sensors.exprs import TranslationError, govaluate_activation, govaluate_to_cel
from sensors.spec import (
    DataFilter,
    EventContext,
    EventDependency,
    EventDependencyFilter,
    ExprFilter,
    TimeFilter,
)
from sensors.transform import LuaScriptError, check_lua, lua_returns_true

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GJSON_TRUE = frozenset({"1", "t", "true"})
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Clause:
    """The outcome of one filter clause on one event."""

    label: str
    passed: bool
    seen: Any
    detail: str
    error: bool = False

    def describe(self) -> str:
        mark = "error" if self.error else ("pass" if self.passed else "fail")
        return f"{self.label}: {mark} ({self.detail})"


@dataclass(frozen=True, slots=True)
class FilterResult:
    """Whether the event passed, and the clauses that decided it."""

    passed: bool
    clauses: tuple[Clause, ...]

    def reason(self) -> str:
        """Why the event was rejected: the clauses that failed or erred."""
        bad = [c.describe() for c in self.clauses if not c.passed or c.error]
        return "; ".join(bad) if bad else "passed"


_ACCEPT_ALL = FilterResult(True, ())


def go_string(value: Any) -> str:
    """A JSON value as gjson's ``Result.String()`` renders it."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value).decode()


def _go_float(value: Any) -> float:
    """gjson's ``Result.Float()``: numbers as they are, numeric strings parsed, else 0."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return 0.0
    return 0.0


def _go_bool(value: Any) -> bool:
    """gjson's ``Result.Bool()``: strings parse as ``strconv.ParseBool`` of their lower case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.lower() in _GJSON_TRUE
    return False


Check = Callable[[Event], Clause]


def _data_check(index: int, spec: DataFilter) -> Check:
    label = f"data[{index}] {spec.path}"
    try:
        compile_path(spec.path)
    except PathError as e:
        raise ConfigError(str(e), path=f"filters.data[{index}].path") from e
    template: gotemplate.Template | None = None
    if spec.template:
        try:
            template = gotemplate.compile(spec.template)
        except gotemplate.TemplateError as e:
            raise ConfigError(
                f"not a valid Go template: {e}", path=f"filters.data[{index}].template"
            ) from e
    path = spec.path
    negate = spec.comparator == "!="
    if spec.type == "string":
        try:
            patterns = [re.compile(v) for v in spec.value]
        except re.error as e:
            raise ConfigError(
                f"not a valid regular expression: {e}", path=f"filters.data[{index}].value"
            ) from e

        def compare(found: Any) -> tuple[bool, str]:
            text = go_string(found)
            for pat in patterns:
                hit = pat.search(text) is not None
                if hit != negate:
                    return True, f"{'does not match' if negate else 'matches'} {pat.pattern!r}"
            return False, f"{'matches' if negate else 'matches none of'} {spec.value!r}"

    elif spec.type == "number":
        wanted = [float(v) for v in spec.value]
        op = _NUMBER_OPS[spec.comparator or "="]
        sign = spec.comparator or "="

        def compare(found: Any) -> tuple[bool, str]:
            number = _go_float(found)
            for w in wanted:
                if op(number, w):
                    return True, f"{number:g} {sign} {w:g}"
            return False, f"not {sign} any of {spec.value!r}"

    else:
        wanted_bools = [v in _GO_TRUE for v in spec.value]

        def compare(found: Any) -> tuple[bool, str]:
            actual = _go_bool(found)
            hit = actual in wanted_bools
            return hit, f"{'is' if hit else 'is not'} one of {spec.value!r}"

    def check(event: Event) -> Clause:
        if event.data is None:
            return Clause(label, True, None, "event has no data")
        found = get(event.data, path)
        if found is MISSING:
            return Clause(label, False, None, f"path {path!r} does not exist", error=True)
        if template is not None:
            try:
                found = template.render({"Input": go_string(found)})
            except gotemplate.TemplateError as e:
                return Clause(label, False, found, f"template failed: {e}", error=True)
            if found in ("", gotemplate.NO_VALUE):
                return Clause(
                    label, False, found, f"template gave {found!r}, which counts as no value", True
                )
        ok, detail = compare(found)
        if template is not None:
            detail = f"template gave {found!r}: {detail}"
        return Clause(label, ok, found, detail)

    return check


_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _expr_check(index: int, spec: ExprFilter) -> Check:
    names = [f.name for f in spec.fields]
    label = f"exprs[{index}]"
    for i, binding in enumerate(spec.fields):
        try:
            compile_path(binding.path)
        except PathError as e:
            raise ConfigError(str(e), path=f"filters.exprs[{index}].fields[{i}].path") from e
    try:
        translated = govaluate_to_cel(spec.expr, names)
    except TranslationError as e:
        raise ConfigError(e.reason, path=f"filters.exprs[{index}].expr") from e
    program = cel.compile(translated)
    detail = f"{spec.expr} (CEL: {translated})"
    bindings = [(f.name, f.path) for f in spec.fields]

    def check(event: Event) -> Clause:
        if event.data is None:
            return Clause(label, True, None, "event has no data")
        values: dict[str, Any] = {}
        for name, path in bindings:
            found = get(event.data, path)
            if found is MISSING:
                return Clause(label, False, values, f"path {path!r} does not exist", error=True)
            values[name] = found
        try:
            result = program.evaluate(govaluate_activation(values))
        except cel.CelError as e:
            return Clause(label, False, values, f"{detail}: {e}", error=True)
        return Clause(label, result is True, values, detail)

    return check


def _script_check(script: str) -> Check:
    check_lua(script, "filters.script")
    label = "script"

    def check(event: Event) -> Clause:
        if event.data is None:
            return Clause(label, True, None, "event has no data")
        if not isinstance(event.data, Mapping):
            return Clause(label, False, None, "event data is not a JSON object", error=True)
        try:
            ok = lua_returns_true(script, event.data)
        except LuaScriptError as e:
            return Clause(label, False, None, f"script failed: {e}", error=True)
        return Clause(label, ok, ok, "returned true" if ok else "did not return true")

    return check


def _context_checks(spec: EventContext) -> list[Check]:
    checks: list[Check] = []
    for attr in ("type", "subject", "source", "datacontenttype"):
        wanted = getattr(spec, attr)
        if wanted:
            checks.append(_context_check(attr, wanted))
    return checks


def _context_check(attr: str, wanted: str) -> Check:
    label = f"context.{attr}"

    def check(event: Event) -> Clause:
        actual = getattr(event, attr)
        ok = actual == wanted
        return Clause(label, ok, actual, f"{'==' if ok else '!='} {wanted!r}")

    return check


def _time_check(spec: TimeFilter) -> Check:
    zone = ZoneInfo(spec.timezone) if spec.timezone else _UTC
    start, stop = time.fromisoformat(spec.start), time.fromisoformat(spec.stop)
    wraps = not start < stop
    label = f"time [{spec.start}, {spec.stop}) {zone.key}"

    def check(event: Event) -> Clause:
        local = event.time.astimezone(zone).time().replace(tzinfo=None)
        ok = (start <= local or local < stop) if wraps else (start <= local < stop)
        return Clause(label, ok, local.isoformat(), "inside window" if ok else "outside window")

    return check


def cel_activation(event: Event, references: frozenset[str]) -> dict[str, Any]:
    """Variables of a dependency's CEL filter: data's top-level keys, ``data``, ``event``."""
    data = event.data
    act: dict[str, Any] = dict(data) if isinstance(data, Mapping) else {}
    act["data"] = data
    if "event" in references:
        act["event"] = event.context()
    return act


def _cel_check(expression: str) -> Check:
    try:
        program = cel.compile(expression)
    except cel.CelError as e:
        raise ConfigError(str(e), path="filters.cel") from e
    refs = program.references
    label = "cel"

    def check(event: Event) -> Clause:
        try:
            value = program.evaluate(cel_activation(event, refs))
        except cel.CelError as e:
            return Clause(label, False, None, f"{expression}: {e}", error=True)
        if not isinstance(value, bool):
            return Clause(
                label, False, value, f"{expression}: gave {type(value).__name__}, not a bool", True
            )
        return Clause(label, value, value, expression)

    return check


@dataclass(frozen=True, slots=True)
class _Group:
    """The clauses of one filter kind and how they combine (and / or)."""

    checks: tuple[Check, ...]
    any_of: bool

    def run(self, event: Event, out: list[Clause]) -> tuple[bool, bool]:
        """(passed, erred) for this kind; clauses are appended to ``out``.

        Under ``or`` a passing clause makes the kind pass without error, as in
        Argo (errors of the other clauses stay in ``out`` for the account).
        """
        erred = False
        results = []
        for check in self.checks:
            clause = check(event)
            out.append(clause)
            erred = erred or clause.error
            results.append(clause.passed and not clause.error)
            if self.any_of and results[-1]:
                return True, False
            if not self.any_of and not results[-1]:
                return False, erred
        return (any(results) if self.any_of else all(results)), erred


class DependencyFilter:
    """The compiled filters of one dependency."""

    __slots__ = ("_any_of", "_groups", "dependency")

    def __init__(self, dependency: EventDependency) -> None:
        self.dependency = dependency.name
        spec = dependency.filters
        self._any_of = dependency.filters_logical_operator == "or"
        self._groups: tuple[_Group, ...] = _compile(spec) if spec is not None else ()

    @property
    def empty(self) -> bool:
        return not self._groups

    def apply(self, event: Event) -> FilterResult:
        """Decide whether ``event`` passes this dependency's filters, with every clause."""
        if not self._groups:
            return _ACCEPT_ALL
        clauses: list[Clause] = []
        outcomes = [group.run(event, clauses) for group in self._groups]
        if self._any_of:
            passed = any(ok for ok, _ in outcomes)
        else:
            passed = all(ok and not erred for ok, erred in outcomes)
        return FilterResult(passed, tuple(clauses))


def _compile(spec: EventDependencyFilter) -> tuple[_Group, ...]:
    groups: list[_Group] = []
    if spec.exprs:
        checks = tuple(_expr_check(i, f) for i, f in enumerate(spec.exprs))
        groups.append(_Group(checks, spec.expr_logical_operator == "or"))
    if spec.data:
        checks = tuple(_data_check(i, f) for i, f in enumerate(spec.data))
        groups.append(_Group(checks, spec.data_logical_operator == "or"))
    if spec.context is not None:
        groups.append(_Group(tuple(_context_checks(spec.context)), False))
    if spec.time is not None:
        groups.append(_Group((_time_check(spec.time),), False))
    if spec.script:
        groups.append(_Group((_script_check(spec.script),), False))
    if spec.cel is not None:
        groups.append(_Group((_cel_check(spec.cel),), False))
    return tuple(groups)


def now_utc() -> datetime:
    """The current time; a seam for tests of time windows."""
    from bus.event import now

    return now()
