"""Trigger conditions: a boolean over dependency names, compiled once.

``conditions: "dep-a && (dep-b || dep-c)"`` is CEL over booleans, one per
dependency, true when the trigger holds a matching event of that dependency.
Names may contain ``-`` (as Kubernetes names do); they are rewritten to
identifiers before compiling. Without ``conditions`` every dependency of the
sensor is required (Argo's default).

A condition without ``&&`` (one dependency, or only ``||``) fires on each
matching event by itself and keeps no state, as in Argo; otherwise the trigger
keeps the latest event per dependency until the condition holds.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from herald.core.errors import ConfigError
from sensors import cel
from sensors.spec import condition_names

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled trigger condition."""

    text: str
    names: tuple[str, ...]
    stateless: bool
    _program: cel.Program
    _idents: tuple[tuple[str, str], ...]

    def holds(self, present: Collection[str]) -> bool:
        """Whether the condition is true when the dependencies in ``present`` are held."""
        value = self._program.evaluate({ident: name in present for name, ident in self._idents})
        return value is True


def compile_condition(expression: str | None, dependencies: Sequence[str]) -> Condition:
    """Compile ``expression`` (or the default: all ``dependencies``) into a Condition."""
    text = expression.strip() if expression else " && ".join(dependencies)
    try:
        names = tuple(condition_names(text))
    except ValueError as e:
        raise ConfigError(str(e), path="conditions") from e
    unknown = [n for n in names if n not in dependencies]
    if unknown:
        raise ConfigError(
            f"unknown dependency {unknown[0]!r} (known: {', '.join(dependencies)})",
            path="conditions",
        )
    idents = {name: f"dep_{i}" for i, name in enumerate(names)}
    rewritten = _NAME.sub(lambda m: idents.get(m.group(0), m.group(0)), text)
    try:
        program = cel.compile(rewritten)
    except cel.CelError as e:
        raise ConfigError(f"{text!r} is not a valid condition: {e}", path="conditions") from e
    return Condition(
        text=text,
        names=names,
        stateless="&&" not in text,
        _program=program,
        _idents=tuple(idents.items()),
    )
