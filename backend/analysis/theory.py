"""The phase-diagram boundaries of docs/science.md section 4, as editable formulas for alpha."""

from __future__ import annotations

from typing import Any

OVERLAYS: list[dict[str, Any]] = [
    {"name": "feature learning", "axis": "alpha", "formula": "1", "residual_scale": "mlu",
     "meaning": "alpha = Theta(1): feature learning below, the lazy ODE regime above (feature_update ~ 1/alpha)"},
    {"name": "noise-dominated", "axis": "alpha", "formula": "sqrt(L*M/D)", "residual_scale": "mlu",
     "meaning": "alpha >~ sqrt(LM/D): init_deviation is O(1), no deterministic limit"},
    {"name": "plain feature learning", "axis": "alpha", "formula": "sqrt(D)", "residual_scale": "plain",
     "meaning": "with s = alpha/(LM) the diagram shifts by sqrt(D): features learn at alpha ~ sqrt(D)"},
    {"name": "plain noise-dominated", "axis": "alpha", "formula": "sqrt(L*M)", "residual_scale": "plain",
     "meaning": "alpha/sqrt(D) >~ sqrt(LM/D), i.e. alpha >~ sqrt(LM), at the plain scale"},
]

# Predicted exponents of the rate claims: error ~ L^-1 where the 1/L term dominates (M large),
# ~ (LM)^-1/2 where the fluctuation dominates; feature_update ~ alpha^-1 in the lazy regime.
PREDICTED_EXPONENTS: dict[tuple[str, str], float] = {
    ("err_out", "L"): -1.0, ("err_emb", "L"): -1.0,
    ("err_out", "M"): -0.5, ("err_emb", "M"): -0.5,
    ("feature_update", "alpha"): -1.0, ("init_deviation", "alpha"): 1.0,
    ("init_deviation", "L"): -0.5, ("init_deviation", "M"): -0.5, ("init_deviation", "D"): 0.5,
}
# The tolerance of a slope against its predicted exponent where no claim sets one (GET /fit).
DEFAULT_TOLERANCE = 0.15
