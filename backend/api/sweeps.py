"""Sweeps: create (validate, expand, reuse, commit, then enqueue), list, get, cancel, retry, delete.

Writes run with `repo.transact`, which runs a transaction again when PostgreSQL aborted it for a
concurrent change, so racing submissions, retries and deletions of the same points are never a
5xx. A broker that refuses a task is never a 5xx either: the work is committed first, the answer
says `"dispatch": "pending"`, and the reaper sends it once the broker answers.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from backend.api.deps import Auth, Costly, DbDep, PrincipalDep, QueueDep, ReadSession, SettingsDep, owned, sweep_or_404
from backend.api.errors import responses
from backend.grid import (
    LimitViolation,
    PointSpec,
    SweepSpec,
    check_limits,
    estimate_seconds,
    expand,
    expanded_axes,
    point_flops,
    reference_flops,
)
from backend.queue import TaskQueue, dispatch
from backend.settings import Limits
from backend.store import Database
from backend.store import sweeps as repo

router = APIRouter(prefix="/sweeps", tags=["sweeps"], responses=responses(401, 422, 503))
log = logging.getLogger(__name__)


class SweepPublic(BaseModel):
    """The sweep summary: counts by status, progress and timings (docs/api.md)."""

    id: int | None = None
    name: str
    created_at: str | None = None
    axes: dict[str, list[float]]
    settings: dict[str, Any]
    n_points: int
    n_reused: int
    estimated_flops: float
    estimated_s: float  # compute time on one CPU worker (backend.grid.estimate_seconds)
    counts: dict[str, int]
    progress: float
    elapsed_s: float
    remaining_s: float | None
    state: str
    owner: str | None = None  # the token name that created it (None: created in open mode)
    # Only in the answers of POST /sweeps and POST /sweeps/{id}/retry: "sent" when the broker took
    # every task (or there was nothing to send), "pending" when it refused them (broker down): the
    # points are committed and queued all the same, and the reaper sends them once it answers.
    dispatch: Literal["sent", "pending"] | None = None


def _limit_detail(violations: list[LimitViolation]) -> list[dict[str, Any]]:
    return [{"loc": ["body", *v.field.split(".")], "msg": v.message, "type": "limit", "limit": v.limit,
             "limit_value": v.limit_value, "value": v.value} for v in violations]


def _validated_points(spec: SweepSpec, limits: Limits) -> tuple[list[PointSpec], dict[str, list[float]]]:
    violations = check_limits(spec, limits)
    if violations:
        raise HTTPException(422, _limit_detail(violations))
    return expand(spec, limits), expanded_axes(spec.grid, limits)


@router.post("/validate", response_model=SweepPublic, dependencies=[Auth, Costly], responses=responses(400, 413, 429))
def validate_sweep(spec: SweepSpec, settings: SettingsDep, db: DbDep) -> dict[str, Any]:
    """Check a spec and report its point count, reuse and cost without creating anything."""
    points, axes = _validated_points(spec, settings.limits)
    with db.read_session() as s:
        existing = repo._existing(s, [p.content_hash for p in points])
    reused = sum(1 for _, st in existing.values() if st in ("done", "diverged"))
    flops = sum(point_flops(p) for p in points) + reference_flops(points)
    return {"name": spec.name, "axes": axes, "settings": spec.settings.model_dump(mode="json"),
            "n_points": len(points), "n_reused": reused, "estimated_flops": flops,
            "estimated_s": estimate_seconds(axes, spec.settings), "counts": {},
            "progress": 0.0, "elapsed_s": 0.0, "remaining_s": None, "state": "draft"}


def _dispatched(db: Database, queue: TaskQueue, sweep_id: int, batches: list[list[int]]) -> str:
    """Send the committed batches; "sent", or "pending" when the broker refused them."""
    if dispatch(db, queue, batches):
        return "sent"
    log.warning("sweep %d: %d points stored and queued, dispatch pending: the broker %s refused them; "
                "the reaper sends them once it answers", sweep_id, sum(len(b) for b in batches),
                queue.url_for_display)
    return "pending"


@router.post("", response_model=SweepPublic, status_code=status.HTTP_201_CREATED, responses=responses(400, 413))
def create_sweep(spec: SweepSpec, settings: SettingsDep, db: DbDep, queue: QueueDep,
                 who: PrincipalDep) -> dict[str, Any]:
    """Store the sweep and its points in one transaction (commit first), then send one task per
    shape by name.

    201 whenever the sweep is stored, with `dispatch`: "sent" when the broker took every task,
    "pending" when it refused them (broker down, logged as a warning): the sweep and its points
    are committed and queued all the same, and the reaper sends them as soon as the broker
    answers, so nothing needs to be submitted again. Points already stored (same content hash,
    whoever submitted them, even concurrently) are reused: failed and cancelled ones are queued
    again, and queued ones that are stuck (never sent, or still unclaimed
    RESPHASE_DISPATCH_TIMEOUT_S after their last send) are sent again."""
    points, axes = _validated_points(spec, settings.limits)
    created = repo.transact(db, lambda s: repo.create_sweep(s, spec, points, axes, settings.dispatch_timeout_s,
                                                            owner=who.name))
    sent = _dispatched(db, queue, created.sweep_id, created.batches)
    with db.read_session() as s:
        return {**repo.summary(s, sweep_or_404(s, created.sweep_id)), "dispatch": sent}


@router.get("", response_model=list[SweepPublic])
def list_sweeps(session: ReadSession, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return [repo.summary(session, sw) for sw in repo.list_sweeps(session, limit)]


@router.get("/{sweep_id}", response_model=SweepPublic, responses=responses(404))
def get_sweep(sweep_id: int, session: ReadSession) -> dict[str, Any]:
    return repo.summary(session, sweep_or_404(session, sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepPublic, responses=responses(403, 404))
def cancel_sweep(sweep_id: int, db: DbDep, who: PrincipalDep) -> dict[str, Any]:
    """Queued and running points become cancelled; running ones stop between two steps. Only the
    sweep's owner or an admin may (403 otherwise)."""
    try:
        repo.transact(db, lambda s: repo.cancel_sweep(s, owned(sweep_or_404(s, sweep_id), who, "cancel")))
    except repo.SweepGone:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found") from None
    with db.read_session() as s:
        return repo.summary(s, sweep_or_404(s, sweep_id))


@router.post("/{sweep_id}/retry", response_model=SweepPublic, dependencies=[Auth], responses=responses(404))
def retry_sweep(sweep_id: int, settings: SettingsDep, db: DbDep, queue: QueueDep) -> dict[str, Any]:
    """Failed and cancelled points are queued again, and queued points that are stuck (never
    sent, or still unclaimed RESPHASE_DISPATCH_TIMEOUT_S after their last send: a lost broker
    message) are sent again. `dispatch` as for POST /sweeps."""

    def work(s: Session) -> list[list[int]]:
        return repo.retry_sweep(s, sweep_or_404(s, sweep_id), settings.dispatch_timeout_s)

    try:
        batches = repo.transact(db, work)
    except repo.SweepGone:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found") from None
    sent = _dispatched(db, queue, sweep_id, batches)
    with db.read_session() as s:
        return {**repo.summary(s, sweep_or_404(s, sweep_id)), "dispatch": sent}


@router.delete("/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(403, 404))
def delete_sweep(sweep_id: int, db: DbDep, who: PrincipalDep) -> Response:
    """Remove the sweep, and the points (with their results) that no other sweep uses; safe
    against a concurrent submission that reuses those points (it keeps or re-creates them)."""
    try:
        repo.transact(db, lambda s: repo.delete_sweep(s, owned(sweep_or_404(s, sweep_id), who, "delete")))
    except repo.SweepGone:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
