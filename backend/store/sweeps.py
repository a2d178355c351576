"""Sweep-level repository functions: create (with reuse by content hash), summarise, cancel,
retry, delete. Each takes an open Session; the caller owns the transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
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


def _is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL (which gets set-based statements)."""
    return session.get_bind().dialect.name == "postgresql"


def _existing(session: Session, hashes: list[str]) -> dict[str, tuple[int, str]]:
    """{content hash: (point id, status)} of the points among `hashes` already stored.

    PostgreSQL: one `content_hash = ANY(array)` look-up, planned with its actual parameter
    (force_custom_plan, for the rest of the transaction). psycopg prepares a statement it has run
    five times and PostgreSQL then may keep a generic plan made with the statistics of that moment;
    made while `point` was small (a new database, autovacuum off), that plan seq-scans the grown
    table comparing every row with every hash: successive 20,000-point sweeps took 5, 20, 41 s.
    Elsewhere: IN lists of _CHUNK hashes."""
    query = select(Point.id, Point.content_hash, Point.status)
    if _is_postgres(session):
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        wanted = bindparam("hashes", hashes, type_=ARRAY(Point.__table__.c.content_hash.type))
        rows = list(session.execute(query.where(Point.content_hash == any_(wanted))))
    else:
        rows = [r for part in chunks(hashes) for r in session.execute(query.where(Point.content_hash.in_(part)))]
    return {h: (pid, status) for pid, h, status in rows}


def _point_rows(new: Iterable[tuple[str, PointSpec]]) -> list[dict[str, Any]]:
    """Insert rows of new points; the settings document and the shape key are computed once per
    distinct settings object and shape, not once per point."""
    now = utcnow()
    settings_docs: dict[int, dict[str, Any]] = {}
    shape_keys: dict[tuple[int, int, int, int], str] = {}
    rows = []
    for h, p in new:
        doc = settings_docs.setdefault(id(p.settings), p.settings.model_dump(mode="json"))
        shape = (p.D, p.L, p.M, id(p.settings))
        key = shape_keys.get(shape)
        if key is None:
            key = shape_keys[shape] = p.shape_key
        rows.append({"content_hash": h, "shape_key": key, "alpha": p.alpha, "D": p.D, "L": p.L, "M": p.M,
                     "settings": doc, "estimated_flops": point_flops(p), "status": "queued", "attempts": 0,
                     "queued_at": now})
    return rows


_POINT_COLUMNS = ("content_hash", "shape_key", "alpha", "D", "L", "M", "settings", "estimated_flops", "status",
                  "attempts", "queued_at")


def _unnest(table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> Select[Any]:
    """PostgreSQL: SELECT the rows from one array per column (unnest(a1, a2, ...)), so that one
    statement with one parameter per column inserts them all. A column with the same value in
    every row (the settings of a sweep, its status) is one scalar parameter: psycopg writes
    arrays in text form in Python, and escaping 20,000 JSON documents costs more than the insert."""
    first = rows[0]
    same = {c for c in columns if all(r[c] == first[c] for r in rows)}
    varying = [c for c in columns if c not in same]
    arrays = [bindparam(f"{c}_values", [r[c] for r in rows], type_=ARRAY(table.c[c].type)) for c in varying]
    source = func.unnest(*arrays).table_valued(*varying).render_derived(name="v")
    return select(*[bindparam(f"{c}_value", first[c], type_=table.c[c].type) if c in same else source.c[c]
                    for c in columns])


def _insert_points(session: Session, new: list[tuple[str, PointSpec]]) -> list[tuple[int, str, float]]:
    """Insert the new points; returns their (id, shape key, flops). On PostgreSQL one
    INSERT ... SELECT FROM unnest(...): row by row (executemany, or the multi-row VALUES that
    psycopg must parse anew for every 1,000 rows) costs seconds per 20,000 points."""
    if not new:
        return []
    rows = _point_rows(new)
    table = cast(Table, Point.__table__)
    returning = (table.c.id, table.c.shape_key, table.c.estimated_flops)
    if _is_postgres(session):
        stmt = insert(table).from_select(_POINT_COLUMNS, _unnest(table, _POINT_COLUMNS, rows)).returning(*returning)
        result = session.execute(stmt)
    else:
        result = session.execute(insert(table).returning(*returning), rows)
    return [(r[0], r[1], r[2]) for r in result]


def _link(session: Session, sweep_id: int, point_ids: list[int]) -> None:
    """Link the points to the sweep (on PostgreSQL in one statement, see _insert_points)."""
    if not point_ids:
        return
    if _is_postgres(session):
        ids = bindparam("point_ids", point_ids, type_=ARRAY(Integer))
        session.execute(insert(sweep_point).from_select(
            ["sweep_id", "point_id"], select(literal(sweep_id, Integer), func.unnest(ids))))
    else:
        session.execute(insert(sweep_point), [{"sweep_id": sweep_id, "point_id": pid} for pid in point_ids])


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
    new = [(h, p) for h, p in by_hash.items() if h not in existing]
    inserted = _insert_points(session, new)
    now = utcnow()
    requeue = [pid for pid, st in existing.values() if st in ("failed", "cancelled")]
    for part in chunks(requeue):
        session.execute(update(Point).where(Point.id.in_(part)).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=now))
    _link(session, sweep.id, [r[0] for r in inserted] + [pid for pid, _ in existing.values()])
    batches = shape_batches(sorted(inserted + _shape_rows(session, requeue)))
    return CreatedSweep(sweep.id, len(by_hash), sweep.n_reused, batches)


def _shape_rows(session: Session, ids: list[int]) -> list[tuple[int, str, float]]:
    """(id, shape key, flops) of these points."""
    rows: list[tuple[int, str, float]] = []
    for part in chunks(ids):
        rows += [(r[0], r[1], r[2]) for r in session.execute(
            select(Point.id, Point.shape_key, Point.estimated_flops).where(Point.id.in_(part)))]
    return rows


def _batches_for(session: Session, ids: list[int]) -> list[list[int]]:
    """Per-shape batches of these points, cheapest shape first (ties: lowest id first)."""
    return shape_batches(sorted(_shape_rows(session, ids)))


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
