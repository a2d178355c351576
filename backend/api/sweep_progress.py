"""Where a sweep stands, honestly: its label and the time it has left.

Label (`SweepPublic.label`): `queued` (nothing of it started yet), `running`, `finished`,
`finished_with_failures` (over, with failed points, or points cancelled from another sweep that
shares them), `cancelled`. `state` stays the lifecycle that clients wait on (running until over).

Time left: the time model (backend.grid's per-point FLOP estimates, turned into seconds by the
sweep's own seconds-per-FLOP at submission: `estimated_s / estimated_flops`) prices the points
still queued or running; the throughput observed on the points computed since submission
(wall time from the first of them starting to the last of them finishing, over their modelled
seconds) rescales that price. The observed speed is trusted in proportion to how many points it
rests on (n / (n + PRIOR_POINTS), blended geometrically), so one lucky point does not swing the
figure and a worker 100x faster than the model soon shows it. The evidence changes only when a
point finishes, so the figure never grows while nothing moves: between two completions it counts
down from the last one (to 0 at the least). With nothing computed yet it is the model's price alone.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from backend.store.sweep_reads import SweepRecord

Label = Literal["draft", "queued", "running", "finished", "finished_with_failures", "cancelled"]
PRIOR_POINTS = 2.0  # the model counts as this many observed points


def label(rec: SweepRecord, over: bool) -> Label:
    if rec.cancelled_at is not None:
        return "cancelled"
    if over:
        return "finished_with_failures" if rec.counts.get("failed", 0) + rec.counts.get("cancelled", 0) else "finished"
    if rec.counts.get("running", 0) == 0 and rec.work.computed == 0:
        return "queued"
    return "running"


def remaining_seconds(rec: SweepRecord, now: datetime, over: bool) -> float | None:
    """Seconds left (0 once over); None when the model has no price for what is left (points
    stored without a FLOP estimate, or a sweep between refinement rounds)."""
    if over:
        return 0.0
    work = rec.work
    left_flops = work.flops.get("queued", 0.0) + work.flops.get("running", 0.0)
    if rec.estimated_flops <= 0 or rec.estimated_s <= 0 or left_flops <= 0:
        return None
    s_per_flop = rec.estimated_s / rec.estimated_flops
    model_left = left_flops * s_per_flop
    model_done = work.computed_flops * s_per_flop
    first, last = work.first_started_at, work.last_computed_at
    if work.computed == 0 or first is None or last is None or model_done <= 0:
        return model_left
    observed = max((last - first).total_seconds(), 1e-3)
    speed = observed / model_done  # observed seconds per modelled second
    trust = work.computed / (work.computed + PRIOR_POINTS)
    estimate = model_left * math.exp(trust * math.log(speed))
    return max(estimate - max((now - last).total_seconds(), 0.0), 0.0)
