"""How good is the sweep cost estimate? For each preset (quick size), the time model of
backend.cost.estimate_seconds against the measured compute time in this process (references
included, computed afresh), as a ratio. Target: within a factor of 2.

    python -m benchmarks.estimate [--presets alpha-phase,rates-M] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from backend.cost import estimate_seconds
from backend.grid import expand, expanded_axes, point_flops, reference_flops
from backend.presets import PRESETS
from backend.settings import Limits
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore


def measure(name: str) -> dict[str, float | str]:
    """Estimated and measured seconds of one preset's quick sweep (after a warm-up of torch)."""
    spec = PRESETS[name].quick
    limits = Limits()
    points = expand(spec, limits)
    estimate = estimate_seconds(expanded_axes(spec.grid, limits), spec.settings)
    start = time.perf_counter()
    compute_points(points, torch.device("cpu"), MemoryDiskReferenceStore(None))
    measured = time.perf_counter() - start
    flops = sum(point_flops(p) for p in points) + reference_flops(points)
    return {"preset": name, "points": len(points), "flops": flops, "estimated_s": estimate,
            "measured_s": measured, "ratio": estimate / measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    compute_points(expand(PRESETS["rates-M"].quick, Limits())[:1], torch.device("cpu"), MemoryDiskReferenceStore(None))
    rows = [measure(n.strip()) for n in args.presets.split(",") if n.strip()]
    if args.json:
        print(json.dumps({"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()},
                          "rows": rows}))
        return
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'preset':<14}{'points':>7}{'GFLOP':>9}{'estimated s':>13}{'measured s':>12}{'ratio':>8}")
    for r in rows:
        print(f"{r['preset']:<14}{r['points']:>7}{float(r['flops']) / 1e9:>9.2f}{r['estimated_s']:>13.2f}"
              f"{r['measured_s']:>12.2f}{r['ratio']:>8.2f}")


if __name__ == "__main__":
    main()
