"""The API benchmark under a team's load: `connections` clients at once (threads, one keep-alive
httpx connection each) repeat one request for `seconds`; and the sweep list over `list_sweeps`
stored sweeps (filled here, one small queued sweep each, through the store as POST /sweeps does).
Each request's time runs from sending it to having read the whole body (gzip as browsers ask)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import httpx

from backend.grid import GridSpec, RunSettings, SweepSpec, expand, expanded_axes
from backend.settings import Limits
from backend.store import Database
from backend.store.sweeps import create_sweep
from benchmarks.api_timing import API, Op, time_get

HEADERS = {"Accept-Encoding": "gzip"}  # what a browser sends; the body is timed as decoded


def fill_sweeps(db: Database, n: int, progress: Callable[[str], None]) -> float:
    """`n` one-point sweeps (queued, distinct points), as many submissions would leave them; seconds."""
    t0 = time.perf_counter()
    limits = Limits()
    for i in range(n):
        spec = SweepSpec(name=f"benchmarks.api list {i}", grid=GridSpec(alpha=[1.0 + i / 1000.0], D=[8], L=[4], M=[4]),
                         settings=RunSettings(seeds=1, steps=2))
        with db.session() as s:
            create_sweep(s, spec, expand(spec, limits), expanded_axes(spec.grid, limits))
    progress(f"  stored {n} more sweeps for the list in {time.perf_counter() - t0:.1f} s")
    return time.perf_counter() - t0


def load(base: str, group: str, name: str, path: str, connections: int, seconds: float) -> Op:
    """`connections` threads GET `path` back to back for `seconds` (after one warm-up each)."""
    samples: list[list[float]] = [[] for _ in range(connections)]
    sizes: list[int] = [0] * connections
    errors: list[str] = []
    start = threading.Barrier(connections + 1)

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=120, headers=HEADERS) as client:
            try:
                sizes[k] = len(client.get(path).content)
                start.wait()
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    resp = client.get(path)
                    samples[k].append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"GET {path} -> {resp.status_code}: {resp.text[:300]}")
            except Exception as exc:  # reported below, after every thread stopped
                errors.append(repr(exc))
                start.abort()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(connections)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: its error is raised below
        start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{name}: {errors[0]}")
    flat = [x for s in samples for x in s]
    return Op(group, f"{name}, {connections} connections", f"GET {path}", flat, sizes[0],
              extra={"connections": connections, "req_per_s": len(flat) / wall, "seconds": wall})


def time_list(client: httpx.Client, sweeps: int, repeats: int) -> list[Op]:
    """GET /sweeps as the page polls it (limit 50) and at the largest page (500), over `sweeps` stored."""
    def count(resp: httpx.Response) -> int:
        return len(resp.json())

    return [time_get(client, "list", f"GET /sweeps?limit={limit} of {sweeps} sweeps", f"{API}/sweeps?limit={limit}",
                     repeats, count) for limit in (50, 500)]
