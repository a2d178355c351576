"""The forms a sweep's design takes (the `grid` of a SweepSpec) and their expansion into rows of
axis values. Torch-free; backend/grid.py applies the limits and builds PointSpecs from the rows.

- GridSpec: the Cartesian product of the four axes (the original form).
- ZipGrid: some axes varied together, position by position (`"zip": {"L": [...], "M": [...]}`,
  equal lengths), the product with the other axes.
- RayGrid: iso-L*M rays: for each product P in `LM` and each value f of the varied factor (`L`,
  or `M`) that divides P, the split (f, P / f); values that do not divide P are dropped.
- PointList: an explicit list of {alpha, D, L, M} (`"points": [...]` in place of `"grid"`).

The form is chosen by the keys present ("points", "LM", "zip", else a Cartesian grid), so a
request's errors name the fields of the form it meant. Every form expands to an `Expansion`:
axes varied as a product (`free`) times rows of axes varied together (`joint`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from backend.axes import AXES, INTEGER_AXES, Axis, LimitViolation, axis_length, axis_raw, axis_values
from backend.run_settings import FiniteFloat
from backend.settings import Limits

AxisName = Literal["alpha", "D", "L", "M"]


class GridSpec(BaseModel):
    """Every combination of the four axes."""

    model_config = ConfigDict(extra="forbid")

    alpha: Axis
    D: Axis
    L: Axis
    M: Axis


class ZipGrid(BaseModel):
    """The axes in `zip` take their i-th values together; every other axis is given as in a grid."""

    model_config = ConfigDict(extra="forbid")

    alpha: Axis | None = None
    D: Axis | None = None
    L: Axis | None = None
    M: Axis | None = None
    zip: dict[AxisName, Axis] = Field(min_length=1)

    @model_validator(mode="after")
    def _each_axis_once(self) -> ZipGrid:
        for a in AXES:
            if getattr(self, a) is not None and a in self.zip:
                raise ValueError(f"axis {a} is both zipped and given on its own: give it once")
            if getattr(self, a) is None and a not in self.zip:
                raise ValueError(f"axis {a} is missing: give it on its own or in zip")
        lengths = {a: axis_length(v) for a, v in self.zip.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError("zipped axes need equal lengths, got "
                             + ", ".join(f"{a}: {n}" for a, n in lengths.items()))
        return self


class RayGrid(BaseModel):
    """Splits of the products in `LM` into L x M, along the values of one factor (`L` or `M`)."""

    model_config = ConfigDict(extra="forbid")

    alpha: Axis
    D: Axis
    LM: Axis
    L: Axis | None = None
    M: Axis | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> RayGrid:
        if (self.L is None) == (self.M is None):
            raise ValueError("an LM ray varies exactly one factor: give L or M, not both and not neither")
        return self


class DesignPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alpha: FiniteFloat
    D: int
    L: int
    M: int


class PointList(BaseModel):
    """Exactly these points (duplicates count once)."""

    model_config = ConfigDict(extra="forbid")

    points: list[DesignPoint] = Field(min_length=1)


_KINDS: dict[type[BaseModel], str] = {GridSpec: "grid", ZipGrid: "zip", RayGrid: "ray", PointList: "points"}


def _kind(value: Any) -> str:
    """Which form a `grid` value is, from its keys (or its class, for a model already built)."""
    if isinstance(value, BaseModel):
        return _KINDS.get(type(value), "grid")
    keys = value.keys() if isinstance(value, dict) else ()
    return "points" if "points" in keys else "ray" if "LM" in keys else "zip" if "zip" in keys else "grid"


# The tags of the design union; pydantic puts the chosen one in an error's loc after "grid".
DESIGN_TAGS: tuple[str, ...] = ("grid", "zip", "ray", "points")

Design = Annotated[
    Annotated[GridSpec, Tag("grid")] | Annotated[ZipGrid, Tag("zip")] | Annotated[RayGrid, Tag("ray")]
    | Annotated[PointList, Tag("points")],
    Discriminator(_kind),
]


def points_as_grid(data: Any) -> Any:
    """A SweepSpec body with `points` becomes one with `grid: {"points": ...}`; exactly one of
    the two is required (a ValueError, so a 422, otherwise)."""
    if not isinstance(data, dict):
        return data
    if "grid" in data and "points" in data:
        raise ValueError("give exactly one of grid or points, not both")
    if "points" in data:
        rest = {k: v for k, v in data.items() if k != "points"}
        return {**rest, "grid": {"points": data["points"]}}
    if "grid" not in data:
        raise ValueError("give exactly one of grid (axes) or points (a list of {alpha, D, L, M})")
    return data


@dataclass(frozen=True)
class Expansion:
    """A design's points: every combination of the `free` axes (sorted distinct values) with every
    row of `joint` (distinct tuples over `joint_axes`). A grid has no joint axes (one empty row)."""

    free: dict[str, list[float]]
    joint_axes: tuple[str, ...]
    joint: list[tuple[float, ...]]
    violations: tuple[LimitViolation, ...] = ()

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for v in self.free.values()) * len(self.joint)

    def axes(self) -> dict[str, list[float]]:
        """Sorted distinct values per axis, in AXES order (what a sweep row stores as `axes`)."""
        out = {}
        for a in AXES:
            if a in self.free:
                out[a] = self.free[a]
            else:
                i = self.joint_axes.index(a)
                out[a] = sorted({row[i] for row in self.joint})
        return out

    def rows(self) -> Iterator[dict[str, float]]:
        names = list(self.free)
        for combo in itertools.product(*self.free.values()):
            for row in self.joint:
                yield {**dict(zip(names, combo, strict=True)), **dict(zip(self.joint_axes, row, strict=True))}


def _over_axis(field: str, n: int, limits: Limits, what: str) -> LimitViolation:
    return LimitViolation(field, "max_axis_values", limits.max_axis_values, n,
                          f"{what} has {n} values, over max_axis_values={limits.max_axis_values}")


def _zip_expansion(g: ZipGrid, limits: Limits) -> Expansion:
    cap = limits.max_axis_values
    free = {a: axis_values(a, getattr(g, a), cap) for a in AXES if a not in g.zip}
    names = tuple(a for a in AXES if a in g.zip)  # AXES order, whatever the order of the keys
    raws = [axis_raw(g.zip[a], a in INTEGER_AXES, cap) for a in names]
    joint = sorted(set(zip(*raws, strict=True)))
    length = axis_length(g.zip[names[0]])
    over = (_over_axis("grid.zip", length, limits, "each zipped axis"),) if length > cap else ()
    return Expansion(free, names, joint, over)


def _ray_expansion(g: RayGrid, limits: Limits) -> Expansion:
    cap = limits.max_axis_values
    factor = "L" if g.L is not None else "M"
    factor_axis = g.L if g.L is not None else g.M
    assert factor_axis is not None  # the validator requires one factor
    products = sorted(set(axis_raw(g.LM, True, cap)))
    values = axis_values(factor, factor_axis, cap)
    free = {a: axis_values(a, getattr(g, a), cap) for a in ("alpha", "D")}
    over = [_over_axis(f"grid.{name}", len(v), limits, name) for name, v in (("LM", products), (factor, values))
            if len(v) > cap]
    if over:
        return Expansion(free, ("L", "M"), [], tuple(over))
    splits: set[tuple[float, float]] = set()
    for p in products:
        kept = [(f, p // f) for f in values if f >= 1 and p >= 1 and p % f == 0]
        if not kept:
            over.append(LimitViolation("grid.LM", "exact_split", 1, p,
                                       f"L*M={p:g} has no split: no {factor} value divides it exactly"))
        splits.update(kept if factor == "L" else [(m, f) for f, m in kept])
    return Expansion(free, ("L", "M"), sorted(splits), tuple(over))


def expansion(design: GridSpec | ZipGrid | RayGrid | PointList, limits: Limits) -> Expansion:
    """The design's points as free axes times joint rows; `violations`: limits only this form has."""
    if isinstance(design, ZipGrid):
        return _zip_expansion(design, limits)
    if isinstance(design, RayGrid):
        return _ray_expansion(design, limits)
    if isinstance(design, PointList):
        rows = {(float(f"{p.alpha:.12g}"), float(p.D), float(p.L), float(p.M)) for p in design.points}
        return Expansion({}, AXES, sorted(rows))
    return Expansion({a: axis_values(a, getattr(design, a), limits.max_axis_values) for a in AXES}, (), [()])
