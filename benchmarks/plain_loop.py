"""The reference implementation a researcher would write: one configuration at a time.

One network (one alpha, one unit seed) is an `nn.Module` holding a `ModuleList` of L blocks, each
with its own units u, v of shape (M, D); `forward` loops over the blocks in Python; gradients come
from `loss.backward()`; the update is a hand-written SGD step on u and v with the same learning
rate rule as the engine, lr = eta * D / (s^2 * L * M), s from `worker.resnet.residual_multiplier`.

It uses the engine's problem (`worker.resnet.make_problem`) and initial units
(`worker.resnet.init_units` with the same unit seed, member 0 sliced into per-layer parameters),
so its final loss must match the engine's to rounding: tests/test_benchmark_engine.py checks it.

Shapes: N samples, D embedding dim, L blocks, M units per block;
    h0 (N, D)   u, v (M, D) per block   W_U (D, d_out)   f (N, d_out)   Y (N, d_out)
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from worker.resnet import Problem, ResNetConfig, init_units, learning_rate, residual_multiplier

# The engine's divergence rule (worker.train.DIVERGENCE_FACTOR), restated as a researcher would.
DIVERGENCE_FACTOR = 1e6


class Block(nn.Module):
    """h -> h + s * sum_j v_j act(<u_j, h> / sqrt(D)), units u, v of shape (M, D)."""

    def __init__(self, u: Tensor, v: Tensor, s: float, activation: str) -> None:
        super().__init__()
        self.u = nn.Parameter(u.clone())  # (M, D)
        self.v = nn.Parameter(v.clone())  # (M, D)
        self.s = s
        self.activation = activation
        self.inv_sqrt_D = 1.0 / math.sqrt(u.shape[1])

    def forward(self, h: Tensor) -> Tensor:
        """h (N, D) -> (N, D)."""
        pre = h @ self.u.T * self.inv_sqrt_D  # (N, M)
        a = torch.tanh(pre) if self.activation == "tanh" else pre
        return h + self.s * (a @ self.v)


class PlainResNet(nn.Module):
    """One residual network of L blocks; embedding and readout are fixed and live in `Problem`."""

    def __init__(self, cfg: ResNetConfig, U: Tensor, V: Tensor, s: float) -> None:
        """U, V: (L, M, D), sliced into one (M, D) pair of parameters per block."""
        super().__init__()
        self.blocks = nn.ModuleList(Block(U[layer], V[layer], s, cfg.activation) for layer in range(cfg.L))

    def forward(self, h0: Tensor) -> Tensor:
        """h0 (N, D) -> h^L (N, D)."""
        h = h0
        for block in self.blocks:
            h = block(h)
        return h


@dataclass
class PlainRun:
    """One trained configuration: its loss curve (MSE, up to divergence), final loss and time."""

    alpha: float
    unit_seed: int
    loss_final: float  # MSE after `steps` steps, or the loss it blew up to
    loss_curve: list[float]  # up to steps + 1 values; shorter when it diverged
    seconds: float  # wall time of init + training of this run alone
    diverged_at_step: int | None = None


def _mse(model: PlainResNet, problem: Problem) -> Tensor:
    """Mean squared error 2*l of f = W_U^T h^L / D against Y, a 0-d tensor."""
    f = model(problem.h0) @ problem.W_U / problem.W_U.shape[0]  # (N, d_out)
    return ((f - problem.Y) ** 2).mean()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_plain(cfg: ResNetConfig, problem: Problem, alpha: float, unit_seed: int, eta: float,
                steps: int) -> PlainRun:
    """Train one network by full-batch GD for `steps` steps on the problem's device and dtype.

    Stops at divergence (non-finite loss, or loss > DIVERGENCE_FACTOR x the initial loss), as the
    engine does, so that a diverging alpha costs both implementations the same number of steps.
    """
    device, dtype = problem.X.device, problem.X.dtype
    _sync(device)
    start = time.perf_counter()
    U0, V0 = init_units(cfg, [unit_seed], dtype=dtype, device=device)  # (L, 1, M, D) each
    s = residual_multiplier(alpha, cfg)
    lr = learning_rate(eta, s, cfg)
    model = PlainResNet(cfg, U0[:, 0], V0[:, 0], s)
    curve: list[float] = []
    diverged_at: int | None = None
    for k in range(steps + 1):
        mse = _mse(model, problem)
        value = float(mse.detach())  # a researcher logs the loss every step
        curve.append(value)
        if not math.isfinite(value) or value > DIVERGENCE_FACTOR * curve[0]:
            diverged_at = k
            break
        if k == steps:
            break
        (0.5 * mse).backward()  # l = MSE / 2, the loss the learning rate rule is written for
        with torch.no_grad():
            for p in model.parameters():
                assert p.grad is not None
                p.sub_(lr * p.grad)
                p.grad = None
    _sync(device)
    return PlainRun(alpha, unit_seed, curve[-1], curve, time.perf_counter() - start, diverged_at)


def run_plain(cfg: ResNetConfig, problem: Problem, configs: Sequence[tuple[float, int]], eta: float,
              steps: int) -> list[PlainRun]:
    """train_plain for each (alpha, unit_seed), one after the other."""
    return [train_plain(cfg, problem, alpha, seed, eta, steps) for alpha, seed in configs]
