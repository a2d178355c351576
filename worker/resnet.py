"""The two-layer-perceptron ResNet of docs/science.md section 1, batched over an ensemble.

An ensemble is E networks of one shape (D, L, M, activation) that share the problem (data,
embedding, readout) and differ in residual scale s (through alpha) and in their units (through
the unit seed). Activations carry the ensemble axis first and parameters right after the layer
axis, so one batched matmul per layer trains all E.

Shapes used throughout:
    E ensemble members, N samples, D embedding dim, L blocks, M units per block
    X (N, d_in)   Y (N, d_out)   W_E (D, d_in)   W_U (D, d_out)
    h (E, N, D)   U, V (L, E, M, D), layer-major so one layer's slice is contiguous   s, lr (E,)

No I/O here and no training loop: worker/train.py drives these functions.
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
    if len(distinct) < len(unit_seeds):
        index = torch.tensor([distinct.index(seed) for seed in unit_seeds], device=block.device)
        U, V = U.index_select(1, index), V.index_select(1, index)  # ~10x faster than U[:, index]
    return U, V


def _act(cfg: ResNetConfig, pre: Tensor) -> Tensor:
    return torch.tanh(pre) if cfg.activation == "tanh" else pre


def tanh_(a: Tensor) -> Tensor:
    """tanh in place, as training computes it. On the CPU in float32 it is 2 sigmoid(2x) - 1 (the
    same function): torch's float32 tanh kernel runs at ~3 ns an element there and sigmoid at ~0.6,
    so this is 2.5-3.3x faster (measured on (36, 10, 64) and (2, 256, 512) activations), about 40% of
    a block's time at L = M = 64. Its error is 1.5 ulp of 1 (1.8e-7 absolute, against 3e-8 for
    torch.tanh): float rounding, but a change of every float32 number (SCIENCE_VERSION 5). In float64
    (the reference precision) and on CUDA (where tanh is as fast as any elementwise op), torch.tanh."""
    if _sigmoid_tanh(a):
        return a.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    return a.tanh_()


def _sigmoid_tanh(a: Tensor) -> bool:
    """Whether tanh_ computes a's tanh through the sigmoid (float32 on the CPU)."""
    return a.dtype == torch.float32 and a.device.type == "cpu"


_MINUS_ONE = torch.tensor(-1.0)  # a 0-dim CPU scalar: broadcasts into any dtype in torch.add


class ResNetEnsemble(nn.Module):
    """E residual networks of one shape. forward() is plain autograd-friendly PyTorch (the
    reference the tests check against); training uses forward_cached() and backward() below, the
    same maths with the gradient written out and the scalings folded into the parameters."""

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


def folded(cfg: ResNetConfig, U: Tensor, V: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """Uh = U / sqrt(D) and sV = s V, (L, E, M, D) each: with them a block is
    h + act(h Uh^T) sV, three kernels a layer, and the scalings cost one pass a step."""
    return U * (1.0 / math.sqrt(cfg.D)), V * s[None, :, None, None]


@dataclass
class ForwardCache:
    """Every block's input and activation, preallocated once per ensemble and reused each step,
    and backward's scratch buffers (so no step allocates)."""

    hs: Tensor  # (L + 1, E, N, D): h^0 .. h^L
    acts: Tensor  # (L, E, N, M): act(<u, h^{l-1}>/sqrt(D))
    dpre: Tensor  # (L, E, N, M): backward's gradient at every block's pre-activations
    gs: Tensor  # (L, E, N, D): backward's gradient at every block's output h^1 .. h^L

    @property
    def h_out(self) -> Tensor:
        return self.hs[-1]

    def keep(self, mask: Tensor) -> ForwardCache:
        """The cache of the members where mask (E,) is True, this step's states included."""
        rows = mask.nonzero().squeeze(1)
        hs, acts = self.hs.index_select(1, rows), self.acts.index_select(1, rows)
        return ForwardCache(hs, acts, torch.empty_like(acts), hs.new_empty(hs.shape[0] - 1, *hs.shape[1:]))


def new_cache(cfg: ResNetConfig, E: int, N: int, like: Tensor) -> ForwardCache:
    """Empty buffers for an ensemble of E members on like's device and dtype."""
    return ForwardCache(like.new_empty(cfg.L + 1, E, N, cfg.D), like.new_empty(cfg.L, E, N, cfg.M),
                        like.new_empty(cfg.L, E, N, cfg.M), like.new_empty(cfg.L, E, N, cfg.D))


# The loops below take every layer's view with one unbind per tensor: L Python-level indexings
# and transposes a step cost more than the small kernels of the alpha-phase grid shapes.

def forward_cached(cfg: ResNetConfig, Uh: Tensor, sV: Tensor, h0: Tensor, cache: ForwardCache,
                   pre_out: Tensor | None = None) -> ForwardCache:
    """Forward pass without autograd, writing each block's input and activation into `cache`
    (and, given pre_out (L, E, N, M), each block's pre-activation before the activation).
    Uh, sV from folded(); h0 (N, D)."""
    hs, acts = cache.hs.unbind(0), cache.acts.unbind(0)
    pres = [None] * cfg.L if pre_out is None else pre_out.unbind(0)
    hs[0].copy_(h0.expand(hs[0].shape[0], *h0.shape))
    for h, h_next, a, pre, UhT, sV_l in zip(hs[:-1], hs[1:], acts, pres, Uh.transpose(2, 3).unbind(0), sV.unbind(0),
                                            strict=True):
        activate(cfg, h, UhT, a, pre)  # (E, N, M)
        torch.baddbmm(h, a, sV_l, out=h_next)  # h + a sV, (E, N, D)
    return cache


def activate(cfg: ResNetConfig, h: Tensor, UhT: Tensor, a: Tensor, pre: Tensor | None = None) -> None:
    """a = act(h Uh^T), (E, N, D) x (E, D, M) -> (E, N, M) written into `a`; given `pre`, the
    pre-activation h Uh^T too. Where tanh_ is 2 sigmoid(2x) - 1 this is two kernels fewer than a
    product and tanh_: the product is formed doubled (alpha = 2) and the last step is one fused
    -1 + 2 y. Doubling is exact in binary floating point, so the numbers are bitwise those of
    bmm then tanh_ (checked over tanh and linear, float32 and float64, diverging members)."""
    if cfg.activation == "tanh" and _sigmoid_tanh(a):
        torch.baddbmm(a, h, UhT, beta=0.0, alpha=2.0, out=a)  # 2 x
        if pre is not None:
            torch.mul(a, 0.5, out=pre)
        a.sigmoid_()
        torch.add(_MINUS_ONE, a, alpha=2.0, out=a)  # 2 sigmoid(2x) - 1
        return
    torch.bmm(h, UhT, out=a)
    if pre is not None:
        pre.copy_(a)
    if cfg.activation == "tanh":
        tanh_(a)


def backward(cfg: ResNetConfig, Uh: Tensor, sV: Tensor, cache: ForwardCache, grad_h: Tensor,
             dU: Tensor, dV: Tensor) -> None:
    """Gradients of a loss given its gradient at h^L, grad_h (E, N, D), written into dU, dV
    (L, E, M, D) UNSCALED: the true gradients are dU / sqrt(D) and s * dV (see true_gradients).

    Block l: h^l = h^{l-1} + a sV_l with a = act(h^{l-1} Uh_l^T). Going down, the chain through h:
        g^l = gradient at h^l (g^L = grad_h),  dpre_l = (g^l sV_l^T) * act'(pre),  g^{l-1} = g^l + dpre_l Uh_l
    (g^0, at h^0, is not needed and not computed); then every layer's weight gradients at once,
        dV_l = a_l^T g^l,  dU_l = dpre_l^T h^{l-1}
    as two products batched over (L E): the chain keeps each block's g and dpre (cache.gs, cache.dpre),
    and at the grid's small shapes two kernels a step cost less than 2 L.
    """
    # the products below write through flatten() views: a non-contiguous buffer would be a copy
    assert dU.is_contiguous() and dV.is_contiguous(), "backward writes dU, dV through views"
    gs, dpres = cache.gs.unbind(0), cache.dpre.unbind(0)
    gs[-1].copy_(grad_h)
    layers = zip(gs, dpres, cache.acts.unbind(0), Uh.unbind(0), sV.transpose(2, 3).unbind(0), strict=True)
    for layer, (g, dpre, a, Uh_l, sVT) in reversed(list(enumerate(layers))):
        torch.bmm(g, sVT, out=dpre)  # (E, N, M)
        if cfg.activation == "tanh":
            torch.ops.aten.tanh_backward.grad_input(dpre, a, grad_input=dpre)  # dpre * (1 - a^2), in place
        if layer:
            torch.baddbmm(g, dpre, Uh_l, out=gs[layer - 1])  # (E, N, D)
    # (L E, M, N) x (L E, N, D) -> (L E, M, D): views, the layer and ensemble axes are contiguous
    torch.bmm(cache.acts.flatten(0, 1).transpose(1, 2), cache.gs.flatten(0, 1), out=dV.flatten(0, 1))
    torch.bmm(cache.dpre.flatten(0, 1).transpose(1, 2), cache.hs[:-1].flatten(0, 1), out=dU.flatten(0, 1))


def true_gradients(cfg: ResNetConfig, s: Tensor, dU: Tensor, dV: Tensor) -> tuple[Tensor, Tensor]:
    """The gradients w.r.t. U and V from backward()'s unscaled buffers."""
    return dU / math.sqrt(cfg.D), dV * s[None, :, None, None]
