"""Sweeps: create (validate, expand, reuse, commit, then enqueue), list, get, cancel, retry, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel

from backend.api.deps import Auth, DbDep, QueueDep, ReadSession, SettingsDep, sweep_or_404
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
from backend.settings import Limits
from backend.store import sweeps as repo

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


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


def _limit_detail(violations: list[LimitViolation]) -> list[dict[str, Any]]:
    return [{"loc": ["body", *v.field.split(".")], "msg": v.message, "type": "limit", "limit": v.limit,
             "limit_value": v.limit_value, "value": v.value} for v in violations]


def _validated_points(spec: SweepSpec, limits: Limits) -> tuple[list[PointSpec], dict[str, list[float]]]:
    violations = check_limits(spec, limits)
    if violations:
        raise HTTPException(422, _limit_detail(violations))
    return expand(spec, limits), expanded_axes(spec.grid, limits)


@router.post("/validate", response_model=SweepPublic)
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


@router.post("", response_model=SweepPublic, status_code=status.HTTP_201_CREATED, dependencies=[Auth])
def create_sweep(spec: SweepSpec, settings: SettingsDep, db: DbDep, queue: QueueDep) -> dict[str, Any]:
    """Store the sweep and its points (commit first), then send one task per shape by name."""
    points, axes = _validated_points(spec, settings.limits)
    with db.session() as s:
        created = repo.create_sweep(s, spec, points, axes)
    queue.send_batches(created.batches)
    with db.read_session() as s:
        return repo.summary(s, sweep_or_404(s, created.sweep_id))


@router.get("", response_model=list[SweepPublic])
def list_sweeps(session: ReadSession, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
    return [repo.summary(session, sw) for sw in repo.list_sweeps(session, limit)]


@router.get("/{sweep_id}", response_model=SweepPublic)
def get_sweep(sweep_id: int, session: ReadSession) -> dict[str, Any]:
    return repo.summary(session, sweep_or_404(session, sweep_id))


@router.post("/{sweep_id}/cancel", response_model=SweepPublic, dependencies=[Auth])
def cancel_sweep(sweep_id: int, db: DbDep) -> dict[str, Any]:
    """Queued and running points become cancelled; running ones stop between two steps."""
    with db.session() as s:
        repo.cancel_sweep(s, sweep_or_404(s, sweep_id))
    with db.read_session() as s:
        return repo.summary(s, sweep_or_404(s, sweep_id))


@router.post("/{sweep_id}/retry", response_model=SweepPublic, dependencies=[Auth])
def retry_sweep(sweep_id: int, db: DbDep, queue: QueueDep) -> dict[str, Any]:
    """Failed and cancelled points are queued again."""
    with db.session() as s:
        batches = repo.retry_sweep(s, sweep_or_404(s, sweep_id))
    queue.send_batches(batches)
    with db.read_session() as s:
        return repo.summary(s, sweep_or_404(s, sweep_id))


@router.delete("/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Auth])
def delete_sweep(sweep_id: int, db: DbDep) -> Response:
    with db.session() as s:
        repo.delete_sweep(s, sweep_or_404(s, sweep_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
