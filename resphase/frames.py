"""Tidy rows -> pandas and xarray. Shared by a server's sweep (rows of its JSON export) and a
local run (rows of its outcomes): both are one row per point and unit seed, in the shape of
`GET /sweeps/{id}/export` (backend.results.tidy_rows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from backend.grid import AXES, same_axis_value
from backend.metrics import METRIC_NAMES

# The columns a notebook reads first; the export's other columns (ids, settings) follow.
LEADING = ["alpha", "D", "L", "M", "unit_seed", "status", "regime"]


def rows_to_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per point and unit seed: alpha, D, L, M, unit_seed, status, regime (the seed's
    regime; `point_regime` is the point's), one column per metric (NaN where undefined), then
    the rest of the export's columns; sorted by the axes and the seed. A point not computed yet
    has one row, unit_seed <NA>."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        frame = pd.DataFrame(columns=[*LEADING, *METRIC_NAMES])
    frame = frame.rename(columns={"seed_regime": "regime"})
    for name in METRIC_NAMES:
        frame[name] = pd.to_numeric(frame.get(name, np.nan), errors="coerce").astype(float)
    frame["unit_seed"] = pd.array(frame["unit_seed"], dtype="Int64")
    rest = [c for c in frame.columns if c not in LEADING and c not in METRIC_NAMES]
    frame = frame.sort_values(["alpha", "D", "L", "M", "unit_seed"], kind="stable", na_position="last")
    return frame[[*LEADING, *METRIC_NAMES, *rest]].reset_index(drop=True)


def _index_of(values: Sequence[float], value: float) -> int | None:
    """Position of `value` on an axis (values went through JSON and rounding: tolerant match)."""
    for i, v in enumerate(values):
        if same_axis_value(v, value):
            return i
    return None


def frame_to_dataset(frame: pd.DataFrame, axes: dict[str, list[float]], seeds: int,
                     attrs: dict[str, Any]) -> xr.Dataset:
    """dims (alpha, D, L, M, seed), coordinates the sweep's axis values and seeds 0..seeds-1; one
    float variable per metric (NaN where missing), plus `status` and `point_regime` per point."""
    coords: dict[str, Any] = {a: np.asarray(axes[a], dtype=float if a == "alpha" else int) for a in AXES}
    coords["seed"] = np.arange(seeds)
    shape = tuple(len(coords[a]) for a in AXES)
    values = {name: np.full((*shape, seeds), np.nan) for name in METRIC_NAMES}
    status = np.full(shape, "missing", dtype=object)
    regime = np.full(shape, None, dtype=object)
    for row in frame.itertuples(index=False):
        where = [_index_of(axes[a], float(getattr(row, a))) for a in AXES]
        if any(i is None for i in where):
            continue  # a row off the sweep's axes cannot be placed (should not happen)
        cell = tuple(int(i) for i in where if i is not None)
        status[cell], regime[cell] = row.status, row.point_regime
        seed = row.unit_seed
        if seed is pd.NA or seed is None or not 0 <= int(seed) < seeds:
            continue
        for name in METRIC_NAMES:
            v = getattr(row, name)
            values[name][(*cell, int(seed))] = v if v is not None and math.isfinite(v) else np.nan
    data: dict[str, Any] = {name: ((*AXES, "seed"), arr) for name, arr in values.items()}
    data["status"] = (AXES, status)
    data["point_regime"] = (AXES, regime)
    return xr.Dataset(data, coords=coords, attrs=_flat_attrs(attrs))


def _flat_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """netCDF-safe attrs: nested settings flattened (reference.L -> "reference_L"), None -> ""."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, dict):
            out.update(_flat_attrs({f"{key}_{k}": v for k, v in value.items()}))
        else:
            out[key] = "" if value is None else value
    return out
