"""Adaptive refinement (docs/api.md, Refinement): the decision logic, the spec's checks, the loop
driven by the database through the real worker code, and its survival of a killed worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.queue import TaskQueue
from backend.settings import Settings
from backend.store import Database
from backend.store.refinements import refine_once
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
    assert plain["refinement"] is None


def compute_queued(settings: Settings, client: TestClient, sweep_id: int) -> int:
    """Run every queued point of the sweep through the real worker code, in process."""
    ctx = WorkerContext.create(settings, "cpu")
    page = client.get(f"/api/v1/sweeps/{sweep_id}/points", params={"status": "queued", "limit": 1000}).json()
    run_batch(ctx, [p["id"] for p in page["items"]])
    ctx.db.dispose()
    return len(page["items"])


def test_example_converges_with_fewer_points_than_a_uniform_grid(client: TestClient, settings: Settings,
                                                                 db: Database) -> None:
    sweep_id = client.post("/api/v1/sweeps", json=EXAMPLE).json()["id"]
    queue = TaskQueue(settings)
    for _ in range(30):
        compute_queued(settings, client, sweep_id)
        if refine_once(db, queue, settings) == 0:
            break
    s = client.get(f"/api/v1/sweeps/{sweep_id}").json()
    ref = s["refinement"]
    print(json.dumps(ref, indent=1))
    assert ref["state"] == "converged" and s["state"] == "finished", ref
    assert all(line["converged"] and line["width_rel"] <= 0.05 for line in ref["lines"])
    refined, uniform = s["n_points"], ref["uniform_points"]
    print(f"points: refined {refined} (initial 10 + {ref['points_added']}), uniform grid {uniform}")
    assert refined == 10 + ref["points_added"] and refined < uniform
