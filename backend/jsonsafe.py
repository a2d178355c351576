"""The one JSON number rule: numpy scalars and arrays become plain Python, tuples lists, and
non-finite floats (NaN, +-inf: a diverged seed, an untrained network's infinite ratio) None.
Every response body and stored document that may hold such numbers goes through `to_jsonable`."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and dicts to plain JSON types; NaN and inf become None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def finite_or_none(x: float | None) -> float | None:
    """A float as itself when finite, else None."""
    return float(x) if x is not None and math.isfinite(x) else None


class JsonResult:
    """Mixin for result dataclasses: `to_dict()` gives every field as JSON-safe plain types."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of every field (tuples as lists, numpy scalars as Python ones, NaN as None)."""
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
