"""Dependency transforms with real jq and Lua: Argo's rules, failures, and the Lua sandbox."""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from bus.event import Event
from herald.core.errors import ConfigError
from sensors.spec import EventDependencyTransformer
from sensors.transform import (
    LUA_MAX_MEMORY,
    LuaScriptError,
    TransformError,
    compile_transform,
    lua_result,
    lua_returns_true,
)

DATA: dict[str, Any] = {
    "header": {"X-Github-Event": ["push"]},
    "body": {
        "message": "hello",
        "count": 3,
        "ratio": 0.5,
        "items": [{"name": "a"}, {"name": "b"}],
        "tags": ["x", None, "y"],
        "nothing": None,
        "flag": True,
    },
}


def _event(data: Any = DATA) -> Event:
    return Event(id="ev-7", source="webhook", type="webhook", subject="example", data=data)


def _transform(**spec: str) -> Any:
    return compile_transform(EventDependencyTransformer.model_validate(spec))


# ------------------------------------------------------------------------- jq


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (".", DATA),
        ("{message: .body.message, n: (.body.items | length)}", {"message": "hello", "n": 2}),
        (".body", DATA["body"]),
        (".body.message |= ascii_upcase | {m: .body.message}", {"m": "HELLO"}),
        ("{names: [.body.items[].name]}", {"names": ["a", "b"]}),
        (
            ".body | del(.items, .tags, .nothing)",
            {"message": "hello", "count": 3, "ratio": 0.5, "flag": True},
        ),
        ("(.body.items[] | {n: .name})", {"n": "a"}),  # only the first output counts
    ],
)
def test_jq_first_output_replaces_the_data(program: str, expected: Any) -> None:
    event = _event()
    out = _transform(jq=program).apply(event)
    assert out.data == expected
    assert (out.id, out.source, out.subject, out.type, out.time) == (
        event.id,
        event.source,
        event.subject,
        event.type,
        event.time,
    )
    assert event.data is DATA  # the original event is intact
    assert DATA["body"]["message"] == "hello"


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (".body.items", "first output is a array; it must be a JSON object"),
        (".body.message", "first output is a string"),
        ("empty", "produced no output"),
        ('error("boom")', "jq failed: boom"),
        (".body.message + 1", "jq failed"),
    ],
)
def test_jq_failures_name_the_event_and_the_reason(program: str, message: str) -> None:
    with pytest.raises(TransformError) as info:
        _transform(jq=program).apply(_event())
    assert message in str(info.value)
    assert "jq transform of event ev-7" in str(info.value)


def test_a_jq_syntax_error_is_a_config_error_with_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        _transform(jq=".a | ")
    assert info.value.path == "transform.jq"


def test_events_without_data_pass_through_and_non_objects_are_refused() -> None:
    transform = _transform(jq="{a: 1}")
    empty = _event(None)
    assert transform.apply(empty) is empty
    with pytest.raises(TransformError, match="not a JSON object"):
        transform.apply(_event([1, 2]))


# ------------------------------------------------------------------------ Lua


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        # Argo's documented transforms (docs/sensors/transform.md)
        # nulls cannot live in Lua tables: they are left out, as in Argo
        (
            "event.body.message='updated'\nreturn event",
            {
                **DATA,
                "body": {
                    **{k: v for k, v in DATA["body"].items() if v is not None},
                    "message": "updated",
                    "tags": ["x", "y"],
                },
            },
        ),
        (
            "event.env = setmetatable({}, { __is_array = true })\nreturn {env = event.env}",
            {"env": []},
        ),
        ("return {n = event.body.count * 2, r = event.body.ratio}", {"n": 6, "r": 0.5}),
        (
            "return {first = event.body.items[1].name, size = #event.body.items}",
            {"first": "a", "size": 2},
        ),
        ("return {1, 2, 3}", [1, 2, 3]),
        ("return {}", {}),
        ("return {[1] = 'a', [2] = 'b', x = 'ignored'}", ["a", "b"]),
        ("return {[true] = 1, [2.5] = 2}", {"true": 1, "2.5": 2}),
        (
            "return {up = string.upper(event.body.message), t = type(event.body.nothing)}",
            {"up": "HELLO", "t": "nil"},
        ),
        (
            "local t = {}\nfor k, v in pairs(event.header) do t[#t + 1] = k end\nreturn {keys = t}",
            {"keys": ["X-Github-Event"]},
        ),
        ("return {now = os.time() > 0}", {"now": True}),
    ],
)
def test_lua_returned_table_is_the_new_data(script: str, expected: Any) -> None:
    out = _transform(script=script).apply(_event())
    assert out.data == expected
    assert DATA["body"]["message"] == "hello"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("return 5", "the script returned number; it must return a table"),
        ("event.x = 1", "the script returned null"),
        ("error('nope')", "line 1: nope"),
        ("return event.missing.field", "attempt to index field 'missing'"),
        ("local t = {}\nt.self = t\nreturn t", "nests deeper"),
        ("return {f = function() end}", "Lua function"),
        ("return {n = 0/0}", "JSON cannot carry"),
        ("while true do end", "exceeded its limit of"),
        ("while true do pcall(function() while true do end end) end", "exceeded its limit of"),
        (
            "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 2^20) .. i end\nreturn t",
            f"more than {LUA_MAX_MEMORY} bytes",
        ),
    ],
)
def test_lua_failures_and_limits_are_transform_errors(script: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransformError) as info:
        _transform(script=script).apply(_event())
    assert message in str(info.value)
    assert "script transform of event ev-7" in str(info.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "name",
    [
        "io",
        "debug",
        "require",
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "package",
        "module",
        "collectgarbage",
        "getfenv",
        "setfenv",
        "coroutine",
        "python",
        "print",
        "newproxy",
    ],
)
def test_the_lua_sandbox_removes_unsafe_globals(name: str) -> None:
    assert lua_result(f"return {{present = {name} ~= nil}}", {}) == {"present": False}


def test_the_lua_sandbox_keeps_only_safe_os_and_string_functions() -> None:
    assert lua_result(
        "return {exec = os.execute == nil, getenv = os.getenv == nil, remove = os.remove == nil,"
        " time = os.time ~= nil, dump = string.dump == nil, fmt = string.format('%d', 3)}",
        {},
    ) == {"exec": True, "getenv": True, "remove": True, "time": True, "dump": True, "fmt": "3"}


def test_each_run_starts_from_a_fresh_runtime() -> None:
    lua_result("leaked = 1\nstring.upper = nil\nreturn {}", {})
    assert lua_result("return {leaked = leaked == nil, upper = string.upper('a')}", {}) == {
        "leaked": True,
        "upper": "A",
    }


def test_script_filters_need_exactly_true() -> None:
    assert lua_returns_true('return event.body.message == "hello"', DATA)
    assert not lua_returns_true('return event.body.message == "bye"', DATA)
    assert not lua_returns_true("return 1", DATA)
    assert not lua_returns_true("return true, false", DATA)  # the last value counts
    assert not lua_returns_true("local x = 1", DATA)
    with pytest.raises(LuaScriptError, match="boom"):
        lua_returns_true("error('boom')", DATA)


def test_a_lua_syntax_error_is_a_config_error_with_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        _transform(script="return +")
    assert info.value.path == "transform.script"
    assert "not valid Lua" in str(info.value)


def test_a_missing_lua_binding_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lupa.lua51", None)
    with pytest.raises(ImportError, match=r"pip install 'herald\[lua\]'"):
        _transform(script="return event")


def test_a_missing_jq_binding_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jq", None)
    with pytest.raises(ImportError, match=r"pip install 'herald\[jq\]'"):
        _transform(jq=".")


def test_jq_wins_over_script_as_in_argo() -> None:
    spec = EventDependencyTransformer.model_construct(jq="{a: 1}", script="return {b = 2}")
    assert compile_transform(spec).apply(_event()).data == {"a": 1}
