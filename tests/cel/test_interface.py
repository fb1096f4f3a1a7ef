"""The public interface of sensors.cel: compile, evaluate, references, errors."""

from __future__ import annotations

import datetime

import pytest

from herald.core.errors import HeraldError
from sensors import cel


def test_compile_and_evaluate_a_filter() -> None:
    prog = cel.compile("body.action == 'opened' && size(body.items) > 2")
    assert prog.evaluate({"body": {"action": "opened", "items": [1, 2, 3]}}) is True
    assert prog.evaluate({"body": {"action": "closed", "items": [1, 2, 3]}}) is False


def test_references_are_the_top_level_identifiers() -> None:
    prog = cel.compile("body.action == 'opened' && header['X'][0] == 'y'")
    assert prog.references == frozenset({"body", "header"})


def test_macro_variables_are_not_references() -> None:
    prog = cel.compile("body.items.exists(x, x > limit)")
    assert prog.references == frozenset({"body", "limit"})


def test_syntax_error_is_a_cel_error_with_position() -> None:
    with pytest.raises(cel.CelSyntaxError) as info:
        cel.compile("body.action == ")
    assert isinstance(info.value, cel.CelError)
    assert isinstance(info.value, HeraldError)
    assert info.value.line == 1
    assert info.value.column >= 1


def test_missing_key_is_an_evaluation_error() -> None:
    prog = cel.compile("body.action == 'opened'")
    with pytest.raises(cel.CelError, match="action"):
        prog.evaluate({"body": {}})


def test_values_come_back_as_python_values() -> None:
    result = cel.compile("[1u, 2.5, b'x', {'a': duration('1s')}, null, 'é']").evaluate({})
    assert result == [cel.Uint(1), 2.5, b"x", {"a": datetime.timedelta(seconds=1)}, None, "é"]
    assert isinstance(result[0], cel.Uint)
