"""Sweep submission: create a sweep (with reuse by content hash), its cost, and the dispatch
marks of queued points (sent when, sent again when). Each function takes an open Session; the
caller owns the transaction (`transact`, from backend.store.transactions, runs one and runs it
again when PostgreSQL aborted it for a concurrent change). Reads: backend.store.sweep_reads;
cancel, retry, delete: backend.store.sweep_lifecycle.

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

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Select, Table, and_, any_, bindparam, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.cost import estimate_points_seconds
from backend.grid import PointSpec, RunSettings, SweepSpec, point_flops, reference_flops
from backend.store.sweep_notes import set_tags
from backend.store.tables import Point, Refinement, Sweep, bump, sweep_point, utcnow
from backend.store.transactions import ConcurrentChange, chunks, is_postgres
from backend.store.transactions import transact as transact  # re-exported: callers run create_sweep with it

_INSERT_ROUNDS = 10
REUSABLE: tuple[str, ...] = ("done", "diverged")  # stored points a submission counts as reused


@dataclass
class CreatedSweep:
    sweep_id: int
    n_points: int
    n_reused: int
    batches: list[list[int]]  # point ids to enqueue, one list per shape, cheapest first


@dataclass(frozen=True)
class SweepCost:
    """What a sweep costs: FLOPs of its points and the references they need, and the compute time
    on one CPU worker (backend.cost.estimate_points_seconds: from the points, so for any design).
    Kept in the sweep's row at submission."""

    flops: float
    seconds: float


def sweep_cost(points: Sequence[PointSpec], settings: RunSettings) -> SweepCost:
    flops = sum(point_flops(p) for p in points) + reference_flops(points)
    return SweepCost(flops, estimate_points_seconds(points, settings))


def count_reusable(session: Session, hashes: list[str]) -> int:
    """How many of these content hashes are stored and computed (a submission would reuse them)."""
    return sum(1 for _, status in existing_points(session, hashes).values() if status in REUSABLE)


def shape_batches(rows: Iterable[tuple[int, str, float]]) -> list[list[int]]:
    """Group (point id, shape key, flops) into per-shape id lists, cheapest shape first."""
    groups: dict[str, list[int]] = defaultdict(list)
    cost: dict[str, float] = defaultdict(float)
    for pid, key, flops in rows:
        groups[key].append(pid)
        cost[key] += flops
    return [sorted(groups[k]) for k in sorted(groups, key=lambda k: cost[k])]


def existing_points(session: Session, hashes: list[str], lock: bool = False) -> dict[str, tuple[int, str]]:
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
    Elsewhere: IN lists of transactions.CHUNK hashes."""
    query = select(Point.id, Point.content_hash, Point.status)
    if lock:
        query = query.order_by(Point.id).with_for_update(read=True, key_share=True)
    if is_postgres(session):
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
    if is_postgres(session):
        stmt = (pg_insert(table).from_select(_POINT_COLUMNS, _unnest(table, _POINT_COLUMNS, rows))
                .on_conflict_do_nothing(index_elements=[table.c.content_hash]).returning(*returning))
        result = session.execute(stmt)
    else:
        result = session.execute(sqlite_insert(table).on_conflict_do_nothing(
            index_elements=[table.c.content_hash]).returning(*returning), rows)
    return [(r[0], r[1], r[2], r[3]) for r in result]


def link_points(session: Session, sweep_id: int, point_ids: Sequence[int]) -> None:
    """Link the points to the sweep (ON CONFLICT DO NOTHING; on PostgreSQL in one statement, see
    _insert_points: its trigger of migration 0013 then runs once, not once a link)."""
    if not point_ids:
        return
    if is_postgres(session):
        ids = bindparam("point_ids", list(point_ids), type_=ARRAY(Integer))
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
    found = existing_points(session, hashes, lock=True)
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
            found.update(existing_points(session, others, lock=True))
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
    deletions do). Points already stored by anyone (same content hash) are reused: see
    `_attach`. A spec with `refine` gets a refinement row per boundary (state "waiting", threshold resolved).
    The returned batches are what the caller sends after commit."""
    by_hash = {p.content_hash: p for p in points}
    now = utcnow()
    existing, inserted = _store_points(session, by_hash, now)
    cost = sweep_cost(points, spec.settings)
    sweep = Sweep(name=spec.name, spec=spec.model_dump(mode="json"), axes=axes,
                  settings=spec.settings.model_dump(mode="json"), n_points=len(by_hash),
                  n_reused=sum(1 for _, st in existing.values() if st in REUSABLE),
                  estimated_flops=cost.flops, estimated_s=cost.seconds, owner=owner)
    session.add(sweep)
    session.flush()
    for idx, r in enumerate(spec.refinements()):
        session.add(Refinement(sweep_id=sweep.id, idx=idx, metric=r.metric, threshold=r.threshold_value(),
                               threshold_name=r.threshold_name(), threshold_formula=r.threshold_formula(),
                               axis=r.axis, tol=r.tol, max_points=r.max_points,
                               rounds=0, points_added=0, state="waiting", lines={}, updated_at=now))
    set_tags(session, sweep.id, spec.tags)
    batches = _attach(session, sweep.id, existing, inserted, now, dispatch_timeout_s)
    return CreatedSweep(sweep.id, len(by_hash), sweep.n_reused, batches)


def _attach(session: Session, sweep_id: int, existing: dict[str, tuple[int, str]],
            inserted: list[tuple[int, str, float]], now: datetime, dispatch_timeout_s: float | None
            ) -> list[list[int]]:
    """Link stored points (from `_store_points`) to the sweep and return the batches to send:
    the inserted points, failed or cancelled ones queued again, and queued ones that were never
    sent, or were sent more than `dispatch_timeout_s` ago and are still unclaimed (a lost broker
    message; None: not checked)."""
    requeue: list[int] = []
    failed = sorted(pid for pid, st in existing.values() if st in ("failed", "cancelled"))
    for part in chunks(failed):
        requeue += session.scalars(update(Point).where(
            Point.id.in_(part), Point.status.in_(("failed", "cancelled"))).values(
            status="queued", attempts=0, error=None, lease_owner=None, queued_at=now, dispatched_at=now, **bump())
            .returning(Point.id).execution_options(synchronize_session=False))
    queued = [pid for pid, st in existing.values() if st == "queued"]
    if dispatch_timeout_s is not None and queued:
        requeue += take_undispatched(session, dispatch_timeout_s, queued, now)
    link_points(session, sweep_id, sorted([r[0] for r in inserted] + [pid for pid, _ in existing.values()]))
    return shape_batches(sorted(inserted + _shape_rows(session, requeue)))


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
