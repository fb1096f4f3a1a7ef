"""The CEL tokenizer: source text to a list of tokens with their offsets.

It exists so the parser never looks at characters, and it guarantees that every
literal is already decoded: string literals (quoted, raw, triple-quoted, with all
of CEL's escapes) become ``str``, bytes literals ``bytes``, numbers ``int`` or
``float`` (range checks on integers are the parser's job, since a leading minus
sign changes them). Any malformed input raises :class:`CelSyntaxError` with the
offset of the offending character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sensors.cel.errors import CelSyntaxError

# Token kinds. Operators and punctuation use their own spelling as the kind.
INT = "INT"
UINT = "UINT"
FLOAT = "FLOAT"
STRING = "STRING"
BYTES = "BYTES"
IDENT = "IDENT"
QUOTED_IDENT = "QUOTED_IDENT"
EOF = "EOF"

KEYWORDS = frozenset({"true", "false", "null", "in"})

_PUNCT = (
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "<",
    ">",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    "?",
    ":",
    ".",
    ",",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
)

_WS = re.compile(r"(?:[ \t\n\r\f]+|//[^\n]*)+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(
    r"""
    (?P<hex>0[xX][0-9a-fA-F]+)(?P<hexu>[uU])?
  | (?P<float>(?:[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+))
  | (?P<dec>[0-9]+)(?P<decu>[uU])?
    """,
    re.VERBOSE,
)
_QUOTED_IDENT = re.compile(r"`([A-Za-z0-9_.\-/ ]+)`")

_SIMPLE_ESCAPES = {
    "\\": "\\",
    "?": "?",
    '"': '"',
    "'": "'",
    "`": "`",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, decoded value (literals, names) and source span."""

    kind: str
    value: Any
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``EOF`` token."""
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while True:
        m = _WS.match(text, pos)
        if m:
            pos = m.end()
        if pos >= n:
            tokens.append(Token(EOF, None, n, n))
            return tokens
        ch = text[pos]
        if ch in _DIGITS or (ch == "." and pos + 1 < n and text[pos + 1] in _DIGITS):
            tokens.append(_number(text, pos))
        elif ch == "`":
            qm = _QUOTED_IDENT.match(text, pos)
            if not qm:
                raise CelSyntaxError("malformed back-quoted field name", text=text, position=pos)
            tokens.append(Token(QUOTED_IDENT, qm.group(1), pos, qm.end()))
        elif ch in "'\"":
            tokens.append(_string(text, pos, pos, raw=False, is_bytes=False))
        elif ch.isalpha() or ch == "_":
            im = _IDENT.match(text, pos)
            if not im:
                raise CelSyntaxError(f"unexpected character {ch!r}", text=text, position=pos)
            word = im.group()
            end = im.end()
            prefix = word.lower()
            if end < n and text[end] in "'\"" and prefix in ("r", "b", "rb", "br"):
                tokens.append(_string(text, pos, end, raw="r" in prefix, is_bytes="b" in prefix))
            else:
                tokens.append(Token(word if word in KEYWORDS else IDENT, word, pos, end))
        else:
            for p in _PUNCT:
                if text.startswith(p, pos):
                    tokens.append(Token(p, p, pos, pos + len(p)))
                    break
            else:
                raise CelSyntaxError(f"unexpected character {ch!r}", text=text, position=pos)
        pos = tokens[-1].end


def _number(text: str, pos: int) -> Token:
    m = _NUMBER.match(text, pos)
    if not m:  # pragma: no cover - the caller saw a digit or ".digit"
        raise CelSyntaxError("malformed number", text=text, position=pos)
    end = m.end()
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        raise CelSyntaxError("malformed number", text=text, position=pos)
    if m.group("hex"):
        value = int(m.group("hex"), 16)
        return Token(UINT if m.group("hexu") else INT, value, pos, end)
    if m.group("float"):
        return Token(FLOAT, float(m.group("float")), pos, end)
    value = int(m.group("dec"))
    return Token(UINT if m.group("decu") else INT, value, pos, end)


def _string(text: str, start: int, quote_pos: int, *, raw: bool, is_bytes: bool) -> Token:
    """Decode the string or bytes literal whose opening quote is at ``quote_pos``."""
    q = text[quote_pos]
    delim = q * 3 if text.startswith(q * 3, quote_pos) else q
    pos = quote_pos + len(delim)
    n = len(text)
    out_str: list[str] = []
    out_bytes = bytearray()

    def put_char(c: str) -> None:
        if is_bytes:
            out_bytes.extend(c.encode("utf-8"))
        else:
            out_str.append(c)

    while True:
        if pos >= n:
            raise CelSyntaxError("unterminated string literal", text=text, position=start)
        if text.startswith(delim, pos):
            pos += len(delim)
            break
        ch = text[pos]
        if len(delim) == 1 and ch in "\r\n":
            raise CelSyntaxError("newline in a quoted string", text=text, position=pos)
        if ch != "\\":
            put_char(ch)
            pos += 1
            continue
        if raw:
            put_char("\\")
            pos += 1
            continue
        pos = _escape(text, pos, is_bytes, put_char, out_bytes)
    kind = BYTES if is_bytes else STRING
    value: str | bytes = bytes(out_bytes) if is_bytes else "".join(out_str)
    return Token(kind, value, start, pos)


def _escape(text: str, pos: int, is_bytes: bool, put_char: Any, out_bytes: bytearray) -> int:
    """Decode the escape sequence at ``pos`` (a backslash); return the position after it."""
    esc = text[pos + 1 : pos + 2]
    if not esc:
        raise CelSyntaxError("unterminated escape sequence", text=text, position=pos)
    if esc in _SIMPLE_ESCAPES:
        put_char(_SIMPLE_ESCAPES[esc])
        return pos + 2
    if esc in "xX":
        digits, width = text[pos + 2 : pos + 4], 2
    elif esc == "u" and not is_bytes:
        digits, width = text[pos + 2 : pos + 6], 4
    elif esc == "U" and not is_bytes:
        digits, width = text[pos + 2 : pos + 10], 8
    elif esc in "0123":
        octal = text[pos + 1 : pos + 4]
        if len(octal) != 3 or any(c not in "01234567" for c in octal):
            raise CelSyntaxError("invalid octal escape", text=text, position=pos)
        code = int(octal, 8)
        if is_bytes:
            out_bytes.append(code)
        else:
            put_char(chr(code))
        return pos + 4
    else:
        raise CelSyntaxError(f"invalid escape sequence \\{esc}", text=text, position=pos)
    if len(digits) != width or any(c not in _HEX for c in digits):
        raise CelSyntaxError(f"invalid \\{esc} escape", text=text, position=pos)
    code = int(digits, 16)
    if is_bytes:
        out_bytes.append(code)
    else:
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise CelSyntaxError("escape is not a valid code point", text=text, position=pos)
        put_char(chr(code))
    return pos + 2 + width
