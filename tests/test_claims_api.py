"""GET /sweeps/{id}/claims and /fit give the verdicts `reproduce` gives, on results in the database
(SQLite and PostgreSQL), computed by the real worker code; the controls are run through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from backend.analysis.claims import CLAIMS_BY_NAME, judge
from backend.main import create_app
from backend.presets import PRESETS
from backend.settings import Settings
from tests.test_api import compute_all


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, run_reaper=False)) as c:
        yield c


def _launch(client: TestClient, settings: Settings, preset: str) -> int:
    sid: int = client.post("/api/v1/sweeps", json=PRESETS[preset].quick.model_dump(mode="json")).json()["id"]
    compute_all(settings, client, sid)
    return sid


def test_claims_of_a_preset_sweep_need_their_controls(client: TestClient, settings: Settings) -> None:
    sid = _launch(client, settings, "D-scaling")
    body = client.get(f"/api/v1/sweeps/{sid}/claims").json()
    (preset,) = body["presets"]
    assert preset["preset"] == "D-scaling" and preset["size"] == "quick"
    runs = {r["variant"]: r for r in preset["runs"]}
    assert runs["none"]["complete"] and not runs["plain_scale"]["complete"]
    by_name = {c["claim"]: c for c in preset["claims"]}
    flat = by_name["feature_update_flat_in_D"]
    assert flat["verdict"] == "inconclusive" and flat["controls"][0]["verdict"] == "not run"

    # /fit on the same data: the same slope and the same verdict as the claim's measurement
    fit = client.get(f"/api/v1/sweeps/{sid}/fit", params={"metric": "feature_update", "along": "D"}).json()
    (line,) = fit["lines"]
    assert fit["predicted_exponent"] == 0.0 and fit["tolerance"] == 0.15
    assert line["fit"]["exponent"] == pytest.approx(flat["measured"])
    assert line["verdict"] == "holds"

    created = client.post(f"/api/v1/sweeps/{sid}/claims/controls").json()["created"]
    assert len(created) == 1
    compute_all(settings, client, created[0])
    assert client.post(f"/api/v1/sweeps/{sid}/claims/controls").json()["created"] == []  # nothing left to run
    body = client.get(f"/api/v1/sweeps/{sid}/claims").json()
    for c in body["presets"][0]["claims"]:
        assert c["verdict"] == "holds", c
        assert [k["verdict"] for k in c["controls"]] == ["does not hold"]


def test_rate_verdicts_and_noise_floor_through_the_api(client: TestClient, settings: Settings) -> None:
    sid = _launch(client, settings, "rates-L")
    (preset,) = client.get(f"/api/v1/sweeps/{sid}/claims").json()["presets"]
    (rate_l,) = preset["claims"]
    fit = client.get(f"/api/v1/sweeps/{sid}/fit", params={"metric": "err_out", "along": "L"}).json()
    (line,) = fit["lines"]
    assert fit["predicted_exponent"] == -1.0 and fit["tolerance"] == 0.15  # from the preset's claim
    assert line["fit"]["exponent"] == pytest.approx(rate_l["measured"])
    claim = CLAIMS_BY_NAME["rate_L"]
    # the measurement alone holds (the claim waits for its controls); /fit says the same
    rows = client.get(f"/api/v1/sweeps/{sid}/export", params={"format": "json"}).json()
    assert judge(claim, claim.measure(rows)) == line["verdict"] == "holds"
    assert line["two_term"]["a"] > 0 and all(f is not None and f > 0 for f in line["floor"])
    phase = client.get(f"/api/v1/sweeps/{sid}/phase", params={"x": "L", "y": "M", "metric": "err_out"}).json()
    assert all(v is not None and v > 0 for v in phase["floor"][0]) and phase["near_floor"] == [[False] * 4]
    point = client.get(f"/api/v1/points/{phase['point_id'][0][0]}").json()
    assert point["flags"] == [] and point["metrics"]["err_out_floor"]["mean"] > 0


def test_a_sweep_that_runs_no_preset_has_no_claims(client: TestClient, settings: Settings) -> None:
    spec = PRESETS["D-scaling"].quick.model_dump(mode="json")
    spec["settings"]["seeds"] = 5
    sid = client.post("/api/v1/sweeps", json=spec).json()["id"]
    assert client.get(f"/api/v1/sweeps/{sid}/claims").json() == {"sweep_id": sid, "presets": []}
    names = {c["name"] for c in client.get("/api/v1/claims").json()}
    assert names == set(CLAIMS_BY_NAME)
