"""The engine benchmark's cases: the alpha-phase grid (one row per shape) and shapes from small
to large, each a set of grid points (alphas x one shape x seeds), smaller with --quick."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from backend.grid import GeomRange, PointSpec, RunSettings, axis_values


@dataclass(frozen=True)
class Case:
    """One row of the table: every alpha of one shape, `seeds` unit seeds each."""

    group: str  # "alpha-phase" or "shapes"
    name: str
    D: int
    L: int
    M: int
    alphas: tuple[float, ...]
    seeds: int
    steps: int
    n_samples: int
    plain_max_runs: int  # the plain loop is timed on at most this many runs of the case
    target: str = ""  # "ratio", "medium", "peak" or "": which targets this row is judged against

    @property
    def runs(self) -> int:
        return len(self.alphas) * self.seeds

    @property
    def shape(self) -> str:
        return f"D={self.D} L={self.L} M={self.M} N={self.n_samples}"

    def settings(self, dtype: str, steps: int | None = None, seeds: int | None = None) -> RunSettings:
        return RunSettings(steps=self.steps if steps is None else steps, seeds=self.seeds if seeds is None else seeds,
                           n_samples=self.n_samples, dtype=dtype)

    def points(self, dtype: str) -> list[PointSpec]:
        s = self.settings(dtype)
        return [PointSpec(alpha=a, D=self.D, L=self.L, M=self.M, settings=s) for a in self.alphas]


def geom(start: float, stop: float, num: int) -> tuple[float, ...]:
    """num log-spaced values from start to stop, both included: the alphas a sweep's
    {"geom": [start, stop, num]} expands to."""
    return tuple(axis_values("alpha", GeomRange(geom=(start, stop, num))))


def make_cases(quick: bool, device: torch.device) -> list[Case]:
    """The alpha-phase quick grid (case 1) and the shapes from small to large (case 2)."""
    on_gpu = device.type == "cuda"
    if quick:
        alphas = geom(0.25, 64, 3)
        return [
            Case("alpha-phase", "alpha-phase L=M=16", 16, 16, 16, alphas, 2, 3, 10, 6, "ratio"),
            Case("shapes", "large (quick: scaled down)", 128, 8, 128, (1.0,), 2, 2, 64, 1, "peak"),
        ]
    alphas = geom(0.25, 64, 9)
    plain_cap = 36
    cases = [Case("alpha-phase", f"alpha-phase L=M={lm}", 16, lm, lm, alphas, 4, 10, 10, plain_cap, "ratio")
             for lm in (16, 32, 64)]
    cases += [
        Case("shapes", "small", 16, 16, 16, alphas, 4, 10, 10, plain_cap),
        Case("shapes", "medium", 64, 32, 64, alphas, 4, 10, 10, plain_cap, "medium"),
    ]
    if on_gpu:
        # the same cases, plus ensembles as large as a GPU sweep runs: the alpha-phase grid with
        # 32 seeds a point (288 networks a shape) and the large shape with 4 alphas x 8 seeds
        cases += [Case("gpu ensembles", f"alpha-phase L=M={lm} x32 seeds", 16, lm, lm, alphas, 32, 10, 10, plain_cap)
                  for lm in (16, 32, 64)]
        cases.append(Case("shapes", "large", 512, 64, 512, (0.5, 1.0, 2.0, 4.0), 8, 10, 256, 4, "peak"))
    else:
        cases.append(Case("shapes", "large", 512, 64, 512, (1.0,), 2, 10, 256, 1, "peak"))
    return cases
