"""Benchmark: the API's read paths over a large sweep, and submitting a 20,000-point sweep.

    python -m benchmarks.api [--points 100000] [--backends sqlite,postgres] [--repeats 30]
        [--connections 8] [--load-seconds 10] [--list-sweeps 1000] [--square-points 10000]
        [--db-points 0] [--answer-cache-mb 64] [--json]

Per backend (SQLite: a file in a temporary directory; PostgreSQL: a scratch database
`resphase_bench_<hex>` created through the admin URL and dropped at the end):

1. Fill. One sweep whose grid (alpha x L x D x M, 100 x 100 x 5 x 2 for 100,000) expands to at
   most `--points` points is created with `backend.store.sweeps.create_sweep`, its points are claimed with
   `backend.store.points.claim` and finished with `backend.store.points.record`, chunk by chunk,
   with synthetic `PointOutcome`s (plausible random metrics that follow the scaling laws of
   docs/science.md; a few points diverge). No training. PostgreSQL is then VACUUM ANALYZEd, the
   state autovacuum would reach; SQLite is left as the app leaves it (no ANALYZE). A second
   sweep of `--square-points` (issue 14's case: alpha 100 x L 100, one D, one M) is filled the
   same way; with `--db-points N`, N more finished points in other sweeps are bulk-inserted
   (benchmarks.api_bulk), so the slices meet a database of that size.
2. Serve. The real app, `backend.main.create_app(Settings(), run_reaper=False)`, runs in a
   uvicorn subprocess on a free loopback port (HTTP/1.1 over TCP; one server process, the
   benchmark is its only client and uses one keep-alive httpx connection).
3. Time, after one untimed warm-up request each: phase slices (the n x n alpha x L slice with
   seed means and with seed medians, and smaller slices), point listings (first page, pages deep
   in the cursor chain, a status-filtered page, a walk over every page) and the whole-sweep CSV
   export (streamed; rows/s). Each request's time runs from sending it to having read the whole
   body; p50 and p95 are over `--repeats` requests (fewer for the walk and the export).
   Under load (benchmarks.api_load): `--connections` clients at once, each on its own keep-alive
   connection asking for gzip, repeat the big slice (means, then medians), the whole sweep's
   cells (GET /cells, what a derived-axis view reads), the square sweep's n x n slice (means and
   medians) and the sweep list for `--load-seconds`
   each; p50/p95 over every request of every client, and requests/s. The sweep list is also timed
   alone (limit 50 as the page polls it, and 500) over `--list-sweeps` stored sweeps (the filled
   one and one-point queued ones). Repeated reads of an unchanged sweep are what the server's
   answer cache serves (backend/api/answer_cache.py); `--answer-cache-mb 0` turns it off, so that
   every request computes its answer from the database.
4. Submit. POST /api/v1/sweeps with a new `--submit-points` sweep (all points new: a fresh
   problem seed each time), which commits the points and then sends one task per shape to
   Celery's filesystem broker in the server's data directory (no worker consumes them).

Everything created (database, files, server process) is removed at the end, also on error.
Progress goes to stderr; the report (a table, or JSON with --json) to stdout.

Modules: benchmarks.api_fill (the grid, synthetic results, filling), benchmarks.api_timing (the
timed operations), benchmarks.api_report (machine, targets, the table), benchmarks.api_backends
(the scratch databases, the server); this one: the driver and the command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from backend.store import Database
from benchmarks.api_backends import ANSWER_CACHE_MB, api_server, scratch_database
from benchmarks.api_bulk import bulk_fill
from benchmarks.api_fill import FillReport, fill, square_spec
from benchmarks.api_load import fill_sweeps, load, time_list
from benchmarks.api_report import format_report, loadavg, machine_info, targets
from benchmarks.api_timing import API, Op, phase_cases, time_export, time_phase, time_points, time_submit

PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


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
    connections: int = 8
    load_seconds: float = 10.0
    list_sweeps: int = 1000
    square_points: int = 10_000
    db_points: int = 0
    answer_cache_mb: float = ANSWER_CACHE_MB


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
                progress(f"[{backend}] filling the square sweep of ~{opts.square_points} points")
                spec = square_spec(opts.square_points, rng.randrange(2**31))
                square = fill(db, opts.square_points, rng, progress, spec)
                fill_sweeps(db, opts.list_sweeps - 2, progress)  # the two filled sweeps are of them
                bulk_s = bulk_fill(db, opts.db_points, rng, progress) if opts.db_points else 0.0
            finally:
                db.dispose()
            ops = serve_and_time(url, workdir / "data", filled, opts, rng, progress, backend, square)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    fill_doc = {"points": filled.points, "create_s": filled.create_s, "results_s": filled.results_s,
                "analyze_s": filled.analyze_s, "total_s": filled.total_s,
                "axes": {a: len(v) for a, v in filled.axes.items()}, "square_points": square.points,
                "square_axes": {a: len(v) for a, v in square.axes.items()}, "square_s": square.total_s,
                "db_points": opts.db_points, "db_fill_s": bulk_s}
    return {"backend": backend, "fill": fill_doc, "operations": [op.summary() for op in ops]}


def serve_and_time(url: str, data_dir: Path, filled: FillReport, opts: Options, rng: random.Random,
                   progress: Callable[[str], None], backend: str, square: FillReport) -> list[Op]:
    """Start the server on the filled database and time every operation through it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with api_server(url, data_dir, opts.answer_cache_mb) as base, httpx.Client(base_url=base, timeout=600) as client:
        progress(f"[{backend}] phase slices")
        ops = time_phase(client, filled.sweep_id, filled.axes, opts.repeats)
        progress(f"[{backend}] under load: {opts.connections} connections, {opts.load_seconds:g} s each")
        ops += time_load(base, filled, opts, square)
        ops += time_list(client, opts.list_sweeps, opts.repeats)
        progress(f"[{backend}] point listings")
        ops += time_points(client, filled.sweep_id, filled.points, opts.repeats)
        progress(f"[{backend}] CSV export")
        ops.append(time_export(client, filled.sweep_id, opts.export_repeats))
        progress(f"[{backend}] submit")
        ops.append(time_submit(client, opts.submit_points, opts.submit_repeats, rng))
    return ops


def time_load(base: str, filled: FillReport, opts: Options, square: FillReport) -> list[Op]:
    """The big alpha x L slice (seed means and medians), the whole sweep's cells (a derived view),
    the square sweep's whole n x n slice (means and medians: issue 14's case) and the sweep list,
    each by `opts.connections` clients at once."""
    (mean_name, mean_q), (median_name, median_q) = phase_cases(filled.axes)[:2]
    phase = f"{API}/sweeps/{filled.sweep_id}/phase?"
    side = f"{len(square.axes['alpha'])}x{len(square.axes['L'])}"
    sq = f"{API}/sweeps/{square.sweep_id}/phase?x=alpha&y=L&metric=feature_update"
    cases = [("phase", mean_name, phase + "&".join(f"{k}={v}" for k, v in mean_q.items())),
             ("phase", median_name, phase + "&".join(f"{k}={v}" for k, v in median_q.items())),
             ("cells", f"all {filled.points} cells (a derived view)", f"{API}/sweeps/{filled.sweep_id}/cells"),
             ("square", f"square alpha x L {side} of {square.points} points, mean", sq),
             ("square", f"square alpha x L {side} of {square.points} points, median of seeds", sq + "&agg=median"),
             ("list", f"GET /sweeps?limit=50 of {opts.list_sweeps} sweeps", f"{API}/sweeps?limit=50")]
    ops = []
    for group, name, path in cases:
        op = load(base, "load", name, path, opts.connections, opts.load_seconds)
        op.extra.update(kind=group, agg="median" if "median" in name else "mean")
        ops.append(op)
    return ops


def run_benchmark(opts: Options, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every backend in turn; the JSON report."""
    started = datetime.datetime.now(datetime.UTC)
    machine = machine_info()
    results = [run_backend(b, opts, progress) for b in opts.backends]
    machine["loadavg_end"] = loadavg()
    opts_doc = {k: v for k, v in asdict(opts).items() if k not in ("pg_admin", "as_json")}
    cache = f"answer cache {opts.answer_cache_mb:g} MB" if opts.answer_cache_mb else "answer cache off"
    return {"date": started.isoformat(timespec="seconds"), "machine": machine,
            "command": " ".join(["python -m benchmarks.api", *sys.argv[1:]]), "options": opts_doc,
            "transport": f"uvicorn subprocess on a loopback port, HTTP/1.1, one keep-alive httpx client; {cache}",
            "results": results, "targets": targets(results, opts.submit_points)}


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
    p.add_argument("--connections", type=int, default=8, help="clients at once in the load cases")
    p.add_argument("--load-seconds", type=float, default=10.0, help="seconds of each load case")
    p.add_argument("--list-sweeps", type=int, default=1000, help="sweeps stored for the sweep list (>= 1)")
    p.add_argument("--square-points", type=int, default=10_000,
                   help="points of the square alpha x L sweep (one D, one M; issue 14's 100 x 100)")
    p.add_argument("--db-points", type=int, default=0,
                   help="finished points bulk-inserted in other sweeps before timing (a large database)")
    p.add_argument("--answer-cache-mb", type=float, default=ANSWER_CACHE_MB,
                   help=f"the server's answer cache (RESPHASE_ANSWER_CACHE_MB; default {ANSWER_CACHE_MB:g}, "
                        "0: off, so that every request computes its answer)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args(argv)
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgres"}:
        p.error(f"--backends: {a.backends!r} is not a comma list of sqlite, postgres")
    if a.db_points < 0:
        p.error("--db-points must be >= 0")
    if a.answer_cache_mb < 0:
        p.error("--answer-cache-mb must be >= 0")
    if a.list_sweeps < 2:
        p.error("--list-sweeps must be >= 2 (the two filled sweeps are among them)")
    if a.load_seconds <= 0:
        p.error("--load-seconds must be > 0")
    for name in ("points", "repeats", "export_repeats", "submit_points", "submit_repeats", "connections",
                 "list_sweeps", "square_points"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return Options(a.points, backends, a.repeats, a.export_repeats, a.submit_points, a.submit_repeats, a.seed,
                   a.pg_admin, a.json, a.connections, a.load_seconds, a.list_sweeps, a.square_points, a.db_points,
                   a.answer_cache_mb)


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
