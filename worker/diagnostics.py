"""The trained-state diagnostics of docs/science.md section 3, computed in the last forward pass.

Training (worker/train.py) keeps what the diagnostics need of the initial network from its first
forward pass (`StartState`: every block's input h_0^{l-1} and pre-activation), and the last forward
pass, which training runs anyway for the final loss, is `forward_diagnosed`: `forward_cached`
keeping the trained pre-activations, then one product over all blocks for the units' own move and a
few norms over (L, E). So the diagnostics cost about one batched product per block instead of a
second walk through both networks (five), which was ~8% of a large member's run.

The numbers are those of walking both networks again: the initial network's states are the first
pass's (the same kernels on the same tensors), and with no step taken every difference is exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from worker.passes import ForwardCache
from worker.resnet import ResNetConfig


@dataclass
class StartState:
    """The initial network's states, for every member the ensemble started with."""

    hs: Tensor  # (L + 1, E, N, D): h_0^0 .. h_0^L
    pre: Tensor  # (L, E, N, M): <u^0, h_0^{l-1}> / sqrt(D), before the activation

    def rows(self, index: Tensor, E: int) -> StartState:
        """The states of the members at `index` (all E: no copy)."""
        if index.numel() == E:
            return self
        return StartState(self.hs.index_select(1, index), self.pre.index_select(1, index))


def new_start(cfg: ResNetConfig, E: int, N: int, like: Tensor) -> StartState:
    return StartState(like.new_empty(cfg.L + 1, E, N, cfg.D), like.new_empty(cfg.L, E, N, cfg.M))


def _rms(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    return t.pow(2).mean(dim=dims).sqrt()


@dataclass(frozen=True)
class Initial:
    """The units the members started from, and their multipliers: member i's units are
    U0[:, rows[i]] (worker/resnet.py draw_units; on worker/passes.py U0 holds every member's,
    rows = 0..E-1)."""

    U0: Tensor  # (L, S, M, D), S <= E
    V0: Tensor  # (L, S, M, D)
    s: Tensor  # (E,)
    rows: Tensor  # (E,) long


def forward_diagnosed(cfg: ResNetConfig, Uh: Tensor, sV: Tensor, cache: ForwardCache, start: StartState,
                      initial: Initial, scratch: tuple[Tensor, Tensor],
                      forward: Callable[[Tensor], object]) -> dict[str, Tensor]:
    """The forward pass of the trained, folded units (Uh = U / sqrt(D), sV = s V, (L, E, M, D)):
    forward(pre) fills `cache` and the pre-activations into pre (L, E, N, M), as training's
    forward (worker/steps.py) does; then the diagnostics of each member against its start:
    {metric: (E,)}. scratch: two (L, E, M, D) buffers free to overwrite; initial: the members'
    own units (U0 (L, E, M, D), rows ignored)."""
    inv_sqrt_D = 1.0 / math.sqrt(cfg.D)
    N = cache.hs.shape[2]
    pre = cache.dpre  # (L, E, N, M) scratch: the trained pre-activations, then the units' own move
    forward(pre)
    # the rest batched over (L, E): a few kernels for the whole network, not a few a layer
    norms: dict[str, Tensor] = {}  # per layer and member, (L, E)
    norms["preact"] = torch.linalg.vector_norm(pre.sub_(start.pre), dim=(2, 3))
    dUh, dsV = scratch
    torch.mul(initial.U0, inv_sqrt_D, out=dUh)  # the initial units folded as training folded them
    torch.sub(Uh, dUh, out=dUh)  # (L, E, M, D)
    torch.mul(initial.V0, initial.s[None, :, None, None], out=dsV)
    torch.sub(sV, dsV, out=dsV)
    # <u^K - u^0, h_0^{l-1}> / sqrt(D): the unit's own move, seen through the initial states
    torch.bmm(start.hs[:-1].flatten(0, 1), dUh.flatten(0, 1).transpose(1, 2), out=pre.flatten(0, 1))
    norms["local"] = torch.linalg.vector_norm(pre, dim=(2, 3))
    norms["dU"] = torch.linalg.vector_norm(dUh, dim=(2, 3))
    norms["dV"] = torch.linalg.vector_norm(dsV, dim=(2, 3))
    sq = {name: x.square().sum(dim=0) for name, x in norms.items()}  # (E,) sums of squares
    size = (torch.linalg.vector_norm(initial.U0, dim=(0, 2, 3)).square()
            + torch.linalg.vector_norm(initial.V0, dim=(0, 2, 3)).square())
    return _metrics(cfg, N, SumsOfSquares(sq["preact"], sq["local"], sq["dU"], sq["dV"], size), initial.s,
                    _rms(cache.hs[-1] - start.hs[-1], (1, 2)))


def forward_diagnosed_native(kernel: ModuleType, cfg: ResNetConfig, UhT: Tensor, sV: Tensor, cache: ForwardCache,
                             start: StartState, index: Tensor, initial: Initial, h0: Tensor) -> dict[str, Tensor]:
    """forward_diagnosed on the compiled kernel (worker/native.py): the last forward pass from
    h0 (N, D) into `cache` and the same metrics, member by member in one pass over each member's
    units (UhT (L, E, D, M), the kernel's layout of Uh), without copying the dropped members out of
    the initial tensors.
    index (E_active,): the active members' ensemble slots; start and initial: the whole ensemble's
    (every slot), not only the active rows."""
    N = cache.hs.shape[2]
    pre = cache.dpre  # (L, E, N, M) scratch: the trained pre-activations
    sums = sV.new_empty(sV.shape[1], 6, dtype=torch.float64)  # block.cpp forward_diagnose: (E, 6) sums of squares
    kernel.forward_diagnose(UhT, sV, cache.hs, cache.acts, h0, cfg.activation == "tanh", initial.U0, initial.V0,
                            initial.s, index, initial.rows, start.hs, start.pre, pre, 1.0 / math.sqrt(cfg.D), sums)
    sq = sums.unbind(1)
    rep_change = _rms(cache.hs[-1] - start.hs[-1].index_select(0, index), (1, 2))
    return _metrics(cfg, N, SumsOfSquares(sq[0], sq[1], sq[2], sq[3], sq[4] + sq[5]), initial.s[index], rep_change)


@dataclass(frozen=True)
class SumsOfSquares:
    """Per member (E,), summed over the layers: the trained minus the initial pre-activations; the
    units' own move seen through the initial states; Uh - Uh0 and sV - sV0 (folded, as trained);
    ||U0||^2 + ||V0||^2."""

    preact: Tensor
    local: Tensor
    dUh: Tensor
    dsV: Tensor
    size: Tensor


def _metrics(cfg: ResNetConfig, N: int, sq: SumsOfSquares, s: Tensor, rep_change: Tensor) -> dict[str, Tensor]:
    """docs/science.md section 3's metrics from the sums of squares; s (E,) the multipliers."""
    # ||U - U0||^2 = D ||Uh - Uh0||^2 and ||V - V0||^2 = ||sV - sV0||^2 / s^2
    moved = sq.dUh * cfg.D + sq.dsV / (s * s)
    n_terms = cfg.L * N * cfg.M
    return {
        "feature_update": (sq.local / n_terms).sqrt(),
        "preact_change": (sq.preact / n_terms).sqrt(),
        "weight_change_rel": (moved / sq.size).sqrt(),
        "rep_change": rep_change,
    }
