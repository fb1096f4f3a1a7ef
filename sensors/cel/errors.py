"""The errors of Herald's CEL engine.

::

    HeraldError
    └── CelError                 a CEL expression failed to compile or to evaluate
        ├── CelSyntaxError       the text is not CEL (carries ``position``, ``line``, ``column``)
        └── CelEvalError         evaluating against one activation failed

Every message names what failed (the sub-expression when there is one), so a log
line with the event id is enough to see why a filter did not match.
"""

from __future__ import annotations

from herald.core.errors import HeraldError


class CelError(HeraldError):
    """A CEL expression could not be compiled or evaluated."""


class CelSyntaxError(CelError):
    """The expression text is not valid CEL; ``position`` is the 0-based offset."""

    def __init__(self, message: str, *, text: str = "", position: int = 0) -> None:
        self.text = text
        self.position = position
        before = text[:position]
        self.line = before.count("\n") + 1
        self.column = position - (before.rfind("\n") + 1) + 1
        self.reason = message
        where = f"line {self.line}, column {self.column}"
        super().__init__(f"CEL syntax error at {where}: {message}")


class CelEvalError(CelError):
    """Evaluating a compiled expression failed (no such key, type mismatch, overflow...).

    ``reason`` says what failed; ``expression`` is the sub-expression where it
    failed, filled in by the innermost node that knows it.
    """

    def __init__(self, reason: str, *, expression: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expression = expression

    def __str__(self) -> str:
        if self.expression is None:
            return self.reason
        return f"{self.reason} (in `{self.expression}`)"
