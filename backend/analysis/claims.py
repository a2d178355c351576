"""The paper's claims, each with the negative controls that show it can fail.

A claim is a measurement on the rows of one preset (backend/presets.py), a predicted value with a
tolerance, side conditions, and controls: the same measurement on the same preset run with
deliberately wrong physics (VARIANTS). A claim holds only when its measurement holds (the one
verdict rule, backend/analysis/verdict.py), every condition holds, and every control that was run
reads "does not hold". Rows are tidy rows (backend/analysis/measures.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.analysis import measures as m
from backend.analysis.cells import from_rows, seed_means
from backend.analysis.verdict import FAILS, HOLDS, INCONCLUSIVE, verdict
from backend.jsonsafe import JsonResult, finite_or_none
from backend.metrics import FEATURE_UPDATE_REL_MIN, INIT_DEVIATION_MAX

Rows = m.Rows
BASE = "none"  # the variant name of a preset run as specified


@dataclass(frozen=True)
class Variant:
    """A deliberately wrong version of a preset: settings overrides, and what it rules out."""

    name: str
    overrides: dict[str, Any]
    rules_out: str


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("training_off", {"steps": 0}, "a measurement that only sees the network at initialisation"),
    Variant("plain_scale", {"residual_scale": "plain"}, "a result that does not depend on the sqrt(D) of the scale"),
    Variant("mlu_scale", {"residual_scale": "mlu"}, "a result that does not depend on the sqrt(D) of the scale"),
    Variant("tied_units", {"control": "tied_units"}, "a result that does not need L*M independent units"),
    Variant("lr_inverse_alpha", {"control": "lr_inverse_alpha"}, "a result that does not depend on the lr rule"),
    Variant("lr_unscaled", {"control": "lr_unscaled"}, "a result that does not depend on the lr's L*M scaling"),
    Variant("reference_other_problem", {"control": "reference_other_problem"},
            "an error that does not depend on which limit it is measured against"),
]}


@dataclass(frozen=True)
class Claim:
    name: str
    preset: str
    statement: str
    predicted: float
    tolerance: float
    measure: Callable[[Rows], m.Measurement]
    controls: tuple[str, ...]  # VARIANTS names
    figure: tuple[str, str, tuple[str, ...]]  # metric, x axis, grouping axes: the figure the claim reads
    uses_reference: bool = False
    slope: tuple[str, str] | None = None  # (metric, along) when the claim is a slope GET /fit also reads
    fixed: tuple[tuple[str, float], ...] = ()  # axes the figure holds fixed (where the claim measures)


def judge(claim: Claim, meas: m.Measurement) -> str:
    """The measurement's verdict, turned to "does not hold" by a failed condition."""
    v = meas.forced or verdict(claim.predicted, meas.measured, meas.ci, claim.tolerance, meas.n_seeds)
    return FAILS if any(not c.holds for c in meas.conditions) else v


def _fl_boundary(rows: Rows) -> m.Measurement:
    found = m.crossings(rows, "feature_update_rel", FEATURE_UPDATE_REL_MIN, "down", ("D", "L", "M"))
    lines = len({(r["D"], r["L"], r["M"]) for r in rows})
    if not found:
        return m.Measurement(None, None, "feature_update_rel never crosses its threshold",
                             forced=FAILS if lines else INCONCLUSIVE)
    logs = np.log2([c for _, c, _ in found])
    lo = np.log2([ci[0] if ci else c for _, c, ci in found])
    hi = np.log2([ci[1] if ci else c for _, c, ci in found])
    spread = m.Condition("flat_in_L_M", float(logs.max() - logs.min()) if len(found) == lines else math.inf, 1.0,
                         "the crossing is found on every (L, M) line and moves by at most a factor 2 across them")
    return m.Measurement(float(logs.mean()), (float(lo.mean()), float(hi.mean())),
                         "log2 of the alpha where feature_update_rel falls through "
                         f"{FEATURE_UPDATE_REL_MIN}, mean over {len(found)} of {lines} lines: "
                         + ", ".join(f"L={k['L']:g} M={k['M']:g}: {c:.3g}" for k, c, _ in found),
                         n_seeds=m.min_seeds(rows), conditions=(spread,))


def _boundary_slope(rows: Rows, metric: str, threshold: float, direction: str, line_axes: tuple[str, ...],
                    scale: Callable[[dict[str, float]], float], what: str) -> m.Measurement:
    found = m.crossings(rows, metric, threshold, direction, line_axes)
    if len({scale(k) for k, _, _ in found}) < 2:
        return m.Measurement(None, None, f"{metric} crosses {threshold} on fewer than two distinct {what}")
    slope, ci = m.crossing_slope(np.array([scale(k) for k, _, _ in found]), found)
    return m.Measurement(slope, ci, f"slope of log(crossing alpha of {metric} at {threshold}) vs log {what}: "
                         + ", ".join(f"{scale(k):.3g}: {c:.3g}" for k, c, _ in found), n_seeds=m.min_seeds(rows))


def _split_invariance(rows: Rows) -> m.Measurement:
    cells = from_rows(rows, "err_out")
    axes, means = cells.axes, seed_means(cells.values)
    lm = axes["L"] * axes["M"]
    worst, groups = 1.0, 0
    for p in np.unique(lm):
        group = means[(lm == p) & np.isfinite(means)]
        if group.size >= 2:
            groups += 1
            worst = max(worst, float(group.max() / group.min()))
    return m.Measurement(worst if groups else None, None,
                         f"largest max/min err_out over the splits of {groups} values of L*M",
                         conditions=(m.tracking(rows),))


def _at_alpha_1(rows: Rows) -> Rows:
    return [r for r in rows if math.isclose(r["alpha"], 1.0)]


def _rate_alpha(rows: Rows) -> m.Measurement:
    return m.rate(m.lazy_window(rows), "err_out", "alpha", 1.0, 0.2, track=True)


CLAIMS: tuple[Claim, ...] = (
    Claim("feature_learning_boundary", "alpha-phase",
          "features learn at alpha = Theta(1): the feature-learning boundary sits at alpha ~ 2 for every L, M "
          "(log2 of the crossing alpha)", 1.0, 1.0, _fl_boundary, ("plain_scale",),
          ("feature_update_rel", "alpha", ("L", "M"))),
    Claim("lazy_feature_update_slope", "alpha-phase",
          "lazy regime 1 << alpha << sqrt(LM/D): feature_update ~ alpha^-1", -1.0, 0.15,
          lambda r: m.rate(m.lazy_window(r), "feature_update", "alpha", -1.0, 0.15), ("lr_inverse_alpha",),
          ("feature_update", "alpha", ("L", "M")), slope=("feature_update", "alpha")),
    Claim("feature_update_flat_in_L", "alpha-phase", "at alpha = 1, feature_update does not depend on L",
          0.0, 0.15, lambda r: m.rate(_at_alpha_1(r), "feature_update", "L", 0.0, 0.15), ("lr_unscaled",),
          ("feature_update", "L", ("M",)), slope=("feature_update", "L"),
          fixed=(("alpha", 1.0),)),
    Claim("feature_update_flat_in_M", "alpha-phase", "at alpha = 1, feature_update does not depend on M",
          0.0, 0.15, lambda r: m.rate(_at_alpha_1(r), "feature_update", "M", 0.0, 0.15), ("lr_unscaled",),
          ("feature_update", "M", ("L",)), slope=("feature_update", "M"),
          fixed=(("alpha", 1.0),)),
    Claim("init_deviation_boundary", "alpha-phase",
          "the initial deviation formula: init_deviation reaches 0.5 at alpha ~ sqrt(LM/D) (slope in sqrt(LM/D); "
          "a check of the network at initialisation, not of training)", 1.0, 0.2,
          lambda r: _boundary_slope(r, "init_deviation", INIT_DEVIATION_MAX, "up", ("D", "L", "M"),
                                    lambda k: math.sqrt(k["L"] * k["M"] / k["D"]), "sqrt(LM/D)"),
          ("tied_units",), ("init_deviation", "alpha", ("L", "M"))),
    Claim("rate_alpha", "alpha-phase",
          "general model: in the lazy regime the error to the limit grows like alpha (alpha/sqrt(LM))", 1.0, 0.2,
          _rate_alpha, ("training_off", "lr_inverse_alpha"), ("err_out", "alpha", ("L", "M")), uses_reference=True,
          slope=("err_out", "alpha")),
    Claim("split_invariance", "depth-width", "at fixed L*M the error is nearly the same for every split (max/min)",
          1.0, 0.5, _split_invariance, ("training_off", "tied_units", "reference_other_problem"),
          ("err_out", "L*M", ("L",)), uses_reference=True),
    Claim("rate_LM", "depth-width", "error ~ (LM)^-1/2 where the fluctuation dominates", -0.5, 0.15,
          lambda r: m.rate(r, "err_out", "L*M", -0.5, 0.15, track=True),
          ("training_off", "tied_units", "reference_other_problem"), ("err_out", "L*M", ("L",)), uses_reference=True),
    Claim("rate_L", "rates-L", "error ~ L^-1 where the 1/L term dominates (large M)", -1.0, 0.15,
          lambda r: m.rate(r, "err_out", "L", -1.0, 0.15, track=True),
          ("training_off", "tied_units", "reference_other_problem"), ("err_out", "L", ("M",)), uses_reference=True,
          slope=("err_out", "L")),
    Claim("rate_M", "rates-M", "error ~ M^-1/2 at fixed L (the alpha/sqrt(LM) fluctuation)", -0.5, 0.15,
          lambda r: m.rate(r, "err_out", "M", -0.5, 0.15, track=True),
          ("training_off", "reference_other_problem"), ("err_out", "M", ("L",)), uses_reference=True,
          slope=("err_out", "M")),
    Claim("feature_update_flat_in_D", "D-scaling", "feature_update is flat in D (mlu scale)", 0.0, 0.15,
          lambda r: m.rate(r, "feature_update", "D", 0.0, 0.15), ("plain_scale",), ("feature_update", "D", ("L", "M")),
          slope=("feature_update", "D")),
    Claim("init_deviation_sqrt_D", "D-scaling", "init_deviation ~ sqrt(D/(LM)): slope 1/2 in D", 0.5, 0.1,
          lambda r: m.rate(r, "init_deviation", "D", 0.5, 0.1), ("plain_scale",), ("init_deviation", "D", ("L", "M")),
          slope=("init_deviation", "D")),
    Claim("plain_boundary_sqrt_D", "plain-scale",
          "plain scale alpha/(LM): the feature-learning boundary moves like sqrt(D) (slope in D)", 0.5, 0.15,
          lambda r: _boundary_slope(r, "feature_update_rel", FEATURE_UPDATE_REL_MIN, "down", ("D",),
                                    lambda k: k["D"], "D"),
          ("mlu_scale",), ("feature_update_rel", "alpha", ("D",))),
)
CLAIMS_BY_NAME: dict[str, Claim] = {c.name: c for c in CLAIMS}


def runs_needed(presets: list[str]) -> dict[tuple[str, str], bool]:
    """(preset, variant) -> whether that run needs its reference: the presets as specified and
    every control their claims name."""
    out: dict[tuple[str, str], bool] = {}
    for c in CLAIMS:
        if c.preset in presets:
            for variant in (BASE, *c.controls):
                out[(c.preset, variant)] = out.get((c.preset, variant), False) or c.uses_reference
    return out


@dataclass(frozen=True)
class ClaimResult(JsonResult):
    """A `resphase reproduce --json` row; `to_dict()` is JSON-safe (an untrained network's
    infinite tracking ratio is None)."""

    claim: str
    preset: str
    statement: str
    predicted: float
    tolerance: float
    measured: float | None
    ci: tuple[float, float] | None
    verdict: str
    detail: str
    conditions: list[dict[str, Any]]
    controls: list[dict[str, Any]]
    figure: dict[str, Any]


def _ci(ci: tuple[float, float] | None) -> tuple[float, float] | None:
    """An interval with both ends finite, else None."""
    return None if ci is None or any(finite_or_none(v) is None for v in ci) else ci


def evaluate_claim(claim: Claim, runs: Mapping[tuple[str, str], Rows]) -> ClaimResult:
    """The claim on its preset's rows, with each of its controls whose rows are in `runs`
    (a control not run reads "not run" and keeps the claim from holding)."""
    meas = claim.measure(runs[(claim.preset, BASE)])
    v = judge(claim, meas)
    controls = []
    for name in claim.controls:
        variant = VARIANTS[name]
        doc: dict[str, Any] = {"name": name, "settings": variant.overrides, "rules_out": variant.rules_out}
        if (claim.preset, name) not in runs:
            controls.append({**doc, "measured": None, "ci": None, "verdict": "not run", "detail": ""})
            continue
        cm = claim.measure(runs[(claim.preset, name)])
        controls.append({**doc, "measured": finite_or_none(cm.measured), "ci": _ci(cm.ci), "verdict": judge(claim, cm),
                         "detail": cm.detail, "conditions": [c.to_dict() for c in cm.conditions]})
    if v == HOLDS and any(c["verdict"] != FAILS for c in controls):
        v = INCONCLUSIVE  # the measurement cannot tell this physics from a wrong one (or was not checked)
    metric, x, group = claim.figure
    return ClaimResult(claim.name, claim.preset, claim.statement, claim.predicted, claim.tolerance,
                       finite_or_none(meas.measured), _ci(meas.ci), v, meas.detail,
                       [c.to_dict() for c in meas.conditions], controls,
                       {"metric": metric, "x": x, "group": list(group), "fixed": dict(claim.fixed)})


def evaluate_claims(runs: Mapping[tuple[str, str], Rows]) -> list[ClaimResult]:
    """Every claim whose preset was run as specified."""
    return [evaluate_claim(c, runs) for c in CLAIMS if (c.preset, BASE) in runs]
