"""`resphase.run`: compute a small grid in this process, no server and no database.

The engine (torch, worker/) is imported inside `compute`, when it is called, never when resphase
is imported. `compute` is the one in-process code path: `resphase run` drives the engine the same
way (device, reference cache, compute_points)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.grid import PointSpec, SweepSpec, check_limits, expand, expanded_axes
from backend.results import PointOutcome
from backend.settings import get_settings
from resphase.sweep import LocalSweep


class DeviceError(ValueError):
    """A device this machine does not have (or a spec that names none)."""


def check_device(device: str) -> None:
    """Raise DeviceError unless this machine has `device` (imports torch)."""
    from worker.engine import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise DeviceError(str(exc)) from exc


def compute(points: Sequence[PointSpec], device: str = "auto", cache_dir: Path | None = None,
            on_point: Callable[[PointOutcome], None] | None = None) -> list[PointOutcome]:
    """Outcomes of `points` in their order, computed here on `device` (auto | cpu | cuda[:N] | mps);
    references are cached in `cache_dir` (default $RESPHASE_CACHE_DIR or ~/.cache/resphase)."""
    from worker.engine import compute_points, resolve_device
    from worker.reference import MemoryDiskReferenceStore

    try:
        torch_device = resolve_device(device)
    except ValueError as exc:
        raise DeviceError(str(exc)) from exc
    store = MemoryDiskReferenceStore(get_settings().resolved_cache_dir if cache_dir is None else Path(cache_dir))
    return compute_points(points, torch_device, store, on_point=on_point)


def spec_of(spec: SweepSpec | dict[str, Any] | None, kwargs: dict[str, Any]) -> SweepSpec:
    """A sweep spec from a spec (dict or SweepSpec) or from keywords: the axes alpha, D, L, M
    (a list, one value, or {"geom": [lo, hi, n]}), `name`, and any RunSettings field."""
    if spec is not None:
        if kwargs:
            raise TypeError(f"give a spec or keywords, not both (got {', '.join(sorted(kwargs))})")
        return spec if isinstance(spec, SweepSpec) else SweepSpec.model_validate(spec)
    grid: dict[str, Any] = {}
    for axis in ("alpha", "D", "L", "M"):
        if axis not in kwargs:
            raise TypeError(f"missing axis {axis!r} (alpha, D, L and M are required)")
        value = kwargs.pop(axis)
        grid[axis] = value if isinstance(value, list | tuple | dict) else [value]
    name = kwargs.pop("name", "local")
    return SweepSpec.model_validate({"name": name, "grid": grid, "settings": kwargs})


def run(spec: SweepSpec | dict[str, Any] | None = None, *, device: str = "auto", cache_dir: Path | None = None,
        progress: bool | None = True, **kwargs: Any) -> LocalSweep:
    """Compute a sweep in this process and return it as a LocalSweep (to_pandas, to_xarray).

        resphase.run(alpha=[0.5, 1, 2], D=8, L=[2, 4], M=8, seeds=2, steps=5)
        resphase.run({"name": "x", "grid": {...}, "settings": {...}})

    The configured limits apply (ValueError naming the limit); invalid settings raise pydantic's
    ValidationError (a ValueError)."""
    from tqdm.auto import tqdm

    sweep_spec = spec_of(spec, dict(kwargs))
    limits = get_settings().limits
    violations = check_limits(sweep_spec, limits)
    if violations:
        raise ValueError(violations[0].message)
    points = expand(sweep_spec, limits)
    with tqdm(total=len(points), desc=sweep_spec.name, unit="pt",
              disable=None if progress is None else not progress) as bar:
        outcomes = compute(points, device, cache_dir, on_point=lambda _o: bar.update(1))
    rows = [row for o in outcomes for row in o.tidy_rows()]
    return LocalSweep(sweep_spec.name, expanded_axes(sweep_spec.grid, limits),
                      sweep_spec.settings.model_dump(mode="json"), rows)
