"""Phase-diagram slices (a metric over two axes with the others held fixed) and a sweep's cells as
tidy rows (any number of axes varying, for derived axes; incremental with `after`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request

from backend.analysis.cells import AGGREGATES
from backend.api.analysis_schemas import PhaseSlice, SweepCells
from backend.api.answer_cache import AnswerCacheDep, cached_answer
from backend.api.deps import ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.grid import AXES, same_axis_value
from backend.metrics import METRIC_NAMES
from backend.store.slices import phase_slice
from backend.store.sweep_cells import OVERLAP_S, sweep_cells
from backend.store.sweep_version import sweep_version
from backend.store.tables import Sweep

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


def _check_metric(metric: str, agg: str) -> None:
    if metric not in METRIC_NAMES:
        raise HTTPException(422, f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    if agg not in AGGREGATES:
        raise HTTPException(422, f"unknown agg {agg!r}; one of {', '.join(AGGREGATES)}")


def _held(sweep: Sweep, fixed: str | None, varying: tuple[str, ...] = ()) -> dict[str, float]:
    """`fixed` parsed and checked against the sweep's axes (and not one of the `varying` ones)."""
    values = parse_fixed(fixed)
    for axis, value in values.items():
        if axis in varying:
            raise HTTPException(422, f"fixed: {axis} is already the {'x' if axis == varying[0] else 'y'} axis")
        if not any(same_axis_value(v, value) for v in sweep.axes[axis]):
            raise HTTPException(422, f"fixed: {axis}={value:g} is not on the sweep's {axis} axis {sweep.axes[axis]}")
    return values


EPOCH = datetime(1970, 1, 1)


def _naive_utc(after: datetime) -> datetime:
    """`after` as the store's naive UTC, no earlier than EPOCH (before any point: all of them, and
    no datetime underflow near year 1 when the overlap is subtracted)."""
    try:
        naive = after.astimezone(UTC).replace(tzinfo=None) if after.tzinfo is not None else after
    except OverflowError:
        return EPOCH
    return max(naive, EPOCH)


METRIC_QUERY = Query("feature_update", max_length=100, description="one of GET /meta metrics")
AGG_QUERY = Query("mean", max_length=100, description="mean | median | min | max over seeds")


# Never rate limited: every aggregate over seeds is a typed column (backend/store/slices.py).
@router.get("/sweeps/{sweep_id}/phase", responses=responses(404),
            response_model=PhaseSlice, response_model_exclude_unset=True)
def get_phase(request: Request, sweep_id: int, session: ReadSession, cache: AnswerCacheDep,
              x: AxisName = "alpha", y: AxisName = "L",
              metric: str = METRIC_QUERY,
              fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS,
                                           description="other axes, e.g. D:16,M:64 (default: first value)"),
              agg: str = AGG_QUERY,
              ) -> Any:
    """Rows follow y, columns follow x; every cell is present with its status, computed or not."""
    if x == y:
        raise HTTPException(422, f"x and y must differ (both {x})")
    _check_metric(metric, agg)
    sweep = sweep_or_404(session, sweep_id)
    values = _held(sweep, fixed, (x, y))
    return cached_answer(
        request, cache, lambda: ("phase", sweep_id, x, y, metric, agg, tuple(values.items()),
                                 sweep_version(session, sweep)),
        lambda: {**phase_slice(session, sweep, x, y, metric, values, agg), "agg": agg},
        PhaseSlice, exclude_unset=True)


@router.get("/sweeps/{sweep_id}/cells", responses=responses(404), response_model=SweepCells,
            response_model_exclude_unset=True)
def get_cells(request: Request, sweep_id: int, session: ReadSession, cache: AnswerCacheDep,
              metric: str = METRIC_QUERY, agg: str = AGG_QUERY,
              fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS,
                                           description="axes held, e.g. D:16,M:64; the others vary (all values)"),
              after: datetime | None = Query(None, description="a previous answer's `cursor`: only the cells "
                                                                 "changed since (and overlap_s before)"),
              ) -> Any:
    """Every point of the sweep whose axes match `fixed`, one tidy row each, in one request: what
    a view over derived axes (L*M, alpha/sqrt(D), ...) draws. Poll with `after=<cursor>`."""
    _check_metric(metric, agg)
    sweep = sweep_or_404(session, sweep_id)
    values = _held(sweep, fixed)
    since = None if after is None else _naive_utc(after)

    def compute() -> dict[str, Any]:
        out = sweep_cells(session, sweep, metric, agg, values, since)
        cursor = out["cursor"]
        return {**out, "metric": metric, "agg": agg, "fixed": values, "overlap_s": OVERLAP_S,
                "cursor": None if cursor is None else cursor.isoformat() + "Z"}

    return cached_answer(
        request, cache, lambda: ("cells", sweep_id, metric, agg, tuple(values.items()), since,
                                 sweep_version(session, sweep)),
        compute, SweepCells, exclude_unset=True)
