"""Full-batch gradient descent of an ensemble, divergence handling, and the run diagnostics.

`train_ensemble` is the only training path: one network is an ensemble of one. Members that
diverge (non-finite loss or tensor, or loss > worker/working.py's DIVERGENCE_FACTOR x its initial value) are
recorded with their step and dropped from the batch; the others train on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from worker.diagnostics import Initial, StartState, forward_diagnosed, forward_diagnosed_native, new_start
from worker.parts import train_in_parts
from worker.resnet import (
    Problem,
    ResNetConfig,
    draw_units,
    half_mse,
    init_units,
    learning_rate,
    readout,
    residual_multiplier,
)
from worker.steps import TorchSteps, steps_for
from worker.threads import keep_freed_memory, part_bounds, parts_for, threads_for
from worker.working import Working, bad_members

# Called after each step with (step, steps); raising from it stops training (cooperative cancel).
StepHook = Callable[[int, int], None]
# Called once, before the first step, with the (E, K + 1) float64 loss buffer the loop fills in
# (NaN until a step is done): a reader on another thread sees the curves so far at no cost here.
LossesHook = Callable[[Tensor], None]
# An engine call takes as many steps as fit in about this many seconds (worker/steps.py; the
# kernel's members take their steps one after the other): StepHook is called after the call for
# each of its steps, so progress and live loss curves still move a few times a second and a
# cancel raised from the hook is seen within about this long.
STEPS_CALL_SECONDS = 0.25

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


def train_ensemble(cfg: ResNetConfig, problem: Problem, members: Sequence[Member], eta: float,
                   steps: int, on_step: StepHook | None = None, on_losses: LossesHook | None = None,
                   parts: int | None = None) -> list[MemberResult]:
    """Train every member for `steps` full-batch GD steps; return their diagnostics in order.

    All members run as one batched computation on problem's device and dtype, or, for a small CPU
    ensemble on a machine with cores to spare, as `parts` batched parts side by side
    (worker/threads.py decides when None; each member's maths is the same either way).
    """
    E, N, device = len(members), problem.X.shape[0], problem.X.device
    engine = steps_for(cfg, problem)  # the compiled kernel or the PyTorch passes (worker/steps.py)
    # the compiled kernel (worker/native.py) splits its members between all intra-op threads itself
    on_kernel = engine.kernel is not None
    n_parts = (1 if on_kernel else parts_for(cfg, E, N, device)) if parts is None else max(1, min(parts, E))
    if device.type == "cpu":
        keep_freed_memory()
    losses = torch.full((E, steps + 1), math.nan, dtype=torch.float64)
    if on_losses is not None:
        on_losses(losses)
    if n_parts == 1:
        if on_kernel:
            return _train(cfg, problem, members, engine, eta, steps, on_step, losses)
        with threads_for(cfg, E, N, device):
            return _train(cfg, problem, members, engine, eta, steps, on_step, losses)

    def part(start: int, stop: int, hook: StepHook) -> list[MemberResult]:
        return _train(cfg, problem, members[start:stop], engine, eta, steps, hook, losses[start:stop])

    return train_in_parts(part_bounds(E, n_parts), part, on_step)


def _train(cfg: ResNetConfig, problem: Problem, members: Sequence[Member], engine: TorchSteps, eta: float,
           steps: int, on_step: StepHook | None, losses: Tensor) -> list[MemberResult]:
    """losses: the (E, K + 1) float64 buffer to fill in (a view of the caller's, NaN so far);
    engine: the steps (stateless between calls, so parts running side by side share it)."""
    dtype, device = problem.X.dtype, problem.X.device
    E, N = len(members), problem.X.shape[0]
    h0 = problem.h0  # (N, D)
    seeds = [m.unit_seed for m in members]
    if engine.kernel is not None:  # each distinct seed drawn once, read by the kernel through `rows`
        U0, V0, rows = draw_units(cfg, seeds, dtype=dtype, device=device)
    else:  # the PyTorch passes need every member's own copy
        (U0, V0), rows = init_units(cfg, seeds, dtype=dtype, device=device), torch.arange(E, device=device)
    s_list = [residual_multiplier(m.alpha, cfg) for m in members]
    s = torch.tensor(s_list, dtype=dtype, device=device)
    # the folded steps lr / D and lr * s^2, formed in Python floats: lr reaches ~1e14 at alpha =
    # 1e-6 while lr * s^2 stays O(1); cast on the CPU (MPS has no float64)
    lrs = [learning_rate(eta, x, cfg, m.alpha) for x, m in zip(s_list, members, strict=True)]
    rates = torch.tensor([[lr / cfg.D for lr in lrs], [lr * x * x for lr, x in zip(lrs, s_list, strict=True)]],
                         dtype=torch.float64).to(dtype).to(device)
    work = Working.start(cfg, U0, V0, rows, s, rates, N, engine.kernel)
    diverged_at: list[int | None] = [None] * E
    start = new_start(cfg, E, N, U0)  # the initial network's states, from the first pass
    engine.forward(work, pre_out=start.pre)
    start.hs.copy_(work.cache.hs)
    init_deviation = _rms(work.cache.h_out - h0, (1, 2)).double().cpu()
    loss0 = torch.zeros(E, dtype=dtype, device=device)  # each member's step-0 MSE, once step 0 is taken
    k, per_step_s = 0, math.inf  # the next step; the last call's seconds a step
    while k < steps and work.index.numel():
        K = _steps_this_call(engine, steps - k, per_step_s)
        started = time.perf_counter()
        # forward, loss, check, backward and step, K times (worker/steps.py)
        mse, bad_at = engine.advance(work, k, K, loss0[work.index] if k else None)
        per_step_s = (time.perf_counter() - started) / K
        if k == 0:
            loss0 = mse[:, 0].clone()  # every member is active at step 0
        index = work.index.cpu()
        losses[index, k:k + K] = mse.double().cpu()  # NaN after a member's bad step
        bad_steps = bad_at.tolist()
        # the hook after each step that leaves a member training: every step of the call if a
        # member took them all, else the steps before the last member's bad one
        hooked = K if min(bad_steps) < 0 else max(bad_steps)
        if max(bad_steps) >= 0:
            for slot, j in zip(index.tolist(), bad_steps, strict=True):
                if j >= 0:
                    diverged_at[slot] = k + j
            work.keep(bad_at < 0)
        if on_step is not None:
            for j in range(hooked):
                on_step(k + j + 1, steps)
        k += K

    diagnosed: dict[str, Tensor] = {}  # the alive members' diagnostics, from the last pass
    if work.index.numel():  # the last pass: the final loss and the diagnostics (worker/diagnostics.py)
        diagnosed = _diagnosed(cfg, work, engine, start, Initial(U0, V0, s, rows))
        h_out = work.cache.h_out
        mse = 2.0 * half_mse(readout(h_out, problem.W_U), problem.Y)  # (E_active,)
        bad = bad_members(mse, loss0[work.index] if steps else mse, h_out, work)
        losses[work.index.cpu(), steps] = mse.double().cpu()
        if bool(bad.any()):
            for slot in work.index[bad].tolist():
                diverged_at[slot] = steps
            keep = ~bad
            work.keep(keep)
            diagnosed = {name: values[keep] for name, values in diagnosed.items()}

    return _collect(members, problem, work, diagnosed, _History(losses, diverged_at, init_deviation))


def _steps_this_call(engine: TorchSteps, left: int, per_step_s: float) -> int:
    """How many steps the next engine call takes: as many as fit in STEPS_CALL_SECONDS at the last
    call's pace (the first call, per_step_s = inf, takes one), at most engine.max_steps_per_call."""
    fit = int(STEPS_CALL_SECONDS / per_step_s) if per_step_s > 0 else left
    return max(1, min(left, engine.max_steps_per_call, fit))


def _diagnosed(cfg: ResNetConfig, work: Working, engine: TorchSteps, start: StartState,
               initial: Initial) -> dict[str, Tensor]:
    """The last forward pass and the trained-state diagnostics of the active members; start and
    initial: the whole ensemble's."""
    if engine.kernel is not None:
        assert work.UhT is not None
        return forward_diagnosed_native(engine.kernel, cfg, work.UhT, work.sV, work.cache, start, work.index,
                                        initial, engine.h0)

    def forward(pre: Tensor) -> None:
        engine.forward(work, pre_out=pre)

    E, index = initial.s.shape[0], work.index
    if index.numel() < E:
        initial = Initial(initial.U0.index_select(1, index), initial.V0.index_select(1, index), initial.s[index],
                          index)
    return forward_diagnosed(cfg, work.Uh, work.sV, work.cache, start.rows(index, E), initial, work.scratch(),
                             forward)


@dataclass(frozen=True)
class _History:
    """What the training loop recorded for every member."""

    losses: Tensor  # (E, K + 1) float64 MSE, NaN after divergence
    diverged_at: list[int | None]  # the step each member diverged at, None if it did not
    init_deviation: Tensor  # (E,) float64


def _collect(members: Sequence[Member], problem: Problem, work: Working, diagnosed: dict[str, Tensor],
             history: _History) -> list[MemberResult]:
    """Per-member results; trained-state diagnostics (`diagnosed`, (E_alive,) each) only for the
    members that did not diverge, whose trained h^L is the last pass's (work.cache)."""
    losses, diverged_at = history.losses, history.diverged_at
    E = len(members)
    nan = torch.full((E,), math.nan, dtype=torch.float64)
    names = ("feature_update", "preact_change", "weight_change_rel", "rep_change")
    per_metric = {name: nan.clone() for name in names}
    f_final: list[Tensor | None] = [None] * E
    h_final: list[Tensor | None] = [None] * E
    alive = work.index
    if alive.numel():
        h_trained = work.cache.h_out
        f_trained = readout(h_trained, problem.W_U)
        slots = alive.cpu()
        for name, values in diagnosed.items():
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
