"""Run the cel-spec conformance suite (typed JSON under ../shared/testdata/cel-spec).

Every runnable case of every file is compiled and evaluated; the pass rate of each
file is printed (and shown in pytest's terminal summary), and the test fails when
the pass rate over the "core" files, the ones that matter for event filters, drops
below a floor set just under what the engine reaches.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest

from sensors import cel
from sensors.cel import timeutil
from tests.cel.conftest import CONFORMANCE_REPORT

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "cel-spec"
CORE = (
    "basic",
    "comparisons",
    "conversions",
    "fields",
    "integer_math",
    "lists",
    "logic",
    "macros",
    "parse",
    "string",
    "string_ext",
    "timestamps",
)
CORE_FLOOR = 0.995


def to_python(typed: dict[str, Any]) -> Any:
    """Turn a typed testdata value into the Python value an activation would carry."""
    ((kind, raw),) = typed.items()
    if kind == "null":
        return None
    if kind in ("bool", "string"):
        return raw
    if kind == "int":
        return int(raw)
    if kind == "uint":
        return cel.Uint(int(raw))
    if kind == "double":
        return float(raw)
    if kind == "bytes":
        return base64.b64decode(raw)
    if kind == "list":
        return [to_python(v) for v in raw]
    if kind == "map":
        return {to_python(k): to_python(v) for k, v in raw}
    if kind == "type":
        return cel.CelType(raw)
    if kind == "timestamp_ns":
        return timeutil.from_timestamp_ns(int(raw))
    if kind == "duration_ns":
        return timeutil.from_duration_ns(int(raw))
    raise ValueError(f"unknown typed value kind {kind!r}")


def canonical(value: Any) -> Any:
    """A hashable, type-tagged form of a Python CEL value, for strict comparison."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, cel.Uint):
        return ("uint", int(value))
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("double", "NaN" if math.isnan(value) else value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, bytes):
        return ("bytes", value)
    if isinstance(value, list):
        return ("list", tuple(canonical(v) for v in value))
    if isinstance(value, dict):
        return ("map", frozenset((canonical(k), canonical(v)) for k, v in value.items()))
    if isinstance(value, cel.CelType):
        return ("type", value.name)
    if isinstance(value, datetime.datetime):
        return ("timestamp", timeutil.timestamp_ns(value))
    if isinstance(value, datetime.timedelta):
        return ("duration", timeutil.duration_ns(value))
    return ("other", repr(value))


def run_case(case: dict[str, Any]) -> tuple[bool, str]:
    """Compile and evaluate one case; return (passed, why-not)."""
    try:
        bindings = {k: to_python(v) for k, v in case.get("bindings", {}).items()}
        expected = None if case.get("expect_error") else to_python(case["expect"])
    except (ValueError, KeyError) as e:
        return False, f"unreadable case: {e}"
    try:
        result = cel.compile(case["expr"]).evaluate(bindings)
    except cel.CelError as e:
        if case.get("expect_error"):
            return True, ""
        return False, f"unexpected error: {e}"
    except Exception as e:  # noqa: BLE001 - an engine bug is a failed case, not a crash
        return False, f"crash: {type(e).__name__}: {e}"
    if case.get("expect_error"):
        return False, f"expected an error, got {result!r}"
    if canonical(result) != canonical(expected):
        return False, f"expected {expected!r}, got {result!r}"
    return True, ""


def run_file(path: Path) -> tuple[int, int, list[str]]:
    """Run every runnable case of one file: (passed, total, failure descriptions)."""
    data = json.loads(path.read_text())
    passed = total = 0
    failures: list[str] = []
    for case in data["tests"]:
        if "skip" in case:
            continue
        total += 1
        ok, why = run_case(case)
        if ok:
            passed += 1
        else:
            failures.append(f"{case['section']}/{case['name']}: {case['expr']!r}: {why}")
    return passed, total, failures


def test_conformance(request: pytest.FixtureRequest) -> None:
    """The core pass rate stays above CORE_FLOOR; every file's rate is reported."""
    if not SPEC_DIR.is_dir():
        pytest.skip(f"cel-spec testdata not found at {SPEC_DIR} (the shared testdata folder)")
    lines: list[str] = []
    core_passed = core_total = all_passed = all_total = 0
    core_failures: list[str] = []
    for path in sorted(SPEC_DIR.glob("*.json")):
        passed, total, failures = run_file(path)
        if not total:
            continue
        is_core = path.stem in CORE
        lines.append(
            f"{path.stem:16} {passed:4}/{total:<4} {100 * passed / total:6.1f}%"
            + ("  core" if is_core else "")
        )
        all_passed += passed
        all_total += total
        if is_core:
            core_passed += passed
            core_total += total
            core_failures.extend(f"{path.stem}: {f}" for f in failures)
    core_rate = core_passed / core_total
    lines.append(f"{'core':16} {core_passed:4}/{core_total:<4} {100 * core_rate:6.1f}%")
    lines.append(f"{'all':16} {all_passed:4}/{all_total:<4} {100 * all_passed / all_total:6.1f}%")
    request.config.stash[CONFORMANCE_REPORT] = lines
    print("\n".join(lines))
    assert core_rate >= CORE_FLOOR, "core conformance fell below the floor:\n" + "\n".join(
        core_failures
    )
