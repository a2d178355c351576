"""The still-training members of an ensemble and their buffers (worker/train.py's loop state)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from worker.passes import ForwardCache, folded, new_cache
from worker.resnet import ResNetConfig

# Loss above this multiple of the initial loss counts as divergence (docs/science.md section 2).
DIVERGENCE_FACTOR = 1e6


@dataclass
class Working:
    """The still-training members: `index` maps the ensemble axis of the working tensors (axis 1
    of Uh, sV) to ensemble slots. The units are held folded, Uh = U / sqrt(D) and sV = s V, and
    updated in that form, so no step re-folds them. On the compiled kernel (worker/native.py) Uh
    is held transposed (UhT; Uh is a view of it) and the kernel tracks non-finite units; on
    worker/passes.py backward writes dU, dV and the step applies them."""

    cfg: ResNetConfig
    index: Tensor  # (E_active,) long
    Uh: Tensor  # (L, E_active, M, D) (on the kernel a view of UhT, not contiguous)
    sV: Tensor
    s: Tensor  # (E_active,)
    rate_U: Tensor  # (E_active,): Uh -= lr / D * dU (the step on U, folded)
    rate_V: Tensor  # (E_active,): sV -= lr * s^2 * dV
    cache: ForwardCache
    dU: Tensor | None  # (L, E_active, M, D), backward's unscaled gradients (passes.py only)
    dV: Tensor | None
    UhT: Tensor | None = None  # (L, E_active, D, M), contiguous: the kernel's Uh
    nonfinite: Tensor | None = None  # (E_active,) bool: a unit is NaN or inf (the kernel only)

    @classmethod
    def start(cls, cfg: ResNetConfig, U0: Tensor, V0: Tensor, rows: Tensor, s: Tensor, rates: Tensor,
              n_samples: int, kernel: ModuleType | None) -> Working:
        """U0, V0 (L, S, M, D) and rows (E,): member i starts from U0[:, rows[i]] (worker/resnet.py
        draw_units; on worker/passes.py every member's own, S = E); rates (2, E): lr / D and
        lr * s^2 per member, in U0's dtype and on its device; kernel: the compiled kernel the
        ensemble trains on (worker/native.py), or None."""
        E = rows.shape[0]
        cache = new_cache(cfg, E, n_samples, U0)
        index = torch.arange(E, device=U0.device)
        rate_U, rate_V = rates[0].contiguous(), rates[1].contiguous()
        if kernel is None:
            assert U0.shape[1] == E, "the PyTorch passes start from every member's own units"
            Uh, sV = folded(cfg, U0, V0, s)
            return cls(cfg, index, Uh, sV, s, rate_U, rate_V, cache, torch.empty_like(U0), torch.empty_like(V0))
        UhT, sV = U0.new_empty(cfg.L, E, cfg.D, cfg.M), V0.new_empty(cfg.L, E, cfg.M, cfg.D)
        kernel.fold(U0, V0, s, 1.0 / math.sqrt(cfg.D), rows, UhT, sV)  # what folded() computes, from the draws
        return cls(cfg, index, UhT.transpose(2, 3), sV, s, rate_U, rate_V, cache, None, None, UhT,
                   torch.zeros(E, dtype=torch.bool))

    def keep(self, mask: Tensor) -> None:
        """Drop the members where mask is False (rare: divergence), keeping this step's cache."""
        rows = mask.nonzero().squeeze(1)  # index_select copies ~5x faster than a boolean index
        self.index, self.s = self.index[rows], self.s[rows]
        self.rate_U, self.rate_V = self.rate_U[rows], self.rate_V[rows]
        self.sV = self.sV.index_select(1, rows)
        self.cache = self.cache.keep(rows)
        if self.UhT is not None and self.nonfinite is not None:
            self.UhT = self.UhT.index_select(1, rows)
            self.Uh = self.UhT.transpose(2, 3)
            self.nonfinite = self.nonfinite[rows]
        else:
            self.Uh = self.Uh.index_select(1, rows)
            self.dU, self.dV = torch.empty_like(self.Uh), torch.empty_like(self.sV)

    def step(self) -> None:
        """One gradient step from backward's unscaled buffers: one fused pass per tensor."""
        assert self.dU is not None and self.dV is not None
        self.Uh.addcmul_(self.dU, self.rate_U[None, :, None, None], value=-1.0)
        self.sV.addcmul_(self.dV, self.rate_V[None, :, None, None], value=-1.0)

    def finite(self) -> Tensor:
        """(E_active,) bool: no NaN or inf in the member's units. A non-finite entry makes the
        sum non-finite, so one reduction per tensor replaces an elementwise scan (the kernel
        checks the units as it writes them)."""
        if self.nonfinite is not None:
            return ~self.nonfinite
        return torch.isfinite(self.Uh.sum(dim=(0, 2, 3))) & torch.isfinite(self.sV.sum(dim=(0, 2, 3)))

    def scratch(self) -> tuple[Tensor, Tensor]:
        """Two (L, E_active, M, D) buffers free to overwrite after the last forward pass (training
        ends with it) on worker/passes.py: backward's gradient buffers (the kernel's diagnostics
        need none)."""
        assert self.dU is not None and self.dV is not None
        return self.dU, self.dV


def bad_members(loss: Tensor, loss0: Tensor, h_out: Tensor, work: Working) -> Tensor:
    """(E_active,) bool: diverged at this step (non-finite anything, or loss blown up)."""
    finite = torch.isfinite(loss) & torch.isfinite(h_out.sum(dim=(1, 2))) & work.finite()
    return ~finite | (loss > DIVERGENCE_FACTOR * loss0)
