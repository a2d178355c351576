"""GET /sweeps/{id}/cells (tidy cells for derived axes, incremental with `after`) and the seed
aggregates of slices read from typed columns, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from backend.main import create_app
from backend.settings import Settings
from backend.store.tables import Point, utcnow
from tests.test_api import SMALL, compute_all

GRID = {**SMALL, "grid": {"alpha": [1, 4], "D": [8, 16], "L": [4], "M": [4]}}  # 4 points


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def cells(client: TestClient, sid: int, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1/sweeps/{sid}/cells", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_cells_serve_every_point_with_the_slice_values(client: TestClient, settings: Settings) -> None:
    sid = client.post("/api/v1/sweeps", json=GRID).json()["id"]
    before = cells(client, sid)
    assert before["total"] == 4 and [c["status"] for c in before["cells"]] == ["queued"] * 4
    assert all(c["z"] is None and c["n"] == 0 for c in before["cells"]) and before["cursor"].endswith("Z")
    compute_all(settings, client, sid)
    for agg in ("mean", "median", "max"):
        got = cells(client, sid, metric="laziness", agg=agg)
        assert got["total"] == len(got["cells"]) == 4 and got["agg"] == agg
        for D in (8, 16):  # the same values as the phase slice at each D
            ph = client.get(f"/api/v1/sweeps/{sid}/phase", params={"x": "alpha", "y": "L", "metric": "laziness",
                                                                   "agg": agg, "fixed": f"D:{D},M:4"}).json()
            by_id = {c["point_id"]: c for c in got["cells"] if c["D"] == D}
            for j, pid in enumerate(ph["point_id"][0]):
                assert by_id[pid]["z"] == pytest.approx(ph["z"][0][j]) and by_id[pid]["n"] == ph["n"][0][j] == 2
                assert by_id[pid]["alpha"] == ph["x"][j] and by_id[pid]["status"] == "done"
    median = cells(client, sid, metric="laziness", agg="median", fixed="D:8,alpha:1")
    detail = client.get(f"/api/v1/points/{median['cells'][0]['point_id']}").json()
    assert median["total"] == 1 and detail["config"]["D"] == 8 and detail["config"]["alpha"] == 1
    assert median["cells"][0]["z"] == pytest.approx(sum(detail["metrics"]["laziness"]["values"]) / 2)  # two seeds
    floored = cells(client, sid, metric="err_out")["cells"][0]
    assert "floor" in floored and "near_floor" in floored
    assert "floor" not in got["cells"][0]  # only errors to a reference carry a floor


def test_after_returns_only_the_cells_changed_since(client: TestClient, settings: Settings) -> None:
    sid = client.post("/api/v1/sweeps", json=GRID).json()["id"]
    compute_all(settings, client, sid)
    full = cells(client, sid)
    ids = [c["point_id"] for c in full["cells"]]
    old = utcnow() - timedelta(hours=2)  # every point but the last one changed two hours ago
    with client.app.state.db.session() as s:  # type: ignore[attr-defined]
        s.execute(update(Point).where(Point.id.in_(ids[:-1])).values(queued_at=old, started_at=old, finished_at=old))
    since = (utcnow() - timedelta(hours=1)).isoformat() + "Z"
    poll = cells(client, sid, after=since)
    assert [c["point_id"] for c in poll["cells"]] == ids[-1:] and poll["total"] == 4
    assert poll["cursor"] == full["cursor"]  # the newest change is still the last point's
    again = cells(client, sid, after=poll["cursor"])  # nothing new: the overlap re-sends the newest
    assert [c["point_id"] for c in again["cells"]] == ids[-1:]
    assert len(cells(client, sid, after="0001-01-01T00:00:00+05:00")["cells"]) == 4  # before anything: all


def test_bad_cells_requests(client: TestClient) -> None:
    sid = client.post("/api/v1/sweeps", json=GRID).json()["id"]
    for params in ({"metric": "nope"}, {"agg": "mode"}, {"fixed": "D:9"}, {"fixed": "Q:1"}, {"after": "yesterday"}):
        r = client.get(f"/api/v1/sweeps/{sid}/cells", params=params)
        assert r.status_code == 422, (params, r.text)
    assert client.get("/api/v1/sweeps/999/cells").status_code == 404
