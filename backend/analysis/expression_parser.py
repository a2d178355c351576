"""The parser of the expression language (backend/analysis/expressions.py): text -> syntax tree.

User text is tokenised and parsed by hand into a tree of frozen dataclasses; nothing here evaluates
it. Grammar (whitespace ignored)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom ('^' unary)?          # right-associative; binds tighter than unary minus
    atom    := NUMBER | NAME | FUNC '(' expr ')' | '(' expr ')'

NUMBER is an integer or decimal with an optional exponent (`3`, `0.5`, `.5`, `1e-3`, `2.5E+4`); NAME is
one of the variables the caller allows; FUNC is one of `FUNCTIONS`. Nesting (parentheses, calls,
signs and exponents) is limited to `MAX_DEPTH` levels; anything else raises `ExpressionError` with
a 0-based character position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

__all__ = ["FUNCTIONS", "MAX_DEPTH", "Binary", "Call", "ExpressionError", "Node", "Num", "Unary", "Var",
           "is_name", "parse_tree"]

MAX_DEPTH = 50
FUNCTIONS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "sqrt": np.sqrt,
    "log": np.log,
    "log10": np.log10,
    "log2": np.log2,
    "exp": np.exp,
    "abs": np.abs,
}
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_NUMBER_RE = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SINGLE = "+-*/^(),"


class ExpressionError(ValueError):
    """Invalid expression text, or a variable missing at evaluation; `position` is a 0-based offset."""

    def __init__(self, message: str, position: int, hint: str = "") -> None:
        super().__init__(f"{message} at position {position}" + (f"; {hint}" if hint else ""))
        self.position = position
        self.reason = message


# Syntax-tree nodes; `pos` is the 0-based offset of the node's token in the text.
@dataclass(frozen=True)
class Num:
    value: float
    pos: int


@dataclass(frozen=True)
class Var:
    name: str
    pos: int


@dataclass(frozen=True)
class Unary:
    op: str  # "+" or "-"
    operand: Node
    pos: int


@dataclass(frozen=True)
class Binary:
    op: str  # one of + - * / ^
    left: Node
    right: Node
    pos: int


@dataclass(frozen=True)
class Call:
    func: str  # a key of FUNCTIONS
    arg: Node
    pos: int


Node: TypeAlias = Num | Var | Unary | Binary | Call


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op" (one of _SINGLE) or "end"
    text: str
    pos: int


def _next_token(text: str, i: int) -> _Token:
    """The token starting at or after offset `i` (whitespace skipped); an "end" token past the text.

    Tokens are read lazily by the parser, so the leftmost problem in the text is the one reported.
    """
    while i < len(text) and text[i].isspace():
        i += 1
    if i == len(text):
        return _Token("end", "", i)
    if text.startswith("**", i):
        raise ExpressionError("'**' is not allowed", i, "use '^' for powers")
    if text[i] in _SINGLE:
        return _Token("op", text[i], i)
    if (m := _NUMBER_RE.match(text, i)) is not None:
        return _Token("num", m.group(), i)
    if (m := _NAME_RE.match(text, i)) is not None:
        return _Token("name", m.group(), i)
    raise ExpressionError(f"unexpected character {text[i]!r}", i)


def _describe(tok: _Token) -> str:
    return "end of expression" if tok.kind == "end" else repr(tok.text)


class _Parser:
    """Recursive-descent parser with one token of lookahead; `depth` guards nesting (and the stack)."""

    def __init__(self, text: str, allowed: frozenset[str]) -> None:
        self.text = text
        self.allowed = allowed
        self.ahead: _Token | None = None
        self.i = 0
        self.depth = 0

    def peek(self) -> _Token:
        if self.ahead is None:
            self.ahead = _next_token(self.text, self.i)
        return self.ahead

    def take(self) -> _Token:
        tok = self.peek()
        self.ahead = None
        self.i = tok.pos + max(len(tok.text), 1)
        return tok

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels", pos)

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise ExpressionError(f"unexpected {_describe(tok)}", tok.pos, "expected an operator or the end")
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.take()
            node = Binary(op.text, node, self.term(), op.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op = self.take()
            node = Binary(op.text, node, self.unary(), op.pos)
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.take()
            self.enter(tok.pos)
            node: Node = Unary(tok.text, self.unary(), tok.pos)
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        tok = self.peek()
        if tok.kind == "op" and tok.text == "^":
            self.take()
            self.enter(tok.pos)
            node: Node = Binary("^", base, self.unary(), tok.pos)
            self.depth -= 1
            return node
        return base

    def atom(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Num(float(tok.text), tok.pos)
        if tok.kind == "op" and tok.text == "(":
            self.enter(tok.pos)
            node = self.expr()
            self.expect_close(tok)
            self.depth -= 1
            return node
        if tok.kind == "name":
            return self.name(tok)
        raise ExpressionError(f"expected a number, name or '(' but found {_describe(tok)}", tok.pos)

    def name(self, tok: _Token) -> Node:
        is_call = self.text[self.i :].lstrip().startswith("(")  # looked at raw, to report the name first
        if tok.text in FUNCTIONS:
            if not is_call:
                raise ExpressionError(f"function '{tok.text}' must be called as {tok.text}(...)", tok.pos)
            open_tok = self.take()
            self.enter(open_tok.pos)
            arg = self.expr()
            if self.peek().text == ",":
                raise ExpressionError(f"function '{tok.text}' takes exactly one argument", self.peek().pos)
            self.expect_close(open_tok)
            self.depth -= 1
            return Call(tok.text, arg, tok.pos)
        if is_call:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(f"unknown function '{tok.text}'", tok.pos, f"allowed: {known}")
        if tok.text not in self.allowed:
            known = ", ".join(sorted(self.allowed)) or "none"
            raise ExpressionError(f"unknown name '{tok.text}'", tok.pos, f"allowed: {known}")
        return Var(tok.text, tok.pos)

    def expect_close(self, open_tok: _Token) -> None:
        tok = self.take()
        if tok.kind != "op" or tok.text != ")":
            raise ExpressionError(
                f"expected ')' to close '(' at position {open_tok.pos} but found {_describe(tok)}", tok.pos
            )


def is_name(text: str) -> bool:
    """Whether `text` is an identifier of the language (a possible variable name)."""
    return _NAME_RE.fullmatch(text) is not None


def parse_tree(text: str, allowed: frozenset[str]) -> Node:
    """The syntax tree of `text`, whose names must be in `allowed`; `ExpressionError` otherwise."""
    return _Parser(text, allowed).parse()
