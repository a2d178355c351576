"""`resphase reproduce`: run the presets, check every claim, print the verdicts, write a report.

Through the queue when a server answers at --url (the work lands in the shared database and is
reused), otherwise in this process with the same engine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from backend.analysis.claims import ClaimResult, Rows, evaluate_claims
from backend.analysis.report import build_report
from backend.grid import SweepSpec, expand
from backend.presets import PRESETS
from backend.settings import get_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="the quick size of each preset (minutes on a CPU)")
    p.add_argument("--json", action="store_true", help="print the verdicts as one JSON list")
    p.add_argument("--out", help="write an HTML report with the figures (offline Plotly) here")
    p.add_argument("--presets", default=",".join(PRESETS), help="comma list (default: all)")
    p.add_argument("--url", default=os.environ.get("RESPHASE_URL", "http://127.0.0.1:8000"),
                   help="a running server to send the work to (default $RESPHASE_URL or http://127.0.0.1:8000)")
    p.add_argument("--in-process", action="store_true", help="compute here even when a server answers")
    p.add_argument("--device", default="auto", help="device for in-process runs")


def _server_up(url: str) -> bool:
    try:
        return httpx.get(f"{url.rstrip('/')}/api/v1/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _via_server(url: str, specs: dict[str, SweepSpec]) -> dict[str, Rows]:
    token = os.environ.get("RESPHASE_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=60) as client:
        ids = {}
        for name, spec in specs.items():
            resp = client.post("/sweeps", json=spec.model_dump(mode="json"))
            resp.raise_for_status()
            ids[name] = resp.json()["id"]
        for sweep_id in ids.values():
            while client.get(f"/sweeps/{sweep_id}").json()["state"] == "running":
                time.sleep(1.0)
        return {name: client.get(f"/sweeps/{i}/export", params={"format": "json"}).json() for name, i in ids.items()}


def _in_process(specs: dict[str, SweepSpec], device_name: str) -> dict[str, Rows]:
    from worker.engine import compute_points, resolve_device
    from worker.reference import MemoryDiskReferenceStore

    settings = get_settings()
    device = resolve_device(device_name)
    store = MemoryDiskReferenceStore(settings.resolved_cache_dir)
    out: dict[str, Rows] = {}
    for name, spec in specs.items():
        start = time.perf_counter()
        outcomes = compute_points(expand(spec, settings.limits), device, store)
        out[name] = [row for o in outcomes for row in o.tidy_rows()]
        print(f"{name}: {len(outcomes)} points in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return out


def _print_table(claims: list[ClaimResult]) -> None:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.3g}"

    print(f"{'claim':<28} {'preset':<12} {'predicted':>14} {'measured [CI]':>26}  verdict")
    for c in claims:
        ci = "" if c.ci is None else f" [{num(c.ci[0])}, {num(c.ci[1])}]"
        print(f"{c.claim:<28} {c.preset:<12} {num(c.predicted) + ' ± ' + num(c.tolerance):>14} "
              f"{num(c.measured) + ci:>26}  {c.verdict}")


def main(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        print(f"resphase reproduce: error: unknown preset(s) {', '.join(unknown)}; "
              f"known: {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    specs = {n: PRESETS[n].quick if args.quick else PRESETS[n].full for n in names}
    if not args.in_process and _server_up(args.url):
        print(f"running the presets through the server at {args.url}", file=sys.stderr)
        rows = _via_server(args.url, specs)
    else:
        print("no server answered: running the presets in this process", file=sys.stderr)
        rows = _in_process(specs, args.device)
    claims = evaluate_claims(rows)
    if args.json:
        out: list[dict[str, Any]] = [c.to_dict() for c in claims]
        print(json.dumps(out, allow_nan=False))
    else:
        _print_table(claims)
    if args.out:
        title = f"resphase reproduce ({'quick' if args.quick else 'full'})"
        Path(args.out).write_text(build_report(rows, claims, title))
        print(f"report written to {args.out}", file=sys.stderr)
    return 0
