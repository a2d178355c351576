"""Per-seed metric values of a sweep's cells, read for the analysis layer (data only: the seed
statistics and every grouping are backend/analysis/cells.py's)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.analysis.cells import CellData
from backend.grid import AXES
from backend.store.slices import near
from backend.store.tables import Point, Sweep, result_table, sweep_point

__all__ = ["CellData", "metric_cells"]


def metric_cells(session: Session, sweep: Sweep, metric: str, fixed: dict[str, float]) -> CellData:
    """The sweep's points matching `fixed` (axis -> value), ordered by D, M, L, alpha: axes (n,),
    values (n, the sweep's seeds) of `metric`, NaN where a seed has no value or the point no result."""
    seeds = int(sweep.settings.get("seeds", 1))
    query = (select(Point.id, Point.alpha, Point.D, Point.L, Point.M, Point.status, result_table.c.seeds)
             .join(sweep_point, sweep_point.c.point_id == Point.id)
             .outerjoin(result_table, result_table.c.point_id == Point.id)
             .where(sweep_point.c.sweep_id == sweep.id, *[near(getattr(Point, a), v) for a, v in fixed.items()])
             .order_by(Point.D, Point.M, Point.L, Point.alpha))
    rows = session.execute(query).all()
    values = np.full((len(rows), seeds), np.nan)
    coords = {a: np.empty(len(rows)) for a in AXES}
    for i, (_pid, alpha, D, L, M, _status, seed_docs) in enumerate(rows):
        for a, v in zip(AXES, (alpha, D, L, M), strict=True):
            coords[a][i] = v
        for j, doc in enumerate((seed_docs or [])[:seeds]):
            v = doc["metrics"].get(metric)
            if v is not None:
                values[i, j] = v
    return CellData(coords, values, [r[0] for r in rows], [r[5] for r in rows])
