"""The presets' boundary claims read refined crossings: a crossing is known only to within the grid
alphas around it (Crossing.interval), so on the quick grids (alphas a factor 2 apart) the slope
claims cannot tell, and the refinement their presets carry is what makes them hold. Each case runs
the quick preset in process (resphase.local.compute_sweep) twice: as specified, and with its
refinement taken out (the breakage: the verdict must then be inconclusive, not holds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.analysis.claims import CLAIMS_BY_NAME, judge
from backend.analysis.verdict import HOLDS, INCONCLUSIVE
from backend.presets import PRESETS, variant_spec
from resphase.local import compute_sweep


@pytest.mark.parametrize("claim", ["init_deviation_boundary", "plain_boundary_sqrt_D"])
def test_refinement_turns_an_inconclusive_boundary_claim_into_a_verdict(claim: str, tmp_path: Path) -> None:
    c = CLAIMS_BY_NAME[claim]
    spec = variant_spec(PRESETS[c.preset], "quick", "none", {}, with_reference=False)
    assert len(spec.refinements()) == 1, f"{c.preset} should refine the crossing {claim} reads"
    verdicts, widths, counts = {}, {}, {}
    for label, s in (("refined", spec), ("grid", spec.model_copy(update={"refine": None}))):
        outcomes = compute_sweep(s, "cpu", tmp_path)
        rows = [r for o in outcomes for r in o.tidy_rows()]
        meas = c.measure(rows)
        assert meas.ci is not None, meas
        verdicts[label], widths[label], counts[label] = judge(c, meas), meas.ci[1] - meas.ci[0], len(outcomes)
    assert verdicts == {"refined": HOLDS, "grid": INCONCLUSIVE}, (verdicts, widths)
    assert widths["refined"] < c.tolerance < widths["grid"], widths  # the interval, not luck, decides
    assert counts["grid"] < counts["refined"] <= counts["grid"] + spec.refinements()[0].max_points, counts
