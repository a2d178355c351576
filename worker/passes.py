"""The training's passes over an ensemble of worker/resnet.py's networks: the folded units, the
preallocated forward cache, the forward pass (tanh as training computes it) and the backward pass
with the gradient written out. The same maths as ResNetEnsemble.forward under autograd (the
reference tests/test_science_core.py checks them against), with the scalings folded into the
parameters and no step allocating.

Shapes as in worker/resnet.py: h (E, N, D), U, V, Uh, sV (L, E, M, D), s (E,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from worker.resnet import ResNetConfig


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

    def keep(self, rows: Tensor) -> ForwardCache:
        """The cache of the members at `rows` (long indices), this step's states included."""
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
