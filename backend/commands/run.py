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

from backend.grid import GridSpec, PointSpec, SweepSpec, check_limits, expand
from backend.needs import require_worker_extra
from backend.results import PointOutcome
from backend.run_settings import RunSettings, SettingField, setting_fields
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


def _flag(field: SettingField, prefix: str | None = None) -> str:
    """--n-samples from n_samples; a nested field's flag carries its group's prefix (--ref-L)."""
    name = field.name.rsplit(".", 1)[-1].replace("_", "-")
    return f"--{prefix}-{name}" if prefix else f"--{name}"


def _dest(field: SettingField) -> str:
    return "setting__" + field.name.replace(".", "__")


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() else f"{v:g}"


def _help(field: SettingField) -> str:
    bounds = [f"{op} {_num(v)}" for op, v in ((">=", field.minimum), (">", field.exclusive_minimum),
                                               ("<=", field.maximum), ("<", field.exclusive_maximum))
              if v is not None]
    limits = f"; {', '.join(bounds)}" if bounds else ""
    return f"{field.description} (default {field.default}{limits})".replace("%", "%%")


def setting_flags() -> list[tuple[SettingField, str]]:
    """Every run setting (backend/run_settings.py) with its flag; a nested group (the reference)
    comes first as itself (--reference/--no-reference), then each of its fields (--ref-L)."""
    out: list[tuple[SettingField, str]] = []
    for field in setting_fields():
        out.append((field, _flag(field)))
        if field.type == "group":
            out += [(sub, _flag(sub, field.cli_prefix or field.name)) for sub in field.fields or []]
    return out


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per run setting, named, typed, bounded and described by its field; a group is
    on by default."""
    for field, flag in setting_flags():
        dest, metavar = _dest(field), field.name.rsplit(".", 1)[-1].upper()
        if field.type in ("group", "boolean"):
            default = True if field.type == "group" else field.default
            p.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=default,
                           help=f"{field.description.split(';')[0]} (default {'on' if default else 'off'})")
        elif field.type == "choice":
            p.add_argument(flag, dest=dest, choices=field.choices, default=field.default, help=_help(field))
        else:
            kind = {"integer": int, "number": float, "string": str}[field.type]
            p.add_argument(flag, dest=dest, type=kind, default=field.default, metavar=metavar, help=_help(field))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=_float_list, required=True, help="comma list, e.g. 0.5,1,2,4")
    p.add_argument("--D", type=_int_list, required=True, help="embedding dimension(s)")
    p.add_argument("--L", type=_int_list, required=True, help="depth(s): residual blocks")
    p.add_argument("--M", type=_int_list, required=True, help="hidden width(s): units per block")
    add_settings_arguments(p)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--cache-dir", default=None, help="where references are cached "
                   "(default $RESPHASE_CACHE_DIR or ~/.cache/resphase)")
    p.add_argument("--json", action="store_true", help="one JSON object per point, per line")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The RunSettings the flags of add_settings_arguments describe (UsageError naming the flag)."""
    values: dict[str, Any] = {}
    for field in setting_fields():
        if field.type == "group":
            on = getattr(args, _dest(field))
            values[field.name] = {sub.name.split(".")[-1]: getattr(args, _dest(sub))
                                  for sub in field.fields or []} if on else None
        else:
            values[field.name] = getattr(args, _dest(field))
    try:
        return RunSettings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        name = next((flag for field, flag in setting_flags() if field.name == loc), loc or "?")
        raise UsageError(f"{name}: {err['msg'].lower()} (got {err.get('input')!r})") from exc


def build_spec(args: argparse.Namespace) -> SweepSpec:
    """The sweep the arguments describe, validated against the configured limits."""
    spec = SweepSpec(name="cli", grid=GridSpec(alpha=args.alpha, D=args.D, L=args.L, M=args.M),
                     settings=settings_from_args(args))
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
    from resphase.local import DeviceError, check_device, compute

    try:
        check_device(args.device)  # before the table header: a bad device is a one-line usage error
    except DeviceError as exc:
        raise UsageError(f"--device: {exc}") from exc
    cache_dir = None if args.cache_dir is None else Path(args.cache_dir)
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

    compute(points, args.device, cache_dir, on_point=on_point)
    bar.close()
    return 0


def main(args: argparse.Namespace) -> int:
    require_worker_extra("run")
    try:
        return execute(args)
    except UsageError as exc:
        print(f"resphase run: error: {exc}", file=sys.stderr)
        return 2
