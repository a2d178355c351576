"""Timing on a shared machine: the best of repeated calls (synchronised on CUDA), the load other
processes put on the CPUs meanwhile (from /proc), a gate that waits for them to quieten, and the
matmul peak the engine's FLOP/s is set against."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


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
