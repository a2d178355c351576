"""The axes of a sweep and their values: the four axis names, `{"geom": ...}` ranges, the values
an axis achieves, and the record of a limit a request is over.

Shared by backend/grid.py (limits, expansion, hashes) and backend/designs.py (the design forms);
backend.grid re-exports every name here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

from backend.run_settings import FiniteFloat

AXES: tuple[str, ...] = ("alpha", "D", "L", "M")
INTEGER_AXES: frozenset[str] = frozenset({"D", "L", "M"})


class GeomRange(BaseModel):
    """{"geom": [start, stop, num]}: num values spaced evenly on a log scale, both ends included."""

    model_config = ConfigDict(extra="forbid")

    geom: tuple[FiniteFloat, FiniteFloat, int]

    @field_validator("geom")
    @classmethod
    def _positive(cls, v: tuple[float, float, int]) -> tuple[float, float, int]:
        start, stop, num = v
        if start <= 0 or stop <= 0:
            raise ValueError("geom start and stop must be > 0")
        if num < 1:
            raise ValueError("geom num must be >= 1")
        return v


Axis = list[FiniteFloat] | GeomRange


@dataclass(frozen=True)
class LimitViolation:
    """A request over a limit: `limit` is the Limits field name, `field` where it happened."""

    field: str
    limit: str
    limit_value: float
    value: float | str
    message: str


def axis_length(axis: Axis) -> int:
    """How many values the axis lists (before rounding and deduplication)."""
    return axis.geom[2] if isinstance(axis, GeomRange) else len(axis)


def axis_raw(axis: Axis, integer: bool, max_values: int = 10_000) -> list[float]:
    """The axis's values in the order given, rounded (to integers when `integer`, else to 12
    significant digits) but neither sorted nor deduplicated: zipped axes pair them by position.
    At most max_values + 1 of them: enough to report a violation, never a huge list."""
    if isinstance(axis, GeomRange):
        start, stop, num = axis.geom
        num = min(num, max_values + 1)
        if num == 1:
            raw = [start]
        else:
            step = (math.log(stop) - math.log(start)) / (num - 1)
            raw = [math.exp(math.log(start) + i * step) for i in range(num)]
    else:
        raw = list(axis)
    if integer:
        return [float(round(v)) for v in raw]
    return [float(f"{v:.12g}") for v in raw]


def axis_values(name: str, axis: Axis, max_values: int = 10_000) -> list[float]:
    """The achieved values of one axis, sorted and deduplicated (D, L, M rounded to integers)."""
    return sorted(set(axis_raw(axis, name in INTEGER_AXES, max_values)))
