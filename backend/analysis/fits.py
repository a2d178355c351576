"""Power-law rate fits of a metric over grid cells, with bootstrap confidence intervals over unit seeds.

Data layout, cell selection and bootstrap: backend/analysis/selection.py (shared with `boundaries`
and the multi-term models). `n_values_used + n_values_excluded` is the size of `values`.

Two kinds of fit: `fit_power_law` here (y ≈ C x^p, compared with a predicted exponent) and
`fit_model` (the multi-term error models of docs/science.md section 4, listed in `MODELS`;
backend/analysis/models.py, importable from here too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backend.analysis.models import MODELS, ModelFit, ModelSpec, fit_model
from backend.analysis.selection import (
    FitError,
    bootstrap_cell_means,
    check_options,
    log_positive,
    percentile_ci,
    select_cells,
)
from backend.jsonsafe import JsonResult

__all__ = ["MODELS", "FitError", "ModelFit", "ModelSpec", "PowerLawFit", "fit_model", "fit_power_law"]


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
    ly = log_positive(np.vstack([cells.means[cells.used][None, :], boot]))  # row 0: the estimate
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
