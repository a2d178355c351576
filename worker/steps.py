"""Training steps of an ensemble, on one of two engines with the same maths: worker/passes.py's
PyTorch passes (any device and dtype) or the compiled CPU float32 kernel (worker/native.py).

A step at step k: the forward pass from h^0 (at k = 0 the loop's own first pass, which keeps the
initial states, has run it), the loss, the divergence check, then the backward pass and the
gradient step. `advance` takes K steps in one call: the PyTorch passes one (their batched steps
run every member, so the loop drops diverged members after each), the kernel as many as the loop
asks (each member takes them one after the other while its units are in cache, and stops at its
first bad step). The loop (worker/train.py) drops the members the check flags; their units after
a bad step do not matter (the kernel skips them, the batched passes step them with the others).
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor

from worker.passes import backward, forward_cached
from worker.resnet import Problem, ResNetConfig, half_mse, readout
from worker.working import DIVERGENCE_FACTOR, Working, bad_members


class TorchSteps:
    """The steps as worker/passes.py's batched PyTorch kernels."""

    name = "torch"
    kernel: ModuleType | None = None  # the compiled kernel (NativeSteps)
    max_steps_per_call = 1  # advance()'s K at most

    def __init__(self, cfg: ResNetConfig, problem: Problem) -> None:
        self.cfg, self.problem = cfg, problem
        self.h0 = problem.h0.contiguous()  # (N, D): the property computes it on each call
        N, d_out = problem.X.shape[0], problem.Y.shape[1]
        self.grad_scale = 1.0 / (cfg.D * N * d_out)  # dl/dh^L = (f - y) W_U^T / (D N d_out)

    def forward(self, work: Working, pre_out: Tensor | None = None) -> None:
        """The forward pass into work.cache (and the pre-activations into pre_out (L, E, N, M))."""
        forward_cached(self.cfg, work.Uh, work.sV, self.h0, work.cache, pre_out=pre_out)

    def step(self, work: Working, k: int, loss0: Tensor | None) -> tuple[Tensor, Tensor]:
        """Step k of the active members: (mse (E_active,), bad (E_active,) bool). loss0: their
        initial MSE (None at k = 0, where the loss is its own reference)."""
        if k:
            self.forward(work)
        p, h_out = self.problem, work.cache.h_out
        f = readout(h_out, p.W_U)  # (E_active, N, d_out)
        mse = 2.0 * half_mse(f, p.Y)  # (E_active,)
        bad = bad_members(mse, mse if loss0 is None else loss0, h_out, work)
        assert work.dU is not None and work.dV is not None
        grad_h = (f - p.Y) @ p.W_U.T * self.grad_scale  # (E_active, N, D)
        backward(self.cfg, work.Uh, work.sV, work.cache, grad_h, work.dU, work.dV)
        work.step()  # U -= lr * dU / sqrt(D), V -= lr * s * dV (backward's buffers are unscaled), folded
        return mse, bad

    def advance(self, work: Working, k: int, K: int, loss0: Tensor | None) -> tuple[Tensor, Tensor]:
        """Steps k .. k + K - 1 of the active members: (mse (E_active, K), NaN after a member's
        bad step; bad_at (E_active,) long, the chunk's step j a member went bad at, -1 if none).
        loss0: their initial MSE (None at k = 0)."""
        assert K == 1, "the PyTorch passes take one step a call"
        mse, bad = self.step(work, k, loss0)
        return mse[:, None], torch.where(bad, 0, -1)


class NativeSteps(TorchSteps):
    """The steps as the compiled kernel: one call for K steps of the whole ensemble."""

    name = "native"
    max_steps_per_call = 1 << 30  # as many as the loop asks

    kernel: ModuleType

    def __init__(self, cfg: ResNetConfig, problem: Problem, kernel: ModuleType) -> None:
        super().__init__(cfg, problem)
        self.kernel = kernel
        self.tanh = cfg.activation == "tanh"
        self.no_pre = self.h0.new_empty(0)

    def forward(self, work: Working, pre_out: Tensor | None = None) -> None:
        hs = work.cache.hs
        hs[0].copy_(self.h0.expand(*hs.shape[1:]))
        self.kernel.forward(work.UhT, work.sV, hs, work.cache.acts, self.no_pre if pre_out is None else pre_out,
                            self.tanh)

    def step(self, work: Working, k: int, loss0: Tensor | None) -> tuple[Tensor, Tensor]:
        mse, bad_at = self.advance(work, k, 1, loss0)
        return mse[:, 0], bad_at >= 0

    def advance(self, work: Working, k: int, K: int, loss0: Tensor | None) -> tuple[Tensor, Tensor]:
        E, p = work.index.numel(), self.problem
        mse = self.h0.new_empty(E, K)
        bad_at = torch.empty(E, dtype=torch.long)
        ref = torch.full((E,), torch.inf) if loss0 is None else loss0.contiguous()
        assert work.UhT is not None and work.nonfinite is not None
        self.kernel.steps(work.UhT, work.sV, work.cache.hs, work.cache.acts, self.h0, p.W_U, p.Y, ref,
                          work.rate_U, work.rate_V, work.nonfinite, mse, bad_at, self.grad_scale,
                          DIVERGENCE_FACTOR, self.tanh, k)
        return mse, bad_at


def steps_for(cfg: ResNetConfig, problem: Problem) -> TorchSteps:
    """The kernel's steps where it applies and builds (worker/native.py), else the PyTorch passes."""
    from worker import native

    X = problem.X
    if native.applies(cfg, X.shape[0], X.dtype, X.device):
        kernel = native.kernel()
        if kernel is not None:
            return NativeSteps(cfg, problem, kernel)
    return TorchSteps(cfg, problem)
