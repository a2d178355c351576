"""The result of one grid point in plain Python values: what the worker produces, the store keeps
and the CLI and API print. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.grid import PointSpec
from backend.metrics import METRIC_NAMES, Aggregate, aggregate, classify, json_number, point_flags


@dataclass
class SeedRun:
    """One unit seed of a point: its diagnostics (NaN where undefined) and loss curve."""

    unit_seed: int
    metrics: dict[str, float]
    loss_curve: list[float]  # K + 1 values, NaN after divergence
    diverged_at_step: int | None = None

    @property
    def diverged(self) -> bool:
        return self.diverged_at_step is not None

    @property
    def regime(self) -> str:
        return classify(self.metrics, self.diverged)


@dataclass
class Provenance:
    resphase_version: str
    torch_version: str
    device: str
    dtype: str
    host: str = ""


@dataclass
class PointOutcome:
    """All seeds of one point. The point is `diverged` when any of its seeds diverged; its
    aggregates are then over the seeds that did not, for every metric (loss_final included)."""

    point: PointSpec
    seeds: list[SeedRun]
    timing_s: float
    provenance: Provenance
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "diverged" if any(s.diverged for s in self.seeds) else "done"

    def aggregates(self) -> dict[str, Aggregate]:
        survivors = [s for s in self.seeds if not s.diverged]
        return {name: aggregate([s.metrics.get(name) for s in survivors]) for name in METRIC_NAMES}

    @property
    def flags(self) -> list[str]:
        means = {name: agg.mean for name, agg in self.aggregates().items()}
        ref = self.point.settings.reference
        return point_flags(means, self.regime, self.point.settings.dtype,
                           None if ref is None else ref.L / self.point.L)

    @property
    def regime(self) -> str:
        means = {name: agg.mean for name, agg in self.aggregates().items()}
        return classify(means, self.status == "diverged")

    def mean_loss_curve(self) -> list[float | None]:
        """Per step, the mean over the seeds that did not diverge (all seeds when every one did)."""
        seeds = [s for s in self.seeds if not s.diverged] or self.seeds
        steps = max((len(s.loss_curve) for s in seeds), default=0)
        return [aggregate([s.loss_curve[k] for s in seeds if k < len(s.loss_curve)]).mean for k in range(steps)]

    def seed_docs(self) -> list[dict[str, Any]]:
        """Per seed: unit seed, regime, divergence step and metrics (non-finite -> None), as stored."""
        return [{"unit_seed": s.unit_seed, "regime": s.regime, "diverged_at_step": s.diverged_at_step,
                 "metrics": {k: json_number(v) for k, v in s.metrics.items()}} for s in self.seeds]

    def tidy_rows(self) -> list[dict[str, Any]]:
        """One row per seed, the shape of GET /sweeps/{id}/export rows (without the ids)."""
        p = self.point
        base = {"alpha": p.alpha, "D": p.D, "L": p.L, "M": p.M, "status": self.status, "point_regime": self.regime}
        return tidy_rows(base, p.settings.model_dump(mode="json"), self.seed_docs())

    def to_json(self) -> dict[str, Any]:
        """The JSON object of `resphase run --json` and of GET /points/{id}: non-finite -> null."""
        metrics = {}
        for name, agg in self.aggregates().items():
            values = [json_number(s.metrics.get(name)) for s in self.seeds]
            metrics[name] = {**agg.as_dict(), "values": values}
        return {
            "config": self.point.config(),
            "content_hash": self.point.content_hash,
            "status": self.status,
            "regime": self.regime,
            "flags": self.flags,
            "metrics": metrics,
            "seed_regimes": [s.regime for s in self.seeds],
            "diverged_at_step": [s.diverged_at_step for s in self.seeds],
            "curves": {
                "loss": self.mean_loss_curve(),
                "loss_per_seed": [[json_number(v) for v in s.loss_curve] for s in self.seeds],
            },
            "timing_s": self.timing_s,
            "provenance": vars(self.provenance),
        }


def tidy_rows(base: dict[str, Any], settings: dict[str, Any], seeds: list[dict[str, Any]] | None
              ) -> list[dict[str, Any]]:
    """Export rows of one point: `base` (ids, axes, status), the settings flattened, then per seed
    its id, regime, divergence step and every metric. A point without results gives one row."""
    flat = {k: v for k, v in settings.items() if k != "reference"}
    ref = settings.get("reference") or {}
    flat.update(ref_L=ref.get("L"), ref_M=ref.get("M"), ref_seeds=ref.get("seeds"))
    rows = []
    per_seed: list[dict[str, Any] | None] = list(seeds) if seeds else [None]
    for seed in per_seed:
        row = {**base, **flat, "unit_seed": None, "seed_regime": None, "diverged_at_step": None}
        metrics: dict[str, Any] = {}
        if seed is not None:
            row.update(unit_seed=seed["unit_seed"], seed_regime=seed["regime"],
                       diverged_at_step=seed["diverged_at_step"])
            metrics = seed["metrics"]
        row.update({name: metrics.get(name) for name in METRIC_NAMES})
        rows.append(row)
    return rows
