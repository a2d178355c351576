"""The API's phase slices and fits as small typed objects, numpy arrays where the data is one.

Missing numbers (`null` in the JSON) are NaN in float arrays; statuses and regimes are object
arrays of strings (None where not computed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _floats(values: Any) -> np.ndarray:
    """JSON numbers (null -> NaN), any nesting, as a float array."""
    return np.array(values if values is not None else [], dtype=float)


@dataclass
class PhaseSlice:
    """GET /sweeps/{id}/phase: z[i, j] is the metric at y[i], x[j] (shapes (len(y), len(x)))."""

    x_axis: str
    y_axis: str
    metric: str
    agg: str
    fixed: dict[str, float]
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    stderr: np.ndarray
    n: np.ndarray
    status: np.ndarray
    regime: np.ndarray
    point_id: np.ndarray
    floor: np.ndarray | None = None  # err_out / err_emb only: the reference's noise floor per cell
    near_floor: np.ndarray | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PhaseSlice:
        floor = doc.get("floor")
        near = doc.get("near_floor")
        return cls(x_axis=doc["x_axis"], y_axis=doc["y_axis"], metric=doc["metric"], agg=doc["agg"],
                   fixed=dict(doc["fixed"]), x=_floats(doc["x"]), y=_floats(doc["y"]), z=_floats(doc["z"]),
                   stderr=_floats(doc["stderr"]), n=np.array(doc["n"], dtype=int),
                   status=np.array(doc["status"], dtype=object), regime=np.array(doc["regime"], dtype=object),
                   point_id=np.array(doc["point_id"], dtype=object),
                   floor=None if floor is None else _floats(floor),
                   near_floor=None if near is None else np.array(near, dtype=bool))


@dataclass
class FitLine:
    """One power-law line of GET /sweeps/{id}/fit (model=power): seed means y over x."""

    group_value: float | None
    x: np.ndarray
    y: np.ndarray
    y_stderr: np.ndarray
    verdict: str
    fit: dict[str, Any] | None  # exponent, exponent_ci, prefactor, r2, ...; None: too few cells
    two_term: dict[str, float] | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    floor: np.ndarray | None = None
    fit_error: str | None = None

    @property
    def exponent(self) -> float:
        value = (self.fit or {}).get("exponent")
        return float("nan") if value is None else float(value)

    @property
    def exponent_ci(self) -> tuple[float, float]:
        ci = (self.fit or {}).get("exponent_ci") or [None, None]
        lo, hi = (float("nan") if v is None else float(v) for v in ci)
        return lo, hi

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FitLine:
        floor = doc.get("floor")
        return cls(group_value=doc.get("group_value"), x=_floats(doc["x"]), y=_floats(doc["y"]),
                   y_stderr=_floats(doc["y_stderr"]), verdict=doc.get("verdict", ""), fit=doc.get("fit"),
                   two_term=doc.get("two_term"), dropped=dict(doc.get("dropped") or {}),
                   floor=None if floor is None else _floats(floor), fit_error=doc.get("fit_error"))


@dataclass
class Fit:
    """GET /sweeps/{id}/fit: `lines` for model=power, `fit` (the multi-term law) otherwise."""

    metric: str
    model: str
    fixed: dict[str, float]
    n_cells: int
    cells_by_status: dict[str, int]
    along: str | None = None
    group: str | None = None
    predicted_exponent: float | None = None
    tolerance: float | None = None
    lines: list[FitLine] = field(default_factory=list)
    fit: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Fit:
        return cls(metric=doc["metric"], model=doc["model"], fixed=dict(doc.get("fixed") or {}),
                   n_cells=int(doc["n_cells"]), cells_by_status=dict(doc.get("cells_by_status") or {}),
                   along=doc.get("along"), group=doc.get("group"),
                   predicted_exponent=doc.get("predicted_exponent"), tolerance=doc.get("tolerance"),
                   lines=[FitLine.from_json(line) for line in doc.get("lines") or []], fit=doc.get("fit"))


@dataclass
class Preset:
    """GET /presets: a named sweep that shows claims; `quick` and `full` are sweep specs to submit."""

    name: str
    title: str
    description: str
    claims: list[str]
    quick: dict[str, Any]
    full: dict[str, Any]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Preset:
        return cls(name=doc["name"], title=doc.get("title", ""), description=doc.get("description", ""),
                   claims=list(doc.get("claims") or []), quick=doc["quick"], full=doc["full"])
