"""How many intra-op threads an ensemble trains on (worker/train.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from worker.resnet import ResNetConfig

# On the CPU, an ensemble whose per-layer product has fewer multiply-adds than this (E N D M)
# trains on one thread: its kernels are too small to split (elementwise kernels under ~32k
# elements never are), and every op still pays the threads' fork and join. On a shared machine
# that cost explodes: measured 75.6 runs/s on one thread against 3.5 on two at D = L = M = 16,
# E = 36, with other processes keeping ~6 of the 2 cores busy (docs/benchmarks.md).
SINGLE_THREAD_MACS = 2**22


@contextmanager
def threads_for(cfg: ResNetConfig, E: int, N: int, device: torch.device) -> Iterator[None]:
    """One intra-op thread for small CPU ensembles (SINGLE_THREAD_MACS), restored afterwards."""
    before = torch.get_num_threads()
    small = device.type == "cpu" and E * N * cfg.D * cfg.M < SINGLE_THREAD_MACS and before > 1
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)
