"""Adaptive refinement (docs/api.md, Refinement) through the API: the spec's checks, the loop
driven by the database through the real worker code (placing the same points as in process), and
each round claimed once by racing reapers. The decision logic is tested in
tests/test_refine_decisions.py, the loop's survival of a killed worker in tests/test_refine_faults.py."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.analysis.refinement import LATTICE_PER_TOL
from backend.grid import SweepSpec
from backend.main import create_app
from backend.presets import PRESETS
from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.refinements import _claim_and_add, _compute_round, _Round, refine_once
from backend.store.tables import Point, Refinement, Sweep, sweep_point
from backend.store.transactions import transact
from resphase.local import compute_sweep
from worker.runner import WorkerContext, run_batch

# The example: alpha {0.25 .. 64} x D 16 x L {8, 32} x M 16, feature_update through 0.25.
EXAMPLE: dict[str, Any] = {
    "name": "refine example",
    "grid": {"alpha": [0.25, 1, 4, 16, 64], "D": [16], "L": [8, 32], "M": [16]},
    "settings": {"seeds": 2, "steps": 3, "n_samples": 8},
    "refine": {"metric": "feature_update", "threshold": 0.25, "axis": "alpha", "tol": 0.05, "max_points": 200},
}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def test_submit_stores_the_refinement_and_checks_its_spec(client: TestClient) -> None:
    r = client.post("/api/v1/sweeps", json=EXAMPLE)
    assert r.status_code == 201, r.text
    ref = r.json()["refinement"]
    assert ref["state"] == "waiting" and ref["rounds"] == 0 and ref["points_added"] == 0
    assert ref["threshold"] == 0.25 and ref["metric"] == "feature_update" and ref["tol"] == 0.05
    named = {**EXAMPLE, "refine": {**EXAMPLE["refine"], "threshold": "feature_update_min"}}
    ref = client.post("/api/v1/sweeps/validate", json=named)
    assert ref.status_code == 200, ref.text
    created = client.post("/api/v1/sweeps", json=named).json()["refinement"]
    assert created["threshold_name"] == "feature_update_min" and created["threshold"] > 0
    cases: list[tuple[dict[str, Any], str]] = [
        ({"axis": "D"}, "axis"), ({"max_points": 20_000}, "max_points"), ({"threshold": "nope"}, "threshold"),
        ({"metric": "nope"}, "metric"), ({"tol": 0}, "tol")]
    for bad, field in cases:
        r = client.post("/api/v1/sweeps", json={**EXAMPLE, "refine": {**EXAMPLE["refine"], **bad}})
        assert r.status_code == 422, (bad, r.text)
        assert any(d["loc"][-2:] == ["refine", field] or d["loc"][-1] == field for d in r.json()["detail"]), r.text
    plain = client.post("/api/v1/sweeps", json={k: v for k, v in EXAMPLE.items() if k != "refine"}).json()
    assert plain["refinement"] is None and plain["refinements"] == []


def test_a_list_refines_several_boundaries_each_checked(client: TestClient) -> None:
    one = EXAMPLE["refine"]
    noise = {"metric": "init_deviation", "threshold": "init_deviation_max", "tol": 0.1, "max_points": 50}
    r = client.post("/api/v1/sweeps", json={**EXAMPLE, "refine": [one, noise]})
    assert r.status_code == 201, r.text
    refs = r.json()["refinements"]
    assert [(x["metric"], x["threshold"], x["max_points"]) for x in refs] == [
        ("feature_update", 0.25, 200), ("init_deviation", 0.5, 50)]
    assert r.json()["refinement"] == refs[0] and all(x["state"] == "waiting" for x in refs)
    bad_field = client.post("/api/v1/sweeps", json={**EXAMPLE, "refine": [one, {**noise, "tol": 0}]})
    assert bad_field.status_code == 422
    assert [d["loc"] for d in bad_field.json()["detail"]] == [["body", "refine", 1, "tol"]], bad_field.text
    for bad, words in (([one, one], "twice"), ([one] * 5, "1 to 4"), ([], "1 to 4"),
                       ([one, {**noise, "max_points": 20_000 - 10 - 200 + 1}], "max_points_per_sweep")):
        r = client.post("/api/v1/sweeps", json={**EXAMPLE, "refine": bad})
        assert r.status_code == 422 and words in r.text, r.text


def compute_queued(settings: Settings, client: TestClient, sweep_id: int) -> int:
    """Run every queued point of the sweep through the real worker code, in process."""
    ctx = WorkerContext.create(settings, "cpu")
    page = client.get(f"/api/v1/sweeps/{sweep_id}/points", params={"status": "queued", "limit": 1000}).json()
    run_batch(ctx, [p["id"] for p in page["items"]])
    ctx.db.dispose()
    return len(page["items"])


def refine_to_the_end(settings: Settings, client: TestClient, db: Database, sweep_id: int) -> dict[str, Any]:
    """Compute every queued point in process, then let the reaper's refinement step add the next
    round, until it adds nothing; the sweep's summary at the end."""
    queue = TaskQueue(settings)
    for _ in range(30):
        compute_queued(settings, client, sweep_id)
        if refine_once(db, queue, settings) == 0:
            break
    summary: dict[str, Any] = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    return summary


def test_example_converges_with_fewer_points_than_a_uniform_grid(client: TestClient, settings: Settings,
                                                                 db: Database) -> None:
    sweep_id = client.post("/api/v1/sweeps", json=EXAMPLE).json()["id"]
    s = refine_to_the_end(settings, client, db, sweep_id)
    ref = s["refinement"]
    print(json.dumps(ref, indent=1))
    assert ref["state"] == "converged" and s["state"] == "finished", ref
    assert all(line["converged"] and line["width_rel"] <= 0.05 for line in ref["lines"])
    refined, uniform = s["n_points"], ref["uniform_points"]
    print(f"points: refined {refined} (initial 10 + {ref['points_added']}), uniform grid {uniform}")
    assert refined == 10 + ref["points_added"] and refined < uniform
    _assert_accounted(db, sweep_id)
    # The same spec computed in process (resphase.run, reproduce) places exactly the same points:
    # one decision (next_round) on the same cells, the bootstrap seeded.
    rows = client.get(f"/api/v1/sweeps/{sweep_id}/export", params={"format": "json"}).json()
    on_server = {(r["alpha"], r["L"]) for r in rows}
    in_process = {(o.point.alpha, o.point.L) for o in compute_sweep(SweepSpec.model_validate(EXAMPLE), "cpu")}
    assert_same_placement(in_process, on_server, EXAMPLE["refine"]["tol"])
    assert len(on_server) == refined


def assert_same_placement(a: set[tuple[float, int]], b: set[tuple[float, int]], tol: float) -> None:
    """The same points per line, alpha for alpha: equal, or (a crossing moved at float32 rounding
    level across a lattice boundary, rare) one lattice step apart (backend.analysis.refinement)."""
    step = math.exp(tol / LATTICE_PER_TOL)
    for line in {ell for _, ell in a | b}:
        xs, ys = sorted(x for x, ell in a if ell == line), sorted(y for y, ell in b if ell == line)
        assert len(xs) == len(ys), (line, xs, ys)
        assert all(x == y or max(x, y) / min(x, y) <= step * (1 + 1e-9) for x, y in zip(xs, ys, strict=True)), (xs, ys)


# The loop's claim: two reapers computing the same round add it once.

def test_a_round_is_claimed_once(client: TestClient, settings: Settings, db: Database) -> None:
    sweep_id = client.post("/api/v1/sweeps", json=EXAMPLE).json()["id"]
    compute_queued(settings, client, sweep_id)
    # every initial point is done, but the refinement is still to decide: not finished
    waiting = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    assert waiting["progress"] == 1.0 and waiting["state"] == "running" and waiting["remaining_s"] is None
    with db.read_session() as s:
        first, second = _compute_round(s, sweep_id), _compute_round(s, sweep_id)
    assert first is not None and second is not None and first.points

    def claim(rnd: _Round) -> list[list[int]] | None:
        return transact(db, lambda s: _claim_and_add(s, sweep_id, rnd, 60.0))

    batches = [claim(first), claim(second)]
    assert batches[0] and batches[1] is None  # the second reaper's claim matched no row
    _assert_accounted(db, sweep_id, expect_rounds=1)


def test_racing_reapers_add_each_round_once(client: TestClient, settings: Settings, db: Database) -> None:
    """Four threads run refine_once at the same moment, round after round (on PostgreSQL they
    block on the refinement row's lock; on SQLite on the write lock): no point is added twice."""
    sweep_id = client.post("/api/v1/sweeps", json=EXAMPLE).json()["id"]
    queue = TaskQueue(settings)
    for _ in range(10):
        compute_queued(settings, client, sweep_id)
        barrier = threading.Barrier(4)

        def reaper(barrier: threading.Barrier = barrier) -> int:
            barrier.wait()
            return refine_once(db, queue, settings)

        with ThreadPoolExecutor(4) as pool:
            added = [f.result() for f in [pool.submit(reaper) for _ in range(4)]]
        assert sum(1 for n in added if n) <= 1, added  # one thread added the round, or none
        _assert_accounted(db, sweep_id)
        if not any(added):
            break
    assert client.get(f"/api/v1/sweeps/{sweep_id}").json()["refinement"]["state"] == "converged"


def _assert_accounted(db: Database, sweep_id: int, expect_rounds: int | None = None) -> None:
    """Every linked point is distinct (content hash), counted in n_points, and the refinements'
    points_added are together what was linked beyond the initial 10."""
    with db.read_session() as s:
        hashes = list(s.scalars(select(Point.content_hash).join(sweep_point, sweep_point.c.point_id == Point.id)
                                .where(sweep_point.c.sweep_id == sweep_id)))
        sweep, ref = s.get(Sweep, sweep_id), s.get(Refinement, (sweep_id, 0))
        added = sum(s.scalars(select(Refinement.points_added).where(Refinement.sweep_id == sweep_id)))
        assert sweep is not None and ref is not None
        assert len(hashes) == len(set(hashes)) == sweep.n_points == 10 + added
        alphas = set(s.scalars(select(Point.alpha).join(sweep_point, sweep_point.c.point_id == Point.id)
                               .where(sweep_point.c.sweep_id == sweep_id)))
        assert alphas == set(sweep.axes["alpha"])
        if expect_rounds is not None:
            assert ref.rounds == expect_rounds



def test_the_refinement_preset_converges_with_its_own_settings(client: TestClient, settings: Settings,
                                                               db: Database) -> None:
    """The preset that shows refinement (default training settings, 4 seeds) ends with both its
    boundaries (feature learning, noise) converged on every line, with fewer points than a
    uniform alpha grid of its resolution; the same spec in process places the same points."""
    preset = PRESETS["boundary-refined"].quick
    sweep_id = client.post("/api/v1/sweeps", json=preset.model_dump(mode="json")).json()["id"]
    s = refine_to_the_end(settings, client, db, sweep_id)
    refs = s["refinements"]
    assert [r["metric"] for r in refs] == ["feature_update", "init_deviation"] and s["refinement"] == refs[0]
    for ref in refs:
        assert ref["state"] == "converged" and ref["rounds"] >= 1, ref
        assert len(ref["lines"]) == 2 and all(line["converged"] and line["width_rel"] <= ref["tol"]
                                              for line in ref["lines"]), ref
    noise = {line["L"]: line["crossing"] for line in refs[1]["lines"]}
    assert noise[32] / noise[8] == pytest.approx(2.0, rel=0.1)  # alpha ~ sqrt(LM/D): L 4x -> 2x
    assert s["n_points"] == 10 + sum(r["points_added"] for r in refs) < refs[0]["uniform_points"]
    _assert_accounted(db, sweep_id)
    print(f"boundary-refined (quick): {s['n_points']} points, added {[r['points_added'] for r in refs]}, "
          f"rounds {[r['rounds'] for r in refs]}, uniform {refs[0]['uniform_points']}")
    rows = client.get(f"/api/v1/sweeps/{sweep_id}/export", params={"format": "json"}).json()
    in_process = {(o.point.alpha, o.point.L) for o in compute_sweep(preset, "cpu")}
    assert_same_placement(in_process, {(r["alpha"], r["L"]) for r in rows}, min(r["tol"] for r in refs))


def test_a_threshold_formula_is_evaluated_per_line(client: TestClient, settings: Settings, db: Database) -> None:
    """A theory threshold: a formula in D, L, M gives each line its own threshold. "4/(L+8)" is
    the example's 0.25 on the L = 8 line and 0.1 on the L = 32 line; each line's crossing is where
    its own threshold is crossed, the same points in process; a formula of alpha (the refined
    axis), an unknown name or bad syntax is a 422."""
    spec = {**EXAMPLE, "refine": {**EXAMPLE["refine"], "threshold": "4/(L+8)", "max_points": 40}}
    created = client.post("/api/v1/sweeps", json=spec).json()
    ref = created["refinement"]
    assert ref["threshold"] is None and ref["threshold_formula"] == "4/(L+8)" and ref["threshold_name"] is None
    s = refine_to_the_end(settings, client, db, created["id"])
    lines = {line["L"]: line for line in s["refinement"]["lines"]}
    assert {k: v["threshold"] for k, v in lines.items()} == {8: 0.25, 32: 0.1}
    assert lines[8]["converged"] and s["refinement"]["state"] in ("converged", "budget_spent")
    constant = client.post("/api/v1/sweeps", json={**EXAMPLE, "name": "constant"}).json()["id"]
    same = refine_to_the_end(settings, client, db, constant)["refinement"]["lines"]
    by_l = {line["L"]: line["crossing"] for line in same}
    assert lines[8]["crossing"] == pytest.approx(by_l[8])  # the same threshold on L = 8
    assert lines[32]["crossing"] > 1.5 * by_l[32]  # feature_update falls with alpha: a lower threshold, later
    rows = client.get(f"/api/v1/sweeps/{created['id']}/export", params={"format": "json"}).json()
    local = compute_sweep(SweepSpec.model_validate(spec), "cpu")
    assert_same_placement({(o.point.alpha, o.point.L) for o in local}, {(r["alpha"], r["L"]) for r in rows},
                          spec["refine"]["tol"])
    for bad in ("alpha/4", "0.25*K", "0.25*"):
        r = client.post("/api/v1/sweeps", json={**EXAMPLE, "refine": {**EXAMPLE["refine"], "threshold": bad}})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "refine", "threshold"], r.text
        assert "formula in D, L, M" in r.text
