"""Benchmark: resphase's batched engine against the plain one-configuration-at-a-time loop.

    python -m benchmarks.engine [--quick] [--device cpu|cuda] [--dtype float32|float64] [--json]

Each case is a set of grid points (alphas x one shape x seeds). The same points are computed
(a) by the engine, `worker.engine.compute_points` with no reference and an in-memory reference
store, end to end (problem, unit draws, training, diagnostics), and (b) by
`benchmarks.plain_loop`, one run after the other. Both are warmed up on the same shape first.
The plain loop may be timed on an evenly spread subset of the runs (`plain_timed` of `runs`);
its runs/s is then runs timed / their total time. Its final losses are compared to the engine's
for the same runs (`agree`). Timing alternates the two in rounds (3; the large shape 2; --quick
1) and keeps each one's best round (the engine's round is itself the best of up to 3 calls while
they total under 1 s), which discounts load from other processes on a shared machine.

The engine's achieved FLOP/s counts `backend.grid.train_flops` (matmul FLOPs only, nominal:
members that diverge and stop early still count) and is set against a matmul peak measured in the
same process: the best of a few `torch.matmul` / `torch.bmm` products of large square-ish
matrices of the same dtype and device, after a warm-up.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from backend.grid import PointSpec, RunSettings, train_flops
from benchmarks.plain_loop import PlainRun, run_plain
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore
from worker.resnet import ResNetConfig, make_problem

# Targets this benchmark checks (see docs/benchmarks.md).
TARGET_RATIO = 10.0  # engine runs/s over plain runs/s on the alpha-phase grid
TARGET_PEAK_FRACTION = 0.5  # engine FLOP/s over matmul peak on the large shape


@dataclass(frozen=True)
class Case:
    """One row of the table: every alpha of one shape, `seeds` unit seeds each."""

    group: str  # "alpha-phase" or "shapes"
    name: str
    D: int
    L: int
    M: int
    alphas: tuple[float, ...]
    seeds: int
    steps: int
    n_samples: int
    plain_max_runs: int  # the plain loop is timed on at most this many runs of the case
    target: str = ""  # "ratio", "peak" or "" : which target this row is judged against

    @property
    def runs(self) -> int:
        return len(self.alphas) * self.seeds

    @property
    def shape(self) -> str:
        return f"D={self.D} L={self.L} M={self.M} N={self.n_samples}"

    def settings(self, dtype: str, steps: int | None = None, seeds: int | None = None) -> RunSettings:
        return RunSettings(steps=self.steps if steps is None else steps, seeds=self.seeds if seeds is None else seeds,
                           n_samples=self.n_samples, dtype=dtype)

    def points(self, dtype: str) -> list[PointSpec]:
        s = self.settings(dtype)
        return [PointSpec(alpha=a, D=self.D, L=self.L, M=self.M, settings=s) for a in self.alphas]


def geom(start: float, stop: float, num: int) -> tuple[float, ...]:
    """num log-spaced values from start to stop, both included (rounded as backend.grid does)."""
    if num == 1:
        return (start,)
    step = (math.log(stop) - math.log(start)) / (num - 1)
    return tuple(float(f"{math.exp(math.log(start) + i * step):.12g}") for i in range(num))


def make_cases(quick: bool, device: torch.device) -> list[Case]:
    """The alpha-phase quick grid (case 1) and the shapes from small to large (case 2)."""
    on_gpu = device.type == "cuda"
    if quick:
        alphas = geom(0.25, 64, 3)
        return [
            Case("alpha-phase", "alpha-phase L=M=16", 16, 16, 16, alphas, 2, 3, 10, 6, "ratio"),
            Case("shapes", "large (quick: scaled down)", 128, 8, 128, (1.0,), 2, 2, 64, 1, "peak"),
        ]
    alphas = geom(0.25, 64, 9)
    plain_cap = 36
    cases = [Case("alpha-phase", f"alpha-phase L=M={lm}", 16, lm, lm, alphas, 4, 10, 10, plain_cap, "ratio")
             for lm in (16, 32, 64)]
    cases += [
        Case("shapes", "small", 16, 16, 16, alphas, 4, 10, 10, plain_cap),
        Case("shapes", "medium", 64, 32, 64, alphas, 4, 10, 10, plain_cap),
    ]
    if on_gpu:
        cases.append(Case("shapes", "large", 512, 64, 512, (0.5, 1.0, 2.0, 4.0), 8, 10, 256, 4, "peak"))
    else:
        cases.append(Case("shapes", "large", 512, 64, 512, (1.0,), 2, 10, 256, 1, "peak"))
    return cases


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], device: torch.device, min_total_s: float, max_repeats: int,
              ) -> tuple[float, int]:
    """Best wall time of fn() over repeats (at least one; more while the total stays under
    min_total_s, at most max_repeats), and the number of repeats."""
    best, total, repeats = math.inf, 0.0, 0
    while repeats < max(1, max_repeats) and (repeats == 0 or total < min_total_s):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        elapsed = time.perf_counter() - start
        best, total, repeats = min(best, elapsed), total + elapsed, repeats + 1
    return best, repeats


CpuSample = tuple[float, float, float]  # (wall s, busy CPU-s of the machine, CPU-s of this process)


def cpu_sample() -> CpuSample | None:
    """Machine-wide busy CPU time and this process's CPU time, from /proc (None without it)."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return time.perf_counter(), busy / hz, (int(fields[11]) + int(fields[12])) / hz  # utime + stime


def others_cores(a: CpuSample | None, b: CpuSample | None) -> float | None:
    """Mean number of cores that other processes kept busy between samples a and b."""
    if a is None or b is None or b[0] <= a[0]:
        return None
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / (b[0] - a[0]))


@dataclass
class QuietGate:
    """Before a timed round, wait (in probes of `probe_s`) until other processes use under
    `threshold` cores, spending at most `budget_s` seconds over the whole benchmark."""

    budget_s: float
    threshold: float = 0.25
    probe_s: float = 0.5
    waited_s: float = 0.0

    def wait(self) -> float | None:
        """Block until quiet or out of budget; the other processes' load of the last probe."""
        while True:
            a = cpu_sample()
            time.sleep(self.probe_s)
            load = others_cores(a, cpu_sample())
            if load is None or load < self.threshold or self.budget_s <= 0:
                return load
            self.budget_s -= self.probe_s
            self.waited_s += self.probe_s


def timed_under_load(fn: Callable[[], tuple[float, int]]) -> tuple[float, int, float | None]:
    """fn() -> (seconds, repeats), plus the cores other processes used meanwhile."""
    a = cpu_sample()
    seconds, repeats = fn()
    return seconds, repeats, others_cores(a, cpu_sample())


def matmul_peak(device: torch.device, dtype: torch.dtype, quick: bool) -> dict[str, Any]:
    """Best achieved FLOP/s of large products: matmul (n, n) x (n, n) and bmm (b, n, n) x (b, n, n).

    Warm-up: repeated products for ~0.5 s (0.1 s quick). Each shape: best of `repeats`.
    """
    if device.type == "cuda":
        sizes = [("matmul", 1, 4096), ("matmul", 1, 8192), ("bmm", 16, 2048)]
    elif quick:
        sizes = [("matmul", 1, 1024), ("bmm", 4, 512)]
    else:
        sizes = [("matmul", 1, 1024), ("matmul", 1, 2048), ("bmm", 8, 1024)]
    repeats = 3 if quick else 5
    gen = torch.Generator(device="cpu").manual_seed(0)
    warm = torch.randn(1024, 1024, generator=gen, dtype=dtype).to(device)
    _sync(device)
    start = time.perf_counter()
    while time.perf_counter() - start < (0.1 if quick else 0.5):
        warm @ warm
        _sync(device)
    results: list[dict[str, Any]] = []
    for kind, batch, n in sizes:
        a = torch.randn(batch, n, n, generator=gen, dtype=dtype).to(device)
        b = torch.randn(batch, n, n, generator=gen, dtype=dtype).to(device)

        def product(a: torch.Tensor = a, b: torch.Tensor = b, kind: str = kind) -> torch.Tensor:
            return torch.matmul(a[0], b[0]) if kind == "matmul" else torch.bmm(a, b)

        product()
        seconds, _ = best_time(product, device, min_total_s=0.0, max_repeats=repeats)
        flops = 2.0 * batch * n**3
        results.append({"op": kind, "batch": batch, "n": n, "flops_per_s": flops / seconds})
    best = max(results, key=lambda r: r["flops_per_s"])
    return {"flops_per_s": best["flops_per_s"], "best": f"{best['op']} {best['batch']}x{best['n']}^3",
            "all": results, "repeats": repeats}


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

    engine_s, engine_repeats, engine_others = math.inf, 0, None
    plain_runs: list[PlainRun] = []
    plain_s, plain_others = math.inf, None
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
    engine_loss = {(o.point.alpha, r.unit_seed): r.metrics["loss_final"] for o in outcomes for r in o.seeds}

    tol = 1e-4 if dtype == "float64" else 1e-3
    rel = [abs(r.loss_final - engine_loss[(r.alpha, r.unit_seed)]) / max(abs(engine_loss[(r.alpha, r.unit_seed)]),
                                                                          1e-30)
           for r in plain_runs]
    finite_rel = [x for x in rel if math.isfinite(x)]
    flops = train_flops(case.D, case.L, case.M, case.n_samples, case.steps, case.runs)
    engine_rps = case.runs / engine_s
    plain_rps = len(plain_runs) / plain_s
    engine_fps = flops / engine_s
    return {
        **asdict(case),
        "shape": case.shape,
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
        "train_flops": flops,
        "engine_flops_per_s": engine_fps,
        "agree_tol": tol,
        "agree_within_tol": sum(1 for x in rel if x <= tol),
        "agree_max_rel": max(finite_rel) if finite_rel else math.nan,
        "agree_median_rel": sorted(finite_rel)[len(finite_rel) // 2] if finite_rel else math.nan,
        "others_cores_engine": engine_others,
        "others_cores_plain": plain_others,
    }


def grid_total(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The alpha-phase grid as a whole: the sum over its shapes (plain time extrapolated per shape)."""
    runs = sum(r["runs"] for r in rows)
    engine_s = sum(r["engine_seconds"] for r in rows)
    plain_s = sum(r["plain_seconds_all_runs_est"] for r in rows)
    flops = sum(r["train_flops"] for r in rows)
    return {
        "group": "alpha-phase", "name": "alpha-phase grid (total)", "shape": "D=16, 3 shapes",
        "runs": runs, "engine_seconds": engine_s, "engine_runs_per_s": runs / engine_s,
        "plain_timed": sum(r["plain_timed"] for r in rows), "plain_seconds_all_runs_est": plain_s,
        "plain_runs_per_s": runs / plain_s, "ratio": plain_s / engine_s, "train_flops": flops,
        "engine_flops_per_s": flops / engine_s, "target": "ratio",
        "agree_within_tol": sum(r["agree_within_tol"] for r in rows),
        "others_cores_engine": max((r["others_cores_engine"] for r in rows if r["others_cores_engine"] is not None),
                                   default=None),
        "others_cores_plain": max((r["others_cores_plain"] for r in rows if r["others_cores_plain"] is not None),
                                  default=None),
    }


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU count, torch threads, device name, torch version, load average."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as fh:
                name = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), name)
        except OSError:
            pass
    return {
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
        "device_name": name, "torch_version": torch.__version__, "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run_benchmark(quick: bool, device: torch.device, dtype: str, wait_quiet_s: float = 0.0,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every number of the benchmark as one JSON-ready dict. With wait_quiet_s > 0, each timed
    round first waits for other processes to leave the CPUs (at most that long in all)."""
    started = time.perf_counter()
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    machine = machine_info(device)
    gate = QuietGate(wait_quiet_s) if wait_quiet_s > 0 else None
    if gate is not None:
        gate.wait()
    peak_before = matmul_peak(device, getattr(torch, dtype), quick)
    rows: list[dict[str, Any]] = []
    for case in make_cases(quick, device):
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
    ratio_row = next(r for r in rows if r["target"] == "ratio" and (len(phase_rows) == 1 or "total" in r["name"]))
    peak_row = next(r for r in rows if r["target"] == "peak")
    return {
        "date": date,  # UTC, when the benchmark started
        "command": " ".join(["python -m benchmarks.engine", *sys.argv[1:]]),
        "quick": quick, "dtype": dtype, "machine": machine,
        "peak": {**peak, "before": peak_before["flops_per_s"], "after": peak_after["flops_per_s"]},
        "cases": rows,
        "targets": {
            "ratio": {"target": TARGET_RATIO, "case": ratio_row["name"], "value": ratio_row["ratio"],
                      "met": ratio_row["ratio"] >= TARGET_RATIO},
            "peak_fraction": {"target": TARGET_PEAK_FRACTION, "case": peak_row["name"],
                              "value": peak_row["peak_fraction"],
                              "met": peak_row["peak_fraction"] >= TARGET_PEAK_FRACTION},
        },
        "wait_quiet": {"budget_s": wait_quiet_s, "waited_s": gate.waited_s if gate else 0.0,
                       "threshold_cores": gate.threshold if gate else None},
        "seconds_total": time.perf_counter() - started,
    }


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table and target lines."""
    m = report["machine"]
    lines = [
        f"date: {report['date']} (UTC); command: {report['command']}",
        f"machine: {m['cpu_count']} CPUs, torch threads {m['torch_threads']}, device {m['device']} "
        f"({m['device_name']}), torch {m['torch_version']}, loadavg {m['loadavg_start']} -> {m['loadavg_end']}",
        f"dtype {report['dtype']}; matmul peak {_si(report['peak']['flops_per_s'])}FLOP/s ({report['peak']['best']}, "
        f"best of {report['peak']['repeats']}; the higher of {_si(report['peak']['before'])} before and "
        f"{_si(report['peak']['after'])} after the cases)",
        "",
    ]
    header = ["case", "shape", "#runs", "plain timed", "engine runs/s", "plain runs/s", "ratio", "engine FLOP/s",
              "of peak", "agree", "others"]
    table = [header]
    for r in report["cases"]:
        agree = f"{r['agree_within_tol']}/{r['plain_timed']}"
        loads = [x for x in (r.get("others_cores_engine"), r.get("others_cores_plain")) if x is not None]
        others = f"{max(loads):.2f}" if loads else "-"
        table.append([r["name"], r["shape"], str(r["runs"]), f"{r['plain_timed']}/{r['runs']}",
                      f"{r['engine_runs_per_s']:.3g}", f"{r['plain_runs_per_s']:.3g}", f"{r['ratio']:.1f}x",
                      _si(r["engine_flops_per_s"]), f"{100 * r['peak_fraction']:.1f}%", agree, others])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if j < 2 else cell.rjust(w) for j, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("plain timed: the plain loop was timed on that many runs (spread evenly over alphas and seeds); its "
                 "runs/s is those runs over their time. agree: timed plain runs whose final loss is within "
                 f"{report['cases'][0]['agree_tol']:g} (relative) of the engine's. others: cores other processes kept "
                 "busy during the kept timings (the higher of engine's and plain's; from /proc).")
    w = report["wait_quiet"]
    if w["budget_s"] > 0:
        lines.append(f"waited {w['waited_s']:.0f} s of a {w['budget_s']:.0f} s budget for other processes to use "
                     f"< {w['threshold_cores']} cores before timed rounds")
    for key, t in report["targets"].items():
        fmt = f"{t['value']:.1f}x" if key == "ratio" else f"{100 * t['value']:.1f}%"
        want = f">= {t['target']:g}x" if key == "ratio" else f">= {100 * t['target']:g}% of matmul peak"
        lines.append(f"target {key}: {want} on {t['case']}: {fmt} -> {'MET' if t['met'] else 'MISSED'}")
    lines.append(f"total benchmark time {report['seconds_total']:.1f} s")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and few cases (a test, < 20 s)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--wait-quiet", type=float, default=None, metavar="S",
                        help="before each timed round wait for other processes to use < 0.25 cores, at most S "
                             "seconds in all (default 600; 0 with --quick)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda asked for, but CUDA is not available here")
    device = torch.device(args.device)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    wait = args.wait_quiet if args.wait_quiet is not None else (0.0 if args.quick else 600.0)
    report = run_benchmark(args.quick, device, args.dtype, wait, progress=None if args.json else progress)
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
