"""The loss of running points so far (table point_progress): the worker writes it every ~2 s while
it trains (worker/progress.py), GET /points/{id}/progress reads it, and it is removed once the
point's result is recorded (the result's loss_curves are then the whole curves) or its lease ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from backend.jsonsafe import finite_or_none
from backend.store.tables import Point, point_progress, utcnow
from backend.store.transactions import chunks


@dataclass(frozen=True)
class Progress:
    """One point's curve so far: per seed, the MSE at the sampled steps."""

    point_id: int
    step: int  # steps done
    steps: int  # K
    at_steps: list[int]
    loss_per_seed: list[list[float]]  # NaN after divergence (stored as null)


def write_progress(session: Session, rows: Sequence[Progress], owner: str) -> int:
    """Replace the progress of the points among `rows` that `owner` still holds (running under its
    lease); returns how many were written. One delete and one insert per chunk of points."""
    held: set[int] = set()
    for part in chunks([r.point_id for r in rows]):
        held |= set(session.scalars(select(Point.id).where(
            and_(Point.id.in_(part), Point.status == "running", Point.lease_owner == owner))))
    mine = [r for r in rows if r.point_id in held]
    if not mine:
        return 0
    now = utcnow()
    for part in chunks(mine):
        session.execute(delete(point_progress).where(point_progress.c.point_id.in_([r.point_id for r in part])))
        session.execute(insert(point_progress), [
            {"point_id": r.point_id, "step": r.step, "steps": r.steps, "at_steps": r.at_steps,
             "loss_per_seed": [[finite_or_none(v) for v in seed] for seed in r.loss_per_seed], "updated_at": now}
            for r in part])
    return len(mine)


def clear_progress(session: Session, ids: Sequence[int]) -> None:
    """Remove the progress of these points (their result is recorded, or their lease ended)."""
    for part in chunks(list(ids)):
        session.execute(delete(point_progress).where(point_progress.c.point_id.in_(part)))


def read_progress(session: Session, point_id: int) -> dict[str, Any] | None:
    """The point's status and its curve so far (step null and no curves before the first write, or
    once the result is recorded); None when there is no such point."""
    status = session.scalar(select(Point.status).where(Point.id == point_id))
    if status is None:
        return None
    row = session.execute(select(point_progress).where(point_progress.c.point_id == point_id)).mappings().first()
    if row is None:
        return {"point_id": point_id, "status": status, "step": None, "steps": None, "at_steps": [],
                "loss_per_seed": [], "updated_at": None}
    return {"point_id": point_id, "status": status, "step": row["step"], "steps": row["steps"],
            "at_steps": row["at_steps"], "loss_per_seed": row["loss_per_seed"],
            "updated_at": row["updated_at"].isoformat() + "Z"}
