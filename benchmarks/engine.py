"""Benchmark: resphase's batched engine against the plain loop and the torch.func.vmap peer.

    python -m benchmarks.engine [--quick] [--device cpu|cuda] [--dtype float32|float64] [--json]
                                [--wait-quiet S] [--case NAME ...]

Each case is a set of grid points (alphas x one shape x seeds). The same points are computed
(a) by the engine, `worker.engine.compute_points` with no reference and an in-memory reference
store, end to end (problem, unit draws, training, diagnostics), (b) by `benchmarks.plain_loop`,
one run after the other, and (c) by `benchmarks.vmap_loop`, every run of the case as one
`vmap(grad_and_value(loss))` batch. All three are warmed up on the same shape first.
The plain loop may be timed on an evenly spread subset of the runs (`plain_timed` of `runs`);
its runs/s is then runs timed / their total time. The final losses of both peers are compared to
the engine's for the same runs (`agree`, `vmap_agree`). Timing alternates the three in rounds (3;
the large shape 2; --quick 1) and keeps each one's best round (the engine's round is itself the
best of up to 3 calls while they total under 1 s), which discounts load from other processes on
a shared machine: the ratios are measured side by side, in one run.

The engine's achieved FLOP/s counts `backend.grid.train_flops` (matmul FLOPs only, nominal:
members that diverge and stop early still count) and is set against a matmul peak measured in the
same process: the best of a few `torch.matmul` / `torch.bmm` products of large square-ish
matrices of the same dtype and device, after a warm-up.

Modules: benchmarks.engine_cases (the cases), benchmarks.engine_timing (timing under load, the
matmul peak), benchmarks.engine_report (the table); this one: running a case, the JSON report and
the command line.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch

from backend.grid import PointSpec, train_flops
from benchmarks.engine_cases import Case, make_cases
from benchmarks.engine_report import format_report, machine_info
from benchmarks.engine_timing import QuietGate, best_time, matmul_peak, timed_under_load
from benchmarks.plain_loop import PlainRun, run_plain
from benchmarks.vmap_loop import VmapRun, timed_vmap
from worker import native
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore
from worker.resnet import ResNetConfig, make_problem

# Targets this benchmark checks (issue 14, docs/benchmarks.md): (report key, case target tag,
# row field, at least). Case target tags are set in benchmarks.engine_cases.
TARGETS = (
    ("ratio", "ratio", "ratio", 50.0),  # engine over plain runs/s, alpha-phase grid
    ("vmap_ratio", "ratio", "vmap_ratio", 3.0),  # engine over the vmap peer, alpha-phase grid
    ("medium_ratio", "medium", "ratio", 15.0),  # engine over plain, D=64 L=32 M=64
    ("large_ratio", "peak", "ratio", 1.0),  # engine over plain on the large shape: batching costs nothing
    ("peak_fraction", "peak", "peak_fraction", 0.75),  # engine FLOP/s over matmul peak, large shape
)


def _even_subset(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when k >= n)."""
    if k >= n:
        return list(range(n))
    return sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})


def run_case(case: Case, device: torch.device, dtype: str, quick: bool, gate: QuietGate | None = None,
             ) -> dict[str, Any]:
    """Time the engine and the plain loop on one case; the numbers of one table row."""
    torch_dtype = getattr(torch, dtype)
    points = case.points(dtype)
    store = MemoryDiskReferenceStore(None)
    # warm-up of both on this shape: one member, one step
    warm_points = [PointSpec(case.alphas[0], case.D, case.L, case.M, case.settings(dtype, steps=1, seeds=1))]
    compute_points(warm_points, device, store)
    cfg = ResNetConfig(D=case.D, L=case.L, M=case.M)
    problem = make_problem(0, case.n_samples, 5, 5, case.D, torch_dtype, device)
    run_plain(cfg, problem, [(case.alphas[0], 0)], 1.0, 1)
    timed_vmap(cfg, problem, [(case.alphas[0], 0)], 1.0, 1)

    outcomes: list[Any] = []

    def engine() -> None:
        outcomes[:] = compute_points(points, device, store)

    configs = [(a, seed) for a in case.alphas for seed in range(case.seeds)]
    chosen = [configs[i] for i in _even_subset(len(configs), case.plain_max_runs)]
    big = case.target == "peak"
    rounds = 1 if quick else (2 if big else 3)
    latest: list[list[PlainRun]] = []

    def plain() -> tuple[float, int]:
        latest.append(run_plain(cfg, problem, chosen, 1.0, case.steps))
        return sum(r.seconds for r in latest[-1]), 1

    vmap_runs: list[VmapRun] = []

    def vmapped() -> tuple[float, int]:
        runs, seconds = timed_vmap(cfg, problem, configs, 1.0, case.steps)
        vmap_runs[:] = runs
        return seconds, 1

    engine_s, engine_repeats, engine_others = math.inf, 0, None
    plain_runs: list[PlainRun] = []
    plain_s, plain_others = math.inf, None
    vmap_s, vmap_others = math.inf, None
    # Rounds alternate the two implementations, so that a burst of load from other processes
    # hits both alike; each keeps its best round, with the other processes' load during it.
    for _ in range(rounds):
        if gate is not None:
            gate.wait()
        seconds, repeats, others = timed_under_load(
            lambda: best_time(engine, device, min_total_s=0.0 if big else 1.0, max_repeats=1 if big else 3))
        engine_repeats += repeats
        if seconds < engine_s:
            engine_s, engine_others = seconds, others
        if gate is not None:
            gate.wait()
        seconds, _, others = timed_under_load(plain)
        if seconds < plain_s:
            plain_runs, plain_s, plain_others = latest[-1], seconds, others
        if gate is not None:
            gate.wait()
        seconds, _, others = timed_under_load(vmapped)
        if seconds < vmap_s:
            vmap_s, vmap_others = seconds, others
    engine_loss = {(o.point.alpha, r.unit_seed): r.metrics["loss_final"] for o in outcomes for r in o.seeds}

    tol = 1e-4 if dtype == "float64" else 1e-3

    def rel_to_engine(runs: Sequence[PlainRun | VmapRun]) -> list[float]:
        return [abs(r.loss_final - engine_loss[(r.alpha, r.unit_seed)]) /
                max(abs(engine_loss[(r.alpha, r.unit_seed)]), 1e-30) for r in runs]

    rel = rel_to_engine(plain_runs)
    finite_rel = [x for x in rel if math.isfinite(x)]
    flops = train_flops(case.D, case.L, case.M, case.n_samples, case.steps, case.runs)
    engine_rps = case.runs / engine_s
    plain_rps = len(plain_runs) / plain_s
    engine_fps = flops / engine_s
    return {
        **asdict(case),
        "shape": case.shape,
        "engine": native.engine_name(cfg, case.n_samples, torch_dtype, device),  # which trained the engine's runs
        "runs": case.runs,
        "engine_seconds": engine_s,
        "engine_repeats": engine_repeats,
        "engine_runs_per_s": engine_rps,
        "plain_timed": len(plain_runs),
        "plain_seconds": plain_s,
        "plain_repeats": rounds,
        "plain_runs_per_s": plain_rps,
        "plain_seconds_all_runs_est": case.runs / plain_rps,
        "ratio": engine_rps / plain_rps,
        "vmap_seconds": vmap_s,
        "vmap_runs_per_s": case.runs / vmap_s,
        "vmap_ratio": vmap_s / engine_s,
        "vmap_agree_within_tol": sum(1 for x in rel_to_engine(vmap_runs) if x <= tol),
        "train_flops": flops,
        "engine_flops_per_s": engine_fps,
        "agree_tol": tol,
        "agree_within_tol": sum(1 for x in rel if x <= tol),
        "agree_max_rel": max(finite_rel) if finite_rel else math.nan,
        "agree_median_rel": sorted(finite_rel)[len(finite_rel) // 2] if finite_rel else math.nan,
        "others_cores_engine": engine_others,
        "others_cores_plain": plain_others,
        "others_cores_vmap": vmap_others,
    }


def grid_total(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The alpha-phase grid as a whole: the sum over its shapes (plain time extrapolated per shape)."""
    runs = sum(r["runs"] for r in rows)
    engine_s = sum(r["engine_seconds"] for r in rows)
    plain_s = sum(r["plain_seconds_all_runs_est"] for r in rows)
    vmap_s = sum(r["vmap_seconds"] for r in rows)
    flops = sum(r["train_flops"] for r in rows)
    return {
        "group": "alpha-phase", "name": "alpha-phase grid (total)", "shape": "D=16, 3 shapes",
        "engine": "+".join(sorted({r.get("engine", "torch") for r in rows})),
        "runs": runs, "engine_seconds": engine_s, "engine_runs_per_s": runs / engine_s,
        "plain_timed": sum(r["plain_timed"] for r in rows), "plain_seconds_all_runs_est": plain_s,
        "plain_runs_per_s": runs / plain_s, "ratio": plain_s / engine_s, "train_flops": flops,
        "vmap_seconds": vmap_s, "vmap_runs_per_s": runs / vmap_s, "vmap_ratio": vmap_s / engine_s,
        "vmap_agree_within_tol": sum(r["vmap_agree_within_tol"] for r in rows),
        "engine_flops_per_s": flops / engine_s, "target": "ratio",
        "agree_within_tol": sum(r["agree_within_tol"] for r in rows),
        **{f"others_cores_{k}": max((r[f"others_cores_{k}"] for r in rows if r[f"others_cores_{k}"] is not None),
                                    default=None) for k in ("engine", "plain", "vmap")},
    }


def targets(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each target of TARGETS whose case ran: its value, its case and whether it is met. A
    ratio target on the alpha-phase grid is judged on the grid total when there is one."""
    out = {}
    for key, tag, field, at_least in TARGETS:
        candidates = [r for r in rows if r["target"] == tag]
        if not candidates:
            continue
        row = next((r for r in candidates if "total" in r["name"]), candidates[0])
        out[key] = {"target": at_least, "case": row["name"], "field": field, "value": row[field],
                    "met": row[field] >= at_least}
    return out


def run_benchmark(quick: bool, device: torch.device, dtype: str, wait_quiet_s: float = 0.0,
                  progress: Callable[[str], None] | None = None, only: Sequence[str] = ()) -> dict[str, Any]:
    """Every number of the benchmark as one JSON-ready dict. With wait_quiet_s > 0, each timed
    round first waits for other processes to leave the CPUs (at most that long in all). `only`:
    run just the cases whose name contains one of these strings."""
    started = time.perf_counter()
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    machine = machine_info(device)
    gate = QuietGate(wait_quiet_s) if wait_quiet_s > 0 else None
    if gate is not None:
        gate.wait()
    peak_before = matmul_peak(device, getattr(torch, dtype), quick)
    rows: list[dict[str, Any]] = []
    for case in make_cases(quick, device):
        if only and not any(part in case.name for part in only):
            continue
        if progress is not None:
            progress(f"running {case.name} ({case.shape}, {case.runs} runs)")
        rows.append(run_case(case, device, dtype, quick, gate))
    phase_rows = [r for r in rows if r["group"] == "alpha-phase"]
    if len(phase_rows) > 1:
        rows.insert(len(phase_rows), grid_total(phase_rows))
    # The peak is measured before and after the cases; the higher of the two is the reference,
    # so that load from elsewhere during one measurement cannot flatter the fractions.
    if gate is not None:
        gate.wait()
    peak_after = matmul_peak(device, getattr(torch, dtype), quick)
    peak = max(peak_before, peak_after, key=lambda p: p["flops_per_s"])
    for r in rows:
        r["peak_fraction"] = r["engine_flops_per_s"] / peak["flops_per_s"]
    machine["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "date": date,  # UTC, when the benchmark started
        "command": " ".join(["python -m benchmarks.engine", *sys.argv[1:]]),
        "quick": quick, "dtype": dtype, "machine": machine,
        "peak": {**peak, "before": peak_before["flops_per_s"], "after": peak_after["flops_per_s"]},
        "cases": rows,
        "targets": targets(rows),
        "wait_quiet": {"budget_s": wait_quiet_s, "waited_s": gate.waited_s if gate else 0.0,
                       "threshold_cores": gate.threshold if gate else None},
        "seconds_total": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and few cases (a test, < 20 s)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--wait-quiet", type=float, default=None, metavar="S",
                        help="before each timed round wait for other processes to use < 0.25 cores, at most S "
                             "seconds in all (default 600; 0 with --quick)")
    parser.add_argument("--case", action="append", default=[], metavar="NAME",
                        help="run only the cases whose name contains NAME (repeatable), e.g. --case large")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but CUDA is not available here")
    device = torch.device(args.device)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    wait = args.wait_quiet if args.wait_quiet is not None else (0.0 if args.quick else 600.0)
    report = run_benchmark(args.quick, device, args.dtype, wait, progress=None if args.json else progress,
                           only=args.case)
    if args.json:
        print(json.dumps(_nulls(report), allow_nan=False))
    else:
        print(format_report(report))
    return 0


def _nulls(obj: Any) -> Any:
    """Non-finite floats -> None (JSON null), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _nulls(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nulls(v) for v in obj]
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
