"""Names, meanings and regime thresholds of the run diagnostics (docs/science.md section 2).

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
    "feature_update_rel": "feature_update / rep_change: the units' own move relative to the move of the "
                          "network's output representation (~1/alpha at the mlu scale, whatever eta and K)",
    "laziness": "alpha * feature_update: flat in alpha inside the lazy regime",
    "preact_change": "RMS change of the pre-activations <u, h^{l-1}>/sqrt(D) (moves even when lazy)",
    "weight_change_rel": "||(u,v)^K - (u,v)^0||_F / ||(u,v)^0||_F (shrinks like 1/sqrt(D))",
    "init_deviation": "RMS per coordinate of h^L - h^0 at init: ~0.5 alpha sqrt(D/(LM)) for mlu",
    "rep_change": "RMS per coordinate of h^L after training minus h^L at init",
    "err_out": "RMS over samples and outputs of f - f_ref after K steps (null without a reference)",
    "err_emb": "RMS over samples and coordinates of h^L - h^L_ref after K steps (null without one)",
    "err_out_floor": "noise floor of err_out: RMS standard error of the reference's seed mean of f "
                     "(the reference is a finite network too; null without a reference)",
    "err_emb_floor": "noise floor of err_emb: the same for h^L",
}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)

Regime = Literal["feature_learning", "lazy", "saturated", "noise_dominated", "unstable", "diverged"]
REGIMES: tuple[str, ...] = ("feature_learning", "lazy", "saturated", "noise_dominated", "unstable", "diverged")

# Each threshold below was calibrated on the engine's own runs (SCIENCE_VERSION 3, float32,
# N = 10, d_in = d_out = 5); `calibrated_on` in THRESHOLDS says on what, /meta serves it.
# Version 4 changed only the units' draw (other N(0, 1) numbers); tests/test_labels_and_controls.py
# still finds the labels there.

# Unstable when the loss ended above this multiple of its initial value without meeting the
# divergence rule (1e6 x, or non-finite): gradient descent made the fit worse, the step is past
# stability. Stable runs end between 0.02x and 1x at every (alpha, D, L, M) of the presets.
LOSS_GROWTH_MAX = 2.0
# Noise-dominated when init_deviation >= this: h^L already differs from h^0 by O(1) at init, the
# finite network has no deterministic limit. 0.5 * alpha * sqrt(D/(LM)) = 0.5 at alpha = sqrt(LM/D).
INIT_DEVIATION_MAX = 0.5
# Saturated when feature_update >= this: the units' own moves shift the pre-activations by 3 or
# more, deep into tanh's flat tails (tanh'(3) < 0.01). Reached for alpha <~ 1/4 at eta = 1, K = 10.
SATURATION_MIN = 3.0
# Feature learning when feature_update_rel >= this. The ratio of the units' move to the network's
# move is ~1/alpha at the mlu scale and does not depend on the training budget: at alpha = 1 it is
# 1.04-1.13 for eta in {0.1, 1}, K in {10, 50}, problem seeds 0 and 3, D in {8, 64}, L, M in
# {16, 64}; at alpha = 2 it is 0.54-0.67, at alpha = 4 0.27-0.38. The threshold puts the boundary
# at alpha ~ 2, where the lazy law 1/alpha has halved the update.
FEATURE_UPDATE_REL_MIN = 0.5
# The absolute threshold of feature_update, for boundaries of that metric only (labels use the
# relative one): it depends on eta and K (0.25 puts the boundary at alpha ~ 2 only at eta = 1, K = 10).
FEATURE_UPDATE_MIN = 0.25
# Inside the lazy regime laziness sits on a plateau (~0.6 at the defaults); above this it has left
# it, which happens at the lazy / noise-dominated boundary. Used for boundaries, not for labels.
LAZINESS_MAX = 1.5
# An error to the reference within this factor of the reference's noise floor is not a measurement
# of the network: cells there are flagged `near_floor` and rate claims refuse them.
FLOOR_FACTOR = 3.0
# The reference stands for L -> infinity only if it is much deeper than the run: its own O(1/L_ref)
# bias is then at most 1/this of the run's O(1/L). (Its fluctuation is in the noise floor.)
REFERENCE_DEPTH_FACTOR = 4.0

# In the order GET /boundaries takes them: the first threshold of a metric with "boundary": True is
# its default there (the others are ratios or factors, not values of the metric).
THRESHOLDS: dict[str, dict[str, object]] = {
    "loss_growth_max": {
        "boundary": False, "value": LOSS_GROWTH_MAX, "metric": "loss_final",
        "meaning": "unstable when loss_final > value x loss_init (not diverged)",
        "calibrated_on": "stable runs of every preset end at 0.02-1x their initial loss; eta = 10 at "
                         "alpha = 1/4 ends at 54x"},
    "init_deviation_max": {
        "boundary": True, "value": INIT_DEVIATION_MAX, "metric": "init_deviation",
        "meaning": "noise_dominated when init_deviation >= value",
        "calibrated_on": "the formula 0.5 alpha sqrt(D/(LM)): reached at alpha = sqrt(LM/D)"},
    "feature_update_rel_min": {
        "boundary": True, "value": FEATURE_UPDATE_REL_MIN, "metric": "feature_update_rel",
        "meaning": "feature_learning when feature_update_rel >= value, else lazy",
        "calibrated_on": "feature_update_rel ~ 1/alpha (mlu): 1.04-1.13 at alpha = 1 for eta 0.1-1, K 10-50, "
                         "problem seeds 0 and 3, D 8-64, L and M 16-64; 0.54-0.67 at alpha = 2"},
    "feature_update_min": {
        "boundary": True, "value": FEATURE_UPDATE_MIN, "metric": "feature_update",
        "meaning": "boundaries of feature_update only (labels use feature_update_rel_min)",
        "calibrated_on": "eta = 1, K = 10, problem seed 0: the update halves by alpha ~ 2"},
    "saturation_min": {
        "boundary": True, "value": SATURATION_MIN, "metric": "feature_update",
        "meaning": "saturated when feature_update >= value (units pushed into tanh's flat tails)",
        "calibrated_on": "tanh'(3) < 0.01; eta = 1, K = 10 reaches it for alpha <~ 1/4"},
    "laziness_max": {
        "boundary": True, "value": LAZINESS_MAX, "metric": "laziness",
        "meaning": "laziness above value marks the end of the lazy plateau (boundaries only)",
        "calibrated_on": "eta = 1, K = 10: the plateau sits at ~0.6"},
    "floor_factor": {
        "boundary": False, "value": FLOOR_FACTOR, "metric": "err_out",
        "meaning": "cells with err < value x its noise floor are flagged near_floor; rate claims refuse them",
        "calibrated_on": "an error e measured against a reference of floor f is biased by about f^2/(2e): "
                         "under 6% of e past 3 floors"},
}


def _finite(metrics: Mapping[str, float | None], name: str) -> float | None:
    v = metrics.get(name)
    return v if v is not None and math.isfinite(v) else None


def classify(metrics: Mapping[str, float | None], diverged: bool) -> Regime:
    """The regime label of one run (or of a point's seed means), in order of precedence:
    diverged, unstable, noise_dominated, saturated, feature_learning, lazy."""
    if diverged:
        return "diverged"
    loss0, loss = _finite(metrics, "loss_init"), metrics.get("loss_final")
    if loss is not None and (not math.isfinite(loss) or (loss0 is not None and loss > LOSS_GROWTH_MAX * loss0)):
        return "unstable"
    init_dev = _finite(metrics, "init_deviation")
    if init_dev is not None and init_dev >= INIT_DEVIATION_MAX:
        return "noise_dominated"
    feat = _finite(metrics, "feature_update")
    if feat is not None and feat >= SATURATION_MIN:
        return "saturated"
    rel = _finite(metrics, "feature_update_rel")
    if rel is None:  # no move at all (steps = 0): nothing learned
        return "lazy"
    return "feature_learning" if rel >= FEATURE_UPDATE_REL_MIN else "lazy"


FLAGS: dict[str, str] = {
    "near_floor_out": f"err_out is within {FLOOR_FACTOR:g}x of the reference's noise floor: not a measurement "
                      "of the network",
    "near_floor_emb": f"err_emb is within {FLOOR_FACTOR:g}x of the reference's noise floor",
    "reference_shallow": f"the reference is less than {REFERENCE_DEPTH_FACTOR:g}x deeper than the network: its own "
                         "1/L_ref bias is no longer small beside the network's 1/L",
    "float32_chaotic": "noise-dominated in float32: float32 and float64 runs from identical tensors drift apart "
                       "(28% in loss after 10 steps at the defaults), so these numbers do not reproduce (use float64)",
}


def point_flags(means: Mapping[str, float | None], regime: str, dtype: str,
                depth_ratio: float | None = None) -> list[str]:
    """Warnings about a point's numbers, beside its regime (FLAGS says each in a line):
    near_floor_out / near_floor_emb: the error is within FLOOR_FACTOR of the reference's noise floor;
    reference_shallow: depth_ratio (L_ref / L, None without a reference) under REFERENCE_DEPTH_FACTOR;
    float32_chaotic: noise-dominated in float32, where the trajectories of identical initial tensors
    in float32 and float64 differ by tens of percent after 10 steps: the numbers do not reproduce."""
    flags = []
    for kind in ("out", "emb"):
        err, floor = _finite(means, f"err_{kind}"), _finite(means, f"err_{kind}_floor")
        if err is not None and floor is not None and err < FLOOR_FACTOR * floor:
            flags.append(f"near_floor_{kind}")
    if depth_ratio is not None and depth_ratio < REFERENCE_DEPTH_FACTOR:
        flags.append("reference_shallow")
    if regime == "noise_dominated" and dtype == "float32":
        flags.append("float32_chaotic")
    return flags


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


# The order statistics over seeds that the result table stores beside the mean (<metric>_median,
# _min, _max), so a slice of any aggregate is one typed-column read. Over every seed's finite
# value (diverged seeds included), as backend.analysis.cells.aggregate_seeds takes them.
ORDER_STATS: tuple[str, ...] = ("median", "min", "max")


def order_stats(values: Sequence[float | None]) -> dict[str, float | None]:
    """{"median", "min", "max"} of the finite values (None for each when there is none); the
    median of an even count is the mean of the two middle values."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    n = len(finite)
    if n == 0:
        return dict.fromkeys(ORDER_STATS)
    mid = finite[n // 2] if n % 2 else (finite[n // 2 - 1] + finite[n // 2]) / 2.0
    return {"median": mid, "min": finite[0], "max": finite[-1]}


def json_number(x: float | None) -> float | None:
    """Non-finite numbers become None (JSON null)."""
    return x if x is not None and math.isfinite(x) else None
