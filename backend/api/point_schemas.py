"""Response schemas of the point routes: a page of a sweep's points, and one point in full (the
`resphase run --json` object, backend.results.point_document, plus its queue state)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

PointStatus = Literal["queued", "running", "done", "diverged", "failed", "cancelled"]


class PointKeyPublic(BaseModel):
    """What every row of a point carries: its id, axes and queue state (the listing, the table)."""

    id: int = Field(description="The point's id (GET /points/{id})")
    alpha: float
    D: int
    L: int
    M: int
    status: PointStatus


class PointRowPublic(PointKeyPublic):
    """One point of a sweep's listing: its axes, queue state, regime and seed means."""

    attempts: int = Field(description="How many times a worker took it (at most 3 before it fails)")
    regime: str | None = Field(description="The regime of its seed means; null until computed")
    metrics: dict[str, float | None] = Field(description="Per metric (GET /meta metrics), the mean over the "
                                                         "seeds that did not diverge; null when undefined")


class PointPagePublic(BaseModel):
    """One page of a sweep's points in id order."""

    items: list[PointRowPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one")


class MetricPublic(BaseModel):
    """One metric of a point: over the seeds that did not diverge, its mean, standard error and
    how many finite values there are; `values` holds every seed's value (null where undefined)."""

    mean: float | None
    stderr: float | None
    n: int
    values: list[float | None]


class CurvesPublic(BaseModel):
    loss: list[float | None] = Field(description="Per step, the mean loss over the seeds that did not diverge "
                                                 "(over every seed when all did)")
    loss_per_seed: list[list[float | None]] = Field(description="Per seed, K + 1 values (null after divergence)")


class ProvenancePublic(BaseModel):
    resphase_version: str
    torch_version: str
    device: str
    dtype: str
    host: str
    engine: str = Field(description="the engine that trained it: native (the compiled CPU float32 kernel) or "
                        "torch (the PyTorch passes); they agree to float rounding. Empty for results stored "
                        "before it was recorded")


class PointDetailPublic(BaseModel):
    """A point in full: the `resphase run --json` object plus its queue state. Result fields are
    null, and `flags` empty, until it is computed."""

    id: int
    config: dict[str, Any] = Field(description="alpha, D, L, M and every run setting")
    content_hash: str = Field(description="Hash of everything that determines its numbers")
    status: PointStatus
    attempts: int
    error: str | None = Field(description="The last error of a failed attempt, if any")
    worker: str | None = Field(description="Host of the worker that took it last")
    device: str | None = Field(description="Device it was (or is being) computed on")
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    regime: str | None
    flags: list[str] = Field(description="Warnings about its numbers (GET /meta flags)")
    metrics: dict[str, MetricPublic] | None
    seed_regimes: list[str] | None
    diverged_at_step: list[int | None] | None = Field(description="Per seed, the step it diverged at, or null")
    curves: CurvesPublic | None
    timing_s: float | None = Field(description="Seconds its shape group took, shared out per point")
    provenance: ProvenancePublic | None


class PointProgressPublic(BaseModel):
    """The loss of a point so far, while it trains (the worker writes it every ~2 s)."""

    point_id: int
    status: PointStatus
    step: int | None = Field(description="Steps done so far; null before the worker's first write, or once the "
                                         "result is recorded (GET /points/{id} has the whole curves then)")
    steps: int | None = Field(description="The point's K (null with step)")
    at_steps: list[int] = Field(description="The steps sampled (at most 200 of 0..step, both ends included)")
    loss_per_seed: list[list[float | None]] = Field(description="Per seed, the MSE at those steps (null after "
                                                                "divergence)")
    updated_at: str | None = Field(description="When the worker wrote it, ISO 8601 UTC with a Z")
