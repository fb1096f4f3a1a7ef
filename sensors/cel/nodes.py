"""The CEL syntax tree the parser produces and the compiler consumes.

Nodes are immutable and carry their source ``span`` (start and end offsets), so
that every evaluation error can quote the sub-expression that failed. Macros
(``has``, ``all``, ``exists``, ``exists_one``, ``map``, ``filter``, the
two-variable forms, ``cel.bind``, ``cel.block``, ``optMap``, ``optFlatMap``)
are expanded by the parser into :class:`Comprehension` and
``Select(test_only=True)`` nodes, as the CEL spec prescribes, so that the
compiler never sees them as calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Node:
    """Base of every syntax node."""

    span: Span


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant: int, Uint, float, str, bytes, bool or None."""

    value: Any


@dataclass(frozen=True, slots=True)
class Ident(Node):
    """A name: a variable, a type name, or the leading part of a qualified name."""

    name: str


@dataclass(frozen=True, slots=True)
class Select(Node):
    """``operand.field``; ``has(operand.field)`` when ``test_only``; ``operand.?field``
    when ``optional``."""

    operand: Node
    field: str
    test_only: bool = False
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Index(Node):
    """``operand[index]``; ``operand[?index]`` when ``optional``."""

    operand: Node
    index: Node
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function call ``name(args)`` or a method call ``target.name(args)``."""

    function: str
    args: tuple[Node, ...]
    target: Node | None = None


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``!operand`` or ``-operand``."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """An arithmetic, comparison or ``in`` operator."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logical(Node):
    """A chain of ``&&`` (``op == "&&"``) or ``||`` over two or more operands."""

    op: str
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Conditional(Node):
    """``cond ? then : otherwise``."""

    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    """``[a, ?b, c]``; ``optional`` holds the indices of ``?`` elements."""

    elements: tuple[Node, ...]
    optional: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class MapEntry:
    """One ``key: value`` (``?key: value`` when ``optional``) of a map literal."""

    key: Node
    value: Node
    optional: bool = False


@dataclass(frozen=True, slots=True)
class MapLit(Node):
    """``{k: v, ...}``."""

    entries: tuple[MapEntry, ...]


@dataclass(frozen=True, slots=True)
class StructLit(Node):
    """``pkg.Message{field: value}``: parsed so the error is precise, never evaluated."""

    type_name: str
    fields: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Comprehension(Node):
    """An expanded macro.

    ``kind`` is one of ``all``, ``exists``, ``exists_one``, ``map``, ``filter``,
    ``transformList``, ``transformMap``, ``transformMapEntry`` (iterating ``range``
    with ``var`` and, for the two-variable forms, ``var2``), ``bind``
    (``var`` bound to ``range`` in ``args[0]``), ``block`` (``cel.block``: the
    elements of the list literal ``range`` are the lazily evaluated slots
    ``cel.index(i)`` of ``args[0]``), or ``optMap``/``optFlatMap`` (``var``
    bound to the value of the optional ``range``). ``args`` are the predicate and/or
    transform as the macro defines them.
    """

    kind: str
    range: Node
    var: str
    var2: str | None
    args: tuple[Node, ...]
