"""`resphase run`: train a grid in this process and print one result per point.

The compute (torch) is imported inside `execute`, so `resphase --help` and the API stay light.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend.controls import CONTROLS
from backend.grid import GridSpec, PointSpec, ReferenceSettings, RunSettings, SweepSpec, check_limits, expand
from backend.results import PointOutcome
from backend.settings import get_settings


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def _float_list(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma list of numbers: {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("empty list")
    if any(not math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"values must be finite numbers, got {text!r}")
    return values


def _int_list(text: str) -> list[float]:
    values = _float_list(text)
    if any(v != int(v) for v in values):
        raise argparse.ArgumentTypeError(f"values must be integers, got {text!r}")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=_float_list, required=True, help="comma list, e.g. 0.5,1,2,4")
    p.add_argument("--D", type=_int_list, required=True, help="embedding dimension(s)")
    p.add_argument("--L", type=_int_list, required=True, help="depth(s): residual blocks")
    p.add_argument("--M", type=_int_list, required=True, help="hidden width(s): units per block")
    p.add_argument("--seeds", type=int, default=4, help="unit seeds per point (default 4)")
    p.add_argument("--steps", type=int, default=10, help="K, full-batch GD steps (default 10)")
    p.add_argument("--lr", type=float, default=1.0, help="eta (default 1.0)")
    p.add_argument("--n-samples", type=int, default=10)
    p.add_argument("--d-in", type=int, default=5)
    p.add_argument("--d-out", type=int, default=5)
    p.add_argument("--residual-scale", choices=["mlu", "plain"], default="mlu")
    p.add_argument("--activation", choices=["tanh", "linear"], default="tanh")
    p.add_argument("--problem-seed", type=int, default=0)
    p.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                   help="compare to the large-(L, M) limit (err_out, err_emb); default on")
    ref = ReferenceSettings()
    p.add_argument("--ref-L", type=int, default=ref.L)
    p.add_argument("--ref-M", type=int, default=ref.M)
    p.add_argument("--ref-seeds", type=int, default=ref.seeds,
                   help=f"reference seeds (default {ref.seeds}): more seeds lower its noise floor")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--control", choices=list(CONTROLS), default="none",
                   help="a negative control: deliberately wrong physics (see docs/science.md)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--cache-dir", default=None, help="where references are cached "
                   "(default $RESPHASE_CACHE_DIR or ~/.cache/resphase)")
    p.add_argument("--json", action="store_true", help="one JSON object per point, per line")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


_FLAGS = {"steps": "--steps", "lr": "--lr", "seeds": "--seeds", "n_samples": "--n-samples",
          "d_in": "--d-in", "d_out": "--d-out", "problem_seed": "--problem-seed"}
_REF_FLAGS = {"L": "--ref-L", "M": "--ref-M", "seeds": "--ref-seeds"}


def _usage(exc: ValidationError, flags: dict[str, str]) -> UsageError:
    err = exc.errors()[0]
    name = str(err["loc"][-1]) if err["loc"] else "?"
    return UsageError(f"{flags.get(name, name)}: {err['msg'].lower()} (got {err.get('input')!r})")


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """The sweep the arguments describe, validated against the configured limits."""
    try:
        reference = (ReferenceSettings(L=args.ref_L, M=args.ref_M, seeds=args.ref_seeds)
                     if args.reference else None)
    except ValidationError as exc:
        raise _usage(exc, _REF_FLAGS) from exc
    try:
        settings = RunSettings(
            steps=args.steps, lr=args.lr, seeds=args.seeds, n_samples=args.n_samples,
            d_in=args.d_in, d_out=args.d_out, residual_scale=args.residual_scale,
            activation=args.activation, problem_seed=args.problem_seed, reference=reference,
            dtype=args.dtype, control=args.control)
    except ValidationError as exc:
        raise _usage(exc, _FLAGS) from exc
    spec = SweepSpec(name="cli", grid=GridSpec(alpha=args.alpha, D=args.D, L=args.L, M=args.M),
                     settings=settings)
    violations = check_limits(spec, get_settings().limits)
    if violations:
        raise UsageError(violations[0].message)
    return spec


def _table_row(o: PointOutcome) -> str:
    agg = o.aggregates()

    def num(name: str) -> str:
        mean = agg[name].mean
        return f"{mean:10.4g}" if mean is not None else f"{'-':>10}"

    p = o.point
    return (f"{p.alpha:8.4g} {p.D:5d} {p.L:5d} {p.M:5d}  {o.regime:<16} {num('loss_final')} "
            f"{num('feature_update')} {num('laziness')} {num('init_deviation')} {num('err_out')} "
            f"{o.timing_s:7.2f}")


TABLE_HEADER = (f"{'alpha':>8} {'D':>5} {'L':>5} {'M':>5}  {'regime':<16} {'loss_final':>10} "
                f"{'feat_upd':>10} {'laziness':>10} {'init_dev':>10} {'err_out':>10} {'time_s':>7}")


def execute(args: argparse.Namespace) -> int:
    spec = build_spec(args)
    points: list[PointSpec] = expand(spec, get_settings().limits)
    from backend.progress import ProgressBar
    from worker.engine import compute_points, resolve_device
    from worker.reference import MemoryDiskReferenceStore

    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from exc
    cache_dir = get_settings().resolved_cache_dir if args.cache_dir is None else Path(args.cache_dir)
    store = MemoryDiskReferenceStore(cache_dir)
    bar = ProgressBar(len(points), "points", enabled=args.progress)
    if not args.json:
        print(TABLE_HEADER, flush=True)
    done = 0

    def on_point(outcome: PointOutcome) -> None:
        nonlocal done
        done += 1
        bar.update(done)
        line: Any = json.dumps(outcome.to_json(), allow_nan=False) if args.json else _table_row(outcome)
        print(line, flush=True)

    compute_points(points, device, store, on_point=on_point)
    bar.close()
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return execute(args)
    except UsageError as exc:
        print(f"resphase run: error: {exc}", file=sys.stderr)
        return 2
