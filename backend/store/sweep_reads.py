"""Sweep reads: typed records of stored sweeps with their point counts by status, in a fixed
number of queries however many sweeps are read (one for the sweeps, one for the counts of all of
them, grouped by sweep and status, one for their refinements). The API turns a record into its response
(backend.api.sweep_schemas); nothing here validates settings or computes estimates again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.store.tables import STATUSES, Point, Refinement, Sweep, sweep_point


@dataclass(frozen=True)
class SweepRecord:
    """One stored sweep as submitted (axes achieved, settings with defaults filled, its cost) and
    the state of its points: how many are in each status and when the last one finished."""

    id: int
    name: str
    created_at: datetime  # naive UTC
    cancelled_at: datetime | None
    axes: dict[str, list[float]]
    settings: dict[str, Any]
    n_points: int
    n_reused: int
    estimated_flops: float
    estimated_s: float
    owner: str | None
    counts: dict[str, int]  # every status of backend.store.tables.STATUSES, zeros included
    last_finished_at: datetime | None
    refinements: list[dict[str, Any]] = field(default_factory=list)  # RefinementPublic documents, by idx


_COLUMNS = (Sweep.id, Sweep.name, Sweep.created_at, Sweep.cancelled_at, Sweep.axes, Sweep.settings, Sweep.n_points,
            Sweep.n_reused, Sweep.estimated_flops, Sweep.estimated_s, Sweep.owner)


def _point_states(session: Session, ids: Sequence[int]) -> dict[int, tuple[dict[str, int], datetime | None]]:
    """{sweep id: (counts by status, last finished_at)} of these sweeps, in one grouped query."""
    out: dict[int, tuple[dict[str, int], datetime | None]] = {i: (dict.fromkeys(STATUSES, 0), None) for i in ids}
    if not ids:
        return out
    query = (select(sweep_point.c.sweep_id, Point.status, func.count(), func.max(Point.finished_at))
             .join(Point, Point.id == sweep_point.c.point_id)
             .where(sweep_point.c.sweep_id.in_(ids)).group_by(sweep_point.c.sweep_id, Point.status))
    for sweep_id, status, n, last in session.execute(query):
        counts, latest = out[sweep_id]
        counts[status] = n
        if last is not None and (latest is None or last > latest):
            out[sweep_id] = (counts, last)
    return out


def refinement_doc(r: Refinement) -> dict[str, Any]:
    """A refinement row as the fields of backend.api.sweep_schemas.RefinementPublic."""
    lines = r.lines or {}
    return {"metric": r.metric, "threshold": r.threshold, "threshold_name": r.threshold_name,
            "threshold_formula": r.threshold_formula, "axis": r.axis,
            "tol": r.tol, "max_points": r.max_points, "rounds": r.rounds, "points_added": r.points_added,
            "state": r.state, "uniform_points": lines.get("uniform_points"), "lines": lines.get("lines", [])}


def _refinements(session: Session, ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """{sweep id: its refinement documents in idx order} of those of these sweeps that refine (one query)."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    for r in session.scalars(select(Refinement).where(Refinement.sweep_id.in_(ids))
                             .order_by(Refinement.sweep_id, Refinement.idx)):
        out.setdefault(r.sweep_id, []).append(refinement_doc(r))
    return out


def _records(session: Session, query: Any) -> list[SweepRecord]:
    rows = session.execute(query).all()
    ids = [r[0] for r in rows]
    states, refinements = _point_states(session, ids), _refinements(session, ids)
    return [SweepRecord(**row._asdict(), counts=states[row.id][0], last_finished_at=states[row.id][1],
                        refinements=refinements.get(row.id, [])) for row in rows]


def sweep_records(session: Session, limit: int = 50) -> list[SweepRecord]:
    """The newest `limit` sweeps, newest first: two queries whatever `limit` is."""
    return _records(session, select(*_COLUMNS).order_by(Sweep.id.desc()).limit(limit))


def sweep_record(session: Session, sweep_id: int) -> SweepRecord | None:
    """One sweep's record, or None when there is no such sweep."""
    found = _records(session, select(*_COLUMNS).where(Sweep.id == sweep_id))
    return found[0] if found else None


def status_counts(session: Session, sweep_id: int) -> dict[str, int]:
    """How many of the sweep's points are in each status (zeros included)."""
    return _point_states(session, [sweep_id])[sweep_id][0]
