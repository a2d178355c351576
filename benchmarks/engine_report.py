"""The engine benchmark's machine description and human-readable report: the machine, the table of
cases, the targets."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


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


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table and target lines."""
    m = report["machine"]
    lines = [
        f"date: {report['date']} (UTC); command: {report['command']}",
        f"machine: {m['cpu_count']} CPUs, torch threads {m['torch_threads']}, device {m['device']} "
        f"({m['device_name']}), torch {m['torch_version']}, "
        f"loadavg {m['loadavg_start']} -> {m['loadavg_end']}",
        f"dtype {report['dtype']}; matmul peak {_si(report['peak']['flops_per_s'])}FLOP/s ({report['peak']['best']}, "
        f"best of {report['peak']['repeats']}; the higher of {_si(report['peak']['before'])} before and "
        f"{_si(report['peak']['after'])} after the cases)",
        "",
    ]
    header = ["case", "shape", "engine", "#runs", "plain timed", "engine runs/s", "plain runs/s", "vmap runs/s",
              "eng/plain", "eng/vmap", "engine FLOP/s", "of peak", "agree", "others"]
    table = [header]
    for r in report["cases"]:
        agree = f"{r['agree_within_tol']}/{r['plain_timed']}, {r['vmap_agree_within_tol']}/{r['runs']}"
        loads = [r.get(f"others_cores_{k}") for k in ("engine", "plain", "vmap")]
        loads = [x for x in loads if x is not None]
        others = f"{max(loads):.2f}" if loads else "-"
        table.append([r["name"], r["shape"], r.get("engine", "torch"), str(r["runs"]),
                      f"{r['plain_timed']}/{r['runs']}",
                      f"{r['engine_runs_per_s']:.3g}", f"{r['plain_runs_per_s']:.3g}", f"{r['vmap_runs_per_s']:.3g}",
                      f"{r['ratio']:.1f}x", f"{r['vmap_ratio']:.1f}x",
                      _si(r["engine_flops_per_s"]), f"{100 * r['peak_fraction']:.1f}%", agree, others])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w) for j, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("plain timed: the plain loop was timed on that many runs (spread evenly over alphas and seeds); its "
                 "runs/s is those runs over their time. vmap: every run as one torch.func.vmap(grad) batch. agree: "
                 f"timed plain runs, then vmap runs, whose final loss is within {report['cases'][0]['agree_tol']:g} "
                 "(relative) of the engine's. others: cores other processes kept busy during the kept timings (the "
                 "highest of the three; from /proc).")
    w = report["wait_quiet"]
    if w["budget_s"] > 0:
        lines.append(f"waited {w['waited_s']:.0f} s of a {w['budget_s']:.0f} s budget for other processes to use "
                     f"< {w['threshold_cores']} cores before timed rounds")
    for key, t in report["targets"].items():
        fraction = t["field"] == "peak_fraction"
        fmt = f"{100 * t['value']:.1f}%" if fraction else f"{t['value']:.2f}x"
        want = f">= {100 * t['target']:g}% of matmul peak" if fraction else f">= {t['target']:g}x"
        lines.append(f"target {key}: {want} on {t['case']}: {fmt} -> {'MET' if t['met'] else 'MISSED'}")
    lines.append(f"total benchmark time {report['seconds_total']:.1f} s")
    return "\n".join(lines)
