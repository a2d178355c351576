"""The claims can fail: every preset is rerun with the physics broken on purpose, and each claim
about what was broken must stop holding. Then `resphase reproduce --quick --json` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.analysis.claims import BASE, CLAIMS, CLAIMS_BY_NAME, VARIANTS, Rows, evaluate_claims, judge
from backend.analysis.verdict import verdict
from backend.commands.reproduce import specs_for
from backend.presets import PRESETS
from resphase.local import compute_sweep

Runs = dict[tuple[str, str], Rows]

# Each deliberate breakage and the claims it must break (the claims about what it breaks).
BREAKAGES: dict[str, tuple[str, ...]] = {
    "training_off": ("rate_alpha", "split_invariance", "rate_LM", "rate_L", "rate_M"),
    "plain_scale": ("feature_learning_boundary", "feature_update_flat_in_D", "init_deviation_sqrt_D"),
    "mlu_scale": ("plain_boundary_sqrt_D",),
    "reference_other_problem": ("split_invariance", "rate_LM", "rate_L", "rate_M"),
    "tied_units": ("init_deviation_boundary", "split_invariance", "rate_LM", "rate_L"),
    "lr_inverse_alpha": ("lazy_feature_update_slope", "rate_alpha"),
    "lr_unscaled": ("feature_update_flat_in_L", "feature_update_flat_in_M"),
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("references")


@pytest.fixture(scope="module")
def runs(cache_dir: Path) -> Runs:
    """Every quick preset and every control, computed here as `resphase reproduce` does (refined
    where the preset refines; references cached in cache_dir)."""
    out: Runs = {}
    for key, spec in specs_for(list(PRESETS), "quick", controls=True).items():
        outcomes = compute_sweep(spec, "cpu", cache_dir)
        out[key] = [row for o in outcomes for row in o.tidy_rows()]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_breaking_the_physics_breaks_the_claims_about_it(runs: Runs, breakage: str) -> None:
    for name in BREAKAGES[breakage]:
        claim = CLAIMS_BY_NAME[name]
        assert judge(claim, claim.measure(runs[(claim.preset, BASE)])) == "holds", name
        broken = claim.measure(runs[(claim.preset, breakage)])
        assert judge(claim, broken) == "does not hold", (name, breakage, broken)


@pytest.mark.slow
def test_every_claim_holds_and_names_controls_that_fail(runs: Runs) -> None:
    results = evaluate_claims(runs)
    assert {r.claim for r in results} == {c.name for c in CLAIMS}
    for r in results:
        assert r.verdict == "holds", r
        assert r.controls and all(c["verdict"] == "does not hold" for c in r.controls), r
    # every breakage the issue names is a control of some claim
    named = {c["name"] for r in results for c in r.controls}
    assert {"training_off", "plain_scale", "reference_other_problem", "tied_units", "lr_inverse_alpha"} <= named


@pytest.mark.slow
def test_a_claim_whose_control_holds_does_not_hold(runs: Runs) -> None:
    """Feed the preset's own rows in as its control: the measurement cannot tell them apart."""
    claim = CLAIMS_BY_NAME["rate_M"]
    fake = {**runs, ("rates-M", "training_off"): runs[("rates-M", BASE)]}
    result = next(r for r in evaluate_claims(fake) if r.claim == "rate_M")
    assert result.verdict == "inconclusive"
    assert [c["verdict"] for c in result.controls if c["name"] == "training_off"] == ["holds"]
    assert claim.controls


@pytest.mark.slow
def test_reproduce_quick_json_and_report(cache_dir: Path, runs: Runs, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    env = {**os.environ, "RESPHASE_CACHE_DIR": str(cache_dir)}
    proc = subprocess.run([sys.executable, "-m", "backend.cli", "reproduce", "--quick", "--json", "--out", str(report)],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    claims = json.loads(proc.stdout)
    expected = {r.claim: r for r in evaluate_claims(runs)}
    assert {c["claim"] for c in claims} == set(expected)
    for c in claims:
        assert {"claim", "statement", "predicted", "tolerance", "measured", "ci", "verdict", "controls"} <= set(c)
        assert c["verdict"] == "holds" and c["controls"]
        for control in c["controls"]:
            assert {"name", "measured", "ci", "verdict"} <= set(control)
            assert control["verdict"] == "does not hold"
        assert c["measured"] == pytest.approx(expected[c["claim"]].measured)  # same engine, same numbers
    text = report.read_text()
    assert "What made this report" in text and "torch" in text and "date" in text and "settings of every run" in text
    assert "noise floor" in text and text.count("<tr class=") == len(CLAIMS)
    assert len(text) > 1_000_000 and 'src="http' not in text  # Plotly inlined: opens offline


def test_verdict_rule() -> None:
    assert verdict(-1.0, -0.9, (-1.0, -0.8), 0.15, n_seeds=4) == "holds"
    # an interval that only touches the band is not enough: the estimate must be inside it
    assert verdict(-1.0, -0.8, (-0.9, -0.7), 0.15, n_seeds=8) == "does not hold"
    assert verdict(-1.0, -0.9, (-1.5, -0.4), 0.15, n_seeds=8) == "inconclusive"  # wider than 2 tol
    assert verdict(-1.0, 1.0, (0.5, 1.5), 0.15, n_seeds=8) == "does not hold"  # wide, but wholly outside
    assert verdict(-1.0, -1.0, (-1.05, -0.95), 0.15, n_seeds=3) == "inconclusive"  # too few seeds
    assert verdict(-1.0, None, None, 0.15) == "inconclusive"
    assert verdict(1.0, 1.3, None, 0.5) == "holds"


def test_every_control_is_a_known_variant_and_every_preset_has_claims() -> None:
    for claim in CLAIMS:
        assert claim.preset in PRESETS and claim.controls
        assert all(v in VARIANTS for v in claim.controls)
        assert claim.name in PRESETS[claim.preset].claims
    for preset in PRESETS.values():
        assert set(preset.claims) <= set(CLAIMS_BY_NAME)
        assert preset.quick.settings.seeds >= 4 and preset.full.settings.seeds >= 4


def test_unknown_preset_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "backend.cli", "reproduce", "--presets", "nope"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "unknown preset" in proc.stderr
