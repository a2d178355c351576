"""The REST API against SQLite and PostgreSQL: sweeps, limits, auth, slices, exports.

Points are computed by the real worker code (worker.runner.run_batch) in this process, so these
tests need no worker process; tests/test_workers.py runs real ones.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from backend.main import create_app
from backend.settings import Settings
from worker.runner import WorkerContext, run_batch

SMALL: dict[str, Any] = {"name": "small", "grid": {"alpha": [1, 4], "D": [8], "L": [4, 8], "M": [4]},
         "settings": {"seeds": 2, "steps": 3}}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def compute_all(settings: Settings, client: TestClient, sweep_id: int) -> None:
    """Run every queued point of the sweep through the real worker code, in process."""
    ctx = WorkerContext.create(settings, "cpu")
    page = client.get(f"/api/v1/sweeps/{sweep_id}/points", params={"status": "queued", "limit": 1000}).json()
    run_batch(ctx, [p["id"] for p in page["items"]])
    ctx.db.dispose()


def post(client: TestClient, body: dict[str, Any], **kw: Any) -> Any:
    return client.post("/api/v1/sweeps", json=body, **kw)


def test_create_compute_and_read_back(client: TestClient, settings: Settings) -> None:
    r = post(client, SMALL)
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["n_points"] == 4 and s["counts"]["queued"] == 4 and s["state"] == "running"
    assert s["estimated_flops"] > 0
    compute_all(settings, client, s["id"])
    s = client.get(f"/api/v1/sweeps/{s['id']}").json()
    assert s["counts"]["done"] == 4 and s["progress"] == 1.0 and s["state"] == "finished"
    # the same grid again: everything is reused, nothing is queued
    again = post(client, SMALL).json()
    assert again["n_reused"] == 4 and again["counts"]["done"] == 4 and again["state"] == "finished"
    assert [x["id"] for x in client.get("/api/v1/sweeps").json()] == [again["id"], s["id"]]


def test_phase_slice_points_and_detail(client: TestClient, settings: Settings) -> None:
    sid = post(client, SMALL).json()["id"]
    before = client.get(f"/api/v1/sweeps/{sid}/phase", params={"x": "alpha", "y": "L", "fixed": "D:8,M:4"}).json()
    assert before["status"] == [["queued", "queued"], ["queued", "queued"]]
    assert before["z"] == [[None, None], [None, None]]
    compute_all(settings, client, sid)
    ph = client.get(f"/api/v1/sweeps/{sid}/phase",
                    params={"x": "alpha", "y": "L", "metric": "feature_update", "fixed": "D:8,M:4"}).json()
    assert ph["x"] == [1.0, 4.0] and ph["y"] == [4.0, 8.0] and ph["fixed"] == {"D": 8.0, "M": 4.0}
    assert all(v is not None and v > 0 for row in ph["z"] for v in row)
    assert ph["n"] == [[2, 2], [2, 2]]
    detail = client.get(f"/api/v1/points/{ph['point_id'][0][0]}").json()
    assert detail["metrics"]["feature_update"]["mean"] == pytest.approx(ph["z"][0][0])
    assert len(detail["curves"]["loss"]) == 4 and detail["status"] == "done"
    assert detail["config"]["alpha"] == 1.0 and detail["config"]["L"] == 4
    med = client.get(f"/api/v1/sweeps/{sid}/phase", params={"agg": "max", "fixed": "D:8,M:4"}).json()
    assert med["z"][0][0] == pytest.approx(max(detail["metrics"]["feature_update"]["values"]))
    page1 = client.get(f"/api/v1/sweeps/{sid}/points", params={"limit": 3}).json()
    page2 = client.get(f"/api/v1/sweeps/{sid}/points", params={"limit": 3, "cursor": page1["next_cursor"]}).json()
    assert len(page1["items"]) == 3 and len(page2["items"]) == 1 and page2["next_cursor"] is None
    assert {p["id"] for p in page1["items"]}.isdisjoint({p["id"] for p in page2["items"]})


def test_exports(client: TestClient, settings: Settings) -> None:
    sid = post(client, SMALL).json()["id"]
    compute_all(settings, client, sid)
    text = client.get(f"/api/v1/sweeps/{sid}/export", params={"format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8  # 4 points x 2 seeds
    assert {"alpha", "D", "L", "M", "unit_seed", "feature_update", "steps", "lr", "ref_L"} <= set(rows[0])
    as_json = client.get(f"/api/v1/sweeps/{sid}/export", params={"format": "json"}).json()
    assert len(as_json) == 8 and float(rows[0]["feature_update"]) == pytest.approx(as_json[0]["feature_update"])
    table = pq.read_table(io.BytesIO(client.get(f"/api/v1/sweeps/{sid}/export?format=parquet").content))
    assert table.num_rows == 8 and "err_out" in table.column_names


def test_cancel_retry_delete(client: TestClient) -> None:
    sid = post(client, SMALL).json()["id"]
    s = client.post(f"/api/v1/sweeps/{sid}/cancel").json()
    assert s["counts"]["cancelled"] == 4 and s["state"] == "cancelled"
    s = client.post(f"/api/v1/sweeps/{sid}/retry").json()
    assert s["counts"]["queued"] == 4 and s["state"] == "running"
    assert client.delete(f"/api/v1/sweeps/{sid}").status_code == 204
    assert client.get(f"/api/v1/sweeps/{sid}").status_code == 404
    assert client.get(f"/api/v1/sweeps/{sid}/points").status_code == 404


def _statements(client: TestClient, url: str) -> tuple[int, Any]:
    """How many SQL statements the app's engine runs to answer GET `url`, and the answer."""
    engine = client.app.state.db.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        r = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.text
    return len(seen), r.json()


def test_the_sweep_list_costs_the_same_queries_for_1_or_20_sweeps(client: TestClient) -> None:
    """Counts by status of every listed sweep come from one grouped query, not two per sweep."""
    body = {**SMALL, "grid": {**SMALL["grid"], "L": [4]}}
    first = post(client, body).json()["id"]
    one, listed = _statements(client, "/api/v1/sweeps")
    assert [s["id"] for s in listed] == [first] and listed[0]["counts"]["queued"] == 2
    for i in range(19):
        post(client, {**body, "name": f"copy {i}", "grid": {**body["grid"], "M": [4 + (i % 3)]}})
    twenty, listed = _statements(client, "/api/v1/sweeps")
    assert len(listed) == 20 and twenty == one, (one, twenty)
    assert all(sum(s["counts"].values()) == s["n_points"] == 2 for s in listed)
    assert all(s["estimated_s"] > 0 for s in listed)
    single, got = _statements(client, f"/api/v1/sweeps/{first}")
    assert got == {**listed[-1], "elapsed_s": got["elapsed_s"]} and single <= one


@pytest.mark.parametrize(("change", "limit"), [
    ({"grid": {"D": [5000]}}, "max_dim"),
    ({"grid": {"D": list(range(1, 101)), "alpha": {"geom": [0.1, 10, 201]}}}, "max_points_per_sweep"),
    ({"settings": {"steps": 1001}}, "max_steps"),
    ({"settings": {"seeds": 65}}, "max_seeds"),
    ({"grid": {"alpha": [0, 1]}}, "alpha_min"),
    ({"grid": {"alpha": [1e-300, 1]}}, "alpha_min"),
    ({"grid": {"alpha": [1, 1e9]}}, "alpha_max"),
    ({"settings": {"lr": 1e9}}, "lr_range"),
    ({"grid": {"M": [0]}}, "min_dim"),
])
def test_limits_are_422_naming_the_limit(client: TestClient, change: dict[str, Any], limit: str) -> None:
    body = json.loads(json.dumps(SMALL))
    for key, part in change.items():
        body[key].update(part)
    r = post(client, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d.get("limit") == limit for d in detail), detail
    assert all(d["msg"] for d in detail)


@pytest.mark.parametrize(("change", "field"), [
    ({"settings": {"lr": -1}}, "lr"), ({"settings": {"residual_scale": "huge"}}, "residual_scale"),
    ({"grid": {"alpha": "NaN"}}, "alpha"), ({"settings": {"unknown": 1}}, "unknown"),
])
def test_schema_errors_are_422_at_the_field(client: TestClient, change: dict[str, Any], field: str) -> None:
    body = json.loads(json.dumps(SMALL))
    for key, part in change.items():
        body[key].update(part)
    r = post(client, body)
    assert r.status_code == 422
    assert any(field in map(str, d["loc"]) for d in r.json()["detail"]), r.json()


def test_nan_in_a_list_is_refused(client: TestClient) -> None:
    raw = json.dumps(SMALL).replace('"alpha": [1, 4]', '"alpha": [1, NaN]')
    r = client.post("/api/v1/sweeps", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_body_over_256_kib_is_413(client: TestClient) -> None:
    body = json.loads(json.dumps(SMALL))
    body["name"] = "x" * 100
    body["grid"]["alpha"] = [1.0 + i * 1e-6 for i in range(30_000)]
    r = post(client, body)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        data = json.dumps(body).encode()
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    r = client.post("/api/v1/sweeps", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_writes_need_the_token_when_set(settings: Settings) -> None:
    secured = settings.model_copy(update={"api_token": "s3cret"})
    with TestClient(create_app(secured, run_reaper=False)) as c:
        assert post(c, SMALL).status_code == 401
        assert post(c, SMALL, headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = post(c, SMALL, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 201
        assert c.get("/api/v1/sweeps").status_code == 200  # reads stay open
        assert c.post(f"/api/v1/sweeps/{r.json()['id']}/cancel").status_code == 401


def test_validate_meta_health_and_page(client: TestClient) -> None:
    v = client.post("/api/v1/sweeps/validate", json={**SMALL, "grid": {**SMALL["grid"], "L": {"geom": [2, 64, 4]}}})
    assert v.status_code == 200 and v.json()["n_points"] == 8 and v.json()["axes"]["L"] == [2, 6, 20, 64]
    assert client.get("/api/v1/sweeps").json() == []  # validate created nothing
    meta = client.get("/api/v1/meta").json()
    assert "feature_update" in meta["metrics"] and meta["limits"]["max_dim"] == 4096
    health = client.get("/api/v1/health").json()
    assert health["database"]["ok"] and health["broker"]["ok"]
    page = client.get("/")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert client.get("/vendor/plotly.min.js").status_code == 200
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "resphase"


def test_bad_slice_requests(client: TestClient) -> None:
    sid = post(client, SMALL).json()["id"]
    bad = [{"x": "alpha", "y": "alpha"}, {"metric": "nope"}, {"fixed": "D:9"}, {"fixed": "Q:1"}, {"agg": "mode"}]
    for params in bad:
        r = client.get(f"/api/v1/sweeps/{sid}/phase", params=params)
        assert r.status_code == 422, (params, r.text)
    assert client.get("/api/v1/sweeps/999/phase").status_code == 404
    assert client.get("/api/v1/points/999").status_code == 404
    assert client.get(f"/api/v1/sweeps/{sid}/points", params={"cursor": "garbage"}).status_code == 422
