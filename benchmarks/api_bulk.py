"""The API benchmark's large database (`--db-points N`): N more finished points, in other sweeps
of 10,000 (alpha 100 x L 100, one D each), with results, written by bulk Core inserts in
chunks (executemany; ids assigned here), not through claim and record: 1,000,000 points take
minutes rather than hours. What the slices of the timed sweeps then meet is a point, link and
result table a hundred times their size.

The rows are what the store would hold (status done, a result with every typed column and a
seeds document) but share one synthetic result per chunk, and their content hashes are
synthetic (unique, never a real point's): no read the benchmark times depends on either."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, insert, select, text

from backend.grid import GeomRange, GridSpec, PointSpec, RunSettings, SweepSpec, axis_values
from backend.store import Database
from backend.store.sweeps import link_points
from backend.store.tables import Point, Sweep, result_table, utcnow
from benchmarks.api_fill import synthetic_outcome

SIDE = 100  # alpha and L values of each bulk sweep
CHUNK = 10_000  # rows per executemany (one sweep's points)


def _sweep(k: int) -> tuple[SweepSpec, dict[str, list[float]]]:
    """Bulk sweep k and its axes: alpha 100 x L 100 at D = 8 + k (every sweep its own points)."""
    axes = {"alpha": axis_values("alpha", GeomRange(geom=(0.05, 200.0, SIDE))),
            "D": [float(8 + k)], "L": [float(2 * i) for i in range(1, SIDE + 1)], "M": [16.0]}
    spec = SweepSpec(name=f"benchmarks.api bulk {k}", grid=GridSpec(**axes), settings=RunSettings(seeds=2, steps=2))
    return spec, axes


def _rows(spec: SweepSpec, axes: dict[str, list[float]], first_id: int, count: int, rng: random.Random,
          prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(point rows, result rows) of the first `count` points of the sweep's grid, ids from first_id."""
    settings_doc = spec.settings.model_dump(mode="json")
    D, M = int(axes["D"][0]), int(axes["M"][0])
    alphas, ls = axes["alpha"], [int(v) for v in axes["L"]]
    template = synthetic_outcome(PointSpec(alphas[0], D, ls[0], M, spec.settings), rng).result_row()
    now = utcnow()
    points, results = [], []
    for n in range(count):
        pid, alpha, L = first_id + n, alphas[n % SIDE], ls[(n // SIDE) % SIDE]
        points.append({"id": pid, "content_hash": f"{prefix}{pid:012d}", "shape_key": f"{prefix}{D}-{L}-{M}",
                       "alpha": alpha, "D": D, "L": L, "M": M, "settings": settings_doc, "estimated_flops": 1.0,
                       "status": "done", "attempts": 1, "queued_at": now, "dispatched_at": now, "started_at": now,
                       "finished_at": now, "worker_host": "benchmark-host", "device": "cpu", "revision": 2})
        results.append({**template, "point_id": pid, "created_at": now})
    return points, results


def bulk_fill(db: Database, n_points: int, rng: random.Random, progress: Callable[[str], None]) -> float:
    """`n_points` finished points in sweeps of SIDE x SIDE (the last one smaller); seconds taken."""
    t0 = time.perf_counter()
    prefix = f"bulk{rng.randrange(16**6):06x}-"
    with db.read_session() as s:
        next_id = (s.scalar(select(func.max(Point.id))) or 0) + 1
    done, k = 0, 0
    while done < n_points:
        (spec, axes), count = _sweep(k), min(SIDE * SIDE, n_points - done)
        with db.session() as s:
            sweep = Sweep(name=spec.name, spec=spec.model_dump(mode="json"), axes=axes,
                          settings=spec.settings.model_dump(mode="json"), n_points=count)
            s.add(sweep)
            s.flush()
            for start in range(0, count, CHUNK):
                part = min(CHUNK, count - start)
                points, results = _rows(spec, axes, next_id + start, part, rng, prefix)
                s.execute(insert(Point), points)
                s.execute(result_table.insert(), results)
                link_points(s, sweep.id, [p["id"] for p in points])  # one statement on PostgreSQL
        next_id, done, k = next_id + count, done + count, k + 1
        if k % 10 == 0 or done == n_points:
            progress(f"  bulk: {done} points in {k} sweeps, {time.perf_counter() - t0:.0f} s")
    if not db.is_sqlite:  # the sequence past the ids assigned here, then the statistics autovacuum would reach
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('point', 'id'), (SELECT max(id) FROM point))"))
            conn.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0
