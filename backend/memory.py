"""Memory model of the batched engine: bytes of tensors one ensemble needs, torch-free.

The worker sizes its ensemble chunks with it (worker/engine.py `train_chunked`), the API shows
the peak of a sweep before launch (POST /sweeps/validate `peak_memory_bytes`) and refuses a shape
whose single member cannot fit a worker (Limits.max_memory_bytes_per_worker, 422). The model is
checked against a measured allocation in tests/test_memory_model.py.

Shapes (worker/resnet.py): U, V (L, E, M, D); forward cache hs (L, E, N, D) and acts (L, E, N, M);
h (E, N, D); the problem X (N, d_in), Y (N, d_out), W_E (D, d_in), W_U (D, d_out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from backend.grid import LimitViolation, PointSpec
from backend.settings import Limits

# Bytes of tensors one ensemble chunk may hold on a CPU worker; on CUDA the engine uses 60% of the free memory.
CPU_MEMORY_BUDGET = 2 * 1024**3

ITEMSIZE = {"float32": 4, "float64": 8}


def member_bytes(D: int, L: int, M: int, n_samples: int, itemsize: int) -> int:
    """Peak tensor bytes one member needs while it trains: U, V, their initial copies, their
    gradients and their folded copies Uh, sV (8 of L x M x D), the forward cache ((L + 1) x N x D
    and L x N x M), backward's gradients at every block's output and pre-activations (L x N x D and
    L x N x M, kept so the weight gradients are two products for all layers), the initial network's
    states kept for the diagnostics (the forward cache's sizes, worker/diagnostics.py) and f - y's
    gradient (N, D)."""
    return itemsize * (8 * L * M * D + 3 * L * n_samples * (D + M) + 3 * n_samples * D)


def problem_bytes(D: int, n_samples: int, d_in: int, d_out: int, itemsize: int) -> int:
    """The shared problem: X, Y, W_E, W_U and h0 = X W_E^T (N, D)."""
    return itemsize * (n_samples * (d_in + d_out) + D * (d_in + d_out) + n_samples * D)


def chunk_members(per_member: int, budget: int = CPU_MEMORY_BUDGET) -> int:
    """Members of one chunk: as many as fit the budget, at least one (a member is not split)."""
    return max(1, budget // max(per_member, 1))


def ensemble_peak_bytes(D: int, L: int, M: int, members: int, n_samples: int, d_in: int, d_out: int,
                        itemsize: int, budget: int = CPU_MEMORY_BUDGET) -> int:
    """Peak bytes of training `members` networks of one shape in budget-sized chunks."""
    per = member_bytes(D, L, M, n_samples, itemsize)
    return min(members, chunk_members(per, budget)) * per + problem_bytes(D, n_samples, d_in, d_out, itemsize)


@dataclass(frozen=True)
class MemoryPeak:
    """The largest allocation a sweep asks of one worker, and of which ensemble."""

    bytes: int  # peak of the worst ensemble, chunked as the engine chunks it (0: no points)
    shape: dict[str, int]  # D, L, M of that ensemble (the reference's L, M when it is a reference)
    members: int  # networks of that ensemble (all its alphas and seeds)


def sweep_peak(points: Iterable[PointSpec]) -> MemoryPeak:
    """Peak memory of one CPU worker over every shape group of `points` (alphas x seeds members)
    and the reference ensembles they need (per D: ref.seeds members per distinct alpha)."""
    members: dict[tuple[int, int, int, str], int] = {}
    settings: dict[tuple[int, int, int, str], PointSpec] = {}
    ref_alphas: dict[tuple[int, int, int, str], set[float]] = {}
    for p in points:
        s = p.settings
        key = (p.D, p.L, p.M, p.shape_key)
        members[key] = members.get(key, 0) + s.seeds
        settings.setdefault(key, p)
        if s.reference is not None:
            rkey = (p.D, s.reference.L, s.reference.M, "reference")
            ref_alphas.setdefault(rkey, set()).add(p.alpha)
            settings.setdefault(rkey, p)
    for rkey, alphas in ref_alphas.items():
        ref = settings[rkey].settings.reference
        assert ref is not None
        members[rkey] = len(alphas) * ref.seeds
    best = MemoryPeak(0, {}, 0)
    for key, n in members.items():
        D, L, M, _ = key
        s = settings[key].settings
        peak = ensemble_peak_bytes(D, L, M, n, s.n_samples, s.d_in, s.d_out, ITEMSIZE[s.dtype])
        if peak > best.bytes:
            best = MemoryPeak(peak, {"D": D, "L": L, "M": M}, n)
    return best


def gib(n: float) -> str:
    """Bytes as GiB, or TiB from 1024 GiB on."""
    return f"{n / 1024**4:.3g} TiB" if n >= 1024**4 else f"{n / 1024**3:.3g} GiB"


def memory_violation(peak: MemoryPeak, limits: Limits) -> LimitViolation | None:
    """The refusal of a sweep whose largest ensemble, chunked down to what the engine can, cannot
    fit one worker (a member is never split, so one member of that shape must fit)."""
    limit = limits.max_memory_bytes_per_worker
    if peak.bytes <= limit:
        return None
    shape = ", ".join(f"{k}={v}" for k, v in peak.shape.items())
    return LimitViolation("grid", "max_memory_bytes_per_worker", limit, peak.bytes,
                          f"the ensemble at {shape} needs {gib(peak.bytes)} on one worker, over "
                          f"max_memory_bytes_per_worker={limit} ({gib(limit)})")
