"""`resphase reproduce --quick` end to end: every claim gets a row and, at these sizes, holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.analysis.claims import ClaimResult, verdict

pytestmark = pytest.mark.slow

CLAIMS = {"feature_learning_at_alpha_1", "lazy_feature_update_slope", "noise_boundary", "split_invariance",
          "rate_LM", "rate_L", "rate_M", "feature_update_flat_in_D", "init_deviation_sqrt_D", "plain_boundary_sqrt_D"}


def test_quick_reproduce_in_process(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    env = {**os.environ, "RESPHASE_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "backend.cli", "reproduce", "--quick", "--in-process", "--json",
                           "--out", str(report), "--url", "http://127.0.0.1:9"],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ClaimResult(**{**r, "ci": tuple(r["ci"]) if r["ci"] else None}) for r in json.loads(proc.stdout)]
    assert {r.claim for r in rows} == CLAIMS and len(rows) == len(CLAIMS)
    for r in rows:
        assert r.verdict == "holds", r
    text = report.read_text()
    assert text.count("<tr class=") == len(CLAIMS)
    # offline: Plotly.js is inlined (megabytes), no script is fetched from anywhere
    assert len(text) > 1_000_000 and 'src="http' not in text and text.count("Plotly.newPlot") == 6


def test_verdict_rules() -> None:
    assert verdict(-1.0, -0.9, (-1.0, -0.8), 0.2) == "holds"
    assert verdict(-1.0, -0.5, (-0.6, -0.4), 0.2) == "does not hold"
    assert verdict(-1.0, -0.9, (-3.0, 1.0), 0.2) == "inconclusive"
    assert verdict(-1.0, None, None, 0.2) == "inconclusive"
    assert verdict(1.0, 1.0, None, 0.01) == "holds"


def test_unknown_preset_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "backend.cli", "reproduce", "--presets", "nope", "--in-process"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "unknown preset" in proc.stderr
