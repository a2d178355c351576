"""The paper's claims (SCIENCE.md section 4), checked on the results of the presets.

Input everywhere: tidy rows, one per point and unit seed, as GET /sweeps/{id}/export?format=json
gives them (alpha, D, L, M, status, point_regime, unit_seed and one column per metric; None where
undefined). Each claim returns a predicted value, a measured value with an interval where one
exists, and a verdict:
    holds           the interval (or the value) meets [predicted - tol, predicted + tol]
    does not hold   it misses that band
    inconclusive    too little data, or an interval wider than 4 tol
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from backend.analysis.boundaries import find_crossing
from backend.analysis.fits import FitError, fit_power_law
from backend.grid import same_axis_value
from backend.metrics import FEATURE_UPDATE_MIN, INIT_DEVIATION_MAX

Rows = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class ClaimResult:
    claim: str
    preset: str
    statement: str
    predicted: float
    measured: float | None
    ci: tuple[float, float] | None
    tolerance: float
    verdict: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(predicted: float, measured: float | None, ci: tuple[float, float] | None, tol: float) -> str:
    if measured is None or not math.isfinite(measured):
        return "inconclusive"
    lo, hi = ci if ci is not None else (measured, measured)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo > 4 * tol:
        return "inconclusive"
    return "holds" if hi >= predicted - tol and lo <= predicted + tol else "does not hold"


def cells(rows: Rows, metric: str, **where: float) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """Per-point cells matching `where`: axes (n,), values (n, n_seeds) NaN where missing, regimes."""
    points: dict[tuple[float, ...], list[dict[str, Any]]] = {}
    for r in rows:
        if all(same_axis_value(v, float(r[k])) for k, v in where.items()):
            points.setdefault((r["alpha"], r["D"], r["L"], r["M"]), []).append(r)
    keys = sorted(points)
    n_seeds = max((len(v) for v in points.values()), default=1)
    values = np.full((len(keys), n_seeds), np.nan)
    for i, key in enumerate(keys):
        for j, r in enumerate(points[key]):
            v = r.get(metric)
            values[i, j] = np.nan if v is None else float(v)
    axes = {a: np.array([k[n] for k in keys], dtype=float) for n, a in enumerate(("alpha", "D", "L", "M"))}
    regimes = [str(points[k][0].get("point_regime")) for k in keys]
    return axes, values, regimes


def _power_claim(name: str, preset: str, statement: str, rows: Rows, metric: str, along: str, predicted: float,
                 tol: float, x_of: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
                 **where: float) -> ClaimResult:
    axes, values, _ = cells(rows, metric, **where)
    x = x_of(axes) if x_of else axes[along]
    try:
        fit = fit_power_law(x, values, predicted_exponent=predicted, n_boot=500)
    except FitError as exc:
        return ClaimResult(name, preset, statement, predicted, None, None, tol, "inconclusive", str(exc))
    ci = (float(fit.exponent_ci[0]), float(fit.exponent_ci[1]))
    detail = f"slope of log {metric} vs log {along} over {fit.n_cells_used} cells ({fit.n_cells_excluded} excluded)"
    return ClaimResult(name, preset, statement, predicted, float(fit.exponent), ci, tol,
                       verdict(predicted, float(fit.exponent), ci, tol), detail)


def feature_learning_at_alpha_1(rows: Rows) -> ClaimResult:
    _, _, regimes = cells(rows, "feature_update", alpha=1.0)
    frac = sum(r == "feature_learning" for r in regimes) / len(regimes) if regimes else None
    return ClaimResult("feature_learning_at_alpha_1", "alpha-phase",
                       "alpha = 1 (mlu scale) learns features at every L, M", 1.0, frac, None, 0.01,
                       verdict(1.0, frac, None, 0.01), f"share of the {len(regimes)} cells at alpha=1 labelled "
                       f"feature_learning (feature_update >= {FEATURE_UPDATE_MIN})")


def lazy_feature_update_slope(rows: Rows) -> ClaimResult:
    """In the widest lazy window of the preset (2 <= alpha <= sqrt(LM/D)/2), feature_update ~ 1/alpha."""
    def width(r: dict[str, Any]) -> float:
        return math.sqrt(r["L"] * r["M"] / r["D"])

    best = max((width(r) for r in rows), default=0.0)
    sub = [r for r in rows if math.isclose(width(r), best) and 2 <= r["alpha"] <= best / 2]
    return _power_claim("lazy_feature_update_slope", "alpha-phase",
                        "lazy regime 1 << alpha << sqrt(LM/D): feature_update ~ alpha^-1", sub,
                        "feature_update", "alpha", -1.0, 0.2)


def noise_boundary(rows: Rows) -> ClaimResult:
    """The alpha where init_deviation reaches INIT_DEVIATION_MAX, against sqrt(LM/D)."""
    axes, values, _ = cells(rows, "init_deviation")
    ratios, los, his = [], [], []
    for L, M, D in sorted({(a, b, c) for a, b, c in zip(axes["L"], axes["M"], axes["D"], strict=True)}):
        mask = (axes["L"] == L) & (axes["M"] == M) & (axes["D"] == D)
        order = np.argsort(axes["alpha"][mask])
        c = find_crossing(axes["alpha"][mask][order], values[mask][order], INIT_DEVIATION_MAX, direction="up")
        if c.found and c.alpha is not None:
            scale = math.sqrt(L * M / D)
            ratios.append(c.alpha / scale)
            if c.alpha_ci is not None:
                los.append(c.alpha_ci[0] / scale)
                his.append(c.alpha_ci[1] / scale)
    if not ratios:
        return ClaimResult("noise_boundary", "alpha-phase", "noise-dominated from alpha ~ sqrt(LM/D)", 0.0,
                           None, None, 1.0, "inconclusive", "init_deviation never crossed its threshold")
    measured = float(np.mean(np.log2(ratios)))
    ci = (float(np.log2(min(los))), float(np.log2(max(his)))) if los else None
    return ClaimResult("noise_boundary", "alpha-phase",
                       "noise-dominated from alpha ~ sqrt(LM/D) (log2 of crossing alpha / sqrt(LM/D))", 0.0,
                       measured, ci, 1.0, verdict(0.0, measured, ci, 1.0),
                       f"crossing/sqrt(LM/D) = {', '.join(f'{r:.2f}' for r in ratios)} over {len(ratios)} (L, M)")


def split_invariance(rows: Rows) -> ClaimResult:
    """At fixed L*M, the largest over smallest err_out across the splits into (L, M)."""
    axes, values, _ = cells(rows, "err_out")
    means = np.nanmean(np.where(np.isfinite(values), values, np.nan), axis=1)
    lm = axes["L"] * axes["M"]
    worst = 1.0
    groups = 0
    for p in np.unique(lm):
        m = means[(lm == p) & np.isfinite(means)]
        if m.size >= 2:
            groups += 1
            worst = max(worst, float(m.max() / m.min()))
    measured = worst if groups else None
    return ClaimResult("split_invariance", "depth-width", "at fixed L*M the error is nearly the same for every split",
                       1.0, measured, None, 0.5, verdict(1.0, measured, None, 0.5),
                       f"largest max/min err_out ratio over {groups} values of L*M with 2+ splits")


def plain_boundary_sqrt_D(rows: Rows) -> ClaimResult:
    """Plain scale: the alpha where feature_update falls below its threshold grows like sqrt(D)."""
    axes, values, _ = cells(rows, "feature_update")
    found: list[tuple[float, float, float, float]] = []
    for D in np.unique(axes["D"]):
        mask = axes["D"] == D
        order = np.argsort(axes["alpha"][mask])
        c = find_crossing(axes["alpha"][mask][order], values[mask][order], FEATURE_UPDATE_MIN, direction="down")
        if c.found and c.alpha is not None:
            lo, hi = c.alpha_ci if c.alpha_ci is not None else (c.alpha, c.alpha)
            found.append((float(D), c.alpha, lo, hi))
    statement = "plain scale alpha/(LM): feature-learning boundary alpha ~ sqrt(D)"
    if len(found) < 2:
        return ClaimResult("plain_boundary_sqrt_D", "plain-scale", statement, 0.5, None, None, 0.15,
                           "inconclusive", "fewer than two D with a crossing")
    table = np.array(found)  # (n_D, 4): D, crossing alpha, its CI
    dims, alphas, ci_lo, ci_hi = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
    slope = float(np.polyfit(np.log(dims), np.log(alphas), 1)[0])
    span = math.log(dims[-1] / dims[0])
    # interval of the end-to-end slope from the crossings' own intervals at the two ends
    ci = (math.log(ci_lo[-1] / ci_hi[0]) / span, math.log(ci_hi[-1] / ci_lo[0]) / span)
    return ClaimResult("plain_boundary_sqrt_D", "plain-scale", statement, 0.5, slope, ci, 0.15,
                       verdict(0.5, slope, ci, 0.15),
                       "crossing alpha per D: "
                       + ", ".join(f"D={x:g}: {y:.3g}" for x, y in zip(dims, alphas, strict=True)))


def evaluate_claims(rows_by_preset: dict[str, Rows]) -> list[ClaimResult]:
    """Every claim whose preset has rows."""
    r = rows_by_preset
    out: list[ClaimResult] = []
    if "alpha-phase" in r:
        out += [feature_learning_at_alpha_1(r["alpha-phase"]), lazy_feature_update_slope(r["alpha-phase"]),
                noise_boundary(r["alpha-phase"])]
    if "depth-width" in r:
        out += [split_invariance(r["depth-width"]),
                _power_claim("rate_LM", "depth-width", "error ~ (LM)^-1/2 where the fluctuation dominates",
                             r["depth-width"], "err_out", "L*M", -0.5, 0.15, lambda a: a["L"] * a["M"])]
    if "rates-L" in r:
        out.append(_power_claim("rate_L", "rates-L", "error ~ L^-1 at large M (the 1/L term)", r["rates-L"],
                                "err_out", "L", -1.0, 0.25))
    if "rates-M" in r:
        out.append(_power_claim("rate_M", "rates-M", "error ~ M^-1/2 at fixed L (alpha/sqrt(LM) fluctuation)",
                                r["rates-M"], "err_out", "M", -0.5, 0.15))
    if "D-scaling" in r:
        out += [_power_claim("feature_update_flat_in_D", "D-scaling", "feature_update is flat in D (mlu scale)",
                             r["D-scaling"], "feature_update", "D", 0.0, 0.15),
                _power_claim("init_deviation_sqrt_D", "D-scaling", "init_deviation ~ sqrt(D/(LM)): slope 1/2 in D",
                             r["D-scaling"], "init_deviation", "D", 0.5, 0.1)]
    if "plain-scale" in r:
        out.append(plain_boundary_sqrt_D(r["plain-scale"]))
    return out
