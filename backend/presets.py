"""Named sweeps that show the paper's claims, each in a `quick` size (`resphase reproduce --quick`
runs them all with their controls in minutes on 2 CPU cores) and a `full` size (for a GPU worker).
POST either spec to /api/v1/sweeps as it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.grid import RunSettings, SweepSpec


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    claims: tuple[str, ...]
    quick: SweepSpec
    full: SweepSpec
    # The recommended view (GET /presets `view`; the page opens a sweep of this preset on it):
    # {"metric", "x", "y", "along"}, x and y raw axes or derived ones ("L*M", "alpha/sqrt(D)").
    view: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description,
                "claims": list(self.claims), "quick": self.quick.model_dump(mode="json"),
                "full": self.full.model_dump(mode="json"), "view": dict(self.view)}


def _view(metric: str, x: str, y: str, along: str) -> dict[str, str]:
    return {"metric": metric, "x": x, "y": y, "along": along}


def _spec(name: str, grid: dict[str, Any], refine: dict[str, Any] | list[dict[str, Any]] | None = None,
          **settings: Any) -> SweepSpec:
    return SweepSpec.model_validate({"name": name, "grid": grid, "settings": settings, "refine": refine})


# The references: large enough that the errors the presets measure stay above FLOOR_FACTOR x the
# reference's own noise floor (16 seeds of 256 x 256 at D = 16: floor 0.0007 in output space, 5x
# below the quick rates-L error at L = 16).
REF = {"L": 256, "M": 256, "seeds": 16}
REF_FULL = {"L": 1024, "M": 1024, "seeds": 16}
# Depth-width varies L up to 128 (quick) and 256 (full): its reference is deeper, so that it stays
# REFERENCE_DEPTH_FACTOR = 4 times deeper than every run (the same L_ref * M_ref, so the same floor).
REF_DEEP = {"L": 512, "M": 128, "seeds": 16}
REF_DEEP_FULL = {"L": 1024, "M": 1024, "seeds": 16}

# The boundary claims are slopes of log(crossing alpha) over the lines, and a crossing is known
# only to within the grid alphas around it (backend.analysis.boundaries.Crossing.interval): on the
# quick grids (a factor 2 apart) that alone makes init_deviation_boundary and plain_boundary_sqrt_D
# inconclusive. So the presets that carry them refine the crossing they read, until each line's
# interval is within tol: the noise boundary (init_deviation reaching init_deviation_max) on
# alpha-phase, the feature-learning one (feature_update_rel falling through its minimum) on
# plain-scale. Their controls (variant_spec) refine the same way. A crossing's interval includes its
# spread over the seeds (5-12% of the crossing at 4 seeds, for both boundaries of boundary-refined),
# so a tol below that spread would only spend the budget: tol follows the seeds.
NOISE_REFINE: dict[str, Any] = {"metric": "init_deviation", "threshold": "init_deviation_max"}
FL_REFINE: dict[str, Any] = {"metric": "feature_update_rel", "threshold": "feature_update_rel_min"}

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "alpha-phase", "Regimes along alpha",
        "alpha from 1/4 to 64 at fixed D for several L*M: feature learning at alpha ~ 1, the lazy ODE regime "
        "(feature_update ~ 1/alpha, laziness flat), then noise-dominated once alpha >~ sqrt(LM/D).",
        ("feature_learning_boundary", "lazy_feature_update_slope", "feature_update_flat_in_L",
         "feature_update_flat_in_M", "init_deviation_boundary", "rate_alpha"),
        _spec("alpha-phase (quick)", {"alpha": {"geom": [0.25, 64, 9]}, "D": [16], "L": [16, 64], "M": [16, 64]},
              refine=NOISE_REFINE | {"tol": 0.2, "max_points": 36}, seeds=16, reference=REF),
        _spec("alpha-phase", {"alpha": {"geom": [0.125, 512, 13]}, "D": [16, 64], "L": [64, 256],
                              "M": [64, 256, 1024]}, refine=NOISE_REFINE | {"tol": 0.1, "max_points": 150},
              seeds=8, reference=REF_FULL),
        _view("feature_update", "alpha", "L", "alpha"),
    ),
    Preset(
        "depth-width", "Depth acts as width",
        "Every split of a few fixed L*M into depth and width, with a reference: the error to the limit "
        "depends on L*M, not on the split, once L is large enough for the 1/L term to be small.",
        ("split_invariance", "rate_LM"),
        _spec("depth-width (quick)", {"alpha": [1], "D": [16], "L": [8, 32, 128], "M": [8, 32, 128]},
              seeds=4, reference=REF_DEEP),
        _spec("depth-width", {"alpha": [1], "D": [16], "L": [16, 32, 64, 128, 256],
                              "M": [16, 32, 64, 128, 256, 512]}, seeds=8, reference=REF_DEEP_FULL),
        _view("err_out", "L", "M", "L"),
    ),
    Preset(
        "rates-L", "Error along depth",
        "Error to the limit along L at large M: slope about -1 where the 1/L discretisation term dominates "
        "(the width M must be large enough that the alpha/sqrt(LM) fluctuation stays below it).",
        ("rate_L",),
        _spec("rates-L (quick)", {"alpha": [1], "D": [16], "L": [2, 4, 8, 16], "M": [4096]},
              seeds=8, reference=REF),
        _spec("rates-L", {"alpha": [1], "D": [16], "L": {"geom": [2, 64, 6]}, "M": [4096]},
              seeds=8, reference=REF_FULL),
        _view("err_out", "L", "alpha", "L"),
    ),
    Preset(
        "rates-M", "Error along width",
        "Error to the limit along M at fixed L: slope about -1/2 in M (the alpha/sqrt(LM) fluctuation).",
        ("rate_M",),
        _spec("rates-M (quick)", {"alpha": [1], "D": [16], "L": [64], "M": {"geom": [2, 32, 5]}},
              seeds=6, reference=REF),
        _spec("rates-M", {"alpha": [1], "D": [16], "L": [256], "M": {"geom": [1, 256, 9]}},
              seeds=16, reference=REF_FULL),
        _view("err_out", "M", "alpha", "M"),
    ),
    Preset(
        "D-scaling", "Embedding dimension",
        "Error and feature_update against D at fixed L, M: the fluctuation grows like sqrt(D/(LM)) while "
        "feature_update stays Theta(1) at the mlu scale.",
        ("feature_update_flat_in_D", "init_deviation_sqrt_D"),
        _spec("D-scaling (quick)", {"alpha": [1], "D": {"geom": [16, 256, 5]}, "L": [32], "M": [32]}, seeds=4),
        _spec("D-scaling", {"alpha": [1], "D": {"geom": [16, 2048, 8]}, "L": [128], "M": [128]}, seeds=8),
        _view("init_deviation", "D", "alpha", "D"),
    ),
    Preset(
        "plain-scale", "The plain residual scale",
        "s = alpha/(LM) over (D, alpha): the same diagram with alpha replaced by alpha/sqrt(D), so the "
        "feature-learning boundary moves to alpha ~ sqrt(D).",
        ("plain_boundary_sqrt_D",),
        _spec("plain-scale (quick)", {"alpha": {"geom": [1, 128, 8]}, "D": [16, 64, 256], "L": [64], "M": [64]},
              refine=FL_REFINE | {"tol": 0.1, "max_points": 36}, seeds=4, residual_scale="plain"),
        _spec("plain-scale", {"alpha": {"geom": [0.5, 2048, 13]}, "D": [16, 64, 256, 1024], "L": [256],
                              "M": [256]}, refine=FL_REFINE | {"tol": 0.05, "max_points": 120},
              seeds=8, residual_scale="plain"),
        _view("feature_update", "alpha", "D", "alpha"),
    ),
    Preset(
        "boundary-refined", "Both boundaries along alpha, found by refinement",
        "A coarse alpha grid for several L*M; the server then adds alphas where feature_update falls "
        "through its feature-learning threshold and where init_deviation reaches its noise threshold, "
        "round by round, until every line's two crossing intervals are narrower than tol: the "
        "feature-learning boundary sits at alpha ~ 2 whatever L and M, the noise boundary moves out "
        "like sqrt(LM/D) (no claim is evaluated on it: alpha-phase and plain-scale carry the "
        "boundary claims).",
        (),
        _spec("boundary-refined (quick)", {"alpha": [0.25, 1, 4, 16, 64], "D": [16], "L": [8, 32], "M": [16]},
              refine=[{"metric": "feature_update", "threshold": 0.25, "tol": 0.15, "max_points": 60},
                      NOISE_REFINE | {"tol": 0.15, "max_points": 60}], seeds=4),
        _spec("boundary-refined", {"alpha": {"geom": [0.125, 64, 5]}, "D": [16], "L": [16, 64, 256],
                                   "M": [16, 64, 256]},
              refine=[{"metric": "feature_update", "threshold": 0.25, "tol": 0.08, "max_points": 400},
                      NOISE_REFINE | {"tol": 0.08, "max_points": 400}], seeds=8),
        _view("feature_update", "alpha", "L", "alpha"),
    ),
]}


# Depth-width written as iso-L*M rays: the splits of the products that the grid presets split the
# most ways (1024 in quick, 4096 and 8192 in full), exactly those points of the grid spec, with its
# settings (so the same hashes: submitting one after the other reuses the points). Not in PRESETS:
# the page's form loads presets and edits Cartesian grids only.
DEPTH_WIDTH_RAYS: dict[str, SweepSpec] = {
    "quick": _spec("depth-width rays (quick)", {"alpha": [1], "D": [16], "LM": [1024], "L": [8, 32, 128]},
                   seeds=4, reference=REF_DEEP),
    "full": _spec("depth-width rays", {"alpha": [1], "D": [16], "LM": [4096, 8192], "L": {"geom": [16, 256, 5]}},
                  seeds=8, reference=REF_DEEP_FULL),
}


def variant_spec(preset: Preset, size: str, variant: str, overrides: dict[str, Any],
                 with_reference: bool) -> SweepSpec:
    """The preset's `size` ("quick" or "full") spec with settings overrides (a negative control of
    backend/analysis/claims.py, or none), without its reference when nothing reads it."""
    spec = preset.quick if size == "quick" else preset.full
    settings = spec.settings.model_dump()
    settings.update(overrides)
    if not with_reference:
        settings["reference"] = None
    name = spec.name if variant == "none" else f"{spec.name} [control: {variant}]"
    return spec.model_copy(update={"name": name, "settings": RunSettings.model_validate(settings)})


def presets_of(spec: SweepSpec) -> list[tuple[str, str]]:
    """(preset, size) of every preset whose quick or full spec this sweep runs as specified (same
    grid, same settings; the name does not matter)."""
    want = (spec.grid.model_dump(mode="json"), spec.settings.model_dump(mode="json"))
    out = []
    for preset in PRESETS.values():
        for size, candidate in (("quick", preset.quick), ("full", preset.full)):
            if (candidate.grid.model_dump(mode="json"), candidate.settings.model_dump(mode="json")) == want:
                out.append((preset.name, size))
    return out
