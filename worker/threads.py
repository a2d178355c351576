"""How an ensemble uses the CPU's cores (worker/train.py): intra-op threads, and parts trained side
by side.

Two measurements on a quiet 2-core AMD EPYC (docs/benchmarks.md) set the rules:

- The kernels of a small ensemble are too small to split between threads (elementwise kernels
  under ~32k elements never are), yet every op pays the threads' fork and join; under load that
  cost explodes (75.6 runs/s on one thread against 3.5 on two at D = L = M = 16, E = 36, other
  processes keeping ~6 of the 2 cores busy). So a small CPU ensemble runs on one intra-op thread.
- The second core is then idle. Training halves of the ensemble in two Python threads, each on one
  intra-op thread, uses it: PyTorch releases the GIL inside each op, so the halves overlap where
  the kernels, not Python, take the time. At L = M = 64 (E = 36, N = 10, D = 16) that took a
  shape from 0.38 s to 0.25 s; at L = M = 16 the Python work between kernels dominates and two
  threads were slower (0.036 s against 0.041 s). So the ensemble is split when each part keeps at
  least PART_MACS multiply-adds per layer product, into at most as many parts as threads.

Each part is independent until the end, so a descheduled thread delays only its own part (unlike
an intra-op barrier every op).
"""

from __future__ import annotations

import ctypes
import functools
import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from worker.resnet import ResNetConfig

# On the CPU, an ensemble whose per-layer product has fewer multiply-adds than this (E N D M)
# trains on one intra-op thread.
SINGLE_THREAD_MACS = 2**22
# A single-threaded ensemble is trained in parts side by side when each part keeps at least this
# many multiply-adds per layer product (E_part N D M).
PART_MACS = 2**17


def _macs(cfg: ResNetConfig, E: int, N: int) -> int:
    return E * N * cfg.D * cfg.M


def _single_threaded(cfg: ResNetConfig, E: int, N: int, device: torch.device, threads: int) -> bool:
    return device.type == "cpu" and _macs(cfg, E, N) < SINGLE_THREAD_MACS and threads > 1


@contextmanager
def threads_for(cfg: ResNetConfig, E: int, N: int, device: torch.device) -> Iterator[None]:
    """One intra-op thread for small CPU ensembles (SINGLE_THREAD_MACS), restored afterwards."""
    before = torch.get_num_threads()
    small = _single_threaded(cfg, E, N, device, before)
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


def parts_for(cfg: ResNetConfig, E: int, N: int, device: torch.device) -> int:
    """How many parts to train the ensemble in, side by side: 1 unless it is a single-threaded CPU
    ensemble big enough that each of up to `threads` parts keeps PART_MACS (see the module doc)."""
    threads = torch.get_num_threads()
    if not _single_threaded(cfg, E, N, device, threads):
        return 1
    return max(1, min(threads, E, _macs(cfg, E, N) // PART_MACS))


def part_bounds(E: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of each of `parts` contiguous, near-equal slices of range(E)."""
    edges = [round(i * E / parts) for i in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


@contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread in the calling thread (a new thread starts with the process default)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@functools.cache
def keep_freed_memory() -> bool:
    """Keep freed memory in the process for the next ensemble instead of returning it to the
    system (glibc only; True when set). An ensemble's tensors are tens of MB, freshly allocated
    for each chunk; with glibc's defaults they are mapped anew each time and every page faults on
    first touch (~3 GB/s): at D = 64, L = 32, M = 64 with 36 members that was ~35 ms of a 140 ms
    run. Here: allocations under 32 MB (glibc's largest threshold) come from the heap, and up to
    1 GiB of freed heap is kept. The cost: the process's resident memory stays at its peak."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 1 << 30)
                and mallopt(_M_TOP_PAD, 64 << 20))
