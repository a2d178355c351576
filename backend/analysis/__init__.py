"""Analysis of sweep results, free of torch and the store: numpy and scipy only.

- `expressions`: a small safe expression language for theory overlays (never Python's eval).
- `fits`: power-law and multi-term rate fits with bootstrap CIs over unit seeds (docs/science.md section 4).
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
