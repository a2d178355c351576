"""Adaptive refinement of a boundary along alpha: the decisions, pure (numpy, no store).

Per line (D, L, M), from its cells and the crossing `backend.analysis.boundaries` finds in them:

    bracket   the two usable alphas of the line around the crossing: the largest below it and the
              smallest at or above it (the crossing interpolates between them)
    interval  the hull of the bracket and the bootstrap CI (when some replicate crosses): the
              crossing is known no better than either, whichever is wider
    width_rel (interval hi - interval lo) / crossing; the line has converged when it is <= tol

A round places up to POINTS_PER_LINE new alphas per unconverged line: two at crossing *
exp(-+delta), delta = min(log(hi / lo) / 4, tol / 3) in log alpha (when the interpolation is
right, the next bracket is those two: width ~ 2 delta < tol), and the log-midpoint of the wider
remainder of the interval (bisection, so that a curved metric cannot stall the bracket on one
side). New alphas are put on a geometric lattice of ratio exp(tol / 30) (LATTICE_PER_TOL) and
rounded as grid axis values are (12 significant digits), stay inside the interval and the alpha
bounds, and never repeat an alpha the line already has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.analysis.boundaries import LINE_AXES, Crossing, boundary_curve
from backend.analysis.cells import CellData, seed_means
from backend.grid import ALPHA_MAX, ALPHA_MIN, same_axis_value
from backend.refine_spec import POINTS_PER_LINE, LineThreshold

__all__ = ["N_BOOT", "LineEstimate", "RoundPlan", "assess_line", "next_round", "plan_round", "propose_alphas",
           "uniform_points"]

N_BOOT = 300  # as GET /boundaries draws by default: the same intervals the route shows
Line = tuple[int, int, int]


@dataclass(frozen=True)
class LineEstimate:
    """One line's crossing and interval (module docstring); all None when it has no crossing."""

    D: int
    L: int
    M: int
    crossing: float | None
    ci: tuple[float, float] | None
    bracket: tuple[float, float] | None
    interval: tuple[float, float] | None
    width_rel: float | None
    converged: bool
    reason: str | None
    alphas: tuple[float, ...]  # the line's alphas with a finite seed mean, sorted
    threshold: float | None = None  # the line's threshold (it differs between lines for a formula)

    def doc(self) -> dict[str, Any]:
        """The fields of backend.api.sweep_schemas.RefineLinePublic, history excluded."""
        return {"D": self.D, "L": self.L, "M": self.M, "threshold": self.threshold,
                "crossing": self.crossing, "ci": _pair(self.ci),
                "bracket": _pair(self.bracket), "interval": _pair(self.interval), "width_rel": self.width_rel,
                "converged": self.converged, "reason": self.reason}


def _pair(p: tuple[float, float] | None) -> list[float] | None:
    return None if p is None else [p[0], p[1]]


@dataclass(frozen=True)
class RoundPlan:
    """What a round does: the overall state after it, and the new alphas per line (D, L, M)."""

    state: str  # refining (new points) | converged | budget_spent | no_crossing
    new: dict[tuple[int, int, int], list[float]] = field(default_factory=dict)

    @property
    def n_new(self) -> int:
        return sum(len(v) for v in self.new.values())


def assess_line(fixed: dict[str, float], alpha: np.ndarray, values: np.ndarray, crossing: Crossing,
                tol: float, threshold: float | None = None) -> LineEstimate:
    """The estimate of one line: `alpha` (n,), `values` (n, n_seeds) its cells, `crossing` what
    find_crossing made of them (at `threshold`), `tol` the relative width that counts as converged."""
    means = seed_means(values)
    usable = np.sort(alpha[np.isfinite(means) & (alpha > 0)])
    line = (int(fixed["D"]), int(fixed["L"]), int(fixed["M"]))
    x, bracket, interval, ci = crossing.alpha, crossing.bracket, crossing.interval, crossing.alpha_ci
    if not crossing.found or x is None or bracket is None or interval is None:
        return LineEstimate(*line, None, None, None, None, None, False, crossing.reason, tuple(usable.tolist()),
                            threshold)
    width = (interval[1] - interval[0]) / x
    return LineEstimate(*line, x, ci, bracket, interval, width, width <= tol, None, tuple(usable.tolist()),
                        threshold)


# New alphas sit on a geometric lattice of ratio exp(tol / LATTICE_PER_TOL): a crossing that moves
# at float32 rounding level (the same point computed in another batch can differ in its 7th digit)
# then almost never moves a placed alpha, so a sweep refined on a server and in process, or twice,
# places the same points; the lattice is 10x finer than the spacing refinement places (tol / 3).
LATTICE_PER_TOL = 30


def _rounded(v: float, tol: float) -> float:
    step = tol / LATTICE_PER_TOL
    return float(f"{math.exp(round(math.log(v) / step) * step):.12g}")  # as backend.grid.axis_values rounds


def propose_alphas(est: LineEstimate, tol: float, existing: Sequence[float], k: int = POINTS_PER_LINE) -> list[float]:
    """Up to `k` new alphas for an unconverged line (module docstring), never one of `existing`."""
    if est.crossing is None or est.interval is None or est.converged:
        return []
    x, (lo, hi) = est.crossing, est.interval
    delta = min(math.log(hi / lo) / 4, tol / 3)
    near = [x * math.exp(-delta), x * math.exp(delta)]
    left, right = (lo, near[0]), (near[1], hi)
    wide = left if math.log(left[1] / left[0]) >= math.log(right[1] / right[0]) else right
    out: list[float] = []
    for v in (*near, math.sqrt(wide[0] * wide[1])):
        v = _rounded(v, tol)
        taken = [*existing, *out]
        if lo < v < hi and ALPHA_MIN <= v <= ALPHA_MAX and not any(same_axis_value(a, v) for a in taken):
            out.append(v)
    return out[:k]


def plan_round(estimates: Sequence[LineEstimate], tol: float, budget: int,
               existing: Mapping[tuple[int, int, int], Sequence[float]]) -> RoundPlan:
    """The next round given every line's estimate, `budget` points left and the alphas each line
    already has (`existing`, every point of the line, computed or not). The widest lines get the
    budget first; the state is no_crossing when no line crosses, converged when every line that
    crosses has converged, budget_spent when some has not and no new point can be placed."""
    crossing = [e for e in estimates if e.crossing is not None]
    if not crossing:
        return RoundPlan("no_crossing")
    open_ = sorted((e for e in crossing if not e.converged), key=lambda e: -(e.width_rel or 0.0))
    if not open_:
        return RoundPlan("converged")
    new: dict[tuple[int, int, int], list[float]] = {}
    for e in open_:
        key = (e.D, e.L, e.M)
        alphas = propose_alphas(e, tol, [*existing.get(key, ()), *e.alphas])[:max(budget, 0)]
        budget -= len(alphas)
        if alphas:
            new[key] = alphas
    return RoundPlan("refining", new) if new else RoundPlan("budget_spent")


def uniform_points(alpha_min: float, alpha_max: float, tol: float, n_lines: int) -> int:
    """Points of a uniform geometric alpha grid over [alpha_min, alpha_max] fine enough that any
    bracket of two neighbours has (hi - lo) / lo <= tol (ratio 1 + tol), on `n_lines` lines."""
    steps = math.ceil(math.log(alpha_max / alpha_min) / math.log1p(tol) - 1e-9) if alpha_max > alpha_min else 0
    return n_lines * (steps + 1)


def next_round(cells: CellData, threshold: LineThreshold, tol: float, budget: int
               ) -> tuple[list[LineEstimate], RoundPlan]:
    """Every line's estimate and the next round's plan from a sweep's cells of the refined metric
    (computed or not: a cell without a finite mean still holds its alpha), `threshold` each line's
    threshold (backend.refine_spec.line_threshold), `budget` points left. The one decision both
    the server (backend/store/refinements.py) and an in-process sweep (resphase.local) take: the
    same cells give the same plan (seeded bootstrap)."""
    estimates: list[LineEstimate] = []
    existing: dict[Line, list[float]] = {}
    for label, line in cells.split(LINE_AXES):
        line = line.along("alpha")
        alpha, values, at = line.axes["alpha"], line.values, threshold(label)
        if math.isfinite(at):
            crossing = boundary_curve([(label, alpha, values)], at, n_boot=N_BOOT)[0]
            estimates.append(assess_line(label, alpha, values, crossing, tol, at))
        else:  # a threshold formula with no finite value on this line
            estimates.append(LineEstimate(int(label["D"]), int(label["L"]), int(label["M"]), None, None, None, None,
                                          None, False, "the threshold is not finite on this line",
                                          tuple(np.sort(alpha).tolist()), None))
        existing[(int(label["D"]), int(label["L"]), int(label["M"]))] = list(alpha)
    return estimates, plan_round(estimates, tol, budget, existing)
