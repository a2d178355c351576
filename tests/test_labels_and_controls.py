"""Regime labels that do not lie, point flags, and the negative controls doing what they say."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backend.grid import PointSpec, ReferenceSettings, RunSettings
from backend.metrics import classify, point_flags
from backend.results import PointOutcome, Provenance, SeedRun
from worker.engine import compute_points
from worker.reference import MemoryDiskReferenceStore, ensure_references, reference_key
from worker.resnet import ResNetConfig, init_units, learning_rate, residual_multiplier

CPU = torch.device("cpu")


def _run(alphas: list[float], D: int = 16, L: int = 32, M: int = 32, **settings: object) -> list[PointOutcome]:
    s = RunSettings(**settings)
    return compute_points([PointSpec(a, D, L, M, s) for a in alphas], CPU, MemoryDiskReferenceStore(None))


@pytest.mark.parametrize(("lr", "steps", "problem_seed"), [(1.0, 10, 0), (0.1, 10, 0), (1.0, 50, 0), (1.0, 10, 5)])
def test_feature_learning_label_does_not_depend_on_the_training_budget(lr: float, steps: int,
                                                                        problem_seed: int) -> None:
    """alpha = 1 learns features and alpha = 4 is lazy whatever eta, K and the problem (the
    absolute threshold labelled alpha = 1 lazy at eta = 0.1 and alpha = 4 feature learning at K = 50)."""
    at_1, at_4 = _run([1.0, 4.0], lr=lr, steps=steps, problem_seed=problem_seed)
    assert at_1.regime == "feature_learning", at_1.aggregates()["feature_update_rel"]
    assert at_4.regime == "lazy", at_4.aggregates()["feature_update_rel"]


def test_tiny_alpha_is_saturated_not_feature_learning() -> None:
    (tiny,) = _run([1 / 64])
    assert tiny.aggregates()["feature_update"].mean > 3  # type: ignore[operator]
    assert tiny.regime == "saturated"


def test_a_loss_that_blew_up_short_of_divergence_is_unstable() -> None:
    # lr = 48 at L = M = 16 for K = 2 steps: every seed's loss grows 15 to 650 times (far above
    # the 2x label threshold, far below the 1e6 divergence rule), the same to 2% in float32, in
    # float64 and with torch's own tanh. Longer runs at a large lr are chaotic (K = 10 at lr = 8:
    # a seed's growth moved from 1x to 370x with a float-rounding change), so K is kept short.
    (point,) = _run([0.25], D=8, L=16, M=16, lr=48.0, steps=2)
    agg = point.aggregates()
    assert point.status == "done"  # the 1e6 divergence rule did not fire
    assert agg["loss_final"].mean > 2 * agg["loss_init"].mean  # type: ignore[operator]
    assert point.regime == "unstable"


def test_means_of_a_diverged_point_leave_out_the_diverged_seeds_for_every_metric() -> None:
    prov = Provenance("0", "0", "cpu", "float32")
    seeds = [SeedRun(0, {"loss_init": 1.0, "loss_final": 0.5, "feature_update": 0.6}, [1.0, 0.5]),
             SeedRun(1, {"loss_init": 1.0, "loss_final": 5e7, "feature_update": math.nan}, [1.0, 5e7], 1)]
    point = PointOutcome(PointSpec(1.0, 8, 4, 4, RunSettings()), seeds, 0.0, prov)
    agg = point.aggregates()
    assert point.status == "diverged" and point.regime == "diverged"
    assert agg["loss_final"].mean == 0.5 and agg["loss_final"].n == 1
    assert agg["loss_init"].n == 1
    assert point.mean_loss_curve() == [1.0, 0.5]


def test_flags_near_the_floor_and_float32_noise() -> None:
    assert point_flags({"err_out": 0.002, "err_out_floor": 0.001}, "lazy", "float64") == ["near_floor_out"]
    assert point_flags({"err_out": 0.004, "err_out_floor": 0.001}, "lazy", "float32") == []
    assert point_flags({}, "noise_dominated", "float32") == ["float32_chaotic"]
    assert point_flags({}, "noise_dominated", "float64") == []


def test_label_precedence() -> None:
    base = {"loss_init": 1.0, "loss_final": 0.5, "init_deviation": 0.1, "feature_update": 0.5,
            "feature_update_rel": 1.0}
    assert classify(base, diverged=True) == "diverged"
    assert classify({**base, "loss_final": 3.0, "init_deviation": 2.0}, False) == "unstable"
    assert classify({**base, "init_deviation": 0.6, "feature_update": 5.0}, False) == "noise_dominated"
    assert classify({**base, "feature_update": 5.0}, False) == "saturated"
    assert classify(base, False) == "feature_learning"
    assert classify({**base, "feature_update_rel": 0.3}, False) == "lazy"
    assert classify({**base, "feature_update": 0.0, "feature_update_rel": None}, False) == "lazy"  # K = 0


def test_tied_units_copy_one_block_over_depth() -> None:
    tied = ResNetConfig(D=4, L=5, M=3, tied_units=True)
    U, V = init_units(tied, [0, 1], dtype=torch.float64)
    assert U.shape == (5, 2, 3, 4)
    for layer in range(1, 5):
        assert torch.equal(U[layer], U[0]) and torch.equal(V[layer], V[0])
    assert not torch.equal(U[:, 0], U[:, 1])
    free, _ = init_units(ResNetConfig(D=4, L=5, M=3), [0], dtype=torch.float64)
    assert not torch.equal(free[1], free[0])


def test_lr_controls_scale_the_standard_rule() -> None:
    cfg = ResNetConfig(D=16, L=8, M=4)
    s = residual_multiplier(3.0, cfg)
    standard = learning_rate(1.0, s, cfg, 3.0)
    assert standard == pytest.approx(8 * 4 / 9)  # mlu: eta * L * M / alpha^2
    assert learning_rate(1.0, s, ResNetConfig(16, 8, 4, lr_rule="inverse_alpha"), 3.0) == pytest.approx(standard * 3)
    assert learning_rate(1.0, s, ResNetConfig(16, 8, 4, lr_rule="unscaled"), 3.0) == pytest.approx(standard / 32)


def test_controls_reach_the_model_and_the_reference_as_documented() -> None:
    for control, net, ref in [("tied_units", True, False), ("lr_inverse_alpha", True, True),
                              ("reference_other_problem", False, True)]:
        s = RunSettings(control=control)
        changed_net = ResNetConfig.of(8, 4, 4, s) != ResNetConfig.of(8, 4, 4, RunSettings())
        assert changed_net is net, control
        r = ReferenceSettings(L=8, M=8, seeds=2)
        point = PointSpec(1.0, 8, 4, 4, s.model_copy(update={"reference": r}))
        plain = PointSpec(1.0, 8, 4, 4, RunSettings(reference=r))
        assert (reference_key(point) != reference_key(plain)) is ref, control


def test_reference_of_another_problem_is_that_problem_s_reference() -> None:
    r = ReferenceSettings(L=16, M=16, seeds=2)
    other = PointSpec(1.0, 8, 4, 4, RunSettings(steps=3, reference=r, control="reference_other_problem"))
    seed1 = PointSpec(1.0, 8, 4, 4, RunSettings(steps=3, reference=r, problem_seed=1))
    refs = ensure_references([other, seed1], MemoryDiskReferenceStore(None), CPU)
    np.testing.assert_array_equal(refs[reference_key(other)].f, refs[reference_key(seed1)].f)


def test_reference_noise_floor_is_the_standard_error_of_its_seed_mean() -> None:
    r2, r8 = ReferenceSettings(L=16, M=16, seeds=2), ReferenceSettings(L=16, M=16, seeds=8)
    points = [PointSpec(1.0, 8, 4, 4, RunSettings(steps=3, reference=r)) for r in (r2, r8)]
    refs = ensure_references(points, MemoryDiskReferenceStore(None), CPU)
    f2, f8 = (refs[reference_key(p)].f_floor for p in points)
    assert 0 < f8 < f2  # more seeds, lower floor (about 1/sqrt(seeds))
    out = compute_points(points[1:], CPU, MemoryDiskReferenceStore(None))[0]
    assert out.aggregates()["err_out_floor"].mean == pytest.approx(f8)


def test_an_alpha_too_small_to_compute_diverges_alone() -> None:
    """s^2 underflows at alpha = 1e-300: that member diverges, its siblings in the ensemble finish."""
    tiny, one = _run([1e-300, 1.0], D=4, L=2, M=2, seeds=2)
    assert tiny.status == "diverged" and [s.diverged_at_step for s in tiny.seeds] == [1, 1]
    assert one.status == "done"
