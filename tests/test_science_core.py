"""The ResNet ensemble, its training step and diagnostics, against docs/science.md sections 1-2."""

from __future__ import annotations

import math

import pytest
import torch

from worker.passes import backward, folded, forward_cached, new_cache, true_gradients
from worker.resnet import (
    ResNetConfig,
    ResNetEnsemble,
    half_mse,
    init_units,
    learning_rate,
    make_problem,
    readout,
    residual_multiplier,
)
from worker.train import Member, train_ensemble

F64 = torch.float64


@pytest.mark.parametrize("activation", ["tanh", "linear"])
@pytest.mark.parametrize("scale", ["mlu", "plain"])
def test_one_step_equals_autograd_gradient_step(activation: str, scale: str) -> None:
    """train_ensemble's first update == U - lr * autograd grad of l, with lr = eta*D/(s^2 L M)."""
    cfg = ResNetConfig(D=8, L=5, M=6, activation=activation, residual_scale=scale)  # type: ignore[arg-type]
    problem = make_problem(3, 7, 4, 3, cfg.D, dtype=F64)
    alphas, eta = [0.7, 2.5], 0.3
    U0, V0 = init_units(cfg, [11, 12], dtype=F64)
    s = torch.tensor([residual_multiplier(a, cfg) for a in alphas], dtype=F64)
    model = ResNetEnsemble(cfg, U0.clone(), V0.clone(), s)
    loss = half_mse(readout(model(problem.h0), problem.W_U), problem.Y).sum()
    loss.backward()
    assert model.U.grad is not None and model.V.grad is not None
    lr = torch.tensor([learning_rate(eta, float(x), cfg) for x in s], dtype=F64)[None, :, None, None]
    expected_U = U0 - lr * model.U.grad
    expected_V = V0 - lr * model.V.grad
    # The manual backward gives autograd's gradient ...
    Uh, sV = folded(cfg, U0, V0, s)
    cache = forward_cached(cfg, Uh, sV, problem.h0, new_cache(cfg, 2, 7, U0))
    f = readout(cache.h_out, problem.W_U)
    torch.testing.assert_close(cache.h_out, model(problem.h0).detach(), rtol=1e-12, atol=1e-12)
    grad_h = (f - problem.Y) @ problem.W_U.T / (cfg.D * 7 * 3)
    raw_U, raw_V = torch.empty_like(U0), torch.empty_like(V0)
    backward(cfg, Uh, sV, cache, grad_h, raw_U, raw_V)
    dU, dV = true_gradients(cfg, s, raw_U, raw_V)
    torch.testing.assert_close(dU, model.U.grad, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(dV, model.V.grad, rtol=1e-10, atol=1e-14)
    # ... and one step of training lands where that gradient step does: the loss after one
    # step equals the loss of the autograd-updated network.
    results = train_ensemble(cfg, problem, [Member(a, seed) for a, seed in zip(alphas, [11, 12], strict=True)],
                             eta, steps=1)
    after = ResNetEnsemble(cfg, expected_U, expected_V, s)
    with torch.no_grad():
        mse_after = 2 * half_mse(readout(after(problem.h0), problem.W_U), problem.Y)
    for r, expected in zip(results, mse_after.tolist(), strict=True):
        assert r.loss_curve[1] == pytest.approx(expected, rel=1e-12)


def test_mlu_learning_rate_is_eta_LM_over_alpha_squared() -> None:
    cfg = ResNetConfig(D=9, L=4, M=5)
    s = residual_multiplier(2.0, cfg)
    assert s == pytest.approx(2.0 * 3 / 20)
    assert learning_rate(0.5, s, cfg) == pytest.approx(0.5 * 20 / 4.0)
    plain = ResNetConfig(D=9, L=4, M=5, residual_scale="plain")
    assert residual_multiplier(2.0, plain) == pytest.approx(2.0 / 20)


def _metrics(results: list, name: str) -> list[float]:
    return [r.metrics[name] for r in results]


def test_batched_equals_one_by_one() -> None:
    cfg = ResNetConfig(D=12, L=6, M=7)
    problem = make_problem(0, 10, 5, 5, cfg.D, dtype=F64)
    members = [Member(a, seed) for a in (0.5, 1.0, 4.0) for seed in (0, 1)]
    batched = train_ensemble(cfg, problem, members, 1.0, 5)
    for member, r in zip(members, batched, strict=True):
        alone = train_ensemble(cfg, problem, [member], 1.0, 5)[0]
        for name, value in r.metrics.items():
            assert value == pytest.approx(alone.metrics[name], rel=1e-9, abs=1e-12), name
        assert r.loss_curve == pytest.approx(alone.loss_curve, rel=1e-9)


def test_same_seeds_same_numbers_and_seeds_differ() -> None:
    cfg = ResNetConfig(D=8, L=4, M=4)
    problem = make_problem(0, 10, 5, 5, cfg.D)
    a = train_ensemble(cfg, problem, [Member(1.0, 0), Member(1.0, 1)], 1.0, 3)
    b = train_ensemble(cfg, make_problem(0, 10, 5, 5, cfg.D), [Member(1.0, 0), Member(1.0, 1)], 1.0, 3)
    assert a[0].metrics == b[0].metrics and a[0].loss_curve == b[0].loss_curve
    assert a[0].metrics["feature_update"] != a[1].metrics["feature_update"]


def test_problem_is_coupled_across_D() -> None:
    """Changing D changes only D: the smaller embedding is the first rows of the larger one."""
    small, large = make_problem(4, 10, 5, 5, 8, dtype=F64), make_problem(4, 10, 5, 5, 32, dtype=F64)
    assert torch.equal(small.X, large.X) and torch.equal(small.Y, large.Y)
    assert torch.equal(small.W_E, large.W_E[:8]) and torch.equal(small.W_U, large.W_U[:8])
    other = make_problem(5, 10, 5, 5, 8, dtype=F64)
    assert not torch.equal(small.X, other.X)
    # entry variances 1/d_in and d_out
    big = make_problem(0, 10, 5, 5, 4000, dtype=F64)
    assert big.W_E.var().item() == pytest.approx(1 / 5, rel=0.05)
    assert big.W_U.var().item() == pytest.approx(5, rel=0.05)


def test_float32_and_float64_agree() -> None:
    cfg = ResNetConfig(D=16, L=16, M=16)
    members = [Member(a, 0) for a in (0.5, 1.0, 2.0, 4.0)]
    r32 = train_ensemble(cfg, make_problem(0, 10, 5, 5, cfg.D, torch.float32), members, 1.0, 10)
    r64 = train_ensemble(cfg, make_problem(0, 10, 5, 5, cfg.D, torch.float64), members, 1.0, 10)
    for a, b in zip(r32, r64, strict=True):
        for name, value in b.metrics.items():
            assert a.metrics[name] == pytest.approx(value, rel=1e-4), name


def test_huge_learning_rate_diverges_and_the_rest_finish() -> None:
    cfg = ResNetConfig(D=16, L=8, M=8, activation="linear")
    problem = make_problem(0, 10, 5, 5, cfg.D)
    # alpha = 1e-3: units move ~eta/alpha a step and, with no tanh to saturate, the loss blows up.
    results = train_ensemble(cfg, problem, [Member(1e-3, 0), Member(1.0, 0), Member(2.0, 1)], 1.0, 10)
    blown, *fine = results
    assert blown.diverged and blown.diverged_at_step is not None and 1 <= blown.diverged_at_step <= 10
    assert math.isnan(blown.metrics["feature_update"])
    assert math.isfinite(blown.metrics["loss_init"]) and math.isfinite(blown.metrics["init_deviation"])
    assert all(math.isnan(x) for x in blown.loss_curve[blown.diverged_at_step + 1:])
    for r in fine:
        assert not r.diverged
        assert all(math.isfinite(x) for x in r.loss_curve)
        assert math.isfinite(r.metrics["feature_update"])


def test_training_reduces_the_loss_and_init_deviation_follows_the_law() -> None:
    cfg = ResNetConfig(D=16, L=64, M=64)
    problem = make_problem(0, 10, 5, 5, cfg.D)
    results = train_ensemble(cfg, problem, [Member(a, s) for a in (1.0, 4.0) for s in range(4)], 1.0, 10)
    for r in results:
        assert r.loss_curve[-1] < 0.7 * r.loss_curve[0]
    for alpha in (1.0, 4.0):
        dev = sum(r.metrics["init_deviation"] for r in results if r.member.alpha == alpha) / 4
        law = 0.5 * alpha * math.sqrt(cfg.D / (cfg.L * cfg.M))
        assert law / 2 < dev < law * 2
