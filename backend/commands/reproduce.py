"""`resphase reproduce`: run the presets and their negative controls, check every claim, print the
verdicts, write a report.

In this process by default; through the queue of the server at --url when one is given (the work
then lands in that server's database, where anyone reuses it).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx

from backend import __version__
from backend.analysis.claims import VARIANTS, ClaimResult, Rows, evaluate_claims, runs_needed
from backend.analysis.report import build_report
from backend.grid import SweepSpec
from backend.needs import require_worker_extra
from backend.presets import PRESETS, variant_spec
from backend.sweep_tags import RUN_TAG_PREFIX, clean_tags

Runs = dict[tuple[str, str], Rows]


def add_arguments(p: argparse.ArgumentParser) -> None:
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the quick size of each preset (minutes on 2 CPU cores)")
    size.add_argument("--full", action="store_true", help="the full size (the default; for a GPU worker)")
    p.add_argument("--json", action="store_true", help="print the verdicts as one JSON list")
    p.add_argument("--out", help="write an HTML report with the figures (offline Plotly) here")
    p.add_argument("--presets", default=",".join(PRESETS), help="comma list (default: all)")
    p.add_argument("--url", default=None, help="send the work to the server there (e.g. http://127.0.0.1:8000) "
                                               "instead of computing in this process")
    p.add_argument("--no-controls", action="store_true", help="skip the negative controls (claims then read "
                                                              "inconclusive: nothing shows they can fail)")
    p.add_argument("--device", default="auto", help="device for in-process runs")


def run_tag(now: datetime | None = None) -> str:
    """The tag shared by the sweeps of one run (`run:<UTC time>-<random>`): GET /sweeps?tag= and
    the page's search find them together."""
    t = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{RUN_TAG_PREFIX}{t}-{secrets.token_hex(3)}"


def submit_run(client: httpx.Client, specs: dict[tuple[str, str], SweepSpec], tag: str) -> dict[tuple[str, str], int]:
    """POST every spec with the run's tag (and `reproduce`), so the run's sweeps are found and
    listed together; {(preset, variant): sweep id}."""
    ids = {}
    for key, spec in specs.items():
        tags = clean_tags([*spec.tags, "reproduce", tag])
        resp = client.post("/sweeps", json=spec.model_copy(update={"tags": tags}).model_dump(mode="json"))
        resp.raise_for_status()
        ids[key] = resp.json()["id"]
    return ids


def _via_server(url: str, specs: dict[tuple[str, str], SweepSpec]) -> Runs:
    token = os.environ.get("RESPHASE_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    tag = run_tag()
    print(f"the sweeps of this run carry the tag {tag} (GET /sweeps?tag={tag})", file=sys.stderr)
    with httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=60) as client:
        ids = submit_run(client, specs, tag)
        for sweep_id in ids.values():
            while client.get(f"/sweeps/{sweep_id}").json()["state"] in ("queued", "running"):
                time.sleep(1.0)
        return {key: client.get(f"/sweeps/{i}/export", params={"format": "json"}).json() for key, i in ids.items()}


def _in_process(specs: dict[tuple[str, str], SweepSpec], device_name: str) -> Runs:
    from resphase.local import compute_sweep

    out: Runs = {}
    for (preset, variant), spec in specs.items():
        start = time.perf_counter()
        outcomes = compute_sweep(spec, device_name)  # refined as a server would when the spec refines
        out[(preset, variant)] = [row for o in outcomes for row in o.tidy_rows()]
        label = preset if variant == "none" else f"{preset} [{variant}]"
        print(f"{label}: {len(outcomes)} points in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return out


def _resphase_version() -> str:
    try:
        return version("resphase")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return __version__


def _torch_and_device(args: argparse.Namespace) -> tuple[str, str]:
    """torch's version and the device the runs used: this process's (resolved from --device), or
    the server's workers when they ran there (each reports its own on /api/v1/health)."""
    try:
        import torch
    except ImportError:
        torch_version = "not installed"
    else:
        torch_version = str(torch.__version__)
    if args.url:
        return torch_version, f"the workers of {args.url}"
    from worker.engine import resolve_device

    return torch_version, str(resolve_device(args.device))


def provenance(args: argparse.Namespace, size: str, specs: dict[tuple[str, str], SweepSpec],
               elapsed_s: float) -> dict[str, Any]:
    """What made a report, in the order it is shown at its top: the exact command, versions,
    device, date, the command-line options, the run settings of each preset, then of every run."""
    torch_version, device = _torch_and_device(args)
    return {"command": shlex.join(sys.argv), "resphase_version": _resphase_version(), "torch_version": torch_version,
            "device": device, "date": datetime.now(UTC).isoformat(timespec="seconds"), "size": size,
            "where": args.url or "this process", "elapsed_s": round(elapsed_s, 1),
            "options": {k: v for k, v in sorted(vars(args).items()) if k != "command"},
            "preset_settings": {p: s.settings.model_dump(mode="json") for (p, v), s in specs.items() if v == "none"},
            "settings": {f"{p} [{v}]": s.settings.model_dump(mode="json") for (p, v), s in specs.items()}}


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _print_table(claims: list[ClaimResult]) -> None:
    print(f"{'claim':<27} {'preset':<12} {'predicted':>12} {'measured [CI]':>26}  {'verdict':<14} controls")
    for c in claims:
        ci = "" if c.ci is None else f" [{_num(c.ci[0])}, {_num(c.ci[1])}]"
        controls = ", ".join(f"{k['name']}: {k['verdict']}" for k in c.controls)
        print(f"{c.claim:<27} {c.preset:<12} {_num(c.predicted) + ' ± ' + _num(c.tolerance):>12} "
              f"{_num(c.measured) + ci:>26}  {c.verdict:<14} {controls}")


def specs_for(names: list[str], size: str, controls: bool) -> dict[tuple[str, str], SweepSpec]:
    """(preset, variant) -> the sweep to run: each preset as specified, then its controls."""
    out = {}
    for (preset, variant), with_ref in runs_needed(names).items():
        if variant != "none" and not controls:
            continue
        overrides = {} if variant == "none" else VARIANTS[variant].overrides
        out[(preset, variant)] = variant_spec(PRESETS[preset], size, variant, overrides, with_ref)
    return out


def main(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        print(f"resphase reproduce: error: unknown preset(s) {', '.join(unknown)}; "
              f"known: {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    size = "quick" if args.quick else "full"
    specs = specs_for(names, size, not args.no_controls)
    started = time.perf_counter()
    if not args.url:
        require_worker_extra("reproduce")  # in-process: it computes here
    if args.url:
        print(f"running {len(specs)} sweeps through the server at {args.url}", file=sys.stderr)
        runs = _via_server(args.url, specs)
    else:
        runs = _in_process(specs, args.device)
    claims = evaluate_claims(runs)
    if args.json:
        out: list[dict[str, Any]] = [c.to_dict() for c in claims]
        print(json.dumps(out, allow_nan=False))
    else:
        _print_table(claims)
    if args.out:
        meta = provenance(args, size, specs, time.perf_counter() - started)
        Path(args.out).write_text(build_report(runs, claims, f"resphase reproduce ({size})", meta))
        print(f"report written to {args.out}", file=sys.stderr)
    return 0
