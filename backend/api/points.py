"""Points: paginated listings per sweep, one point in full, and its loss so far while it trains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status

from backend.api.deps import MAX_ID, ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.api.point_schemas import PointDetailPublic, PointPagePublic, PointProgressPublic, PointStatus
from backend.store.points import list_points, point_detail
from backend.store.progress import read_progress

router = APIRouter(tags=["points"], responses=responses(401, 404, 422, 503))


@router.get("/sweeps/{sweep_id}/points", response_model=PointPagePublic)
def sweep_points(sweep_id: int, session: ReadSession, status_: PointStatus | None = Query(None, alias="status"),
                 limit: int = Query(100, ge=1, le=1000),
                 cursor: str | None = Query(None, max_length=100, description="next_cursor of the previous page"),
                 ) -> dict[str, Any]:
    """One page of the sweep's points in id order, with their seed means."""
    sweep_or_404(session, sweep_id)
    try:
        items, next_cursor = list_points(session, sweep_id, status_, limit, cursor)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return {"items": items, "next_cursor": next_cursor}


@router.get("/points/{point_id}", response_model=PointDetailPublic)
def get_point(point_id: int, session: ReadSession) -> dict[str, Any]:
    """The `resphase run --json` object of the point plus its queue state (metrics null until computed)."""
    doc = point_detail(session, point_id) if 1 <= point_id <= MAX_ID else None
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"point {point_id} not found")
    return doc


@router.get("/points/{point_id}/progress", response_model=PointProgressPublic)
def get_point_progress(point_id: int, session: ReadSession) -> dict[str, Any]:
    """The point's loss curve so far while a worker trains it (per seed, sampled steps), written by
    the worker every ~2 s; empty (step null) before its first write and once the result is recorded."""
    doc = read_progress(session, point_id) if 1 <= point_id <= MAX_ID else None
    if doc is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"point {point_id} not found")
    return doc
