"""Benchmark: how fast the dashboard draws a 100 x 100 (10,000-cell) phase diagram in Chromium.

    python -m benchmarks.page [--reps 7] [--size 100] [--json]

Starts `resphase up` in a temporary data directory on a free port, opens the page in the system
Chromium (/usr/bin/chromium, headless, through Playwright), and times the page's own drawing
function, `timeRender` of frontend/js/heatmap.js: a synthetic /phase-shaped slice is turned into
the Plotly figure and drawn with Plotly.react (performance.now() around both, plus one animation
frame for the paint). The data is already in memory: this is the "drawn after its data arrives"
time. Prints the median, min and max over --reps draws, for the metric heatmap and the regime map.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`resphase up` on a free port; returns the process and its base URL once /health answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPHASE_")}
    exe = Path(sys.executable).with_name("resphase")
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen([str(exe), "up", "--data-dir", str(data_dir), "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"resphase up exited: {(data_dir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError("resphase up did not answer /api/v1/health within 90 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def measure(base: str, reps: int, size: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{base}/")
            page.wait_for_selector("body[data-ready='1']", timeout=30000)
            page.evaluate(TIME_RENDER, [1, size, "metric"])  # warm-up: JIT, fonts, Plotly's first layout
            return {mode: page.evaluate(TIME_RENDER, [reps, size, mode]) for mode in ("metric", "regime")}
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="draws per figure (median reported)")
    parser.add_argument("--size", type=int, default=100, help="cells per side (100: 10,000 cells)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"no Chromium at {CHROMIUM}: cannot run the page benchmark", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="resphase-bench-") as tmp:
        proc, base = start_server(Path(tmp))
        try:
            times = measure(base, args.reps, args.size)
        finally:
            stop_server(proc)
    cells = args.size * args.size
    result: dict[str, Any] = {"cells": cells, "reps": args.reps, "budget_ms": BUDGET_MS}
    for mode, ts in times.items():
        result[mode] = {"median_ms": statistics.median(ts), "min_ms": min(ts), "max_ms": max(ts), "all_ms": ts}
    if args.json:
        print(json.dumps(result))
    else:
        for mode in times:
            r = result[mode]
            print(f"{cells:,}-cell {mode} heatmap: median {r['median_ms']:.0f} ms (min {r['min_ms']:.0f}, "
                  f"max {r['max_ms']:.0f}, {args.reps} draws); budget {BUDGET_MS:.0f} ms -> "
                  f"{BUDGET_MS / r['median_ms']:.1f}x under")
    return 0 if all(result[m]["median_ms"] < BUDGET_MS for m in times) else 1


if __name__ == "__main__":
    raise SystemExit(main())
