"""Benchmark: how fast the dashboard draws a 100 x 100 (10,000-cell) phase diagram in Chromium,
and serves and shows the points table of a 20,000-point sweep,
and a comparison of two such sweeps side by side (2 x 10,000 cells).

    python -m benchmarks.page [--reps 7] [--size 100] [--table-points 20000] [--json]

Starts `resphase up` in a temporary data directory on a free port, opens the page in the system
Chromium (/usr/bin/chromium, headless, through Playwright), and times the page's own drawing
function, `timeRender` of frontend/js/heatmap.js: a synthetic /phase-shaped slice is turned into
the Plotly figure and drawn with Plotly.react (performance.now() around both, plus one animation
frame for the paint). The data is already in memory: this is the "drawn after its data arrives"
time. Prints the median, min and max over --reps draws, for the metric heatmap and the regime map.
The points table (benchmarks/page_table.py): a sweep of --table-points synthetic points is put in
the server's database before it starts; its first pages are timed over HTTP and in the page
(--table-points 0 leaves it out).

The comparison (`timeCompare` of frontend/js/compare.js) matches two synthetic slices (B's grid one
alpha step up from A's, so their union has one column more), builds both figures on the union
grid with one colour range and draws them side by side, timed the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import page_table
from benchmarks.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    clean_env,
    free_port,
    resphase_command,
    start_process,
    stop_process,
    wait_http,
)

BUDGET_MS = 1000.0

TIME_RENDER = """async ([reps, n, mode]) => {
  const m = await import('/js/heatmap.js');
  const div = document.createElement('div');
  div.style.width = '900px';
  div.style.height = '700px';
  document.body.append(div);
  const times = [];
  for (let k = 0; k < reps; k++) times.push(await m.timeRender(div, n, n, mode));
  div.remove();
  return times;
}"""


TIME_COMPARE = """async ([reps, n]) => {
  const m = await import('/js/compare.js');
  const divs = [0, 1].map(() => {
    const div = document.createElement('div');
    div.style.width = '700px';
    div.style.height = '600px';
    document.body.append(div);
    return div;
  });
  const times = [];
  for (let k = 0; k < reps; k++) times.push(await m.timeCompare(divs[0], divs[1], n, n));
  divs.forEach((d) => d.remove());
  return times;
}"""


def measure_compare(page: Any, reps: int, size: int) -> list[float]:
    """Milliseconds to match two size x size slices and draw them side by side (after a warm-up)."""
    page.evaluate(TIME_COMPARE, [1, size])
    times: list[float] = page.evaluate(TIME_COMPARE, [reps, size])
    return times


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`resphase up` on a free port; returns the process and its base URL once /health answers 200."""
    port = free_port()
    log = data_dir / "server.log"
    proc = start_process(resphase_command("up", "--data-dir", str(data_dir), "--port", str(port)), clean_env(), log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v1/health", 90, ready=lambda r: r.status_code == 200, proc=proc, log=log)
    except BaseException:
        stop_process(proc)
        raise
    return proc, base


def measure(base: str, reps: int, size: int, table_sweep: int | None = None) -> dict[str, Any]:
    """The heatmap draws ({mode: [ms]}) and, with a table sweep, "table": the browser's figures."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{base}/")
            page.wait_for_selector("body[data-ready='1']", timeout=30000)
            page.evaluate(TIME_RENDER, [1, size, "metric"])  # warm-up: JIT, fonts, Plotly's first layout
            out: dict[str, Any] = {m: page.evaluate(TIME_RENDER, [reps, size, m]) for m in ("metric", "regime")}
            out["compare"] = measure_compare(page, reps, size)
            if table_sweep is not None:
                out["table"] = page_table.time_browser(page, base, table_sweep, reps)
            return out
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="draws per figure (median reported)")
    parser.add_argument("--size", type=int, default=100, help="cells per side (100: 10,000 cells)")
    parser.add_argument("--table-points", type=int, default=20000, help="points of the table's sweep (0: no table)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"no Chromium at {CHROMIUM}: cannot run the page benchmark", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="resphase-bench-") as tmp:
        table_sweep = page_table.fill_sweep(Path(tmp), args.table_points) if args.table_points else None
        proc, base = start_server(Path(tmp))
        try:
            server = page_table.time_server(base, table_sweep, args.reps) if table_sweep is not None else None
            times = measure(base, args.reps, args.size, table_sweep)
        finally:
            stop_process(proc, timeout=20)
    table = times.pop("table", None)
    cells = args.size * args.size
    result: dict[str, Any] = {"cells": cells, "reps": args.reps, "budget_ms": BUDGET_MS}
    for mode, ts in times.items():
        result[mode] = {"median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts), "all_ms": ts}
    if server is not None and table is not None:
        result["table"] = {"points": args.table_points, "server": server, "browser": table}
    if args.json:
        print(json.dumps(result))
    else:
        for mode in times:
            r = result[mode]
            what = f"2 x {cells:,}-cell comparison" if mode == "compare" else f"{cells:,}-cell {mode} heatmap"
            print(f"{what}: median {r['median_ms']:.0f} ms (min {r['min_ms']:.0f}, "
                  f"max {r['max_ms']:.0f}, {args.reps} draws); budget {BUDGET_MS:.0f} ms -> "
                  f"{BUDGET_MS / r['median_ms']:.1f}x under")
        if server is not None and table is not None:
            print("\n".join(page_table.report(args.table_points, server, table)))
    ok = all(result[m]["median_ms"] < BUDGET_MS for m in times)
    return 0 if ok and (server is None or table is None or page_table.within_budget(server, table)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
