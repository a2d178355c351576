"""The infinite-depth limit (Neural Mean ODE) stand-in of docs/science.md section 3, cached.

A reference is the same problem (problem seed, alpha, D, eta, K, data) trained at large
(L_ref, M_ref) and averaged over S_ref unit seeds. It is keyed by a hash of exactly that, so it
is computed once and shared by every run and sweep that compares to it.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from backend.grid import SCIENCE_VERSION, PointSpec, digest
from worker.setup import TrainFn, reference_run
from worker.train import StepHook, train_ensemble


@dataclass
class ReferenceLimit:
    """Seed-averaged trained outputs of the reference network (float64, CPU), and their noise
    floor: the reference is itself a finite network, so its seed average carries a fluctuation of
    its own, estimated from the seed-to-seed spread. An error to the reference much below the
    floor cannot be told from zero."""

    f: np.ndarray  # (N, d_out)
    h: np.ndarray  # (N, D): h^L
    n_seeds: int  # seeds that did not diverge and went into the average (0: unusable)
    alpha: float
    f_floor: float = math.nan  # RMS over entries of the standard error of the seed mean of f
    h_floor: float = math.nan  # the same for h^L; NaN with fewer than 2 seeds

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, f=self.f, h=self.h, n_seeds=np.array(self.n_seeds), alpha=np.array(self.alpha),
                 f_floor=np.array(self.f_floor), h_floor=np.array(self.h_floor))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceLimit:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            floors = {k: float(z[k]) for k in ("f_floor", "h_floor") if k in z.files}
            return cls(f=z["f"], h=z["h"], n_seeds=int(z["n_seeds"]), alpha=float(z["alpha"]), **floors)


def seed_mean_floor(per_seed: np.ndarray) -> float:
    """(S, ...) per-seed outputs -> RMS over entries of the standard error of their mean over S
    (NaN when S < 2)."""
    n = per_seed.shape[0]
    if n < 2:
        return math.nan
    return float(np.sqrt(per_seed.var(axis=0, ddof=1).mean() / n))


class ReferenceStore(Protocol):
    def get(self, key: str) -> ReferenceLimit | None: ...

    def put(self, key: str, ref: ReferenceLimit) -> None: ...


class MemoryDiskReferenceStore:
    """In-memory dict in front of a directory of .npz files (one per key), written atomically."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, ReferenceLimit] = {}

    def get(self, key: str) -> ReferenceLimit | None:
        if key in self._memory:
            return self._memory[key]
        path = self._path(key)
        if path is not None and path.exists():
            self._memory[key] = ReferenceLimit.from_bytes(path.read_bytes())
            return self._memory[key]
        return None

    def put(self, key: str, ref: ReferenceLimit) -> None:
        self._memory[key] = ref
        path = self._path(key)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(ref.to_bytes())
        os.replace(tmp, path)

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / "references" / f"{key}.npz"


def reference_key(point: PointSpec) -> str:
    """Hash of everything that determines the reference a point compares to: alpha, D, every run
    setting but RunSettings.NETWORK_ONLY, and every reference setting (callers check
    point.settings.reference first)."""
    s = point.settings
    assert s.reference is not None
    return digest({"science_version": SCIENCE_VERSION, "alpha": point.alpha, "D": point.D,
                   **s.reference_fields(), **s.reference.key_fields()})


def ensure_references(points: Sequence[PointSpec], store: ReferenceStore, device: torch.device,
                      on_step: StepHook | None = None,
                      train: TrainFn = train_ensemble) -> dict[str, ReferenceLimit]:
    """The references these points need, from the store or computed (batched: all alphas and
    reference seeds of one (D, settings) train as one ensemble) and stored."""
    found: dict[str, ReferenceLimit] = {}
    seen: set[str] = set()  # each key is looked up once, however many points share it
    # (D, settings) -> (a point of that group, {alpha: key of its missing reference})
    missing: dict[tuple[int, str], tuple[PointSpec, dict[float, str]]] = {}
    for p in points:
        if p.settings.reference is None:
            continue
        key = reference_key(p)
        if key in seen:
            continue
        seen.add(key)
        ref = store.get(key)
        if ref is not None:
            found[key] = ref
        else:
            missing.setdefault((p.D, p.settings.model_dump_json()), (p, {}))[1][p.alpha] = key
    for sample, keys_by_alpha in missing.values():
        computed = _compute_group(sample, sorted(keys_by_alpha), device, on_step, train)
        for alpha, ref in computed.items():
            store.put(keys_by_alpha[alpha], ref)
            found[keys_by_alpha[alpha]] = ref
    return found


def _stacked(tensors: list[torch.Tensor | None]) -> np.ndarray:
    """The trained outputs of members that did not diverge (always kept) as one float64 array."""
    kept = [t for t in tensors if t is not None]
    assert len(kept) == len(tensors), "a member that did not diverge keeps its outputs"
    return torch.stack(kept).double().cpu().numpy()


def _compute_group(sample: PointSpec, alphas: list[float], device: torch.device,
                   on_step: StepHook | None, train: TrainFn) -> dict[float, ReferenceLimit]:
    s = sample.settings
    results = reference_run(sample, alphas, device).train(on_step, train)
    out: dict[float, ReferenceLimit] = {}
    for alpha in alphas:
        ok = [r for r in results if r.member.alpha == alpha and not r.diverged]
        if ok:
            fs = _stacked([r.f_final for r in ok])  # (S, N, d_out)
            hs = _stacked([r.h_final for r in ok])  # (S, N, D)
            out[alpha] = ReferenceLimit(f=fs.mean(0), h=hs.mean(0), n_seeds=len(ok), alpha=alpha,
                                        f_floor=seed_mean_floor(fs), h_floor=seed_mean_floor(hs))
        else:
            out[alpha] = ReferenceLimit(f=np.full((s.n_samples, s.d_out), np.nan),
                                        h=np.full((s.n_samples, sample.D), np.nan), n_seeds=0, alpha=alpha)
    return out
