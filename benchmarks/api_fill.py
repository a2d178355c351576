"""The API benchmark's data: the filled sweep's grid, synthetic results that follow the scaling
laws of docs/science.md, and filling a database with them through the store's own functions
(create_sweep, claim, record) as the API and a worker would. No training."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from backend.grid import GeomRange, GridSpec, PointSpec, RunSettings, SweepSpec, axis_values, expand, expanded_axes
from backend.metrics import METRIC_NAMES
from backend.results import PointOutcome, Provenance, SeedRun
from backend.settings import Limits
from backend.store import Database
from backend.store.points import claim, record
from backend.store.sweeps import create_sweep

D_VALUES = (8.0, 16.0, 32.0, 64.0, 128.0)
M_VALUES = (16.0, 64.0)
FILL_CHUNK = 5000  # points claimed and recorded per transaction
OWNER = "benchmarks.api"


# --------------------------------------------------------------------------------------------- grids


def sides_for(points: int) -> tuple[int, int]:
    """(values on alpha, values on L) so that alpha x L x |D| x |M| is at most `points` and as
    close as possible, the two sides as equal as possible (100,000 -> 100 x 100, 20,000 -> 40 x 50)."""
    cells = max(4, points // (len(D_VALUES) * len(M_VALUES)))
    root = math.isqrt(cells)
    for a in range(root, max(root // 2, 1), -1):
        if cells % a == 0:
            return a, cells // a
    return root, cells // root


def _grid(points: int) -> tuple[list[float], list[float]]:
    """The alpha values (log-spaced, 0.05 to 200) and L values (2, 4, ...) of a sweep of `points`."""
    n_alpha, n_l = sides_for(points)
    return axis_values("alpha", GeomRange(geom=(0.05, 200.0, n_alpha))), [float(2 * i) for i in range(1, n_l + 1)]


def fill_spec(points: int, problem_seed: int) -> SweepSpec:
    """The big sweep: alpha x L x D (5) x M (2), default settings (4 seeds, 10 steps)."""
    alphas, ls = _grid(points)
    grid = GridSpec(alpha=alphas, L=ls, D=list(D_VALUES), M=list(M_VALUES))
    return SweepSpec(name=f"benchmarks.api fill {len(alphas)}x{len(ls)}x5x2", grid=grid,
                     settings=RunSettings(problem_seed=problem_seed))


def square_spec(points: int, problem_seed: int) -> SweepSpec:
    """Issue 14's sweep: alpha x L, n x n with n = isqrt(points) (10,000 -> 100 x 100), one D, one M."""
    n = max(2, math.isqrt(points))
    grid = GridSpec(alpha=axis_values("alpha", GeomRange(geom=(0.05, 200.0, n))),
                    L=[float(2 * i) for i in range(1, n + 1)], D=[32.0], M=[64.0])
    return SweepSpec(name=f"benchmarks.api square {n}x{n}", grid=grid, settings=RunSettings(problem_seed=problem_seed))


def submit_body(points: int, problem_seed: int) -> dict[str, Any]:
    """A POST /sweeps body of at most `points` points (alpha x L x D x M), all of them new points
    thanks to the problem seed."""
    n_alpha, n_l = sides_for(points)
    grid = {"alpha": {"geom": [0.05, 200.0, n_alpha]}, "L": [2 * i for i in range(1, n_l + 1)],
            "D": list(D_VALUES), "M": list(M_VALUES)}
    return {"name": f"benchmarks.api submit {n_alpha}x{n_l}x5x2", "grid": grid,
            "settings": {"problem_seed": problem_seed}}


# ------------------------------------------------------------------------------------- synthetic data


def _noisy(rng: random.Random, value: float, sigma: float = 0.1) -> float:
    """`value` times a log-normal factor (about 10% spread)."""
    return value * math.exp(rng.gauss(0.0, sigma))


def synthetic_seed(point: PointSpec, unit_seed: int, rng: random.Random) -> SeedRun:
    """One seed's diagnostics following the scaling laws (lazy ~ 1/alpha, init deviation
    ~ 0.5 alpha sqrt(D/(LM))); at the smallest alphas (the largest steps) a seed blows up now and then."""
    a, D, L, M = point.alpha, point.D, point.L, point.M
    steps = point.settings.steps
    loss_init = _noisy(rng, 0.5)
    feat = _noisy(rng, 0.5 / max(1.0, a))
    init_dev = _noisy(rng, 0.5 * a * math.sqrt(D / (L * M)))
    diverged_at = rng.randint(1, steps) if a < 0.1 and rng.random() < 0.3 else None
    loss_final = 1e12 if diverged_at is not None else loss_init * (1.0 - 0.6 * min(feat, 1.0))
    metrics = {"loss_init": loss_init, "loss_final": loss_final, "feature_update": feat, "laziness": a * feat,
               "preact_change": _noisy(rng, feat * 0.8), "weight_change_rel": _noisy(rng, 0.3 / math.sqrt(D)),
               "init_deviation": init_dev, "rep_change": _noisy(rng, 0.6), "feature_update_rel": feat / 0.6,
               "err_out": math.nan, "err_emb": math.nan,  # no reference limit in these settings
               "err_out_floor": math.nan, "err_emb_floor": math.nan}
    curve = [loss_init + (loss_final - loss_init) * k / max(steps, 1) for k in range(steps + 1)]
    if diverged_at is not None:
        curve = [v if k <= diverged_at else math.nan for k, v in enumerate(curve)]
    assert set(metrics) == set(METRIC_NAMES)
    return SeedRun(unit_seed, metrics, curve, diverged_at)


def synthetic_outcome(point: PointSpec, rng: random.Random) -> PointOutcome:
    """All seeds of a point, as a worker would record them (synthetic provenance)."""
    seeds = [synthetic_seed(point, s, rng) for s in range(point.settings.seeds)]
    prov = Provenance("benchmark", "synthetic", "cpu", point.settings.dtype, "benchmarks.api")
    return PointOutcome(point, seeds, timing_s=_noisy(rng, 0.01), provenance=prov)


# ---------------------------------------------------------------------------------------------- fill


@dataclass
class FillReport:
    """The filled sweep and how long filling took (create, results, ANALYZE)."""

    sweep_id: int
    points: int
    axes: dict[str, list[float]]
    create_s: float
    results_s: float
    analyze_s: float

    @property
    def total_s(self) -> float:
        """Seconds to fill, all steps."""
        return self.create_s + self.results_s + self.analyze_s


def _record_chunk(db: Database, ids: Sequence[int], settings: RunSettings, rng: random.Random) -> int:
    """Claim `ids` in one transaction and record synthetic results for them in another, as a
    worker does."""
    with db.session() as s:
        points = [(p.id, PointSpec(p.alpha, p.D, p.L, p.M, settings))
                  for p in claim(s, ids, OWNER, "benchmark-host", "cpu", 3600.0, 3)]
    outcomes = [(pid, synthetic_outcome(spec, rng)) for pid, spec in points]
    with db.session() as s:
        return len(record(s, outcomes, OWNER))


def fill(db: Database, points: int, rng: random.Random, progress: Callable[[str], None],
         spec: SweepSpec | None = None) -> FillReport:
    """One sweep of about `points` points (`fill_spec`, or `spec`), every point finished with a
    synthetic result."""
    spec = spec or fill_spec(points, problem_seed=rng.randrange(2**31))
    limits = Limits(max_points_per_sweep=max(points * 2, 20_000))
    expanded, axes = expand(spec, limits), expanded_axes(spec.grid, limits)
    t0 = time.perf_counter()
    with db.session() as s:
        created = create_sweep(s, spec, expanded, axes)
    t1 = time.perf_counter()
    progress(f"  created sweep {created.sweep_id}: {created.n_points} points in {t1 - t0:.1f} s")
    ids = sorted(i for batch in created.batches for i in batch)
    written = 0
    for start in range(0, len(ids), FILL_CHUNK):
        written += _record_chunk(db, ids[start:start + FILL_CHUNK], spec.settings, rng)
    t2 = time.perf_counter()
    progress(f"  recorded {written} results in {t2 - t1:.1f} s")
    if written != len(ids):
        raise RuntimeError(f"recorded {written} results for {len(ids)} points")
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    t3 = time.perf_counter()
    return FillReport(created.sweep_id, created.n_points, axes, t1 - t0, t2 - t1, t3 - t2)
