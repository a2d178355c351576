"""Guardrails before launch: POST /sweeps/validate states the estimated time and the peak memory of
the largest ensemble on one worker, and the API refuses (422 naming the limit) a shape whose memory
cannot fit a worker; the memory model itself is checked against a measured allocation."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.grid import SweepSpec, expand
from backend.main import create_app
from backend.memory import CPU_MEMORY_BUDGET, ensemble_peak_bytes, member_bytes, problem_bytes, sweep_peak
from backend.settings import Limits, Settings

ROOT = Path(__file__).resolve().parent.parent
# the shape: 100 points x 64 seeds at L = M = D = 4096 (one member alone is ~2 TB)
HUGE: dict[str, Any] = {"grid": {"alpha": {"geom": [0.1, 10, 100]}, "D": [4096], "L": [4096], "M": [4096]},
                        "settings": {"seeds": 64, "steps": 1000}}
SMALL: dict[str, Any] = {"grid": {"alpha": [1, 4], "D": [8], "L": [4, 8], "M": [4]},
                         "settings": {"seeds": 2, "steps": 3}}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def test_validate_states_time_and_peak_memory(client: TestClient) -> None:
    r = client.post("/api/v1/sweeps/validate", json=SMALL)
    assert r.status_code == 200, r.text
    body = r.json()
    peak = sweep_peak(expand(SweepSpec.model_validate(SMALL), Limits()))
    assert body["peak_memory_bytes"] == peak.bytes > 0
    assert body["peak_memory_shape"] == {"D": 8, "L": 8, "M": 4}  # the deeper of the two shapes
    assert body["estimated_s"] > 0 and body["estimated_flops"] > 0
    # a stored sweep does not carry the draft-only figure
    created = client.post("/api/v1/sweeps", json=SMALL).json()
    assert created["peak_memory_bytes"] is None
    assert client.get("/api/v1/meta").json()["limits"]["max_memory_bytes_per_worker"] == 16 * 1024**3


@pytest.mark.parametrize("route", ["/api/v1/sweeps/validate", "/api/v1/sweeps"])
def test_a_shape_that_cannot_fit_a_worker_is_refused_naming_the_limit(client: TestClient, route: str) -> None:
    r = client.post(route, json=HUGE)
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    assert detail["limit"] == "max_memory_bytes_per_worker" and detail["loc"] == ["body", "grid"]
    assert detail["limit_value"] == 16 * 1024**3 and detail["value"] > detail["limit_value"]
    assert "D=4096, L=4096, M=4096" in detail["msg"] and "max_memory_bytes_per_worker" in detail["msg"]
    assert client.get("/api/v1/sweeps").json() == []  # nothing stored


def test_the_memory_limit_is_a_setting(settings: Settings) -> None:
    """A team raises or lowers it without touching code: a small shape over a 1 MiB limit is refused."""
    tight = settings.model_copy(update={"limits": Limits(max_memory_bytes_per_worker=1024**2)})
    spec = {**SMALL, "grid": {**SMALL["grid"], "D": [64], "L": [64], "M": [64]}}
    with TestClient(create_app(tight, run_reaper=False)) as c:
        r = c.post("/api/v1/sweeps/validate", json=spec)
        assert r.status_code == 422 and r.json()["detail"][0]["limit"] == "max_memory_bytes_per_worker"
        assert c.post("/api/v1/sweeps/validate", json=SMALL).status_code == 200


def test_peak_is_chunked_and_counts_the_reference() -> None:
    """Chunks cap an ensemble near the budget (one member at least); a reference wider than the
    networks is the worst ensemble."""
    per = member_bytes(64, 256, 256, 100, 4)
    assert ensemble_peak_bytes(64, 256, 256, 10_000, 100, 8, 1, 4) <= CPU_MEMORY_BUDGET + per
    spec = SweepSpec.model_validate({"grid": {"alpha": [1, 2], "D": [16], "L": [2], "M": [2]},
                                     "settings": {"seeds": 2, "steps": 1, "reference": {"L": 64, "M": 64, "seeds": 3}}})
    peak = sweep_peak(expand(spec, Limits()))
    assert peak.shape == {"D": 16, "L": 64, "M": 64} and peak.members == 2 * 3


PROBE = """
import sys, torch
torch.set_num_threads(1)
from worker.resnet import ResNetConfig, make_problem
from worker.train import Member, train_ensemble

def peak_rss():  # VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's over exec)
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1]) * 1024

D, L, M, E, N = (int(x) for x in sys.argv[1:6])
train_ensemble(ResNetConfig(D=4, L=1, M=4), make_problem(0, 4, 8, 1, 4), [Member(1.0, 0)], 1.0, 2)  # warm-up
problem = make_problem(0, N, 8, 1, D)
before = peak_rss()
train_ensemble(ResNetConfig(D=D, L=L, M=M), problem, [Member(1.0, i) for i in range(E)], 1.0, 2)
print(peak_rss() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
@pytest.mark.parametrize("shape", [(32, 64, 32, 32, 128), (256, 8, 256, 8, 256)])
def test_memory_model_matches_a_measured_allocation(shape: tuple[int, int, int, int, int]) -> None:
    """The process's peak resident memory grows by what the model says an ensemble needs (within a
    factor of 2 either way), measured in a fresh process training it for real."""
    D, L, M, E, N = shape
    out = subprocess.run([sys.executable, "-c", PROBE, *map(str, shape)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    measured = int(out.stdout.strip())
    model = ensemble_peak_bytes(D, L, M, E, N, 8, 1, 4) - problem_bytes(D, N, 8, 1, 4)  # made before `before`
    assert model / 2 <= measured <= model * 2, (measured, model)
