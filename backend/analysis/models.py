"""The multi-term error models of docs/science.md section 4 and their fits, err = sqrt(sum_k (c_k term_k)^2).

`fit_model` fits one of `MODELS` by nonlinear least squares on log(seed mean), coefficients >= 0, with
bootstrap percentile intervals (selection and bootstrap: backend/analysis/selection.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from scipy.optimize import least_squares
from scipy.special import logsumexp, softmax

from backend.analysis.selection import (
    FitError,
    as_values,
    bootstrap_cell_means,
    check_options,
    log_positive,
    percentile_ci,
    select_cells,
)
from backend.jsonsafe import JsonResult, to_jsonable

__all__ = ["MODELS", "Axes", "ModelFit", "ModelSpec", "fit_model"]

Axes: TypeAlias = Mapping[str, float | np.ndarray]  # axis name -> per-cell array (n_cells,) or scalar


@dataclass(frozen=True)
class ModelSpec:
    """A multi-term error model err = sqrt(sum_k (coef_k * term_k)^2) with coefficients >= 0.

    Term k is prod_axis axis ** terms[k][axis]; its coefficient is `coefficients[k]`. `formula` is the
    same model in the `expressions` language, with the coefficients as extra variables.
    """

    name: str
    formula: str
    description: str
    terms: tuple[dict[str, float], ...]

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Coefficient names, "a", "b", ... in term order."""
        return tuple("abcdefgh"[: len(self.terms)])

    @property
    def axes(self) -> tuple[str, ...]:
        """Names of the axes the model reads, sorted."""
        return tuple(sorted({a for t in self.terms for a in t}))

    def log_terms(self, axes: Axes) -> np.ndarray:
        """log(term_k) at each cell from axis arrays of shape (n,) or scalars; returns shape (n_terms, n)."""
        arrays = np.broadcast_arrays(*[np.log(np.asarray(axes[a], dtype=float)) for a in self.axes])
        logs = dict(zip(self.axes, arrays, strict=True))
        return np.stack([np.sum([p * logs[a] for a, p in t.items()], axis=0) for t in self.terms])

    def evaluate(self, coefficients: Mapping[str, float], axes: Axes) -> np.ndarray:
        """Model value at each cell: `axes` maps names to (n,) arrays; returns shape (n,).

        Zero coefficients drop their term; non-positive axis values give NaN (no warnings).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.log([coefficients[c] for c in self.coefficients])
            lt = self.log_terms(axes)
            return np.asarray(np.exp(0.5 * logsumexp(2.0 * (theta[:, None] + lt), axis=0)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description: name, formula, description, coefficients, axes."""
        keys = ("name", "formula", "description", "coefficients", "axes")
        return {k: to_jsonable(getattr(self, k)) for k in keys}


_BIAS = {"L": -1.0}  # the O(1/L) discretisation bias
_MLU_NOISE = {"D": 0.5, "L": -0.5, "M": -0.5}  # sqrt(D/(L M)): unit fluctuation at the mlu scale
MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "depth_width",
            "sqrt((a/L)^2 + (b*sqrt(D/(L*M)))^2)",
            "mlu scale: O(1/L) discretisation bias plus O(sqrt(D/(L M))) unit fluctuation",
            (_BIAS, _MLU_NOISE),
        ),
        ModelSpec(
            "depth_width_D",
            "sqrt((a/L)^2 + (b*sqrt(D/(L*M)))^2 + (c/sqrt(D))^2)",
            "companion paper, embedding error: adds an O(1/sqrt(D)) term",
            (_BIAS, _MLU_NOISE, {"D": -0.5}),
        ),
        ModelSpec(
            "alpha_width",
            "sqrt((a/L)^2 + (b*alpha/sqrt(L*M))^2)",
            "general model: O(1/L) bias plus O(alpha/sqrt(L M)) fluctuation",
            (_BIAS, {"alpha": 1.0, "L": -0.5, "M": -0.5}),
        ),
    )
}


@dataclass(frozen=True)
class ModelFit(JsonResult):
    """Result of `fit_model`: coefficient estimates and bootstrap percentile CIs by name.

    `rmse_log` is the root mean square of log(mean) - log(model) over the used cells;
    `n_boot_failed` counts replicates that gave no finite coefficients (or had a seed mean <= 0).
    """

    model: str
    formula: str
    coefficients: dict[str, float]
    coefficient_ci: dict[str, tuple[float, float]]
    rmse_log: float
    n_cells_used: int
    n_cells_excluded: int
    n_values_used: int
    n_values_excluded: int
    exclusions: dict[str, int]
    n_boot: int
    n_boot_failed: int
    ci: float

    def predict(self, axes: Axes) -> np.ndarray:
        """The fitted model at the cells given by `axes` (arrays of shape (n,)); returns shape (n,)."""
        return MODELS[self.model].evaluate(self.coefficients, axes)


def _solve_log_model(lt: np.ndarray, ly: np.ndarray, theta0: np.ndarray) -> np.ndarray:
    """Minimise sum_i (0.5 logsumexp_k 2(theta_k + lt[k, i]) - ly[i])^2 over theta (log coefficients).

    `lt` (n_terms, n), `ly` (n,), `theta0` (n_terms,). Returns theta (n_terms,), NaN if not finite.
    """

    def resid(theta: np.ndarray) -> np.ndarray:
        return np.asarray(0.5 * logsumexp(2.0 * (theta[:, None] + lt), axis=0) - ly)

    def jac(theta: np.ndarray) -> np.ndarray:
        return np.asarray(softmax(2.0 * (theta[:, None] + lt), axis=0).T)

    if not np.all(np.isfinite(ly)):
        return np.full(lt.shape[0], np.nan)
    sol = least_squares(resid, np.clip(theta0, -49.0, 49.0), jac=jac, bounds=(-50.0, 50.0))
    theta = np.asarray(sol.x, dtype=float)
    return theta if np.all(np.isfinite(theta)) else np.full_like(theta, np.nan)


def _model_axes(spec: ModelSpec, axes: Axes, n_cells: int) -> dict[str, np.ndarray]:
    """The axes `spec` needs, each broadcast to shape (n_cells,); `FitError` if missing or mis-shaped."""
    missing = [a for a in spec.axes if a not in axes]
    if missing:
        raise FitError(f"model '{spec.name}' needs axes {', '.join(spec.axes)}; missing {', '.join(missing)}")
    try:
        return {a: np.broadcast_to(np.asarray(axes[a], dtype=float), (n_cells,)) for a in spec.axes}
    except ValueError as exc:
        raise FitError(f"every axis array must have shape (n_cells={n_cells},): {exc}") from exc


def fit_model(
    model: str,
    axes: Axes,
    values: np.ndarray,
    *,
    n_boot: int = 500,
    ci: float = 0.95,
    seed: int = 0,
) -> ModelFit:
    """Fit a model from `MODELS` by nonlinear least squares on log(seed mean), coefficients >= 0.

    `axes` maps the model's axes ("alpha", "D", "L", "M") to arrays of shape (n_cells,) (scalars
    broadcast); `values` (n_cells, n_seeds) with NaN for missing seeds. Cells with a non-finite or
    non-positive axis value ("nonpositive_axis"), no finite seed, or a mean <= 0 are excluded and
    counted. Raises `FitError` for an unknown model, a missing axis, or cells that cannot identify
    every coefficient (fewer cells than coefficients, or terms proportional over the cells).
    """
    if model not in MODELS:
        raise FitError(f"unknown model '{model}'; known models: {', '.join(sorted(MODELS))}")
    check_options(n_boot, ci)
    spec, k = MODELS[model], len(MODELS[model].coefficients)
    ax = _model_axes(spec, axes, as_values(values).shape[0])
    bad = np.logical_or.reduce([~(np.isfinite(a) & (a > 0)) for a in ax.values()])
    cells = select_cells(values, bad, "nonpositive_axis", positive=True)
    lt = spec.log_terms({a: arr[cells.used] for a, arr in ax.items()})
    sq_terms = np.exp(2.0 * (lt - lt.max(axis=1, keepdims=True))).T if lt.size else np.zeros((0, k))
    if sq_terms.shape[0] < k or np.linalg.matrix_rank(sq_terms) < k:
        raise FitError(
            f"model '{model}' cannot identify {', '.join(spec.coefficients)} from {sq_terms.shape[0]} usable "
            f"cells (of {cells.vals.shape[0]}): vary {', '.join(spec.axes)} so the terms vary independently"
        )
    ly = np.log(cells.means[cells.used])
    theta = _solve_log_model(lt, ly, np.median(ly[None, :] - lt, axis=1) - 0.5 * math.log(k))
    boot = log_positive(bootstrap_cell_means(cells.vals[cells.used], n_boot, np.random.default_rng(seed)))
    thetas = np.array([_solve_log_model(lt, row, theta) for row in boot]).reshape(n_boot, k)
    rmse = float(np.sqrt(np.mean((0.5 * logsumexp(2.0 * (theta[:, None] + lt), axis=0) - ly) ** 2)))
    return ModelFit(
        model=model,
        formula=spec.formula,
        coefficients={c: float(np.exp(theta[j])) for j, c in enumerate(spec.coefficients)},
        coefficient_ci={c: percentile_ci(np.exp(thetas[:, j]), ci) for j, c in enumerate(spec.coefficients)},
        rmse_log=rmse,
        **cells.counts(),
        exclusions=cells.exclusions,
        n_boot=n_boot,
        n_boot_failed=int((~np.isfinite(thetas[:, 0])).sum()),
        ci=ci,
    )
