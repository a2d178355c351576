"""The measurements behind the claims (backend/analysis/claims.py), on tidy rows.

Input: rows, one per point and unit seed, as GET /sweeps/{id}/export?format=json gives them
(alpha, D, L, M, status, point_regime, unit_seed and one column per metric; None where undefined),
grouped into cells by backend/analysis/cells.from_rows.
Each function returns a Measurement: the measured value with its interval, a sentence on how it
was read, and side conditions the claim also needs (`Condition`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from backend.analysis.boundaries import line_crossings
from backend.analysis.cells import Rows, from_rows, seed_means
from backend.analysis.rates import RateFit, floor_entries, rate_fit

# The network tracks its limit when the error to the reference is at most this fraction of how far
# training moved it (err_emb / rep_change, median over the cells): untrained networks (infinite
# ratio) and references of another problem (ratio ~2.5) fail it; the presets read 0.02-0.36.
TRACKING_MAX = 0.5


@dataclass(frozen=True)
class Condition:
    """A side condition of a measurement: holds when measured <= limit."""

    name: str
    measured: float | None
    limit: float
    meaning: str

    @property
    def holds(self) -> bool:
        return self.measured is not None and math.isfinite(self.measured) and self.measured <= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "holds": self.holds}


@dataclass(frozen=True)
class Measurement:
    measured: float | None
    ci: tuple[float, float] | None
    detail: str
    n_seeds: int | None = None  # fewest unit seeds behind the interval
    conditions: tuple[Condition, ...] = ()
    forced: str | None = None  # a verdict the measurement itself settles (see rates.RateFit)
    extra: dict[str, Any] = field(default_factory=dict)


def _subset(rows: Rows, keep: Any) -> list[dict[str, Any]]:
    return [r for r in rows if keep(r)]


def tracking(rows: Rows) -> Condition:
    """Median over cells of err_emb / rep_change (see TRACKING_MAX)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = seed_means(from_rows(rows, "err_emb").values) / seed_means(from_rows(rows, "rep_change").values)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    value = float(np.median(ratio)) if ratio.size else None
    return Condition("tracking", value, TRACKING_MAX,
                     "median err_emb / rep_change: the error to the limit is small beside how far training moved "
                     "the network (fails for an untrained network or a reference of another problem)")


def rate(rows: Rows, metric: str, along: str, predicted: float, tol: float, *, track: bool = False) -> Measurement:
    """The slope of log(metric) against log(along) (along: an axis or "L*M"), rates.rate_fit's way."""
    cells = from_rows(rows, metric)
    axes, values = cells.axes, cells.values
    floor = seed_means(from_rows(rows, f"{metric}_floor").values) if metric.startswith("err_") else None
    x = axes["L"] * axes["M"] if along == "L*M" else axes[along]
    k = floor_entries(metric, int(rows[0]["n_samples"]), int(rows[0]["d_out"]), axes["D"]) if rows else None
    result: RateFit = rate_fit(axes, values, along, x, predicted, tol, floor=floor, metric=metric, floor_entries=k)
    conditions = (tracking(rows),) if track else ()
    if result.fit is None:
        return Measurement(None, None, result.error or "no fit", conditions=conditions, forced=result.verdict)
    fit = result.fit
    detail = (f"slope of log {metric} vs log {along} over {fit.n_cells_used} cells "
              f"({fit.n_cells_excluded} excluded{', dropped ' + str(result.dropped) if result.dropped else ''})")
    if result.two_term:
        detail += f"; two-term fit a = {result.two_term['a']:.3g}, b = {result.two_term['b']:.3g}"
    return Measurement(fit.exponent, (float(fit.exponent_ci[0]), float(fit.exponent_ci[1])), detail,
                       n_seeds=fit.min_seeds, conditions=conditions,
                       extra={"two_term": result.two_term, "dropped": result.dropped})


def lazy_window(rows: Rows) -> list[dict[str, Any]]:
    """Rows of the widest (L, M, D) line, 2 <= alpha <= sqrt(LM/D)/2: the lazy ODE regime."""
    def width(r: dict[str, Any]) -> float:
        return math.sqrt(r["L"] * r["M"] / r["D"])

    best = max((width(r) for r in rows), default=0.0)
    return _subset(rows, lambda r: math.isclose(width(r), best) and 2 <= r["alpha"] <= best / 2)


def crossings(rows: Rows, metric: str, threshold: float, direction: str, line_axes: tuple[str, ...]
              ) -> list[tuple[dict[str, float], float, tuple[float, float] | None]]:
    """Per line (the distinct values of line_axes), where the seed mean of metric crosses threshold
    along alpha: (line, crossing alpha, its interval: the hull of the bootstrap interval and the
    bracket of grid alphas around it, Crossing.interval). Lines without one are left out. A grid
    coarse in alpha gives wide intervals, whatever its seeds: refinement narrows them."""
    found = line_crossings(from_rows(rows, metric), line_axes, threshold, direction=direction)  # type: ignore[arg-type]
    return [(c.fixed, c.alpha, c.interval) for c in found if c.found and c.alpha is not None]


def crossing_slope(xs: np.ndarray, found: Sequence[tuple[dict[str, float], float, tuple[float, float] | None]],
                   n_boot: int = 1000, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Slope of log(crossing alpha) on log(x) over the lines, and its 95% interval: each replicate
    draws every line's log crossing from a normal matching its bootstrap interval."""
    ly = np.log([c for _, c, _ in found])
    lo = np.log([ci[0] if ci else c for _, c, ci in found])
    hi = np.log([ci[1] if ci else c for _, c, ci in found])
    lx = np.log(xs)
    slope = float(np.polyfit(lx, ly, 1)[0])
    rng = np.random.default_rng(seed)
    draws = ly[None, :] + rng.standard_normal((n_boot, ly.size)) * ((hi - lo) / 3.92)[None, :]
    lxc = lx - lx.mean()
    slopes = (draws - draws.mean(axis=1, keepdims=True)) @ lxc / float(lxc @ lxc)
    return slope, (float(np.percentile(slopes, 2.5)), float(np.percentile(slopes, 97.5)))


def min_seeds(rows: Rows) -> int:
    """The fewest unit seeds with a value of some point in rows."""
    counts: dict[tuple[float, ...], int] = {}
    for r in rows:
        key = (r["alpha"], r["D"], r["L"], r["M"])
        counts[key] = counts.get(key, 0) + (r.get("unit_seed") is not None)
    return min(counts.values(), default=0)
