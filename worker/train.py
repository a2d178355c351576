"""Full-batch gradient descent of an ensemble, divergence handling, and the run diagnostics.

`train_ensemble` is the only training path: one network is an ensemble of one. Members that
diverge (non-finite loss or tensor, or loss > DIVERGENCE_FACTOR x its initial value) are
recorded with their step and dropped from the batch; the others train on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from worker.resnet import (
    ForwardCache,
    Problem,
    ResNetConfig,
    backward,
    folded,
    forward_cached,
    half_mse,
    init_units,
    learning_rate,
    new_cache,
    readout,
    residual_multiplier,
)

# Loss above this multiple of the initial loss counts as divergence (docs/science.md section 2).
DIVERGENCE_FACTOR = 1e6

# Called after each step with (step, steps); raising from it stops training (cooperative cancel).
StepHook = Callable[[int, int], None]
# Called once, before the first step, with the (E, K + 1) float64 loss buffer the loop fills in
# (NaN until a step is done): a reader on another thread sees the curves so far at no cost here.
LossesHook = Callable[[Tensor], None]


@dataclass(frozen=True)
class Member:
    """One network of an ensemble: its residual-scale multiplier and its unit seed."""

    alpha: float
    unit_seed: int | tuple[object, ...]


@dataclass
class MemberResult:
    """Diagnostics of one trained network. Metrics are NaN where undefined (diverged)."""

    member: Member
    metrics: dict[str, float]
    loss_curve: list[float]  # K + 1 values of the MSE (2 l); NaN after divergence
    diverged_at_step: int | None = None
    f_final: Tensor | None = field(default=None, repr=False)  # (N, d_out), kept for references
    h_final: Tensor | None = field(default=None, repr=False)  # (N, D)

    @property
    def diverged(self) -> bool:
        return self.diverged_at_step is not None


def _rms(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    return t.pow(2).mean(dim=dims).sqrt()


def _final_diagnostics(cfg: ResNetConfig, U0: Tensor, V0: Tensor, U: Tensor, V: Tensor, s: Tensor,
                       h0: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """Diagnostics comparing initial (U0, V0) and trained (U, V) networks (L, E, M, D), each an
    (E,) tensor, and the trained h^L (E, N, D). Walks both networks layer by layer in one pass,
    so no temporary is larger than one layer."""
    inv_sqrt_D = 1.0 / math.sqrt(cfg.D)
    E, N = U.shape[1], h0.shape[0]
    s3 = s[:, None, None]
    h_init = h0.expand(E, *h0.shape).contiguous()
    h_train = h_init.clone()
    feat_sq, preact_sq, moved, size = (torch.zeros(E, dtype=U.dtype, device=U.device) for _ in range(4))
    for layer in range(cfg.L):
        dU = U[layer] - U0[layer]  # (E, M, D)
        pre0 = torch.bmm(h_init, U0[layer].transpose(1, 2)) * inv_sqrt_D  # (E, N, M)
        pre = torch.bmm(h_train, U[layer].transpose(1, 2)) * inv_sqrt_D
        # <u^K - u^0, h_0^{l-1}> / sqrt(D): the unit's own move, seen through the initial states
        local = torch.bmm(h_init, dU.transpose(1, 2)) * inv_sqrt_D
        feat_sq += local.pow(2).sum(dim=(1, 2))
        preact_sq += (pre - pre0).pow(2).sum(dim=(1, 2))
        moved += dU.pow(2).sum(dim=(1, 2)) + (V[layer] - V0[layer]).pow(2).sum(dim=(1, 2))
        size += U0[layer].pow(2).sum(dim=(1, 2)) + V0[layer].pow(2).sum(dim=(1, 2))
        act0 = torch.tanh(pre0) if cfg.activation == "tanh" else pre0
        act = torch.tanh(pre) if cfg.activation == "tanh" else pre
        h_init = torch.baddbmm(h_init, act0 * s3, V0[layer])
        h_train = torch.baddbmm(h_train, act * s3, V[layer])
    n_terms = cfg.L * N * cfg.M
    metrics = {
        "feature_update": (feat_sq / n_terms).sqrt(),
        "preact_change": (preact_sq / n_terms).sqrt(),
        "weight_change_rel": (moved / size).sqrt(),
        "rep_change": _rms(h_train - h_init, (1, 2)),
    }
    return metrics, h_train


@dataclass
class _Working:
    """The still-training members and their buffers: `index` maps the ensemble axis of the
    working tensors (axis 1 of U, V) to ensemble slots."""

    cfg: ResNetConfig
    index: Tensor  # (E_active,) long
    U: Tensor  # (L, E_active, M, D)
    V: Tensor
    s: Tensor  # (E_active,)
    lr: Tensor
    cache: ForwardCache
    dU: Tensor  # (L, E_active, M, D), backward's unscaled gradients
    dV: Tensor

    @classmethod
    def start(cls, cfg: ResNetConfig, U0: Tensor, V0: Tensor, s: Tensor, lr: Tensor, n_samples: int) -> _Working:
        E = U0.shape[1]
        return cls(cfg, torch.arange(E, device=U0.device), U0.clone(), V0.clone(), s, lr,
                   new_cache(cfg, E, n_samples, U0), torch.empty_like(U0), torch.empty_like(V0))

    def keep(self, mask: Tensor) -> None:
        """Drop the members where mask is False (rare: divergence), keeping this step's cache."""
        self.index, self.s, self.lr = self.index[mask], self.s[mask], self.lr[mask]
        self.U, self.V = self.U[:, mask], self.V[:, mask]
        self.cache = ForwardCache(self.cache.hs[:, mask], self.cache.acts[:, mask])
        self.dU, self.dV = torch.empty_like(self.U), torch.empty_like(self.V)

    def finite(self) -> Tensor:
        """(E_active,) bool: no NaN or inf in the member's units. A non-finite entry makes the
        sum non-finite, so one reduction per tensor replaces an elementwise scan."""
        return torch.isfinite(self.U.sum(dim=(0, 2, 3))) & torch.isfinite(self.V.sum(dim=(0, 2, 3)))


def _bad_members(loss: Tensor, loss0: Tensor, h_out: Tensor, work: _Working) -> Tensor:
    """(E_active,) bool: diverged at this step (non-finite anything, or loss blown up)."""
    finite = torch.isfinite(loss) & torch.isfinite(h_out.sum(dim=(1, 2))) & work.finite()
    return ~finite | (loss > DIVERGENCE_FACTOR * loss0)


def train_ensemble(cfg: ResNetConfig, problem: Problem, members: Sequence[Member], eta: float,
                   steps: int, on_step: StepHook | None = None, on_losses: LossesHook | None = None,
                   ) -> list[MemberResult]:
    """Train every member for `steps` full-batch GD steps; return their diagnostics in order.

    All members run as one batched computation on problem's device and dtype.
    """
    dtype, device = problem.X.dtype, problem.X.device
    E, N, d_out = len(members), problem.X.shape[0], problem.Y.shape[1]
    h0 = problem.h0  # (N, D)
    U0, V0 = init_units(cfg, [m.unit_seed for m in members], dtype=dtype, device=device)
    s_list = [residual_multiplier(m.alpha, cfg) for m in members]
    s = torch.tensor(s_list, dtype=dtype, device=device)
    lr = torch.tensor([learning_rate(eta, x, cfg, m.alpha) for x, m in zip(s_list, members, strict=True)],
                      dtype=dtype, device=device)
    work = _Working.start(cfg, U0, V0, s, lr, N)

    losses = torch.full((E, steps + 1), math.nan, dtype=torch.float64)
    if on_losses is not None:
        on_losses(losses)
    diverged_at: list[int | None] = [None] * E
    init_deviation = torch.zeros(E, dtype=torch.float64)
    loss0 = torch.zeros(E, dtype=dtype, device=device)
    grad_scale = 1.0 / (cfg.D * N * d_out)  # dl/dh^L = (f - y) W_U^T / (D N d_out)
    inv_sqrt_D = 1.0 / math.sqrt(cfg.D)
    for k in range(steps + 1):
        Uh, sV = folded(cfg, work.U, work.V, work.s)
        h_out = forward_cached(cfg, Uh, sV, h0, work.cache).h_out
        f = readout(h_out, problem.W_U)  # (E_active, N, d_out)
        mse = 2.0 * half_mse(f, problem.Y)  # (E_active,)
        if k == 0:
            loss0 = mse
            init_deviation = _rms(h_out - h0, (1, 2)).double().cpu()
        losses[work.index.cpu(), k] = mse.double().cpu()
        bad = _bad_members(mse, loss0[work.index] if k else mse, h_out, work)
        if bool(bad.any()):
            for slot in work.index[bad].tolist():
                diverged_at[slot] = k
            keep = ~bad
            Uh, sV, f = Uh[:, keep], sV[:, keep], f[keep]
            work.keep(keep)
        if k == steps or work.index.numel() == 0:
            break
        grad_h = (f - problem.Y) @ problem.W_U.T * grad_scale  # (E_active, N, D)
        backward(cfg, Uh, sV, work.cache, grad_h, work.dU, work.dV)
        # U -= lr * dU / sqrt(D),  V -= lr * s * dV  (backward's buffers are unscaled)
        work.U.sub_(work.dU.mul_((work.lr * inv_sqrt_D)[None, :, None, None]))
        work.V.sub_(work.dV.mul_((work.lr * work.s)[None, :, None, None]))
        del Uh, sV
        if on_step is not None:
            on_step(k + 1, steps)

    return _collect(cfg, members, problem, work, _Initial(U0, V0, s, h0),
                    _History(losses, diverged_at, init_deviation))


@dataclass(frozen=True)
class _Initial:
    """The ensemble as it started, for every member (also the ones that diverged)."""

    U0: Tensor  # (L, E, M, D)
    V0: Tensor  # (L, E, M, D)
    s: Tensor  # (E,)
    h0: Tensor  # (N, D)


@dataclass(frozen=True)
class _History:
    """What the training loop recorded for every member."""

    losses: Tensor  # (E, K + 1) float64 MSE, NaN after divergence
    diverged_at: list[int | None]  # the step each member diverged at, None if it did not
    init_deviation: Tensor  # (E,) float64


def _collect(cfg: ResNetConfig, members: Sequence[Member], problem: Problem, work: _Working,
             start: _Initial, history: _History) -> list[MemberResult]:
    """Per-member results; trained-state diagnostics only for the members that did not diverge."""
    U0, V0, s, h0 = start.U0, start.V0, start.s, start.h0
    losses, diverged_at = history.losses, history.diverged_at
    E = len(members)
    nan = torch.full((E,), math.nan, dtype=torch.float64)
    names = ("feature_update", "preact_change", "weight_change_rel", "rep_change")
    per_metric = {name: nan.clone() for name in names}
    f_final: list[Tensor | None] = [None] * E
    h_final: list[Tensor | None] = [None] * E
    alive = work.index
    if alive.numel():
        U0a, V0a, sa = (U0, V0, s) if alive.numel() == len(members) else (U0[:, alive], V0[:, alive], s[alive])
        metrics, h_trained = _final_diagnostics(cfg, U0a, V0a, work.U, work.V, sa, h0)
        f_trained = readout(h_trained, problem.W_U)
        slots = alive.cpu()
        for name, values in metrics.items():
            per_metric[name][slots] = values.double().cpu()
        for row, slot in enumerate(slots.tolist()):
            f_final[slot], h_final[slot] = f_trained[row], h_trained[row]
    alphas = torch.tensor([m.alpha for m in members], dtype=torch.float64)
    per_metric["laziness"] = alphas * per_metric["feature_update"]
    # the units' move relative to the representation's: NaN when nothing moved (steps = 0)
    moved = per_metric["rep_change"]
    per_metric["feature_update_rel"] = torch.where(moved > 0, per_metric["feature_update"] / moved,
                                                   torch.full_like(moved, math.nan))
    per_metric["init_deviation"] = history.init_deviation
    per_metric["loss_init"] = losses[:, 0]
    per_metric["loss_final"] = losses[:, -1]
    results = []
    for i, member in enumerate(members):
        metrics_i = {name: float(values[i]) for name, values in per_metric.items()}
        if diverged_at[i] is not None:  # the loss it blew up to, not NaN, when it is a number
            metrics_i["loss_final"] = float(losses[i, diverged_at[i]])
        results.append(MemberResult(member, metrics_i, losses[i].tolist(), diverged_at[i],
                                    f_final[i], h_final[i]))
    return results
