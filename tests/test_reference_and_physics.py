"""The reference limit, its cache, and the qualitative physics of docs/science.md section 4 at small sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backend.grid import PointSpec, ReferenceSettings, RunSettings
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore, ensure_references, reference_key
from worker.resnet import make_problem
from worker.train import train_ensemble

CPU = torch.device("cpu")


def _points(alphas: list[float], D: int, Ls: list[int], Ms: list[int], **settings: object) -> list[PointSpec]:
    s = RunSettings(**settings)
    return [PointSpec(a, D, L, M, s) for a in alphas for L in Ls for M in Ms]


def test_reference_at_init_is_the_identity_map(tmp_path: Path) -> None:
    """With K = 0 the limit network is h^L = h^0, so f_ref = W_U^T W_E x / D."""
    ref_settings = ReferenceSettings(L=256, M=256, seeds=2)
    point = _points([1.0], 16, [4], [4], steps=0, reference=ref_settings, dtype="float64")[0]
    refs = ensure_references([point], MemoryDiskReferenceStore(tmp_path), CPU)
    ref = refs[reference_key(point)]
    problem = make_problem(0, 10, 5, 5, 16, dtype=torch.float64)
    expected = (problem.W_U.T @ problem.W_E @ problem.X.T).T / 16  # (N, d_out)
    # fluctuation of the finite reference ~ 0.5 sqrt(D/(L M)) per coordinate of h
    np.testing.assert_allclose(ref.f, expected.numpy(), atol=0.02)
    np.testing.assert_allclose(ref.h, problem.h0.numpy(), atol=0.05)
    assert ref.n_seeds == 2


def test_references_are_computed_once_and_cached_on_disk(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting_train(*args: object, **kwargs: object) -> list:
        calls.append(len(args[2]))  # type: ignore[arg-type]
        return train_ensemble(*args, **kwargs)  # type: ignore[arg-type]

    points = _points([1.0, 2.0], 8, [4, 8], [4], steps=2, reference=ReferenceSettings(L=16, M=16, seeds=3))
    store = MemoryDiskReferenceStore(tmp_path)
    first = ensure_references(points, store, CPU, train=counting_train)
    assert calls == [6]  # one batched ensemble: 2 alphas x 3 reference seeds, shared by both L
    assert len(first) == 2
    ensure_references(points, store, CPU, train=counting_train)
    assert calls == [6]
    fresh = MemoryDiskReferenceStore(tmp_path)  # a new process reads them back from disk
    again = ensure_references(points, fresh, CPU, train=counting_train)
    assert calls == [6]
    for key, ref in first.items():
        np.testing.assert_array_equal(again[key].f, ref.f)
        np.testing.assert_array_equal(again[key].h, ref.h)


def test_feature_update_is_flat_in_L_and_M_at_alpha_one(tmp_path: Path) -> None:
    points = _points([1.0], 16, [16, 64], [16, 64], seeds=3)
    out = compute_points(points, CPU, MemoryDiskReferenceStore(None))
    values = [o.aggregates()["feature_update"].mean for o in out]
    assert all(v is not None for v in values)
    mean = float(np.mean([v for v in values if v is not None]))
    assert all(abs(v - mean) < 0.15 * mean for v in values if v is not None), values
    assert all(o.regime == "feature_learning" for o in out)


def test_feature_update_falls_like_one_over_alpha_in_the_lazy_range() -> None:
    alphas = [2.0, 4.0, 8.0]
    out = compute_points(_points(alphas, 16, [64], [64], seeds=3), CPU, MemoryDiskReferenceStore(None))
    fu = [o.aggregates()["feature_update"].mean or 0.0 for o in out]
    assert fu[0] > fu[1] > fu[2]
    slope = np.polyfit(np.log(alphas), np.log(fu), 1)[0]
    assert -1.25 < slope < -0.75, slope
    assert [o.regime for o in out][-1] == "lazy"
    laziness = [o.aggregates()["laziness"].mean or 0.0 for o in out]
    assert max(laziness) < 1.3 * min(laziness)  # flat in alpha inside the lazy regime


def test_err_out_decreases_with_depth_at_fixed_width(tmp_path: Path) -> None:
    points = _points([1.0], 16, [4, 16, 64], [64], seeds=3, reference=ReferenceSettings())
    out = compute_points(points, CPU, MemoryDiskReferenceStore(tmp_path))
    err = [o.aggregates()["err_out"].mean for o in out]
    assert all(e is not None for e in err)
    assert err[0] > err[1] > err[2], err  # type: ignore[operator]


def test_noise_dominated_when_alpha_exceeds_sqrt_LM_over_D() -> None:
    out = compute_points(_points([64.0], 16, [16], [16], seeds=2), CPU, MemoryDiskReferenceStore(None))
    assert out[0].regime == "noise_dominated"
    dev = out[0].aggregates()["init_deviation"].mean
    assert dev is not None and dev > 1.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_point_outcome_json_has_every_metric(dtype: str) -> None:
    out = compute_points(_points([1.0], 8, [4], [4], seeds=2, dtype=dtype), CPU, MemoryDiskReferenceStore(None))
    doc = out[0].to_json()
    assert doc["config"]["dtype"] == dtype and doc["config"]["reference"] is None
    assert doc["metrics"]["err_out"] == {"mean": None, "stderr": None, "n": 0, "values": [None, None]}
    assert len(doc["curves"]["loss"]) == 11
    assert doc["provenance"]["device"] == "cpu"
    # float32 on the CPU at this size trains on the compiled kernel, float64 on the PyTorch passes
    assert doc["provenance"]["engine"] == ("native" if dtype == "float32" else "torch")


def test_the_provenance_names_the_engine_that_trained_the_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """RESPHASE_NATIVE=0 trains float32 on the PyTorch passes, and the result says so."""
    monkeypatch.setenv("RESPHASE_NATIVE", "0")
    out = compute_points(_points([1.0], 8, [4], [4], seeds=2), CPU, MemoryDiskReferenceStore(None))
    assert out[0].to_json()["provenance"]["engine"] == "torch"
