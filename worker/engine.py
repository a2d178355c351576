"""From grid points to results: device choice, grouping by shape, memory-bounded ensembles.

This is the one entry point the CLI (`resphase run`) and the Celery tasks share.
"""

from __future__ import annotations

import functools
import math
import socket
import time
from collections.abc import Callable, Sequence

import torch

from backend import __version__
from backend.grid import PointSpec, group_by_shape
from backend.memory import CPU_MEMORY_BUDGET  # bytes one ensemble chunk may hold on the CPU
from backend.memory import member_bytes as _member_bytes  # the one memory model (torch-free)
from backend.results import PointOutcome, Provenance, SeedRun
from worker import native
from worker.reference import ReferenceLimit, ReferenceStore, ensure_references, reference_key
from worker.resnet import Problem, ResNetConfig
from worker.setup import network_run
from worker.train import Member, MemberResult, StepHook, train_ensemble

# Called with each finished point (progress bars, database writes).
PointHook = Callable[[PointOutcome], None]
# Called as each ensemble chunk of a shape group starts: (the group's points, the chunk's first
# member, its loss buffer (E_chunk, K + 1), filled in as it trains). Members are point-major.
GroupLossesHook = Callable[[Sequence[PointSpec], int, torch.Tensor], None]

def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then the CPU; `cpu`, `cuda`, `cuda:N`, `mps` are taken as
    asked and refused with ValueError when absent."""
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} asked for, but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA devices")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but MPS is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def member_bytes(cfg: ResNetConfig, n_samples: int, itemsize: int) -> int:
    """Peak tensor bytes one member needs (backend.memory.member_bytes)."""
    return _member_bytes(cfg.D, cfg.L, cfg.M, n_samples, itemsize)


def _memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.6)
    return CPU_MEMORY_BUDGET


def train_chunked(cfg: ResNetConfig, problem: Problem, members: Sequence[Member], eta: float,
                  steps: int, on_step: StepHook | None = None,
                  on_losses: Callable[[int, torch.Tensor], None] | None = None) -> list[MemberResult]:
    """train_ensemble over chunks of members small enough for the device's memory; on_losses gets
    each chunk's first member and loss buffer."""
    per_member = member_bytes(cfg, problem.X.shape[0], problem.X.element_size())
    chunk = max(1, _memory_budget(problem.X.device) // max(per_member, 1))
    results: list[MemberResult] = []
    for start in range(0, len(members), chunk):
        hook = None if on_losses is None else functools.partial(on_losses, start)
        results += train_ensemble(cfg, problem, members[start:start + chunk], eta, steps, on_step, hook)
    return results


def _rms_error(a: torch.Tensor | None, b: object) -> float:
    if a is None:
        return math.nan
    ref = torch.as_tensor(b, dtype=torch.float64)
    return float((a.detach().double().cpu() - ref).pow(2).mean().sqrt())


def _seed_runs(results: Sequence[MemberResult], ref: ReferenceLimit | None) -> list[SeedRun]:
    runs = []
    for r in results:
        metrics = dict(r.metrics)
        if ref is not None and ref.n_seeds > 0:
            metrics["err_out"] = _rms_error(r.f_final, ref.f)
            metrics["err_emb"] = _rms_error(r.h_final, ref.h)
            metrics["err_out_floor"], metrics["err_emb_floor"] = ref.f_floor, ref.h_floor
        else:
            metrics["err_out"] = metrics["err_emb"] = math.nan
            metrics["err_out_floor"] = metrics["err_emb_floor"] = math.nan
        seed = r.member.unit_seed
        runs.append(SeedRun(seed if isinstance(seed, int) else -1, metrics, r.loss_curve,
                            r.diverged_at_step))
    return runs


def compute_shape_group(group: Sequence[PointSpec], device: torch.device,
                        refs: dict[str, ReferenceLimit], on_step: StepHook | None = None,
                        on_losses: GroupLossesHook | None = None) -> list[PointOutcome]:
    """Train every point of one shape (all their alphas and seeds) as one ensemble."""
    s = group[0].settings
    run = network_run(group, device)
    start = time.perf_counter()
    train = train_chunked if on_losses is None else functools.partial(
        train_chunked, on_losses=functools.partial(on_losses, group))
    results = run.train(on_step, train)
    elapsed = time.perf_counter() - start
    engine = native.engine_name(run.cfg, run.problem.X.shape[0], run.problem.X.dtype, device)  # as train_ensemble's
    provenance = Provenance(__version__, torch.__version__, str(device), s.dtype, socket.gethostname(), engine)
    outcomes = []
    for i, point in enumerate(group):
        ref = refs.get(reference_key(point)) if s.reference is not None else None
        seeds = _seed_runs(results[i * s.seeds:(i + 1) * s.seeds], ref)
        outcomes.append(PointOutcome(point, seeds, elapsed / len(group), provenance))
    return outcomes


def compute_points(points: Sequence[PointSpec], device: torch.device, store: ReferenceStore,
                   on_point: PointHook | None = None, on_step: StepHook | None = None,
                   on_losses: GroupLossesHook | None = None) -> list[PointOutcome]:
    """Results of `points` in their order: references first (cached in `store`), then one
    ensemble per shape, cheapest shapes first."""
    refs = ensure_references(points, store, device, on_step, train=train_chunked)
    by_hash: dict[str, PointOutcome] = {}
    for group in group_by_shape(points).values():
        for outcome in compute_shape_group(group, device, refs, on_step, on_losses):
            by_hash[outcome.point.content_hash] = outcome
            if on_point is not None:
                on_point(outcome)
    return [by_hash[p.content_hash] for p in points]
