"""Compile a CEL syntax tree into nested Python closures.

Why closures: an event filter runs once per event, so the tree is walked once,
at compile time, and each node becomes a small function ``f(activation)`` that
reads the event's dicts directly. Nothing converts the activation: a field
selection is a dict lookup (a chain ``body.pull_request.base.ref`` is one
closure doing four subscripts), and only the values an expression touches are
ever looked at.

What it guarantees:

* CEL semantics: errors are exceptions (:class:`CelEvalError`), and ``&&``/``||``
  absorb them commutatively (``error && false`` is ``false``), as do the
  ``all``/``exists`` macros; ``?:`` and ``!`` need booleans; see
  :mod:`sensors.cel.runtime` for the operators.
* Constant sub-expressions are folded at compile time (an error while folding
  is kept for evaluation time, where CEL reports it); list and map literals are
  rebuilt on every evaluation so callers may mutate results.
* ``references`` holds the top-level identifiers the expression reads.
* Every error message quotes the sub-expression that failed.

Identifier resolution differs from the spec in one corner on purpose: in
``a.b.c`` a bound variable ``a`` wins over a variable literally named
``"a.b.c"``; the dotted names are only tried when ``a`` is unbound (event data
never has dotted top-level keys, and the common path stays one dict lookup).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from sensors.cel import runtime, stdlib
from sensors.cel.errors import CelEvalError, CelSyntaxError
from sensors.cel.nodes import (
    Binary,
    Call,
    Comprehension,
    Conditional,
    Ident,
    Index,
    ListLit,
    Literal,
    Logical,
    MapLit,
    Node,
    Select,
    StructLit,
    Unary,
)
from sensors.cel.parser import block_slot
from sensors.cel.values import NO_VALUE, CelType, OptionalValue, Uint

Activation = Mapping[str, Any]
Fn = Callable[[Activation], Any]

MIN_INT = runtime.MIN_INT
MAX_INT = runtime.MAX_INT
_LOOKUP_ERRORS = (KeyError, TypeError, IndexError)


class _Const:
    """A compile-time constant (a folded sub-expression)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Code = Fn | _Const


class _Scope(dict[str, Any]):
    """The activation inside a macro: the macro's variables, then the outer scope."""

    __slots__ = ("parent",)
    parent: Activation

    def __missing__(self, key: str) -> Any:
        return self.parent[key]


def _located(error: CelEvalError, where: str) -> CelEvalError:
    """Attach the sub-expression to an error that has none yet."""
    if error.expression is None:
        error.expression = where
    return error


def _const_fn(value: Any) -> Fn:
    if isinstance(value, list | dict):
        raise AssertionError("containers are never constants")  # pragma: no cover

    def const(act: Activation) -> Any:
        return value

    return const


def _raise_fn(error: CelEvalError) -> Fn:
    message = str(error.reason)
    expression = error.expression

    def fail(act: Activation) -> Any:
        e = CelEvalError(message)
        e.expression = expression
        raise e

    return fail


def _bool_error(value: Any, where: str) -> CelEvalError:
    return _located(CelEvalError(f"expected a bool, got {runtime.type_name(value)}"), where)


class Compiler:
    """Turns one parsed expression into a closure; collects its references."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.references: set[str] = set()
        self.unknown_functions: set[str] = set()
        self.bound: list[str] = []  # macro variables in scope, innermost last

    # -- helpers ---------------------------------------------------------------

    def src(self, node: Node) -> str:
        return self.text[node.span[0] : node.span[1]]

    def fn(self, code: Code) -> Fn:
        if isinstance(code, _Const):
            return _const_fn(code.value)
        return code

    def fold(self, node: Node, fn: Fn, *parts: Code) -> Code:
        """Evaluate ``fn`` now when every part is constant (and it does not fail)."""
        if all(isinstance(p, _Const) for p in parts):
            try:
                value = fn({})
            except CelEvalError as e:
                return _raise_fn(_located(e, self.src(node)))
            if isinstance(value, list | dict):
                return fn
            return _Const(value)
        return fn

    def compile(self, node: Node) -> Fn:
        """The closure for a whole expression."""
        try:
            return self.fn(self.node(node))
        except RecursionError:
            raise CelSyntaxError(
                "expression too deeply nested to compile", text=self.text, position=0
            ) from None

    def node(self, node: Node) -> Code:
        method = getattr(self, "c_" + type(node).__name__)
        result: Code = method(node)
        return result

    # -- leaves ----------------------------------------------------------------

    def c_Literal(self, node: Literal) -> Code:
        return _Const(node.value)

    def c_Ident(self, node: Ident) -> Code:
        name = node.name
        if name in self.bound:

            def local(act: Activation) -> Any:
                return act[name]

            return local
        type_value = runtime.TYPE_NAMES.get(name)
        if type_value is not None:
            return _Const(type_value)
        self.references.add(name)

        def ident(act: Activation) -> Any:
            try:
                return act[name]
            except KeyError:
                raise _located(CelEvalError(f"undeclared reference to {name!r}"), name) from None

        return ident

    # -- selection -------------------------------------------------------------

    def _path(self, node: Node) -> tuple[Ident, list[str]] | None:
        """``root.k1.k2["k3"]`` as (root, keys) when every step is a plain string key."""
        keys: list[str] = []
        while True:
            if isinstance(node, Select) and not node.test_only and not node.optional:
                keys.append(node.field)
                node = node.operand
            elif (
                isinstance(node, Index)
                and not node.optional
                and isinstance(node.index, Literal)
                and node.index.value.__class__ is str
            ):
                keys.append(node.index.value)
                node = node.operand
            elif isinstance(node, Ident):
                keys.reverse()
                return node, keys
            else:
                return None

    def c_Select(self, node: Select) -> Code:
        if node.test_only:
            return self.has(node)
        if node.optional:
            return self.optional_select(node)
        path = self._path(node)
        if path is not None:
            root, keys = path
            qualified = ".".join([root.name, *keys])
            if root.name not in self.bound and qualified in runtime.TYPE_NAMES:
                return _Const(runtime.TYPE_NAMES[qualified])
            if root.name in self.bound or root.name not in runtime.TYPE_NAMES:
                return self.path(node, root, keys)
        operand = self.node(node.operand)
        return self.select_on(node, self.fn(operand), node.field, operand)

    def select_on(self, node: Node, operand: Fn, field: str, part: Code) -> Code:
        where = self.src(node)

        def select(act: Activation) -> Any:
            obj = operand(act)
            try:
                return obj[field]
            except _LOOKUP_ERRORS:
                return _select_slow(obj, field, where)

        return self.fold(node, select, part)

    def path(self, node: Node, root: Ident, keys: list[str]) -> Fn:
        """One closure for ``root.k1...kn``; the slow path finds and words the error."""
        name = root.name
        if name not in self.bound:
            self.references.add(name)
        text = self.text
        spans = _step_spans(node)
        where = [text[root.span[0] : end] for end in spans]

        def slow(act: Activation) -> Any:
            try:
                obj = act[name]
                start = 0
            except KeyError:
                obj, start = _resolve_qualified(act, name, keys)
            for i in range(start, len(keys)):
                try:
                    obj = obj[keys[i]]
                except _LOOKUP_ERRORS:
                    obj = _select_slow(obj, keys[i], where[i])
            return obj

        n = len(keys)
        if n == 1:
            (k1,) = keys

            def path1(act: Activation) -> Any:
                try:
                    return act[name][k1]
                except _LOOKUP_ERRORS:
                    return slow(act)

            return path1
        if n == 2:
            k1, k2 = keys

            def path2(act: Activation) -> Any:
                try:
                    return act[name][k1][k2]
                except _LOOKUP_ERRORS:
                    return slow(act)

            return path2
        if n == 3:
            k1, k2, k3 = keys

            def path3(act: Activation) -> Any:
                try:
                    return act[name][k1][k2][k3]
                except _LOOKUP_ERRORS:
                    return slow(act)

            return path3
        if n == 4:
            k1, k2, k3, k4 = keys

            def path4(act: Activation) -> Any:
                try:
                    return act[name][k1][k2][k3][k4]
                except _LOOKUP_ERRORS:
                    return slow(act)

            return path4

        def path_n(act: Activation) -> Any:
            try:
                obj = act[name]
                for k in keys:
                    obj = obj[k]
                return obj
            except _LOOKUP_ERRORS:
                return slow(act)

        return path_n

    def has(self, node: Select) -> Code:
        operand = self.node(node.operand)
        f = self.fn(operand)
        field = node.field
        where = self.src(node)

        def has(act: Activation) -> bool:
            obj = f(act)
            if obj.__class__ is dict or isinstance(obj, Mapping):
                return field in obj
            if isinstance(obj, OptionalValue):
                # has() on an optional: absent when empty, else a test on its value.
                return obj.has_value and isinstance(obj.value, Mapping) and field in obj.value
            raise _located(CelEvalError(f"has() needs a map, got {runtime.type_name(obj)}"), where)

        return self.fold(node, has, operand)

    def optional_select(self, node: Select) -> Code:
        operand = self.node(node.operand)
        f = self.fn(operand)
        field = node.field
        where = self.src(node)

        def opt_select(act: Activation) -> Any:
            obj = f(act)
            if isinstance(obj, OptionalValue):
                if not obj.has_value:
                    return NO_VALUE
                obj = obj.value
            if isinstance(obj, Mapping):
                return OptionalValue(obj[field]) if field in obj else NO_VALUE
            raise _select_error(obj, field, where)

        return self.fold(node, opt_select, operand)

    def c_Index(self, node: Index) -> Code:
        if not node.optional:
            path = self._path(node)
            if path is not None and (
                path[0].name in self.bound or path[0].name not in runtime.TYPE_NAMES
            ):
                return self.path(node, *path)
        container = self.node(node.operand)
        key = self.node(node.index)
        c, k = self.fn(container), self.fn(key)
        where = self.src(node)
        if node.optional:

            def opt_index(act: Activation) -> Any:
                obj = c(act)
                kv = k(act)
                try:
                    if obj.__class__ is not OptionalValue:
                        obj = OptionalValue(obj)
                    return _optional_index(obj, kv)
                except CelEvalError as e:
                    raise _located(e, where) from None

            return self.fold(node, opt_index, container, key)
        if isinstance(key, _Const) and key.value.__class__ is int and key.value >= 0:
            i = key.value

            def index_const(act: Activation) -> Any:
                obj = c(act)
                if obj.__class__ is list:
                    try:
                        return obj[i]
                    except IndexError:
                        pass
                try:
                    if obj.__class__ is OptionalValue:
                        return _optional_index(obj, i)
                    return runtime.index(obj, i)
                except CelEvalError as e:
                    raise _located(e, where) from None

            return self.fold(node, index_const, container, key)

        def index(act: Activation) -> Any:
            obj = c(act)
            kv = k(act)
            try:
                if obj.__class__ is OptionalValue:
                    return _optional_index(obj, kv)
                return runtime.index(obj, kv)
            except CelEvalError as e:
                raise _located(e, where) from None

        return self.fold(node, index, container, key)

    # -- operators -------------------------------------------------------------

    def c_Unary(self, node: Unary) -> Code:
        operand = self.node(node.operand)
        f = self.fn(operand)
        where = self.src(node)
        if node.op == "!":

            def not_(act: Activation) -> bool:
                v = f(act)
                if v is True:
                    return False
                if v is False:
                    return True
                raise _located(CelEvalError(f"no such overload: !_({runtime.type_name(v)})"), where)

            return self.fold(node, not_, operand)

        def neg(act: Activation) -> Any:
            v = f(act)
            try:
                return runtime.negate(v)
            except CelEvalError as e:
                raise _located(e, where) from None

        return self.fold(node, neg, operand)

    def c_Binary(self, node: Binary) -> Code:
        left = self.node(node.left)
        right = self.node(node.right)
        op = node.op
        where = self.src(node)
        if op in ("==", "!="):
            fn = _equality(left, right, self.fn(left), self.fn(right), negate=op == "!=")
        elif op == "in":
            fn = self.membership(node, left, right, where)
        elif (
            op in _FAST_COMPARE
            and isinstance(right, _Const)
            and right.value.__class__ in (int, str)
        ):
            fn = _compare_const(op, self.fn(left), right.value, where)
        else:
            fn = _operator(op, self.fn(left), self.fn(right), where)
        return self.fold(node, fn, left, right)

    def membership(self, node: Binary, left: Code, right: Code, where: str) -> Fn:
        lf, rf = self.fn(left), self.fn(right)
        contains = runtime.contains
        lit = node.right
        if (
            isinstance(lit, ListLit)
            and not lit.optional
            and all(isinstance(e, Literal) for e in lit.elements)
        ):
            # `x in ["a", "b"]`: the list is built once; strings get a set lookup.
            values = tuple(e.value for e in lit.elements if isinstance(e, Literal))
            strings = frozenset(v for v in values if v.__class__ is str)
            only_strings = all(v.__class__ is str for v in values)

            def in_literals(act: Activation) -> bool:
                item = lf(act)
                if item.__class__ is str and only_strings:
                    return item in strings
                return contains(values, item)

            return in_literals

        def in_(act: Activation) -> bool:
            item = lf(act)
            container = rf(act)
            try:
                return contains(container, item)
            except CelEvalError as e:
                raise _located(e, where) from None

        return in_

    def c_Logical(self, node: Logical) -> Code:
        parts = [self.node(op) for op in node.operands]
        fns = tuple(self.fn(p) for p in parts)
        wheres = tuple(self.src(op) for op in node.operands)
        fn = _and(fns, wheres) if node.op == "&&" else _or(fns, wheres)
        return self.fold(node, fn, *parts)

    def c_Conditional(self, node: Conditional) -> Code:
        cond = self.node(node.cond)
        then = self.node(node.then)
        otherwise = self.node(node.otherwise)
        c, t, o = self.fn(cond), self.fn(then), self.fn(otherwise)
        where = self.src(node.cond)

        def conditional(act: Activation) -> Any:
            v = c(act)
            if v is True:
                return t(act)
            if v is False:
                return o(act)
            raise _bool_error(v, where)

        if isinstance(cond, _Const):
            if cond.value is True:
                return then
            if cond.value is False:
                return otherwise
        return self.fold(node, conditional, cond, then, otherwise)

    # -- literals --------------------------------------------------------------

    def c_ListLit(self, node: ListLit) -> Code:
        parts = [self.node(e) for e in node.elements]
        fns = tuple(self.fn(p) for p in parts)
        if not node.optional:
            if all(isinstance(p, _Const) for p in parts):
                values = tuple(p.value for p in parts if isinstance(p, _Const))

                def const_list(act: Activation) -> list[Any]:
                    return list(values)

                return const_list

            def make_list(act: Activation) -> list[Any]:
                return [f(act) for f in fns]

            return make_list
        optional = node.optional
        where = self.src(node)

        def make_optional_list(act: Activation) -> list[Any]:
            out = []
            for i, f in enumerate(fns):
                v = f(act)
                if i in optional:
                    if not isinstance(v, OptionalValue):
                        raise _located(
                            CelEvalError("a '?' list element must be an optional"), where
                        )
                    if v.has_value:
                        out.append(v.value)
                else:
                    out.append(v)
            return out

        return make_optional_list

    def c_MapLit(self, node: MapLit) -> Code:
        entries = tuple(
            (self.fn(self.node(e.key)), self.fn(self.node(e.value)), e.optional, self.src(e.key))
            for e in node.entries
        )
        where = self.src(node)

        def make_map(act: Activation) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for kf, vf, optional, key_src in entries:
                key = kf(act)
                kc = key.__class__
                if not (kc is str or kc is int or kc is bool or kc is Uint):
                    raise _located(
                        CelEvalError(f"unsupported map key type {runtime.type_name(key)}"),
                        key_src,
                    )
                value = vf(act)
                if optional:
                    if not isinstance(value, OptionalValue):
                        raise _located(
                            CelEvalError("a '?' map entry must have an optional value"), where
                        )
                    if not value.has_value:
                        continue
                    value = value.value
                if key in out:
                    found, _ = runtime.map_get(out, key)
                    if found:
                        raise _located(
                            CelEvalError(f"duplicate map key {runtime.format_key(key)}"), where
                        )
                    raise _located(
                        CelEvalError("a map literal cannot mix bool keys with 0 or 1"), where
                    )
                out[key] = value
            return out

        return make_map

    def c_StructLit(self, node: StructLit) -> Code:
        raise CelSyntaxError(
            f"message construction {node.type_name}{{...}} is not supported: "
            "Herald's CEL has no protobuf types",
            text=self.text,
            position=node.span[0],
        )

    # -- calls -----------------------------------------------------------------

    def c_Call(self, node: Call) -> Code:
        where = self.src(node)
        if node.target is not None:
            qualified = _qualified_ident(node.target)
            if qualified is not None and qualified.split(".")[0] not in self.bound:
                name = f"{qualified}.{node.function}"
                if name in stdlib.FUNCTIONS:
                    return self.call(node, name, stdlib.FUNCTIONS[name], node.args, None, where)
            impl = stdlib.METHODS.get(node.function)
            if impl is None:
                for part in (node.target, *node.args):
                    self.node(part)
                self.unknown_functions.add(
                    f"{qualified}.{node.function}" if qualified else node.function
                )
                return _raise_fn(_located(CelEvalError(f"unknown method {node.function!r}"), where))
            return self.call(node, node.function, impl, node.args, node.target, where)
        impl = stdlib.FUNCTIONS.get(node.function)
        if impl is None:
            for arg in node.args:
                self.node(arg)
            self.unknown_functions.add(node.function)
            return _raise_fn(_located(CelEvalError(f"unknown function {node.function!r}"), where))
        return self.call(node, node.function, impl, node.args, None, where)

    def call(
        self,
        node: Call,
        name: str,
        impl: stdlib.Impl,
        arg_nodes: tuple[Node, ...],
        target_node: Node | None,
        where: str,
    ) -> Code:
        method = target_node is not None
        parts = [self.node(a) for a in ((target_node,) if target_node else ()) + arg_nodes]
        low, high = stdlib.arity(name, method=method)
        if not low <= len(arg_nodes) <= high:
            return _raise_fn(
                _located(
                    CelEvalError(f"no such overload: {name} with {len(arg_nodes)} argument(s)"),
                    where,
                )
            )
        if name == "matches" and isinstance(parts[1], _Const) and isinstance(parts[1].value, str):
            pattern = parts[1].value
            try:
                impl = _matcher(stdlib.compile_regex(pattern))
            except CelEvalError as e:
                return _raise_fn(_located(e, where))
        fns = [self.fn(p) for p in parts]
        fn: Fn
        if name == "size" and len(fns) == 1:
            return self.fold(node, _size(fns[0], where), *parts)
        if (
            method
            and name in _STR_METHODS
            and isinstance(parts[1], _Const)
            and parts[1].value.__class__ is str
        ):
            fast = _STR_METHODS[name]
            return self.fold(node, _str_method(fast, impl, fns[0], parts[1].value, where), *parts)
        if len(fns) == 1:
            (a,) = fns

            def call1(act: Activation) -> Any:
                try:
                    return impl(a(act))
                except CelEvalError as e:
                    raise _located(e, where) from None

            fn = call1
        elif len(fns) == 2:
            a, b = fns

            def call2(act: Activation) -> Any:
                try:
                    return impl(a(act), b(act))
                except CelEvalError as e:
                    raise _located(e, where) from None

            fn = call2
        else:
            all_fns = tuple(fns)

            def call_n(act: Activation) -> Any:
                try:
                    return impl(*[f(act) for f in all_fns])
                except CelEvalError as e:
                    raise _located(e, where) from None

            fn = call_n
        return self.fold(node, fn, *parts)

    # -- macros ----------------------------------------------------------------

    def c_Comprehension(self, node: Comprehension) -> Code:
        if node.kind == "block":
            return self.block(node)
        rng = self.fn(self.node(node.range))
        names = [node.var] if node.var2 is None else [node.var, node.var2]
        self.bound.extend(names)
        try:
            args = tuple(self.fn(self.node(a)) for a in node.args)
        finally:
            del self.bound[-len(names) :]
        where = self.src(node)
        kind = node.kind
        if kind == "bind":
            return _bind(node.var, rng, args[0])
        if kind in ("optMap", "optFlatMap"):
            return _opt_map(node.var, rng, args[0], flat=kind == "optFlatMap", where=where)
        if node.var2 is None:
            return _macro1(kind, node.var, rng, args, where, self.src(node.range))
        return _macro2(kind, node.var, node.var2, rng, args, where, self.src(node.range))

    def block(self, node: Comprehension) -> Code:
        """``cel.block([e0, e1, ...], result)``: slots evaluated once, on first use."""
        assert isinstance(node.range, ListLit)
        slots = [block_slot(i) for i in range(len(node.range.elements))]
        fns: list[Fn] = []
        self.bound.extend(slots)
        try:
            fns.extend(self.fn(self.node(e)) for e in node.range.elements)
            body = self.fn(self.node(node.args[0]))
        finally:
            del self.bound[-len(slots) :]
        table = dict(zip(slots, fns, strict=True))

        def block(act: Activation) -> Any:
            scope = _BlockScope()
            scope.parent = act
            scope.slots = table
            return body(scope)

        return block


class _BlockScope(_Scope):
    """The activation inside ``cel.block``: slots computed on first use, then kept."""

    __slots__ = ("slots",)
    slots: dict[str, Fn]

    def __missing__(self, key: str) -> Any:
        fn = self.slots.get(key)
        if fn is None:
            return self.parent[key]
        value = self[key] = fn(self)
        return value


# -- closures built outside the class (fewer free variables, faster calls) -----


def _select_slow(obj: Any, field: str, where: str) -> Any:
    """A selection the fast path could not do: optional chaining, or the error."""
    if obj.__class__ is OptionalValue:
        if not obj.has_value:
            return NO_VALUE
        inner = obj.value
        if isinstance(inner, Mapping):
            return OptionalValue(inner[field]) if field in inner else NO_VALUE
        obj = inner
    raise _select_error(obj, field, where)


def _optional_index(opt: OptionalValue, key: Any) -> OptionalValue:
    """``opt[key]`` and ``x[?key]``: an optional of the element, empty when absent."""
    if not opt.has_value:
        return NO_VALUE
    obj = opt.value
    if runtime.is_map(obj):
        found, value = runtime.map_get(obj, key)
        return OptionalValue(value) if found else NO_VALUE
    if runtime.is_list(obj) and (runtime.is_int(key) or isinstance(key, Uint)):
        return OptionalValue(obj[key]) if 0 <= key < len(obj) else NO_VALUE
    return OptionalValue(runtime.index(obj, key))


def _select_error(obj: Any, field: Any, where: str) -> CelEvalError:
    if isinstance(obj, Mapping):
        return _located(CelEvalError(f"no such key: {runtime.format_key(field)}"), where)
    if isinstance(obj, OptionalValue):
        return _located(CelEvalError("select on an optional value needs '.?'"), where)
    return _located(
        CelEvalError(f"type {runtime.type_name(obj)} does not support field selection (.{field})"),
        where,
    )


def _resolve_qualified(act: Activation, name: str, keys: list[str]) -> tuple[Any, int]:
    """Find the longest bound dotted prefix of ``name.keys``: (value, keys consumed)."""
    for n in range(len(keys), 0, -1):
        dotted = ".".join([name, *keys[:n]])
        try:
            return act[dotted], n
        except KeyError:
            continue
    raise _located(CelEvalError(f"undeclared reference to {name!r}"), name)


def _step_spans(node: Node) -> list[int]:
    """End offsets of each selection step of a path, innermost first."""
    ends: list[int] = []
    while isinstance(node, Select | Index):
        ends.append(node.span[1])
        node = node.operand
    ends.reverse()
    return ends


def _qualified_ident(node: Node) -> str | None:
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select) and not node.test_only and not node.optional:
        prefix = _qualified_ident(node.operand)
        return None if prefix is None else f"{prefix}.{node.field}"
    return None


def _matcher(pattern: Any) -> stdlib.Impl:
    search = pattern.search

    def matches(s: Any, _pattern: Any) -> bool:
        if s.__class__ is str:
            return search(s) is not None
        runtime.no_overload("matches", s, _pattern)

    return matches


_SIMPLE_EQ = frozenset({str, bytes, type(None), int, float, bool})


def _equality(left: Code, right: Code, lf: Fn, rf: Fn, *, negate: bool) -> Fn:
    equals = runtime.equals
    const: Any = None
    other: Fn | None = None
    if isinstance(right, _Const):
        const, other = right.value, lf
    elif isinstance(left, _Const):
        const, other = left.value, rf
    if other is not None:
        f = other
        cc = const.__class__
        if cc is str or cc is bytes:
            c = const
            if negate:
                return lambda act: f(act) != c
            return lambda act: f(act) == c
        if cc is bool or const is None:
            c = const
            if negate:
                return lambda act: f(act) is not c
            return lambda act: f(act) is c
        if cc is int:
            c = const

            def eq_int(act: Activation) -> bool:
                v = f(act)
                r = v == c if v.__class__ is int else equals(v, c)
                return not r if negate else r

            return eq_int

    def eq(act: Activation) -> bool:
        a = lf(act)
        b = rf(act)
        r = a == b if a.__class__ is b.__class__ in _SIMPLE_EQ else equals(a, b)
        return not r if negate else r

    return eq


_FAST_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SLOW_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": runtime.less,
    "<=": runtime.less_equal,
    ">": runtime.greater,
    ">=": runtime.greater_equal,
}
_STR_METHODS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": str.__contains__,
}


def _compare_const(op: str, lf: Fn, c: Any, where: str) -> Fn:
    """``x < 5`` / ``x >= "m"``: one class check, then Python's operator."""
    fast = _FAST_COMPARE[op]
    slow = _SLOW_COMPARE[op]
    cc = c.__class__

    def compare_const(act: Activation) -> Any:
        a = lf(act)
        if a.__class__ is cc:
            return fast(a, c)
        try:
            return slow(a, c)
        except CelEvalError as e:
            raise _located(e, where) from None

    return compare_const


def _size(f: Fn, where: str) -> Fn:
    size = runtime.size

    def size_(act: Activation) -> int:
        v = f(act)
        c = v.__class__
        if c is str or c is list or c is dict:
            return len(v)
        try:
            return size(v)
        except CelEvalError as e:
            raise _located(e, where) from None

    return size_


def _str_method(
    fast: Callable[[str, str], bool], impl: stdlib.Impl, target: Fn, arg: str, where: str
) -> Fn:
    """``s.startsWith("x")`` and friends with a constant argument."""

    def str_method(act: Activation) -> Any:
        v = target(act)
        if v.__class__ is str:
            return fast(v, arg)
        try:
            return impl(v, arg)
        except CelEvalError as e:
            raise _located(e, where) from None

    return str_method


def _operator(op: str, lf: Fn, rf: Fn, where: str) -> Fn:
    if op == "+":
        add = runtime.add

        def plus(act: Activation) -> Any:
            a = lf(act)
            b = rf(act)
            if a.__class__ is int and b.__class__ is int:
                r = a + b
                if MIN_INT <= r <= MAX_INT:
                    return r
            try:
                return add(a, b)
            except CelEvalError as e:
                raise _located(e, where) from None

        return plus
    if op == "-":
        sub = runtime.subtract

        def minus(act: Activation) -> Any:
            a = lf(act)
            b = rf(act)
            if a.__class__ is int and b.__class__ is int:
                r = a - b
                if MIN_INT <= r <= MAX_INT:
                    return r
            try:
                return sub(a, b)
            except CelEvalError as e:
                raise _located(e, where) from None

        return minus
    impls: dict[str, Callable[[Any, Any], Any]] = {
        "*": runtime.multiply,
        "/": runtime.divide,
        "%": runtime.modulo,
        "<": runtime.less,
        "<=": runtime.less_equal,
        ">": runtime.greater,
        ">=": runtime.greater_equal,
    }
    impl = impls[op]
    if op in ("<", "<=", ">", ">="):
        fast = {
            "<": operator.lt,
            "<=": operator.le,
            ">": operator.gt,
            ">=": operator.ge,
        }[op]

        def compare(act: Activation) -> Any:
            a = lf(act)
            b = rf(act)
            c = a.__class__
            if c is b.__class__ and (c is int or c is str):
                return fast(a, b)
            try:
                return impl(a, b)
            except CelEvalError as e:
                raise _located(e, where) from None

        return compare

    def arith(act: Activation) -> Any:
        a = lf(act)
        b = rf(act)
        try:
            return impl(a, b)
        except CelEvalError as e:
            raise _located(e, where) from None

    return arith


def _and(fns: tuple[Fn, ...], wheres: tuple[str, ...]) -> Fn:
    if len(fns) == 2:
        a, b = fns
        wa, wb = wheres

        def and2(act: Activation) -> bool:
            try:
                x = a(act)
            except CelEvalError:
                try:
                    y = b(act)
                except CelEvalError:
                    y = None
                if y is False:
                    return False
                raise  # the left error wins when neither side decides
            if x is False:
                return False
            y = b(act)
            if x is True:
                if y is True or y is False:
                    return y
                raise _bool_error(y, wb)
            if y is False:
                return False
            raise _bool_error(x, wa)

        return and2

    def and_n(act: Activation) -> bool:
        error: CelEvalError | None = None
        for f, w in zip(fns, wheres, strict=True):
            try:
                v = f(act)
            except CelEvalError as e:
                if error is None:
                    error = e
                continue
            if v is False:
                return False
            if v is not True and error is None:
                error = _bool_error(v, w)
        if error is not None:
            raise error
        return True

    return and_n


def _or(fns: tuple[Fn, ...], wheres: tuple[str, ...]) -> Fn:
    if len(fns) == 2:
        a, b = fns
        wa, wb = wheres

        def or2(act: Activation) -> bool:
            try:
                x = a(act)
            except CelEvalError:
                try:
                    y = b(act)
                except CelEvalError:
                    y = None
                if y is True:
                    return True
                raise  # the left error wins when neither side decides
            if x is True:
                return True
            y = b(act)
            if x is False:
                if y is True or y is False:
                    return y
                raise _bool_error(y, wb)
            if y is True:
                return True
            raise _bool_error(x, wa)

        return or2

    def or_n(act: Activation) -> bool:
        error: CelEvalError | None = None
        for f, w in zip(fns, wheres, strict=True):
            try:
                v = f(act)
            except CelEvalError as e:
                if error is None:
                    error = e
                continue
            if v is True:
                return True
            if v is not False and error is None:
                error = _bool_error(v, w)
        if error is not None:
            raise error
        return False

    return or_n


def _iteration_range(value: Any, where: str) -> Any:
    """What a one-variable macro iterates: a list's items, a map's keys."""
    c = value.__class__
    if c is list or c is dict or c is tuple:
        return value
    if isinstance(value, Mapping | list | tuple):
        return value
    raise _located(
        CelEvalError(f"cannot iterate over a value of type {runtime.type_name(value)}"), where
    )


def _new_scope(act: Activation) -> _Scope:
    scope = _Scope()
    scope.parent = act
    return scope


def _bind(var: str, init: Fn, body: Fn) -> Fn:
    def bind(act: Activation) -> Any:
        scope = _new_scope(act)
        scope[var] = init(act)
        return body(scope)

    return bind


def _opt_map(var: str, rng: Fn, body: Fn, *, flat: bool, where: str) -> Fn:
    def opt_map(act: Activation) -> Any:
        opt = rng(act)
        if opt.__class__ is not OptionalValue:
            raise _located(
                CelEvalError(f"optMap needs an optional, got {runtime.type_name(opt)}"), where
            )
        if not opt.has_value:
            return NO_VALUE
        scope = _new_scope(act)
        scope[var] = opt.value
        result = body(scope)
        if not flat:
            return OptionalValue(result)
        if result.__class__ is not OptionalValue:
            raise _located(CelEvalError("optFlatMap must produce an optional"), where)
        return result

    return opt_map


def _macro1(kind: str, var: str, rng: Fn, args: tuple[Fn, ...], where: str, range_where: str) -> Fn:
    if kind == "all":
        (pred,) = args

        def all_(act: Activation) -> bool:
            items = _iteration_range(rng(act), range_where)
            scope = _new_scope(act)
            error: CelEvalError | None = None
            for item in items:
                scope[var] = item
                try:
                    r = pred(scope)
                except CelEvalError as e:
                    if error is None:
                        error = e
                    continue
                if r is False:
                    return False
                if r is not True and error is None:
                    error = _bool_error(r, where)
            if error is not None:
                raise error
            return True

        return all_
    if kind == "exists":
        (pred,) = args

        def exists(act: Activation) -> bool:
            items = _iteration_range(rng(act), range_where)
            scope = _new_scope(act)
            error: CelEvalError | None = None
            for item in items:
                scope[var] = item
                try:
                    r = pred(scope)
                except CelEvalError as e:
                    if error is None:
                        error = e
                    continue
                if r is True:
                    return True
                if r is not False and error is None:
                    error = _bool_error(r, where)
            if error is not None:
                raise error
            return False

        return exists
    if kind == "exists_one":
        (pred,) = args

        def exists_one(act: Activation) -> bool:
            items = _iteration_range(rng(act), range_where)
            scope = _new_scope(act)
            count = 0
            for item in items:
                scope[var] = item
                r = pred(scope)
                if r is True:
                    count += 1
                elif r is not False:
                    raise _bool_error(r, where)
            return count == 1

        return exists_one
    if kind == "map":
        if len(args) == 1:
            (transform,) = args

            def map_(act: Activation) -> list[Any]:
                items = _iteration_range(rng(act), range_where)
                scope = _new_scope(act)
                out = []
                for item in items:
                    scope[var] = item
                    out.append(transform(scope))
                return out

            return map_
        pred, transform = args

        def map_filter(act: Activation) -> list[Any]:
            items = _iteration_range(rng(act), range_where)
            scope = _new_scope(act)
            out = []
            for item in items:
                scope[var] = item
                r = pred(scope)
                if r is True:
                    out.append(transform(scope))
                elif r is not False:
                    raise _bool_error(r, where)
            return out

        return map_filter
    # filter
    (pred,) = args

    def filter_(act: Activation) -> list[Any]:
        items = _iteration_range(rng(act), range_where)
        scope = _new_scope(act)
        out = []
        for item in items:
            scope[var] = item
            r = pred(scope)
            if r is True:
                out.append(item)
            elif r is not False:
                raise _bool_error(r, where)
        return out

    return filter_


def _pairs(value: Any, where: str) -> Any:
    """What a two-variable macro iterates: (index, item) of a list, (key, value) of a map."""
    if isinstance(value, list | tuple):
        return enumerate(value)
    if isinstance(value, Mapping):
        return value.items()
    raise _located(
        CelEvalError(f"cannot iterate over a value of type {runtime.type_name(value)}"), where
    )


def _macro2(
    kind: str,
    var: str,
    var2: str,
    rng: Fn,
    args: tuple[Fn, ...],
    where: str,
    range_where: str,
) -> Fn:
    if kind == "exists_one":
        (pred,) = args

        def exists_one(act: Activation) -> bool:
            scope = _new_scope(act)
            count = 0
            for a, b in _pairs(rng(act), range_where):
                scope[var] = a
                scope[var2] = b
                r = pred(scope)
                if r is True:
                    count += 1
                elif r is not False:
                    raise _bool_error(r, where)
            return count == 1

        return exists_one
    if kind in ("all", "exists"):
        (pred,) = args
        decisive = kind == "exists"  # the result that ends the loop: true for exists

        def quantifier(act: Activation) -> bool:
            scope = _new_scope(act)
            error: CelEvalError | None = None
            for a, b in _pairs(rng(act), range_where):
                scope[var] = a
                scope[var2] = b
                try:
                    r = pred(scope)
                except CelEvalError as e:
                    if error is None:
                        error = e
                    continue
                if r is True or r is False:
                    if r == decisive:
                        return r
                elif error is None:
                    error = _bool_error(r, where)
            if error is not None:
                raise error
            return not decisive

        return quantifier
    keep: Fn | None = args[0] if len(args) == 2 else None
    transform = args[-1]

    def transform_(act: Activation) -> Any:
        scope = _new_scope(act)
        out_list: list[Any] = []
        out_map: dict[Any, Any] = {}
        for a, b in _pairs(rng(act), range_where):
            scope[var] = a
            scope[var2] = b
            if keep is not None:
                r = keep(scope)
                if r is False:
                    continue
                if r is not True:
                    raise _bool_error(r, where)
            value = transform(scope)
            if kind == "transformList":
                out_list.append(value)
            elif kind == "transformMap":
                out_map[a] = value
            else:
                if not isinstance(value, Mapping):
                    raise _located(CelEvalError("transformMapEntry must produce a map"), where)
                for k, v in value.items():
                    if k in out_map:
                        raise _located(
                            CelEvalError(f"duplicate map key {runtime.format_key(k)}"), where
                        )
                    out_map[k] = v
        return out_list if kind == "transformList" else out_map

    return transform_


__all__ = ["CelType", "Compiler"]
