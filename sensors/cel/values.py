"""CEL value types that Python has no native spelling for.

CEL distinguishes ``int`` (int64) from ``uint`` (uint64); a plain Python ``int``
is a CEL ``int``, and :class:`Uint` marks a CEL ``uint``. :class:`CelType` is the
value of a CEL type expression (``type(1) == int``).
"""

from __future__ import annotations

from typing import Any


class Uint(int):
    """A CEL ``uint`` (0 .. 2**64-1); a plain ``int`` is a CEL ``int``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Uint({int(self)})"


class CelType:
    """A CEL type value such as ``int`` or ``map``; compares by name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CelType) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("CelType", self.name))

    def __repr__(self) -> str:
        return f"CelType({self.name!r})"

    def __str__(self) -> str:
        return self.name


class OptionalValue:
    """A CEL ``optional_type`` value: ``optional.of(x)`` or ``optional.none()``."""

    __slots__ = ("has_value", "value")

    has_value: bool
    value: Any

    def __init__(self, value: Any = None, *, has_value: bool = True) -> None:
        self.has_value = has_value
        self.value = value if has_value else None

    def __repr__(self) -> str:
        return f"optional.of({self.value!r})" if self.has_value else "optional.none()"


NO_VALUE = OptionalValue(has_value=False)
"""The empty optional, ``optional.none()``."""
