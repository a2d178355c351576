"""Phase-diagram slices: a metric over two axes with the others held fixed."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query

from backend.api.deps import Costly, ReadSession, sweep_or_404
from backend.grid import AXES, same_axis_value
from backend.metrics import METRIC_NAMES
from backend.store.slices import AGGREGATES, phase_slice

router = APIRouter(tags=["phase"])

AxisName = Literal["alpha", "D", "L", "M"]


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
    return out


@router.get("/sweeps/{sweep_id}/phase", dependencies=[Costly])
def get_phase(sweep_id: int, session: ReadSession, x: AxisName = "alpha", y: AxisName = "L",
              metric: str = Query("feature_update", description="one of GET /meta metrics"),
              fixed: str | None = Query(None, description="other axes, e.g. D:16,M:64 (default: first value)"),
              agg: str = Query("mean", description="mean | median | min | max over seeds")) -> dict[str, Any]:
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
    return phase_slice(session, sweep, x, y, metric, values, agg)
