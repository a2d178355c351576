"""The one verdict rule, used by the claims (`resphase reproduce`, GET /claims), GET /fit and the page.

    inconclusive    no finite estimate; fewer than MIN_SEEDS unit seeds behind a bootstrap interval;
                    or an interval wider than 2 tolerances that still meets the band (the data cannot tell)
    does not hold   the whole interval lies outside predicted +- tolerance, or the estimate does
    holds           the point estimate lies inside predicted +- tolerance (and the interval is not too wide)

An interval merely touching the band is not enough: the estimate itself must be in it.
"""

from __future__ import annotations

import math

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS: tuple[str, ...] = (HOLDS, FAILS, INCONCLUSIVE)
MIN_SEEDS = 4  # unit seeds per cell wherever a bootstrap interval is taken
WIDTH_LIMIT = 2.0  # an interval wider than this many tolerances is inconclusive


def verdict(predicted: float, measured: float | None, ci: tuple[float, float] | None, tol: float,
            n_seeds: int | None = None) -> str:
    """The verdict of a measured value against predicted +- tol (module docstring). `n_seeds`: the
    fewest unit seeds behind `ci` (None when no bootstrap is involved)."""
    if measured is None or not math.isfinite(measured):
        return INCONCLUSIVE
    if ci is not None:
        lo, hi = ci
        if n_seeds is not None and n_seeds < MIN_SEEDS:
            return INCONCLUSIVE
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return INCONCLUSIVE
        if hi < predicted - tol or lo > predicted + tol:
            return FAILS
        if hi - lo > WIDTH_LIMIT * tol:
            return INCONCLUSIVE
    return HOLDS if abs(measured - predicted) <= tol else FAILS
