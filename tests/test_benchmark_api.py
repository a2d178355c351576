"""benchmarks/api.py: a small run on both backends reports every operation with well-formed
timings and leaves nothing behind. No speed thresholds here: timings depend on the machine."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from benchmarks.api_fill import sides_for
from benchmarks.api_timing import percentile
from tests.conftest import PG_ADMIN

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POINTS = 2000
SUBMIT_POINTS = 1000
LIST_SWEEPS = 12
SQUARE_POINTS = 400  # 20 x 20
DB_POINTS = 15_000  # a bulk sweep of 10,000 and one of 5,000


def _positive_finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _bench_databases() -> set[str]:
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'resphase_bench_%'")}


def test_grid_sides_and_percentiles() -> None:
    assert sides_for(100_000) == (100, 100)
    n_alpha, n_l = sides_for(20_000)
    assert n_alpha * n_l * 10 == 20_000 and n_alpha <= n_l
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    assert percentile([5.0], 95) == 5.0


def _check_operations(ops: list[dict[str, Any]], repeats: int) -> None:
    groups = {o["group"] for o in ops}
    assert groups == {"phase", "points", "export", "submit", "load", "list"}
    for o in ops:
        assert o["request"].split(" ", 1)[0] in ("GET", "POST"), o
        for key in ("p50_ms", "p95_ms", "min_ms", "max_ms", "mean_ms"):
            assert _positive_finite(o[key]), (o["name"], key, o[key])
        assert o["min_ms"] <= o["p50_ms"] <= o["p95_ms"] <= o["max_ms"]
    phase = [o for o in ops if o["group"] == "phase"]
    assert {o["agg"] for o in phase} == {"mean", "median"} and len(phase) == 5
    assert all(o["repeats"] == repeats and o["bytes"] > 0 and o["rows"] > 0 for o in phase)
    big = phase[0]
    n_alpha, n_l = sides_for(POINTS)
    assert big["rows"] == n_alpha * n_l  # every cell of the alpha x L slice is computed
    walk = next(o for o in ops if o["name"].startswith("walk"))
    assert walk["rows"] == n_alpha * n_l * 10 and walk["pages"] >= 2
    export = next(o for o in ops if o["group"] == "export")
    assert export["rows"] == POINTS * 4  # one row per point and seed (4 seeds)
    assert _positive_finite(export["rows_per_s"]) and export["bytes"] > 0
    submit = next(o for o in ops if o["group"] == "submit")
    assert submit["points"] == SUBMIT_POINTS and submit["tasks"] >= 1 and submit["repeats"] == 2
    loaded = {(o["kind"], o["agg"]): o for o in ops if o["group"] == "load"}
    assert set(loaded) == {("phase", "mean"), ("phase", "median"), ("cells", "mean"), ("list", "mean"),
                           ("square", "mean"), ("square", "median")}
    for o in loaded.values():  # every client's requests, each a whole body
        assert o["connections"] == 2 and o["repeats"] >= 2 and _positive_finite(o["req_per_s"]) and o["bytes"] > 0
    listed = [o for o in ops if o["group"] == "list"]
    stored = LIST_SWEEPS + 2  # and the two bulk sweeps of --db-points
    assert [o["rows"] for o in listed] == [stored, stored]  # limit 50 and 500, over every sweep stored


def test_small_run_json_is_complete_and_cleans_up() -> None:
    before = _bench_databases()
    cmd = [sys.executable, "-m", "benchmarks.api", "--points", str(POINTS), "--repeats", "3", "--export-repeats", "1",
           "--submit-points", str(SUBMIT_POINTS), "--submit-repeats", "2", "--pg-admin", PG_ADMIN, "--json",
           "--connections", "2", "--load-seconds", "0.5", "--list-sweeps", str(LIST_SWEEPS),
           "--square-points", str(SQUARE_POINTS), "--db-points", str(DB_POINTS)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    assert report["machine"]["cpu_count"] >= 1 and report["date"] and "uvicorn" in report["transport"]
    assert report["options"]["points"] == POINTS and report["options"]["backends"] == ["sqlite", "postgres"]
    assert [r["backend"] for r in report["results"]] == ["sqlite", "postgres"]
    for res in report["results"]:
        fill = res["fill"]
        assert fill["points"] == POINTS and fill["axes"] == {"alpha": 10, "D": 5, "L": 20, "M": 2}
        assert _positive_finite(fill["total_s"]) and _positive_finite(fill["db_fill_s"])
        assert fill["square_points"] == SQUARE_POINTS and fill["square_axes"] == {"alpha": 20, "D": 1, "L": 20, "M": 1}
        assert fill["db_points"] == DB_POINTS
        _check_operations(res["operations"], repeats=3)
    for key, target in (("phase_p95_ms", 300.0), ("submit_s", 3.0)):
        t = report["targets"][key]
        assert t["target"] == target and set(t["backends"]) == {"sqlite", "postgres"}
        for v in t["backends"].values():
            assert _positive_finite(v["value"]) and v["met"] == (v["value"] < target)
    for key, targets in (("load_phase_p95_ms", {"postgres": 150.0, "sqlite": 300.0}),
                         ("load_median_p95_ms", {"postgres": 500.0, "sqlite": 500.0}),
                         ("square_phase_p95_ms", {"postgres": 150.0, "sqlite": 300.0}),
                         ("square_median_p95_ms", {"postgres": 500.0, "sqlite": 500.0}),
                         ("db_phase_p95_ms", {"postgres": 300.0, "sqlite": 300.0}),
                         ("list_p95_ms", {"postgres": 100.0, "sqlite": 100.0})):
        assert set(report["targets"][key]["backends"]) == {"sqlite", "postgres"}
        for backend, v in report["targets"][key]["backends"].items():
            assert v["target"] == targets[backend] and v["met"] == (v["value"] < v["target"])
    assert _bench_databases() == before  # the scratch database is gone
