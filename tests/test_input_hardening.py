"""Hostile input gets a 4xx naming the problem, never a 5xx (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.settings import Settings

BIG = 2**63


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", [
    f"/api/v1/sweeps/{BIG}", f"/api/v1/sweeps/{BIG}/points", f"/api/v1/sweeps/{BIG}/phase?x=alpha&y=L",
    f"/api/v1/sweeps/{BIG}/fit", f"/api/v1/sweeps/{BIG}/boundaries", f"/api/v1/sweeps/{BIG}/claims",
    f"/api/v1/sweeps/{BIG}/export", f"/api/v1/points/{BIG}", "/api/v1/points/0", "/api/v1/sweeps/-5",
])
def test_ids_out_of_range_are_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text)


@pytest.mark.parametrize("name", ["nul\x00name", "lone \ud800 surrogate"])
def test_names_the_database_cannot_store_are_422(client: TestClient, name: str) -> None:
    body = {"name": name, "grid": {"alpha": [1], "D": [4], "L": [2], "M": [2]}}
    r = client.post("/api/v1/sweeps", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "name" in r.text


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf"])
def test_non_finite_thresholds_are_422(client: TestClient, threshold: str) -> None:
    sid = client.post("/api/v1/sweeps", json={"grid": {"alpha": [1, 2], "D": [4], "L": [2], "M": [2]}}).json()["id"]
    r = client.get(f"/api/v1/sweeps/{sid}/boundaries", params={"threshold": threshold})
    assert r.status_code == 422 and "finite" in r.text, r.text


def test_bounds_are_stated_in_meta(client: TestClient) -> None:
    bounds = client.get("/api/v1/meta").json()["bounds"]
    assert bounds["alpha"] == [1e-6, 1e6] and bounds["lr"] == [1e-9, 1e6]
