"""`resphase run` as a user runs it: a real subprocess, its JSON lines, its errors."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest


def resphase(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESPHASE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "backend.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def test_run_json_lines_feature_update_falls_like_one_over_alpha(tmp_path: Path) -> None:
    proc = resphase("run", "--alpha", "1,2,4,8", "--D", "16", "--L", "64", "--M", "64", "--seeds", "2",
                    "--json", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["config"]["alpha"] for r in rows] == [1.0, 2.0, 4.0, 8.0]
    for r in rows:
        assert set(r) >= {"config", "metrics", "regime", "curves", "timing_s"}
        assert r["config"]["reference"] == {"L": 256, "M": 256, "seeds": 8}
        assert r["config"]["control"] == "none" and r["flags"] == []
        assert r["metrics"]["err_out_floor"]["mean"] > 0
        assert len(r["metrics"]["feature_update"]["values"]) == 2
        assert math.isfinite(r["metrics"]["err_out"]["mean"])
    fu = [r["metrics"]["feature_update"]["mean"] for r in rows]
    # roughly 1/alpha: each doubling of alpha cuts the update to between 0.4x and 0.75x
    for a, b in itertools.pairwise(fu):
        assert 0.4 < b / a < 0.75, fu
    assert rows[0]["regime"] == "feature_learning" and rows[-1]["regime"] == "lazy"


def test_run_table_output_and_no_reference(tmp_path: Path) -> None:
    proc = resphase("run", "--alpha", "1", "--D", "8", "--L", "4,8", "--M", "4", "--seeds", "2",
                    "--no-reference", "--dtype", "float64", cache=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["alpha", "D", "L", "M", "regime"]
    assert len(lines) == 3
    assert not (tmp_path / "references").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--D", "0"], "D must be >= 1"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--alpha", "1,nan"], "finite"),
    (["--residual-scale", "huge"], "invalid choice"),
    (["--D", "5000"], "max_dim"),
    (["--seeds", "65"], "max_seeds"),
    (["--steps", "1001"], "max_steps"),
    (["--device", "cuda:7"], "--device"),
    (["--L", "2.5"], "integers"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    base = {"--alpha": "1", "--D": "4", "--L": "4", "--M": "4"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [x for kv in base.items() for x in kv] + [a for a in args if a.startswith("--") and a not in base]
    proc = resphase("run", *argv, cache=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    err_lines = proc.stderr.strip().splitlines()
    assert len(err_lines) == 1 and needle in err_lines[0], proc.stderr
