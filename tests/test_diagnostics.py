"""The trained-state diagnostics against their definitions (docs/science.md section 3), computed
here from scratch: K plain autograd gradient steps of the reference model (ResNetEnsemble), then
each metric by its formula on the initial and trained units. Fails if the engine measured the
units' move through the trained states instead of the initial ones, kept the wrong initial
states, or mixed members up."""

from __future__ import annotations

import math

import pytest
import torch

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


def _states(cfg: ResNetConfig, U: torch.Tensor, V: torch.Tensor, s: torch.Tensor, h0: torch.Tensor,
            ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Every block's input h^{l-1} (E, N, D) and pre-activation <u, h^{l-1}>/sqrt(D) (E, N, M)."""
    h = h0.expand(U.shape[1], *h0.shape)
    inputs, pres = [], []
    for layer in range(cfg.L):
        pre = h @ U[layer].transpose(1, 2) / math.sqrt(cfg.D)
        inputs.append(h)
        pres.append(pre)
        act = torch.tanh(pre) if cfg.activation == "tanh" else pre
        h = h + s[:, None, None] * (act @ V[layer])
    inputs.append(h)
    return inputs, pres


def _reference_metrics(cfg: ResNetConfig, problem, alphas: list[float], seeds: list[int], eta: float,
                       steps: int) -> dict[str, torch.Tensor]:
    U0, V0 = init_units(cfg, seeds, dtype=F64)
    s = torch.tensor([residual_multiplier(a, cfg) for a in alphas], dtype=F64)
    lr = torch.tensor([learning_rate(eta, float(x), cfg, a) for x, a in zip(s, alphas, strict=True)],
                      dtype=F64)[None, :, None, None]
    U, V = U0.clone(), V0.clone()
    for _ in range(steps):
        model = ResNetEnsemble(cfg, U.clone(), V.clone(), s)
        half_mse(readout(model(problem.h0), problem.W_U), problem.Y).sum().backward()
        assert model.U.grad is not None and model.V.grad is not None
        U, V = (U - lr * model.U.grad).detach(), (V - lr * model.V.grad).detach()
    with torch.no_grad():
        init_in, init_pre = _states(cfg, U0, V0, s, problem.h0)
        _, trained_pre = _states(cfg, U, V, s, problem.h0)
        trained_out = _states(cfg, U, V, s, problem.h0)[0][-1]
        local = torch.stack([init_in[l_] @ (U[l_] - U0[l_]).transpose(1, 2) / math.sqrt(cfg.D)
                             for l_ in range(cfg.L)])  # (L, E, N, M)
        preact = torch.stack(trained_pre) - torch.stack(init_pre)
        moved = (U - U0).square().sum(dim=(0, 2, 3)) + (V - V0).square().sum(dim=(0, 2, 3))
        size = U0.square().sum(dim=(0, 2, 3)) + V0.square().sum(dim=(0, 2, 3))
        rep = trained_out - init_in[-1]
        return {
            "feature_update": local.square().mean(dim=(0, 2, 3)).sqrt(),
            "preact_change": preact.square().mean(dim=(0, 2, 3)).sqrt(),
            "weight_change_rel": (moved / size).sqrt(),
            "rep_change": rep.square().mean(dim=(1, 2)).sqrt(),
        }


@pytest.mark.parametrize("activation", ["tanh", "linear"])
@pytest.mark.parametrize("steps", [1, 4])
def test_diagnostics_follow_their_definitions(activation: str, steps: int) -> None:
    cfg = ResNetConfig(D=8, L=5, M=6, activation=activation)  # type: ignore[arg-type]
    problem = make_problem(3, 7, 4, 3, cfg.D, dtype=F64)
    alphas, seeds, eta = [0.5, 1.5, 3.0], [11, 12, 13], 0.7
    want = _reference_metrics(cfg, problem, alphas, seeds, eta, steps)
    got = train_ensemble(cfg, problem, [Member(a, seed) for a, seed in zip(alphas, seeds, strict=True)], eta, steps)
    for i, r in enumerate(got):
        assert not r.diverged
        for name, values in want.items():
            assert r.metrics[name] == pytest.approx(float(values[i]), rel=1e-9), (name, alphas[i])
        rel = float(want["feature_update"][i] / want["rep_change"][i])
        assert r.metrics["feature_update_rel"] == pytest.approx(rel, rel=1e-9)


def test_with_no_step_every_change_is_exactly_zero() -> None:
    cfg = ResNetConfig(D=8, L=5, M=6)
    problem = make_problem(3, 7, 4, 3, cfg.D)  # float32: exact zeros, not rounding
    for r in train_ensemble(cfg, problem, [Member(1.0, 0), Member(4.0, 1)], 1.0, 0):
        for name in ("feature_update", "preact_change", "weight_change_rel", "rep_change"):
            assert r.metrics[name] == 0.0, name
        assert math.isnan(r.metrics["feature_update_rel"])
