"""What a sweep costs in time: the time model behind a sweep's `estimated_s` (GET /sweeps, the
refinement budget), priced per shape group on the engine that will train it.

The engine rule (`on_kernel`) lives here, torch-free, so that the API's estimate and the worker
(worker/native.py applies()) read one rule. The FLOP counts are backend/grid.py's.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.grid import PointSpec, RunSettings, train_flops

# Where the compiled CPU kernel trains (worker/native.py applies() adds the device and the
# RESPHASE_NATIVE switch): float32, tanh or linear, and each member's products small enough that
# batched MKL calls are mostly overhead. Measured on 2 cores (Intel Xeon, AVX-512; train_ensemble,
# both engines in one process): the kernel 1.1-1.6x faster than the PyTorch passes at N D M <= 2^18
# (D = M = 64 with N = 10 or 64, D = M = 32 with N = 256, D = M = 128 with N = 10), 0.7-0.97x above
# (D = M = 128 with N >= 32, D = M = 256, D = M = 512 with N = 256, D = M = 64 with N = 256, D = M = 16
# with N = 1000), where MKL's large products win. Here so that the time model below and the worker
# share it (this module imports no torch).
KERNEL_MAX_MEMBER_PRODUCT = 1 << 18


def on_kernel(D: int, M: int, n_samples: int, dtype: str, activation: str) -> bool:
    """Whether a CPU ensemble of this shape and settings trains on the compiled kernel (if it builds)."""
    return (dtype == "float32" and activation in ("tanh", "linear")
            and n_samples * D * M <= KERNEL_MAX_MEMBER_PRODUCT)


# Time model of a shape group on one CPU worker with 2 cores (docs/benchmarks.md "Cost estimate"):
# its FLOPs at a sustained rate, plus a cost per member, layer and pass, plus (PyTorch passes) a
# cost per layer and pass of the batched kernels, plus a fixed cost per group. Fitted on the
# presets' quick sweeps' shapes and their references (N = 10, 10 steps), each engine alone, AMD
# EPYC (Dec 7, 2026), the kernel's rate rounded down so that a slower CPU stays within 2x: 0.65-1.4x
# the measured times. Large products run faster than this (D = M = 512, N = 256: ~170 GFLOP/s), so
# there the model is an upper bound; GPUs: much faster.
KERNEL_FLOP_RATE = 40e9
KERNEL_MEMBER_LAYER_PASS_S = 0.15e-6
ENGINE_FLOP_RATE = 35e9  # the PyTorch passes
MEMBER_LAYER_PASS_S = 0.13e-6
LAYER_PASS_OVERHEAD_S = 9e-6
GROUP_OVERHEAD_S = 2e-3


def estimate_seconds(axes: dict[str, list[float]], settings: RunSettings) -> float:
    """Compute time of a Cartesian sweep on one CPU worker from its axes alone (no expansion
    needed), references included."""
    n_alpha = len(axes["alpha"])
    shapes = {(int(D), int(L), int(M)): n_alpha for D in axes["D"] for L in axes["L"] for M in axes["M"]}
    return _seconds(shapes, {int(D): n_alpha for D in axes["D"]}, settings)


def estimate_points_seconds(points: Iterable[PointSpec], settings: RunSettings) -> float:
    """The same estimate for any set of points (zipped, ray and listed designs, refined sweeps)."""
    alphas: dict[tuple[int, int, int], set[float]] = {}
    ref_alphas: dict[int, set[float]] = {}
    for p in points:
        alphas.setdefault((p.D, p.L, p.M), set()).add(p.alpha)
        ref_alphas.setdefault(p.D, set()).add(p.alpha)
    return _seconds({k: len(v) for k, v in alphas.items()}, {d: len(v) for d, v in ref_alphas.items()}, settings)


def _seconds(shapes: dict[tuple[int, int, int], int], refs: dict[int, int], s: RunSettings) -> float:
    """shapes: (D, L, M) -> how many alphas train at that shape; refs: D -> alphas whose reference
    is needed (one reference per problem, alpha and D)."""
    total = sum(_group_seconds(D, L, M, n_alpha * s.seeds, s) for (D, L, M), n_alpha in shapes.items())
    if s.reference is not None:
        r = s.reference
        total += sum(_group_seconds(D, r.L, r.M, n_alpha * r.seeds, s) for D, n_alpha in refs.items())
    return total


def _group_seconds(D: int, L: int, M: int, members: int, s: RunSettings) -> float:
    """The time model's seconds for one shape group of `members` networks."""
    flops = train_flops(D, L, M, s.n_samples, s.steps, members)
    passes = 3 * s.steps + 3  # forward, backward (two passes' worth), final pass and diagnostics
    if on_kernel(D, M, s.n_samples, s.dtype, s.activation):
        return flops / KERNEL_FLOP_RATE + members * L * passes * KERNEL_MEMBER_LAYER_PASS_S + GROUP_OVERHEAD_S
    return (flops / ENGINE_FLOP_RATE + members * L * passes * MEMBER_LAYER_PASS_S
            + L * passes * LAYER_PASS_OVERHEAD_S + GROUP_OVERHEAD_S)
