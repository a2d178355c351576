"""From run settings to one ensemble to train: the model, the problem, the members, the schedule.

The one place that reads a point's `RunSettings` for training: the points of a shape group
(worker/engine.py) and the reference of a group of alphas (worker/reference.py) both come from it,
so a new setting is applied to both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from backend.controls import reference_problem_seed
from backend.grid import PointSpec
from backend.run_settings import RunSettings
from worker.resnet import Problem, ResNetConfig, make_problem
from worker.train import Member, MemberResult, StepHook, train_ensemble

# train_ensemble, or a memory-chunked wrapper of it: (cfg, problem, members, eta, steps, on_step)
TrainFn = Callable[..., list[MemberResult]]


@dataclass(frozen=True)
class EnsembleRun:
    """Everything one call of train_ensemble needs."""

    cfg: ResNetConfig
    problem: Problem
    members: list[Member]  # E networks: one per (alpha, unit seed)
    eta: float
    steps: int

    def train(self, on_step: StepHook | None = None, train: TrainFn = train_ensemble) -> list[MemberResult]:
        """The members' results, in the order of `members`."""
        return train(self.cfg, self.problem, self.members, self.eta, self.steps, on_step=on_step)


def _ensemble(s: RunSettings, D: int, L: int, M: int, members: list[Member], device: torch.device,
              *, for_reference: bool) -> EnsembleRun:
    cfg = ResNetConfig.of(D, L, M, s, for_reference=for_reference)
    problem_seed = reference_problem_seed(s.problem_seed, s.control) if for_reference else s.problem_seed
    problem = make_problem(problem_seed, s.n_samples, s.d_in, s.d_out, D, getattr(torch, s.dtype), device)
    return EnsembleRun(cfg, problem, members, s.lr, s.steps)


def network_run(group: Sequence[PointSpec], device: torch.device) -> EnsembleRun:
    """The ensemble of one shape group (points sharing D, L, M and settings): every point's
    alpha with unit seeds 0..seeds-1, point-major (point i owns members i*seeds .. (i+1)*seeds-1)."""
    first = group[0]
    s = first.settings
    members = [Member(p.alpha, seed) for p in group for seed in range(s.seeds)]
    return _ensemble(s, first.D, first.L, first.M, members, device, for_reference=False)


def reference_run(sample: PointSpec, alphas: Sequence[float], device: torch.device) -> EnsembleRun:
    """The reference ensemble of `sample`'s D and settings at these alphas: the reference's
    (L, M), its own unit seeds, and the problem and model as the reference sees the control."""
    s = sample.settings
    assert s.reference is not None
    members = [Member(a, ("reference", i)) for a in alphas for i in range(s.reference.seeds)]
    return _ensemble(s, sample.D, s.reference.L, s.reference.M, members, device, for_reference=True)
