"""Point-level repository functions: the worker's lease protocol (claim, heartbeat, record,
release, reap), the point listings of the API and one point in full (`point_detail`).

Dispatch: every point that becomes queued is marked as sent (dispatched_at) in the same
transaction, and its caller sends it after commit (backend.queue.dispatch); the reaper sends again
a queued point whose send failed or whose message was lost (backend.reaper.redispatch_once).

Lease protocol: a worker claims points with one conditional UPDATE (queued, or running with a
stale heartbeat and attempts left -> running, attempts + 1, lease_owner = it). It heartbeats
while it computes and writes results only where it still holds the lease, in one transaction,
so a point gets exactly one result however many workers die or race on it.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from backend.grid import PointSpec, RunSettings
from backend.jsonsafe import finite_or_none
from backend.metrics import METRIC_NAMES
from backend.results import PointOutcome, point_config, point_document
from backend.store.sweeps import _batches_for
from backend.store.tables import Point, bump, result_table, sweep_point, utcnow
from backend.store.transactions import chunks


def _stale(lease_timeout_s: float) -> datetime:
    return utcnow() - timedelta(seconds=lease_timeout_s)


def claim(session: Session, ids: Sequence[int], owner: str, host: str, device: str,
          lease_timeout_s: float, max_attempts: int) -> list[Point]:
    """Take the lease on those of `ids` that are free; returns the claimed points."""
    claimable = or_(Point.status == "queued",
                    and_(Point.status == "running", Point.heartbeat_at < _stale(lease_timeout_s),
                         Point.attempts < max_attempts))
    now = utcnow()
    claimed: list[int] = []
    for part in chunks(list(ids)):
        claimed += session.scalars(
            update(Point).where(Point.id.in_(part), claimable)
            .values(status="running", attempts=Point.attempts + 1, lease_owner=owner, heartbeat_at=now,
                    started_at=now, worker_host=host, device=device, error=None, **bump())
            .returning(Point.id)).all()
    if not claimed:
        return []
    return list(session.scalars(select(Point).where(Point.id.in_(claimed)).order_by(Point.id)))


def heartbeat(session: Session, ids: Sequence[int], owner: str) -> set[int]:
    """Refresh the lease; returns the ids this owner still holds (others were cancelled or reaped)."""
    held: set[int] = set()
    for part in chunks(list(ids)):
        held |= set(session.scalars(
            update(Point).where(Point.id.in_(part), Point.lease_owner == owner, Point.status == "running")
            .values(heartbeat_at=utcnow()).returning(Point.id)))
    return held


def _result_row(point_id: int, outcome: PointOutcome) -> dict[str, Any]:
    return {"point_id": point_id, **outcome.result_row(), "created_at": utcnow()}


def record(session: Session, outcomes: Sequence[tuple[int, PointOutcome]], owner: str) -> list[int]:
    """Finish the points this owner still holds and insert their results; returns the ids written
    (in the order given; a point listed twice is written once, with its first outcome).

    Bulk: one conditional UPDATE ... RETURNING per status and chunk of ids, then one multi-row
    INSERT of the results of the points it returned."""
    first: dict[int, PointOutcome] = {}
    for point_id, outcome in outcomes:
        first.setdefault(point_id, outcome)
    by_status: dict[str, list[int]] = defaultdict(list)
    for point_id, outcome in first.items():
        by_status[outcome.status].append(point_id)
    now = utcnow()
    held: set[int] = set()
    for status, ids in by_status.items():
        for part in chunks(ids):
            held |= set(session.scalars(
                update(Point).where(Point.id.in_(part), Point.lease_owner == owner, Point.status == "running")
                .values(status=status, finished_at=now, lease_owner=None, error=None, **bump())
                .returning(Point.id)))
    written = [point_id for point_id in first if point_id in held]
    if written:
        session.execute(result_table.insert(), [_result_row(point_id, first[point_id]) for point_id in written])
    return written


def release(session: Session, ids: Sequence[int], owner: str, error: str, max_attempts: int) -> list[list[int]]:
    """Give back points after an error: queued again while attempts remain, else failed.
    Returns the batches to enqueue again (marked as sent now, see `dispatch`)."""
    requeue: list[int] = []
    for part in chunks(list(ids)):
        held = Point.id.in_(part), Point.lease_owner == owner, Point.status == "running"
        session.execute(update(Point).where(*held, Point.attempts >= max_attempts).values(
            status="failed", error=error[:4000], lease_owner=None, finished_at=utcnow(), **bump()))
        requeue += session.scalars(update(Point).where(*held).values(
            status="queued", error=error[:4000], lease_owner=None, queued_at=utcnow(), dispatched_at=utcnow(),
            **bump())
            .returning(Point.id)).all()
    return _batches_for(session, requeue)


def reap(session: Session, lease_timeout_s: float, max_attempts: int) -> list[list[int]]:
    """Running points whose heartbeat is stale go back to the queue (failed once out of attempts).
    Returns the batches to enqueue again (marked as sent now, see `dispatch`)."""
    stale = and_(Point.status == "running", Point.heartbeat_at < _stale(lease_timeout_s))
    session.execute(update(Point).where(stale, Point.attempts >= max_attempts).values(
        status="failed", lease_owner=None, finished_at=utcnow(),
        error=f"lease expired {max_attempts} times (worker lost)", **bump()))
    ids = list(session.scalars(update(Point).where(stale).values(
        status="queued", lease_owner=None, queued_at=utcnow(), dispatched_at=utcnow(), **bump())
        .returning(Point.id)))
    return _batches_for(session, ids)


def point_spec(point: Point) -> PointSpec:
    return PointSpec(point.alpha, point.D, point.L, point.M, RunSettings.model_validate(point.settings))


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def decode_cursor(cursor: str) -> int:
    """The id after which a page starts; ValueError for a cursor we did not make."""
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc


def list_points(session: Session, sweep_id: int, status: str | None, limit: int, cursor: str | None
                ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a sweep's points in id order, with their seed means.

    Ordered by sweep_point.point_id (= point.id), so that SQLite reads the page off the primary
    key (sweep_id, point_id) in order instead of sorting every point after the cursor (180 ms for
    the first page of 100,000). The cursor bounds the id on all three tables (on result in the
    join condition, which it does not change): PostgreSQL merge-joins their primary keys, and a
    bound on one side only made it read the others from the start (45 ms for a page at 99,000)."""
    after = decode_cursor(cursor) if cursor else None
    means = [result_table.c[f"{m}_mean"] for m in METRIC_NAMES]
    with_result = result_table.c.point_id == Point.id
    if after is not None:
        with_result = and_(with_result, result_table.c.point_id > after)
    query = (select(Point.id, Point.alpha, Point.D, Point.L, Point.M, Point.status, Point.attempts,
                    result_table.c.regime, *means)
             .join(sweep_point, sweep_point.c.point_id == Point.id)
             .outerjoin(result_table, with_result)
             .where(sweep_point.c.sweep_id == sweep_id).order_by(sweep_point.c.point_id).limit(limit + 1))
    if status:
        query = query.where(Point.status == status)
    if after is not None:
        query = query.where(sweep_point.c.point_id > after, Point.id > after)
    rows = session.execute(query).all()
    items = [{"id": r[0], "alpha": r[1], "D": r[2], "L": r[3], "M": r[4], "status": r[5], "attempts": r[6],
              "regime": r[7], "metrics": {m: finite_or_none(v) for m, v in zip(METRIC_NAMES, r[8:], strict=True)}}
             for r in rows[:limit]]
    next_cursor = _encode_cursor(items[-1]["id"]) if len(rows) > limit else None
    return items, next_cursor


_UNCOMPUTED: dict[str, Any] = dict.fromkeys(
    ("regime", "metrics", "curves", "seed_regimes", "diverged_at_step", "timing_s", "provenance"))


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat() + "Z"


def point_detail(session: Session, point_id: int) -> dict[str, Any] | None:
    """GET /points/{id}: `point_document` of its stored result (the `resphase run --json` object;
    result fields null and no flags until it is computed), plus the point's queue state."""
    point = session.get(Point, point_id)
    if point is None:
        return None
    res = session.execute(select(result_table).where(result_table.c.point_id == point_id)).mappings().first()
    config = point_config(point.alpha, point.D, point.L, point.M, point.settings)
    doc = (point_document(config, point.content_hash, dict(res)) if res is not None else
           {"config": config, "content_hash": point.content_hash, **_UNCOMPUTED, "flags": []})
    return {"id": point.id, **doc, "status": point.status, "attempts": point.attempts, "error": point.error,
            "worker": point.worker_host, "device": point.device, "queued_at": _iso(point.queued_at),
            "started_at": _iso(point.started_at), "finished_at": _iso(point.finished_at)}
