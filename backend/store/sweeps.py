"""Sweep-level repository functions: create (with reuse by content hash), summarise, cancel,
retry, delete. Each takes an open Session; the caller owns the transaction (`transact` runs one
and runs it again when PostgreSQL aborted it for a concurrent change).

Concurrency (PostgreSQL; SQLite serialises writers at BEGIN IMMEDIATE): points are inserted with
INSERT ... ON CONFLICT (content_hash) DO NOTHING in content-hash order, so concurrent submissions
of the same or overlapping grids share points instead of failing on the unique index. A
submission takes FOR KEY SHARE locks on every point it reuses (in id order) before linking it; a
deletion takes FOR UPDATE locks on its points (in id order) before deleting those no sweep links,
and decides that in a statement run after the locks are held. So a deletion either waits for the
submission and then sees its links (keeping the points), or finishes first, in which case the
submission's lock finds the point gone and inserts it again: a sweep is never left without its
points, and linking never meets a ForeignKeyViolation."""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.grid import AXES, PointSpec, RunSettings, SweepSpec, estimate_seconds, point_flops, reference_flops
from backend.store.engine import Database
from backend.store.tables import FINISHED, STATUSES, Point, Sweep, sweep_point, utcnow

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...) clause
_T = TypeVar("_T")

# PostgreSQL errors after which the whole transaction is worth running again: serialization
# failure, deadlock detected, and the foreign-key and unique violations a concurrent change could
# still cause (the locking below is meant to make these last two impossible).
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "23503", "23505"})
TRANSACTION_ATTEMPTS = 5
_INSERT_ROUNDS = 10


class ConcurrentChange(Exception):
    """Concurrent transactions kept changing the rows this one needs; run it again."""


class SweepGone(LookupError):
    """The sweep was deleted by a concurrent request."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ConcurrentChange):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES


def transact(db: Database, work: Callable[[Session], _T], attempts: int = TRANSACTION_ATTEMPTS) -> _T:
    """Run work(session) in one writing transaction; when PostgreSQL aborts it for a concurrent
    change (deadlock, serialization failure, a constraint a racing transaction broke), run it
    again in a new transaction, at most `attempts` times in all, after a short random pause."""
    for attempt in range(1, attempts + 1):
        try:
            with db.session() as s:
                return work(s)
        except (DBAPIError, ConcurrentChange) as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            log.info("transaction aborted by a concurrent change (%s), attempt %d of %d",
                     type(getattr(exc, "orig", exc)).__name__, attempt, attempts)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")


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


def _existing(session: Session, hashes: list[str], lock: bool = False) -> dict[str, tuple[int, str]]:
    """{content hash: (point id, status)} of the points among `hashes` already stored. With
    `lock` (PostgreSQL, in a writing transaction) each row is locked FOR KEY SHARE, in id order,
    so that no concurrent deletion removes it before this transaction commits; a row that a
    concurrent deletion removed is left out (the caller inserts it again). Worker claims and
    result writes (FOR NO KEY UPDATE) do not conflict with that lock.

    PostgreSQL: one `content_hash = ANY(array)` look-up, planned with its actual parameter
    (force_custom_plan, for the rest of the transaction). psycopg prepares a statement it has run
    five times and PostgreSQL then may keep a generic plan made with the statistics of that moment;
    made while `point` was small (a new database, autovacuum off), that plan seq-scans the grown
    table comparing every row with every hash: successive 20,000-point sweeps took 5, 20, 41 s.
    Elsewhere: IN lists of _CHUNK hashes."""
    query = select(Point.id, Point.content_hash, Point.status)
    if lock:
        query = query.order_by(Point.id).with_for_update(read=True, key_share=True)
    if _is_postgres(session):
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        wanted = bindparam("hashes", hashes, type_=ARRAY(Point.__table__.c.content_hash.type))
        rows = list(session.execute(query.where(Point.content_hash == any_(wanted))))
    else:
        rows = [r for part in chunks(hashes) for r in session.execute(query.where(Point.content_hash.in_(part)))]
    return {h: (pid, status) for pid, h, status in rows}


def _point_rows(new: Iterable[tuple[str, PointSpec]], now: datetime) -> list[dict[str, Any]]:
    """Insert rows of new points; the settings document and the shape key are computed once per
    distinct settings object and shape, not once per point. They count as dispatched now: the
    caller sends them once it has committed (and clears the mark if the broker refuses)."""
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
                     "queued_at": now, "dispatched_at": now})
    return rows


_POINT_COLUMNS = ("content_hash", "shape_key", "alpha", "D", "L", "M", "settings", "estimated_flops", "status",
                  "attempts", "queued_at", "dispatched_at")


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


def _insert_points(session: Session, new: list[tuple[str, PointSpec]], now: datetime
                   ) -> list[tuple[int, str, str, float]]:
    """Insert those of the new points that no one has stored meanwhile (ON CONFLICT
    (content_hash) DO NOTHING), in content-hash order, so that two submissions inserting the same
    new points wait for each other in one order and never deadlock. Returns (id, content hash,
    shape key, flops) of the rows this statement inserted. On PostgreSQL one
    INSERT ... SELECT FROM unnest(...): row by row (executemany, or the multi-row VALUES that
    psycopg must parse anew for every 1,000 rows) costs seconds per 20,000 points."""
    if not new:
        return []
    rows = _point_rows(sorted(new, key=lambda item: item[0]), now)
    table = cast(Table, Point.__table__)
    returning = (table.c.id, table.c.content_hash, table.c.shape_key, table.c.estimated_flops)
    if _is_postgres(session):
        stmt = (pg_insert(table).from_select(_POINT_COLUMNS, _unnest(table, _POINT_COLUMNS, rows))
                .on_conflict_do_nothing(index_elements=[table.c.content_hash]).returning(*returning))
        result = session.execute(stmt)
    else:
        result = session.execute(sqlite_insert(table).on_conflict_do_nothing(
            index_elements=[table.c.content_hash]).returning(*returning), rows)
    return [(r[0], r[1], r[2], r[3]) for r in result]


def _link(session: Session, sweep_id: int, point_ids: list[int]) -> None:
    """Link the points to the sweep (ON CONFLICT DO NOTHING; on PostgreSQL in one statement, see
    _insert_points)."""
    if not point_ids:
        return
    if _is_postgres(session):
        ids = bindparam("point_ids", point_ids, type_=ARRAY(Integer))
        session.execute(pg_insert(sweep_point).from_select(
            ["sweep_id", "point_id"], select(literal(sweep_id, Integer), func.unnest(ids))).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(sweep_point).on_conflict_do_nothing(),
                        [{"sweep_id": sweep_id, "point_id": pid} for pid in point_ids])


def _store_points(session: Session, by_hash: dict[str, PointSpec], now: datetime
                  ) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str, float]]]:
    """Every point of `by_hash` stored and (PostgreSQL) locked against deletion until commit.
    Returns ({hash: (id, status)} of the points that were already stored, (id, shape key, flops)
    of those this transaction inserted). Alternates inserting what is missing and locking what a
    concurrent submission inserted instead, until every hash has a locked row: a point that a
    concurrent deletion removed after this transaction first saw it is inserted again."""
    hashes = sorted(by_hash)
    found = _existing(session, hashes, lock=True)
    inserted: list[tuple[int, str, float]] = []
    mine: set[str] = set()
    for _ in range(_INSERT_ROUNDS):
        missing = [h for h in hashes if h not in found and h not in mine]
        if not missing:
            return found, inserted
        for pid, h, key, flops in _insert_points(session, [(h, by_hash[h]) for h in missing], now):
            mine.add(h)
            inserted.append((pid, key, flops))
        others = [h for h in missing if h not in mine]  # inserted by a concurrent submission
        if others:
            found.update(_existing(session, others, lock=True))
    raise ConcurrentChange(f"points kept being deleted and inserted concurrently ({len(missing)} left)")


def _stale_dispatch(older_than_s: float | None, now: datetime) -> Any:
    """Queued points never sent (dispatched_at NULL), or last sent more than older_than_s ago."""
    never = Point.dispatched_at.is_(None)
    if older_than_s is None:
        return and_(Point.status == "queued", never)
    return and_(Point.status == "queued", or_(never, Point.dispatched_at < now - timedelta(seconds=older_than_s)))


def take_undispatched(session: Session, older_than_s: float | None, ids: Sequence[int] | None = None,
                      now: datetime | None = None) -> list[int]:
    """The queued points (among `ids`, or all) that were never sent, or last sent more than
    `older_than_s` seconds ago, marked as sent now; returns their ids for the caller to send after
    commit. Conditional, so of several reapers or submissions racing on a point one sends it."""
    now = now or utcnow()
    stmt = update(Point).where(_stale_dispatch(older_than_s, now)).values(dispatched_at=now).returning(Point.id)
    if ids is None:
        return sorted(session.scalars(stmt.execution_options(synchronize_session=False)))
    taken: list[int] = []
    for part in chunks(sorted(ids)):
        taken += session.scalars(stmt.where(Point.id.in_(part)).execution_options(synchronize_session=False))
    return taken


def dispatch_due(session: Session, older_than_s: float) -> bool:
    """Whether some queued point was never sent or was last sent more than older_than_s ago
    (a read, so a reaper pass with nothing to do takes no write lock)."""
    return session.scalar(select(Point.id).where(_stale_dispatch(older_than_s, utcnow())).limit(1)) is not None


def clear_dispatched(session: Session, ids: Sequence[int]) -> None:
    """The broker refused these points: mark them never sent, so that the reaper (or a
    resubmission or retry) sends them as soon as the broker answers."""
    for part in chunks(sorted(ids)):
        session.execute(update(Point).where(Point.id.in_(part), Point.status == "queued")
                        .values(dispatched_at=None).execution_options(synchronize_session=False))


def create_sweep(session: Session, spec: SweepSpec, points: list[PointSpec], axes: dict[str, list[float]],
                 dispatch_timeout_s: float | None = None, owner: str | None = None) -> CreatedSweep:
    """Store the sweep, insert its new points, link every point, in one transaction (run it with
    `transact` on PostgreSQL: see the module docstring for what concurrent submissions and
    deletions do). Points already stored by anyone (same content hash) are reused; failed or
    cancelled ones are queued again; queued ones that were never sent, or were sent more than
    `dispatch_timeout_s` ago and are still unclaimed (a lost broker message), are sent again
    (None: not checked). The returned batches are what the caller sends after commit."""
    by_hash = {p.content_hash: p for p in points}
    now = utcnow()
    existing, inserted = _store_points(session, by_hash, now)
    flops = sum(point_flops(p) for p in points) + reference_flops(points)
    sweep = Sweep(name=spec.name, spec=spec.model_dump(mode="json"), axes=axes,
                  settings=spec.settings.model_dump(mode="json"), n_points=len(by_hash),
                  n_reused=sum(1 for _, st in existing.values() if st in ("done", "diverged")),
                  estimated_flops=flops, owner=owner)
    session.add(sweep)
    session.flush()
    requeue: list[int] = []
    failed = sorted(pid for pid, st in existing.values() if st in ("failed", "cancelled"))
    for part in chunks(failed):
        requeue += session.scalars(update(Point).where(
            Point.id.in_(part), Point.status.in_(("failed", "cancelled"))).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=now, dispatched_at=now)
            .returning(Point.id).execution_options(synchronize_session=False))
    queued = [pid for pid, st in existing.values() if st == "queued"]
    if dispatch_timeout_s is not None and queued:
        requeue += take_undispatched(session, dispatch_timeout_s, queued, now)
    _link(session, sweep.id, sorted([r[0] for r in inserted] + [pid for pid, _ in existing.values()]))
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
            "state": state, "owner": sweep.owner}


def list_sweeps(session: Session, limit: int = 50) -> list[Sweep]:
    return list(session.scalars(select(Sweep).order_by(Sweep.id.desc()).limit(limit)))


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
        not_(Point.id.in_(other_live))).values(status="cancelled", lease_owner=None, finished_at=utcnow())
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
            finished_at=None).returning(Point.id).execution_options(synchronize_session=False))
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
        if _is_postgres(session):
            session.execute(select(Point.id).where(Point.id.in_(part)).order_by(Point.id).with_for_update())
        session.execute(delete(Point).where(Point.id.in_(part), not_(linked))
                        .execution_options(synchronize_session=False))


def axes_of(sweep: Sweep) -> dict[str, list[float]]:
    return {a: [float(v) for v in sweep.axes[a]] for a in AXES}
