"""Cancel, retry and delete a sweep. Each takes an open Session inside `transact` (see
backend.store.sweeps for how deletion and concurrent submissions of the same points meet) and
locks the sweep's row first, so that these three run one after the other on one sweep."""

from __future__ import annotations

from sqlalchemy import Select, and_, delete, exists, not_, select, update
from sqlalchemy.orm import Session

from backend.store.sweeps import _batches_for, take_undispatched
from backend.store.tables import Point, Sweep, bump, sweep_point, utcnow
from backend.store.transactions import chunks, is_postgres


class SweepGone(LookupError):
    """The sweep was deleted by a concurrent request."""


def _sweep_points(sweep_id: int) -> Select[tuple[int]]:
    return select(sweep_point.c.point_id).where(sweep_point.c.sweep_id == sweep_id)


def _lock_sweep(session: Session, sweep: Sweep) -> None:
    """Lock the sweep's row (PostgreSQL: FOR UPDATE) so that cancel, retry and delete of one
    sweep run one after the other (and the ORM's UPDATE of a row deleted meanwhile cannot fail);
    SweepGone when a concurrent request deleted it."""
    if session.scalar(select(Sweep.id).where(Sweep.id == sweep.id).with_for_update()) is None:
        raise SweepGone(sweep.id)


def cancel_sweep(session: Session, sweep: Sweep) -> int:
    """Queued and running points of this sweep become cancelled, except points that another
    sweep that is not cancelled also uses. Returns how many were cancelled."""
    _lock_sweep(session, sweep)
    other_live = (select(sweep_point.c.point_id).join(Sweep, Sweep.id == sweep_point.c.sweep_id)
                  .where(and_(sweep_point.c.sweep_id != sweep.id, Sweep.cancelled_at.is_(None))))
    sweep.cancelled_at = utcnow()
    res = session.execute(update(Point).where(
        Point.id.in_(_sweep_points(sweep.id)), Point.status.in_(("queued", "running")),
        not_(Point.id.in_(other_live))).values(status="cancelled", lease_owner=None, finished_at=utcnow(),
                                                          **bump())
        .execution_options(synchronize_session=False))
    return int(res.rowcount)  # type: ignore[attr-defined]


def retry_sweep(session: Session, sweep: Sweep, dispatch_timeout_s: float | None = None) -> list[list[int]]:
    """Failed and cancelled points go back to the queue, and queued ones that were never sent or
    were sent more than `dispatch_timeout_s` ago without being claimed (a lost broker message)
    are sent again (None: not checked); returns the batches to send after commit."""
    _lock_sweep(session, sweep)
    sweep.cancelled_at = None
    now = utcnow()
    ids = list(session.scalars(select(Point.id).where(
        Point.id.in_(_sweep_points(sweep.id)), Point.status.in_(("failed", "cancelled")))))
    requeue: list[int] = []
    for part in chunks(sorted(ids)):
        requeue += session.scalars(update(Point).where(
            Point.id.in_(part), Point.status.in_(("failed", "cancelled"))).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=now, dispatched_at=now,
            finished_at=None, **bump()).returning(Point.id).execution_options(synchronize_session=False))
    if dispatch_timeout_s is not None:
        queued = list(session.scalars(select(Point.id).where(
            Point.id.in_(_sweep_points(sweep.id)), Point.status == "queued")))
        again = set(requeue)
        requeue += take_undispatched(session, dispatch_timeout_s, [i for i in queued if i not in again], now)
    return _batches_for(session, requeue)


def delete_sweep(session: Session, sweep: Sweep) -> None:
    """Remove the sweep and its links, and the points no other sweep uses (with their results).

    The candidate points are locked FOR UPDATE (PostgreSQL; in id order) before the statement
    that decides which of them no sweep links, so a concurrent submission that reuses them either
    committed its links first (they are kept) or finds them gone and inserts them again."""
    _lock_sweep(session, sweep)
    ids = sorted(session.scalars(_sweep_points(sweep.id)))
    session.execute(delete(sweep_point).where(sweep_point.c.sweep_id == sweep.id))
    session.execute(delete(Sweep).where(Sweep.id == sweep.id).execution_options(synchronize_session=False))
    session.expunge(sweep)
    linked = exists().where(sweep_point.c.point_id == Point.id)
    for part in chunks(ids):
        if is_postgres(session):
            session.execute(select(Point.id).where(Point.id.in_(part)).order_by(Point.id).with_for_update())
        session.execute(delete(Point).where(Point.id.in_(part), not_(linked))
                        .execution_options(synchronize_session=False))


