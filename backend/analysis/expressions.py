"""A small, safe expression language for theory overlays and fitted formulas.

User text is parsed by hand (backend/analysis/expression_parser.py, which gives the grammar) into a
tree of frozen dataclasses, then evaluated here with numpy; it is never passed to `eval`, `exec` or
`compile`. NAME is one of the variables the caller allows (default: alpha, D, L, M); FUNC is one of
`FUNCTIONS`. So `-2^2` is -4 and `2^3^2` is 512. Limits: `MAX_LENGTH` characters and `MAX_DEPTH`
nested parentheses, calls, signs and exponents; anything else raises `ExpressionError` with a
0-based character position.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

from backend.analysis.expression_parser import (
    FUNCTIONS,
    MAX_DEPTH,
    Binary,
    Call,
    ExpressionError,
    Node,
    Num,
    Unary,
    Var,
    is_name,
    parse_tree,
)

__all__ = [
    "DEFAULT_VARIABLES",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expression",
    "ExpressionError",
    "evaluate",
    "parse",
]

DEFAULT_VARIABLES: frozenset[str] = frozenset({"alpha", "D", "L", "M"})
MAX_LENGTH = 500
_BINARY: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "^": np.power,
}
def _collect(node: Node, out: dict[str, int]) -> None:
    """Record each variable name used under `node` with the position of its first use."""
    if isinstance(node, Var):
        out.setdefault(node.name, node.pos)
    elif isinstance(node, Unary):
        _collect(node.operand, out)
    elif isinstance(node, Binary):
        _collect(node.left, out)
        _collect(node.right, out)
    elif isinstance(node, Call):
        _collect(node.arg, out)


def _eval(node: Node, env: Mapping[str, np.ndarray]) -> np.ndarray:
    if isinstance(node, Num):
        return np.asarray(node.value, dtype=float)
    if isinstance(node, Var):
        return env[node.name]
    if isinstance(node, Unary):
        value = _eval(node.operand, env)
        return np.negative(value) if node.op == "-" else value
    if isinstance(node, Binary):
        return np.asarray(_BINARY[node.op](_eval(node.left, env), _eval(node.right, env)), dtype=float)
    return np.asarray(FUNCTIONS[node.func](_eval(node.arg, env)), dtype=float)


@dataclass(frozen=True)
class Expression:
    """A parsed expression.

    Attributes: `text` (the source), `tree` (the root node), `variables` (names it uses),
    `allowed` (names the caller allowed at parse time).
    """

    text: str
    tree: Node
    variables: frozenset[str]
    allowed: frozenset[str]

    def evaluate(self, env: Mapping[str, float | np.ndarray]) -> np.ndarray:
        """Evaluate with numpy broadcasting.

        `env` maps each used variable to a float or array; arrays broadcast together as numpy does.
        Returns a float ndarray of the broadcast shape (0-d for scalars). Division by zero, logs or
        square roots of negatives give inf/nan silently. A used variable absent from `env` raises
        `ExpressionError` at its first position in the text.
        """
        positions: dict[str, int] = {}
        _collect(self.tree, positions)
        missing = sorted((pos, name) for name, pos in positions.items() if name not in env)
        if missing:
            names = ", ".join(name for _, name in missing)
            raise ExpressionError(f"no value given for variable(s) {names}", missing[0][0])
        arrays = {name: np.asarray(env[name], dtype=float) for name in positions}
        with np.errstate(all="ignore"):
            return np.asarray(_eval(self.tree, arrays), dtype=float)


def parse(text: str, variables: Collection[str] = DEFAULT_VARIABLES) -> Expression:
    """Parse `text` into an `Expression` whose names must come from `variables`.

    Raises `ExpressionError` (with `.position`) for anything outside the grammar, text longer than
    `MAX_LENGTH` characters, or nesting deeper than `MAX_DEPTH`. Raises `ValueError` when a name in
    `variables` is not an identifier or shadows a function.
    """
    allowed = frozenset(variables)
    for name in allowed:
        if not is_name(name) or name in FUNCTIONS:
            raise ValueError(f"invalid variable name {name!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters ({len(text)})", MAX_LENGTH)
    if not text.strip():
        raise ExpressionError("empty expression", 0)
    tree = parse_tree(text, allowed)
    used: dict[str, int] = {}
    _collect(tree, used)
    return Expression(text=text, tree=tree, variables=frozenset(used), allowed=allowed)


def evaluate(
    text: str, env: Mapping[str, float | np.ndarray], variables: Collection[str] = DEFAULT_VARIABLES
) -> np.ndarray:
    """Parse `text` (see `parse`) and evaluate it on `env` (see `Expression.evaluate`)."""
    return parse(text, variables).evaluate(env)
