"""The points-table part of `python -m benchmarks.page`: a sweep of 20,000 points with synthetic
results (benchmarks.api_fill, through the store's own claim and record) in the server's SQLite
database, then

- server: GET /sweeps/{id}/table first pages (limit 50, as the page asks, and 100), sorted by
  err_out descending, unfiltered and filtered (status, regime-free range), timed from this
  process over HTTP (median of --reps after one warm-up);
- browser: the Table view of that sweep in Chromium: clicking the err_out header (a server sort of
  all 20,000 points) until the page's rows are in the DOM and painted (one animation frame), and
  the parallel coordinates of all 20,000 points (4 pages of 5,000, then the SVG draw).
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from backend.store import Database
from benchmarks.api_fill import fill

BUDGET_MS = 300.0
QUERIES: dict[str, dict[str, Any]] = {
    "first page of 50, sort err_out desc": {"sort": "err_out", "order": "desc", "limit": 50},
    "first page of 100, sort err_out desc": {"sort": "err_out", "order": "desc", "limit": 100},
    "filtered (done,diverged; feature_update 0.1-1), sort err_out desc": {
        "sort": "err_out", "order": "desc", "limit": 100, "status": "done,diverged", "where": "feature_update:0.1:1"},
}

# Click a header and wait for the table to be redrawn and painted; returns milliseconds.
CLICK_SORT = """async (key) => {
  const table = document.getElementById('points-table');
  const before = table.dataset.drawn;
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const t0 = performance.now();
  document.querySelector(`[data-testid="sort-${key}"]`).click();
  while (table.dataset.drawn === before) await frame();
  await frame();
  return performance.now() - t0;
}"""

PARCOORDS = """async () => {
  const m = await import('/js/parcoords.js');
  const t0 = performance.now();
  await m.refreshParcoords();
  await new Promise((r) => requestAnimationFrame(() => r()));
  return [performance.now() - t0, document.getElementById('parcoords').layout.meta.dims.length];
}"""


def fill_sweep(data_dir: Path, points: int) -> int:
    """Create the sweep in the data directory's database (before the server starts); its id."""
    db = Database.connect(f"sqlite:///{(data_dir / 'resphase.sqlite3').resolve()}")
    try:
        return fill(db, points, random.Random(11), lambda _msg: None).sweep_id
    finally:
        db.dispose()


def time_server(base: str, sweep_id: int, reps: int) -> dict[str, dict[str, float]]:
    out = {}
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        for name, params in QUERIES.items():
            client.get(f"/sweeps/{sweep_id}/table", params=params).raise_for_status()  # warm-up
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                r = client.get(f"/sweeps/{sweep_id}/table", params=params)
                times.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
            out[name] = {"median_ms": statistics.median(times), "max_ms": max(times), "total": r.json()["total"]}
    return out


def time_browser(page: Any, base: str, sweep_id: int, reps: int) -> dict[str, Any]:
    page.goto(f"{base}/?sweep={sweep_id}&tab=table")
    page.wait_for_selector("body[data-ready='1']", timeout=30000)
    page.wait_for_selector("#points-table tbody tr[data-id]", timeout=30000)
    sorts = []
    for _ in range(reps):  # every click flips the order: asc, desc, asc, ...
        sorts.append(page.evaluate(CLICK_SORT, "err_out"))
    parcoords_ms, dims = page.evaluate(PARCOORDS)
    return {"sort_click_median_ms": statistics.median(sorts), "sort_click_max_ms": max(sorts),
            "parcoords_ms": parcoords_ms, "parcoords_dims": dims}


def report(points: int, server: dict[str, dict[str, float]], browser: dict[str, Any]) -> list[str]:
    lines = [f"points table, {points:,} points (server time over HTTP, budget {BUDGET_MS:.0f} ms):"]
    lines += [f"  {name}: median {r['median_ms']:.1f} ms (max {r['max_ms']:.1f}, total {r['total']:,})"
              for name, r in server.items()]
    lines.append(f"  browser, sort by err_out (click to rows painted): median {browser['sort_click_median_ms']:.0f} ms "
                 f"(max {browser['sort_click_max_ms']:.0f})")
    lines.append(f"  browser, parallel coordinates of every point ({browser['parcoords_dims']} axes): "
                 f"{browser['parcoords_ms']:.0f} ms")
    return lines


def within_budget(server: dict[str, dict[str, float]], browser: dict[str, Any]) -> bool:
    return all(r["median_ms"] < BUDGET_MS for r in server.values()) and browser["sort_click_median_ms"] < BUDGET_MS
