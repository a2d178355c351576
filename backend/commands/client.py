"""`resphase sweep submit|list|status` and `resphase export`: clients of a running server, on the
same client code as notebooks (resphase.Client).

The server is --url, else $RESPHASE_URL, else the last `resphase up` still running (its record),
else http://127.0.0.1:8000 (backend.server_record.resolve_url). Expected failures print one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from backend.server_record import resolve_url
from resphase import ApiError, Client, ServerUnreachable, Sweep, connect


def add_client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help="server address (default $RESPHASE_URL, else the last `resphase up` still running, "
                        "else http://127.0.0.1:8000)")


LIST_HEADER = (f"{'id':>5}  {'state':<22} {'points':>7} {'finished':>8} {'done':>5} {'diverged':>8} {'failed':>6} "
               f"{'running':>7} {'queued':>6}  name")


def _line(s: Sweep) -> str:
    c = s.counts
    label = str(s.summary.get("label", s.status)).replace("_", " ")
    return (f"{s.id:>5}  {label:<22} {s.n_points:>7} {100 * s.progress:7.1f}% {c.get('done', 0):>5} "
            f"{c.get('diverged', 0):>8} {c.get('failed', 0):>6} {c.get('running', 0):>7} {c.get('queued', 0):>6}  "
            f"{s.name}")


def submit(client: Client, args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.file).read_text())
    s = client.submit(spec)
    print(f"sweep {s.id}: {s.n_points} points ({s.summary['n_reused']} already computed), "
          f"~{s.summary['estimated_flops']:.3g} FLOPs", flush=True)
    if not args.wait:
        return 0
    s.wait(poll=args.poll, progress=args.progress)
    print(LIST_HEADER)
    print(_line(s))
    return 0 if s.counts.get("failed", 0) == 0 else 1


def list_sweeps(client: Client, args: argparse.Namespace) -> int:
    print(LIST_HEADER)
    for s in client.sweeps(limit=args.limit, name=args.name, tag=args.tag, owner=args.owner):
        print(_line(s))
    return 0


def status(client: Client, args: argparse.Namespace) -> int:
    s = client.sweep(args.id)
    if args.json:
        print(json.dumps(s.summary, indent=2))
    else:
        print(LIST_HEADER)
        print(_line(s))
    return 0


def export(client: Client, args: argparse.Namespace) -> int:
    with client.stream(f"/sweeps/{args.id}/export", params={"format": args.format}) as resp:
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for chunk in resp.iter_bytes():
                out.write(chunk)
        finally:
            if args.output:
                out.close()
    return 0


def _quiet_stdout() -> None:
    """After a closed pipe (`| head`): point stdout at /dev/null so the interpreter's last flush
    does not fail again (the recipe of Python's signal module documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def run_client(fn: Callable[[Client, argparse.Namespace], int], args: argparse.Namespace) -> int:
    url = resolve_url(args.url)
    try:
        with connect(url) as client:
            code = int(fn(client, args))
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (ApiError, ServerUnreachable) as exc:
        print(f"resphase: error: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:  # a timeout or a connection dropped mid-answer
        print(f"resphase: error: {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as exc:
        print(f"resphase: error: {exc}", file=sys.stderr)
        return 2


def handler(name: str) -> Callable[[Client, argparse.Namespace], int]:
    table: dict[str, Callable[[Client, argparse.Namespace], int]] = {
        "submit": submit, "list": list_sweeps, "status": status, "export": export}
    return table[name]
