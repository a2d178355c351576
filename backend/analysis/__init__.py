"""Analysis of sweep results, free of torch and the store: numpy and scipy only.

- `cells`: the one layout of per-seed values by cell, their seed statistics, aggregates and grouping.
- `expressions` (parser: `expression_parser`): a small safe expression language for theory overlays
  (never Python's eval).
- `selection`: the choice of cells for a fit and the bootstrap over unit seeds, shared by the fits.
- `fits` (power laws) and `models` (multi-term error models): rate fits with bootstrap CIs
  (docs/science.md section 4); `rates`: the rate fits the claims and GET /fit share.
- `boundaries`: where a metric crosses a threshold along alpha, with bootstrap CIs (regime boundaries).
"""

from backend.analysis.boundaries import Crossing, boundary_curve, find_crossing
from backend.analysis.expressions import Expression, ExpressionError, evaluate, parse
from backend.analysis.fits import MODELS, FitError, ModelFit, PowerLawFit, fit_model, fit_power_law

__all__ = [
    "MODELS",
    "Crossing",
    "Expression",
    "ExpressionError",
    "FitError",
    "ModelFit",
    "PowerLawFit",
    "boundary_curve",
    "evaluate",
    "find_crossing",
    "fit_model",
    "fit_power_law",
    "parse",
]
