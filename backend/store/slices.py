"""Read models for the API: phase-diagram slices, tidy export rows (one point in full:
backend.store.points.point_detail)."""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Integer, Select, Text, cast, false, select
from sqlalchemy.orm import Session

from backend.analysis.cells import AGGREGATES  # the aggregates a slice offers (GET /meta lists them)
from backend.grid import AXES, axis_tolerance, same_axis_value
from backend.metrics import FLOOR_FACTOR, json_number
from backend.results import tidy_rows
from backend.store.tables import Point, Sweep, result_table, sweep_point

__all__ = ["AGGREGATES", "cell_columns", "cell_values", "export_rows", "near", "phase_slice", "point_statuses",
           "rows_for_hashes", "sweep_points_query"]


def near(column: Any, value: float) -> Any:
    """Float match with a relative tolerance (axis values went through JSON and rounding).

    On an integer column (D, L, M) the same match is written with the integers inside the
    tolerance (one, or none): compared with a float, PostgreSQL casts the column and then no
    index on it serves the query, and SQLite sees an equality it can look up."""
    tol = axis_tolerance(value)
    if isinstance(column.type, Integer) and math.isfinite(value):
        lo, hi = math.ceil(value - tol), math.floor(value + tol)
        if lo > hi:
            return false()
        return column == lo if lo == hi else column.between(lo, hi)
    return column.between(value - tol, value + tol)


def value_column(metric: str, agg: str) -> Any:
    """The typed result column of `metric` aggregated over seeds by `agg` (mean | median | min | max)."""
    return result_table.c[f"{metric}_{agg}"]


def floored(metric: str) -> bool:
    """Errors to a reference carry its noise floor (a `<metric>_floor` metric)."""
    return metric in ("err_out", "err_emb")


def cell_columns(metric: str, agg: str) -> list[Any]:
    """Per cell: status, regime, the aggregate shown (z), stderr and n of the seed mean, and for a
    floored metric the floor's mean and the seed mean (near_floor reads the mean, whatever is shown)."""
    cols = [Point.status, result_table.c.regime, value_column(metric, agg), result_table.c[f"{metric}_stderr"],
            result_table.c[f"{metric}_n"]]
    if floored(metric):
        cols += [result_table.c[f"{metric}_floor_mean"], result_table.c[f"{metric}_mean"]]
    return cols


def cell_values(row: Sequence[Any], metric: str) -> dict[str, Any]:
    """A `cell_columns` row as {status, regime, z, stderr, n[, floor, near_floor]}."""
    out = {"status": row[0], "regime": row[1], "z": json_number(row[2]), "stderr": json_number(row[3]),
           "n": row[4] or 0}
    if floored(metric):
        floor, mean = json_number(row[5]), json_number(row[6])
        out["floor"] = floor
        out["near_floor"] = bool(mean is not None and floor is not None and mean < FLOOR_FACTOR * floor)
    return out


def sweep_points_query(sweep: Sweep, columns: Sequence[Any], used: dict[str, float]) -> Any:
    """`columns` of the sweep's points (with their results, where any) whose axes match `used`."""
    return (select(*columns).join(sweep_point, sweep_point.c.point_id == Point.id)
            .outerjoin(result_table, result_table.c.point_id == Point.id)
            .where(sweep_point.c.sweep_id == sweep.id, *[near(getattr(Point, a), v) for a, v in used.items()]))


def phase_slice(session: Session, sweep: Sweep, x: str, y: str, metric: str, fixed: dict[str, float],
                agg: str = "mean") -> dict[str, Any]:
    """A (y, x) grid of one metric over the sweep's axes, the other axes held at `fixed` (first
    value where not given): each cell's `agg` over seeds (`z`, a typed column: the seed mean, or
    the median, min or max the result table keeps beside it), the seed mean's stderr and n, its
    status, regime and point id. Cells not computed yet are present with their status."""
    axes = {a: [float(v) for v in sweep.axes[a]] for a in AXES}
    used = {a: fixed.get(a, axes[a][0]) for a in AXES if a not in (x, y)}
    query = sweep_points_query(sweep, [Point.id, getattr(Point, x), getattr(Point, y), *cell_columns(metric, agg)],
                               used)
    xs, ys = axes[x], axes[y]
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    xlook, ylook = _AxisLookup(xs), _AxisLookup(ys)

    def grid(fill: Any) -> list[list[Any]]:
        return [[fill] * len(xs) for _ in ys]

    out: dict[str, Any] = {"x_axis": x, "y_axis": y, "metric": metric, "fixed": used, "x": xs, "y": ys,
                           "z": grid(None), "stderr": grid(None), "n": grid(0), "status": grid("missing"),
                           "regime": grid(None), "point_id": grid(None)}
    if floored(metric):  # the reference's noise floor, and the cells within FLOOR_FACTOR of it
        out.update(floor=grid(None), near_floor=grid(False))
    for row in session.execute(query):
        ykey, xkey = ylook.key(row[2]), xlook.key(row[1])
        if ykey is None or xkey is None:
            continue
        i, j = yi[ykey], xi[xkey]
        out["point_id"][i][j] = row[0]
        for name, value in cell_values(row[3:], metric).items():
            out[name][i][j] = value
    return out


class _AxisLookup:
    """The first of an axis's values (in its order) that a stored value is close to, found by
    bisection and remembered: a linear scan per row was most of a 100 x 100 slice's time."""

    def __init__(self, values: list[float]) -> None:
        self.order = sorted(range(len(values)), key=values.__getitem__)
        self.sorted = [values[i] for i in self.order]
        self.values = values
        self.seen: dict[float, float | None] = {}

    def key(self, value: float) -> float | None:
        try:
            return self.seen[value]
        except KeyError:
            found = self.seen[value] = self._find(value)
            return found

    def _find(self, value: float) -> float | None:
        if not math.isfinite(value):
            return None  # close to nothing
        slack = abs(value) * 2e-9 + 2e-12  # wider than any tolerance same_axis_value can grant near `value`
        lo, hi = bisect_left(self.sorted, value - slack), bisect_right(self.sorted, value + slack)
        hits = [self.order[k] for k in range(lo, hi) if same_axis_value(self.sorted[k], value)]
        return self.values[min(hits)] if hits else None


def _tidy_query(settings: Any) -> Select[Any]:
    """The columns one point's tidy rows are made of (`_tidy_rows` reads them in this order)."""
    return select(Point.id, Point.content_hash, Point.alpha, Point.D, Point.L, Point.M, Point.status, settings,
                  result_table.c.seeds, result_table.c.regime)


def _tidy_rows(rows: Iterable[Any], parse: Callable[[Any], dict[str, Any]], extra: dict[str, Any]
               ) -> Iterator[dict[str, Any]]:
    """Tidy rows (backend.results.tidy_rows) of `_tidy_query` rows, `extra` (ids) first in each."""
    for pid, content_hash, alpha, D, L, M, status, settings, seeds, regime in rows:
        base = {**extra, "point_id": pid, "content_hash": content_hash, "alpha": alpha, "D": D, "L": L, "M": M,
                "status": status, "point_regime": regime}
        yield from tidy_rows(base, parse(settings), seeds)


def export_rows(session: Session, sweep_id: int) -> Iterator[dict[str, Any]]:
    """One row per point and seed: every setting and every metric (uncomputed points: one row
    with its status and empty metrics).

    Plain columns rather than Point objects, in sweep_point's key order (no sort), and each
    distinct settings document parsed once (a sweep's points share theirs): 100,000 ORM objects
    and settings parses were a third of a whole-sweep export's time."""
    query = (_tidy_query(cast(Point.settings, Text))
             .join(sweep_point, sweep_point.c.point_id == Point.id)
             .outerjoin(result_table, result_table.c.point_id == Point.id)
             .where(sweep_point.c.sweep_id == sweep_id).order_by(sweep_point.c.point_id))
    parsed: dict[str, dict[str, Any]] = {}

    def parse(text: str) -> dict[str, Any]:
        if text not in parsed:
            parsed[text] = json.loads(text)
        return parsed[text]

    yield from _tidy_rows(session.execute(query).yield_per(1000), parse, {"sweep_id": sweep_id})


def rows_for_hashes(session: Session, hashes: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Tidy rows (export_rows' shape) of the finished points among these content hashes, and how
    many of the hashes are finished: the results of a spec, whichever sweeps computed them."""
    rows: list[dict[str, Any]] = []
    finished = 0
    for start in range(0, len(hashes), 500):
        query = (_tidy_query(Point.settings).join(result_table, result_table.c.point_id == Point.id)
                 .where(Point.content_hash.in_(hashes[start:start + 500])))
        found = session.execute(query).all()
        finished += len(found)
        rows.extend(_tidy_rows(found, dict, {}))
    return rows, finished


def point_statuses(session: Session, hashes: list[str]) -> dict[str, str]:
    """content hash -> status of the points that exist among these hashes."""
    out: dict[str, str] = {}
    for start in range(0, len(hashes), 500):
        part = hashes[start:start + 500]
        query = select(Point.content_hash, Point.status).where(Point.content_hash.in_(part))
        out.update({content_hash: status for content_hash, status in session.execute(query)})
    return out
