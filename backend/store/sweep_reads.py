"""Sweep reads: typed records of stored sweeps with their point counts by status, in a fixed
number of queries however many sweeps are read (one for the sweeps, one for the counts of those
not settled, grouped by sweep and status (backend/store/sweep_states.py keeps the settled ones'),
one for their refinements, one for their tags; a search adds one for its total). The API turns a
record into its response (backend.api.sweep_schemas); nothing here validates settings or computes
estimates again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.store.sweep_notes import tags_of
from backend.store.sweep_states import PointWork, point_states, sweep_states
from backend.store.tables import Refinement, Sweep, sweep_tag


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
    note: str = ""
    tags: list[str] = field(default_factory=list)
    work: PointWork = field(default_factory=PointWork)


_COLUMNS = (Sweep.id, Sweep.name, Sweep.created_at, Sweep.cancelled_at, Sweep.axes, Sweep.settings, Sweep.n_points,
            Sweep.n_reused, Sweep.estimated_flops, Sweep.estimated_s, Sweep.owner, Sweep.note)

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
    """query: select(*_COLUMNS, Sweep.state_epoch)...: the records of its rows, in its order."""
    rows = [row._asdict() for row in session.execute(query)]
    ids = [row["id"] for row in rows]
    states = sweep_states(session, [(row["id"], row["created_at"], row.pop("state_epoch")) for row in rows])
    refinements, tags = _refinements(session, ids), tags_of(session, ids)
    return [SweepRecord(**row, counts=states[row["id"]].counts, last_finished_at=states[row["id"]].last_finished_at,
                        work=states[row["id"]].work, refinements=refinements.get(row["id"], []), tags=tags[row["id"]])
            for row in rows]


@dataclass(frozen=True)
class SweepSearch:
    """GET /sweeps filters, all optional and combined with AND: `name` a case-insensitive
    substring of the name, `tag` one exact tag (`run:<id>` for a reproduce run), `owner` the
    token name that created it."""

    name: str | None = None
    tag: str | None = None
    owner: str | None = None

    def conditions(self) -> list[Any]:
        out: list[Any] = []
        if self.name:
            escaped = self.name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(func.lower(Sweep.name).like(f"%{escaped}%", escape="\\"))
        if self.tag:
            out.append(Sweep.id.in_(select(sweep_tag.c.sweep_id).where(sweep_tag.c.tag == self.tag)))
        if self.owner:
            out.append(Sweep.owner == self.owner)
        return out


def sweep_records(session: Session, limit: int = 50, offset: int = 0,
                  search: SweepSearch | None = None) -> list[SweepRecord]:
    """The newest sweeps matching `search`, newest first, `offset` of them skipped: four queries
    whatever `limit` is."""
    where = (search or SweepSearch()).conditions()
    return _records(session, select(*_COLUMNS, Sweep.state_epoch).where(*where).order_by(Sweep.id.desc())
                    .limit(limit).offset(offset))


def count_sweeps(session: Session, search: SweepSearch | None = None) -> int:
    """How many sweeps match `search` (one query)."""
    where = (search or SweepSearch()).conditions()
    return int(session.scalar(select(func.count()).select_from(Sweep).where(*where)) or 0)


def sweep_record(session: Session, sweep_id: int) -> SweepRecord | None:
    """One sweep's record, or None when there is no such sweep."""
    found = _records(session, select(*_COLUMNS, Sweep.state_epoch).where(Sweep.id == sweep_id))
    return found[0] if found else None


def status_counts(session: Session, sweep_id: int) -> dict[str, int]:
    """How many of the sweep's points are in each status (zeros included)."""
    return point_states(session, [sweep_id])[sweep_id].counts
