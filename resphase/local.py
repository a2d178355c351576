"""`resphase.run`: compute a small grid in this process, no server and no database.

The engine (torch, worker/) is imported inside `compute`, when it is called, never when resphase
is imported. `compute` is the one in-process code path: `resphase run` drives the engine the same
way (device, reference cache, compute_points)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from backend.analysis.cells import from_rows
from backend.analysis.refinement import next_round
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


def compute_sweep(spec: SweepSpec, device: str = "auto", cache_dir: Path | None = None,
                  on_point: Callable[[PointOutcome], None] | None = None) -> list[PointOutcome]:
    """Outcomes of every point of `spec`, computed here: its design's points, then, when it refines,
    the points of each round, placed by the server's decision (backend.analysis.refinement.next_round)
    from the outcomes so far, until every line's crossing interval is within tol or max_points are
    spent. The same spec gives the same points here and on a server (seeded bootstrap)."""
    outcomes = compute(expand(spec, get_settings().limits), device, cache_dir, on_point)
    refinements = spec.refinements()
    added = [0] * len(refinements)  # points each refinement placed (its budget is max_points)
    active = set(range(len(refinements)))
    while active:
        # One round: each active refinement plans from the outcomes so far and the points the
        # earlier ones of this round placed (as on a server, where the second reads the first's
        # queued points), then every new point is computed at once.
        rows = [row for o in outcomes for row in o.tidy_rows()]
        placed: dict[tuple[float, int, int, int], PointSpec] = {}
        for i in sorted(active):
            r = refinements[i]
            pending = [{"alpha": p.alpha, "D": p.D, "L": p.L, "M": p.M, r.metric: None} for p in placed.values()]
            _, plan = next_round(from_rows(rows + pending, r.metric), r.threshold_value(), r.tol,
                                 r.max_points - added[i])
            new = [PointSpec(alpha=a, D=d, L=l_, M=m, settings=spec.settings)
                   for (d, l_, m), alphas in plan.new.items() for a in alphas]
            if not new:
                active.discard(i)
            added[i] += len(new)
            placed.update({(p.alpha, p.D, p.L, p.M): p for p in new})
        if placed:
            outcomes += compute(list(placed.values()), device, cache_dir, on_point)
    return outcomes


def refined_axes(spec: SweepSpec, outcomes: Sequence[PointOutcome]) -> dict[str, list[float]]:
    """The axes of a computed sweep: its design's, alpha grown by the alphas refinement added."""
    axes = expanded_axes(spec.grid, get_settings().limits)
    alphas = {o.point.alpha for o in outcomes}
    if spec.refine is not None:
        axes["alpha"] = sorted({*axes["alpha"], *alphas})
    return axes


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
    n_points = len(expand(sweep_spec, limits))
    with tqdm(total=n_points, desc=sweep_spec.name, unit="pt",
              disable=None if progress is None else not progress) as bar:
        def tick(_o: PointOutcome) -> None:
            if bar.n >= bar.total:  # refinement adds points: the bar grows with them
                bar.total += 1
            bar.update(1)

        outcomes = compute_sweep(sweep_spec, device, cache_dir, on_point=tick)
    rows = [row for o in outcomes for row in o.tidy_rows()]
    return LocalSweep(sweep_spec.name, refined_axes(sweep_spec, outcomes),
                      sweep_spec.settings.model_dump(mode="json"), rows)
