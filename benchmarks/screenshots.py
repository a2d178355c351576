"""Screenshots of the page's views for docs/screenshots/, in light and dark, wide and narrow.

    python -m benchmarks.screenshots [--out docs/screenshots] [--only NAME ...] [--widths 1400 800]

Starts `resphase up` (a worker included) in a temporary data directory on a free port, submits the
small sweeps of SWEEPS, waits for them, then opens each view of VIEWS in the system Chromium
(/usr/bin/chromium, headless, through Playwright) at each width and colour scheme and saves
`<view>-<width>-<light|dark>.png` (the first 1000 px of the page). To add a screenshot, add a View:
its name, the sweep it shows (a key of SWEEPS, or add one there) and the query of the view, as the
page's own permalinks write it ({key} is another sweep's id, {key-point} the id of its first point),
and where the view needs clicks, an `act` that makes them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks.page_forms import fill_shape
from benchmarks.servers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    clean_env,
    free_port,
    has_worker,
    resphase_command,
    start_process,
    stop_process,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[1]
HEIGHT = 1000

# Small sweeps (seconds on 2 cores). The depth-width one is named as the preset names its quick
# size, so the page opens it on the preset's view (err_out over L and M).
SWEEPS: dict[str, dict[str, Any]] = {
    "depth-width": {"name": "depth-width (quick)", "grid": {"alpha": [1], "D": [8], "L": [2, 4, 8], "M": [4, 8, 16]},
                    "settings": {"seeds": 2, "steps": 20, "reference": {"L": 32, "M": 16, "seeds": 2}}},
    "alpha-phase": {"name": "alpha x L x M", "settings": {"seeds": 2, "steps": 20},
                    "grid": {"alpha": {"geom": [0.25, 16, 7]}, "D": [8], "L": [2, 8], "M": [4, 16]}},
    # the same grid at the plain residual scale: what the comparison views set against alpha-phase
    "alpha-phase-plain": {"name": "alpha x L x M (plain)", "settings": {"seeds": 2, "steps": 20,
                                                                       "residual_scale": "plain"},
                          "grid": {"alpha": {"geom": [0.25, 16, 7]}, "D": [8], "L": [2, 8], "M": [4, 16]}},
    # two boundaries refined along alpha (the Refinement panel above the diagrams)
    "refined": {"name": "two boundaries, refined", "settings": {"seeds": 4, "steps": 10},
                "grid": {"alpha": [0.25, 1, 4, 16, 64], "D": [16], "L": [8, 32], "M": [16]},
                "refine": [{"metric": "feature_update", "threshold": 0.25, "tol": 0.15, "max_points": 30},
                           {"metric": "init_deviation", "threshold": "init_deviation_max", "tol": 0.15,
                            "max_points": 30}]},
}

OVERLAYS = "&".join(f"f=alpha:{quote(f'{k}*sqrt(L*M/D)/4')}" for k in range(1, 8))


@dataclass(frozen=True)
class View:
    name: str    # the file's stem
    sweep: str   # a key of SWEEPS
    query: str   # the view's query string after sweep=<id>& ('' : the sweep's default view); {key}: another sweep's id
    also: tuple[str, ...] = ()  # other sweeps the query names
    ready: str = "#phase-heatmap[data-drawn]"  # CSS selector of what must be drawn first
    act: Callable[[Any], None] | None = None  # clicks on the Playwright page once the figure is drawn


def ask_for_a_huge_sweep(page: Any) -> None:
    """Fill the form with a shape whose member needs 8 GiB and press Start: the page asks first."""
    fill_shape(page, "256", "1024", "2")
    page.wait_for_function("() => document.querySelector('[data-testid=form-summary]').textContent.includes('peak 8')")
    page.get_by_test_id("submit-sweep").click()
    page.get_by_test_id("launch-confirm").wait_for(state="visible", timeout=10000)
    page.get_by_test_id("launch-confirm").scroll_into_view_if_needed()


VIEWS = [
    View("default-view", "depth-width", ""),
    View("derived-coincident", "alpha-phase", f"x={quote('L*M')}&y=alpha"),
    View("derived-overlays", "alpha-phase", f"x=alpha&y={quote('L*M')}"),
    View("overlay-legend", "alpha-phase", f"x=alpha&y=L&ov=&{OVERLAYS}"),
    View("lines", "depth-width", "tab=lines", ready="#lines-plot[data-drawn]"),
    View("table", "alpha-phase", "tab=table", ready="#points-table[data-drawn]"),
    View("compare-side", "alpha-phase", "tab=compare&cmp={alpha-phase-plain}&x=alpha&y=L",
         ready="#panel-compare[data-drawn]", also=("alpha-phase-plain",)),
    View("compare-ratio", "alpha-phase", "tab=compare&cmp={alpha-phase-plain}&cop=ratio&x=alpha&y=L",
         ready="#panel-compare[data-drawn]", also=("alpha-phase-plain",)),
    View("refinement", "refined", "x=alpha&y=L"),
    View("point-detail", "alpha-phase", "tab=detail&point={alpha-phase-point}", ready="#detail-loss .main-svg"),
    View("launch-confirm", "depth-width", "", act=ask_for_a_huge_sweep),
]


def finished(r: httpx.Response) -> bool:
    return r.status_code == 200 and r.json()["state"] != "running"


def submit(base: str, specs: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Create the sweeps and wait until none is running; returns their ids by key."""
    ids = {k: httpx.post(f"{base}/api/v1/sweeps", json=s, timeout=30).raise_for_status().json()["id"]
           for k, s in specs.items()}
    for key, sid in list(ids.items()):
        wait_http(f"{base}/api/v1/sweeps/{sid}", 600, ready=finished)
        page = httpx.get(f"{base}/api/v1/sweeps/{sid}/points", params={"limit": 1}, timeout=30)
        ids[f"{key}-point"] = page.raise_for_status().json()["items"][0]["id"]
    return ids


def shoot(base: str, ids: dict[str, int], views: list[View], widths: list[int], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for scheme in ("light", "dark"):
                for width in widths:
                    context = browser.new_context(viewport={"width": width, "height": HEIGHT}, color_scheme=scheme)
                    page = context.new_page()
                    for v in views:
                        q = v.query.format(**ids)
                        query = f"?sweep={ids[v.sweep]}" + (f"&{q}" if q else "")
                        page.goto(f"{base}/{query}")
                        page.wait_for_selector("body[data-ready='1']", timeout=30000)
                        page.wait_for_selector(v.ready, timeout=30000)
                        if v.act is not None:
                            v.act(page)
                        page.wait_for_timeout(800)  # overlays and the legend's second layout
                        path = out / f"{v.name}-{width}-{scheme}.png"
                        page.screenshot(path=str(path))
                        saved.append(path)
                    context.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--only", nargs="*", default=None, help="view names (default: all)")
    ap.add_argument("--widths", nargs="*", type=int, default=[1400, 800])
    args = ap.parse_args(argv)
    views = [v for v in VIEWS if args.only is None or v.name in args.only]
    with tempfile.TemporaryDirectory(prefix="resphase-shots-") as tmp:
        data = Path(tmp)
        port = free_port()
        log = data / "server.log"
        proc = start_process(resphase_command("up", "--data-dir", str(data), "--port", str(port)), clean_env(), log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(f"{base}/api/v1/health", 90, ready=has_worker, proc=proc, log=log)
            # Submitted in view order, so each run gives the same sweep ids.
            names = dict.fromkeys(s for v in views for s in (v.sweep, *v.also))
            ids = submit(base, {k: SWEEPS[k] for k in names})
            for path in shoot(base, ids, views, args.widths, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        finally:
            stop_process(proc, timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
