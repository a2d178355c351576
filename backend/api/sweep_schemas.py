"""The sweep summary of the API (`SweepPublic`) and how a stored sweep becomes one: progress,
timings and state are derived here from the store's `SweepRecord`, once per response."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.api.sweep_progress import Label, label, remaining_seconds
from backend.store.sweep_reads import SweepRecord
from backend.store.tables import FINISHED
from backend.sweep_tags import clean_note, clean_tags

State = Literal["draft", "running", "finished", "cancelled"]
Dispatch = Literal["sent", "pending"]
RefineState = Literal["waiting", "refining", "converged", "budget_spent", "no_crossing"]
REFINING: tuple[str, ...] = ("waiting", "refining")  # a sweep in these is not finished yet


class RefineRoundPublic(BaseModel):
    """A line's crossing as estimated at the start of one round (before its new points)."""

    round: int = Field(description="0: from the initial grid; r: after the points of round r")
    crossing: float | None = Field(description="Crossing alpha (null: no crossing)")
    ci: list[float] | None = Field(description="Bootstrap percentile CI [lo, hi] of the crossing (95%)")
    interval: list[float] | None = Field(None, description="The line's interval then: the hull of ci and the "
                                                           "bracket (what width_rel measures)")
    width_rel: float | None = Field(description="(hi - lo) / crossing of the line's interval then")
    n_alphas: int = Field(description="Alphas of the line with a finite value then")


class RefineLinePublic(BaseModel):
    """One line (D, L, M) of a refined sweep: its latest crossing and how it got there."""

    D: int
    L: int
    M: int
    threshold: float | None = Field(None, description="The line's threshold (differs between lines for a formula)")
    crossing: float | None = Field(description="Crossing alpha of the seed mean (null: none)")
    ci: list[float] | None = Field(description="Bootstrap percentile CI [lo, hi] (95%), null when no "
                                               "replicate crosses")
    bracket: list[float] | None = Field(description="The two alphas of the line around the crossing")
    interval: list[float] | None = Field(description="The crossing interval: the hull of ci and bracket")
    width_rel: float | None = Field(description="(interval hi - interval lo) / crossing")
    converged: bool = Field(description="width_rel <= tol")
    reason: str | None = Field(None, description="Why there is no crossing (as GET /boundaries says)")
    history: list[RefineRoundPublic] = Field(default_factory=list)


class RefinementPublic(BaseModel):
    """Adaptive refinement of a sweep (its `refine` spec) and where it stands; docs/api.md, Refinement."""

    metric: str
    threshold: float | None = Field(description="The threshold's value (a named one resolved at submission); "
                                                "null for a formula (each line's is in its `threshold`)")
    threshold_name: str | None = Field(None, description="The name it was given by, if any")
    threshold_formula: str | None = Field(None, description="The formula in D, L, M it was given as, if any")
    axis: Literal["alpha"] = "alpha"
    tol: float = Field(description="A line converges when its width_rel <= tol")
    max_points: int = Field(description="Most points refinement may add")
    rounds: int = Field(description="Rounds done (each adds points to the lines not converged)")
    points_added: int = Field(description="Points refinement added so far (<= max_points)")
    state: RefineState = Field(description="waiting (initial points computing), refining (a round's points "
                                           "computing), then converged, budget_spent or no_crossing")
    uniform_points: int | None = Field(None, description="Points a uniform geometric alpha grid over the same "
                                                         "range and lines would need for the same tol")
    lines: list[RefineLinePublic] = Field(default_factory=list)


class SweepPatch(BaseModel):
    """The body of PATCH /sweeps/{id}: the fields given replace the stored ones (tags as a whole)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = Field(None, description="The new tags (backend/sweep_tags.py: at most max_tags, "
                                                     "each at most max_tag_chars, no commas)")
    note: str | None = Field(None, description="The new note (at most max_note_chars characters)")

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else clean_tags(v)

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return None if v is None else clean_note(v)


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
    estimated_s: float = Field(description="Compute time on one CPU worker (backend.cost.estimate_seconds), "
                                           "estimated at submission")
    peak_memory_bytes: int | None = Field(None, description="POST /sweeps/validate only: tensor bytes of the "
                                                            "largest ensemble on one CPU worker, chunked as the "
                                                            "engine chunks it (backend/memory.py)")
    peak_memory_shape: dict[str, int] | None = Field(None, description="POST /sweeps/validate only: D, L, M of "
                                                                       "that ensemble")
    counts: dict[str, int] = Field(description="Points per status: queued, running, done, diverged, failed, "
                                               "cancelled (empty for a draft)")
    progress: float = Field(description="Finished points (done, diverged, failed, cancelled) over n_points")
    elapsed_s: float = Field(description="Seconds from submission to the last finished point (to now while "
                                         "running)")
    remaining_s: float | None = Field(description="Seconds left: the time model's price of the points still to "
                                                  "compute, rescaled by the throughput observed so far "
                                                  "(backend/api/sweep_progress.py); 0 once finished")
    state: State = Field(description="draft (validate only), running (not over yet), finished or cancelled")
    label: Label = Field("draft", description="What to show: queued (nothing started), running, finished, "
                                              "finished_with_failures (failed or cancelled points), cancelled")
    owner: str | None = Field(None, description="The token name that created it (null: created in open mode)")
    tags: list[str] = Field(default_factory=list, description="Its tags, in the order given (PATCH to change)")
    note: str = Field("", description="A free-text note (PATCH to change)")
    refinement: RefinementPublic | None = Field(None, description="Adaptive refinement (null: none asked for); "
                                                                  "the first of `refinements`")
    refinements: list[RefinementPublic] = Field(default_factory=list, description="Every boundary the sweep "
                                                "refines, in the order of its `refine` list; the sweep is "
                                                "finished once all of them are over")
    dispatch: Dispatch | None = Field(None, description="POST /sweeps and /retry only: sent when the broker took "
                                                        "every task (or there was none), pending when it refused "
                                                        "them (the points are queued; the reaper sends them)")


def _iso(t: datetime) -> str:
    return t.isoformat() + "Z"


def sweep_public(rec: SweepRecord, now: datetime, dispatch: Dispatch | None = None) -> SweepPublic:
    """The summary of a stored sweep at time `now` (naive UTC, as the store's times)."""
    finished = sum(rec.counts.get(s, 0) for s in FINISHED)
    progress = finished / max(rec.n_points, 1)
    refinements = [RefinementPublic.model_validate(r) for r in rec.refinements]
    done = finished >= rec.n_points and all(r.state not in REFINING for r in refinements)
    end = (rec.last_finished_at or rec.created_at) if done else now
    elapsed = max((end - rec.created_at).total_seconds(), 0.0)
    state: State = "cancelled" if rec.cancelled_at else ("finished" if done else "running")
    return SweepPublic(id=rec.id, name=rec.name, created_at=_iso(rec.created_at), axes=rec.axes,
                       settings=rec.settings, n_points=rec.n_points, n_reused=rec.n_reused,
                       estimated_flops=rec.estimated_flops, estimated_s=rec.estimated_s, counts=rec.counts,
                       progress=progress, elapsed_s=elapsed, remaining_s=remaining_seconds(rec, now, done),
                       state=state, label=label(rec, done), owner=rec.owner, tags=rec.tags, note=rec.note,
                       refinement=refinements[0] if refinements else None, refinements=refinements,
                       dispatch=dispatch)


def sweep_draft(name: str, tags: list[str], axes: dict[str, list[float]], settings: dict[str, Any], n_points: int,
                n_reused: int, estimated_flops: float, estimated_s: float) -> SweepPublic:
    """The answer of POST /sweeps/validate: what a submission would store, nothing counted yet."""
    return SweepPublic(name=name, tags=tags, axes=axes, settings=settings, n_points=n_points, n_reused=n_reused,
                       estimated_flops=estimated_flops, estimated_s=estimated_s, counts={}, progress=0.0,
                       elapsed_s=0.0, remaining_s=None, state="draft")
