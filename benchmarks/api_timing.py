"""The API benchmark's timed operations, each over one keep-alive httpx client: phase slices,
point listings (pages and the whole cursor walk), the streamed CSV export and POST /sweeps.
Each request's time runs from sending it to having read the whole body."""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from backend.grid import AXES
from benchmarks.api_fill import submit_body

API = "/api/v1"


# -------------------------------------------------------------------------------------------- timing


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty sample."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Op:
    """One timed operation: its samples in seconds and what one response held."""

    group: str  # phase | points | export | submit
    name: str
    request: str
    samples_s: list[float]
    bytes: int = 0
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Percentiles and extremes in ms, with what one response held (and rows/s for whole-sweep reads)."""
        ms = [t * 1000.0 for t in self.samples_s]
        out: dict[str, Any] = {"group": self.group, "name": self.name, "request": self.request,
                               "repeats": len(ms), "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                               "min_ms": min(ms), "max_ms": max(ms), "mean_ms": statistics.fmean(ms),
                               "bytes": self.bytes, "rows": self.rows}
        out.update(self.extra)
        if self.group == "export" or "pages" in out:  # throughput of the whole-sweep reads
            out["rows_per_s"] = self.rows / (out["p50_ms"] / 1000.0)
        return out


def timed_get(client: httpx.Client, path: str) -> tuple[float, httpx.Response]:
    """(seconds from sending the request to having read the whole body, the response); 200 or raise."""
    t0 = time.perf_counter()
    resp = client.get(path)
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.text[:500]}")
    return elapsed, resp


def time_get(client: httpx.Client, group: str, name: str, path: str, repeats: int,
             rows: Callable[[httpx.Response], int] = lambda r: 0) -> Op:
    """Warm up once, then `repeats` timed GETs of `path`."""
    _, resp = timed_get(client, path)
    samples = [timed_get(client, path)[0] for _ in range(repeats)]
    return Op(group, name, f"GET {path}", samples, len(resp.content), rows(resp))


# -------------------------------------------------------------------------------------------- phase


def _fmt(v: float) -> str:
    """An axis value for a `fixed` parameter: integers plainly, other floats in full (repr)."""
    return f"{v:g}" if v == int(v) and abs(v) < 1e15 else repr(v)


def phase_cases(axes: dict[str, list[float]]) -> list[tuple[str, dict[str, str]]]:
    """(name, query) of the phase slices: the big alpha x L one (mean and median) and small ones."""
    mid = {a: axes[a][len(axes[a]) // 2] for a in AXES}
    n = {a: len(axes[a]) for a in AXES}

    def fixed(*names: str) -> str:
        return ",".join(f"{a}:{_fmt(mid[a])}" for a in names)

    big = {"x": "alpha", "y": "L", "metric": "feature_update", "fixed": fixed("D", "M")}
    return [
        (f"alpha x L {n['alpha']}x{n['L']}, mean", big),
        (f"alpha x L {n['alpha']}x{n['L']}, median of seeds", {**big, "agg": "median"}),
        (f"alpha x D {n['alpha']}x{n['D']}, mean", {"x": "alpha", "y": "D", "metric": "laziness",
                                                     "fixed": fixed("L", "M")}),
        (f"L x M {n['L']}x{n['M']}, mean", {"x": "L", "y": "M", "metric": "init_deviation",
                                             "fixed": fixed("alpha", "D")}),
        (f"D x M {n['D']}x{n['M']}, mean", {"x": "D", "y": "M", "metric": "loss_final",
                                             "fixed": fixed("alpha", "L")}),
    ]


def _cells(resp: httpx.Response) -> int:
    """Cells of a phase response that hold a point (computed or not)."""
    body = resp.json()
    return sum(1 for row in body["status"] for st in row if st != "missing")


def time_phase(client: httpx.Client, sweep_id: int, axes: dict[str, list[float]], repeats: int) -> list[Op]:
    """Every case of phase_cases; `rows` counts the computed cells of one response."""
    ops = []
    for name, query in phase_cases(axes):
        path = f"{API}/sweeps/{sweep_id}/phase?" + "&".join(f"{k}={v}" for k, v in query.items())
        op = time_get(client, "phase", name, path, repeats, _cells)
        op.extra["agg"] = query.get("agg", "mean")
        ops.append(op)
    return ops


# ------------------------------------------------------------------------------------------- points


def walk_pages(client: httpx.Client, sweep_id: int, limit: int) -> tuple[float, list[str], int]:
    """Every page of the listing: (seconds, the cursors met in order, items seen). The time
    includes parsing each page's JSON, which the next request needs (its cursor)."""
    cursors: list[str] = []
    seen = 0
    cursor: str | None = None
    t0 = time.perf_counter()
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        _, resp = timed_get(client, f"{API}/sweeps/{sweep_id}/points?{query}")
        page = resp.json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return time.perf_counter() - t0, cursors, seen
        cursors.append(cursor)


def time_points(client: httpx.Client, sweep_id: int, n_points: int, repeats: int) -> list[Op]:
    """First page, deep pages (half-way and last cursor), a status filter, then the whole walk."""
    walk_limit = min(1000, max(1, n_points // 10))
    walks = [walk_pages(client, sweep_id, walk_limit) for _ in range(max(1, min(3, repeats)))]
    _, cursors, seen = walks[0]
    if seen != n_points:
        raise RuntimeError(f"the listing walked {seen} points of {n_points}")
    base = f"{API}/sweeps/{sweep_id}/points"

    def items(resp: httpx.Response) -> int:
        return len(resp.json()["items"])

    ops = [time_get(client, "points", "first page, limit=100", f"{base}?limit=100", repeats, items)]
    if cursors:
        half, last = cursors[len(cursors) // 2], cursors[-1]
        at_half = walk_limit * (len(cursors) // 2 + 1)
        at_last = walk_limit * len(cursors)
        ops.append(time_get(client, "points", f"deep page after {at_half}, limit=100",
                            f"{base}?limit=100&cursor={half}", repeats, items))
        ops.append(time_get(client, "points", f"deep page after {at_last}, limit=100",
                            f"{base}?limit=100&cursor={last}", repeats, items))
    ops.append(time_get(client, "points", "status=diverged, limit=100", f"{base}?status=diverged&limit=100",
                        repeats, items))
    ops.append(Op("points", f"walk all {len(cursors) + 1} pages, limit={walk_limit}",
                  f"GET {base}?limit={walk_limit}&cursor=... until next_cursor is null", [w[0] for w in walks],
                  rows=seen, extra={"pages": len(cursors) + 1}))
    return ops


# ------------------------------------------------------------------------------------------- export


def timed_export(client: httpx.Client, path: str) -> tuple[float, int, int]:
    """(seconds, data rows, bytes) of one streamed CSV export."""
    lines = size = 0
    t0 = time.perf_counter()
    with client.stream("GET", path) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"GET {path} -> {resp.status_code}")
        for chunk in resp.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return time.perf_counter() - t0, lines - 1, size


def time_export(client: httpx.Client, sweep_id: int, repeats: int) -> Op:
    """`repeats` whole-sweep CSV exports (no warm-up: each reads the whole sweep anyway)."""
    path = f"{API}/sweeps/{sweep_id}/export?format=csv"
    runs = [timed_export(client, path) for _ in range(repeats)]
    return Op("export", "CSV, whole sweep", f"GET {path}", [r[0] for r in runs], runs[0][2], runs[0][1])


# ------------------------------------------------------------------------------------------- submit


def time_submit(client: httpx.Client, points: int, repeats: int, rng: random.Random) -> Op:
    """POST /sweeps of a new sweep, `repeats` times (each one new points)."""
    samples: list[float] = []
    n_points = shapes = 0
    for _ in range(repeats):
        body = submit_body(points, rng.randrange(2**31))
        t0 = time.perf_counter()
        resp = client.post(f"{API}/sweeps", json=body)
        samples.append(time.perf_counter() - t0)
        if resp.status_code != 201:
            raise RuntimeError(f"POST /sweeps -> {resp.status_code}: {resp.text[:500]}")
        summary = resp.json()
        n_points = summary["n_points"]
        shapes = math.prod(len(summary["axes"][a]) for a in ("D", "L", "M"))
        if summary["n_reused"] != 0 or summary["counts"]["queued"] != n_points:
            raise RuntimeError(f"the submitted sweep was not all new points: {summary}")
    return Op("submit", f"POST a {n_points}-point sweep ({shapes} shapes = tasks)", f"POST {API}/sweeps",
              samples, rows=n_points, extra={"points": n_points, "tasks": shapes})
