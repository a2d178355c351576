"""Regime boundaries along alpha: where a metric's seed mean crosses a threshold, with a bootstrap CI.

Same data layout as the fits (backend/analysis/cells.py): `alpha` has shape (n_cells,), `values`
(n_cells, n_seeds) with NaN for a missing/diverged/failed seed. The crossing is found by linear
interpolation in (log alpha, value) between the two cells around the first sign change of
mean - threshold, scanning alpha upwards.
"Down" means the mean goes from above the threshold to at or below it as alpha grows; "up" the reverse.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from backend.analysis.cells import CellData
from backend.analysis.selection import FitError, bootstrap_cell_means, check_options, percentile_ci, select_cells
from backend.jsonsafe import JsonResult

__all__ = ["LINE_AXES", "Crossing", "Direction", "boundary_curve", "find_crossing", "held_axes", "line_crossings"]

Direction = Literal["down", "up", "any"]
LINE_AXES: tuple[str, ...] = ("D", "L", "M")  # a boundary line: alpha varies, these are held
_DIRECTIONS = ("down", "up", "any")


@dataclass(frozen=True)
class Crossing(JsonResult):
    """Where the seed mean crosses `threshold` along alpha.

    `found`: whether the seed means cross in the requested `direction`; then `alpha` is the crossing,
    `crossed` its direction ("down"/"up"), and `alpha_ci` the bootstrap percentile interval at level
    `ci` over the replicates that cross (None if none does). Otherwise `alpha`, `alpha_ci`, `crossed`
    are None and `reason` says why: "too few finite cells", "never reaches threshold", or
    "crosses threshold only going up/down". `n_boot_no_crossing` counts replicates without a crossing.
    `bracket`: the two usable alphas the crossing interpolates between (the largest below it, the
    smallest at or above it); `interval`: the hull of the bracket and `alpha_ci`. The crossing is
    known no better than either: between two grid alphas the interpolation is a model, and only
    more alphas there (refinement, backend/analysis/refinement.py) narrow the bracket. The claims,
    the refinement and the page read `interval`.
    `fixed` holds the other axes' values when the crossing comes from `boundary_curve`.
    """

    found: bool
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    crossed: str | None
    reason: str | None
    threshold: float
    direction: str
    n_cells_used: int
    n_cells_excluded: int
    n_values_used: int
    n_values_excluded: int
    exclusions: dict[str, int]
    n_boot: int
    n_boot_no_crossing: int
    ci: float
    bracket: tuple[float, float] | None = None
    interval: tuple[float, float] | None = None
    fixed: dict[str, Any] = field(default_factory=dict)


def _bracket(usable: np.ndarray, x: float, ci: tuple[float, float] | None
             ) -> tuple[tuple[float, float], tuple[float, float]]:
    """(bracket, interval) of a crossing at `x` among the sorted usable alphas (Crossing)."""
    below, above = usable[usable < x], usable[usable >= x]
    bracket = (float(below[-1]) if below.size else x, float(above[0]) if above.size else x)
    interval = bracket if ci is None else (min(bracket[0], ci[0]), max(bracket[1], ci[1]))
    return bracket, interval


def _first_crossings(la: np.ndarray, diff: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """First zero crossing in each row of `diff` (n_rows, n) = mean - threshold, along log alpha `la` (n,).

    Returns (log alpha of the crossing, sign) each (n_rows,): sign -1 for down, +1 for up, 0 (and NaN
    log alpha) where the row does not cross in `direction`.
    """
    before, after = diff[:, :-1], diff[:, 1:]
    down = (before > 0) & (after <= 0)
    up = (before < 0) & (after >= 0)
    mask = down if direction == "down" else up if direction == "up" else down | up
    has = mask.any(axis=1)
    idx = np.argmax(mask, axis=1)
    rows = np.arange(diff.shape[0])
    d0, d1 = before[rows, idx], after[rows, idx]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = d0 / (d0 - d1)
    sign = np.where(has, np.where(down[rows, idx], -1, 1), 0)
    return np.where(has, la[idx] + t * (la[idx + 1] - la[idx]), np.nan), sign


def _no_crossing_reason(diff: np.ndarray, direction: str) -> str:
    """Why the 1-D `diff` (mean - threshold over >= 2 cells) has no crossing in `direction`."""
    _, sign = _first_crossings(np.arange(diff.size, dtype=float), diff[None, :], "any")
    if sign[0] == 0:
        return "never reaches threshold"
    return f"crosses threshold only going {'up' if direction == 'down' else 'down'}"


def find_crossing(
    alpha: np.ndarray,
    values: np.ndarray,
    threshold: float,
    *,
    direction: Direction = "any",
    n_boot: int = 500,
    ci: float = 0.95,
    seed: int = 0,
) -> Crossing:
    """Locate where the seed mean of `values` crosses `threshold` as alpha grows.

    `alpha` (n_cells,) positive (sorted here if it is not), `values` (n_cells, n_seeds) with NaN for
    missing seeds; cells with no finite seed ("no_finite_seeds") or a non-finite or non-positive alpha
    ("nonpositive_alpha") are excluded and counted. Bootstrap: `n_boot` replicates resampling each
    cell's finite seeds. Raises `FitError` (a ValueError) for repeated alpha values among the usable
    cells, a non-finite threshold, an unknown direction or bad n_boot/ci.
    """
    check_options(n_boot, ci)
    if direction not in _DIRECTIONS or not math.isfinite(threshold):
        raise FitError(f"need direction in {_DIRECTIONS} and a finite threshold: {direction!r}, {threshold}")
    xs = np.asarray(alpha, dtype=float).reshape(-1)
    cells = select_cells(values, ~(np.isfinite(xs) & (xs > 0)), "nonpositive_alpha", positive=False)
    order = np.argsort(np.where(cells.used, xs, np.inf), kind="stable")[: int(cells.used.sum())]
    if np.unique(xs[order]).size < order.size:
        raise FitError("alpha values repeat among the usable cells; give one cell per alpha")

    def result(la: np.ndarray, crossed: str | None, why: str | None) -> Crossing:
        """`la`: log crossing alpha, estimate first then the replicates (NaN where none)."""
        lo, hi = percentile_ci(la[1:], ci)
        x = math.exp(la[0]) if why is None else None
        x_ci = (math.exp(lo), math.exp(hi)) if why is None and math.isfinite(lo) else None
        bracket, interval = (None, None) if x is None else _bracket(xs[order], x, x_ci)
        return Crossing(
            found=why is None,
            alpha=x,
            alpha_ci=x_ci,
            bracket=bracket,
            interval=interval,
            crossed=crossed,
            reason=why,
            threshold=float(threshold),
            direction=direction,
            **cells.counts(),
            exclusions=cells.exclusions,
            n_boot=n_boot,
            n_boot_no_crossing=int((~np.isfinite(la[1:])).sum()),
            ci=ci,
        )

    if order.size < 2:
        return result(np.full(n_boot + 1, np.nan), None, "too few finite cells")
    diff = cells.means[order][None, :] - threshold
    boot = bootstrap_cell_means(cells.vals[order], n_boot, np.random.default_rng(seed)) - threshold
    la, sign = _first_crossings(np.log(xs[order]), np.vstack([diff, boot]), direction)
    if sign[0] == 0:
        return result(la, None, _no_crossing_reason(diff[0], direction))
    return result(la, "down" if sign[0] < 0 else "up", None)


def boundary_curve(
    groups: Sequence[tuple[Mapping[str, Any], np.ndarray, np.ndarray]],
    threshold: float,
    *,
    direction: Direction = "any",
    n_boot: int = 500,
    ci: float = 0.95,
    seed: int = 0,
) -> list[Crossing]:
    """One `find_crossing` per group, e.g. one per value of the other axes (a boundary curve).

    Each group is (fixed, alpha, values): `fixed` the other axes' values (e.g. {"L": 16, "M": 4}),
    copied into the result's `fixed`; `alpha` (n,) and `values` (n, n_seeds) as in `find_crossing`.
    Every group uses the same `seed`, so a group's result does not depend on its place in the list.
    Returns the crossings in the order of `groups`.
    """
    opts: dict[str, Any] = {"direction": direction, "n_boot": n_boot, "ci": ci, "seed": seed}
    return [
        dataclasses.replace(find_crossing(alpha, values, threshold, **opts), fixed=dict(fixed))
        for fixed, alpha, values in groups
    ]


def line_crossings(cells: CellData, lines: Sequence[str], threshold: float, *, direction: Direction = "any",
                   n_boot: int = 500) -> list[Crossing]:
    """One crossing along alpha per line of `cells`: per distinct combination of the axes `lines`
    (e.g. D, L, M), in sorted order, its cells sorted by alpha; each crossing's `fixed` names the
    line. GET /boundaries and the claims' boundary measurements both read crossings this way."""
    groups = []
    for label, line in cells.split(lines):
        line = line.along("alpha")
        groups.append((label, line.axes["alpha"], line.values))
    return boundary_curve(groups, threshold, direction=direction, n_boot=n_boot)


def held_axes(axes: Mapping[str, Sequence[float]], fixed: Mapping[str, float], group: str | None) -> dict[str, float]:
    """The axis values a set of boundary curves holds: `fixed`, and with a `group` (one curve per
    value of that axis) every other line axis at its `fixed` value or else its first value in `axes`
    (as a phase slice holds its other axes). Without a group, one curve per line of the cells."""
    held = {a: float(v) for a, v in fixed.items()}
    if group is not None:
        held.update({a: float(axes[a][0]) for a in LINE_AXES if a != group and a not in held})
    return held
