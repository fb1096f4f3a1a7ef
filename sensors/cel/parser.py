"""A recursive-descent (precedence-climbing) parser for CEL.

It exists so that Herald's runtime needs no parser generator: it reads the
grammar of the CEL spec (``langdef.md``) including the optional syntax
(``a.?b``, ``a[?i]``, ``[?x]``, ``{?k: v}``), back-quoted field names and
every literal form, and expands the standard macros as the spec prescribes.

Guarantees: the result is a tree of :mod:`sensors.cel.nodes`; any text that is
not CEL raises :class:`CelSyntaxError` with the offset of the offending token;
nesting is bounded (:data:`MAX_NESTING`) so hostile input cannot exhaust the
Python stack.
"""

from __future__ import annotations

from sensors.cel import lexer
from sensors.cel.errors import CelSyntaxError
from sensors.cel.lexer import Token
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
    MapEntry,
    MapLit,
    Node,
    Select,
    StructLit,
    Unary,
)
from sensors.cel.values import Uint

MAX_NESTING = 64
"""How deeply parentheses, brackets, braces and call arguments may nest."""

MAX_DEPTH = 200
"""How deep the syntax tree may be (``a + a + ...`` chains, ``!!!...``, long paths)."""

MAX_INT = 2**63 - 1
MAX_UINT = 2**64 - 1

RESERVED = frozenset(
    {
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    }
)

# Binary operator precedence, lowest first (|| and && are handled separately).
_PRECEDENCE = {
    "==": 1,
    "!=": 1,
    "<": 1,
    "<=": 1,
    ">": 1,
    ">=": 1,
    "in": 1,
    "+": 2,
    "-": 2,
    "*": 3,
    "/": 3,
    "%": 3,
}

_ONE_VAR_MACROS = {
    # name: allowed argument counts (the first argument is the variable)
    "all": (2,),
    "exists": (2,),
    "exists_one": (2,),
    "existsOne": (2,),
    "map": (2, 3),
    "filter": (2,),
    "optMap": (2,),
    "optFlatMap": (2,),
}
_TWO_VAR_MACROS = {
    "all": (3,),
    "exists": (3,),
    "exists_one": (3,),
    "existsOne": (3,),
    "transformList": (3, 4),
    "transformMap": (3, 4),
    "transformMapEntry": (3, 4),
}


def parse(text: str) -> Node:
    """Parse CEL ``text`` into a syntax tree; raise :class:`CelSyntaxError`."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = lexer.tokenize(text)
        self.pos = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != lexer.EOF:
            self.pos += 1
        return tok

    def accept(self, kind: str) -> Token | None:
        if self.tok.kind == kind:
            return self.advance()
        return None

    def expect(self, kind: str, what: str = "") -> Token:
        if self.tok.kind != kind:
            self.fail(f"expected {what or repr(kind)}")
        return self.advance()

    def fail(self, message: str, tok: Token | None = None) -> CelSyntaxError:
        tok = tok or self.tok
        found = "end of input" if tok.kind == lexer.EOF else repr(self.text[tok.start : tok.end])
        raise CelSyntaxError(f"{message}, found {found}", text=self.text, position=tok.start)

    def error(self, message: str, position: int) -> CelSyntaxError:
        return CelSyntaxError(message, text=self.text, position=position)

    # -- grammar -------------------------------------------------------------

    def parse(self) -> Node:
        if self.tok.kind == lexer.EOF:
            raise self.error("empty expression", 0)
        node = self.expr()
        if self.tok.kind != lexer.EOF:
            self.fail("unexpected token after the expression")
        if _depth(node) > MAX_DEPTH:
            raise self.error(f"expression nests more than {MAX_DEPTH} levels deep", 0)
        return node

    def nested_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(
                f"expression nests more than {MAX_NESTING} levels deep", self.tok.start
            )
        try:
            return self.expr()
        finally:
            self.depth -= 1

    def expr(self) -> Node:
        cond = self.logical("||")
        if self.tok.kind != "?":
            return cond
        self.advance()
        then = self.logical("||")
        self.expect(":", "':' of the conditional")
        otherwise = self.nested_expr()
        return Conditional((cond.span[0], otherwise.span[1]), cond, then, otherwise)

    def logical(self, op: str) -> Node:
        first = self.logical("&&") if op == "||" else self.binary(1)
        if self.tok.kind != op:
            return first
        operands = [first]
        while self.accept(op):
            operands.append(self.logical("&&") if op == "||" else self.binary(1))
        return Logical((first.span[0], operands[-1].span[1]), op, tuple(operands))

    def binary(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            op = self.tok.kind
            prec = _PRECEDENCE.get(op)
            if prec is None or prec < min_prec:
                return left
            self.advance()
            right = self.binary(prec + 1)
            left = Binary((left.span[0], right.span[1]), op, left, right)

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind == "!":
            count = 0
            while self.accept("!"):
                count += 1
            node = self.member()
            for _ in range(count):
                node = Unary((tok.start, node.span[1]), "!", node)
            return node
        if tok.kind == "-":
            count = 0
            while self.tok.kind == "-":
                count += 1
                self.advance()
            if self.tok.kind in (lexer.INT, lexer.FLOAT):
                # A minus sign directly before a number is part of the literal,
                # so that -9223372036854775808 is a valid int.
                count -= 1
                node = self.member(negate_literal=True)
            else:
                node = self.member()
            for _ in range(count):
                node = Unary((tok.start, node.span[1]), "-", node)
            return node
        return self.member()

    def member(self, *, negate_literal: bool = False) -> Node:
        node = self.primary(negate_literal=negate_literal)
        while True:
            tok = self.tok
            if tok.kind == ".":
                self.advance()
                optional = bool(self.accept("?"))
                name_tok = self.tok
                if name_tok.kind in (lexer.IDENT, lexer.QUOTED_IDENT) or (
                    name_tok.kind in lexer.KEYWORDS
                ):
                    self.advance()
                else:
                    self.fail("expected a field or method name after '.'")
                name = str(name_tok.value)
                if self.tok.kind == "(" and not optional and name_tok.kind == lexer.IDENT:
                    self.advance()
                    args = self.arguments(")")
                    end = self.expect(")", "')'").end
                    node = self.call((node.span[0], end), name, args, node)
                else:
                    node = Select((node.span[0], name_tok.end), node, name, optional=optional)
            elif tok.kind == "[":
                self.advance()
                optional = bool(self.accept("?"))
                index = self.nested_expr()
                end = self.expect("]", "']'").end
                node = Index((node.span[0], end), node, index, optional=optional)
            elif tok.kind == "{" and _qualified_name(node) is not None:
                node = self.struct(node)
            else:
                return node

    def primary(self, *, negate_literal: bool = False) -> Node:
        tok = self.tok
        kind = tok.kind
        if kind in (lexer.INT, lexer.FLOAT):
            self.advance()
            start = tok.start
            value = tok.value
            if negate_literal:
                start = self.tokens[self.pos - 2].start
                value = -value
            if kind == lexer.INT and not -MAX_INT - 1 <= value <= MAX_INT:
                raise self.error("integer literal out of the int64 range", start)
            return Literal((start, tok.end), value)
        if kind == lexer.UINT:
            self.advance()
            if tok.value > MAX_UINT:
                raise self.error("integer literal out of the uint64 range", tok.start)
            return Literal((tok.start, tok.end), Uint(tok.value))
        if kind in (lexer.STRING, lexer.BYTES):
            self.advance()
            return Literal((tok.start, tok.end), tok.value)
        if kind in ("true", "false", "null"):
            self.advance()
            value = {"true": True, "false": False, "null": None}[kind]
            return Literal((tok.start, tok.end), value)
        if kind == "." and self.peek().kind == lexer.IDENT:
            self.advance()
            return self.identifier(leading_dot=True)
        if kind == lexer.IDENT:
            return self.identifier()
        if kind == "(":
            self.advance()
            inner = self.nested_expr()
            self.expect(")", "')'")
            return inner
        if kind == "[":
            return self.list_literal()
        if kind == "{":
            return self.map_literal()
        self.fail("expected an expression")
        raise AssertionError("unreachable")  # pragma: no cover

    def identifier(self, *, leading_dot: bool = False) -> Node:
        tok = self.advance()
        name = str(tok.value)
        if name in RESERVED:
            raise self.error(f"reserved identifier {name!r}", tok.start)
        if self.tok.kind == "(":
            self.advance()
            args = self.arguments(")")
            end = self.expect(")", "')'").end
            return self.call((tok.start, end), name, args, None)
        return Ident((tok.start, tok.end), name)

    def arguments(self, closing: str) -> list[Node]:
        args: list[Node] = []
        if self.tok.kind == closing:
            return args
        while True:
            args.append(self.nested_expr())
            if not self.accept(","):
                return args

    def list_literal(self) -> Node:
        start = self.advance().start
        elements: list[Node] = []
        optional: set[int] = set()
        while self.tok.kind != "]":
            if self.accept("?"):
                optional.add(len(elements))
            elements.append(self.nested_expr())
            if not self.accept(","):
                break
        end = self.expect("]", "']' or ','").end
        return ListLit((start, end), tuple(elements), frozenset(optional))

    def map_literal(self) -> Node:
        start = self.advance().start
        entries: list[MapEntry] = []
        while self.tok.kind != "}":
            optional = bool(self.accept("?"))
            key = self.nested_expr()
            self.expect(":", "':' after a map key")
            value = self.nested_expr()
            entries.append(MapEntry(key, value, optional))
            if not self.accept(","):
                break
        end = self.expect("}", "'}' or ','").end
        return MapLit((start, end), tuple(entries))

    def struct(self, type_node: Node) -> Node:
        type_name = _qualified_name(type_node) or ""
        self.advance()
        fields: list[tuple[str, Node]] = []
        while self.tok.kind != "}":
            self.accept("?")
            name_tok = self.expect(lexer.IDENT, "a field name")
            self.expect(":", "':' after a field name")
            fields.append((str(name_tok.value), self.nested_expr()))
            if not self.accept(","):
                break
        end = self.expect("}", "'}' or ','").end
        return StructLit((type_node.span[0], end), type_name, tuple(fields))

    # -- macros --------------------------------------------------------------

    def call(self, span: tuple[int, int], name: str, args: list[Node], target: Node | None) -> Node:
        if target is None:
            if name == "has" and len(args) == 1:
                arg = args[0]
                if not isinstance(arg, Select) or arg.optional:
                    raise self.error("has() takes a field selection such as has(a.b)", span[0])
                return Select(span, arg.operand, arg.field, test_only=True)
            return Call(span, name, tuple(args), None)
        if isinstance(target, Ident) and target.name == "cel":
            special = self.cel_namespace(span, name, args)
            if special is not None:
                return special
        if name in _ONE_VAR_MACROS and len(args) in _ONE_VAR_MACROS[name]:
            var = self.macro_var(args[0], name)
            kind = "exists_one" if name == "existsOne" else name
            return Comprehension(span, kind, target, var, None, tuple(args[1:]))
        if name in _TWO_VAR_MACROS and len(args) in _TWO_VAR_MACROS[name]:
            var = self.macro_var(args[0], name)
            var2 = self.macro_var(args[1], name)
            if var == var2:
                raise self.error(f"{name}() needs two different variable names", span[0])
            kind = "exists_one" if name == "existsOne" else name
            return Comprehension(span, kind, target, var, var2, tuple(args[2:]))
        return Call(span, name, tuple(args), target)

    def cel_namespace(self, span: tuple[int, int], name: str, args: list[Node]) -> Node | None:
        """``cel.bind`` and the ``cel.block`` extension (``cel.index``, ``cel.iterVar``)."""
        if name == "bind" and len(args) == 3:
            var = self.macro_var(args[0], name)
            return Comprehension(span, "bind", args[1], var, None, (args[2],))
        if name == "block" and len(args) == 2:
            if not isinstance(args[0], ListLit) or args[0].optional:
                raise self.error("cel.block() takes a list of expressions first", span[0])
            return Comprehension(span, "block", args[0], "", None, (args[1],))
        numbers = [a.value for a in args if isinstance(a, Literal) and a.value.__class__ is int]
        if name == "index" and len(numbers) == len(args) == 1:
            return Ident(span, block_slot(numbers[0]))
        if name in ("iterVar", "accuVar") and len(numbers) == len(args) == 2:
            return Ident(span, f"@{name}:{numbers[0]}:{numbers[1]}")
        return None

    def macro_var(self, node: Node, macro: str) -> str:
        if not isinstance(node, Ident):
            raise self.error(f"the variable of {macro}() must be a simple name", node.span[0])
        return node.name


def block_slot(index: int) -> str:
    """The internal variable name of ``cel.index(index)`` inside ``cel.block``."""
    return f"@index{index}"


def _qualified_name(node: Node) -> str | None:
    """``a.b.c`` for an identifier chain, else None."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select) and not node.test_only and not node.optional:
        prefix = _qualified_name(node.operand)
        return None if prefix is None else f"{prefix}.{node.field}"
    return None


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Select | Unary):
        return (node.operand,)
    if isinstance(node, Index):
        return (node.operand, node.index)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Logical):
        return node.operands
    if isinstance(node, Conditional):
        return (node.cond, node.then, node.otherwise)
    if isinstance(node, Call):
        return node.args if node.target is None else (node.target, *node.args)
    if isinstance(node, ListLit):
        return node.elements
    if isinstance(node, MapLit):
        return tuple(part for e in node.entries for part in (e.key, e.value))
    if isinstance(node, StructLit):
        return tuple(value for _, value in node.fields)
    if isinstance(node, Comprehension):
        return (node.range, *node.args)
    return ()


def _depth(root: Node) -> int:
    """The depth of the tree, computed without recursion."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest
