"""A temporary CEL backend on cel-python, so callers can use ``sensors.cel`` today.

It is correct but slow (it converts every bound value to cel-python's types);
Herald's own engine replaces it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError

from sensors.cel.errors import CelEvalError, CelSyntaxError
from sensors.cel.values import CelType, Uint

_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_ENV = celpy.Environment()


def _references(tree: lark.Tree[Any]) -> frozenset[str]:
    names: set[str] = set()
    bound: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children:
            names.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and len(node.children) >= 3:
            method = str(node.children[1])
            args = node.children[2]
            if method in _MACROS and isinstance(args, lark.Tree) and args.children:
                first = args.children[0]
                if isinstance(first, lark.Tree):
                    for sub in first.iter_subtrees():
                        if sub.data == "ident" and sub.children:
                            bound.add(str(sub.children[0]))
    return frozenset(names - bound)


def _to_cel(value: Any) -> Any:
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, Uint):
        return celtypes.UintType(int(value))
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({_to_cel(k): _to_cel(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return celtypes.ListType([_to_cel(v) for v in value])
    return json_to_cel(value)


def _from_cel(value: Any) -> Any:
    if value is None or isinstance(value, celtypes.BoolType | bool):
        return None if value is None else bool(value)
    if isinstance(value, celtypes.UintType):
        return Uint(int(value))
    if isinstance(value, celtypes.IntType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value)
    if isinstance(value, celtypes.TimestampType):
        return datetime.datetime.fromtimestamp(value.timestamp(), tz=datetime.UTC)
    if isinstance(value, celtypes.DurationType):
        return datetime.timedelta(seconds=value.total_seconds())
    if isinstance(value, celtypes.MapType):
        return {_from_cel(k): _from_cel(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_from_cel(v) for v in value]
    if isinstance(value, type):
        return CelType(getattr(value, "__name__", str(value)))
    return value


class CelpyProgram:
    """A compiled expression evaluated by cel-python."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            tree = _ENV.compile(text)
        except CELParseError as e:
            line = e.line or 1
            column = e.column or 1
            lines = text.split("\n")
            position = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
            raise CelSyntaxError(str(e), text=text, position=position) from e
        self.references = _references(tree)
        self._runner = _ENV.program(tree)

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        context = {k: _to_cel(activation[k]) for k in self.references if k in activation}
        try:
            result = self._runner.evaluate(context)
        except CELEvalError as e:
            raise CelEvalError(f"{e} in {self.text!r}") from e
        except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError) as e:
            raise CelEvalError(f"{type(e).__name__}: {e} in {self.text!r}") from e
        if isinstance(result, CELEvalError):
            raise CelEvalError(f"{result} in {self.text!r}")
        return _from_cel(result)
