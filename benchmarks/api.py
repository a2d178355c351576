"""Benchmark: the API's read paths over a large sweep, and submitting a 20,000-point sweep.

    python -m benchmarks.api [--points 100000] [--backends sqlite,postgres] [--repeats 30] [--json]

Per backend (SQLite: a file in a temporary directory; PostgreSQL: a scratch database
`resphase_bench_<hex>` created through the admin URL and dropped at the end):

1. Fill. One sweep whose grid (alpha x L x D x M, 100 x 100 x 5 x 2 for 100,000) expands to at
   most `--points` points is created with `backend.store.sweeps.create_sweep`, its points are claimed with
   `backend.store.points.claim` and finished with `backend.store.points.record`, chunk by chunk,
   with synthetic `PointOutcome`s (plausible random metrics that follow the scaling laws of
   docs/science.md; a few points diverge). No training. PostgreSQL is then VACUUM ANALYZEd, the
   state autovacuum would reach; SQLite is left as the app leaves it (no ANALYZE).
2. Serve. The real app, `backend.main.create_app(Settings(), run_reaper=False)`, runs in a
   uvicorn subprocess on a free loopback port (HTTP/1.1 over TCP; one server process, the
   benchmark is its only client and uses one keep-alive httpx connection).
3. Time, after one untimed warm-up request each: phase slices (the n x n alpha x L slice with
   seed means and with seed medians, and smaller slices), point listings (first page, pages deep
   in the cursor chain, a status-filtered page, a walk over every page) and the whole-sweep CSV
   export (streamed; rows/s). Each request's time runs from sending it to having read the whole
   body; p50 and p95 are over `--repeats` requests (fewer for the walk and the export).
4. Submit. POST /api/v1/sweeps with a new `--submit-points` sweep (all points new: a fresh
   problem seed each time), which commits the points and then sends one task per shape to
   Celery's filesystem broker in the server's data directory (no worker consumes them).

Everything created (database, files, server process) is removed at the end, also on error.
Progress goes to stderr; the report (a table, or JSON with --json) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import text

from backend.grid import AXES, GridSpec, PointSpec, RunSettings, SweepSpec, expand, expanded_axes
from backend.main import create_app
from backend.metrics import METRIC_NAMES
from backend.results import PointOutcome, Provenance, SeedRun
from backend.settings import Limits, Settings
from backend.store import Database
from backend.store.points import claim, record
from backend.store.sweeps import create_sweep

ROOT = Path(__file__).resolve().parents[1]
API = "/api/v1"
PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"

# Targets this benchmark checks (see docs/benchmarks.md, section "API").
TARGET_PHASE_P95_MS = 300.0  # every seed-mean phase slice, p95, each backend
TARGET_SUBMIT_S = 3.0  # POST /sweeps of a 20,000-point sweep, worst of the repeats

D_VALUES = (8.0, 16.0, 32.0, 64.0, 128.0)
M_VALUES = (16.0, 64.0)
FILL_CHUNK = 5000  # points claimed and recorded per transaction
OWNER = "benchmarks.api"


def app_factory() -> FastAPI:
    """The app the uvicorn subprocess serves: settings from RESPHASE_* variables, no reaper."""
    return create_app(Settings(), run_reaper=False)


# --------------------------------------------------------------------------------------------- grids


def geom(start: float, stop: float, num: int) -> list[float]:
    """num log-spaced values from start to stop, both included."""
    if num == 1:
        return [start]
    step = (math.log(stop) - math.log(start)) / (num - 1)
    return [math.exp(math.log(start) + i * step) for i in range(num)]


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
    return geom(0.05, 200.0, n_alpha), [float(2 * i) for i in range(1, n_l + 1)]


def fill_spec(points: int, problem_seed: int) -> SweepSpec:
    """The big sweep: alpha x L x D (5) x M (2), default settings (4 seeds, 10 steps)."""
    alphas, ls = _grid(points)
    grid = GridSpec(alpha=alphas, L=ls, D=list(D_VALUES), M=list(M_VALUES))
    return SweepSpec(name=f"benchmarks.api fill {len(alphas)}x{len(ls)}x5x2", grid=grid,
                     settings=RunSettings(problem_seed=problem_seed))


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


def fill(db: Database, points: int, rng: random.Random, progress: Callable[[str], None]) -> FillReport:
    """One sweep of about `points` points, every point finished with a synthetic result."""
    spec = fill_spec(points, problem_seed=rng.randrange(2**31))
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


# ------------------------------------------------------------------------------------------ backends


@contextlib.contextmanager
def scratch_database(backend: str, workdir: Path, pg_admin: str) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database, removed afterwards."""
    if backend == "sqlite":
        path = workdir / "bench.sqlite3"
        yield f"sqlite:///{path}"
        return
    name = f"resphase_bench_{uuid.uuid4().hex[:10]}"
    _admin(pg_admin, f'CREATE DATABASE "{name}"')
    try:
        base = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        _admin(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(pg_admin: str, statement: str) -> None:
    """One statement outside a transaction (CREATE / DROP DATABASE), on a connection of its own."""
    with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement)


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_env(url: str, data_dir: Path) -> dict[str, str]:
    """The environment of the server: this database and data directory, the filesystem broker, no token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    env.update(RESPHASE_DATABASE_URL=url, RESPHASE_DATA_DIR=str(data_dir), RESPHASE_BROKER_URL="",
               RESPHASE_API_TOKEN="", RESPHASE_CACHE_DIR=str(data_dir / "cache"), PYTHONUNBUFFERED="1")
    return env


def _wait_http(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Until the server answers GET /meta; its log in the error when it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}{API}/meta", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the API server did not answer within {timeout} s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def api_server(url: str, data_dir: Path) -> Iterator[str]:
    """The app in a uvicorn subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    log = data_dir / "server.log"
    cmd = [sys.executable, "-m", "uvicorn", "benchmarks.api:app_factory", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_server_env(url, data_dir), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


# -------------------------------------------------------------------------------------------- driver


@dataclass
class Options:
    """The command line, parsed."""

    points: int
    backends: list[str]
    repeats: int
    export_repeats: int
    submit_points: int
    submit_repeats: int
    seed: int
    pg_admin: str
    as_json: bool


def run_backend(backend: str, opts: Options, progress: Callable[[str], None]) -> dict[str, Any]:
    """Fill, serve and time one backend; everything it made is gone when it returns."""
    rng = random.Random(opts.seed)
    workdir = Path(tempfile.mkdtemp(prefix=f"resphase-bench-{backend}-"))
    try:
        with scratch_database(backend, workdir, opts.pg_admin) as url:
            db = Database.connect(url)
            try:
                progress(f"[{backend}] filling ~{opts.points} points")
                filled = fill(db, opts.points, rng, progress)
            finally:
                db.dispose()
            ops = serve_and_time(url, workdir / "data", filled, opts, rng, progress, backend)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    fill_doc = {"points": filled.points, "create_s": filled.create_s, "results_s": filled.results_s,
                "analyze_s": filled.analyze_s, "total_s": filled.total_s,
                "axes": {a: len(v) for a, v in filled.axes.items()}}
    return {"backend": backend, "fill": fill_doc, "operations": [op.summary() for op in ops]}


def serve_and_time(url: str, data_dir: Path, filled: FillReport, opts: Options, rng: random.Random,
                   progress: Callable[[str], None], backend: str) -> list[Op]:
    """Start the server on the filled database and time every operation through it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with api_server(url, data_dir) as base, httpx.Client(base_url=base, timeout=600) as client:
        progress(f"[{backend}] phase slices")
        ops = time_phase(client, filled.sweep_id, filled.axes, opts.repeats)
        progress(f"[{backend}] point listings")
        ops += time_points(client, filled.sweep_id, filled.points, opts.repeats)
        progress(f"[{backend}] CSV export")
        ops.append(time_export(client, filled.sweep_id, opts.export_repeats))
        progress(f"[{backend}] submit")
        ops.append(time_submit(client, opts.submit_points, opts.submit_repeats, rng))
    return ops


def machine_info() -> dict[str, Any]:
    """CPUs, memory, platform and load average of this machine."""
    mem = None
    with contextlib.suppress(OSError, ValueError):
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu_count": os.cpu_count(), "memory_gib": mem, "platform": platform.platform(),
            "python": platform.python_version(), "processor": platform.processor() or platform.machine(),
            "loadavg_start": _loadavg()}


def _loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes share the cores)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def targets(results: list[dict[str, Any]], submit_points: int) -> dict[str, Any]:
    """Per backend: the worst seed-mean phase p95 and the slowest submit, against their targets."""
    out: dict[str, Any] = {"phase_p95_ms": {"target": TARGET_PHASE_P95_MS, "backends": {}},
                           "submit_s": {"target": TARGET_SUBMIT_S, "points": submit_points, "backends": {}}}
    for res in results:
        ops = res["operations"]
        phase = max(o["p95_ms"] for o in ops if o["group"] == "phase" and o["agg"] == "mean")
        submit = max(o["max_ms"] for o in ops if o["group"] == "submit") / 1000.0
        out["phase_p95_ms"]["backends"][res["backend"]] = {"value": phase, "met": phase < TARGET_PHASE_P95_MS}
        out["submit_s"]["backends"][res["backend"]] = {"value": submit, "met": submit < TARGET_SUBMIT_S}
    return out


def run_benchmark(opts: Options, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every backend in turn; the JSON report."""
    started = datetime.datetime.now(datetime.UTC)
    machine = machine_info()
    results = [run_backend(b, opts, progress) for b in opts.backends]
    machine["loadavg_end"] = _loadavg()
    opts_doc = {k: v for k, v in asdict(opts).items() if k not in ("pg_admin", "as_json")}
    return {"date": started.isoformat(timespec="seconds"), "machine": machine,
            "command": " ".join(["python -m benchmarks.api", *sys.argv[1:]]), "options": opts_doc,
            "transport": "uvicorn subprocess on a loopback port, HTTP/1.1, one keep-alive httpx client",
            "results": results, "targets": targets(results, opts.submit_points)}


def format_report(report: dict[str, Any]) -> str:
    """The report as a table per backend and a line per target."""
    m = report["machine"]
    lines = [f"{report['date']}  {m['cpu_count']} CPUs, {m['memory_gib']:.0f} GiB, {m['platform']}, "
             f"load average {m['loadavg_start']} at the start, {m['loadavg_end']} at the end",
             f"transport: {report['transport']}", ""]
    for res in report["results"]:
        f = res["fill"]
        lines.append(f"== {res['backend']}: {f['points']} points ({f['axes']}), filled in {f['total_s']:.1f} s "
                     f"(create {f['create_s']:.1f} s, results {f['results_s']:.1f} s, analyze {f['analyze_s']:.1f} s)")
        lines.append(f"  {'operation':<60} {'n':>3} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'rows/s':>9}")
        for o in res["operations"]:
            rps = f"{o['rows_per_s']:9.0f}" if "rows_per_s" in o else ""
            lines.append(f"  {o['group'] + ': ' + o['name']:<60} {o['repeats']:>3} {o['p50_ms']:9.1f} "
                         f"{o['p95_ms']:9.1f} {o['max_ms']:9.1f} {rps:>9}")
        lines.append("")
    labels = {"phase_p95_ms": "phase slice p95 (seed means), ms", "submit_s": "POST /sweeps, slowest, s"}
    for key, t in report["targets"].items():
        for backend, v in t["backends"].items():
            lines.append(f"target {labels[key]} < {t['target']:g}: {backend} {v['value']:.3g} -> "
                         f"{'met' if v['met'] else 'MISSED'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> Options:
    """Options from the command line (argparse errors exit with status 2)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__.split("\n")[0])
    p.add_argument("--points", type=int, default=100_000, help="points in the filled sweep (about)")
    p.add_argument("--backends", default="sqlite,postgres", help="comma list of sqlite, postgres")
    p.add_argument("--repeats", type=int, default=30, help="timed requests per phase / page operation")
    p.add_argument("--export-repeats", type=int, default=3, help="timed whole-sweep CSV exports")
    p.add_argument("--submit-points", type=int, default=20_000, help="points of each POST /sweeps")
    p.add_argument("--submit-repeats", type=int, default=3, help="timed POST /sweeps")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic results")
    p.add_argument("--pg-admin", default=os.environ.get("RESPHASE_TEST_POSTGRES_ADMIN", PG_ADMIN_DEFAULT),
                   help="PostgreSQL URL allowed to CREATE/DROP DATABASE (default $RESPHASE_TEST_POSTGRES_ADMIN "
                        f"or {PG_ADMIN_DEFAULT})")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args(argv)
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        p.error(f"--backends: {a.backends!r} is not a comma list of sqlite, postgres")
    for name in ("points", "repeats", "export_repeats", "submit_points", "submit_repeats"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return Options(a.points, backends, a.repeats, a.export_repeats, a.submit_points, a.submit_repeats, a.seed,
                   a.pg_admin, a.json)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; progress on stderr, the report on stdout."""
    opts = parse_args(argv)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    report = run_benchmark(opts, progress)
    print(json.dumps(report, indent=1) if opts.as_json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
