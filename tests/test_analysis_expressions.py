"""Tests for backend.analysis.expressions: the safe expression language of theory overlays."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from backend.analysis import expression_parser, expressions
from backend.analysis.expressions import MAX_DEPTH, MAX_LENGTH, ExpressionError, evaluate, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("8 / 4 / 2", 1.0),
        ("1 - 2 - 3", -4.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-2^2", -4.0),
        ("(-2)^2", 4.0),
        ("2^-1", 0.5),
        ("2 * -3", -6.0),
        ("-+-3", 3.0),
        ("2^2*3", 12.0),
        ("3*2^2", 12.0),
        ("-3^2 + 10", 1.0),
        ("1 / 2 * 4", 2.0),
    ],
)
def test_precedence_and_associativity(text: str, expected: float) -> None:
    assert float(evaluate(text, {})) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10", 10.0), ("0.25", 0.25), (".5", 0.5), ("3.", 3.0), ("1e-3", 1e-3), ("2.5E+4", 2.5e4), ("7e2", 700)],
)
def test_number_formats(text: str, expected: float) -> None:
    assert float(evaluate(text, {})) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqrt(16)", 4.0),
        ("log(exp(2))", 2.0),
        ("log10(1000)", 3.0),
        ("log2(8)", 3.0),
        ("abs(-2.5)", 2.5),
        ("exp(0)", 1.0),
        ("sqrt(abs(-9)) + log2(4)", 5.0),
    ],
)
def test_functions(text: str, expected: float) -> None:
    assert float(evaluate(text, {})) == pytest.approx(expected)


def test_theory_overlays_match_numpy_with_broadcasting() -> None:
    L = np.array([[1.0], [4.0], [16.0]])  # (3, 1)
    M = np.array([1.0, 2.0, 8.0, 32.0])  # (4,)
    env: dict[str, float | np.ndarray] = {"L": L, "M": M, "D": 16.0, "alpha": 2.0}
    got = evaluate("1/L + sqrt(D)/sqrt(L*M)", env)
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, 1 / L + np.sqrt(16.0) / np.sqrt(L * M))
    np.testing.assert_allclose(evaluate("sqrt(L*M/D)", env), np.sqrt(L * M / 16.0))
    assert float(evaluate("alpha/sqrt(D)", env)) == pytest.approx(0.5)


def test_scalar_result_is_zero_dimensional_float_array() -> None:
    out = evaluate("L * 2", {"L": 3})
    assert isinstance(out, np.ndarray)
    assert out.shape == ()
    assert out.dtype == np.float64


def test_parse_reports_used_variables_and_keeps_text() -> None:
    expr = parse("alpha / sqrt(D) + 1/L")
    assert expr.variables == frozenset({"alpha", "D", "L"})
    assert expr.text == "alpha / sqrt(D) + 1/L"
    assert parse("2 + 3").variables == frozenset()


def test_custom_variable_set() -> None:
    expr = parse("a * x ^ p", variables={"a", "x", "p"})
    assert float(expr.evaluate({"a": 2, "x": 3, "p": 2})) == pytest.approx(18.0)
    with pytest.raises(ExpressionError, match="unknown name 'L'"):
        parse("L", variables={"a"})
    with pytest.raises(ValueError, match="invalid variable name"):
        parse("1", variables={"sqrt"})
    with pytest.raises(ValueError, match="invalid variable name"):
        parse("1", variables={"2x"})


def test_invalid_arithmetic_gives_inf_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = evaluate("1/L", {"L": np.array([0.0, 2.0])})
        assert np.isinf(out[0]) and out[1] == 0.5
        assert np.isnan(evaluate("sqrt(alpha)", {"alpha": -1.0}))
        assert np.isnan(evaluate("log(0 - 1)", {}))
        assert np.isinf(evaluate("exp(1000)", {}))
        assert np.isnan(evaluate("(0-8)^(1/3)", {}))


def test_missing_variable_at_evaluate_names_it_and_its_position() -> None:
    expr = parse("L + M * alpha")
    with pytest.raises(ExpressionError, match="M, alpha") as info:
        expr.evaluate({"L": 1.0})
    assert info.value.position == 4


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("__import__('os')", 0, "unknown function '__import__'"),
        ("alpha.real", 5, "'.'"),
        ("2**3", 1, "'**'"),
        ("a,b", 0, "unknown name 'a'"),
        ("L,M", 1, "','"),
        ("sqrt(1,2)", 6, "exactly one argument"),
        ("foo(1)", 0, "unknown function 'foo'"),
        ("L + x", 4, "unknown name 'x'"),
        ("(1 + 2", 6, "expected ')'"),
        ("1 + 2)", 5, "unexpected ')'"),
        ("", 0, "empty"),
        ("   ", 0, "empty"),
        ("1 +", 3, "found end of expression"),
        ("L M", 2, "unexpected 'M'"),
        ("2L", 1, "unexpected 'L'"),
        ("sqrt", 0, "must be called"),
        ("sqrt()", 5, "found ')'"),
        ("L[0]", 1, "'['"),
        ("lambda: 1", 0, "unknown name 'lambda'"),
        ("1 if L else 2", 2, "unexpected 'if'"),
        ("L = 2", 2, "'='"),
        ("'1'", 0, "unexpected character"),
    ],
)
def test_rejections_with_positions(text: str, position: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert fragment in str(err)
    assert f"at position {position}" in str(err)
    assert err.position == position


def test_unknown_name_message_lists_allowed_names() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("L + x")
    assert str(info.value) == "unknown name 'x' at position 4; allowed: D, L, M, alpha"


def test_length_limit() -> None:
    ok = "1+" * ((MAX_LENGTH - 1) // 2) + "1"
    assert len(ok) <= MAX_LENGTH
    assert float(evaluate(ok, {})) == pytest.approx((MAX_LENGTH - 1) // 2 + 1)
    with pytest.raises(ExpressionError, match="longer than") as info:
        parse(ok + "+1" * 5)
    assert info.value.position == MAX_LENGTH


def test_depth_limit() -> None:
    ok = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    assert float(evaluate(ok, {})) == 1.0
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("sqrt(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("-" * 200 + "1")
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("^".join(["2"] * 120))


def test_long_flat_chains_evaluate() -> None:
    text = "*".join(["L"] * 200)
    assert len(text) < MAX_LENGTH
    assert float(evaluate(text, {"L": 1.0})) == 1.0


def test_module_never_evaluates_text_with_python() -> None:
    for module in (expressions, expression_parser):
        source = Path(module.__file__ or "").read_text()
        assert not re.search(r"(?<![\w.])(eval|exec|compile|__import__)\s*\(", source), module.__name__
