"""Cells: the one grouping of per-seed metric values into grid cells, and the seed statistics of a cell.

A cell is one point of a sweep, (alpha, D, L, M); its values are one metric per unit seed. Every
analysis (fits, boundaries, the claims' measurements, GET /fit, /boundaries and the phase slice's
seed aggregates) reads cells in one layout, `CellData`:

    axes    axis name -> (n_cells,) float coordinates
    values  (n_cells, n_seeds) floats, NaN where a seed has no finite value (diverged, missing,
            or the point is not computed yet)
    status  (n_cells,) point statuses ("done", "queued", ...), "done" for rows that do not say

Two sources build it: the store's `backend/store/cells.metric_cells` (a sweep's points, data only,
ordered by D, M, L, alpha) and `from_rows` here (tidy rows, sorted by alpha, D, L, M). The order
is kept: a bootstrap draws its resamples cell by cell, so it is part of every interval's numbers.

The statistics of a cell are over its finite seeds: `n` counts them, the mean is their sum over n
(NaN when n = 0), the standard error their sample standard deviation (ddof 1) over sqrt(n) (NaN
when n < 2). `seed_stats` is the one place these are computed from seed values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.grid import AXES, same_axis_value
from backend.jsonsafe import finite_or_none

__all__ = ["AGGREGATES", "CellData", "SeedStats", "aggregate_grid", "aggregate_seeds", "from_rows", "seed_means",
           "seed_stats"]

AGGREGATES: tuple[str, ...] = ("mean", "median", "min", "max")  # over the finite seeds of a cell
Rows = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class SeedStats:
    """Per cell, over its finite seeds: `mean` (n_cells,), `stderr` (n_cells,), `n` (n_cells,) ints."""

    mean: np.ndarray
    stderr: np.ndarray
    n: np.ndarray


def seed_means(values: np.ndarray) -> np.ndarray:
    """(n_cells, n_seeds) -> (n_cells,) means of the finite seeds, NaN where a cell has none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, np.where(finite, values, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def seed_stats(values: np.ndarray) -> SeedStats:
    """Mean, standard error and count of the finite seeds of each cell of `values` (n_cells, n_seeds)."""
    finite = np.isfinite(values)
    n = finite.sum(axis=1)
    # the standard deviation of each cell's finite seeds, taken on those seeds alone (as numpy sums them)
    sd = np.array([np.std(row[ok], ddof=1) if k > 1 else np.nan for row, ok, k in zip(values, finite, n, strict=True)])
    return SeedStats(seed_means(values), sd / np.sqrt(np.maximum(n, 1)), n)


def aggregate_seeds(values: np.ndarray, agg: str) -> np.ndarray:
    """(n_cells, n_seeds) -> (n_cells,): `agg` (one of AGGREGATES) of each cell's finite seeds, NaN
    where it has none. The median of an even count is the mean of the two middle values."""
    if agg not in AGGREGATES:
        raise ValueError(f"unknown aggregate {agg!r}; one of {', '.join(AGGREGATES)}")
    if agg == "mean":
        return seed_means(values)
    finite = np.isfinite(values)
    n = finite.sum(axis=1)
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    if agg in ("min", "max"):
        fill = np.inf if agg == "min" else -np.inf
        picked = (np.min if agg == "min" else np.max)(np.where(finite, values, fill), axis=1)
        return np.where(n > 0, picked, np.nan)
    ordered = np.sort(np.where(finite, values, np.inf), axis=1)  # the finite seeds first, ascending
    rows = np.arange(values.shape[0])
    hi, lo = ordered[rows, n // 2], ordered[rows, np.maximum(n - 1, 0) // 2]
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.where(n % 2 == 1, hi, (lo + hi) / 2), np.nan)


def aggregate_grid(seeds: list[list[list[float | None] | None]], agg: str) -> list[list[float | None]]:
    """A phase slice's `agg` per cell: `seeds` (n_y, n_x) per-seed values of each cell (None for a
    cell without a result, None inside for a seed without a value) -> (n_y, n_x), None where no
    seed is finite."""
    flat = [cell or [] for row in seeds for cell in row]
    values = np.full((len(flat), max((len(c) for c in flat), default=0)), np.nan)
    for i, cell in enumerate(flat):
        values[i, :len(cell)] = [np.nan if v is None else v for v in cell]
    z = aggregate_seeds(values, agg)
    width = len(seeds[0]) if seeds else 0
    return [[finite_or_none(v) for v in z[i * width:(i + 1) * width]] for i in range(len(seeds))]


@dataclass(frozen=True)
class CellData:
    """Cells and their per-seed values (module docstring): `axes` name -> (n_cells,), `values`
    (n_cells, n_seeds), `point_ids` (n_cells,) (None where the source has none), `status` (n_cells,)."""

    axes: dict[str, np.ndarray]
    values: np.ndarray
    point_ids: list[int | None]
    status: list[str]

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def statuses(self) -> Counter[str]:
        """How many cells have each point status, in the order the statuses first appear."""
        return Counter(self.status)

    def stats(self) -> SeedStats:
        """The seed statistics of every cell (`seed_stats`)."""
        return seed_stats(self.values)

    def take(self, index: np.ndarray) -> CellData:
        """The cells at the integer positions `index` (k,), in that order."""
        return CellData({a: v[index] for a, v in self.axes.items()}, self.values[index],
                        [self.point_ids[i] for i in index], [self.status[i] for i in index])

    def groups(self, by: Sequence[str]) -> list[tuple[dict[str, float], np.ndarray]]:
        """One group per distinct combination of the axes `by`, sorted by those values: (the values,
        the positions (k,) of the group's cells, in their order). No axes: one group of every cell."""
        if not by:
            return [({}, np.arange(len(self)))]
        keys = sorted({tuple(float(self.axes[a][i]) for a in by) for i in range(len(self))})
        return [(dict(zip(by, key, strict=True)),
                 np.flatnonzero(np.all([self.axes[a] == v for a, v in zip(by, key, strict=True)], axis=0)))
                for key in keys]

    def split(self, by: Sequence[str]) -> list[tuple[dict[str, float], CellData]]:
        """`groups`, each with its cells."""
        return [(label, self.take(index)) for label, index in self.groups(by)]

    def along(self, axis: str) -> CellData:
        """The cells sorted by `axis` (e.g. alpha, to scan a line for a crossing)."""
        return self.take(np.argsort(self.axes[axis]))


def from_rows(rows: Rows, metric: str, **where: float) -> CellData:
    """Cells of tidy rows (one per point and unit seed: alpha, D, L, M, the metric; None where
    undefined) that match `where` (axis -> value), sorted by (alpha, D, L, M). A cell's seeds
    are its rows in their order; n_seeds is the most rows of a cell (NaN pads the others)."""
    points: dict[tuple[float, ...], list[dict[str, Any]]] = {}
    for r in rows:
        if all(same_axis_value(v, float(r[k])) for k, v in where.items()):
            points.setdefault(tuple(r[a] for a in AXES), []).append(r)
    keys = sorted(points)
    values = np.full((len(keys), max((len(v) for v in points.values()), default=1)), np.nan)
    for i, key in enumerate(keys):
        for j, r in enumerate(points[key]):
            v = r.get(metric)
            values[i, j] = np.nan if v is None else float(v)
    axes = {a: np.array([k[n] for k in keys], dtype=float) for n, a in enumerate(AXES)}
    return CellData(axes, values, [points[k][0].get("point_id") for k in keys],
                    [str(points[k][0].get("status", "done")) for k in keys])
