"""A sweep's cells as tidy rows (GET /sweeps/{id}/cells): one row per point matching the held
axes, with its four axes and one metric's values, and a cursor for incremental polls.

A point's "changed at" is the newest of its queued_at, started_at and finished_at: every status
change sets one of them to now (submit, retry and the reaper's requeue set queued_at, a claim
started_at, recording, failing and cancelling finished_at), so the cells changed since a poll
are those with a newer one. A poll with `after` re-sends the OVERLAP_S before it as well, so a
change whose transaction committed a little after its timestamp is not missed; and `total`
counts every matching cell, so a client whose merged cells are fewer (a point linked to the
sweep with old timestamps: a refinement that reused a finished point) knows to read them all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import Session

from backend.grid import AXES
from backend.store.slices import cell_columns, cell_values, sweep_points_query
from backend.store.tables import Point, Sweep

OVERLAP_S = 30.0  # a poll re-sends the cells changed this long before its cursor


def changed_at(session: Session) -> Any:
    """The SQL expression of a point's last change (GREATEST on PostgreSQL; SQLite's scalar MAX,
    which would be NULL with a NULL argument, hence the COALESCEs to queued_at, never NULL)."""
    parts = [Point.queued_at, func.coalesce(Point.started_at, Point.queued_at),
             func.coalesce(Point.finished_at, Point.queued_at)]
    sqlite = session.get_bind().dialect.name == "sqlite"
    return func.max(*parts) if sqlite else func.greatest(*parts)


def _as_datetime(value: Any) -> datetime:
    """SQLite's scalar MAX of DATETIME columns comes back as text ('2026-12-02 19:27:31.123456')."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def sweep_cells(session: Session, sweep: Sweep, metric: str, agg: str, fixed: dict[str, float],
                after: datetime | None = None) -> dict[str, Any]:
    """{"cells": [{point_id, alpha, D, L, M, status, regime, z, stderr, n[, floor, near_floor]}]
    (by point id; only those changed at or after `after` - OVERLAP_S when given), "total": every
    cell matching `fixed`, "cursor": the newest change among them (naive UTC; None: no cells)}."""
    changed = changed_at(session)
    columns = [Point.id, *(getattr(Point, a) for a in AXES), *cell_columns(metric, agg)]
    base = sweep_points_query(sweep, [func.count(), func.max(changed)], fixed)
    total, newest = session.execute(base).one()
    query = sweep_points_query(sweep, columns, fixed).order_by(Point.id)
    if after is not None:
        query = query.where(changed >= after - timedelta(seconds=OVERLAP_S))
    cells = []
    for row in session.execute(query):
        cell = {"point_id": row[0], **{a: row[1 + k] for k, a in enumerate(AXES)}}
        cells.append({**cell, **cell_values(row[1 + len(AXES):], metric)})
    return {"cells": cells, "total": total, "cursor": None if newest is None else _as_datetime(newest)}
