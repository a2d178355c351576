"""Adaptive refinement in the store: which sweeps are due a round, the round's claim, and its
new points, added through the submission's path (backend.store.sweeps). Decisions are
backend/analysis/refinement.py's; the reaper calls `refine_once` on every tick, in the API and in
every worker (backend/reaper.py).

A sweep is due when its refinement is waiting or refining, it is not cancelled and none of its
points is queued or running. Its round r is computed from the stored results outside any write
transaction (the bootstrap is seeded, so racing reapers compute the same plan) and written by one
transaction that first moves the refinement row's `rounds` from r to r + 1 (or its state to a
final one) with a conditional UPDATE: of two reapers racing, one updates the row and adds the
points; the other's UPDATE (after waiting for the first's row lock, on PostgreSQL, or for its
write lock, on SQLite) matches no row and it adds nothing. Commit, then send the new points: a
lost message is the reaper's to send again, like any queued point's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from backend.analysis.refinement import LineEstimate, RoundPlan, next_round, uniform_points
from backend.cost import estimate_seconds
from backend.grid import PointSpec, RunSettings, point_flops, reference_flops
from backend.queue import TaskQueue, dispatch
from backend.refine_spec import line_threshold
from backend.settings import Settings
from backend.store import Database
from backend.store.cells import metric_cells
from backend.store.sweeps import REUSABLE, CreatedSweep, _attach, _store_points
from backend.store.tables import Point, Refinement, Sweep, sweep_point, utcnow
from backend.store.transactions import transact

log = logging.getLogger(__name__)

ACTIVE: tuple[str, ...] = ("waiting", "refining")


def extend_sweep(session: Session, sweep: Sweep, points: list[PointSpec], dispatch_timeout_s: float | None = None
                 ) -> CreatedSweep:
    """Add points to a stored sweep through the submission's path (content-hashed, reused when
    stored by anyone, linked, batched by shape): its alpha axis grows to hold their alphas, its
    n_points, n_reused and cost grow by theirs. The caller sends the batches after commit."""
    now = utcnow()
    existing, inserted = _store_points(session, {p.content_hash: p for p in points}, now)
    # A point another refinement of the sweep added meanwhile (two boundaries refined by racing
    # reapers) is linked already: it is not counted twice.
    linked = set(session.scalars(select(sweep_point.c.point_id).where(
        sweep_point.c.sweep_id == sweep.id, sweep_point.c.point_id.in_([pid for pid, _ in existing.values()]))))
    by_hash = {p.content_hash: p for p in points if existing.get(p.content_hash, (None, ""))[0] not in linked}
    existing = {h: v for h, v in existing.items() if v[0] not in linked}
    settings = RunSettings.model_validate(sweep.settings)
    lines: dict[tuple[int, int, int], list[float]] = defaultdict(list)
    for p in by_hash.values():
        lines[(p.D, p.L, p.M)].append(p.alpha)
    seconds = sum(estimate_seconds({"alpha": a, "D": [d], "L": [l_], "M": [m]}, settings)
                  for (d, l_, m), a in lines.items())
    axes = dict(sweep.axes)
    axes["alpha"] = sorted({*axes["alpha"], *(p.alpha for p in by_hash.values())})
    sweep.axes = axes
    sweep.n_points += len(by_hash)
    sweep.n_reused += sum(1 for _, st in existing.values() if st in REUSABLE)
    sweep.estimated_flops += sum(point_flops(p) for p in by_hash.values()) + reference_flops(list(by_hash.values()))
    sweep.estimated_s += seconds
    batches = _attach(session, sweep.id, existing, inserted, now, dispatch_timeout_s)
    return CreatedSweep(sweep.id, len(by_hash), sum(1 for _, st in existing.values() if st in REUSABLE), batches)


def due_sweeps(session: Session) -> list[tuple[int, int]]:
    """(sweep id, refinement idx) of the active refinements of sweeps not cancelled with every
    point finished."""
    busy = (select(sweep_point.c.point_id).join(Point, Point.id == sweep_point.c.point_id)
            .where(sweep_point.c.sweep_id == Refinement.sweep_id, Point.status.in_(("queued", "running"))))
    query = (select(Refinement.sweep_id, Refinement.idx).join(Sweep, Sweep.id == Refinement.sweep_id)
             .where(Refinement.state.in_(ACTIVE), Sweep.cancelled_at.is_(None), ~exists(busy))
             .order_by(Refinement.sweep_id, Refinement.idx))
    return [(int(s), int(i)) for s, i in session.execute(query)]


@dataclass(frozen=True)
class _Round:
    """A round computed from the stored results: the round number it claims, its plan, the
    refinement's new lines document, and the points to add."""

    number: int
    plan: RoundPlan
    lines: dict[str, Any]
    points: list[PointSpec]


def _history(old: dict[str, Any], estimates: list[LineEstimate], number: int) -> list[dict[str, Any]]:
    """Each line's document with its history grown by this round's estimate."""
    before = {(d["D"], d["L"], d["M"]): d.get("history", []) for d in old.get("lines", [])}
    out = []
    for e in estimates:
        doc = e.doc()
        entry = {"round": number, "crossing": e.crossing, "ci": doc["ci"], "interval": doc["interval"],
                 "width_rel": e.width_rel, "n_alphas": len(e.alphas)}
        out.append({**e.doc(), "history": [*before.get((e.D, e.L, e.M), []), entry]})
    return out


def _compute_round(session: Session, sweep_id: int, idx: int = 0) -> _Round | None:
    """Round r of an active refinement from the stored results (reads only); None if not active."""
    ref, sweep = session.get(Refinement, (sweep_id, idx)), session.get(Sweep, sweep_id)
    if ref is None or sweep is None or ref.state not in ACTIVE:
        return None
    cells = metric_cells(session, sweep, ref.metric, {})
    thresholds = line_threshold(ref.threshold, ref.threshold_formula)
    estimates, plan = next_round(cells, thresholds, ref.tol, ref.max_points - ref.points_added)
    settings = RunSettings.model_validate(sweep.settings)
    points = [PointSpec(alpha=a, D=d, L=l_, M=m, settings=settings)
              for (d, l_, m), alphas in plan.new.items() for a in alphas]
    alpha = sweep.axes["alpha"]
    lines = {"lines": _history(ref.lines or {}, estimates, ref.rounds),
             "uniform_points": uniform_points(min(alpha), max(alpha), ref.tol, len(estimates))}
    return _Round(ref.rounds, plan, lines, points)


def _claim_and_add(session: Session, sweep_id: int, rnd: _Round, dispatch_timeout_s: float, idx: int = 0
                   ) -> list[list[int]] | None:
    """Claim round `rnd.number` (conditional UPDATE of the refinement row) and add its points;
    None when another reaper claimed it first. Returns the batches to send after commit."""
    added = len(rnd.points)
    values: dict[str, Any] = {"state": rnd.plan.state, "lines": rnd.lines, "updated_at": utcnow(),
                              "points_added": Refinement.points_added + added}
    if added:
        values["rounds"] = rnd.number + 1
    claimed = session.scalar(update(Refinement).where(
        Refinement.sweep_id == sweep_id, Refinement.idx == idx, Refinement.rounds == rnd.number,
        Refinement.state.in_(ACTIVE))
        .values(**values).returning(Refinement.sweep_id).execution_options(synchronize_session=False))
    if claimed is None:
        return None
    if not added:
        return []
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        return []
    created = extend_sweep(session, sweep, rnd.points, dispatch_timeout_s)
    if created.n_points < added:  # some were linked already by another refinement of the sweep
        session.execute(update(Refinement).where(Refinement.sweep_id == sweep_id, Refinement.idx == idx)
                        .values(points_added=Refinement.points_added - (added - created.n_points))
                        .execution_options(synchronize_session=False))
    return created.batches


def refine_sweep(db: Database, queue: TaskQueue, settings: Settings, sweep_id: int, idx: int = 0) -> int:
    """One round of one due refinement (the `idx`-th of the sweep): returns how many points it
    added (0 when it ended the refinement, or another reaper took the round). A sweep's other
    refinements read the points it adds as soon as it commits (queued points hold their alphas)."""
    with db.read_session() as s:
        rnd = _compute_round(s, sweep_id, idx)
    if rnd is None:
        return 0
    batches = transact(db, lambda s: _claim_and_add(s, sweep_id, rnd, settings.dispatch_timeout_s, idx))
    if batches is None:
        return 0
    if rnd.points:
        log.info("refinement: sweep %d [%d] round %d adds %d points", sweep_id, idx, rnd.number + 1,
                 len(rnd.points))
        dispatch(db, queue, batches)
    else:
        log.info("refinement: sweep %d [%d] ends: %s", sweep_id, idx, rnd.plan.state)
    return len(rnd.points)


def refine_once(db: Database, queue: TaskQueue, settings: Settings) -> int:
    """A round for every due refinement (the reaper's tick); returns how many points were added."""
    with db.read_session() as s:
        due = due_sweeps(s)
    return sum(refine_sweep(db, queue, settings, sweep_id, idx) for sweep_id, idx in due)
