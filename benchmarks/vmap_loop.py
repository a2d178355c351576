"""The stronger peer: what a researcher who knows `torch.func` writes.

A functional model (a loss of the units U, V of ONE network, a Python loop over its L blocks),
`torch.func.grad_and_value` for its gradient and loss, and `torch.func.vmap` over the networks of
a shape (every alpha and unit seed at once), so each step is one batched call. The update is the
same SGD step with the same rule lr = eta * D / (s^2 * L * M) as the engine and the plain loop.

It uses the engine's problem (`worker.resnet.make_problem`) and initial units
(`worker.resnet.init_units`, same unit seeds; vmapped over their ensemble axis 1, no copy), so
its losses must match the engine's to rounding: tests/test_benchmark_engine.py checks it.
A vmapped batch cannot drop a member halfway, so all members run every step; a member's loss
curve ends at its divergence step (the engine's rule, restated below), as the plain loop's does.

Shapes: E networks, N samples, D embedding dim, L blocks, M units per block;
    U, V (L, E, M, D) for the batch, (L, M, D) inside the vmapped loss   h (N, D)   s, lr (E,)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import grad_and_value, vmap

from benchmarks.plain_loop import DIVERGENCE_FACTOR
from worker.resnet import Problem, ResNetConfig, init_units, learning_rate, residual_multiplier


@dataclass
class VmapRun:
    """One network of the vmapped batch: its loss curve (MSE, up to divergence) and final loss."""

    alpha: float
    unit_seed: int
    loss_final: float
    loss_curve: list[float]
    diverged_at_step: int | None = None


def make_loss(cfg: ResNetConfig, problem: Problem) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """l(U, V, s) of one network: U, V (L, M, D), s a 0-d tensor -> the 0-d loss MSE / 2."""
    h0, W_U, Y = problem.h0, problem.W_U, problem.Y
    inv_sqrt_D = 1.0 / math.sqrt(cfg.D)

    def loss(U: Tensor, V: Tensor, s: Tensor) -> Tensor:
        h = h0  # (N, D)
        for layer in range(cfg.L):
            pre = h @ U[layer].T * inv_sqrt_D  # (N, M)
            a = torch.tanh(pre) if cfg.activation == "tanh" else pre
            h = h + s * (a @ V[layer])
        f = h @ W_U / W_U.shape[0]  # (N, d_out)
        return 0.5 * ((f - Y) ** 2).mean()

    return loss


def train_vmap(cfg: ResNetConfig, problem: Problem, configs: Sequence[tuple[float, int]], eta: float,
               steps: int) -> list[VmapRun]:
    """Train every (alpha, unit_seed) network at once by full-batch GD for `steps` steps."""
    dtype, device = problem.X.dtype, problem.X.device
    U, V = init_units(cfg, [seed for _a, seed in configs], dtype=dtype, device=device)  # (L, E, M, D)
    s_list = [residual_multiplier(a, cfg) for a, _seed in configs]
    s = torch.tensor(s_list, dtype=dtype, device=device)
    lr_list = [learning_rate(eta, x, cfg, a) for x, (a, _seed) in zip(s_list, configs, strict=True)]
    lr = torch.tensor(lr_list, dtype=dtype, device=device)[None, :, None, None]  # (1, E, 1, 1)
    # ((dl/dU, dl/dV) laid out like U, V: ensemble axis 1; the losses (E,)). torch's stub types
    # out_dims flat, but vmap takes the nested structure of the output.
    out_dims = ((1, 1), 0)
    step = vmap(grad_and_value(make_loss(cfg, problem), argnums=(0, 1)), in_dims=(1, 1, 0),
                out_dims=out_dims)  # type: ignore[arg-type]
    curves = torch.empty(steps + 1, len(configs), dtype=torch.float64)
    for k in range(steps + 1):
        (gU, gV), half = step(U, V, s)
        curves[k] = 2.0 * half.double().cpu()  # a researcher logs the losses every step
        if k < steps:
            U, V = U - lr * gU, V - lr * gV
    runs = []
    for i, (alpha, seed) in enumerate(configs):
        curve = curves[:, i].tolist()
        bad = [k for k, x in enumerate(curve) if not math.isfinite(x) or x > DIVERGENCE_FACTOR * curve[0]]
        end = bad[0] if bad else steps
        runs.append(VmapRun(alpha, seed, curve[end], curve[:end + 1], bad[0] if bad else None))
    return runs


def timed_vmap(cfg: ResNetConfig, problem: Problem, configs: Sequence[tuple[float, int]], eta: float,
               steps: int) -> tuple[list[VmapRun], float]:
    """train_vmap and its wall time (synchronised on CUDA)."""
    device = problem.X.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    runs = train_vmap(cfg, problem, configs, eta, steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return runs, time.perf_counter() - start
