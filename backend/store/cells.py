"""Per-seed metric values of a sweep's cells, as arrays for the analysis layer (fits, boundaries)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.grid import AXES
from backend.store.slices import near
from backend.store.tables import Point, Sweep, result_table, sweep_point


@dataclass
class CellData:
    """Cells of a sweep matching some fixed axis values.

    axes: axis name -> (n_cells,) coordinates; values: (n_cells, n_seeds), NaN where a seed has no
    finite value (diverged, or the point is not computed). statuses: count of cells by point status.
    """

    axes: dict[str, np.ndarray]
    values: np.ndarray
    point_ids: list[int]
    statuses: Counter[str] = field(default_factory=Counter)


def metric_cells(session: Session, sweep: Sweep, metric: str, fixed: dict[str, float]) -> CellData:
    seeds = int(sweep.settings.get("seeds", 1))
    query = (select(Point.id, Point.alpha, Point.D, Point.L, Point.M, Point.status, result_table.c.seeds)
             .join(sweep_point, sweep_point.c.point_id == Point.id)
             .outerjoin(result_table, result_table.c.point_id == Point.id)
             .where(sweep_point.c.sweep_id == sweep.id, *[near(getattr(Point, a), v) for a, v in fixed.items()])
             .order_by(Point.D, Point.M, Point.L, Point.alpha))
    rows = session.execute(query).all()
    values = np.full((len(rows), seeds), np.nan)
    coords = {a: np.empty(len(rows)) for a in AXES}
    statuses: Counter[str] = Counter()
    for i, (_pid, alpha, D, L, M, status, seed_docs) in enumerate(rows):
        for a, v in zip(AXES, (alpha, D, L, M), strict=True):
            coords[a][i] = v
        statuses[status] += 1
        for j, doc in enumerate((seed_docs or [])[:seeds]):
            v = doc["metrics"].get(metric)
            if v is not None:
                values[i, j] = v
    return CellData(coords, values, [r[0] for r in rows], statuses)
