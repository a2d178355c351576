"""Analysis endpoints: presets, theory overlays and formulas, rate fits, regime boundaries."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict

from backend.analysis.boundaries import boundary_curve
from backend.analysis.claims import CLAIMS
from backend.analysis.expressions import ExpressionError, parse
from backend.analysis.fits import MODELS, FitError, fit_model
from backend.analysis.rates import ERROR_METRICS, floor_entries, rate_fit, seed_means
from backend.analysis.theory import DEFAULT_TOLERANCE, OVERLAYS, PREDICTED_EXPONENTS
from backend.api.deps import Costly, ReadSession, sweep_or_404
from backend.api.errors import responses
from backend.api.phase import FIXED_MAX_CHARS, parse_fixed
from backend.grid import AXES, SweepSpec
from backend.metrics import METRIC_NAMES, THRESHOLDS
from backend.presets import PRESETS, presets_of
from backend.store.cells import CellData, metric_cells

router = APIRouter(tags=["analysis"], responses=responses(401, 422, 503))
AxisName = Literal["alpha", "D", "L", "M"]
# Bootstrap resamples: the cost of a fit or a boundary grows linearly with them (n_boot=5000 on
# /fit took 6.9 CPU-s when measured for issue 10); the defaults are 500 (/fit) and 300 (/boundaries).
MAX_N_BOOT = 2000
N_BOOT_DOC = f"bootstrap resamples for the intervals (0: none), at most {MAX_N_BOOT}"


class Evaluation(BaseModel):
    formula: str
    variables: list[str]
    values: list[float | None]  # null where the formula is not finite


class FitAnswer(BaseModel):
    """model "power": `lines`, one rate fit per value of `group`; another model: `fit`."""

    model_config = ConfigDict(extra="allow")

    metric: str
    model: str
    fixed: dict[str, float]
    n_cells: int
    cells_by_status: dict[str, int]
    along: str | None = None
    group: str | None = None
    predicted_exponent: float | None = None
    tolerance: float | None = None
    lines: list[dict[str, Any]] | None = None
    fit: dict[str, Any] | None = None


class BoundariesAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    metric: str
    threshold: float
    direction: Literal["down", "up", "any"]
    group: str | None
    curves: list[dict[str, Any]]
    cells_by_status: dict[str, int]


@router.get("/presets")
async def presets() -> list[dict[str, Any]]:
    return [p.to_json() for p in PRESETS.values()]


@router.get("/theory/overlays")
async def overlays() -> list[dict[str, Any]]:
    return OVERLAYS


@router.get("/theory/models")
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
            "values": [float(v) if np.isfinite(v) else None for v in values]}


def _cells(session: ReadSession, sweep_id: int, metric: str, fixed: str | None) -> CellData:
    if metric not in METRIC_NAMES:
        raise HTTPException(422, f"unknown metric {metric!r}; one of {', '.join(METRIC_NAMES)}")
    return metric_cells(session, sweep_or_404(session, sweep_id), metric, parse_fixed(fixed))


def _power_lines(cells: CellData, floors: np.ndarray | None, along: str, group: str | None,
                 predicted: float | None, tolerance: float, metric: str, entries: np.ndarray,
                 n_boot: int) -> list[dict[str, Any]]:
    """One rate fit per value of `group` (rates.rate_fit: the claims' selection and verdict)."""
    keys = np.unique(cells.axes[group]) if group else np.array([np.nan])
    lines = []
    for key in keys:
        mask = cells.axes[group] == key if group else np.ones(len(cells.point_ids), bool)
        x, vals = cells.axes[along][mask], cells.values[mask]
        counts = np.isfinite(vals).sum(axis=1)
        y = seed_means(vals)
        sd = np.array([np.std(r[np.isfinite(r)], ddof=1) if np.isfinite(r).sum() > 1 else np.nan for r in vals])
        line: dict[str, Any] = {"group_value": None if group is None else float(key), "x": x.tolist(),
                                "y": [float(v) if np.isfinite(v) else None for v in y],
                                "y_stderr": [float(s / np.sqrt(c)) if np.isfinite(s) else None
                                             for s, c in zip(sd, counts, strict=True)]}
        if floors is not None:
            line["floor"] = [float(v) if np.isfinite(v) else None for v in floors[mask]]
        axes = {a: cells.axes[a][mask] for a in AXES}
        result = rate_fit(axes, vals, along, x, predicted, tolerance, metric=metric, n_boot=n_boot,
                          floor=None if floors is None else floors[mask], floor_entries=entries[mask])
        line["fit"] = result.to_dict() if result.fit is not None else None
        line["verdict"], line["two_term"], line["dropped"] = result.verdict, result.two_term, result.dropped
        if result.fit is None:
            line["fit_error"] = result.error
        lines.append(line)
    return lines


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
                "lines": _power_lines(cells, floors, along, group, pred, tol, metric, entries, n_boot)}
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
               threshold: float | None = Query(None, allow_inf_nan=False), group: AxisName | None = "L",
               fixed: str | None = Query(None, max_length=FIXED_MAX_CHARS),
               direction: Literal["down", "up", "any"] = "any",
               n_boot: int = Query(300, ge=0, le=MAX_N_BOOT, description=N_BOOT_DOC)) -> dict[str, Any]:
    """Per value of `group`, the alpha where the seed mean of `metric` crosses `threshold`."""
    if threshold is not None and not math.isfinite(threshold):
        raise HTTPException(422, f"threshold must be a finite number, got {threshold}")
    if threshold is None:
        known = [t for t in THRESHOLDS.values() if t["metric"] == metric and t["boundary"]]
        if not known:
            raise HTTPException(422, f"no documented threshold for {metric}; pass threshold=")
        threshold = float(known[0]["value"])  # type: ignore[arg-type]
    if group == "alpha":
        raise HTTPException(422, "group must be an axis other than alpha")
    cells = _cells(session, sweep_id, metric, fixed)
    groups = []
    others = [a for a in AXES if a != "alpha"]
    keys = sorted({tuple(cells.axes[a][i] for a in others) for i in range(len(cells.point_ids))})
    for key in keys:
        mask = np.all([cells.axes[a] == v for a, v in zip(others, key, strict=True)], axis=0)
        order = np.argsort(cells.axes["alpha"][mask])
        label = {a: float(v) for a, v in zip(others, key, strict=True)}
        groups.append((label, cells.axes["alpha"][mask][order], cells.values[mask][order]))
    curves = [c.to_dict() for c in boundary_curve(groups, threshold, direction=direction, n_boot=n_boot)]
    return {"metric": metric, "threshold": threshold, "direction": direction, "group": group, "curves": curves,
            "cells_by_status": dict(cells.statuses)}
