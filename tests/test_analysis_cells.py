"""The one cells layer: seed statistics, aggregates over seeds, tidy rows to cells, grouping."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest

from backend.analysis.cells import aggregate_grid, aggregate_seeds, from_rows, seed_stats
from backend.metrics import ORDER_STATS, order_stats

NAN = math.nan
VALUES = np.array([[1.0, 2.0, 4.0, NAN], [3.0, NAN, NAN, NAN], [NAN, NAN, NAN, NAN], [5.0, 1.0, math.inf, 2.0]])


def test_seed_stats_are_over_the_finite_seeds() -> None:
    stats = seed_stats(VALUES)
    assert stats.n.tolist() == [3, 1, 0, 3]
    assert stats.mean[0] == pytest.approx(7 / 3) and stats.mean[1] == 3.0 and math.isnan(stats.mean[2])
    assert stats.mean[3] == pytest.approx(8 / 3)  # inf is not a finite seed
    assert stats.stderr[0] == pytest.approx(statistics.stdev([1, 2, 4]) / math.sqrt(3))
    assert math.isnan(stats.stderr[1]) and math.isnan(stats.stderr[2])  # fewer than two seeds: no stderr


def test_aggregates_over_seeds() -> None:
    med = aggregate_seeds(VALUES, "median")
    assert med[0] == 2.0 and med[1] == 3.0 and math.isnan(med[2]) and med[3] == 2.0
    even = aggregate_seeds(np.array([[4.0, 1.0, NAN, 2.0, 8.0]]), "median")
    assert even[0] == 3.0  # the mean of the two middle values of 1, 2, 4, 8
    assert aggregate_seeds(VALUES, "min").tolist()[:2] == [1.0, 3.0]
    assert aggregate_seeds(VALUES, "max")[3] == 5.0 and math.isnan(aggregate_seeds(VALUES, "max")[2])
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate_seeds(VALUES, "mode")


def test_aggregate_grid_keeps_the_slice_shape() -> None:
    grid: list[list[list[float | None] | None]] = [[[1.0, None, 3.0], None], [[None, None], [2.0, 6.0, 7.0]]]
    assert aggregate_grid(grid, "median") == [[2.0, None], [None, 6.0]]
    assert aggregate_grid(grid, "max") == [[3.0, None], [None, 7.0]]


def test_rows_group_into_sorted_cells_and_lines() -> None:
    rows: list[dict[str, Any]] = [
        {"alpha": a, "D": 8, "L": L, "M": 4, "status": "done", "x": a * L + s, "point_id": int(a * 10 + L)}
        for L in (16, 4) for a in (2.0, 1.0) for s in range(2)]
    rows.append({"alpha": 1.0, "D": 8, "L": 4, "M": 4, "status": "done", "x": None, "point_id": 14})
    cells = from_rows(rows, "x")
    assert cells.axes["alpha"].tolist() == [1, 1, 2, 2] and cells.axes["L"].tolist() == [4, 16, 4, 16]
    assert cells.values.shape == (4, 3) and math.isnan(cells.values[0, 2]) and math.isnan(cells.values[1, 2])
    assert cells.values[0, :2].tolist() == [4.0, 5.0] and cells.point_ids == [14, 26, 24, 36]
    lines = cells.split(["L"])
    assert [label for label, _ in lines] == [{"L": 4.0}, {"L": 16.0}]
    assert lines[1][1].axes["alpha"].tolist() == [1, 2] and lines[1][1].values[:, 0].tolist() == [16.0, 32.0]
    assert from_rows(rows, "x", L=16).axes["L"].tolist() == [16, 16]
    assert cells.statuses == {"done": 4}


def test_the_stored_order_stats_are_the_slice_aggregates() -> None:
    """backend.metrics.order_stats (the result table's <metric>_median/_min/_max) and
    aggregate_seeds (the analysis layer) are one rule: finite seeds only, even median = mean of two."""
    rng = np.random.default_rng(3)
    cells = [list(rng.normal(size=k)) for k in range(0, 6)] + [[1.0, None, float("nan"), 4.0], [None, None]]
    values = np.full((len(cells), 6), np.nan)
    for i, cell in enumerate(cells):
        values[i, :len(cell)] = [np.nan if v is None else v for v in cell]
    for agg in ORDER_STATS:
        expected = aggregate_seeds(values, agg)
        got = [order_stats(cell)[agg] for cell in cells]
        assert [None if not np.isfinite(e) else pytest.approx(e) for e in expected] == got
