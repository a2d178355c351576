"""Sweep-level repository functions: create (with reuse by content hash), summarise, cancel,
retry, delete. Each takes an open Session; the caller owns the transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, not_, select, update
from sqlalchemy.orm import Session

from backend.grid import AXES, PointSpec, RunSettings, SweepSpec, estimate_seconds, point_flops, reference_flops
from backend.store.tables import FINISHED, STATUSES, Point, Sweep, sweep_point, utcnow

_CHUNK = 500  # ids per IN (...) clause


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class CreatedSweep:
    sweep_id: int
    n_points: int
    n_reused: int
    batches: list[list[int]]  # point ids to enqueue, one list per shape, cheapest first


def shape_batches(rows: Iterable[tuple[int, str, float]]) -> list[list[int]]:
    """Group (point id, shape key, flops) into per-shape id lists, cheapest shape first."""
    groups: dict[str, list[int]] = defaultdict(list)
    cost: dict[str, float] = defaultdict(float)
    for pid, key, flops in rows:
        groups[key].append(pid)
        cost[key] += flops
    return [sorted(groups[k]) for k in sorted(groups, key=lambda k: cost[k])]


def _existing(session: Session, hashes: list[str]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for part in chunks(hashes):
        for pid, h, status in session.execute(
                select(Point.id, Point.content_hash, Point.status).where(Point.content_hash.in_(part))):
            found[h] = (pid, status)
    return found


def create_sweep(session: Session, spec: SweepSpec, points: list[PointSpec], axes: dict[str, list[float]]
                 ) -> CreatedSweep:
    """Store the sweep, insert its new points, link every point. Points already computed by anyone
    (same content hash) are reused; failed or cancelled ones are queued again."""
    by_hash = {p.content_hash: p for p in points}
    existing = _existing(session, list(by_hash))
    flops = sum(point_flops(p) for p in points) + reference_flops(points)
    sweep = Sweep(name=spec.name, spec=spec.model_dump(mode="json"), axes=axes,
                  settings=spec.settings.model_dump(mode="json"), n_points=len(by_hash),
                  n_reused=sum(1 for _, st in existing.values() if st in ("done", "diverged")),
                  estimated_flops=flops)
    session.add(sweep)
    session.flush()
    new = [p for h, p in by_hash.items() if h not in existing]
    now = utcnow()
    new_ids: list[int] = []
    if new:
        rows = [{"content_hash": p.content_hash, "shape_key": p.shape_key, "alpha": p.alpha, "D": p.D,
                 "L": p.L, "M": p.M, "settings": p.settings.model_dump(mode="json"),
                 "estimated_flops": point_flops(p), "status": "queued", "attempts": 0, "queued_at": now}
                for p in new]
        new_ids = list(session.scalars(insert(Point).returning(Point.id), rows))
    requeue = [pid for pid, st in existing.values() if st in ("failed", "cancelled")]
    for part in chunks(requeue):
        session.execute(update(Point).where(Point.id.in_(part)).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=now))
    link_ids = new_ids + [pid for pid, _ in existing.values()]
    session.execute(insert(sweep_point), [{"sweep_id": sweep.id, "point_id": pid} for pid in link_ids])
    batches = _batches_for(session, new_ids + requeue)
    return CreatedSweep(sweep.id, len(by_hash), sweep.n_reused, batches)


def _batches_for(session: Session, ids: list[int]) -> list[list[int]]:
    rows: list[tuple[int, str, float]] = []
    for part in chunks(ids):
        rows += [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(Point.id, Point.shape_key, Point.estimated_flops).where(Point.id.in_(part)))]
    return shape_batches(rows)


def _sweep_points(sweep_id: int) -> Select[tuple[int]]:
    return select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == sweep_id)


def status_counts(session: Session, sweep_id: int) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    rows = session.execute(select(Point.status, func.count()).join(sweep_point, sweep_point.c.point_id == Point.id)
                           .where(sweep_point.c.sweep_id == sweep_id).group_by(Point.status))
    for status, n in rows:
        counts[status] = n
    return counts


def summary(session: Session, sweep: Sweep) -> dict[str, Any]:
    """The sweep summary of docs/api.md: counts by status, progress, timings."""
    counts = status_counts(session, sweep.id)
    finished = sum(counts[s] for s in FINISHED)
    total = max(sweep.n_points, 1)
    progress = finished / total
    last = session.scalar(select(func.max(Point.finished_at)).join(
        sweep_point, sweep_point.c.point_id == Point.id).where(sweep_point.c.sweep_id == sweep.id))
    done = finished >= sweep.n_points
    end = (last or sweep.created_at) if done else utcnow()
    elapsed = max((end - sweep.created_at).total_seconds(), 0.0)
    remaining = None if done or finished == 0 else elapsed / progress * (1 - progress)
    state = "cancelled" if sweep.cancelled_at else ("finished" if done else "running")
    return {"id": sweep.id, "name": sweep.name, "created_at": sweep.created_at.isoformat() + "Z",
            "axes": sweep.axes, "settings": sweep.settings, "n_points": sweep.n_points,
            "n_reused": sweep.n_reused, "estimated_flops": sweep.estimated_flops,
            "estimated_s": estimate_seconds(sweep.axes, RunSettings.model_validate(sweep.settings)), "counts": counts,
            "progress": progress, "elapsed_s": elapsed, "remaining_s": 0.0 if done else remaining,
            "state": state}


def list_sweeps(session: Session, limit: int = 50) -> list[Sweep]:
    return list(session.scalars(select(Sweep).order_by(Sweep.id.desc()).limit(limit)))


def cancel_sweep(session: Session, sweep: Sweep) -> int:
    """Queued and running points of this sweep become cancelled, except points that another
    sweep that is not cancelled also uses. Returns how many were cancelled."""
    other_live = (select(sweep_point.c.point_id).join(Sweep, Sweep.id == sweep_point.c.sweep_id)
                  .where(and_(sweep_point.c.sweep_id != sweep.id, Sweep.cancelled_at.is_(None))))
    sweep.cancelled_at = utcnow()
    res = session.execute(update(Point).where(
        Point.id.in_(_sweep_points(sweep.id)), Point.status.in_(("queued", "running")),
        not_(Point.id.in_(other_live))).values(status="cancelled", lease_owner=None, finished_at=utcnow()))
    return int(res.rowcount)  # type: ignore[attr-defined]


def retry_sweep(session: Session, sweep: Sweep) -> list[list[int]]:
    """Failed and cancelled points go back to the queue; returns the batches to enqueue."""
    sweep.cancelled_at = None
    ids = list(session.scalars(select(Point.id).where(
        Point.id.in_(_sweep_points(sweep.id)), Point.status.in_(("failed", "cancelled")))))
    for part in chunks(ids):
        session.execute(update(Point).where(Point.id.in_(part)).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=utcnow(), finished_at=None))
    return _batches_for(session, ids)


def delete_sweep(session: Session, sweep: Sweep) -> None:
    """Remove the sweep and its links, and the points no other sweep uses (with their results)."""
    ids = list(session.scalars(_sweep_points(sweep.id)))
    session.execute(delete(sweep_point).where(sweep_point.c.sweep_id == sweep.id))
    session.delete(sweep)
    session.flush()
    for part in chunks(ids):
        orphans = select(Point.id).where(Point.id.in_(part), not_(Point.id.in_(select(sweep_point.c.point_id))))
        session.execute(delete(Point).where(Point.id.in_(orphans)).execution_options(synchronize_session=False))


def axes_of(sweep: Sweep) -> dict[str, list[float]]:
    return {a: [float(v) for v in sweep.axes[a]] for a in AXES}
