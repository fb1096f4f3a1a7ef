"""Herald's CEL engine: compile a CEL expression once, evaluate it per event.

::

    prog = cel.compile("body.action == 'opened' && size(body.items) > 2")
    prog.evaluate({"body": {...}, "header": {...}})   # the CEL value as a Python value
    prog.references                                    # frozenset({"body"})

Activations are plain Python/JSON values (dict, list, str, int, float, bool,
None) plus ``datetime`` (tz-aware, a CEL timestamp), ``timedelta`` (a CEL
duration), ``bytes`` and :class:`Uint` (a CEL uint); they are read in place,
never converted, so evaluation costs what the expression touches, not what
the event weighs. Results use the same types (a CEL type value is a
:class:`CelType`, an optional an :class:`OptionalValue`; a timestamp or
duration with nanoseconds below the microsecond is a :class:`Timestamp` or
:class:`Duration`, the ``datetime``/``timedelta`` subclasses that keep them).

Compilation raises :class:`CelSyntaxError`; evaluation raises
:class:`CelEvalError`; both are :class:`CelError`, a
:class:`herald.core.errors.HeraldError`. The pieces: :mod:`.lexer` and
:mod:`.parser` (text to :mod:`.nodes`), :mod:`.compiler` (nodes to closures),
:mod:`.runtime` (operators and conversions), :mod:`.stdlib` (functions),
:mod:`.timeutil` (timestamps and durations).

What is supported: the whole CEL language without protobuf (literals of every
form, operators with CEL's error absorption, heterogeneous equality, int64 and
uint64 overflow errors, conversions, ``has``, the macros including the
two-variable ones, ``cel.bind``, ``cel.block``, optional values and syntax),
timestamps and durations to the nanosecond with time zones, and cel-go's
strings, math, lists, sets and encoders extensions. The cel-spec conformance
suite runs in ``tests/cel/test_conformance.py``.

What is not, on purpose or for now:

* protobuf messages (``pkg.Msg{...}`` is a compile error), enums, wrapper
  types and static type checking: Herald's data is JSON, so CEL runs
  dynamically, and an unknown function is an evaluation error (listed early in
  :attr:`Program.unknown_functions`);
* a map literal that has both ``true`` and ``1`` (or ``false`` and ``0``) as
  keys, which a Python dict cannot hold: an evaluation error says so;
* the network extension (``ip()``, ``cidr()``);
* RE2 itself: ``matches`` uses Python's ``re``, which accepts RE2's syntax
  except Unicode classes such as ``\\pL``, and backtracks, so a pattern taken
  from event data can be slow;
* in ``a.b.c``, a bound variable ``a`` wins over one named ``"a.b.c"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sensors.cel.compiler import Compiler
from sensors.cel.errors import CelError, CelEvalError, CelSyntaxError
from sensors.cel.parser import parse
from sensors.cel.timeutil import Duration, Timestamp
from sensors.cel.values import CelType, OptionalValue, Uint

__all__ = [
    "CelError",
    "CelEvalError",
    "CelSyntaxError",
    "CelType",
    "Duration",
    "OptionalValue",
    "Program",
    "Timestamp",
    "Uint",
    "compile",
]


class Program:
    """A compiled CEL expression; evaluate it against many activations.

    Programs are immutable and hold no per-evaluation state, so one program may
    be evaluated concurrently from several threads or tasks.
    """

    __slots__ = ("_fn", "references", "text", "unknown_functions")

    text: str
    references: frozenset[str]
    """The top-level identifiers the expression reads (``{"body"}``), so callers
    can bind only what is needed."""
    unknown_functions: frozenset[str]
    """Functions and methods the expression calls that Herald does not know
    (``"sizee"``, ``"a.b.c"``). CEL makes them an error only when evaluated, so
    this is how a validator can flag a typo before the first event."""

    def __init__(self, text: str) -> None:
        tree = parse(text)
        compiler = Compiler(text)
        self._fn: Callable[[Mapping[str, Any]], Any] = compiler.compile(tree)
        self.text = text
        self.references = frozenset(compiler.references)
        self.unknown_functions = frozenset(compiler.unknown_functions)

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """Evaluate against ``activation``; raise :class:`CelEvalError` on a CEL error."""
        try:
            return self._fn(activation)
        except CelEvalError as e:
            if e.expression is None:
                e.expression = self.text
            raise
        except RecursionError:
            raise CelEvalError(
                "expression too deeply nested to evaluate", expression=self.text
            ) from None
        except (TypeError, ValueError, AttributeError, OverflowError, KeyError) as e:
            # A value CEL has no type for (a naive datetime, a set ...) reached an operator.
            raise CelEvalError(
                f"cannot evaluate on this input: {type(e).__name__}: {e}", expression=self.text
            ) from e

    def __repr__(self) -> str:
        return f"cel.compile({self.text!r})"


def compile(text: str) -> Program:
    """Compile ``text``; raise :class:`CelSyntaxError` when it is not CEL."""
    return Program(text)
