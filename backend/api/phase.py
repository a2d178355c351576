"""Phase-diagram slices: a metric over two axes with the others held fixed."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query

from backend.analysis.cells import AGGREGATES
from backend.api.analysis_schemas import PhaseSlice
from backend.api.deps import CostlyUnlessMean, ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.grid import AXES, same_axis_value
from backend.metrics import METRIC_NAMES
from backend.store.slices import phase_slice

router = APIRouter(tags=["phase"], responses=responses(401, 422, 503))

AxisName = Literal["alpha", "D", "L", "M"]
FIXED_MAX_CHARS = 200  # "alpha:...,D:...,L:...,M:..." with room to spare


def parse_fixed(text: str | None) -> dict[str, float]:
    """'D:16,M:64' -> {'D': 16.0, 'M': 64.0}; HTTP 422 naming the bad part otherwise."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        axis, sep, value = part.partition(":")
        if not sep or axis not in AXES:
            raise HTTPException(422, f"fixed: {part!r} is not AXIS:VALUE with AXIS one of {', '.join(AXES)}")
        try:
            out[axis] = float(value)
        except ValueError as exc:
            raise HTTPException(422, f"fixed: {value!r} is not a number (in {part!r})") from exc
        if not math.isfinite(out[axis]):
            raise HTTPException(422, f"fixed: {value!r} is not a finite number (in {part!r})")
    return out


@router.get("/sweeps/{sweep_id}/phase", dependencies=[CostlyUnlessMean], responses=responses(404, 429),
            response_model=PhaseSlice, response_model_exclude_unset=True)
def get_phase(sweep_id: int, session: ReadSession, x: AxisName = "alpha", y: AxisName = "L",
              metric: str = Query("feature_update", max_length=100, description="one of GET /meta metrics"),
              fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS,
                                           description="other axes, e.g. D:16,M:64 (default: first value)"),
              agg: str = Query("mean", max_length=100, description="mean | median | min | max over seeds"),
              ) -> dict[str, Any]:
    """Rows follow y, columns follow x; every cell is present with its status, computed or not."""
    if x == y:
        raise HTTPException(422, f"x and y must differ (both {x})")
    if metric not in METRIC_NAMES:
        raise HTTPException(422, f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    if agg not in AGGREGATES:
        raise HTTPException(422, f"unknown agg {agg!r}; one of {', '.join(AGGREGATES)}")
    sweep = sweep_or_404(session, sweep_id)
    values = parse_fixed(fixed)
    for axis, value in values.items():
        if axis in (x, y):
            raise HTTPException(422, f"fixed: {axis} is already the {'x' if axis == x else 'y'} axis")
        if not any(same_axis_value(v, value) for v in sweep.axes[axis]):
            raise HTTPException(422, f"fixed: {axis}={value:g} is not on the sweep's {axis} axis {sweep.axes[axis]}")
    return {**phase_slice(session, sweep, x, y, metric, values, agg), "agg": agg}
