"""Analysis endpoints: presets, theory overlays and formulas, rate fits, regime boundaries."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request

from backend.analysis.boundaries import LINE_AXES, held_axes, line_crossings
from backend.analysis.cells import CellData, seed_means
from backend.analysis.claims import CLAIMS
from backend.analysis.expressions import ExpressionError, parse
from backend.analysis.fits import MODELS, FitError, fit_model
from backend.analysis.rates import ERROR_METRICS, floor_entries, power_lines
from backend.analysis.theory import DEFAULT_TOLERANCE, OVERLAYS, PREDICTED_EXPONENTS
from backend.api.analysis_schemas import BoundariesAnswer, Evaluation, FitAnswer, Overlay, Preset, TheoryModel
from backend.api.deps import Costly, ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.api.phase import FIXED_MAX_CHARS, parse_fixed
from backend.grid import AXES, SweepSpec
from backend.jsonsafe import finite_or_none
from backend.metrics import METRIC_NAMES, THRESHOLDS
from backend.presets import PRESETS, presets_of
from backend.store.cells import metric_cells

router = APIRouter(tags=["analysis"], responses=responses(401, 422, 503))
AxisName = Literal["alpha", "D", "L", "M"]
# Bootstrap resamples: the cost of a fit or a boundary grows linearly with them (n_boot=5000 on
# /fit took 6.9 CPU-s when measured for issue 10); the defaults are 500 (/fit) and 300 (/boundaries).
MAX_N_BOOT = 2000
N_BOOT_DOC = f"bootstrap resamples for the intervals (0: none), at most {MAX_N_BOOT}"


@router.get("/presets", response_model=list[Preset])
async def presets() -> list[dict[str, Any]]:
    return [p.to_json() for p in PRESETS.values()]


@router.get("/theory/overlays", response_model=list[Overlay])
async def overlays() -> list[dict[str, Any]]:
    return OVERLAYS


@router.get("/theory/models", response_model=list[TheoryModel])
async def models() -> list[dict[str, Any]]:
    return [spec.to_dict() for spec in MODELS.values()]


@router.get("/theory/evaluate", response_model=Evaluation)
async def evaluate(request: Request, formula: str = Query(..., max_length=500)) -> dict[str, Any]:
    """Evaluate a formula in the axis names; axis values as query parameters (comma lists broadcast)."""
    try:
        expr = parse(formula)
    except ExpressionError as exc:
        raise HTTPException(422, str(exc)) from exc
    env: dict[str, np.ndarray] = {}
    for name in expr.variables:
        raw = request.query_params.get(name)
        if raw is None:
            raise HTTPException(422, f"formula uses {name} but no {name}= value was given")
        try:
            env[name] = np.array([float(v) for v in raw.split(",")])
        except ValueError as exc:
            raise HTTPException(422, f"{name}={raw!r} is not a comma list of numbers") from exc
    lengths = {len(v) for v in env.values() if len(v) > 1}
    if len(lengths) > 1:
        raise HTTPException(422, "comma lists must all have the same length")
    values = np.broadcast_to(expr.evaluate(env), (max(lengths, default=1),))
    return {"formula": formula, "variables": sorted(expr.variables),
            "values": [finite_or_none(v) for v in values]}


def _cells(session: ReadSession, sweep_id: int, metric: str, fixed: str | None) -> CellData:
    if metric not in METRIC_NAMES:
        raise HTTPException(422, f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    return metric_cells(session, sweep_or_404(session, sweep_id), metric, parse_fixed(fixed))


def _prediction(sweep: Any, metric: str, along: str) -> tuple[float | None, float]:
    """The predicted exponent and tolerance of (metric, along): from a claim of the preset this
    sweep runs when one reads that slope, else the theory table (tolerance 0.15)."""
    for preset, _size in presets_of(SweepSpec.model_validate(sweep.spec)):
        for c in CLAIMS:
            if c.preset == preset and c.slope == (metric, along):
                return c.predicted, c.tolerance
    return PREDICTED_EXPONENTS.get((metric, along)), DEFAULT_TOLERANCE


@router.get("/sweeps/{sweep_id}/fit", dependencies=[Costly], responses=responses(404, 429), response_model=FitAnswer,
            response_model_exclude_unset=True)
def fit(sweep_id: int, session: ReadSession, metric: str = Query("err_out", max_length=100),
        along: AxisName = "L", group: AxisName | None = None,
        fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS), model: str = Query("power", max_length=100),
        predicted: float | None = Query(None, allow_inf_nan=False), tolerance: float | None = Query(None, gt=0, le=10),
        n_boot: int = Query(500, ge=0, le=MAX_N_BOOT, description=N_BOOT_DOC)) -> dict[str, Any]:
    """A power law along one axis (one per value of `group`), or a multi-term model over all cells."""
    cells = _cells(session, sweep_id, metric, fixed)
    held_fixed = parse_fixed(fixed)
    base = {"metric": metric, "model": model, "fixed": held_fixed, "n_cells": len(cells.point_ids),
            "cells_by_status": dict(cells.statuses)}
    if model == "power":
        if group == along:
            raise HTTPException(422, "group must differ from along")
        held = sorted(a for a in held_fixed if a in (along, group))
        if held:
            raise HTTPException(422, f"fixed: {', '.join(held)} cannot be held fixed "
                                     "and also be the along or group axis")
        sweep = sweep_or_404(session, sweep_id)
        pred, tol = _prediction(sweep, metric, along)
        pred = predicted if predicted is not None else pred
        tol = tolerance if tolerance is not None else tol
        floors, entries = None, np.ones(len(cells.point_ids))
        if metric in ERROR_METRICS:
            floors = seed_means(_cells(session, sweep_id, f"{metric}_floor", fixed).values)
            s = sweep.settings
            entries = floor_entries(metric, int(s.get("n_samples", 10)), int(s.get("d_out", 5)), cells.axes["D"])
        return {**base, "along": along, "group": group, "predicted_exponent": pred, "tolerance": tol,
                "lines": power_lines(cells, along, group, pred, tol, metric, n_boot, floors, entries)}
    if model not in MODELS:
        raise HTTPException(422, f"unknown model {model!r}; one of power, {', '.join(MODELS)}")
    try:
        result = fit_model(model, {a: cells.axes[a] for a in AXES}, cells.values, n_boot=n_boot).to_dict()
    except FitError as exc:
        raise HTTPException(422, f"cannot fit {model}: {exc}") from exc
    return {**base, "fit": result}


@router.get("/sweeps/{sweep_id}/boundaries", dependencies=[Costly], responses=responses(404, 429),
            response_model=BoundariesAnswer)
def boundaries(sweep_id: int, session: ReadSession, metric: str = Query("feature_update", max_length=100),
               threshold: float | None = Query(None, allow_inf_nan=False),
               group: AxisName | None = Query(None, description="one curve per value of this axis (not alpha)"),
               fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS),
               direction: Literal["down", "up", "any"] = "any",
               n_boot: int = Query(300, ge=0, le=MAX_N_BOOT, description=N_BOOT_DOC)) -> dict[str, Any]:
    """Per line of D, L, M (with a `group`: per value of it, the other axes held), the alpha where
    the seed mean of `metric` crosses `threshold`."""
    if threshold is not None and not math.isfinite(threshold):
        raise HTTPException(422, f"threshold must be a finite number, got {threshold}")
    if threshold is None:
        known = [t for t in THRESHOLDS.values() if t["metric"] == metric and t["boundary"]]
        if not known:
            raise HTTPException(422, f"no documented threshold for {metric}; pass threshold=")
        threshold = float(known[0]["value"])  # type: ignore[arg-type]
    if group == "alpha":
        raise HTTPException(422, "group must be an axis other than alpha")
    held_fixed = parse_fixed(fixed)
    if group is not None and group in held_fixed:
        raise HTTPException(422, f"fixed: {group} cannot be held fixed and also be the group axis")
    if metric not in METRIC_NAMES:
        raise HTTPException(422, f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    sweep = sweep_or_404(session, sweep_id)
    held = held_axes(sweep.axes, held_fixed, group)
    cells = metric_cells(session, sweep, metric, held)
    curves = line_crossings(cells, LINE_AXES, threshold, direction=direction, n_boot=n_boot)
    return {"metric": metric, "threshold": threshold, "direction": direction, "group": group, "fixed": held,
            "curves": [c.to_dict() for c in curves], "cells_by_status": dict(cells.statuses)}
