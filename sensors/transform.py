"""Dependency transforms (jq or Lua) and the sandboxed Lua runtime they share with filters.

Argo applies a dependency's ``transform`` to each event before its filters
(``pkg/sensors/dependencies/transform.go``): a ``jq`` program whose first
output must be a JSON object, or a Lua ``script`` that sees the data as the
global table ``event`` and returns the new data as a table. The result
replaces the event's data for that dependency only. Herald does the same:

    transform = compile_transform(dependency.transform)   # ConfigError on a bad program
    event = transform.apply(event)                          # TransformError on failure

:meth:`Transform.apply` returns a new :class:`~bus.event.Event` (same id and
attributes, new data); the original is never touched, since event data is
shared and read-only. An event without data passes through unchanged, as in
Argo. On :class:`TransformError` the caller drops the event for that
dependency and logs the message, which names what failed.

Lua runs in a fresh, sandboxed runtime per call (lupa, Lua 5.1 like Argo's
gopher-lua): no ``io``, ``os`` (except ``time``, ``date``, ``clock``,
``difftime``), ``debug``, ``require``, ``load*``, ``dofile``, ``coroutine``,
``collectgarbage`` or Python bridge; at most :data:`LUA_MAX_MEMORY` bytes and
:data:`LUA_MAX_INSTRUCTIONS` VM instructions or :data:`LUA_MAX_SECONDS` of CPU
time (a count hook every 1000 instructions; once a limit is hit every further
instruction fails, so ``pcall`` cannot outlast it).
Known limits: a single C library call (``string.find`` with a pathological
pattern on a long string) is not interrupted by the hook, and jq programs have
neither a time nor a memory limit (the jq library offers none); both come from
the manifest, not from events.

Conversions follow Argo's: JSON objects and arrays become Lua tables (arrays
1-based, ``null`` entries left out, as gopher-lua tables cannot hold nil);
back from Lua, a table whose ``#`` length is positive (or whose metatable has
``__is_array = true``) is an array, any other table an object, integral
numbers are integers (Go writes a whole float64 without a fraction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from bus.event import Event
from herald.core.errors import ConfigError, HeraldError

if TYPE_CHECKING:
    from sensors.spec import EventDependencyTransformer

__all__ = [
    "LUA_MAX_INSTRUCTIONS",
    "LUA_MAX_MEMORY",
    "LUA_MAX_SECONDS",
    "LuaScriptError",
    "Transform",
    "TransformError",
    "check_lua",
    "compile_transform",
    "run_lua",
]

LUA_MAX_MEMORY: Final = 64 * 1024 * 1024
LUA_MAX_INSTRUCTIONS: Final = 10_000_000
LUA_MAX_SECONDS: Final = 1.0
_MAX_DEPTH: Final = 100


class TransformError(HeraldError):
    """A transform failed on one event; the event is dropped for that dependency."""


class LuaScriptError(HeraldError):
    """A Lua script failed to run (error, limit, or a result that cannot be used)."""


def _lupa() -> Any:
    try:
        import lupa.lua51 as lupa51  # type: ignore[import-untyped]
    except ImportError as e:
        raise ImportError(
            "Lua scripts (filters.script, transform.script) need the lupa package: "
            "pip install 'herald[lua]'"
        ) from e
    return lupa51


# Run once per runtime, before the user's script: installs the instruction limit,
# a table inspector for conversions, and takes the unsafe globals away.
_SANDBOX = """
local budget, seconds = ...
local sethook, error, clock, getmetatable = debug.sethook, error, os.clock, getmetatable
local step, used, started = 1000, 0, clock()
local function stop(why)
  sethook(function() error(why, 0) end, "", 1)
  error(why, 0)
end
sethook(function()
  used = used + step
  if used > budget then
    stop("the script exceeded its limit of " .. budget .. " instructions")
  elseif clock() - started > seconds then
    stop("the script exceeded its limit of " .. seconds .. " s of CPU time")
  end
end, "", step)
local safe_os = { time = os.time, date = os.date, clock = os.clock, difftime = os.difftime }
for _, name in ipairs({ "io", "os", "debug", "require", "dofile", "loadfile", "load",
    "loadstring", "package", "module", "collectgarbage", "getfenv", "setfenv",
    "newproxy", "gcinfo", "coroutine", "print", "python" }) do
  _G[name] = nil
end
string.dump = nil
_G.os = safe_os
return function(t)
  local mt = getmetatable(t)
  local forced = type(mt) == "table" and mt.__is_array == true
  return #t, forced
end
"""


class _LuaRun:
    """One sandboxed Lua runtime, used for a single script run."""

    def __init__(self) -> None:
        lupa51 = _lupa()
        self.lupa = lupa51
        self.runtime = lupa51.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=LUA_MAX_MEMORY,
        )
        self.inspect = self.runtime.execute(_SANDBOX, LUA_MAX_INSTRUCTIONS, LUA_MAX_SECONDS)

    def to_lua(self, value: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise LuaScriptError(f"event data nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            table = self.runtime.table()
            for key, item in value.items():
                if item is not None:
                    table[str(key)] = self.to_lua(item, depth + 1)
            return table
        if isinstance(value, list | tuple):
            table = self.runtime.table()
            index = 1
            for item in value:
                if item is not None:
                    table[index] = self.to_lua(item, depth + 1)
                    index += 1
            return table
        return value

    def to_python(self, value: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise LuaScriptError(
                f"the script's result nests deeper than {_MAX_DEPTH} levels (a cycle?)"
            )
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise LuaScriptError(f"the script's result holds {value}, which JSON cannot carry")
            return int(value) if value.is_integer() and abs(value) < 2**63 else value
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if self.lupa.lua_type(value) == "table":
            length, forced = self.inspect(value)
            if length > 0 or forced:
                return [self.to_python(value[i], depth + 1) for i in range(1, length + 1)]
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                out[str(key).lower() if isinstance(key, bool) else str(key)] = self.to_python(
                    item, depth + 1
                )
            return out
        raise LuaScriptError(
            f"the script's result holds a Lua {self.lupa.lua_type(value)}, which JSON cannot carry"
        )


def check_lua(script: str, path: str) -> None:
    """Raise :class:`ConfigError` at ``path`` when ``script`` is not valid Lua."""
    lupa51 = _lupa()
    runtime = lupa51.LuaRuntime(register_eval=False, register_builtins=False)
    try:
        runtime.compile(script)
    except lupa51.LuaSyntaxError as e:
        raise ConfigError(f"not valid Lua: {_lua_message(e)}", path=path) from e


def _lua_message(error: BaseException) -> str:
    text = str(error).split("\nstack traceback:", 1)[0].strip()
    return text.replace('[string "<python>"]:', "line ") or type(error).__name__


def run_lua(script: str, data: Any) -> tuple[Any, Any]:
    """Run ``script`` with the global ``event`` = ``data``; return (its last value, converter).

    The converter turns a returned Lua table into JSON-shaped Python values
    (call it before the next run). Raises :class:`LuaScriptError` when the script
    fails, runs out of memory or instructions.
    """
    run = _LuaRun()
    lupa51 = run.lupa
    try:
        run.runtime.globals().event = run.to_lua(data)
        result = run.runtime.execute(script)
    except lupa51.LuaMemoryError as e:
        raise LuaScriptError(f"the script used more than {LUA_MAX_MEMORY} bytes of memory") from e
    except lupa51.LuaError as e:
        raise LuaScriptError(_lua_message(e)) from e
    if isinstance(result, tuple):
        result = result[-1] if result else None
    return result, run


def lua_result(script: str, data: Any) -> Any:
    """The script's last returned value as JSON-shaped Python data."""
    result, run = run_lua(script, data)
    try:
        return run.to_python(result)
    except run.lupa.LuaError as e:
        raise LuaScriptError(_lua_message(e)) from e


def lua_returns_true(script: str, data: Any) -> bool:
    """Whether the script's last returned value is exactly ``true`` (Argo's filter rule)."""
    result, _run = run_lua(script, data)
    return result is True


class Transform:
    """A dependency's compiled transform; :meth:`apply` it to each event."""

    __slots__ = ("_apply", "kind", "program")

    def __init__(self, kind: str, program: str, apply: Any) -> None:
        self.kind = kind
        self.program = program
        self._apply = apply

    def apply(self, event: Event) -> Event:
        """A new event carrying the transformed data; raise :class:`TransformError`."""
        if event.data is None:
            return event
        if not isinstance(event.data, Mapping):
            raise TransformError(
                f"{self.kind} transform of event {event.id}: the data is a "
                f"{type(event.data).__name__}, not a JSON object"
            )
        try:
            data = self._apply(event.data)
        except (LuaScriptError, _JqFailure) as e:
            raise TransformError(f"{self.kind} transform of event {event.id}: {e}") from e
        return dataclasses.replace(event, data=data)


class _JqFailure(Exception):
    pass


def _compile_jq(program: str) -> Transform:
    try:
        import jq  # type: ignore[import-not-found]
    except ImportError as e:
        raise ImportError("jq transforms need the jq package: pip install 'herald[jq]'") from e
    try:
        compiled = jq.compile(program)
    except ValueError as e:
        raise ConfigError(f"not a valid jq program: {e}", path="transform.jq") from e

    def apply(data: Any) -> Any:
        try:
            outputs = compiled.input_text(orjson.dumps(data).decode())
            result = next(iter(outputs), _NO_OUTPUT)
        except ValueError as e:
            raise _JqFailure(f"jq failed: {e}") from e
        if result is _NO_OUTPUT:
            raise _JqFailure("the jq program produced no output")
        if not isinstance(result, dict):
            raise _JqFailure(
                f"the jq program's first output is a {_json_kind(result)}; it must be a JSON object"
            )
        return result

    return Transform("jq", program, apply)


_NO_OUTPUT: Final = object()


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _compile_lua(script: str) -> Transform:
    check_lua(script, "transform.script")

    def apply(data: Any) -> Any:
        result = lua_result(script, data)
        if not isinstance(result, dict | list):
            raise LuaScriptError(
                f"the script returned {_json_kind(result)}; it must return a table (the new data)"
            )
        return result

    return Transform("script", script, apply)


def compile_transform(spec: EventDependencyTransformer) -> Transform:
    """Compile a dependency's ``transform``; raise :class:`ConfigError` with the field path.

    ``jq`` wins over ``script`` when both are set, as in Argo.
    """
    if spec.jq:
        return _compile_jq(spec.jq)
    if spec.script:
        return _compile_lua(spec.script)
    raise ConfigError("transform needs a jq program or a Lua script", path="transform")
