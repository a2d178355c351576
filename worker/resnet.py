"""The two-layer-perceptron ResNet of docs/science.md section 1, batched over an ensemble.

An ensemble is E networks of one shape (D, L, M, activation) that share the problem (data,
embedding, readout) and differ in residual scale s (through alpha) and in their units (through
the unit seed). Activations carry the ensemble axis first and parameters right after the layer
axis, so one batched matmul per layer trains all E.

Shapes used throughout:
    E ensemble members, N samples, D embedding dim, L blocks, M units per block
    X (N, d_in)   Y (N, d_out)   W_E (D, d_in)   W_U (D, d_out)
    h (E, N, D)   U, V (L, E, M, D), layer-major so one layer's slice is contiguous   s, lr (E,)

No I/O here and no training loop: worker/passes.py holds the training's forward and backward
passes, worker/train.py drives them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from backend.controls import CONTROLS
from backend.run_settings import Activation, ResidualScale, RunSettings

# How the raw learning rate follows from eta: `standard` is docs/science.md's rule; the other two are
# negative controls (backend/controls.py) that exist to show a claim can fail.
LrRule = Literal["standard", "inverse_alpha", "unscaled"]


@dataclass(frozen=True)
class ResNetConfig:
    """The network one ensemble trains and how it trains. A field named like a run setting is
    copied from it by `of` (so a new setting the model needs is one field here)."""

    D: int  # embedding dimension
    L: int  # residual blocks
    M: int  # units per block
    activation: Activation = "tanh"
    residual_scale: ResidualScale = "mlu"  # s = alpha*sqrt(D)/(LM) (mlu) or alpha/(LM) (plain)
    tied_units: bool = False  # control: every block starts from the same units
    lr_rule: LrRule = "standard"

    @classmethod
    def of(cls, D: int, L: int, M: int, settings: RunSettings, *, for_reference: bool = False) -> ResNetConfig:
        """The network a point (or, with for_reference, its reference) trains, from its settings:
        the one place where a control becomes a change of the model or of its training."""
        control = CONTROLS[settings.control]
        applies = control.reference if for_reference else control.network
        name = settings.control if applies else "none"
        rules: dict[str, LrRule] = {"lr_inverse_alpha": "inverse_alpha", "lr_unscaled": "unscaled"}
        rule: LrRule = rules.get(name, "standard")
        shared: dict[str, Any] = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)
                                  if f.name in RunSettings.model_fields}
        return cls(D=D, L=L, M=M, tied_units=name == "tied_units", lr_rule=rule, **shared)


def residual_multiplier(alpha: float, cfg: ResNetConfig) -> float:
    """s: `mlu` = alpha*sqrt(D)/(L*M) (the feature-learning scale), `plain` = alpha/(L*M)."""
    if cfg.residual_scale == "mlu":
        return alpha * math.sqrt(cfg.D) / (cfg.L * cfg.M)
    return alpha / (cfg.L * cfg.M)


def learning_rate(eta: float, s: float, cfg: ResNetConfig, alpha: float = 1.0) -> float:
    """Raw GD step eta*D/(s^2*L*M): each unit moves O(eta/alpha) a step, the output O(eta).
    The control rules multiply it by alpha (`inverse_alpha`) or divide it by L*M (`unscaled`)."""
    denom = s * s * cfg.L * cfg.M
    # s^2 underflows to 0 for alpha below ~1e-150: an infinite step, so the member diverges at
    # its first update (a result) instead of the whole ensemble failing on a ZeroDivisionError.
    lr = eta * cfg.D / denom if denom > 0 else math.inf
    if cfg.lr_rule == "inverse_alpha":
        return lr * alpha
    if cfg.lr_rule == "unscaled":
        return lr / (cfg.L * cfg.M)
    return lr


def seeded_generator(*key: object, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on `device` whose seed is a stable hash of `key` (same on every machine and run)."""
    digest = hashlib.sha256(repr(key).encode()).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return g


@dataclass(frozen=True)
class Problem:
    """Data and the fixed embedding and readout of one problem seed at one D."""

    X: Tensor  # (N, d_in)
    Y: Tensor  # (N, d_out)
    W_E: Tensor  # (D, d_in), entries N(0, 1/d_in)
    W_U: Tensor  # (D, d_out), entries N(0, d_out)

    @property
    def h0(self) -> Tensor:
        """The embedding h^0 = W_E x of every sample, (N, D)."""
        return self.X @ self.W_E.T


def _rows(tag: str, problem_seed: int, n_rows: int, width: int, std: float) -> Tensor:
    """Rows drawn one by one from a generator seeded per row, so the first D rows of the
    matrix for D' > D are exactly the matrix for D: changing D changes only D. float64."""
    rows = [torch.randn(width, generator=seeded_generator(tag, problem_seed, i), dtype=torch.float64)
            for i in range(n_rows)]
    return torch.stack(rows) * std


def make_problem(problem_seed: int, n_samples: int, d_in: int, d_out: int, D: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Problem:
    """Synthetic data (X, Y iid N(0,1): random labels) and the coupled W_E, W_U for dimension D.

    Drawn in float64 on the CPU and then cast, so every dtype and device sees the same numbers.
    """
    g = seeded_generator("data", problem_seed)
    X = torch.randn(n_samples, d_in, generator=g, dtype=torch.float64)
    Y = torch.randn(n_samples, d_out, generator=g, dtype=torch.float64)
    W_E = _rows("embed", problem_seed, D, d_in, 1.0 / math.sqrt(d_in))
    W_U = _rows("readout", problem_seed, D, d_out, math.sqrt(d_out))
    return Problem(*(t.to(device=device, dtype=dtype) for t in (X, Y, W_E, W_U)))


# Units are drawn in this dtype on the run's device, then cast to the run's dtype.
UNIT_DRAW_DTYPE = torch.float32


def init_units(cfg: ResNetConfig, unit_seeds: Sequence[int | tuple[object, ...]],
               dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
               ) -> tuple[Tensor, Tensor]:
    """U, V of shape (L, E, M, D) (layer-major: each layer's slice is contiguous), entries N(0, 1).

    The draw depends on the seed and the shape only (not on alpha), so members that differ
    only in alpha start from the same units (common random numbers across the alpha axis); each
    distinct seed is drawn once, on `device` and in float32 whatever `dtype` (docs/science.md
    section 1): a float64 run starts from exactly the float32 run's numbers, and no draw goes
    through the CPU in float64 (SCIENCE_VERSION 4; before, ~1/3 of a large run's time on the CPU).
    A (drawn, M, D) block is drawn contiguous and copied (cast) into its member's slice, so the
    numbers do not depend on the layout of U, V.
    """
    U, V, rows = draw_units(cfg, unit_seeds, dtype, device)
    if U.shape[1] < len(unit_seeds):
        U, V = U.index_select(1, rows), V.index_select(1, rows)  # ~10x faster than U[:, rows]
    return U, V


def draw_units(cfg: ResNetConfig, unit_seeds: Sequence[int | tuple[object, ...]],
               dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
               ) -> tuple[Tensor, Tensor, Tensor]:
    """init_units without the copies: U, V of shape (L, S, M, D) for the S distinct seeds (in order
    of first appearance) and rows (E,) long, member i's units being U[:, rows[i]]."""
    distinct = list(dict.fromkeys(unit_seeds))
    drawn = 1 if cfg.tied_units else cfg.L  # tied: one block drawn, copied over the L blocks
    shape = (drawn, len(distinct), cfg.M, cfg.D)
    U, V = torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device)
    block = torch.empty(drawn, cfg.M, cfg.D, dtype=UNIT_DRAW_DTYPE, device=device)
    for i, seed in enumerate(distinct):
        g = seeded_generator("units", seed, cfg.D, drawn, cfg.M, device=block.device)
        U[:, i] = block.normal_(generator=g)
        V[:, i] = block.normal_(generator=g)
    if cfg.tied_units:
        U, V = U.expand(cfg.L, -1, -1, -1).contiguous(), V.expand(cfg.L, -1, -1, -1).contiguous()
    first = {seed: i for i, seed in enumerate(distinct)}
    rows = torch.tensor([first[seed] for seed in unit_seeds], dtype=torch.long, device=block.device)
    return U, V, rows


def _act(cfg: ResNetConfig, pre: Tensor) -> Tensor:
    return torch.tanh(pre) if cfg.activation == "tanh" else pre


class ResNetEnsemble(nn.Module):
    """E residual networks of one shape. forward() is plain autograd-friendly PyTorch (the
    reference the tests check against); training uses forward_cached() and backward() of
    worker/passes.py, the same maths with the gradient written out and the scalings folded into the parameters."""

    def __init__(self, cfg: ResNetConfig, U: Tensor, V: Tensor, s: Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.U = nn.Parameter(U)  # (L, E, M, D)
        self.V = nn.Parameter(V)  # (L, E, M, D)
        self.s: Tensor
        self.register_buffer("s", s)  # (E,)
        self.inv_sqrt_D = 1.0 / math.sqrt(cfg.D)

    def forward(self, h0: Tensor) -> Tensor:
        """h0 (N, D) -> h^L (E, N, D)."""
        h = h0.expand(self.U.shape[1], *h0.shape)
        s = self.s[:, None, None]
        for layer in range(self.cfg.L):
            pre = h @ self.U[layer].transpose(1, 2) * self.inv_sqrt_D  # (E, N, M)
            h = h + s * (_act(self.cfg, pre) @ self.V[layer])  # (E, N, D)
        return h


def readout(h: Tensor, W_U: Tensor) -> Tensor:
    """f = W_U^T h / D: (E, N, D) -> (E, N, d_out)."""
    return h @ W_U / W_U.shape[0]


def half_mse(f: Tensor, Y: Tensor) -> Tensor:
    """l = sum ||f - y||^2 / (2 N d_out), per member: (E, N, d_out) -> (E,)."""
    return 0.5 * ((f - Y) ** 2).mean(dim=(1, 2))
