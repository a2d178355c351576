"""The sweep summary of the API (`SweepPublic`) and how a stored sweep becomes one: progress,
timings and state are derived here from the store's `SweepRecord`, once per response."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.store.sweep_reads import SweepRecord
from backend.store.tables import FINISHED

State = Literal["draft", "running", "finished", "cancelled"]
Dispatch = Literal["sent", "pending"]


class SweepPublic(BaseModel):
    """A sweep: its grid, settings and cost, its points' counts by status, progress and timings."""

    id: int | None = Field(None, description="The sweep's id; null in the answer of POST /sweeps/validate")
    name: str = Field(description="The name given at submission (may be empty)")
    created_at: str | None = Field(None, description="Submission time, ISO 8601 UTC with a Z; null for a draft")
    axes: dict[str, list[float]] = Field(description="The achieved axis values, sorted: alpha, D, L, M")
    settings: dict[str, Any] = Field(description="The run settings with every default filled (see POST /sweeps)")
    n_points: int = Field(description="Distinct points of the grid")
    n_reused: int = Field(description="Points already computed (same content hash) when it was submitted")
    estimated_flops: float = Field(description="FLOPs of every point and of the references they need")
    estimated_s: float = Field(description="Compute time on one CPU worker (backend.grid.estimate_seconds), "
                                           "estimated at submission")
    counts: dict[str, int] = Field(description="Points per status: queued, running, done, diverged, failed, "
                                               "cancelled (empty for a draft)")
    progress: float = Field(description="Finished points (done, diverged, failed, cancelled) over n_points")
    elapsed_s: float = Field(description="Seconds from submission to the last finished point (to now while "
                                         "running)")
    remaining_s: float | None = Field(description="Seconds left at the rate so far: 0 once finished, null "
                                                  "before the first point finishes")
    state: State = Field(description="draft (validate only), running, finished or cancelled")
    owner: str | None = Field(None, description="The token name that created it (null: created in open mode)")
    dispatch: Dispatch | None = Field(None, description="POST /sweeps and /retry only: sent when the broker took "
                                                        "every task (or there was none), pending when it refused "
                                                        "them (the points are queued; the reaper sends them)")


def _iso(t: datetime) -> str:
    return t.isoformat() + "Z"


def sweep_public(rec: SweepRecord, now: datetime, dispatch: Dispatch | None = None) -> SweepPublic:
    """The summary of a stored sweep at time `now` (naive UTC, as the store's times)."""
    finished = sum(rec.counts.get(s, 0) for s in FINISHED)
    progress = finished / max(rec.n_points, 1)
    done = finished >= rec.n_points
    end = (rec.last_finished_at or rec.created_at) if done else now
    elapsed = max((end - rec.created_at).total_seconds(), 0.0)
    remaining = 0.0 if done else (None if finished == 0 else elapsed / progress * (1 - progress))
    state: State = "cancelled" if rec.cancelled_at else ("finished" if done else "running")
    return SweepPublic(id=rec.id, name=rec.name, created_at=_iso(rec.created_at), axes=rec.axes,
                       settings=rec.settings, n_points=rec.n_points, n_reused=rec.n_reused,
                       estimated_flops=rec.estimated_flops, estimated_s=rec.estimated_s, counts=rec.counts,
                       progress=progress, elapsed_s=elapsed, remaining_s=remaining, state=state, owner=rec.owner,
                       dispatch=dispatch)


def sweep_draft(name: str, axes: dict[str, list[float]], settings: dict[str, Any], n_points: int, n_reused: int,
                estimated_flops: float, estimated_s: float) -> SweepPublic:
    """The answer of POST /sweeps/validate: what a submission would store, nothing counted yet."""
    return SweepPublic(name=name, axes=axes, settings=settings, n_points=n_points, n_reused=n_reused,
                       estimated_flops=estimated_flops, estimated_s=estimated_s, counts={}, progress=0.0,
                       elapsed_s=0.0, remaining_s=None, state="draft")
