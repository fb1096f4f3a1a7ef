"""Herald's CEL engine: compile a CEL expression once, evaluate it per event.

::

    prog = cel.compile("body.action == 'opened' && size(body.items) > 2")
    prog.evaluate({"body": {...}, "header": {...}})   # the CEL value as a Python value
    prog.references                                    # frozenset({"body"})

Activations are plain Python/JSON values (dict, list, str, int, float, bool,
None) plus ``datetime`` (tz-aware, a CEL timestamp), ``timedelta`` (a CEL
duration), ``bytes`` and :class:`Uint` (a CEL uint). Compilation raises
:class:`CelSyntaxError`; evaluation raises :class:`CelEvalError`; both are
:class:`CelError`, a :class:`herald.core.errors.HeraldError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sensors.cel._celpy_backend import CelpyProgram
from sensors.cel.errors import CelError, CelEvalError, CelSyntaxError
from sensors.cel.values import CelType, Uint

__all__ = [
    "CelError",
    "CelEvalError",
    "CelSyntaxError",
    "CelType",
    "Program",
    "Uint",
    "compile",
]


class Program:
    """A compiled CEL expression; evaluate it against many activations."""

    __slots__ = ("_impl", "references", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._impl = CelpyProgram(text)
        self.references: frozenset[str] = self._impl.references

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """Evaluate against ``activation``; raise :class:`CelEvalError` on a CEL error."""
        return self._impl.evaluate(activation)

    def __repr__(self) -> str:
        return f"cel.compile({self.text!r})"


def compile(text: str) -> Program:
    """Compile ``text``; raise :class:`CelSyntaxError` when it is not CEL."""
    return Program(text)
