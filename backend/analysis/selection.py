"""What every fit and boundary shares: the data layout checks, the choice of cells and the bootstrap.

Layout (backend/analysis/cells.py): `values` (n_cells, n_seeds), NaN (or any non-finite value) for a
seed that is missing, diverged or failed; a 1-D `values` is read as one seed. A cell's statistic is
the seed mean of its finite seeds (cells.seed_means). A cell is excluded when it has no finite seed,
when its mean is <= 0 (log fits), or when a coordinate it needs is non-finite or <= 0; exclusions
are counted by reason and never dropped silently. Bootstrap: each replicate resamples, with
replacement and independently per cell, the finite seeds of every used cell; an interval is the
percentile interval of the refits.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from backend.analysis.cells import seed_means

__all__ = ["CellCounts", "FitError", "Selection", "as_values", "bootstrap_cell_means", "check_options",
           "percentile_ci", "select_cells"]


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
class Selection:
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


def select_cells(values: np.ndarray, bad_coord: np.ndarray, coord_reason: str, positive: bool) -> Selection:
    """Label cells of `values` (n_cells, n_seeds) as used or excluded.

    Reasons, later ones overriding: "no_finite_seeds"; "nonpositive_mean" (only if `positive`);
    `coord_reason` where the bool mask `bad_coord` (n_cells,) is set.
    """
    vals = as_values(values)
    if bad_coord.shape != (vals.shape[0],):
        raise FitError(f"coordinates have shape {bad_coord.shape}, values {vals.shape}: n_cells differ")
    n_finite = np.isfinite(vals).sum(axis=1)
    means = seed_means(vals)
    reasons = np.full(vals.shape[0], "", dtype=object)
    reasons[n_finite == 0] = "no_finite_seeds"
    if positive:
        reasons[(n_finite > 0) & ~(means > 0)] = "nonpositive_mean"
    reasons[bad_coord] = coord_reason
    used = reasons == ""
    return Selection(vals, means, used, dict(Counter(str(r) for r in reasons[~used])))


def log_positive(a: np.ndarray) -> np.ndarray:
    """log(a) where a > 0, NaN elsewhere (no warnings)."""
    return np.log(a, out=np.full(a.shape, np.nan), where=a > 0)
