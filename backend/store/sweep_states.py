"""The state of a sweep's points (counts by status, when the last finished, the work done), and a
per-process cache of the states of settled sweeps, so the sweep list does not read their points on
every request.

Computing a state is one grouped query over the sweep's links and point rows: ~1 us a point, so the
50 newest sweeps of a 1,000,000-point database (500,000 points) took ~0.56 s a request on
PostgreSQL. A sweep is settled when none of its points is queued or running; after that its state
changes only through a change the database counts in `sweep.state_epoch` (a trigger, migration
0013): a link added or removed, or an update of one of its points while that point is finished.
So a settled sweep's state is kept under (id, created_at, state_epoch) and served until the epoch
moves. A sweep with queued or running points is computed afresh on every read, as before (its
points change by claims and results, which do not fire the trigger).

The epoch is read with the sweep rows, BEFORE the states: a state computed after a concurrent change
is then kept under the older epoch, which the next read no longer matches (never an old state
under the newer epoch). Each API process has its own cache, per database engine.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from weakref import WeakKeyDictionary

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from backend.store.tables import STATUSES, Point, Sweep, sweep_point

COMPUTED = ("done", "diverged")
# Settled sweeps' states kept per process and database: a state is a few hundred bytes.
MAX_SETTLED = 20_000


@dataclass
class PointWork:
    """What the time model and the clock say about a sweep's points (backend.api.sweep_progress):
    estimated FLOPs by status, and the points computed since the sweep was submitted (finished
    after created_at, done or diverged: reused ones are not), their FLOPs, when the first of them
    started and when the last finished. Read-only once built (a settled sweep's is shared)."""

    flops: dict[str, float] = field(default_factory=dict)  # by status (statuses without points absent)
    computed: int = 0
    computed_flops: float = 0.0
    first_started_at: datetime | None = None  # naive UTC
    last_computed_at: datetime | None = None  # when the last of them finished


@dataclass(frozen=True)
class SweepState:
    """A sweep's points: how many are in each status (every status, zeros included), when the last
    one finished, and the work done. Read-only (a settled sweep's is shared between requests)."""

    counts: dict[str, int]
    last_finished_at: datetime | None
    work: PointWork

    @property
    def settled(self) -> bool:
        return not (self.counts["queued"] or self.counts["running"])


def point_states(session: Session, ids: Sequence[int]) -> dict[int, SweepState]:
    """{sweep id: its state} of these sweeps, computed from their points in one grouped query."""
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(STATUSES, 0) for i in ids}
    latest: dict[int, datetime | None] = dict.fromkeys(ids)
    works = {i: PointWork() for i in ids}
    if ids:
        since = Point.finished_at >= Sweep.created_at  # computed for this sweep, not reused
        query = (select(sweep_point.c.sweep_id, Point.status, func.count(), func.max(Point.finished_at),
                        func.sum(Point.estimated_flops), func.sum(case((since, 1), else_=0)),
                        func.sum(case((since, Point.estimated_flops), else_=0.0)),
                        func.min(case((Point.started_at >= Sweep.created_at, Point.started_at))))
                 .join(Point, Point.id == sweep_point.c.point_id).join(Sweep, Sweep.id == sweep_point.c.sweep_id)
                 .where(sweep_point.c.sweep_id.in_(ids)).group_by(sweep_point.c.sweep_id, Point.status))
        for sweep_id, status, n, last, flops, computed, computed_flops, started in session.execute(query):
            work = works[sweep_id]
            counts[sweep_id][status] = n
            work.flops[status] = float(flops or 0.0)
            if status in COMPUTED:  # cancelled and failed points carry a finished_at but were not trained
                work.computed += int(computed or 0)
                work.computed_flops += float(computed_flops or 0.0)
                if computed and last is not None and (work.last_computed_at is None or last > work.last_computed_at):
                    work.last_computed_at = last
            if started is not None and (work.first_started_at is None or started < work.first_started_at):
                work.first_started_at = started
            before = latest[sweep_id]
            if last is not None and (before is None or last > before):
                latest[sweep_id] = last
    return {i: SweepState(counts[i], latest[i], works[i]) for i in ids}


_Key = tuple[int, datetime]  # (sweep id, created_at): SQLite may reuse a deleted sweep's id


class SettledStates:
    """{(sweep id, created_at): (state_epoch, state)} of settled sweeps, least recently used out."""

    def __init__(self, max_items: int = MAX_SETTLED) -> None:
        self.max_items = max_items
        self._items: OrderedDict[_Key, tuple[int, SweepState]] = OrderedDict()
        self._lock = threading.Lock()  # requests run on a thread pool

    def get(self, key: _Key, epoch: int) -> SweepState | None:
        with self._lock:
            held = self._items.get(key)
            if held is None or held[0] != epoch:
                return None
            self._items.move_to_end(key)
            return held[1]

    def put(self, key: _Key, epoch: int, state: SweepState) -> None:
        with self._lock:
            self._items[key] = (epoch, state)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_CACHES: WeakKeyDictionary[Engine | Connection, SettledStates] = WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def settled_cache(session: Session) -> SettledStates:
    """The cache of the database this session reads (one per engine, gone with it)."""
    bind = session.get_bind()
    with _CACHES_LOCK:
        cache = _CACHES.get(bind)
        if cache is None:
            cache = _CACHES[bind] = SettledStates()
        return cache


def sweep_states(session: Session, rows: Sequence[tuple[int, datetime, int]]) -> dict[int, SweepState]:
    """{sweep id: state} for rows of (id, created_at, state_epoch) read in this session before:
    settled sweeps from the cache while their epoch holds, the others in one grouped query."""
    cache = settled_cache(session)
    out: dict[int, SweepState] = {}
    missing: list[tuple[int, datetime, int]] = []
    for sweep_id, created_at, epoch in rows:
        held = cache.get((sweep_id, created_at), epoch)
        if held is None:
            missing.append((sweep_id, created_at, epoch))
        else:
            out[sweep_id] = held
    fresh = point_states(session, [sweep_id for sweep_id, _, _ in missing])
    for sweep_id, created_at, epoch in missing:
        state = out[sweep_id] = fresh[sweep_id]
        if state.settled:
            cache.put((sweep_id, created_at), epoch, state)
    return out
