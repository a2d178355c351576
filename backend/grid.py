"""Sweep specification: its design (backend/designs.py), limits, expansion into points, content hashes.

The run settings themselves are backend/run_settings.py (re-exported here for callers).

Torch-free: the API validates and expands sweeps without loading the compute. The worker and the
CLI build their runs from the same `PointSpec`, so a point's hash means the same thing everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# re-exported: the axes and the design forms live in their own modules, callers import them here
from backend.axes import AXES as AXES
from backend.axes import INTEGER_AXES as INTEGER_AXES
from backend.axes import Axis as Axis
from backend.axes import GeomRange as GeomRange
from backend.axes import LimitViolation as LimitViolation
from backend.axes import axis_values as axis_values
from backend.designs import Design as Design
from backend.designs import GridSpec as GridSpec
from backend.designs import expansion, points_as_grid
from backend.refine_spec import Refine, check_refinements, refinements_of

# re-exported: callers import the settings (and the refine spec) from here too
from backend.refine_spec import RefineSpec as RefineSpec
from backend.run_settings import FiniteFloat as FiniteFloat
from backend.run_settings import ReferenceSettings as ReferenceSettings
from backend.run_settings import RunSettings as RunSettings
from backend.settings import Limits
from backend.sweep_tags import clean_tags

# Bump when a change to worker/ changes any number it produces: old results then stop matching.
SCIENCE_VERSION = "6"

def axis_tolerance(value: float) -> float:
    """How far a stored axis value may be from `value` and still be it: axis values go through
    JSON, geometric spacing and rounding, so equality is relative (1e-9) plus a tiny absolute."""
    return abs(value) * 1e-9 + 1e-12


def same_axis_value(axis_value: float, value: float) -> bool:
    return abs(axis_value - value) <= axis_tolerance(axis_value)


# What the engine computes in float32 without overflow (the raw learning rate grows like
# 1/alpha^2 and must stay far below 3.4e38); GET /meta states them as `bounds`.
ALPHA_MIN, ALPHA_MAX = 1e-6, 1e6
LR_MIN, LR_MAX = 1e-9, 1e6


def _printable(text: str) -> str:
    """Names reach both databases: NUL (PostgreSQL's no) and lone surrogates are refused here (422)."""
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return text


@dataclass(frozen=True, order=True)
class PointSpec:
    """One grid point: the four axes plus the settings shared by the sweep."""

    alpha: float
    D: int
    L: int
    M: int
    settings: RunSettings

    def config(self) -> dict[str, Any]:
        """Every setting of the point as plain JSON values (the `config` of a result)."""
        cfg: dict[str, Any] = {"alpha": self.alpha, "D": self.D, "L": self.L, "M": self.M}
        cfg.update(self.settings.model_dump())
        return cfg

    @property
    def shape_key(self) -> str:
        """Points with the same shape key train together as one ensemble (alphas x seeds)."""
        shape = {"D": self.D, "L": self.L, "M": self.M, "settings": self.settings.model_dump()}
        return digest(shape)

    @property
    def content_hash(self) -> str:
        """Hash of everything that determines this point's numbers, science version included."""
        return digest({"science_version": SCIENCE_VERSION, **self.config()})


def digest(obj: Any) -> str:
    """Short stable hash of a JSON-able object (keys sorted): content hashes and cache keys."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SweepSpec(BaseModel):
    """The body of POST /sweeps and of `resphase sweep submit FILE.json`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=200)
    tags: list[str] = Field(default_factory=list, description="Labels to find the sweep by (backend/sweep_tags.py: "
                                                              "at most max_tags, each max_tag_chars, no commas)")
    # adaptive refinement of one boundary, or of several at once (backend/refine_spec.py)
    refine: Refine | None = None

    @field_validator("refine")
    @classmethod
    def _distinct_refinements(cls, v: RefineSpec | list[RefineSpec] | None) -> RefineSpec | list[RefineSpec] | None:
        return check_refinements(v)

    def refinements(self) -> list[RefineSpec]:
        """The boundaries this sweep refines, in order (none, one, or several)."""
        return refinements_of(self.refine)

    @model_validator(mode="before")
    @classmethod
    def _points_or_grid(cls, data: Any) -> Any:
        return points_as_grid(data)  # `points` is short for `grid: {"points": [...]}`

    @field_validator("name")
    @classmethod
    def _name_printable(cls, v: str) -> str:
        return _printable(v)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return clean_tags(v)
    grid: Design  # a Cartesian grid or another design (backend/designs.py)
    settings: RunSettings = Field(default_factory=RunSettings)


def expanded_axes(grid: Design, limits: Limits) -> dict[str, list[float]]:
    """Sorted distinct values per axis (of the design's points, for a non-Cartesian design)."""
    return expansion(grid, limits).axes()


def check_limits(spec: SweepSpec, limits: Limits, axes: dict[str, list[float]] | None = None) -> list[LimitViolation]:
    """Every way `spec` exceeds `limits` (empty when it is acceptable); `axes`: its expanded_axes."""
    out: list[LimitViolation] = []

    def over(field: str, limit: str, value: float | str, message: str) -> None:
        out.append(LimitViolation(field, limit, getattr(limits, limit), value, message))

    design = expansion(spec.grid, limits)
    out.extend(design.violations)
    axes = axes if axes is not None else design.axes()
    for name, values in axes.items():
        if not values:
            out.append(LimitViolation(f"grid.{name}", "non_empty", 1, 0, f"axis {name} has no values"))
            continue
        if len(values) > limits.max_axis_values:
            over(f"grid.{name}", "max_axis_values", len(values),
                 f"axis {name} has {len(values)} values, over max_axis_values={limits.max_axis_values}")
        lo, hi = min(values), max(values)
        if name == "alpha":
            if lo < ALPHA_MIN:
                out.append(LimitViolation("grid.alpha", "alpha_min", ALPHA_MIN, lo,
                                          f"alpha={lo:g} is under alpha_min={ALPHA_MIN:g}"))
            if hi > ALPHA_MAX:
                out.append(LimitViolation("grid.alpha", "alpha_max", ALPHA_MAX, hi,
                                          f"alpha={hi:g} is over alpha_max={ALPHA_MAX:g}"))
        else:
            if lo < 1:
                out.append(LimitViolation(f"grid.{name}", "min_dim", 1, lo, f"{name} must be >= 1, got {lo:g}"))
            if hi > limits.max_dim:
                over(f"grid.{name}", "max_dim", hi, f"{name}={hi:g} is over max_dim={limits.max_dim}")
    n_points = design.n_points
    if n_points > limits.max_points_per_sweep:
        over("grid", "max_points_per_sweep", n_points,
             f"the design has {n_points} points, over max_points_per_sweep={limits.max_points_per_sweep}")
    s = spec.settings
    if not LR_MIN <= s.lr <= LR_MAX:
        out.append(LimitViolation("settings.lr", "lr_range", LR_MAX if s.lr > LR_MAX else LR_MIN, s.lr,
                                  f"lr={s.lr:g} is outside lr_range=[{LR_MIN:g}, {LR_MAX:g}]"))
    checks: list[tuple[str, str, float]] = [
        ("settings.steps", "max_steps", s.steps),
        ("settings.seeds", "max_seeds", s.seeds),
        ("settings.n_samples", "max_n_samples", s.n_samples),
        ("settings.d_in", "max_io_dim", s.d_in),
        ("settings.d_out", "max_io_dim", s.d_out),
    ]
    if s.reference is not None:
        checks += [("settings.reference.L", "max_dim", s.reference.L),
                   ("settings.reference.M", "max_dim", s.reference.M),
                   ("settings.reference.seeds", "max_seeds", s.reference.seeds)]
    for field, limit, value in checks:
        if value > getattr(limits, limit):
            over(field, limit, value, f"{field}={value:g} is over {limit}={getattr(limits, limit)}")
    return out


def expand(spec: SweepSpec, limits: Limits, axes: dict[str, list[float]] | None = None) -> list[PointSpec]:
    """All points of the design, no more (call check_limits first). Ordered by cost, cheapest shapes first,
    so that a coarse diagram appears early. `axes`: unused, kept for callers that pass it."""
    points = [
        PointSpec(alpha=r["alpha"], D=int(r["D"]), L=int(r["L"]), M=int(r["M"]), settings=spec.settings)
        for r in expansion(spec.grid, limits).rows()
    ]
    points.sort(key=lambda p: (point_flops(p), p.D, p.L, p.M, p.alpha))
    return points


def group_by_shape(points: Iterable[PointSpec]) -> dict[str, list[PointSpec]]:
    """Points that can train as one ensemble, keyed by shape; each group keeps its input order."""
    groups: dict[str, list[PointSpec]] = {}
    for p in points:
        groups.setdefault(p.shape_key, []).append(p)
    return groups


def train_flops(D: int, L: int, M: int, n_samples: int, steps: int, members: int = 1) -> float:
    """Matmul FLOPs of training `members` networks: per layer and step, 2 forward and 4 backward
    products of N x D x M (2 FLOPs each), plus one more forward pass for the final loss and two
    for the diagnostics at the end."""
    per_pass = 2.0 * 2 * n_samples * D * M * L  # forward: two (N,D)x(D,M)-sized products a layer
    return members * (per_pass * 3 * steps + per_pass * 3)


def point_flops(point: PointSpec) -> float:
    """FLOPs to compute one point with all its seeds (its share of a reference excluded)."""
    s = point.settings
    return train_flops(point.D, point.L, point.M, s.n_samples, s.steps, s.seeds)


def reference_flops(points: Sequence[PointSpec]) -> float:
    """FLOPs of the references these points need, each distinct one counted once."""
    seen: set[tuple[float, int, str]] = set()
    total = 0.0
    for p in points:
        ref = p.settings.reference
        if ref is None:
            continue
        key = (p.alpha, p.D, json.dumps([p.settings.reference_fields(), ref.model_dump()], sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        total += train_flops(p.D, ref.L, ref.M, p.settings.n_samples, p.settings.steps, ref.seeds)
    return total
