"""The result of one grid point in plain Python values: what the worker produces, the store keeps
and the CLI and API print. Torch-free.

One serializer, two steps: `PointOutcome.result_row()` is the stored form (the `result` table's
columns: per metric the seed mean, standard error and count and the median, min and max over
seeds, the per-seed documents, the loss curves, timing and provenance), and
`point_document(config, content_hash, row)` turns such a row into the JSON object of `resphase
run --json` and GET /points/{id}. `PointOutcome.to_json()` is `point_document` of its own row, so
what a worker prints and what the API reads back are the same object by construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backend.grid import PointSpec
from backend.jsonsafe import finite_or_none
from backend.metrics import METRIC_NAMES, Aggregate, aggregate, classify, order_stats, point_flags

PROVENANCE_FIELDS: tuple[str, ...] = ("resphase_version", "torch_version", "device", "dtype", "host", "engine")


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
    engine: str = ""  # "native" (worker/native.py's kernel) or "torch" (worker/passes.py); "" if not recorded


@dataclass
class PointOutcome:
    """All seeds of one point. The point is `diverged` when any of its seeds diverged; its
    aggregates are then over the seeds that did not, for every metric (loss_final included)."""

    point: PointSpec
    seeds: list[SeedRun]
    timing_s: float
    provenance: Provenance

    @property
    def status(self) -> str:
        return "diverged" if any(s.diverged for s in self.seeds) else "done"

    def aggregates(self) -> dict[str, Aggregate]:
        survivors = [s for s in self.seeds if not s.diverged]
        return {name: aggregate([s.metrics.get(name) for s in survivors]) for name in METRIC_NAMES}

    @property
    def regime(self) -> str:
        means = {name: agg.mean for name, agg in self.aggregates().items()}
        return classify(means, self.status == "diverged")

    def mean_loss_curve(self) -> list[float | None]:
        """Per step, the mean over the seeds that did not diverge (all seeds when every one did)."""
        return mean_loss_curve([s.loss_curve for s in self.seeds], [s.diverged for s in self.seeds])

    def seed_docs(self) -> list[dict[str, Any]]:
        """Per seed: unit seed, regime, divergence step and metrics (non-finite -> None), as stored."""
        return [{"unit_seed": s.unit_seed, "regime": s.regime, "diverged_at_step": s.diverged_at_step,
                 "metrics": {k: finite_or_none(v) for k, v in s.metrics.items()}} for s in self.seeds]

    def result_row(self) -> dict[str, Any]:
        """The stored form: the `result` table's columns but point_id and created_at."""
        row: dict[str, Any] = {"regime": self.regime, "status": self.status}
        for name, agg in self.aggregates().items():
            row[f"{name}_mean"], row[f"{name}_stderr"] = finite_or_none(agg.mean), finite_or_none(agg.stderr)
            row[f"{name}_n"] = agg.n
        seeds = self.seed_docs()
        for name in METRIC_NAMES:  # over every seed's value, as a slice's seed aggregate takes them
            for stat, value in order_stats([s["metrics"].get(name) for s in seeds]).items():
                row[f"{name}_{stat}"] = value
        row["seeds"] = seeds
        row["loss_curves"] = [[finite_or_none(v) for v in s.loss_curve] for s in self.seeds]
        row["timing_s"] = self.timing_s
        row.update({k: getattr(self.provenance, k) for k in PROVENANCE_FIELDS})
        return row

    def config(self) -> dict[str, Any]:
        """Every setting of the point, as the store keeps it (settings in JSON mode)."""
        p = self.point
        return point_config(p.alpha, p.D, p.L, p.M, p.settings.model_dump(mode="json"))

    def tidy_rows(self) -> list[dict[str, Any]]:
        """One row per seed, the shape of GET /sweeps/{id}/export rows (without the ids)."""
        p = self.point
        base = {"alpha": p.alpha, "D": p.D, "L": p.L, "M": p.M, "status": self.status, "point_regime": self.regime}
        return tidy_rows(base, p.settings.model_dump(mode="json"), self.seed_docs())

    def to_json(self) -> dict[str, Any]:
        """The JSON object of `resphase run --json` and of GET /points/{id}: non-finite -> null."""
        return point_document(self.config(), self.point.content_hash, self.result_row())


def point_config(alpha: float, D: int, L: int, M: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The `config` of a point document: its axes and its settings document."""
    return {"alpha": alpha, "D": D, "L": L, "M": M, **settings}


def mean_loss_curve(curves: Sequence[Sequence[float | None]], diverged: Sequence[bool]) -> list[float | None]:
    """Per step, the mean of the finite values of the seeds that did not diverge (of every seed
    when all did); None at a step with no finite value."""
    kept = [c for c, gone in zip(curves, diverged, strict=True) if not gone] or list(curves)
    steps = max((len(c) for c in kept), default=0)
    return [aggregate([c[k] for c in kept if k < len(c)]).mean for k in range(steps)]


def point_document(config: Mapping[str, Any], content_hash: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object of a computed point from its stored row (`PointOutcome.result_row`, or the
    `result` table's row): config, status, regime, flags, per metric {mean, stderr, n, values},
    per-seed regimes and divergence steps, the mean and per-seed loss curves, timing, provenance."""
    seeds = row["seeds"]
    means = {name: finite_or_none(row[f"{name}_mean"]) for name in METRIC_NAMES}
    metrics = {name: {"mean": means[name], "stderr": finite_or_none(row[f"{name}_stderr"]), "n": row[f"{name}_n"] or 0,
                      "values": [s["metrics"].get(name) for s in seeds]} for name in METRIC_NAMES}
    ref = config.get("reference")
    depth_ratio = None if not ref else ref["L"] / config["L"]
    flags = point_flags(means, row["regime"], config["dtype"], depth_ratio)
    curves = row["loss_curves"]
    return {
        "config": dict(config),
        "content_hash": content_hash,
        "status": row["status"],
        "regime": row["regime"],
        "flags": flags,
        "metrics": metrics,
        "seed_regimes": [s["regime"] for s in seeds],
        "diverged_at_step": [s["diverged_at_step"] for s in seeds],
        "curves": {"loss": mean_loss_curve(curves, [s["diverged_at_step"] is not None for s in seeds]),
                   "loss_per_seed": curves},
        "timing_s": row["timing_s"],
        "provenance": {k: row[k] for k in PROVENANCE_FIELDS},
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
