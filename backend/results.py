"""The result of one grid point in plain Python values: what the worker produces, the store keeps
and the CLI and API print. Torch-free."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from backend.grid import PointSpec
from backend.metrics import METRIC_NAMES, Aggregate, aggregate, classify, json_number


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
    aggregates are then over the seeds that did not."""

    point: PointSpec
    seeds: list[SeedRun]
    timing_s: float
    provenance: Provenance
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "diverged" if any(s.diverged for s in self.seeds) else "done"

    def aggregates(self) -> dict[str, Aggregate]:
        return {name: aggregate([s.metrics.get(name) for s in self.seeds]) for name in METRIC_NAMES}

    @property
    def regime(self) -> str:
        means = {name: agg.mean for name, agg in self.aggregates().items()}
        return classify(means, self.status == "diverged")

    def mean_loss_curve(self) -> list[float | None]:
        steps = max((len(s.loss_curve) for s in self.seeds), default=0)
        return [aggregate([s.loss_curve[k] for s in self.seeds if k < len(s.loss_curve)]).mean
                for k in range(steps)]

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


def finite_or_nan(x: float | None) -> float:
    return x if x is not None and math.isfinite(x) else math.nan
