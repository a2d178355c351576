"""The `refine` part of a sweep spec: adaptive refinement of a boundary along alpha.

A sweep with `refine` (one such spec, or a list of them for several boundaries, each refined on
its own with its own budget) adds points by itself once its points are finished: per line (D, L, M and
the settings), where the seed mean of `metric` crosses `threshold` along alpha, it places new
alphas around the crossing until the line's crossing interval is narrower than `tol` or
`max_points` points have been added (backend/analysis/refinement.py decides, the reaper drives
it through backend/store/refinements.py). Torch-free, like backend/grid.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from backend.metrics import METRIC_NAMES, THRESHOLDS
from backend.run_settings import FiniteFloat
from backend.settings import Limits

# The smallest tolerance: interval widths below it are at the rounding of axis values (12 digits)
# and the bootstrap's resolution, so asking for less could never end before the budget does.
TOL_MIN = 1e-4
POINTS_PER_LINE = 3  # new alphas per unconverged line and round (backend/analysis/refinement.py)
MAX_REFINEMENTS = 4  # boundaries one sweep may refine together (e.g. feature learning and noise)


class RefineSpec(BaseModel):
    """{"metric": "feature_update", "threshold": 0.25 | "feature_update_min", "axis": "alpha",
    "tol": 0.05, "max_points": 200}."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="The metric whose crossing is refined (one of GET /meta's metrics)")
    threshold: FiniteFloat | str = Field(description="A number, or the name of a threshold of GET /meta "
                                                     "(resolved to its value at submission)")
    axis: Literal["alpha"] = Field("alpha", description="The axis refined; only alpha is supported")
    tol: float = Field(0.05, ge=TOL_MIN, le=10.0, description="Converged when the crossing interval's width "
                                                              "over the crossing, (hi - lo) / crossing, is <= tol")
    max_points: int = Field(100, ge=1, description="Most points refinement may add (initial grid excluded); "
                                                   "at most max_points_per_sweep minus the grid's points")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRIC_NAMES:
            raise ValueError(f"unknown metric {v!r}; one of {', '.join(METRIC_NAMES)}")
        return v

    @field_validator("threshold")
    @classmethod
    def _known_threshold(cls, v: float | str) -> float | str:
        if isinstance(v, str) and v not in THRESHOLDS:
            raise ValueError(f"unknown threshold {v!r}; a number or one of {', '.join(THRESHOLDS)}")
        return v

    def threshold_value(self) -> float:
        """The threshold as a number (a named one is looked up in backend.metrics.THRESHOLDS)."""
        if isinstance(self.threshold, str):
            return float(THRESHOLDS[self.threshold]["value"])  # type: ignore[arg-type]
        return float(self.threshold)

    def threshold_name(self) -> str | None:
        return self.threshold if isinstance(self.threshold, str) else None


def _refine_kind(v: Any) -> str:
    return "many" if isinstance(v, list) else "one"


# A sweep's `refine`: one boundary or a list of them. The tags are pydantic's bookkeeping, stripped
# from the locs of 422s (backend/api/errors.py), so an error reads ["body", "refine", "tol"] or
# ["body", "refine", 1, "tol"].
REFINE_TAGS: tuple[str, ...] = ("one", "many")
Refine = Annotated[Annotated[RefineSpec, Tag("one")] | Annotated[list[RefineSpec], Tag("many")],
                   Discriminator(_refine_kind)]


def refinements_of(refine: RefineSpec | list[RefineSpec] | None) -> list[RefineSpec]:
    """A spec's `refine` as a list: none, one, or several boundaries refined together."""
    if refine is None:
        return []
    return list(refine) if isinstance(refine, list) else [refine]


def check_refinements(refine: RefineSpec | list[RefineSpec] | None) -> RefineSpec | list[RefineSpec] | None:
    """A list of refinements holds 1 to MAX_REFINEMENTS, each a different (metric, threshold)."""
    if not isinstance(refine, list):
        return refine
    if not 1 <= len(refine) <= MAX_REFINEMENTS:
        raise ValueError(f"refine lists 1 to {MAX_REFINEMENTS} boundaries (got {len(refine)})")
    keys = [(r.metric, r.threshold_value()) for r in refine]
    if len(set(keys)) < len(keys):
        raise ValueError("refine lists the same (metric, threshold) twice")
    return refine


def refine_violation(refine: RefineSpec | list[RefineSpec] | None, n_points: int, limits: Limits
                     ) -> tuple[str, str, float, float, str] | None:
    """(field, limit, limit value, value, message) when the refinements' max_points together exceed
    what the sweep may still add (max_points_per_sweep minus its `n_points` initial points), else None."""
    specs = refinements_of(refine)
    if not specs:
        return None
    room = limits.max_points_per_sweep - n_points
    total = sum(r.max_points for r in specs)
    if total <= room:
        return None
    what = f"refine.max_points={total}" if len(specs) == 1 else f"the refinements' max_points (together {total})"
    return ("refine.max_points", "max_points_per_sweep", float(room), float(total),
            f"{what} is over max_points_per_sweep={limits.max_points_per_sweep} "
            f"minus the grid's {n_points} points ({room})")
