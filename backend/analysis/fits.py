"""Rate fits of a metric over grid cells, with bootstrap confidence intervals over unit seeds.

Data layout shared by every fit (and by `boundaries`): cell coordinates are 1-D arrays of shape
(n_cells,), and `values` has shape (n_cells, n_seeds), one metric per unit seed; NaN (or any
non-finite value) marks a seed that is missing, diverged or failed. A 1-D `values` is read as one seed.

A cell's statistic is the mean of its finite seeds. A cell is excluded when it has no finite seed,
when its mean is <= 0 (log fits), or when a coordinate it needs is non-finite or <= 0. Exclusions are
counted by reason in `exclusions` and never dropped silently; `n_values_used + n_values_excluded`
is the size of `values`. Bootstrap: each replicate resamples, with replacement and independently per
cell, the finite seeds of every used cell; the CI is the percentile interval of the refits.

Two kinds of fit: `fit_power_law` (y ≈ C x^p, compared with a predicted exponent) and `fit_model`
(the multi-term error models of docs/science.md section 4, listed in `MODELS`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

import numpy as np
from scipy.optimize import least_squares
from scipy.special import logsumexp, softmax

from backend.jsonsafe import JsonResult, to_jsonable

__all__ = [
    "MODELS",
    "CellCounts",
    "Cells",
    "FitError",
    "JsonResult",
    "ModelFit",
    "ModelSpec",
    "PowerLawFit",
    "bootstrap_cell_means",
    "fit_model",
    "fit_power_law",
    "percentile_ci",
    "select_cells",
    "to_jsonable",
]


Axes: TypeAlias = Mapping[str, float | np.ndarray]  # axis name -> per-cell array (n_cells,) or scalar


class FitError(ValueError):
    """A fit cannot be made from the data given (too few usable cells, bad shapes or options)."""


def as_values(values: np.ndarray) -> np.ndarray:
    """Return `values` as a float array of shape (n_cells, n_seeds); a 1-D input becomes one seed."""
    arr = np.asarray(values, dtype=float)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise FitError(f"values must have shape (n_cells, n_seeds>=1), got {np.shape(values)}")
    return arr


def check_options(n_boot: int, ci: float) -> None:
    """Raise `FitError` unless n_boot >= 0 and 0 < ci < 1."""
    if n_boot < 0 or not 0.0 < ci < 1.0:
        raise FitError(f"need n_boot >= 0 and 0 < ci < 1, got n_boot={n_boot}, ci={ci}")


def bootstrap_cell_means(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of the per-cell seed means.

    `values` (n_cells, n_seeds): each replicate resamples each cell's finite seeds with replacement,
    independently per cell. Returns shape (n_boot, n_cells); NaN for cells without a finite seed.
    """
    out = np.full((n_boot, values.shape[0]), np.nan)
    for i, row in enumerate(values):
        finite = row[np.isfinite(row)]
        if finite.size:
            out[:, i] = finite[rng.integers(0, finite.size, size=(n_boot, finite.size))].mean(axis=1)
    return out


def percentile_ci(samples: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval covering `ci` of the finite entries of 1-D `samples`; (nan, nan) if none."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.percentile(finite, [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)])
    return (float(lo), float(hi))


class CellCounts(TypedDict):
    """Cell and seed-value counts of a fit; every result dataclass carries these four fields."""

    n_cells_used: int
    n_cells_excluded: int
    n_values_used: int
    n_values_excluded: int


@dataclass(frozen=True)
class Cells:
    """Cells selected for a fit: `vals` (n_cells, n_seeds), `means` (n_cells,) seed means of the finite
    seeds (NaN if none), `used` (n_cells,) bool, and `exclusions` counting excluded cells by reason."""

    vals: np.ndarray
    means: np.ndarray
    used: np.ndarray
    exclusions: dict[str, int]

    def counts(self) -> CellCounts:
        """n_cells_used/excluded and n_values_used (finite seeds of used cells)/excluded (all others)."""
        n_values_used = int(np.isfinite(self.vals[self.used]).sum())
        return CellCounts(
            n_cells_used=int(self.used.sum()),
            n_cells_excluded=int((~self.used).sum()),
            n_values_used=n_values_used,
            n_values_excluded=int(self.vals.size) - n_values_used,
        )


def select_cells(values: np.ndarray, bad_coord: np.ndarray, coord_reason: str, positive: bool) -> Cells:
    """Label cells of `values` (n_cells, n_seeds) as used or excluded.

    Reasons, later ones overriding: "no_finite_seeds"; "nonpositive_mean" (only if `positive`);
    `coord_reason` where the bool mask `bad_coord` (n_cells,) is set.
    """
    vals = as_values(values)
    if bad_coord.shape != (vals.shape[0],):
        raise FitError(f"coordinates have shape {bad_coord.shape}, values {vals.shape}: n_cells differ")
    finite = np.isfinite(vals)
    n_finite = finite.sum(axis=1)
    means = np.where(n_finite > 0, np.where(finite, vals, 0.0).sum(axis=1) / np.maximum(n_finite, 1), np.nan)
    reasons = np.full(vals.shape[0], "", dtype=object)
    reasons[n_finite == 0] = "no_finite_seeds"
    if positive:
        reasons[(n_finite > 0) & ~(means > 0)] = "nonpositive_mean"
    reasons[bad_coord] = coord_reason
    used = reasons == ""
    return Cells(vals, means, used, dict(Counter(str(r) for r in reasons[~used])))


@dataclass(frozen=True)
class PowerLawFit(JsonResult):
    """Result of `fit_power_law`: y ≈ prefactor * x ** exponent, fitted in log-log space.

    `exponent_ci`/`prefactor_ci` are bootstrap percentile intervals at level `ci` ((nan, nan) when
    n_boot = 0); `r2` is for the log-log fit of the seed means; `min_seeds` is the fewest finite
    seeds of a used cell (a verdict needs backend.analysis.verdict.MIN_SEEDS). `n_boot_failed`
    counts replicates with a seed mean <= 0 (possible only with non-positive seed values).
    """

    exponent: float
    exponent_ci: tuple[float, float]
    prefactor: float
    prefactor_ci: tuple[float, float]
    r2: float
    n_cells_used: int
    n_cells_excluded: int
    n_values_used: int
    n_values_excluded: int
    exclusions: dict[str, int]
    predicted_exponent: float | None
    min_seeds: int
    n_boot: int
    n_boot_failed: int
    ci: float


def _log_positive(a: np.ndarray) -> np.ndarray:
    """log(a) where a > 0, NaN elsewhere (no warnings)."""
    return np.log(a, out=np.full(a.shape, np.nan), where=a > 0)


def fit_power_law(
    x: np.ndarray,
    values: np.ndarray,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    predicted_exponent: float | None = None,
    extra_sd: np.ndarray | None = None,
) -> PowerLawFit:
    """Fit y ≈ C * x^p by least squares of log(seed mean) on log(x).

    `extra_sd` (n_cells,), optional: a standard deviation of each cell's value that its seeds do not
    show (for an error to a reference, the reference's own noise: see backend/analysis/rates.py).
    Each bootstrap replicate then also moves every cell by extra_sd * z, one standard normal z per
    distinct extra_sd value (cells that share a reference share its error), so the interval includes it.

    `x` (n_cells,) is the cell coordinate (e.g. L, or L*M); `values` (n_cells, n_seeds) per-seed metric
    with NaN for missing seeds. Cells are excluded (and counted) when x is non-finite or <= 0
    ("nonpositive_x"), no seed is finite ("no_finite_seeds"), or the mean is <= 0 ("nonpositive_mean").
    Raises `FitError` with fewer than 2 distinct x values among the usable cells.
    """
    check_options(n_boot, ci)
    xs = np.asarray(x, dtype=float).reshape(-1)
    cells = select_cells(values, ~(np.isfinite(xs) & (xs > 0)), "nonpositive_x", positive=True)
    n_x = np.unique(xs[cells.used]).size
    if n_x < 2:
        raise FitError(
            f"a power-law fit needs at least 2 distinct positive x values with a positive seed mean; "
            f"got {n_x} (cells: {xs.size}, excluded: {cells.exclusions or 'none'})"
        )
    lx = np.log(xs[cells.used])
    lxc = lx - lx.mean()
    rng = np.random.default_rng(seed)
    boot = bootstrap_cell_means(cells.vals[cells.used], n_boot, rng)
    if extra_sd is not None and n_boot:
        sd = np.nan_to_num(np.asarray(extra_sd, dtype=float).reshape(-1)[cells.used])
        _, group = np.unique(sd, return_inverse=True)
        boot = boot + sd[None, :] * rng.standard_normal((n_boot, int(group.max()) + 1))[:, group]
    ly = _log_positive(np.vstack([cells.means[cells.used][None, :], boot]))  # row 0: the estimate
    slopes = (ly - ly.mean(axis=1, keepdims=True)) @ lxc / float(lxc @ lxc)
    icpts = ly.mean(axis=1) - slopes * lx.mean()
    resid = ly[0] - icpts[0] - slopes[0] * lx
    ss_tot = float(((ly[0] - ly[0].mean()) ** 2).sum())
    exp_ci = percentile_ci(slopes[1:], ci)
    return PowerLawFit(
        exponent=float(slopes[0]),
        exponent_ci=exp_ci,
        prefactor=math.exp(icpts[0]),
        prefactor_ci=percentile_ci(np.exp(icpts[1:]), ci),
        r2=1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else math.nan,
        **cells.counts(),
        exclusions=cells.exclusions,
        predicted_exponent=predicted_exponent,
        min_seeds=int(np.isfinite(cells.vals[cells.used]).sum(axis=1).min()),
        n_boot=n_boot,
        n_boot_failed=int((~np.isfinite(slopes[1:])).sum()),
        ci=ci,
    )


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
    boot = _log_positive(bootstrap_cell_means(cells.vals[cells.used], n_boot, np.random.default_rng(seed)))
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
