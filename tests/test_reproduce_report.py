"""The report of `resphase reproduce` says what made it, at its top: the exact command, the resphase
and torch versions, the device, the date, the command-line options and the run settings of the
presets. Quick: no preset is computed (the full run is tests/test_claims.py, marked slow)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from backend.analysis.report import build_report
from backend.cli import build_parser
from backend.commands.reproduce import provenance, specs_for
from backend.presets import PRESETS
from tests.conftest import REPO


def _top(report: str) -> str:
    """The report before its verdict table, as text."""
    head = report[:report.index("<h2>Verdicts</h2>")]
    return re.sub(r"<[^>]+>", " ", head).replace("&quot;", '"')


def test_the_report_starts_with_what_made_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    argv = ["resphase", "reproduce", "--quick", "--presets", "rates-M", "--device", "cpu",
            "--out", str(tmp_path / "r.html")]
    monkeypatch.setattr(sys, "argv", argv)
    args = build_parser().parse_args(argv[1:])
    specs = specs_for(["rates-M"], "quick", controls=True)
    meta = provenance(args, "quick", specs, elapsed_s=2.0)
    top = _top(build_report({}, [], "resphase reproduce (quick)", meta))
    for fact in ("resphase reproduce --quick --presets rates-M --device cpu --out", f"torch {torch.__version__}",
                 "device cpu", "size quick", "where it ran this process", "elapsed (s) 2.0"):
        assert " ".join(fact.split()) in " ".join(top.split()), (fact, top[:800])
    assert re.search(r"resphase\s+\d+\.\d+", top)
    assert abs(datetime.fromisoformat(meta["date"]) - datetime.now(UTC)).total_seconds() < 60
    assert meta["options"]["presets"] == "rates-M" and meta["options"]["quick"] is True
    assert '"presets": "rates-M"' in top  # the command-line options, shown
    # the run settings of the preset as specified, shown before any control's
    assert meta["preset_settings"] == {"rates-M": PRESETS["rates-M"].quick.settings.model_dump(mode="json")}
    assert top.index("Run settings of each preset") < top.index('"steps": 10') < top.index("negative controls")
    assert len(meta["settings"]) > 1  # every run, controls included


def test_reproduce_writes_the_provenance_into_its_report(tmp_path: Path) -> None:
    """End to end through the command, with no preset to compute (`--presets ,`)."""
    out = tmp_path / "r.html"
    argv = [sys.executable, "-m", "backend.cli", "reproduce", "--quick", "--presets", ",", "--device", "cpu",
            "--out", str(out)]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    top = _top(out.read_text())
    assert "reproduce --quick --presets , --device cpu --out" in top and str(out) in top
    assert f"torch {torch.__version__}" in " ".join(top.split()) and "device cpu" in " ".join(top.split())
    assert top.count("What made this report") == 1
