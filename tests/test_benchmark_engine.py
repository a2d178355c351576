"""benchmarks/: the plain loop computes what the engine computes, and the benchmark runs and
reports well-formed numbers. No speed thresholds here: timings depend on the machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not an installed package; run from the checkout
    sys.path.insert(0, str(ROOT))

from backend.grid import PointSpec, RunSettings  # noqa: E402
from benchmarks.plain_loop import PlainResNet, run_plain  # noqa: E402
from benchmarks.vmap_loop import train_vmap  # noqa: E402
from worker.engine import compute_points  # noqa: E402
from worker.reference import MemoryDiskReferenceStore  # noqa: E402
from worker.resnet import ResNetConfig, make_problem  # noqa: E402


def _engine_and_plain(dtype: str, scale: str = "mlu", activation: str = "tanh",
                      alphas: tuple[float, ...] = (0.5, 1.0, 4.0), seeds: int = 2, steps: int = 5,
                      ) -> list[tuple[float, int, Any, Any]]:
    """(alpha, seed, engine SeedRun, PlainRun) for every run of a small config."""
    D, L, M, N = 8, 6, 5, 7
    settings = RunSettings(steps=steps, seeds=seeds, n_samples=N, d_in=4, d_out=3, lr=0.7, residual_scale=scale,
                           activation=activation, problem_seed=5, dtype=dtype)
    points = [PointSpec(alpha=a, D=D, L=L, M=M, settings=settings) for a in alphas]
    outcomes = compute_points(points, torch.device("cpu"), MemoryDiskReferenceStore(None))
    cfg = ResNetConfig(D=D, L=L, M=M, activation=activation, residual_scale=scale)  # type: ignore[arg-type]
    problem = make_problem(5, N, 4, 3, D, getattr(torch, dtype))
    configs = [(a, s) for a in alphas for s in range(seeds)]
    plain = run_plain(cfg, problem, configs, 0.7, steps)
    vmapped = train_vmap(cfg, problem, configs, 0.7, steps)
    engine = [(o.point.alpha, r) for o in outcomes for r in o.seeds]
    assert len(engine) == len(plain) == len(vmapped) == len(alphas) * seeds
    for (a, r), p, v in zip(engine, plain, vmapped, strict=True):  # the vmap peer is the plain loop, batched
        assert (v.alpha, v.unit_seed) == (p.alpha, p.unit_seed) == (a, r.unit_seed)
        assert v.diverged_at_step == p.diverged_at_step
        tol = 1e-8 if dtype == "float64" else 1e-3
        assert v.loss_curve == pytest.approx(r.loss_curve[:len(v.loss_curve)], rel=tol)
    return [(a, r.unit_seed, r, p) for (a, r), p in zip(engine, plain, strict=True)]


@pytest.mark.parametrize("scale", ["mlu", "plain"])
@pytest.mark.parametrize("activation", ["tanh", "linear"])
def test_plain_loop_matches_engine_float64(scale: str, activation: str) -> None:
    """Same problem, same initial units, same learning-rate rule: the same loss curve (the plain
    loop here; the vmap peer in _engine_and_plain)."""
    trained = 0
    for alpha, seed, eng, plain in _engine_and_plain("float64", scale, activation):
        assert (plain.alpha, plain.unit_seed) == (alpha, seed)
        assert plain.diverged_at_step == eng.diverged_at_step  # (a linear net can blow up at alpha=4)
        assert plain.loss_final == pytest.approx(eng.metrics["loss_final"], rel=1e-8)
        assert plain.loss_curve == pytest.approx(eng.loss_curve[:len(plain.loss_curve)], rel=1e-8)
        assert plain.seconds > 0
        trained += plain.diverged_at_step is None and plain.loss_curve[-1] < plain.loss_curve[0]
    assert trained >= 3


def test_plain_loop_matches_engine_float32() -> None:
    for _alpha, _seed, eng, plain in _engine_and_plain("float32"):
        assert plain.loss_final == pytest.approx(eng.metrics["loss_final"], rel=1e-3)


def test_plain_loop_stops_where_the_engine_does_on_divergence() -> None:
    """A tiny alpha (a huge step) blows a linear net up: both stop at the same step, same loss."""
    runs = _engine_and_plain("float64", activation="linear", alphas=(0.02, 0.05), seeds=2, steps=6)
    for _alpha, _seed, eng, plain in runs:
        assert eng.diverged_at_step is not None
        assert plain.diverged_at_step == eng.diverged_at_step
        assert len(plain.loss_curve) == eng.diverged_at_step + 1
        assert plain.loss_final == pytest.approx(eng.metrics["loss_final"], rel=1e-8)


def test_plain_resnet_is_one_module_per_block() -> None:
    cfg = ResNetConfig(D=4, L=3, M=2)
    U = torch.randn(3, 2, 4, dtype=torch.float64)
    model = PlainResNet(cfg, U, U.clone(), 0.1)
    assert len(model.blocks) == 3
    assert [tuple(p.shape) for p in model.parameters()] == [(2, 4)] * 6
    assert model(torch.zeros(5, 4, dtype=torch.float64)).shape == (5, 4)


def _positive_finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def test_quick_benchmark_json_is_complete() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.engine", "--quick", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["quick"] is True and report["dtype"] == "float32"
    machine = report["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch_threads"] >= 1
    assert machine["device"] == "cpu" and machine["device_name"] and machine["torch_version"] == torch.__version__
    assert _positive_finite(report["peak"]["flops_per_s"])
    assert report["peak"]["flops_per_s"] == max(report["peak"]["before"], report["peak"]["after"])
    cases = report["cases"]
    assert {c["target"] for c in cases} >= {"ratio", "peak"}
    for c in cases:
        for key in ("engine_seconds", "engine_runs_per_s", "plain_seconds", "plain_runs_per_s", "ratio",
                    "vmap_seconds", "vmap_runs_per_s", "vmap_ratio", "train_flops", "engine_flops_per_s",
                    "peak_fraction"):
            assert _positive_finite(c[key]), (c["name"], key, c[key])
        assert 1 <= c["plain_timed"] <= c["runs"] == len(c["alphas"]) * c["seeds"]
        assert c["ratio"] == pytest.approx(c["engine_runs_per_s"] / c["plain_runs_per_s"])
        assert c["peak_fraction"] == pytest.approx(c["engine_flops_per_s"] / report["peak"]["flops_per_s"])
        assert c["vmap_ratio"] == pytest.approx(c["vmap_seconds"] / c["engine_seconds"])
        assert 0 <= c["agree_within_tol"] <= c["plain_timed"]
        assert 0 <= c["vmap_agree_within_tol"] <= c["runs"]
    assert set(report["targets"]) == {"ratio", "vmap_ratio", "large_ratio", "peak_fraction"}  # no medium case
    for key in ("ratio", "vmap_ratio", "large_ratio", "peak_fraction"):
        t = report["targets"][key]
        assert _positive_finite(t["value"]) and isinstance(t["met"], bool)
        assert t["met"] == (t["value"] >= t["target"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_benchmark_on_cuda_without_a_gpu_says_so() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.engine", "--device", "cuda", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert "--device cuda asked for, but CUDA is not available here" in proc.stderr
