"""Per-step curves while a point trains: a real worker process (`resphase up`) writes the loss so
far every ~2 s, GET /points/{id}/progress serves a growing partial curve before the point finishes,
its values are the final curve's at the same steps, and it is gone once the result is recorded."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.settings import Settings
from tests.conftest import free_port, resphase_env, start, stop, wait_http, wait_sweep
from worker.progress import PROGRESS_SAMPLES, sampled_steps

pytestmark = pytest.mark.slow

# one point of ~5 s on a quiet 2-core worker with the compiled kernel (worker/native.py; 14 s on
# the PyTorch passes): a dozen writes at 0.25 s. A smaller one (L = M = 64, 0.5 s) could finish
# between two writes.
STEPS = 500
LONG = {"name": "long point", "grid": {"alpha": [1], "D": [64], "L": [256], "M": [128]},
        "settings": {"seeds": 2, "steps": STEPS}}


@pytest.fixture
def up(tmp_path: Path) -> Iterator[httpx.Client]:
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data")
    # writes every 0.25 s (2 s by default), so that even a fast machine shows a few before the end
    env = resphase_env(settings, RESPHASE_PROGRESS_INTERVAL_S="0.25")
    env.pop("RESPHASE_DATABASE_URL"), env.pop("RESPHASE_BROKER_URL")
    proc = start(["up", "--port", str(port), "--data-dir", str(settings.data_dir)], env, tmp_path / "up.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        stop(proc, signal.SIGINT)


def test_sampled_steps_keep_both_ends_and_the_budget() -> None:
    assert sampled_steps(3) == [0, 1, 2, 3]
    many = sampled_steps(999)
    assert len(many) <= PROGRESS_SAMPLES and many[0] == 0 and many[-1] == 999 and many == sorted(set(many))


def test_a_running_point_serves_a_growing_partial_curve(up: httpx.Client) -> None:
    client = up
    sid = client.post("/api/v1/sweeps", json=LONG).json()["id"]
    pid = client.get(f"/api/v1/sweeps/{sid}/points").json()["items"][0]["id"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240  # 2 shared cores: other jobs may slow it down a lot
    while time.monotonic() < deadline:
        prog = client.get(f"/api/v1/points/{pid}/progress").json()
        if prog["status"] not in ("queued", "running"):
            break
        if prog["step"] is not None and (not seen or prog["step"] != seen[-1]["step"]):
            seen.append(prog)
        time.sleep(0.1)
    partial = [p for p in seen if p["step"] < STEPS]
    assert len(partial) >= 2, f"too few partial curves before the point finished: {[p['step'] for p in seen]}"
    steps = [p["step"] for p in partial]
    assert steps == sorted(steps) and steps[0] < steps[-1]  # growing
    for p in partial:
        assert p["steps"] == STEPS and p["at_steps"] == sampled_steps(p["step"])
        assert len(p["loss_per_seed"]) == 2
        assert all(len(c) == len(p["at_steps"]) for c in p["loss_per_seed"])
    wait_sweep(client, sid, timeout=240)
    final = client.get(f"/api/v1/points/{pid}").json()["curves"]["loss_per_seed"]
    last = partial[-1]
    for seed, curve in enumerate(last["loss_per_seed"]):
        for k, v in zip(last["at_steps"], curve, strict=True):
            assert math.isclose(v, final[seed][k], rel_tol=1e-12), (seed, k)
    done = client.get(f"/api/v1/points/{pid}/progress").json()
    assert done["status"] == "done" and done["step"] is None and done["loss_per_seed"] == []
    assert client.get("/api/v1/points/999999/progress").status_code == 404
