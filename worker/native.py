"""The compiled training kernel for CPU float32 ensembles (worker/csrc/block.cpp), built on first
use with the machine's C++ compiler and cached.

At the alpha-phase grid's shapes (N = 10 samples, D = 16, M up to 64) a batched product is a few
microseconds of MKL overhead around a few thousand multiply-adds, and a step is ~7 such kernels a
block. The kernel walks each member through all its blocks in registers-sized products instead
(worker/csrc/gemm.h: ~130 GFLOP/s on one AVX-512 core for 10 x 16 x 64, against ~35 for
torch.bmm's batched call there), fuses the activation, the loss, the divergence check, the
backward pass and the step, and splits the members between the intra-op threads.

Its numbers differ from worker/passes.py's by float rounding (another order of summation, and a
tanh within 5 ulp; SCIENCE_VERSION 6); RESPHASE_NATIVE=0 gives the PyTorch passes' numbers. It is used
when every condition holds: the ensemble is float32 on the CPU, the activation is tanh or
linear, the shape is one where it pays (N * D * M <= MAX_MEMBER_PRODUCT; above it MKL's large
products are faster), RESPHASE_NATIVE is not "0", and the kernel builds (a C++ compiler, torch's headers). If
the build fails, the reason is logged once and training runs on worker/passes.py.

The build takes ~30 s on two cores, once per source version and machine: torch's extension cache
(TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions) keeps it under a name that hashes the
sources and the CPU's instruction-set flags (the kernel is compiled for the build machine's
vector width, -march=native), and concurrent builds wait on torch's lock file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import shutil
import sys
from pathlib import Path
from types import ModuleType

import torch

from backend.cost import KERNEL_MAX_MEMBER_PRODUCT, on_kernel
from worker.resnet import ResNetConfig

log = logging.getLogger(__name__)

_SOURCES = Path(__file__).parent / "csrc"
ENV_SWITCH = "RESPHASE_NATIVE"  # "0" turns the kernel off


def _cpu_flags() -> str:
    """The CPU's instruction-set flags (Linux), or the machine's name elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _build_name() -> str:
    digest = hashlib.sha256()
    for path in sorted(_SOURCES.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(_cpu_flags().encode() + torch.__version__.encode())
    return f"resphase_block_{digest.hexdigest()[:12]}"


@functools.cache
def kernel() -> ModuleType | None:
    """The built kernel, or None when it cannot be built (logged once). Whether training uses it
    is applies()'s question (RESPHASE_NATIVE included), so the cached answer is the build's only."""
    _ninja_on_path()
    try:
        from torch.utils.cpp_extension import load

        return load(_build_name(), [str(_SOURCES / "block.cpp")], extra_include_paths=[str(_SOURCES)],
                    extra_cflags=["-O3", "-march=native", "-fopenmp"], extra_ldflags=["-fopenmp"],
                    verbose=False)
    except Exception as exc:  # any build failure means: train on worker/passes.py
        log.warning("resphase: the compiled training kernel is not available (%s: %s); "
                    "training uses the PyTorch passes", type(exc).__name__, str(exc).splitlines()[0][:300])
        return None


def _ninja_on_path() -> None:
    """torch runs `ninja` from PATH; the worker extra installs it beside this Python, which is not
    on PATH when the venv is not activated (.venv/bin/python -m ...)."""
    here = Path(sys.executable).parent
    if shutil.which("ninja") is None and (here / "ninja").exists():
        os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"


# Where the kernel pays (the measurements are at backend.cost.on_kernel, which the time model shares)
MAX_MEMBER_PRODUCT = KERNEL_MAX_MEMBER_PRODUCT


def applies(cfg: ResNetConfig, n_samples: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Whether an ensemble of this shape, sample count, dtype and device trains on the kernel
    (not whether the kernel builds: see kernel())."""
    return (device.type == "cpu" and dtype == torch.float32
            and on_kernel(cfg.D, cfg.M, n_samples, "float32", cfg.activation)
            and os.environ.get(ENV_SWITCH, "1") != "0")


def engine_name(cfg: ResNetConfig, n_samples: int, dtype: torch.dtype, device: torch.device) -> str:
    """'native' where the kernel trains such an ensemble (building it if need be), else 'torch'."""
    return "native" if applies(cfg, n_samples, dtype, device) and kernel() is not None else "torch"
