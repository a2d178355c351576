"""Power-law rates of the error to the limit, fitted the one way the claims and GET /fit share.

An error to a reference is compared with the reference's noise floor and with the two-term law of
docs/science.md section 4, err ~ sqrt((a/L)^2 + (b sqrt(D/(LM)))^2), before a slope is read off it:

- cells whose error is within FLOOR_FACTOR of the floor are excluded ("near_floor"): there the
  reference's own noise, not the network, sets the error;
- along L, only the cells where the 1/L term dominates are kept; along M (or L*M), only those where
  the fluctuation term dominates ("other_term_dominates"), as the two-term fit of the same cells
  says. A slope across the crossover is neither -1 nor -1/2;
- the bootstrap interval includes the reference's noise. The reference's seed mean misses the limit
  by a random vector delta of RMS `floor` over its k entries; an RMS error e over those entries then
  moves, to first order, by <e, delta>/(k e), whose standard deviation is floor / sqrt(k) (and its
  mean by floor^2 / (2 e), under 6% of e past FLOOR_FACTOR floors, which is why nearer cells are
  dropped). Each replicate adds that noise (fits.fit_power_law's `extra_sd`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.analysis.cells import CellData, seed_means
from backend.analysis.fits import FitError, PowerLawFit, fit_model, fit_power_law
from backend.analysis.verdict import FAILS, INCONCLUSIVE, verdict
from backend.jsonsafe import finite_or_none, to_jsonable
from backend.metrics import FLOOR_FACTOR

ERROR_METRICS: tuple[str, ...] = ("err_out", "err_emb")


def floor_entries(metric: str, n_samples: int, d_out: int, D: np.ndarray) -> np.ndarray:
    """How many entries the RMS of `metric` (an error to the reference) runs over, per cell of
    embedding dimension D (n,)."""
    return n_samples * (np.full(np.shape(D), float(d_out)) if metric == "err_out" else np.asarray(D, dtype=float))


@dataclass(frozen=True)
class RateFit:
    """A power-law fit and how its cells were chosen. `fit` is None when fewer than two distinct x
    remain (`error` says why); the verdict is then "does not hold" if the two-term selection left
    them (the data show no range where the claimed term dominates), else "inconclusive".
    `two_term`: the coefficients a, b of the two-term law over the same cells (None where it
    cannot be fitted)."""

    fit: PowerLawFit | None
    verdict: str
    two_term: dict[str, float] | None
    dropped: dict[str, int]  # cells excluded before the fit, by reason
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**(self.fit.to_dict() if self.fit else {}), "verdict": self.verdict, "error": self.error,
                "two_term": to_jsonable(self.two_term), "dropped": dict(self.dropped)}


def _dominant_term_mask(axes: dict[str, np.ndarray], values: np.ndarray, along: str,
                        keep: np.ndarray) -> tuple[np.ndarray, dict[str, float] | None]:
    """(n_cells,) bool: kept cells where the term that `along` measures dominates the other."""
    try:
        model = fit_model("depth_width", {a: axes[a][keep] for a in ("D", "L", "M")}, values[keep], n_boot=0)
    except FitError:
        return keep, None
    a, b = model.coefficients["a"], model.coefficients["b"]
    bias = a / axes["L"]
    noise = b * np.sqrt(axes["D"] / (axes["L"] * axes["M"]))
    dominant = bias >= noise if along == "L" else noise >= bias
    return keep & dominant, {"a": a, "b": b}


def rate_fit(axes: dict[str, np.ndarray], values: np.ndarray, along: str, x: np.ndarray,
             predicted: float | None, tolerance: float, floor: np.ndarray | None = None,
             metric: str = "err_out", n_boot: int = 500, floor_entries: np.ndarray | None = None) -> RateFit:
    """Slope of log(metric) against log(x) over the cells (axes: "D", "L", "M" arrays (n,); values
    (n, n_seeds); floor (n,) seed-mean noise floors or None, over `floor_entries` entries: N * d_out
    for err_out, N * D for err_emb). Error metrics get the floor and
    two-term selection of the module docstring; too few cells give a RateFit without a fit."""
    keep = np.ones(values.shape[0], dtype=bool)
    entries = np.ones(values.shape[0]) if floor_entries is None else np.maximum(np.asarray(floor_entries, float), 1)
    dropped: dict[str, int] = {}
    two_term = None
    if metric in ERROR_METRICS:
        means = np.nan_to_num(seed_means(values), nan=0.0)  # a cell without a finite seed counts as near
        if floor is not None:
            near = np.isfinite(floor) & (means < FLOOR_FACTOR * np.nan_to_num(floor, nan=0.0))
            keep &= ~near
            dropped["near_floor"] = int(near.sum())
        if along in ("L", "M", "L*M"):
            term = "L" if along == "L" else "M"
            selected, two_term = _dominant_term_mask(axes, values, term, keep)
            dropped["other_term_dominates"] = int((keep & ~selected).sum())
            keep = selected
    dropped = {k: n for k, n in dropped.items() if n}
    try:
        fit = fit_power_law(x[keep], values[keep], predicted_exponent=predicted, n_boot=n_boot,
                            extra_sd=None if floor is None else floor[keep] / np.sqrt(entries[keep]))
    except FitError as exc:
        before = np.unique(x[np.isfinite(seed_means(values))]).size
        v = FAILS if dropped.get("other_term_dominates") and before >= 2 else INCONCLUSIVE
        return RateFit(None, v, two_term, dropped, f"{exc} (dropped before the fit: {dropped or 'none'})")
    v = INCONCLUSIVE if predicted is None else verdict(
        predicted, fit.exponent, fit.exponent_ci, tolerance, n_seeds=fit.min_seeds)
    return RateFit(fit, v, two_term, dropped)


def power_lines(cells: CellData, along: str, group: str | None, predicted: float | None, tolerance: float,
                metric: str, n_boot: int, floors: np.ndarray | None, entries: np.ndarray) -> list[dict[str, Any]]:
    """GET /fit's lines: one `rate_fit` along `along` per value of `group` (every cell when None).

    `floors` (n_cells,) the seed-mean noise floors of an error metric (None for other metrics),
    `entries` (n_cells,) the entries each floor runs over (`floor_entries`). Each line: its
    group_value, x, y (seed means), y_stderr, floor, the fit and its verdict (docs/api.md)."""
    lines = []
    for label, rows in cells.groups([group] if group else []):
        line = cells.take(rows)
        stats = line.stats()
        x = line.axes[along]
        doc: dict[str, Any] = {"group_value": label.get(group) if group else None, "x": x.tolist(),
                               "y": [finite_or_none(v) for v in stats.mean],
                               "y_stderr": [finite_or_none(v) for v in stats.stderr]}
        floor = None if floors is None else floors[rows]
        if floor is not None:
            doc["floor"] = [finite_or_none(v) for v in floor]
        result = rate_fit(line.axes, line.values, along, x, predicted, tolerance, metric=metric, n_boot=n_boot,
                          floor=floor, floor_entries=entries[rows])
        doc["fit"] = result.to_dict() if result.fit is not None else None
        doc["verdict"], doc["two_term"], doc["dropped"] = result.verdict, result.two_term, result.dropped
        if result.fit is None:
            doc["fit_error"] = result.error
        lines.append(doc)
    return lines
