"""Names, meanings and regime thresholds of the run diagnostics (SCIENCE.md section 2).

Torch-free, shared by the worker (which computes them), the store (typed columns), the API
(which documents them) and the analysis (boundaries).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

METRICS: dict[str, str] = {
    "loss_init": "mean squared error (2 l) at initialisation",
    "loss_final": "mean squared error after K steps (the value it blew up to when diverged)",
    "feature_update": "RMS over layers, units, samples of <u^K - u^0, h_0^{l-1}(x)>/sqrt(D): "
                      "Theta(1) when features learn, O(1/alpha) when lazy",
    "laziness": "alpha * feature_update: flat in alpha inside the lazy regime",
    "preact_change": "RMS change of the pre-activations <u, h^{l-1}>/sqrt(D) (moves even when lazy)",
    "weight_change_rel": "||(u,v)^K - (u,v)^0||_F / ||(u,v)^0||_F (shrinks like 1/sqrt(D))",
    "init_deviation": "RMS per coordinate of h^L - h^0 at init: ~0.5 alpha sqrt(D/(LM)) for mlu",
    "rep_change": "RMS per coordinate of h^L after training minus h^L at init",
    "err_out": "RMS over samples and outputs of f - f_ref after K steps (null without a reference)",
    "err_emb": "RMS over samples and coordinates of h^L - h^L_ref after K steps (null without one)",
}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)

Regime = Literal["feature_learning", "lazy", "noise_dominated", "diverged"]
REGIMES: tuple[str, ...] = ("feature_learning", "lazy", "noise_dominated", "diverged")

# Feature learning when feature_update >= this. At the defaults (eta = 1, K = 10) a network at
# alpha = 1 moves its units by ~0.5 and the lazy law ~0.5/alpha sets in past alpha ~ 2: the
# threshold puts the boundary there, at the first alpha where the update has halved.
FEATURE_UPDATE_MIN = 0.25
# Noise-dominated when init_deviation >= this: h^L already differs from h^0 by O(1) at init, the
# finite network has no deterministic limit. 0.5 * alpha * sqrt(D/(LM)) = 0.5 at alpha = sqrt(LM/D).
INIT_DEVIATION_MAX = 0.5
# Inside the lazy regime laziness sits on a plateau (~0.6 at the defaults); above this it has left
# it, which happens at the lazy / noise-dominated boundary. Used for boundaries, not for labels.
LAZINESS_MAX = 1.5

THRESHOLDS: dict[str, dict[str, object]] = {
    "feature_update_min": {
        "value": FEATURE_UPDATE_MIN, "metric": "feature_update",
        "meaning": "feature_learning when feature_update >= value, else lazy"},
    "init_deviation_max": {
        "value": INIT_DEVIATION_MAX, "metric": "init_deviation",
        "meaning": "noise_dominated when init_deviation >= value (checked before feature_update)"},
    "laziness_max": {
        "value": LAZINESS_MAX, "metric": "laziness",
        "meaning": "laziness above value marks the end of the lazy plateau (boundaries only)"},
}


def classify(metrics: Mapping[str, float | None], diverged: bool) -> Regime:
    """The regime label of one run (or of a point's seed means), in order of precedence:
    diverged, noise_dominated, feature_learning, lazy."""
    if diverged:
        return "diverged"
    init_dev = metrics.get("init_deviation")
    if init_dev is not None and math.isfinite(init_dev) and init_dev >= INIT_DEVIATION_MAX:
        return "noise_dominated"
    feat = metrics.get("feature_update")
    if feat is None or not math.isfinite(feat):
        return "diverged"
    return "feature_learning" if feat >= FEATURE_UPDATE_MIN else "lazy"


@dataclass(frozen=True)
class Aggregate:
    """Mean and standard error over the finite per-seed values; n counts them."""

    mean: float | None
    stderr: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "stderr": self.stderr, "n": self.n}


def aggregate(values: Sequence[float | None]) -> Aggregate:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return Aggregate(None, None, 0)
    mean = math.fsum(finite) / n
    if n == 1:
        return Aggregate(mean, None, 1)
    var = math.fsum((v - mean) ** 2 for v in finite) / (n - 1)
    return Aggregate(mean, math.sqrt(var / n), n)


def json_number(x: float | None) -> float | None:
    """Non-finite numbers become None (JSON null)."""
    return x if x is not None and math.isfinite(x) else None
