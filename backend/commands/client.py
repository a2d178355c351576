"""`resphase sweep submit|list|status` and `resphase export`: clients of a running server."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from backend.progress import ProgressBar


def add_client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=os.environ.get("RESPHASE_URL", "http://127.0.0.1:8000"),
                   help="server address (default $RESPHASE_URL or http://127.0.0.1:8000)")


class ClientError(Exception):
    pass


def _client(args: argparse.Namespace) -> httpx.Client:
    token = os.environ.get("RESPHASE_API_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=args.url.rstrip("/") + "/api/v1", headers=headers, timeout=60)


def _check(resp: httpx.Response) -> Any:
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail")
        except ValueError:
            detail = resp.text
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        raise ClientError(f"HTTP {resp.status_code}: {detail}")
    return resp.json() if resp.content else None


def _line(s: dict[str, Any]) -> str:
    c = s["counts"]
    return (f"{s['id']:>5}  {s['name'][:24]:<24} {s['state']:<9} {s['n_points']:>7} {100 * s['progress']:6.1f}%  "
            f"done {c.get('done', 0)} diverged {c.get('diverged', 0)} failed {c.get('failed', 0)} "
            f"running {c.get('running', 0)} queued {c.get('queued', 0)}")


def submit(args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.file).read_text())
    with _client(args) as client:
        s = _check(client.post("/sweeps", json=spec))
        print(f"sweep {s['id']}: {s['n_points']} points ({s['n_reused']} already computed), "
              f"~{s['estimated_flops']:.3g} FLOPs", flush=True)
        if not args.wait:
            return 0
        bar = ProgressBar(s["n_points"], f"sweep {s['id']}", enabled=True if args.progress else None)
        while s["state"] == "running":
            time.sleep(args.poll)
            s = _check(client.get(f"/sweeps/{s['id']}"))
            bar.update(round(s["progress"] * s["n_points"]), f"{s['counts'].get('running', 0)} running")
        bar.close()
        print(_line(s))
        return 0 if s["counts"].get("failed", 0) == 0 else 1


def list_sweeps(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for s in _check(client.get("/sweeps")):
            print(_line(s))
    return 0


def status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        s = _check(client.get(f"/sweeps/{args.id}"))
    print(json.dumps(s, indent=2) if args.json else _line(s))
    return 0


def export(args: argparse.Namespace) -> int:
    with _client(args) as client, client.stream("GET", f"/sweeps/{args.id}/export",
                                                params={"format": args.format}) as resp:
        if resp.status_code >= 400:
            resp.read()
            _check(resp)
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            for chunk in resp.iter_bytes():
                out.write(chunk)
        finally:
            if args.output:
                out.close()
    return 0


def run_client(fn: Any, args: argparse.Namespace) -> int:
    try:
        return int(fn(args))
    except ClientError as exc:
        print(f"resphase: error: {exc}", file=sys.stderr)
        return 2
    except httpx.ConnectError as exc:
        print(f"resphase: error: cannot reach {args.url} ({exc}); is `resphase up` running?", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as exc:
        print(f"resphase: error: {exc}", file=sys.stderr)
        return 2
